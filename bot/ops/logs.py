"""Logging set-up: every line carries the id of the job it is about (or "-"); JSON lines on
request (``MUSE_LOG_JSON=1``)."""

from __future__ import annotations

import json
import logging
import sys
from typing import TextIO

from generators.queue import current_jobs


class JobIdFilter(logging.Filter):
    """Adds ``record.job_id`` from the context the line was logged in."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = current_jobs.get()
        return True


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, job, message (and the traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "job": getattr(record, "job_id", "-"),
            "msg": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str, *, json_lines: bool, stream: TextIO | None = None) -> None:
    """Install Muse's root handler (replacing one installed before); others are kept."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(JobIdFilter())
    if json_lines:
        handler.setFormatter(JsonLines())
    else:
        pattern = "%(asctime)s %(levelname)s %(name)s [job %(job_id)s] %(message)s"
        handler.setFormatter(logging.Formatter(pattern))
    handler.set_name("muse")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "muse"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    quiet = logging.WARNING if root.level > logging.DEBUG else logging.DEBUG
    for name in ("httpx", "httpx2", "httpcore", "httpcore2"):  # a line per request otherwise
        logging.getLogger(name).setLevel(quiet)


LIBRARY_LOGGERS = ("huggingface_hub", "transformers", "diffusers")


def one_line_per_record() -> None:
    """Remove the handlers these libraries add to their own loggers on import: their records
    still reach Muse's root handler, once, in Muse's format, instead of twice."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if h.get_name() != "muse"]:
            logger.removeHandler(handler)
