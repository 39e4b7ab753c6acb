"""The export tests' world: one SQLite database with an example of every case the exporter
must handle, a drawn one, and helpers that run an export and read its rows back."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from bot.datasets.export import export
from bot.datasets.filters import ExportFilters
from bot.datasets.manifest import Manifest
from bot.datasets.pseudonyms import pseudonym
from bot.review.reviews import ReviewDesk
from bot.store.records import JobRecord, NewOutput
from bot.store.storage import Storage
from generators.options import PoemForm
from generators.prompts import poem_prompt, slogan_prompt
from generators.requests import DrawRequest, PoemRequest, SloganRequest
from generators.samples import SamplingParams

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
