"""Dataset export throughput and memory: 10,000 against 100,000 rated outputs.

    python -m bench.export [--sizes 10000 100000]

Builds one database per size in a temp folder (direct ``executemany`` inserts: four samples per
prompt group, realistic poem and slogan lengths, one to four votes each, some own votes, edits,
picks and A/B choices, a few held or blocked outputs and opted-out members), then runs each
export (sft, dpo, kto, raw as JSONL, raw as Parquet) in a fresh child process and prints rows/s,
the tracemalloc peak and the growth of peak RSS (``resource``) during the export. Flat memory
from 10k to 100k rows is the point: the exporter streams. Target: for every format, the peak at
the largest size is at most 1.5 times the peak at the smallest; the script exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CASES = (
    ("sft", "sft.jsonl"),
    ("dpo", "dpo.jsonl"),
    ("kto", "kto.jsonl"),
    ("raw", "raw.jsonl"),
    ("raw", "raw.parquet"),
)
SECRET = "bench-secret"
SAMPLES_PER_GROUP = 4  # an original job and one regeneration, two candidates each
USER_BASE = 900_000_000_000_000_000
WORDS = (
    "moon river light quiet morning silver wind autumn rain garden ocean distant fire ember "
    "window shadow golden bloom harbor lantern whisper meadow thunder velvet northern tide "
    "春 风 花 月 夜 山 水 云 雨 雪 梅 柳 江 舟 灯 梦"
).split()


def _text(rng: random.Random, low: int, high: int) -> str:
    """Lines of random words, ``low`` to ``high`` characters long."""
    target = rng.randint(low, high)
    lines, line, size = [], [], 0
    while size < target:
        word = rng.choice(WORDS)
        line.append(word)
        size += len(word) + 1
        if len(line) >= rng.randint(5, 9):
            lines.append(" ".join(line))
            line = []
    lines.append(" ".join(line))
    return "\n".join(lines).strip()


def _job_row(
    rng: random.Random, group: int, regen: int, requester: int, kind: str, topic: str
) -> tuple[Any, ...]:
    """A job of the group: the original (``regen`` 0) or its regeneration, same prompt."""
    options = (
        {"topic": topic, "form": "free verse", "style": "", "mood": "", "language": "auto"}
        if kind == "poem"
        else {"product": topic, "audience": "", "tone": "", "count": "2", "language": "auto"}
    )
    job_id = f"g{group:06d}j{regen}"
    prompt = (
        f"Write a short free-verse poem (8 to 14 lines), in English.\nTopic: {topic}"
        if kind == "poem"
        else f"Write one short, catchy advertising slogan for this product.\nProduct: {topic}"
    )
    row = (
        job_id, f"g{group:06d}", f"g{group:06d}j0" if regen else None, kind, requester,
        USER_BASE + 10 + group % 20, USER_BASE + 100 + group % 50, json.dumps(options), prompt,
        group, "done", 1_750_000_000.0 + group * 10 + regen, int(rng.random() < 0.1),
    )  # fmt: skip
    return row


def _decision(rng: random.Random) -> str:
    roll = rng.random()
    return "allow" if roll < 0.97 else ("review" if roll < 0.99 else "block")


def generate(rows: int, seed: int = 7) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """(table, row) pairs for a database of ``rows`` rated outputs."""
    rng = random.Random(seed)
    output_id = 0
    for group in range(rows // SAMPLES_PER_GROUP):
        requester = USER_BASE + 1000 + rng.randrange(2000)
        kind = "poem" if rng.random() < 0.7 else "slogan"
        topic = _text(rng, 20, 120).replace("\n", " ")
        for regen in range(2):
            job = _job_row(rng, group, regen, requester, kind, topic)
            yield "jobs", job
            ids = []
            for candidate in range(2):
                output_id += 1
                ids.append(output_id)
                yield "outputs", _output_row(rng, output_id, job[0], candidate, kind)
                yield from _feedback(rng, output_id, requester)
            yield from _picks(rng, job, ids)


def _output_row(
    rng: random.Random, output_id: int, job_id: str, candidate: int, kind: str
) -> tuple[Any, ...]:
    text = _text(rng, 200, 700) if kind == "poem" else _text(rng, 20, 80).replace("\n", " ")
    verdict = json.dumps({"decision": "allow", "categories": [], "scores": {}, "matched": []})
    timings = json.dumps({"queue_s": 0.1, "generate_s": 2.5, "total_s": 2.6, "batch_rows": 4.0})
    return (output_id, job_id, candidate, text, "muse/poet-1b", rng.randrange(2**32),
            _decision(rng), verdict, timings, 1_750_000_000.0 + output_id)  # fmt: skip


def _feedback(
    rng: random.Random, output_id: int, requester: int
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    voters = rng.sample(range(500), rng.randint(1, 4))
    for voter in voters:
        value = 1 if rng.random() < 0.65 else -1
        yield "votes", (output_id, USER_BASE + voter, value, 1.0, 0)
    if rng.random() < 0.1:
        yield "votes", (output_id, requester, 1, 1.0, 1)
    if rng.random() < 0.05:
        yield "edits", (output_id, requester, _text(rng, 200, 600), 2.0)


def _picks(
    rng: random.Random, job: tuple[Any, ...], ids: list[int]
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    job_id, requester, compare = job[0], job[4], job[12]
    if compare:
        chosen = None if rng.random() < 0.1 else rng.choice(ids)
        yield "picks", (job_id, requester, "compare", chosen, 3.0)
    elif rng.random() < 0.1:
        yield "picks", (job_id, requester, "pick", rng.choice(ids), 3.0)


INSERTS = (  # parents first
    ("jobs", "INSERT INTO jobs (id, group_id, parent_id, kind, user_id, guild_id, channel_id,"
     " options, prompt, seed, status, created_at, compare) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"),
    ("outputs", "INSERT INTO outputs (id, job_id, candidate, text, model_id, seed, decision,"
     " verdict, timings, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)"),
    ("votes", "INSERT INTO votes (output_id, user_id, value, created_at, own)"
     " VALUES (?,?,?,?,?)"),
    ("edits", "INSERT INTO edits (output_id, user_id, text, created_at) VALUES (?,?,?,?)"),
    ("picks", "INSERT INTO picks (job_id, user_id, source, output_id, created_at)"
     " VALUES (?,?,?,?,?)"),
)  # fmt: skip


async def build_database(path: Path, rows: int) -> None:
    """A migrated database with ``rows`` rated outputs, inserted in batches."""
    from bot.store.storage import Storage

    async with await Storage.open(path) as storage:
        batches: dict[str, list[tuple[Any, ...]]] = {table: [] for table, _ in INSERTS}
        for table, row in generate(rows):
            batches[table].append(row)
            if len(batches["outputs"]) >= 5000:
                await _flush(storage, batches)
        await _flush(storage, batches)
        consent = [(USER_BASE + n, "out", 1.0) for n in range(0, 500, 50)]
        await storage.db.executemany(
            "INSERT INTO consent (user_id, choice, updated_at) VALUES (?,?,?)", consent
        )
        await storage.db.commit()


async def _flush(storage: Any, batches: dict[str, list[tuple[Any, ...]]]) -> None:
    for table, sql in INSERTS:
        await storage.db.executemany(sql, batches[table])
        batches[table].clear()
    await storage.db.commit()


async def _export_once(db: Path, fmt: str, out: Path) -> tuple[int, float]:
    from bot.datasets.export import export
    from bot.datasets.filters import ExportFilters
    from bot.store.storage import Storage

    async with await Storage.open(db) as storage:
        started = time.perf_counter()
        manifest = await export(storage, out, fmt=fmt, filters=ExportFilters(), secret=SECRET)
        return manifest.rows, time.perf_counter() - started


def child(db: Path, fmt: str, out: Path) -> None:
    """One export measured in this fresh process; prints a JSON line."""
    import pyarrow.parquet  # noqa: F401  # imported before the baseline, like the exporter's

    import bot.datasets.export  # noqa: F401

    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows, seconds = asyncio.run(_export_once(db, fmt, out))
    growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kib
    tracemalloc.start()
    asyncio.run(_export_once(db, fmt, out.with_name(f"traced-{out.name}")))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({"rows": rows, "seconds": seconds, "peak": peak, "rss_kib": growth_kib}))


def measure(db: Path, fmt: str, out: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.export", "--child", str(db), fmt, str(out)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _cell(result: dict[str, Any]) -> str:
    rate = result["rows"] / result["seconds"]
    return (
        f"{result['rows']:>8,} {rate:>9,.0f}/s {result['peak'] / 2**20:>6.1f} MiB"
        f" {result['rss_kib'] / 1024:>6.1f} MiB"
    )


FLAT_RATIO = 1.5  # the largest size's tracemalloc peak over the smallest's, at most


def flat_memory(results: dict[int, list[dict[str, Any]]]) -> bool:
    """Print the memory target's verdict per format; True when every format stays flat."""
    low, high = min(results), max(results)
    ok = True
    for index, (_, name) in enumerate(CASES):
        ratio = results[high][index]["peak"] / max(1, results[low][index]["peak"])
        ok = ok and ratio <= FLAT_RATIO
        verdict = "PASS" if ratio <= FLAT_RATIO else "FAIL"
        print(
            f"{name}: peak {ratio:.2f}x from {low:,} to {high:,} rows "
            f"(target <= {FLAT_RATIO}x) {verdict}"
        )
    return ok


def main() -> bool:
    """Build, export and print; True when memory stays flat (or a child run was asked for)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--child", nargs=3, metavar=("DB", "FORMAT", "OUT"))
    args = parser.parse_args()
    if args.child:
        db, fmt, out = args.child
        child(Path(db), fmt, Path(out))
        return True
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        results: dict[int, list[dict[str, Any]]] = {}
        for size in args.sizes:
            started = time.perf_counter()
            db = root / f"bench-{size}.sqlite3"
            asyncio.run(build_database(db, size))
            print(f"built {size:,} rated outputs in {time.perf_counter() - started:.1f} s")
            results[size] = [measure(db, fmt, root / f"{size}-{name}") for fmt, name in CASES]
        header = "".join(
            f" | {f'{size:,} outputs':<13} {'rows/s':>9} {'tm peak':>10} {'RSS +':>10}"
            for size in args.sizes
        )
        print(f"{'export':<12}{header}")
        for index, (_, name) in enumerate(CASES):
            cells = " | ".join(_cell(results[size][index]) for size in args.sizes)
            print(f"{name:<12} | {cells}")
        print("tm peak: tracemalloc peak of Python allocations during the export;"
              " RSS +: growth of peak RSS from after imports to after the export")  # fmt: skip
        return flat_memory(results)


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
