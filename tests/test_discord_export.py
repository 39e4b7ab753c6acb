"""/export for moderators, and /forget-me leaving nothing in the database or in exports."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from bot.datasets.export import export
from bot.datasets.filters import ExportFilters
from bot.datasets.pseudonyms import pseudonym
from bot.discord.client import MuseBot
from bot.service.privacy import delete_user_data
from bot.service.types import Origin
from generators.requests import PoemRequest
from tests.conftest import ServiceFactory
from tests.discord_harness import Harness
from tests.discord_payloads import APP_ID, USER_ID
from tests.fakes import ScriptedBackend

SECRET = "test-secret"


async def test_moderators_download_the_dataset_or_are_sent_to_the_cli(
    make_service: ServiceFactory,
) -> None:
    service = await make_service(ScriptedBackend(), export_secret=SECRET)
    async with Harness(MuseBot(service, service.settings)) as h:
        await h.run(h.slash("poem", {"topic": "moon"}))
        payload = h.slash("export", {"format": "raw"})
        await h.run(payload)
        assert h.http.interaction_responses()[-1] == {"type": 5, "data": {"flags": 64}}
        [sent] = h.http.calls_to("POST", rf"/webhooks/{APP_ID}/{payload['token']}$")
        small = h.slash("export", {"format": "raw"})
        small["attachment_size_limit"] = 10  # bytes: nothing fits
        await h.run(small)
        [told] = h.http.calls_to("POST", rf"/webhooks/{APP_ID}/{small['token']}$")
        assert h.errors == []
    assert sent.files == ["muse-raw.jsonl"] and sent.json["content"].startswith("📦 1 row(s)")
    assert told.files == [] and "muse export --guild" in told.json["content"]


async def test_export_needs_the_secret(make_service: ServiceFactory) -> None:
    service = await make_service(ScriptedBackend())
    async with Harness(MuseBot(service, service.settings)) as h:
        await h.run(h.slash("export"))
        [refusal] = h.http.interaction_responses()
    assert refusal["data"]["flags"] == 64 and "MUSE_EXPORT_SECRET" in refusal["data"]["content"]


async def _everything(service: Any, out: Path) -> str:
    await export(service.storage, out, fmt="raw", filters=ExportFilters(), secret=SECRET)
    return out.read_text(encoding="utf-8")


async def test_nothing_of_a_forgotten_member_survives(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    service = await make_service(ScriptedBackend(texts=["alice's poem", "bob's poem"]))
    alice, bob = Origin(1001, 10, 20), Origin(2002, 10, 20)
    jobs = []
    for origin, topic in ((alice, "moon"), (bob, "sun")):
        pending = service.prepare(PoemRequest(topic=topic), origin)
        await service.start(pending)
        jobs.append(await service.finish(pending))
    alice_out, bob_out = (d.outputs[0].output_id for d in jobs)
    await service.vote(bob_out, alice.user_id, 1)  # alice rates bob
    await service.vote(alice_out, bob.user_id, 1)  # bob rates alice
    await service.edit(jobs[0].job_id, alice.user_id, {alice_out: "alice's better poem"})
    before = await _everything(service, tmp_path / "before.jsonl")
    assert pseudonym(SECRET, "user", alice.user_id) in before

    counts = await delete_user_data(service.storage, alice.user_id)
    assert counts["jobs"] == 1 and counts["votes"] == 1 and counts["edits"] == 1
    with sqlite3.connect(service.storage.path) as raw:
        for table, column in (("jobs", "user_id"), ("votes", "user_id"), ("edits", "user_id"),
                              ("picks", "user_id"), ("reports", "user_id")):  # fmt: skip
            found = raw.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (1001,))
            assert found.fetchone() == (0,), table
        assert raw.execute("SELECT COUNT(*) FROM outputs WHERE text LIKE 'alice%'").fetchone() == (
            0,
        )
    after = await _everything(service, tmp_path / "after.jsonl")
    [row] = [json.loads(line) for line in after.splitlines()]
    assert row["text"] == "bob's poem" and row["votes_up"] == 0  # alice's vote is gone too
    assert pseudonym(SECRET, "user", alice.user_id) not in after and "alice" not in after
    assert str(alice.user_id) not in after and str(USER_ID) not in after


async def test_an_opt_out_outlives_forget_me(make_service: ServiceFactory, tmp_path: Path) -> None:
    """/forget-me keeps exactly one row, the member's dataset choice, so what they make after
    forgetting still stays out of datasets."""
    service = await make_service(ScriptedBackend(texts=["before", "after"]), export_secret=SECRET)
    alice = Origin(1001, 10, 20)
    await service.feedback.set_consent(alice.user_id, "out")
    pending = service.prepare(PoemRequest(topic="moon"), alice)
    await service.start(pending)
    await service.finish(pending)
    await delete_user_data(service.storage, alice.user_id)
    with sqlite3.connect(service.storage.path) as raw:
        assert raw.execute("SELECT user_id, choice FROM consent").fetchall() == [(1001, "out")]
    pending = service.prepare(PoemRequest(topic="sun"), alice)
    await service.start(pending)
    await service.finish(pending)
    assert await _everything(service, tmp_path / "after.jsonl") == ""
