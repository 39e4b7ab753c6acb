"""muse: run the Discord bot, try a generation without Discord, export ratings as datasets,
fine-tune on them, back up the database, forget a member, serve the moderators' web view."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from dotenv import dotenv_values

from bot.cli_try import add_try, overrides
from bot.cli_tune import add_finetune, add_promote, run_finetune, run_promote
from bot.config import DEFAULT_WEB_PORT, Settings, load_settings
from bot.datasets.export import InvalidExport, export
from bot.datasets.filters import KINDS, ExportFilters
from bot.datasets.formats import FORMATS
from bot.datasets.stats import format_stats, rater_stats
from bot.errors import BotError, ConfigError
from bot.ops.failures import operator_line
from bot.ops.logs import configure_logging
from bot.service.arena import arena_report
from bot.service.privacy import delete_user_data
from bot.store.connection import StorageError
from bot.store.storage import Storage
from bot.web.app import serve_web
from generators.backend import ModelLoadError
from generators.finetune import FinetuneError
from moderation.base import ImageFilterError, TextFilterError

EPILOG = "Each command's options: muse COMMAND --help. Settings: README, 'Configuration'."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="muse", description=__doc__, epilog=EPILOG)
    parser.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="start the Discord bot (needs DISCORD_TOKEN)")
    run.add_argument("--metrics-port", type=int, help="serve /metrics and /healthz on this port")
    run.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address for --metrics-port (default: %(default)s)",
    )
    run.set_defaults(handler=_cmd_run)
    add_try(sub)
    _add_export(sub)
    _add_finetune(sub)
    _add_maintenance(sub)
    web = sub.add_parser("web", help="the moderators' web view (needs MUSE_WEB_TOKEN)")
    web.set_defaults(handler=_cmd_web)
    web.add_argument("--host", help="address to listen on (default: MUSE_WEB_HOST, 127.0.0.1)")
    web.add_argument("--port", type=int, help=f"default: MUSE_WEB_PORT, else {DEFAULT_WEB_PORT}")
    return parser


def _add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = sub.add_parser(
        "export", help="write a dataset: JSONL, Parquet (.parquet), or a PNG folder for draw"
    )
    export.set_defaults(handler=_cmd_export)
    export.add_argument(
        "--out", type=Path, required=True,
        help="file (.jsonl or .parquet) or, for --kind draw, a new folder; the manifest is "
        "written beside a file as FILE.manifest.json, inside a folder as manifest.json",
    )  # fmt: skip
    export.add_argument(
        "--format", choices=FORMATS, default="raw", help="dataset layout (default: raw)"
    )
    export.add_argument("--kind", choices=KINDS, help="only this command's outputs")
    export.add_argument("--since", type=datetime.fromisoformat, help="ISO date, e.g. 2026-11-01")
    export.add_argument("--guild", type=int, help="only this server's outputs")
    export.add_argument("--min-votes", type=int, default=0, help="votes, own votes excluded")
    export.add_argument("--min-score", type=float, help="(up - down) / votes, from -1 to 1")
    stats = sub.add_parser("stats", help="raters, votes and agreement between raters")
    stats.set_defaults(handler=_cmd_stats)


def _add_finetune(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tune = sub.add_parser("finetune", help="fine-tune the text model on an exported dataset")
    tune.set_defaults(handler=_cmd_finetune)
    add_finetune(tune)
    promote = sub.add_parser("promote", help="swap champion and challenger (MUSE_TEXT_CHALLENGER)")
    add_promote(promote)
    promote.set_defaults(handler=lambda settings, args: asyncio.run(run_promote(settings)))


def _add_maintenance(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = sub.add_parser("backup", help="copy the live database consistently (online)")
    backup.set_defaults(handler=_cmd_backup)
    backup.add_argument("out", type=Path, help="a new file for the copy")
    restore = sub.add_parser("restore", help="replace the database with a backup (Muse stopped)")
    restore.set_defaults(handler=_cmd_restore)
    restore.add_argument("backup", type=Path, help="a file written by muse backup")
    forget = sub.add_parser("delete-user", help="delete a member's jobs, outputs and votes")
    forget.set_defaults(handler=_cmd_delete_user)
    forget.add_argument("user_id", type=int, help="the member's Discord user id")


def _secret(settings: Settings) -> str:
    if not settings.export_secret:
        raise ConfigError(
            "MUSE_EXPORT_SECRET is not set: exports replace Discord ids with keyed hashes, so "
            "set a long random secret once (for example `openssl rand -hex 32`) and keep it"
        )
    return settings.export_secret


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    filters = ExportFilters(
        kind=args.kind, since=args.since, guild_id=args.guild, min_votes=args.min_votes,
        min_score=args.min_score,
    )  # fmt: skip
    async with await Storage.open(settings.db_path) as storage:
        manifest = await export(
            storage,
            args.out,
            fmt=args.format,
            filters=filters,
            secret=_secret(settings),
            progress=RowProgress(sys.stderr),
        )
    skipped = ", ".join(f"{n} {why}" for why, n in manifest.skipped.items()) or "none"
    print(f"wrote {manifest.rows} {manifest.format} row(s) to {manifest.data} (skipped: {skipped})")
    print(f"manifest: {manifest.path}")
    return 0


async def _stats(settings: Settings) -> int:
    async with await Storage.open(settings.db_path) as storage:
        print(format_stats(await rater_stats(storage, _secret(settings))))
        if arena := await arena_report(storage, settings):
            print(arena)
    return 0


async def _backup(settings: Settings, out: Path) -> int:
    if out.exists():
        raise ConfigError(f"{out} already exists; choose a new file for the backup")
    async with await Storage.open(settings.db_path) as storage:
        await storage.backup(out)
    async with await Storage.open(out) as copy:
        check = await copy.integrity()
    print(f"backed up {settings.db_path} to {out} (integrity: {check})")
    return 0


async def _restore(settings: Settings, backup: Path) -> int:
    """Check the backup, then copy it over the database (stop Muse first)."""
    if not backup.is_file():
        raise ConfigError(f"{backup} is not a file")
    async with await Storage.open(backup) as source:
        check = await source.integrity()
        if check != "ok":
            raise StorageError(f"{backup} failed its integrity check: {check}")
        for stale in (Path(f"{settings.db_path}-wal"), Path(f"{settings.db_path}-shm")):
            stale.unlink(missing_ok=True)
        settings.db_path.unlink(missing_ok=True)
        await source.backup(settings.db_path)
    print(f"restored {settings.db_path} from {backup}")
    return 0


async def _delete_user(settings: Settings, user_id: int) -> int:
    async with await Storage.open(settings.db_path) as storage:
        counts = await delete_user_data(storage, user_id, settings.image_dir)
    print("deleted " + ", ".join(f"{n} {name}" for name, n in counts.items()))
    return 0


async def _web(settings: Settings, host: str, port: int) -> int:
    """Serve the web view over the database until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await serve_web(settings.db_path, settings.web_token, host, port, stop)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    return 0


def environment(env_file: str, environ: Mapping[str, str]) -> dict[str, str]:
    """``.env`` values, overridden by the real environment."""
    values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    return {**values, **environ}


def _cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.discord.serve import serve  # the CLI's one way into the Discord adapter

    return serve(settings, metrics_host=args.metrics_host, metrics_port=args.metrics_port)


class RowProgress:
    """``exporting: N rows…`` on stderr, at most every ``every`` rows (one line, rewritten in
    place on a terminal)."""

    def __init__(self, stream: TextIO, every: int = 1000) -> None:
        self.stream, self.every, self.shown = stream, every, 0

    def __call__(self, rows: int) -> None:
        if rows - self.shown < self.every:
            return
        self.shown = rows
        end = "\r" if self.stream.isatty() else "\n"
        print(f"exporting: {rows} rows…", end=end, file=self.stream, flush=True)


def _cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_export(settings, args))


def _cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_stats(settings))


def _cmd_finetune(settings: Settings, args: argparse.Namespace) -> int:
    return run_finetune(args)


def _cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_backup(settings, args.out))


def _cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_restore(settings, args.backup))


def _cmd_web(settings: Settings, args: argparse.Namespace) -> int:
    port = args.port or settings.web_port or DEFAULT_WEB_PORT
    return asyncio.run(_web(settings, args.host or settings.web_host, port))


def _cmd_delete_user(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_delete_user(settings, args.user_id))


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, read the settings once, run the command; operator errors exit 2, untraced:
    Muse's own, and any file (``OSError``) or database (``sqlite3.DatabaseError``) error."""
    args = _parser().parse_args(argv)
    handler: Callable[[Settings, argparse.Namespace], int] = args.handler
    db_path: Path | None = None
    try:
        settings = load_settings(environment(args.env_file, os.environ) | overrides(args))
        db_path = settings.db_path
        configure_logging(settings.log_level, json_lines=settings.log_json)
        return handler(settings, args)
    except (
        BotError, ModelLoadError, StorageError, ImageFilterError, TextFilterError, FinetuneError,
        OSError, sqlite3.DatabaseError, InvalidExport,
    ) as err:  # fmt: skip
        print(f"muse: error: {operator_line(err, db_path)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
