"""``muse``: run the bot, try a generation without Discord, export ratings, forget a member."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from dotenv import dotenv_values

from bot.config import Settings, load_settings
from bot.errors import BotError, UserError
from bot.runtime import open_service
from bot.service import Origin, delete_user_data, export_ratings
from bot.storage import Storage, StorageError
from generators.backend import ModelLoadError
from generators.types import (
    DRAW_MAX_COUNT,
    SLOGAN_MAX_COUNT,
    STYLE_PRESETS,
    DrawRequest,
    ImageSize,
    Language,
    Mood,
    PoemForm,
    PoemRequest,
    Request,
    SloganRequest,
    Tone,
)
from moderation.image import ImageFilterError
from moderation.text import TextFilterError

CLI_USER_ID = 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="muse", description=__doc__)
    parser.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the Discord bot")
    try_ = sub.add_parser("try", help="generate once through the service, without Discord")
    kinds = try_.add_subparsers(dest="kind", required=True)
    poem = kinds.add_parser("poem")
    poem.add_argument("--topic", required=True)
    poem.add_argument("--form", choices=[f.value for f in PoemForm], default="free verse")
    poem.add_argument("--style", default="")
    poem.add_argument("--mood", choices=[m.value for m in Mood])
    poem.add_argument("--language", choices=[lang.value for lang in Language], default="auto")
    poem.add_argument("--seed", type=int)
    slogan = kinds.add_parser("slogan")
    slogan.add_argument("--product", required=True)
    slogan.add_argument("--audience", default="")
    slogan.add_argument("--tone", choices=[t.value for t in Tone])
    slogan.add_argument("--count", type=int, default=3, choices=range(1, SLOGAN_MAX_COUNT + 1))
    slogan.add_argument("--language", choices=[lang.value for lang in Language], default="auto")
    slogan.add_argument("--seed", type=int)
    draw = kinds.add_parser("draw")
    draw.add_argument("--prompt", required=True)
    draw.add_argument("--negative", default="")
    draw.add_argument("--style", choices=list(STYLE_PRESETS), default="none")
    draw.add_argument("--size", choices=[s.value for s in ImageSize], default="square")
    draw.add_argument("--steps", type=int)
    draw.add_argument("--count", type=int, default=1, choices=range(1, DRAW_MAX_COUNT + 1))
    draw.add_argument("--seed", type=int)
    export = sub.add_parser("export", help="write rated outputs as JSON lines")
    export.add_argument("--out", type=Path, required=True)
    forget = sub.add_parser("delete-user", help="delete a member's jobs, outputs and votes")
    forget.add_argument("user_id", type=int)
    return parser


def _request(args: argparse.Namespace, settings: Settings) -> Request:
    if args.kind == "draw":
        return DrawRequest(
            prompt=args.prompt,
            negative=args.negative,
            style=args.style,
            size=ImageSize(args.size),
            steps=args.steps or settings.image_default_steps,
            count=args.count,
            seed=args.seed,
        )
    if args.kind == "poem":
        return PoemRequest(
            topic=args.topic,
            form=PoemForm(args.form),
            style=args.style,
            mood=Mood(args.mood) if args.mood else None,
            language=Language(args.language),
            seed=args.seed,
        )
    return SloganRequest(
        product=args.product,
        audience=args.audience,
        tone=Tone(args.tone) if args.tone else None,
        count=args.count,
        language=Language(args.language),
        seed=args.seed,
    )


async def _try(settings: Settings, request: Request) -> int:
    async with open_service(settings) as service:
        pending = service.prepare(request, Origin(CLI_USER_ID))
        await service.start(pending)
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


async def _export(settings: Settings, out: Path) -> int:
    async with await Storage.open(settings.db_path) as storage:
        count = await export_ratings(storage, out)
    print(f"wrote {count} rated output(s) to {out}")
    return 0


async def _delete_user(settings: Settings, user_id: int) -> int:
    async with await Storage.open(settings.db_path) as storage:
        counts = await delete_user_data(storage, user_id)
    print("deleted " + ", ".join(f"{n} {name}" for name, n in counts.items()))
    return 0


async def _run(settings: Settings) -> int:
    from bot.client import MuseBot

    settings.require_token()
    async with open_service(settings) as service:
        bot = MuseBot(service, settings)
        async with bot:
            await bot.start(settings.discord_token)
    return 0


def environment(env_file: str, environ: Mapping[str, str]) -> dict[str, str]:
    """``.env`` values, overridden by the real environment."""
    values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    return {**values, **environ}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(environment(args.env_file, os.environ))
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        if args.command == "run":
            return asyncio.run(_run(settings))
        if args.command == "try":
            return asyncio.run(_try(settings, _request(args, settings)))
        if args.command == "export":
            return asyncio.run(_export(settings, args.out))
        return asyncio.run(_delete_user(settings, args.user_id))
    except (BotError, ModelLoadError, StorageError, ImageFilterError, TextFilterError) as err:
        print(f"muse: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
