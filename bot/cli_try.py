"""``muse try``: one generation through the service, without Discord, with its progress (queue
place, drawing steps, the text as it grows) on stderr and the result on stdout."""

from __future__ import annotations

import argparse
import asyncio
import mimetypes
import os
import sys
from pathlib import Path
from typing import TextIO

from bot.app import open_service
from bot.config import Settings
from bot.errors import UserError
from bot.review.items import CLI_USER_ID
from bot.service.core import MuseService
from bot.service.pictures import check_upload
from bot.service.types import Origin, PendingJob, Progress
from generators.options import ImageSize, Language, Mood, PoemForm, Tone
from generators.requests import (
    DRAW_MAX_COUNT,
    SLOGAN_MAX_COUNT,
    STRENGTH_MAX,
    STRENGTH_MIN,
    DrawRequest,
    PoemRequest,
    Request,
    SloganRequest,
)
from generators.styles import STYLE_PRESETS

POLL_S = 0.25
LANGUAGE_NAMES = {
    "english": Language.ENGLISH,
    "中文": Language.CHINESE,
    "chinese": Language.CHINESE,
}
MODEL_HELP = (
    "the model for this run, in any form {setting} accepts (hub id, local folder{gguf}); "
    "default: {setting} from the environment or .env"
)


def language(text: str) -> Language:
    """``--language``: auto, en or English, zh or 中文 (README's names and the codes)."""
    name = text.strip().lower()
    try:
        return LANGUAGE_NAMES.get(name) or Language(name)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be auto, en (English) or zh (中文), got {text!r}"
        ) from None


def _strength(text: str) -> float:
    """``--strength``, refused by argparse (one line) when it is no number in range."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not STRENGTH_MIN <= value <= STRENGTH_MAX:
        raise argparse.ArgumentTypeError(
            f"must be a number from {STRENGTH_MIN} to {STRENGTH_MAX}, got {text!r}"
        )
    return value


def _common(kind: argparse.ArgumentParser, setting: str, gguf: str = "") -> None:
    kind.add_argument("--seed", type=int, help="sampling seed, for a reproducible result")
    kind.add_argument("--model", help=MODEL_HELP.format(setting=setting, gguf=gguf))


def _add_text(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    poem = kinds.add_parser("poem", help="write a poem, as /poem does")
    poem.add_argument("--topic", required=True, help="what the poem is about")
    forms = [f.value for f in PoemForm]
    poem.add_argument("--form", choices=forms, default="free verse", help="(default: free verse)")
    poem.add_argument("--style", default="", help="free text, e.g. 'in the style of a ballad'")
    poem.add_argument("--mood", choices=[m.value for m in Mood], help="(default: none)")
    slogan = kinds.add_parser("slogan", help="write slogan candidates, as /slogan does")
    slogan.add_argument("--product", required=True, help="what the slogan advertises")
    slogan.add_argument("--audience", default="", help="who it speaks to, e.g. 'students'")
    slogan.add_argument("--tone", choices=[t.value for t in Tone], help="(default: none)")
    slogan.add_argument(
        "--count", type=int, default=3, choices=range(1, SLOGAN_MAX_COUNT + 1),
        metavar=f"1-{SLOGAN_MAX_COUNT}", help="how many candidates (default: 3)",
    )  # fmt: skip
    for kind in (poem, slogan):
        kind.add_argument(
            "--language", type=language, default=Language.AUTO, metavar="{auto,en,zh}",
            help="auto (follows the text), en or English, zh or 中文 (default: auto)",
        )  # fmt: skip
        _common(kind, "MUSE_TEXT_MODEL", ", a .gguf file")


def _add_draw(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    draw = kinds.add_parser("draw", help="draw pictures, as /draw does")
    draw.add_argument("--prompt", required=True, help="what to draw")
    draw.add_argument("--negative", default="", help="what to keep out of the picture")
    draw.add_argument("--style", choices=list(STYLE_PRESETS), default="none", help="a style preset")
    sizes = [s.value for s in ImageSize]
    draw.add_argument("--size", choices=sizes, default="square", help="(default: square)")
    draw.add_argument(
        "--steps", type=int, help="denoising steps (default: MUSE_IMAGE_DEFAULT_STEPS)"
    )
    draw.add_argument(
        "--count", type=int, default=1, choices=range(1, DRAW_MAX_COUNT + 1),
        metavar=f"1-{DRAW_MAX_COUNT}", help="how many pictures (default: 1)",
    )  # fmt: skip
    draw.add_argument("--image", type=Path, help="a PNG, JPEG or WebP picture to restyle")
    draw.add_argument(
        "--strength", type=_strength, help="with --image: how much may change, 0.1 to 1.0"
    )
    _common(draw, "MUSE_IMAGE_MODEL")


def add_try(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``try`` command and its three kinds."""
    try_ = sub.add_parser(
        "try",
        help="generate once through the service, without Discord",
        description="Generate once through the service (filters, queue, model, storage) as "
        "the CLI user; progress and the text as it grows go to stderr, the result to stdout.",
    )
    try_.set_defaults(handler=cmd_try)
    kinds = try_.add_subparsers(dest="kind", required=True, metavar="{poem,slogan,draw}")
    _add_text(kinds)
    _add_draw(kinds)


def overrides(args: argparse.Namespace) -> dict[str, str]:
    """Settings a ``try`` command sets for itself: ``--model`` feeds the model setting (read
    and checked like the environment's), and a poem or slogan does not load the image model."""
    if getattr(args, "handler", None) is not cmd_try:  # `muse export --kind draw` is no try
        return {}
    text = args.kind != "draw"
    model = {"MUSE_TEXT_MODEL" if text else "MUSE_IMAGE_MODEL": args.model} if args.model else {}
    return model | ({"MUSE_IMAGE_MODEL": "off"} if text else {})


def request_from(args: argparse.Namespace, settings: Settings) -> Request:
    """The request the arguments describe."""
    if args.kind == "draw":
        if args.strength is not None and args.image is None:
            raise UserError("--strength applies to a picture: give one with --image")
        return DrawRequest(
            prompt=args.prompt, negative=args.negative, style=args.style,
            size=ImageSize(args.size),
            steps=settings.image_default_steps if args.steps is None else args.steps,
            count=args.count, seed=args.seed, strength=args.strength,
        )  # fmt: skip
    if args.kind == "poem":
        return PoemRequest(
            topic=args.topic, form=PoemForm(args.form), style=args.style,
            mood=Mood(args.mood) if args.mood else None, language=args.language, seed=args.seed,
        )  # fmt: skip
    return SloganRequest(
        product=args.product, audience=args.audience,
        tone=Tone(args.tone) if args.tone else None, count=args.count,
        language=args.language, seed=args.seed,
    )  # fmt: skip


def picture(path: Path | None, max_bytes: int) -> bytes | None:
    """The ``--image`` file, checked as /draw checks an upload before downloading it (its type
    from its name, its size), then read (at most one byte past the limit, which ``accept``
    refuses, so a file that grows meanwhile is never read whole)."""
    if path is None:
        return None
    try:
        with path.open("rb") as file:
            size_bytes = os.fstat(file.fileno()).st_size
            check_upload(mimetypes.guess_type(path.name)[0], size_bytes, max_bytes)
            return file.read(max_bytes + 1)
    except OSError as err:
        raise UserError(f"cannot read --image {path}: {err.strerror or err}") from err


class ProgressPrinter:
    """Writes what changed since the last call: the queue place, the drawing step, or the
    new end of the first row's text (the text is rewritten on a new line when it changed
    rather than grew, as cleaning can do)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.status = ""
        self.text = ""

    def show(self, progress: Progress) -> None:
        if progress.partial and progress.partial[0]:
            self._grow(progress.partial[0])
            return
        if progress.position > 0:
            status = (
                f"waiting: place {progress.position} in the queue, about {progress.wait_s:.0f} s"
            )
        elif progress.steps:
            status = f"drawing: step {progress.step}/{progress.steps}"
        else:
            status = "writing…"
        if status != self.status and not self.text:
            self.status = status
            print(status, file=self.out, flush=True)

    def _grow(self, text: str) -> None:
        if text.startswith(self.text):
            self.out.write(text[len(self.text) :])
        else:
            self.out.write("\n" + text)
        self.text = text
        self.out.flush()

    def close(self) -> None:
        if self.text:
            self.out.write("\n")
            self.out.flush()


async def follow(service: MuseService, pending: PendingJob, out: TextIO) -> None:
    """Print the job's progress until its result is ready."""
    printer = ProgressPrinter(out)
    while not pending.future.done():
        progress = service.progress(pending)
        if progress is not None:
            printer.show(progress)
        await asyncio.wait({pending.future}, timeout=POLL_S)
    printer.close()


async def run_try(settings: Settings, request: Request, image: bytes | None = None) -> int:
    """Generate once as the CLI user; a picture goes through the same checks, image filter
    and storage as one attached to /draw."""
    async with open_service(settings) as service:
        if image is not None and isinstance(request, DrawRequest):
            request = await service.pictures.accept(image, request, service.strictness(None))
        pending = service.prepare(request, Origin(CLI_USER_ID))
        await service.start(pending)
        await follow(service, pending, sys.stderr)
        try:
            delivery = await service.finish(pending)
        except UserError as err:
            print(f"not shown: {err}")
            return 1
        outputs = await service.storage.job_outputs(delivery.job_id)
    for out in outputs:
        print(f"--- candidate {out.candidate + 1} · verdict {out.decision} · seed {out.seed}")
        print(out.image_path or out.text)
    print(f"--- model {delivery.model_id} · {delivery.total_s:.2f} s · job {delivery.job_id}")
    return 0


def cmd_try(settings: Settings, args: argparse.Namespace) -> int:
    """``muse try KIND``."""
    request = request_from(args, settings)
    image = picture(getattr(args, "image", None), settings.image_input_max_bytes)
    return asyncio.run(run_try(settings, request, image))
