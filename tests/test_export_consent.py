"""What an export leaves out (review, consent) and how it hides who is who (pseudonyms)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from bot.datasets.export import export
from bot.datasets.filters import ExportFilters
from bot.datasets.pseudonyms import pseudonym
from bot.store.storage import Storage
from tests.export_world import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    DAVE,
    GUILD,
    RAW_IDS,
    SECRET,
    World,
    build_world,
    read,
    run,
    user,
)


@pytest.fixture
async def world(storage: Storage) -> World:
    return await build_world(storage)


async def test_every_exclusion_is_counted_by_reason(world: World, tmp_path: Path) -> None:
    rows, manifest = await run(world, tmp_path / "raw.jsonl", "raw")
    exported = {row["output_id"] for row in rows}
    for name in ("held", "rejected", "reported", "hidden", "blocked", "b2", "optout",
                 "optin_none"):  # fmt: skip
        assert world.ids[name] not in exported, name
    assert manifest.skipped == {
        "blocked": 2, "held": 1, "rejected": 1, "pending_review": 1, "hidden": 1,
        "no_consent": 2,
    }  # fmt: skip
    assert manifest.outputs == manifest.rows + sum(manifest.skipped.values()) == 21


async def test_pseudonyms_are_stable_and_no_raw_id_is_written(world: World, tmp_path: Path) -> None:
    mention = f"Ode to <@{BOB}> and <#{CHANNEL}>"
    await world.job("M", [("m0", f"For <@!{CAROL}>", "allow")], prompt=mention)
    await world.vote("m0", DAVE, 1)
    out = tmp_path / "out"
    for fmt in ("sft", "dpo", "kto", "raw"):
        await run(world, out / f"{fmt}.jsonl", fmt)
    await export(world.storage, out / "raw.parquet", fmt="raw",
                 filters=ExportFilters(guild_id=GUILD), secret=SECRET)  # fmt: skip
    written = [p for p in out.iterdir() if p.is_file()]
    assert len(written) == 10
    for path in written:
        data = path.read_bytes()
        for raw_id in RAW_IDS:
            assert str(raw_id).encode() not in data, (path.name, raw_id)
    requesters = {r["requester"] for f in ("sft", "kto", "raw") for r in read(out / f"{f}.jsonl")
                  if r["job_id"] in ("A", "E")}  # fmt: skip
    assert requesters == {user(ALICE)}
    [m0] = [r for r in read(out / "raw.jsonl") if r["job_id"] == "M"]
    assert m0["prompt"] == (f"Ode to @user-{user(BOB)} and "
                            f"#channel-{pseudonym(SECRET, 'channel', CHANNEL)}")  # fmt: skip
    assert m0["text"] == f"For @user-{user(CAROL)}"
    keyed = hmac.new(SECRET.encode(), f"user:{ALICE}".encode(), hashlib.sha256)
    assert user(ALICE) == keyed.hexdigest()[:16]
    other = pseudonym("another-installation", "user", ALICE)
    assert other != user(ALICE) and len(user(ALICE)) == 16


async def test_a_secret_is_required(world: World, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="non-empty secret"):
        await export(world.storage, tmp_path / "x.jsonl", fmt="raw", filters=ExportFilters(),
                     secret="")  # fmt: skip
    assert not (tmp_path / "x.jsonl").exists()
