"""Time to acknowledge: 200 slash commands arriving at once through the real Discord layer.

Each interaction is timed from its dispatch into discord.py to the moment its callback
(the "thinking" defer) reaches the stand-in for Discord's API, while the worker generates with
the tiny model. Target: p99 under 250 ms (Discord's limit is 3 s).

Run: ``python -m bench.ack_time``
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import build_models, load_backend, real_service
from bot.discord.client import MuseBot
from tests.discord_harness import Harness
from tests.discord_http import RecordingHTTP
from tests.discord_payloads import USER_ID

COMMANDS = 200


class TimedHTTP(RecordingHTTP):
    """Records when each interaction callback arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.acked_at: dict[str, float] = {}

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        if url.endswith("/callback") or "/callback?" in url:
            token = url.split("/interactions/")[1].split("/")[1]
            self.acked_at.setdefault(token, time.perf_counter())
        return super().request(method, url, **kwargs)


async def main() -> bool:
    """Print the figures; True when the target is met."""
    with tempfile.TemporaryDirectory() as folder:
        backend = load_backend(build_models(Path(folder))["tiny"])
    limits = {"queue_max_depth": COMMANDS, "queue_per_user": 1, "progress_interval_s": 2.0}
    async with real_service(backend, **limits) as service:
        http = TimedHTTP()
        async with Harness(MuseBot(service, service.settings, sync=False), http) as h:
            payloads = [
                h.slash(kind, {key: f"moon {i}"}, user_id=USER_ID + i)
                for i, (kind, key) in enumerate([("poem", "topic"), ("slogan", "product")] * 100)
            ]
            sent_at: dict[str, float] = {}
            for payload in payloads:
                sent_at[payload["token"]] = time.perf_counter()
                h.dispatch(payload)
            await h.settle(timeout=600)
    delays_ms = sorted((http.acked_at[t] - sent_at[t]) * 1000 for t in sent_at)
    p50, p99 = delays_ms[len(delays_ms) // 2], delays_ms[int(0.99 * (len(delays_ms) - 1))]
    results = sum(1 for p in payloads if (http.original_message(p["token"]) or {}).get("embeds"))
    notices = len(http.calls_to("POST", r"^/webhooks/\d+/[^/]+$"))  # ephemeral error followups
    print(
        f"{len(delays_ms)} interactions acknowledged; {results} results + {notices} error "
        "notices (random models may emit empty or flagged text); "
        f"ack p50={p50:.1f} ms p99={p99:.1f} ms max={delays_ms[-1]:.1f} ms"
    )
    print(
        f"time to acknowledge: p99 {p99:.1f} ms (target < 250 ms) {'PASS' if p99 < 250 else 'FAIL'}"
    )
    return p99 < 250


if __name__ == "__main__":
    raise SystemExit(0 if asyncio.run(main()) else 1)
