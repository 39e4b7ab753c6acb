"""The checks a request passes before it is admitted: its inputs, then its prompt (the filter's
quick part in ``prepare``, its deep part, if any, on the filter thread in ``start``)."""

from __future__ import annotations

from bot.errors import Refused, UserError
from bot.service.copyright import is_copyright, prompt_refusal
from generators.backend import ImageBackend
from generators.options import InvalidRequest
from generators.requests import DrawRequest, Request
from moderation.base import TextFilter, first_reading, has_deep, second_reading
from moderation.policy import Strictness, apply_policy
from moderation.verdict import Verdict


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


def check_prompt(
    text_filter: TextFilter, request: Request, strictness: Strictness
) -> Verdict | None:
    """The quick part of the prompt check (the copyright guard's request rules included):
    raises ``Refused`` at once. Returns its raw verdict when the filter has a deep part still
    to run (``finish_prompt_check``, on the filter thread), else None."""
    text = request.prompt_text()
    first = first_reading(text_filter, text, request=True)
    _refuse_unless_allowed(apply_policy(first, strictness), text)
    return first if has_deep(text_filter) else None


def finish_prompt_check(
    text_filter: TextFilter, text: str, first: Verdict, strictness: Strictness
) -> None:
    """The deep part of the prompt check on top of ``first``; raises ``Refused`` with the same
    message as the quick part would."""
    verdict = apply_policy(second_reading(text_filter, text, first), strictness)
    _refuse_unless_allowed(verdict, text)


def _refuse_unless_allowed(verdict: Verdict, text: str) -> None:
    if not verdict.allowed and is_copyright(verdict):
        raise Refused(prompt_refusal(text))
    if not verdict.allowed:
        names = ", ".join(c.value for c in verdict.categories) or "unsafe content"
        raise Refused(f"Your request was refused by the safety filter ({names}).")
