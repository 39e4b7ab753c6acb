"""The checks a request passes before it is admitted: its inputs, then its prompt."""

from __future__ import annotations

from bot.errors import Refused, UserError
from bot.service.copyright import is_copyright, prompt_refusal
from generators.backend import ImageBackend
from generators.options import InvalidRequest
from generators.requests import DrawRequest, Request
from moderation.base import PromptFilter, TextFilter
from moderation.policy import Strictness, apply_policy


def validate_request(
    request: Request, image_backend: ImageBackend | None, image_max_steps: int
) -> None:
    """``check_inputs`` of the request, and what the loaded picture family cannot do."""
    try:
        if isinstance(request, DrawRequest):
            if image_backend is None:
                raise UserError("Drawing is turned off on this Muse.")
            request.check_inputs(max_steps=image_max_steps)
            family = getattr(image_backend, "family", None)
            if request.negative and family is not None and not family.negative:
                raise UserError(f"{family.name} has no negative prompt; leave it empty.")
        else:
            request.check_inputs()
    except InvalidRequest as err:
        raise UserError(str(err)) from err


def check_prompt(text_filter: TextFilter, request: Request, strictness: Strictness) -> None:
    """The text filter's verdict; a prompt filter (the copyright guard) adds its own."""
    text = request.prompt_text()
    if isinstance(text_filter, PromptFilter):
        found = text_filter.check_request(text)
    else:
        found = text_filter.check(text)
    verdict = apply_policy(found, strictness)
    if not verdict.allowed and is_copyright(verdict):
        raise Refused(prompt_refusal(text))
    if not verdict.allowed:
        names = ", ".join(c.value for c in verdict.categories) or "unsafe content"
        raise Refused(f"Your request was refused by the safety filter ({names}).")
