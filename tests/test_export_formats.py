"""The row shapes of each format (SFT, DPO, KTO, raw); Parquet holds the same rows as JSONL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.datasets.export import export
from bot.datasets.filters import ExportFilters
from bot.datasets.pseudonyms import pseudonym
from bot.store.storage import Storage
from generators.prompts import _SYSTEM_EN, _SYSTEM_ZH
from tests.export_world import (
    ALICE,
    CHANNEL,
    EN_POEM,
    GUILD,
    MODEL,
    SECRET,
    SLOGAN,
    T0,
    ZH_POEM,
    World,
    build_world,
    guild,
    messages,
    run,
    user,
    user_turn,
)


@pytest.fixture
async def world(storage: Storage) -> World:
    return await build_world(storage)


async def test_sft_rows_are_accepted_outputs_in_the_conversation_muse_had(
    world: World, tmp_path: Path
) -> None:
    rows, manifest = await run(world, tmp_path / "sft.jsonl", "sft")
    ids = world.ids
    by_id = {row["output_id"]: row for row in rows}
    assert set(by_id) == {ids[n] for n in ("a0", "b1", "c0", "e0", "approved", "optin_yes")}
    assert by_id[ids["a0"]] == {
        "messages": messages(_SYSTEM_ZH, user_turn(ZH_POEM), "春风十里桃花开"),
        "output_id": ids["a0"], "job_id": "A", "kind": "poem", "model_id": MODEL, "seed": 42,
        "score": 1.0, "votes": 2, "requester": user(ALICE), "guild": guild(GUILD),
        "edited": False, "accepted_by": ["votes"],
    }  # fmt: skip
    edited = by_id[ids["e0"]]
    assert edited["messages"] == messages(
        _SYSTEM_EN, user_turn(EN_POEM), "The sea is wide and deep."
    )
    assert (edited["edited"], edited["accepted_by"], edited["guild"]) == (True, ["edit"], None)
    assert by_id[ids["b1"]]["accepted_by"] == ["pick"]
    assert by_id[ids["b1"]]["messages"][2]["content"] == "Green, clean, serene."
    assert by_id[ids["c0"]]["accepted_by"] == ["compare"]
    assert manifest.rows == 6
    assert manifest.skipped["not_accepted"] == 7  # a1, a2, b0, c1, t0, t1, v0 (Vera's vote)


async def test_dpo_pairs_come_from_picks_ab_results_votes_and_edits(
    world: World, tmp_path: Path
) -> None:
    rows, manifest = await run(world, tmp_path / "dpo.jsonl", "dpo")
    name = {oid: n for n, oid in world.ids.items()}
    pairs = {(r["source"], name[r["chosen_output_id"]], name[r["rejected_output_id"]])
             for r in rows}  # fmt: skip
    assert pairs == {
        ("pick", "b1", "b0"), ("compare", "c0", "c1"), ("edit", "e0", "e0"),
        ("votes", "a0", "a1"), ("votes", "a0", "a2"), ("votes", "a2", "a1"),
    }  # fmt: skip
    assert len(rows) == len(pairs)
    pick = next(r for r in rows if r["source"] == "pick")
    assert pick == {
        "prompt": messages(_SYSTEM_EN, user_turn(SLOGAN), "")[:2],
        "chosen": [{"role": "assistant", "content": "Green, clean, serene."}],
        "rejected": [{"role": "assistant", "content": "Sip the calm."}],
        "source": "pick", "kind": "slogan", "job_id": "B",
        "chosen_output_id": world.ids["b1"], "rejected_output_id": world.ids["b0"],
        "chosen_model_id": MODEL, "rejected_model_id": MODEL, "chosen_score": None,
        "rejected_score": None, "rater": user(ALICE), "requester": user(ALICE),
        "guild": guild(GUILD),
    }  # fmt: skip
    edit = next(r for r in rows if r["source"] == "edit")
    assert edit["chosen"][0]["content"] == "The sea is wide and deep."
    assert edit["rejected"][0]["content"] == "The sea is big."
    votes = next(r for r in rows if r["source"] == "votes" and r["job_id"] == "A")
    assert votes["prompt"][0] == {"role": "system", "content": _SYSTEM_ZH}
    assert manifest.skipped["tie"] == 1


async def test_kto_labels_follow_net_votes_from_others(world: World, tmp_path: Path) -> None:
    rows, manifest = await run(world, tmp_path / "kto.jsonl", "kto")
    labels = {r["output_id"]: r["label"] for r in rows}
    ids = world.ids
    assert labels == {ids["a0"]: True, ids["a1"]: False, ids["approved"]: True,
                      ids["optin_yes"]: True}  # fmt: skip
    a1 = next(r for r in rows if r["output_id"] == ids["a1"])
    assert a1 == {
        "prompt": messages(_SYSTEM_ZH, user_turn(ZH_POEM), "")[:2],
        "completion": [{"role": "assistant", "content": "夜雨敲窗梦未还"}],
        "label": False, "output_id": ids["a1"], "job_id": "A", "kind": "poem",
        "model_id": MODEL, "seed": 43, "score": -1.0, "votes": 1, "requester": user(ALICE),
        "guild": guild(GUILD),
    }  # fmt: skip
    assert manifest.skipped["net_zero"] == 1  # a2
    assert manifest.skipped["unrated"] == 8  # v0 among them: Vera opted out


async def test_raw_rows_carry_all_provenance(world: World, tmp_path: Path) -> None:
    rows, _ = await run(world, tmp_path / "raw.jsonl", "raw")
    ids = world.ids
    by_id = {row["output_id"]: row for row in rows}
    assert set(by_id) == {ids[n] for n in ("a0", "a1", "a2", "b0", "b1", "c0", "c1", "t0", "t1",
                                           "e0", "v0", "approved", "optin_yes")}  # fmt: skip
    a1 = by_id[ids["a1"]]
    assert a1 == {
        "output_id": ids["a1"], "job_id": "A", "group_id": "A", "parent_id": None,
        "candidate": 1, "kind": "poem", "prompt": user_turn(ZH_POEM),
        "options": json.dumps(ZH_POEM.fields(), ensure_ascii=False), "text": "夜雨敲窗梦未还",
        "edited_text": None, "image_path": None, "model_id": MODEL, "seed": 43,
        "decision": "allow", "verdict": '{"decision": "allow"}', "timings": '{"total_s": 1.0}',
        "created_at": datetime.fromtimestamp(T0 + 1, UTC).isoformat(), "compare": False,
        "votes_up": 0, "votes_down": 1, "own_up": 1, "own_down": 0, "score": -1.0,
        "edits": [], "picks": [], "requester": user(ALICE), "guild": guild(GUILD),
        "channel": pseudonym(SECRET, "channel", CHANNEL), "parent_output_id": None,
        "operation": None,
    }  # fmt: skip
    e0 = by_id[ids["e0"]]
    assert e0["edited_text"] == "The sea is wide and deep."
    assert [e["text"] for e in e0["edits"]] == ["The sea is wide.", "The sea is wide and deep."]
    assert e0["edits"][0]["user"] == user(ALICE) and e0["channel"] is None
    assert by_id[ids["b0"]]["picks"] == [
        {"user": user(ALICE), "source": "pick", "output_id": ids["b1"]}
    ]  # Vera's pick is not there
    assert (by_id[ids["a0"]]["votes_up"], by_id[ids["a0"]]["votes_down"]) == (2, 0)  # not Vera
    assert by_id[ids["optin_yes"]]["votes_up"] == 1  # Bob and Carol did not opt in


async def test_parquet_holds_the_same_rows_as_jsonl(world: World, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    for fmt in ("sft", "dpo", "kto", "raw"):
        rows, _ = await run(world, tmp_path / f"{fmt}.jsonl", fmt)
        manifest = await export(world.storage, tmp_path / f"{fmt}.parquet", fmt=fmt,
                                filters=ExportFilters(), secret=SECRET)  # fmt: skip
        assert manifest.layout == "parquet"
        assert pq.read_table(tmp_path / f"{fmt}.parquet").to_pylist() == rows, fmt
