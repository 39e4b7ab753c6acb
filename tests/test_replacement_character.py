"""U+FFFD (what a decoder leaves where a token cap cut a multi-byte character) is never stored
and never exported, whatever the backend: it is dropped, and the rest of the text is kept."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from bot.datasets.export import export
from bot.datasets.filters import ExportFilters
from bot.service.types import Origin
from bot.store.records import JobRecord, NewOutput
from bot.store.storage import Storage
from generators.requests import PoemRequest
from tests.conftest import ServiceFactory
from tests.fakes import ScriptedBackend

CUT = "\ufffd"
SECRET = "a-long-random-secret"


def _stored_strings(path: Path) -> list[str]:
    """Every text value in the database's jobs, outputs and edits."""
    with sqlite3.connect(path) as raw:
        rows = [
            *raw.execute("SELECT prompt, options FROM jobs"),
            *raw.execute("SELECT text, verdict FROM outputs"),
            *raw.execute("SELECT text, '' FROM edits"),
        ]
    return [value for row in rows for value in row]


async def test_a_generation_ending_in_a_cut_character_is_stored_and_shown_without_it(
    make_service: ServiceFactory,
) -> None:
    backend = ScriptedBackend(texts=[f"moon over the 春{CUT}\nsecond li{CUT}{CUT}"])
    service = await make_service(backend)
    pending = service.prepare(PoemRequest(topic=f"moon{CUT}"), Origin(user_id=1))
    await service.start(pending)
    delivery = await service.finish(pending)
    [shown] = delivery.outputs
    assert shown.text == "moon over the 春\nsecond li"  # the member still gets their text
    edited = await service.edit(delivery.job_id, 1, {shown.output_id: f"moon, edited{CUT}"})
    assert edited.outputs[0].text == "moon, edited"
    stored = _stored_strings(service.storage.path)
    assert stored and not [value for value in stored if CUT in value]


async def test_storage_drops_the_character_whoever_writes(storage: Storage) -> None:
    job = JobRecord(
        id="00000000000000ff", group_id="g", parent_id=None, kind="poem", user_id=1,
        guild_id=None, channel_id=None, options={"topic": f"sea{CUT}"}, prompt=f"sea{CUT}",
        seed=1, status="queued", created_at=time.time(),
    )  # fmt: skip
    await storage.insert_job(job)
    verdict = {"decision": "allow", "matched": [f"x{CUT}"]}
    await storage.add_outputs(job.id, [NewOutput(0, f"{CUT}wave{CUT}", "m", 1, verdict, {})], 1.0)
    [output] = await storage.job_outputs(job.id)
    assert output.text == "wave"
    assert (await storage.get_job(job.id)).options == {"topic": "sea"}  # type: ignore[union-attr]
    assert not [value for value in _stored_strings(storage.path) if CUT in value]


@pytest.mark.parametrize("name", ["ratings.jsonl", "ratings.parquet"])
async def test_an_export_never_holds_the_character_even_from_old_rows(
    storage: Storage, tmp_path: Path, name: str
) -> None:
    job = JobRecord(
        id="00000000000000ee", group_id="g", parent_id=None, kind="poem", user_id=1,
        guild_id=None, channel_id=None, options={"topic": "sea"}, prompt="sea", seed=1,
        status="queued", created_at=time.time(),
    )  # fmt: skip
    await storage.insert_job(job)
    await storage.add_outputs(job.id, [NewOutput(0, "wave", "m", 1, {"decision": "allow"}, {})], 1)
    with sqlite3.connect(storage.path) as raw:  # as another backend or an older Muse left it
        raw.execute("UPDATE outputs SET text = ?", (f"wave on wa{CUT}",))
        options = json.dumps({"topic": f"sea{CUT}"}, ensure_ascii=False)
        raw.execute("UPDATE jobs SET prompt = ?, options = ?", (f"sea{CUT}", options))
    out = tmp_path / name
    manifest = await export(storage, out, fmt="raw", filters=ExportFilters(), secret=SECRET)
    assert manifest.rows == 1
    rows = _read(out)
    assert rows and "wave on wa" in json.dumps(rows, ensure_ascii=False)
    assert CUT not in json.dumps(rows, ensure_ascii=False)
    assert CUT not in manifest.path.read_text(encoding="utf-8")


def _read(path: Path) -> list[dict[str, object]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_table(path).to_pylist())
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
