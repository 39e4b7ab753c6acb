"""The feedback loop, offline: does a model fine-tuned on a community's feedback win its votes?

1. A simulated community with a stated taste (``TASTE``, printed) asks for compare poems (A/B)
   on training topics through the real service, chooses A, B or a tie, and votes 👍/👎.
2. Its feedback goes through ``muse export --format dpo`` and ``muse finetune --lora`` on the
   real SmolLM2-135M-Instruct, on the CPU (each fine-tune bounded by ``--budget-s``, 900 s),
   DPO with an SFT term on the chosen poems (``--beta 0.3 --sft-weight 1``).
3. On held-out topics the raters compare base and tuned poems blind (positions drawn at random,
   one rater per match so the choices are independent): the tuned model's win rate with its
   95% Wilson interval, for each export size (the learning curve).

Target: win rate >= 65% with the interval's lower bound above 50%; exits 1 on a miss.
Run: ``PYTHONPATH=. OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python -m bench.feedback_loop``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.feedback_taste import TASTE, choose, likes, taste
from bot.app import Models, open_service
from bot.cli import main as muse
from bot.config import Settings
from bot.service.arena import wilson_interval
from bot.service.core import MuseService
from bot.service.types import Origin
from generators.prompts import clean_poem, poem_prompt
from generators.requests import PoemRequest
from generators.samples import SamplingParams

TOPICS = (
    "moon river garden ocean rocket coffee shadow morning winter lantern harbor forest desert "
    "candle thunder meadow bridge island mountain window train autumn kitten violin lighthouse "
    "orchard snowfall market chimney compass feather glacier honey kettle ladder mirror "
    "pebble quilt saddle teapot umbrella valley walnut anchor bakery canyon dolphin ember "
    "fountain garlic hammock iceberg jasmine kayak library mango nest pepper tulip zebra"
).split()
TARGET_WIN, SECRET = 0.65, "feedback-loop-bench-secret-0123456789"


async def compare_and_rate(
    service: MuseService, ask: tuple[str, int, int], raters: int, rng: random.Random
) -> int:
    """One compare request (topic, seed, requester); every rater chooses A, B or a tie and
    votes on both. Returns the feedback events."""
    topic, seed, requester = ask
    origin = Origin(user_id=requester, guild_id=1, channel_id=1)
    pending = service.prepare(PoemRequest(topic=topic, compare=True, seed=seed), origin)
    await service.start(pending)
    delivery = await service.finish(pending)
    if len(delivery.outputs) < 2:
        return 0  # one side was held by the filter: nothing to compare
    a, b = delivery.outputs[0], delivery.outputs[1]
    for rater in range(raters):
        await service.compare_vote(
            delivery.job_id, 2000 + rater, choose(a.text, b.text, topic, rng)
        )
        for out in (a, b):
            await service.vote(
                out.output_id, 2000 + rater, 1 if likes(out.text, topic, rng) else -1
            )
    return 3 * raters


async def community_round(
    service: MuseService, topics: list[str], args: Any, rng: random.Random
) -> int:
    """``args.compares`` compare requests per topic, four at a time (so the service batches
    their eight rows; four requesters, as a member may have two in progress), each rated by
    ``args.raters`` members. Returns feedback events."""
    asks = [(t, rng.randrange(1 << 30)) for t in topics for _ in range(args.compares)]
    events = 0
    for start in range(0, len(asks), 4):
        batch = [(t, seed, 1000 + i) for i, (t, seed) in enumerate(asks[start : start + 4])]
        done = await asyncio.gather(
            *(compare_and_rate(service, a, args.raters, rng) for a in batch)
        )
        events += sum(done)
    return events


async def collect(settings: Settings, backend: Any, topics: list[str], args: Any, seed: int) -> int:
    """Run the community over ``topics`` through the production service on ``backend``."""
    async with open_service(settings, lambda _: Models(backend, 0.01)) as service:
        return await community_round(service, topics, args, random.Random(seed))


def export_and_tune(env: dict[str, str], work: Path, name: str, base: str, args: Any) -> Path:
    """``muse export --format dpo`` then ``muse finetune --lora``; returns the tuned folder."""
    os.environ.update(env)
    data, out = work / f"{name}.jsonl", work / f"tuned-{name}"
    if muse(["export", "--format", "dpo", "--out", str(data)]) != 0:
        raise SystemExit("muse export failed")
    tune = ["finetune", "--data", str(data), "--base", base, "--out", str(out), "--lora"]
    hyper = ["--steps", str(args.steps), "--learning-rate", str(args.lr),
             "--batch-size", str(args.batch_size), "--save-steps", str(max(1, args.steps // 2)),
             "--beta", str(args.beta), "--sft-weight", str(args.sft_weight)]  # fmt: skip
    if muse([*tune, *hyper, "--eval-fraction", "0.1"]) != 0:
        raise SystemExit("muse finetune failed")
    return out


def poems(backend: Any, topics: list[str], seeds: list[int], tokens: int) -> list[str]:
    """One cleaned poem per (topic, seed), generated in batches of 8 as the service would."""
    prompts = [
        poem_prompt(PoemRequest(topic=t, seed=s), SamplingParams(s, tokens))
        for t, s in zip(topics, seeds, strict=True)
    ]
    texts: list[str] = []
    for start in range(0, len(prompts), 8):
        samples = backend.generate(prompts[start : start + 8], threading.Event())
        texts.extend(clean_poem(sample.text) for sample in samples)
    return texts


def blind_ab(
    base: list[str], tuned: list[str], topics: list[str], raters: int, seed: int
) -> tuple[int, int, int]:
    """One rater per match, positions drawn at random: (tuned wins, base wins, ties)."""
    rng = random.Random(seed)
    wins = losses = ties = 0
    for index, (old, new, topic) in enumerate(zip(base, tuned, topics, strict=True)):
        rater = random.Random(seed * 1000 + index % raters)
        tuned_is_a = rng.random() < 0.5
        a, b = (new, old) if tuned_is_a else (old, new)
        choice = choose(a, b, topic, rater)
        if choice == "tie":
            ties += 1
        elif (choice == "a") == tuned_is_a:
            wins += 1
        else:
            losses += 1
    return wins, losses, ties


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="base model folder (default: the real SmolLM2)")
    parser.add_argument("--train-topics", type=int, default=16)
    parser.add_argument("--eval-matches", type=int, default=40)
    parser.add_argument("--raters", type=int, default=3)
    parser.add_argument("--compares", type=int, default=2, help="compare requests per topic")
    parser.add_argument("--curve", type=int, default=2, help="export sizes on the curve")
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--beta", type=float, default=0.3, help="DPO beta")
    parser.add_argument("--sft-weight", type=float, default=1.0, help="SFT term on chosen")
    parser.add_argument("--tokens", type=int, default=144, help="new tokens per poem")
    parser.add_argument("--budget-s", type=float, default=900.0, help="each fine-tune")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def _model(args: argparse.Namespace) -> str:
    if args.model:
        return str(args.model)
    from tests.real_models import real_lm_dir

    return str(real_lm_dir())


def _verdict(curve: list[tuple[int, int, int, int]], tune_s: float, budget_s: float) -> int:
    """Print the learning curve and the verdict; 0 when the target is met."""
    print("learning curve (feedback events -> tuned win rate vs base, 95% Wilson interval):")
    for events, wins, losses, ties in curve:
        low, high = wilson_interval(wins, wins + losses)
        rate = wins / max(1, wins + losses)
        print(f"  {events:4d} events: {rate:.1%} ({low:.1%} to {high:.1%}) over "
              f"{wins + losses} decided matches, {ties} tie(s)")  # fmt: skip
    _, wins, losses, _ = curve[-1]
    rate, (low, _) = wins / max(1, wins + losses), wilson_interval(wins, wins + losses)
    met = rate >= TARGET_WIN and low > 0.5 and tune_s <= budget_s
    print(f"the longest export and fine-tune took {tune_s:.0f} s (budget {budget_s:.0f} s)")
    print(f"target: win rate >= {TARGET_WIN:.0%} with the interval above 50%: "
          f"{'MET' if met else 'MISSED'}")  # fmt: skip
    return 0 if met else 1


def _settings(work: Path, base: str, tokens: int) -> tuple[dict[str, str], Settings]:
    """The environment ``muse`` reads and the service's settings, over one database."""
    db = work / "muse.sqlite3"
    env = {"MUSE_DB_PATH": str(db), "MUSE_TEXT_MODEL": base, "MUSE_EXPORT_SECRET": SECRET,
           "MUSE_IMAGE_MODEL": "off", "MUSE_FILTER_ML": "0"}  # fmt: skip
    settings = Settings(db_path=db, image_dir=work / "images", text_model=base, image_model=None,
                        filter_ml=False, poem_max_new_tokens=tokens, text_forms=False,
                        votes_per_minute=100_000)  # a simulated minute is busy  # fmt: skip
    return env, settings


def _loop(args: argparse.Namespace, base: str, work: Path) -> tuple[list[Any], float]:
    """Collect feedback in ``args.curve`` rounds; after each, export, tune and judge blind."""
    from bench.common import load_backend

    train, held_out = TOPICS[: args.train_topics], TOPICS[args.train_topics :]
    topics = [held_out[i % len(held_out)] for i in range(args.eval_matches)]
    seeds = [7000 + i for i in range(args.eval_matches)]
    print(f"base {base}; {len(train)} training topics, {len(held_out)} held-out topics")
    env, settings = _settings(work, base, args.tokens)
    backend = load_backend(Path(base))
    base_poems = poems(backend, topics, seeds, args.tokens)
    curve: list[Any] = []
    events, tune_s, tuned_poems = 0, 0.0, base_poems
    for point in range(args.curve):
        started = time.perf_counter()
        chunk = train[point :: args.curve]
        events += asyncio.run(collect(settings, backend, chunk, args, args.seed + point))
        print(f"collected {events} feedback events ({time.perf_counter() - started:.0f} s)")
        started = time.perf_counter()
        tuned = export_and_tune(env, work, f"round{point}", base, args)
        took_s = time.perf_counter() - started
        tune_s = max(tune_s, took_s)
        print(f"export and fine-tune on {events} events took {took_s:.0f} s")
        tuned_poems = poems(load_backend(tuned), topics, seeds, args.tokens)
        result = blind_ab(base_poems, tuned_poems, topics, args.raters, args.seed)
        curve.append((events, *result))
        print(f"  tuned on {events} events: {result} (wins, losses, ties)")
    for name, texts in (("base", base_poems), ("tuned", tuned_poems)):
        mean = sum(taste(p, t) for p, t in zip(texts, topics, strict=True)) / len(texts)
        print(f"mean taste score of {name} poems on held-out topics: {mean:.2f}")
    for index in range(min(3, len(topics))):
        for name, texts in (("base", base_poems), ("tuned", tuned_poems)):
            score = taste(texts[index], topics[index])
            print(f"--- {name} poem on {topics[index]!r} (taste {score:.2f}):\n{texts[index]}")
    return curve, tune_s


def main() -> int:
    args = _args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    base = _model(args)
    print(f"taste: {TASTE}")
    with tempfile.TemporaryDirectory(prefix="muse-loop-") as folder:
        curve, tune_s = _loop(args, base, Path(folder))
    return _verdict(curve, tune_s, args.budget_s)


if __name__ == "__main__":
    raise SystemExit(main())
