"""Dataset exports from a real SQLite file: shapes, exclusions, consent, pseudonyms, filters,
images, manifest, and loading every layout with ``datasets``."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from bot.datasets.export import export
from bot.datasets.filters import ExportFilters
from bot.datasets.manifest import Manifest
from bot.datasets.pseudonyms import pseudonym
from bot.review.reviews import ReviewDesk
from bot.store.storage import MIGRATIONS, JobRecord, NewOutput, Storage
from generators.prompts import _SYSTEM_EN, _SYSTEM_ZH, poem_prompt, slogan_prompt
from generators.types import (
    DrawRequest,
    PoemForm,
    PoemRequest,
    SamplingParams,
    SloganRequest,
)

SECRET = "installation-secret"
GUILD, OPT_IN_GUILD = 710000000000000001, 710000000000000002
CHANNEL = 720000000000000001
MOD = 730000000000000009
ALICE, BOB, CAROL, DAVE = (740000000000000000 + n for n in range(1, 5))
OSCAR = 740000000000000011  # opted out
PAUL = 740000000000000012  # no choice, in the opt-in guild
IRIS = 740000000000000013  # opted in, in the opt-in guild
VERA = 740000000000000014  # opted-out voter
RAW_IDS = (GUILD, OPT_IN_GUILD, CHANNEL, MOD, ALICE, BOB, CAROL, DAVE, OSCAR, PAUL, IRIS, VERA)
MODEL = "muse-test-model"
T0 = 1_750_000_000.0
ZH_POEM = PoemRequest(topic="春日", form=PoemForm.QIYAN_JUEJU)
EN_POEM = PoemRequest(topic="the sea at night")
SLOGAN = SloganRequest(product="green tea", count=3)


def user(member: int) -> str:
    return pseudonym(SECRET, "user", member)


def guild(guild_id: int) -> str:
    return pseudonym(SECRET, "guild", guild_id)


def user_turn(request: PoemRequest | SloganRequest) -> str:
    build = poem_prompt if isinstance(request, PoemRequest) else slogan_prompt
    return build(request, SamplingParams(1)).messages[-1].content  # type: ignore[arg-type]


@dataclass
class World:
    """A database with one example of every case; ``ids`` names each output."""

    storage: Storage
    ids: dict[str, int] = field(default_factory=dict)

    async def job(
        self,
        job_id: str,
        outputs: list[tuple[str, str, str]],  # (name, text, decision)
        *,
        request: Any = EN_POEM,
        requester: int = ALICE,
        guild_id: int | None = GUILD,
        group: str | None = None,
        compare: bool = False,
        at: float = T0,
        prompt: str | None = None,
        images: list[str | None] | None = None,
    ) -> None:
        kind = request.kind.value
        await self.storage.insert_job(JobRecord(
            id=job_id, group_id=group or job_id, parent_id=group, kind=kind, user_id=requester,
            guild_id=guild_id, channel_id=CHANNEL if guild_id else None, options=request.fields(),
            prompt=prompt or (request.full_prompt() if kind == "draw" else user_turn(request)),
            seed=42, status="queued", created_at=at,
        ))  # fmt: skip
        if compare:
            await self.storage.write("UPDATE jobs SET compare = 1 WHERE id = ?", (job_id,))
        paths = images or [None] * len(outputs)
        new = [
            NewOutput(i, text, MODEL, 42 + i, {"decision": decision}, {"total_s": 1.0}, path)
            for i, ((_, text, decision), path) in enumerate(zip(outputs, paths, strict=True))
        ]
        ids = await self.storage.add_outputs(job_id, new, at + 1)
        self.ids.update((name, oid) for (name, _, _), oid in zip(outputs, ids, strict=True))

    async def vote(self, name: str, member: int, value: int, *, own: bool = False) -> None:
        oid = self.ids[name]
        await self.storage.toggle_vote(oid, member, value, T0 + 2)
        if own:
            await self.storage.write(
                "UPDATE votes SET own = 1 WHERE output_id = ? AND user_id = ?", (oid, member)
            )

    async def edit(self, name: str, member: int, text: str, at: float = T0 + 3) -> None:
        await self.storage.write(
            "INSERT INTO edits (output_id, user_id, text, created_at) VALUES (?,?,?,?)",
            (self.ids[name], member, text, at),
        )

    async def pick(self, job_id: str, member: int, source: str, name: str | None) -> None:
        await self.storage.write(
            "INSERT INTO picks (job_id, user_id, source, output_id, created_at) VALUES (?,?,?,?,?)",
            (job_id, member, source, self.ids[name] if name else None, T0 + 4),
        )

    async def consent(self, member: int, choice: str) -> None:
        await self.storage.write(
            "INSERT INTO consent (user_id, choice, updated_at) VALUES (?,?,?)",
            (member, choice, T0),
        )


async def build_world(storage: Storage) -> World:
    """Every case the exporter must handle, in one guild (opt-out) and one opt-in guild."""
    w = World(storage)
    await w.consent(OSCAR, "out")
    await w.consent(VERA, "out")
    await w.consent(IRIS, "in")
    await w.consent(DAVE, "in")
    await storage.write(
        "INSERT INTO guild_settings (guild_id, updated_at, consent_mode) VALUES (?,?,?)",
        (OPT_IN_GUILD, T0, "opt-in"),
    )
    # a Chinese poem and its regeneration: votes rank the three samples
    await w.job("A", [("a0", "春风十里桃花开", "allow"), ("a1", "夜雨敲窗梦未还", "allow")],
                request=ZH_POEM)  # fmt: skip
    await w.job("A2", [("a2", "柳色青青映小桥", "allow")], request=ZH_POEM, group="A", at=T0 + 10)
    for name, member, value in (("a0", BOB, 1), ("a0", CAROL, 1), ("a1", BOB, -1),
                                ("a2", BOB, 1), ("a2", DAVE, -1), ("a0", VERA, -1)):  # fmt: skip
        await w.vote(name, member, value)
    await w.vote("a1", ALICE, 1, own=True)
    # slogans: the requester picks b1; b2 was blocked
    await w.job("B", [("b0", "Sip the calm.", "allow"), ("b1", "Green, clean, serene.", "allow"),
                      ("b2", "blocked words", "block")], request=SLOGAN)  # fmt: skip
    await w.pick("B", ALICE, "pick", "b1")
    await w.pick("B", VERA, "pick", "b0")  # an opted-out member's pick is ignored
    # A/B comparisons: one won by A, one tie
    await w.job("C", [("c0", "Waves fold the moon.", "allow"), ("c1", "Salt and dark.", "allow")],
                compare=True)  # fmt: skip
    await w.pick("C", ALICE, "compare", "c0")
    await w.job("T", [("t0", "Tide one.", "allow"), ("t1", "Tide two.", "allow")], compare=True)
    await w.pick("T", ALICE, "compare", None)
    # an edited poem (the later edit wins); an opted-out member's vote alone rates nothing
    await w.job("E", [("e0", "The sea is big.", "allow")], guild_id=None)
    await w.edit("e0", ALICE, "The sea is wide.", T0 + 3)
    await w.edit("e0", ALICE, "The sea is wide and deep.", T0 + 5)
    await w.job("V", [("v0", "Only Vera liked this.", "allow")])
    await w.vote("v0", VERA, 1)
    await _excluded(w, storage)
    return w


async def _excluded(w: World, storage: Storage) -> None:
    """Liked outputs that must never be exported, and one approved after review that must."""
    cases = [("held", "Held text.", "review"), ("approved", "Approved text.", "review"),
             ("rejected", "Rejected text.", "allow"), ("reported", "Reported.", "allow"),
             ("hidden", "Hidden text.", "allow"), ("blocked", "Blocked.", "block")]  # fmt: skip
    await w.job("X", cases)
    desk = ReviewDesk(storage, clock=lambda: T0 + 6)
    [_held, approved] = await desk.hold([w.ids["held"], w.ids["approved"]])
    [rejected, _reported] = await desk.hold([w.ids["rejected"], w.ids["reported"]], "report")
    await desk.decide(approved.review_id, MOD, GUILD, approve=True)
    await desk.decide(rejected.review_id, MOD, GUILD, approve=False)
    await storage.write("UPDATE outputs SET hidden = 1 WHERE id = ?", (w.ids["hidden"],))
    await w.job("O", [("optout", "Oscar's poem.", "allow")], requester=OSCAR)
    await w.job("P", [("optin_none", "Paul's poem.", "allow")], requester=PAUL,
                guild_id=OPT_IN_GUILD)  # fmt: skip
    await w.job("I", [("optin_yes", "Iris's poem.", "allow")], requester=IRIS,
                guild_id=OPT_IN_GUILD)  # fmt: skip
    for name in ("held", "approved", "rejected", "reported", "hidden", "blocked", "optout",
                 "optin_none", "optin_yes"):  # fmt: skip
        await w.vote(name, BOB, 1)
        await w.vote(name, CAROL, 1)
    await w.vote("optin_yes", DAVE, 1)  # in the opt-in guild only Dave's vote counts


@pytest.fixture
async def world(storage: Storage) -> World:
    return await build_world(storage)


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def run(
    w: World, out: Path, fmt: str, filters: ExportFilters | None = None
) -> tuple[list[dict[str, Any]], Manifest]:
    manifest = await export(w.storage, out, fmt=fmt, filters=filters or ExportFilters(),
                            secret=SECRET)  # fmt: skip
    rows = read(out / "metadata.jsonl") if out.is_dir() else read(out)
    return rows, manifest


def messages(system: str, user_text: str, reply: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user_text},
            {"role": "assistant", "content": reply}]  # fmt: skip


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
        "channel": pseudonym(SECRET, "channel", CHANNEL),
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


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (ExportFilters(kind="slogan"), {"b0", "b1"}),
        (ExportFilters(since=datetime.fromtimestamp(T0 + 5, UTC)), {"a2"}),
        (ExportFilters(since=datetime.fromtimestamp(T0 + 5, UTC).replace(tzinfo=None)), {"a2"}),
        (ExportFilters(guild_id=OPT_IN_GUILD), {"optin_yes"}),
        (ExportFilters(min_votes=2), {"a0", "a2", "approved"}),
        (ExportFilters(min_score=0.0), {"a0", "a2", "approved", "optin_yes"}),
        (ExportFilters(min_score=0.5, kind="poem"), {"a0", "approved", "optin_yes"}),
    ],
)
async def test_filters(
    world: World, tmp_path: Path, filters: ExportFilters, expected: set[str]
) -> None:
    rows, manifest = await run(world, tmp_path / "raw.jsonl", "raw", filters)
    name = {oid: n for n, oid in world.ids.items()}
    assert {name[r["output_id"]] for r in rows} == expected
    assert manifest.filters["kind"] == filters.kind
    if filters.guild_id:
        assert manifest.filters["guild"] == guild(filters.guild_id)


async def test_manifest(world: World, tmp_path: Path) -> None:
    out = tmp_path / "sft.jsonl"
    _, manifest = await run(world, out, "sft", ExportFilters(min_votes=0, kind="poem"))
    saved = json.loads((tmp_path / "sft.jsonl.manifest.json").read_text(encoding="utf-8"))
    assert saved == manifest.to_json()
    assert manifest.path == tmp_path / "sft.jsonl.manifest.json"
    assert saved["muse_export_version"] == 1 and saved["schema_version"] == len(MIGRATIONS)
    assert saved["format"] == "sft" and saved["layout"] == "jsonl"
    assert saved["model_ids"] == [MODEL]
    assert saved["counts"]["rows"] == 5 == len(read(out))
    assert saved["filters"] == {"kind": "poem", "since": None, "guild": None, "min_votes": 0,
                                "min_score": None}  # fmt: skip
    created = datetime.fromisoformat(saved["created_at"])
    assert created.tzinfo is not None and abs(created - datetime.now(UTC)).total_seconds() < 60


async def test_bad_arguments_are_clear_errors(world: World, tmp_path: Path) -> None:
    cases = [
        ("csv", ExportFilters(), tmp_path / "a.jsonl", "format must be one of"),
        ("raw", ExportFilters(kind="song"), tmp_path / "a.jsonl", "kind must be one of"),
        ("raw", ExportFilters(kind="draw"), tmp_path / "a.parquet", "export to a folder"),
    ]
    for fmt, filters, out, message in cases:
        with pytest.raises(ValueError, match=message):
            await export(world.storage, out, fmt=fmt, filters=filters, secret=SECRET)


async def test_parquet_holds_the_same_rows_as_jsonl(world: World, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    for fmt in ("sft", "dpo", "kto", "raw"):
        rows, _ = await run(world, tmp_path / f"{fmt}.jsonl", fmt)
        manifest = await export(world.storage, tmp_path / f"{fmt}.parquet", fmt=fmt,
                                filters=ExportFilters(), secret=SECRET)  # fmt: skip
        assert manifest.layout == "parquet"
        assert pq.read_table(tmp_path / f"{fmt}.parquet").to_pylist() == rows, fmt


def png(prompt: str) -> bytes:
    info = PngInfo()
    info.add_itxt("prompt", prompt)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


async def draw_world(storage: Storage, folder: Path) -> World:
    """Two drawn candidates (one picked and liked), a blocked one, and a missing file."""
    w = World(storage)
    request = DrawRequest(prompt=f"a cat for <@{BOB}>", count=3)
    paths = []
    for n in range(3):
        path = folder / f"D-{n + 1}.png"
        path.write_bytes(png(request.full_prompt()))
        paths.append(str(path))
    await w.job("D", [("d0", "", "allow"), ("d1", "", "allow"), ("d2", "", "block")],
                request=request, images=[*paths[:2], None])  # fmt: skip
    await w.pick("D", ALICE, "pick", "d1")
    await w.vote("d1", BOB, 1)
    await w.vote("d0", CAROL, -1)
    await w.job("G", [("gone", "", "allow")], request=request, images=[str(folder / "gone.png")])
    await w.vote("gone", BOB, 1)
    await w.job("Q", [("poem", "Not an image.", "allow")])
    return w


async def test_images_export_as_an_imagefolder(storage: Storage, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    w = await draw_world(storage, images)
    draws = ExportFilters(kind="draw")
    shapes = {}
    for fmt, used in (("sft", ["d1"]), ("dpo", ["d0", "d1"]), ("kto", ["d0", "d1"]),
                      ("raw", ["d0", "d1"])):  # fmt: skip
        out = tmp_path / f"draw-{fmt}"
        rows, manifest = await run(w, out, fmt, draws)
        assert manifest.layout == "imagefolder" and manifest.path == out / "manifest.json"
        files = {p.name for p in out.iterdir()}
        assert files == {"manifest.json", "metadata.jsonl", *(f"{w.ids[n]}.png" for n in used)}
        shapes[fmt] = rows
    [sft] = shapes["sft"]
    assert sft["file_name"] == f"{w.ids['d1']}.png" and sft["accepted_by"] == ["pick", "votes"]
    assert sft["prompt"] == f"a cat for @user-{user(BOB)}"
    assert [(r["source"], r["chosen_file_name"], r["rejected_file_name"])
            for r in shapes["dpo"]] == [
        ("pick", f"{w.ids['d1']}.png", f"{w.ids['d0']}.png"),
        ("votes", f"{w.ids['d1']}.png", f"{w.ids['d0']}.png"),
    ]  # fmt: skip
    assert [(r["file_name"], r["label"]) for r in shapes["kto"]] == [
        (f"{w.ids['d0']}.png", False), (f"{w.ids['d1']}.png", True)]  # fmt: skip
    assert {r["file_name"] for r in shapes["raw"]} == {f"{w.ids['d0']}.png", f"{w.ids['d1']}.png"}
    copied = (tmp_path / "draw-raw" / f"{w.ids['d0']}.png").read_bytes()
    assert str(BOB).encode() not in copied  # the PNG's own prompt chunk is scrubbed too
    with Image.open(io.BytesIO(copied)) as image:
        assert getattr(image, "text", {})["prompt"].startswith(f"a cat for @user-{user(BOB)}")
    _, manifest = await run(w, tmp_path / "draw-raw-2", "raw", draws)
    assert manifest.skipped == {"blocked": 1, "image_missing": 1}
    _, text_only = await run(w, tmp_path / "all.jsonl", "sft")
    assert text_only.skipped["image_kind"] == 3


async def test_datasets_loads_every_layout(world: World, storage: Storage, tmp_path: Path) -> None:
    import datasets

    datasets.disable_progress_bars()
    cache = str(tmp_path / "hf-cache")
    out = tmp_path / "out"
    expected = {}
    for fmt in ("sft", "dpo", "kto", "raw"):
        rows, _ = await run(world, out / f"{fmt}.jsonl", fmt)
        await export(storage, out / f"{fmt}.parquet", fmt=fmt, filters=ExportFilters(),
                     secret=SECRET)  # fmt: skip
        expected[fmt] = rows
    for fmt, rows in expected.items():
        for kind in ("json", "parquet"):
            suffix = "jsonl" if kind == "json" else "parquet"
            data = datasets.load_dataset(kind, data_files=str(out / f"{fmt}.{suffix}"),
                                         split="train", cache_dir=cache)  # fmt: skip
            assert data.num_rows == len(rows), (fmt, kind)
            first, want = dict(data[0]), dict(rows[0])
            if fmt == "raw" and kind == "json":  # pyarrow reads ISO times as timestamps
                moment = datetime.fromisoformat(want.pop("created_at")).replace(tzinfo=None)
                assert first.pop("created_at") == moment
            assert first == want, (fmt, kind)
    images = tmp_path / "images"
    images.mkdir()
    draws = await draw_world(storage, images)
    await run(draws, tmp_path / "draw-dpo", "dpo", ExportFilters(kind="draw"))
    await run(draws, tmp_path / "draw-raw", "raw", ExportFilters(kind="draw"))
    pairs = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "draw-dpo"),
                                  split="train", cache_dir=cache)  # fmt: skip
    assert pairs.num_rows == 2 and pairs[0]["chosen"].size == (8, 8)
    assert pairs[0]["rejected"].size == (8, 8) and pairs[0]["source"] == "pick"
    raw = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "draw-raw"),
                                split="train", cache_dir=cache)  # fmt: skip
    assert raw.num_rows == 2 and {r["image"].size for r in raw} == {(8, 8)}
