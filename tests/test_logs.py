"""Every log line about a job names the job; JSON lines on request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.errors import GenerationFailed
from bot.ops.logs import configure_logging
from bot.service.types import Origin
from generators.requests import PoemRequest
from tests.conftest import ServiceFactory
from tests.fakes import ScriptedBackend


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "muse"]:
        root.removeHandler(handler)


@pytest.mark.parametrize("json_lines", [False, True])
async def test_a_failed_job_is_logged_with_its_id(
    make_service: ServiceFactory, log_stream: io.StringIO, json_lines: bool
) -> None:
    configure_logging("INFO", json_lines=json_lines, stream=log_stream)
    service = await make_service(ScriptedBackend(fail=True))
    pending = service.prepare(PoemRequest(topic="moon"), Origin(1))
    await service.start(pending)
    with pytest.raises(GenerationFailed):
        await service.finish(pending)
    logging.getLogger("muse.test").info("outside any job")
    lines = log_stream.getvalue().splitlines()
    if json_lines:
        records = [json.loads(line) for line in lines if line.startswith("{")]
        failed = next(r for r in records if "failed" in r["msg"])
        assert failed["job"] == pending.record.id and failed["level"] == "ERROR"
        assert "scripted model failure" in failed["exc"]
        assert records[-1]["job"] == "-"
    else:
        failed_line = next(line for line in lines if "batch of 1 job(s) failed" in line)
        assert f"[job {pending.record.id}]" in failed_line
        assert lines[-1].endswith("[job -] outside any job")
