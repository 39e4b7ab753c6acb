"""Prometheus metrics and a health check, served by ``muse run --metrics-port N`` (off by default).

Each service owns its own registry (no module-level state). ``/healthz`` fails when the model
worker thread is dead or has been busy with one call for longer than a job may take, and, with
``MUSE_TEXT_BACKEND=openai``, while the text server fails its requests
(``generators.remote_health``), whose outcomes ``/metrics`` also counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from generators.remote_health import OUTCOMES, ServerHealth

log = logging.getLogger(__name__)

LATENCY_BUCKETS_S = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)


class Metrics:
    """Everything Muse counts; read by Prometheus through ``render``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.queue_depth = Gauge("muse_queue_depth", "Jobs waiting", registry=r)
        self.queue_running = Gauge("muse_queue_running", "Jobs running", registry=r)
        self.job_seconds = Histogram(
            "muse_job_seconds", "From admission to stored result", ["kind"],
            buckets=LATENCY_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.jobs = Counter("muse_jobs", "Finished jobs", ["kind", "status"], registry=r)
        self.generation_seconds = Counter(
            "muse_generation_seconds", "Time spent in model calls", ["kind"], registry=r
        )
        self.tokens = Counter("muse_generated_tokens", "New tokens generated", registry=r)
        self.steps = Counter("muse_denoising_steps", "Denoising steps run (x images)", registry=r)
        self.verdicts = Counter(
            "muse_verdicts", "Output verdicts", ["kind", "decision"], registry=r
        )
        self.discord_errors = Counter(
            "muse_discord_errors", "Errors talking to Discord or shown to members", ["kind"],
            registry=r,
        )  # fmt: skip

    def watch_text_server(self, health: ServerHealth) -> None:
        """Export the remote text server's request outcomes, retries and failure run."""
        self.registry.register(_TextServerCollector(health))

    def watch_image_server(self, health: ServerHealth) -> None:
        """The same for the picture engine (``muse_image_server_*``)."""
        self.registry.register(_TextServerCollector(health, "image"))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _TextServerCollector:
    """Reads ``ServerHealth`` at scrape time (the backend keeps the counts)."""

    def __init__(self, health: ServerHealth, kind: str = "text") -> None:
        self.health = health
        self.kind = kind  # "text" or "image": the metric names' prefix

    def collect(self) -> Iterator[Metric]:
        health = self.health
        requests = CounterMetricFamily(
            f"muse_{self.kind}_server_requests", f"Requests to the {self.kind} server, by outcome",
            labels=["outcome"],
        )  # fmt: skip
        for outcome in sorted({*OUTCOMES, *health.requests}):
            requests.add_metric([outcome], health.requests[outcome])
        yield requests
        yield CounterMetricFamily(
            f"muse_{self.kind}_server_retries",
            f"Requests to the {self.kind} server retried",
            health.retries,
        )
        if self.kind == "text":
            yield CounterMetricFamily(
                "muse_text_server_resamples",
                "Form rows sampled again as candidates because the first came out flawed",
                health.resamples,
            )  # fmt: skip
        yield GaugeMetricFamily(
            f"muse_{self.kind}_server_failures_in_a_row",
            "Failed requests since the last answered one",
            health.failures_in_a_row,
        )  # fmt: skip
        if health.restarts is not None:
            yield CounterMetricFamily(
                "muse_text_engine_restarts", "Restarts of the llama.cpp engine Muse runs",
                health.restarts(),
            )  # fmt: skip


@dataclass
class Health:
    """Healthy while the worker thread lives, no call has run longer than ``stuck_after_s``,
    and ``text_server`` (the remote text back-end's check, when there is one) finds nothing."""

    worker_alive: Callable[[], bool]
    busy_since: Callable[[], float | None]
    stuck_after_s: float
    text_server: Callable[[], str | None] | None = None
    image_server: Callable[[], str | None] | None = None  # the remote picture engine's check

    def problem(self) -> str | None:
        if not self.worker_alive():
            return "the model worker thread is not running"
        since = self.busy_since()
        if since is not None and time.monotonic() - since > self.stuck_after_s:
            return f"the model worker has been busy for over {self.stuck_after_s:.0f} s"
        for server in (self.text_server, self.image_server):
            found = None if server is None else server()
            if found is not None:
                return found
        return None


def metrics_app(metrics: Metrics, health: Health) -> web.Application:
    async def serve_metrics(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(request: web.Request) -> web.Response:
        problem = health.problem()
        if problem is None:
            return web.Response(text="ok\n")
        return web.Response(status=503, text=f"unhealthy: {problem}\n")

    app = web.Application()
    app.router.add_get("/metrics", serve_metrics)
    app.router.add_get("/healthz", healthz)
    return app


async def start_metrics_server(
    metrics: Metrics, health: Health, host: str, port: int
) -> web.AppRunner:
    """Serve ``/metrics`` and ``/healthz``; the caller cleans the runner up."""
    runner = web.AppRunner(metrics_app(metrics, health), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("metrics on http://%s:%d/metrics, health on /healthz", host, port)
    return runner
