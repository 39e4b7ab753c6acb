"""Option values of the wrong JSON type (a modified client), through real interaction payloads:
the member gets the same private message as for a value out of range, the log one warning."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.discord.client import MuseBot
from tests.conftest import ServiceFactory
from tests.discord_harness import Harness

EPHEMERAL = 64


def _answers(h: Harness[MuseBot]) -> list[dict[str, Any]]:
    return [r["data"] for r in h.http.interaction_responses() if r.get("type") == 4]


@pytest.mark.parametrize(
    ("command", "options", "wrong"),
    [
        ("slogan", {"product": "tea"}, {"count": "3"}),
        ("slogan", {"product": "tea"}, {"count": 2.5}),
        ("slogan", {"product": "tea"}, {"count": True}),
        ("poem", {"topic": "moon"}, {"count": "two"}),
    ],
)
async def test_a_wrong_typed_option_gets_the_out_of_range_message_and_one_warning(
    make_service: ServiceFactory,
    caplog: pytest.LogCaptureFixture,
    command: str,
    options: dict[str, Any],
    wrong: dict[str, Any],
) -> None:
    service = await make_service()
    caplog.set_level(logging.INFO)
    async with Harness(MuseBot(service, service.settings)) as h:
        await h.run(h.slash(command, {**options, "count": 9}))  # out of range
        [out_of_range] = _answers(h)
        h.http.clear()
        caplog.clear()
        await h.run(h.slash(command, {**options, **wrong}))
        [answer] = _answers(h)
        assert h.errors == []
    assert (
        out_of_range["flags"] == EPHEMERAL
        and "count must be between 1 and" in (out_of_range["content"])
    )
    assert answer["flags"] == EPHEMERAL
    expected = out_of_range["content"].replace("got 9", f"got {wrong['count']!r}")
    assert answer["content"] == expected
    assert [r.levelname for r in caplog.records if r.levelno >= logging.WARNING] == ["WARNING"]
    [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.exc_info is None and "\n" not in warning.getMessage()
    assert f"/{command}" in warning.getMessage() and "count" in warning.getMessage()
    assert service.queue.state.waiting == [] and service.queue.state.running == []
