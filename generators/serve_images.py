"""Muse's picture engine for operators: a Ray Serve application serving a diffusers pipeline
through an OpenAI-compatible images API (``generators.serve_images_api``).

    python -m generators.serve_images --model DIR --replicas N --gpus-per-replica G

starts Ray on this host (or joins a cluster with ``--address auto``), deploys the application
and serves HTTP until SIGTERM or Ctrl-C, then shuts Serve and Ray down. Every replica loads the
pipeline once; Ray places replicas on whichever hosts have the GPUs (``--gpus-per-replica``),
and ``--autoscale MIN:MAX`` lets Serve add and remove replicas with the number of requests
waiting. Muse talks to it with ``MUSE_IMAGE_BACKEND=remote`` (``generators.remote_image``).
Ray is imported only inside functions: importing this module starts nothing.
"""

# No "from __future__ import annotations": FastAPI reads the route signatures' types, which
# are imported inside build_app.
import argparse
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any

from generators.serve_images_api import BadImageRequest, EngineOptions, ImageEngine

log = logging.getLogger(__name__)
APP_NAME = "muse-images"


@dataclass(frozen=True)
class ScaleOptions:
    """How many replicas, with what each needs from Ray."""

    replicas: int = 1
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0
    autoscale: tuple[int, int] | None = None  # (min, max) replicas; None: fixed ``replicas``
    max_ongoing_requests: int = 8  # per replica; the rest wait in Serve's queue

    def deployment(self) -> dict[str, Any]:
        """``serve.deployment`` keyword arguments."""
        actor = {"num_cpus": self.cpus_per_replica, "num_gpus": self.gpus_per_replica}
        options: dict[str, Any] = {
            "ray_actor_options": actor, "max_ongoing_requests": self.max_ongoing_requests,
        }  # fmt: skip
        if self.autoscale is None:
            return options | {"num_replicas": self.replicas}
        low, high = self.autoscale
        scaling = {"min_replicas": low, "max_replicas": high, "target_ongoing_requests": 1}
        return options | {"autoscaling_config": scaling}


async def answer(engine: ImageEngine, request: Any, *, edit: bool) -> Any:
    """An images request's answer: JSON, server-sent events with ``stream``, or a 400."""
    from fastapi.responses import JSONResponse, StreamingResponse

    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise BadImageRequest("the body must be a JSON object")
        rows, guidance = engine.rows_of(body, edit=edit)
    except (BadImageRequest, json.JSONDecodeError) as err:
        error = {"message": str(err), "type": "invalid_request_error"}
        return JSONResponse({"error": error}, status_code=400)
    if body.get("stream"):
        events = engine.stream(rows, guidance)
        return StreamingResponse(events, media_type="text/event-stream")
    return await engine.draw(rows, guidance, lambda step, steps: None)


def build_app(engine: EngineOptions, scale: ScaleOptions) -> Any:
    """The bound Ray Serve application (FastAPI ingress)."""
    from fastapi import FastAPI, Request
    from ray import serve

    api = FastAPI(title="Muse images")

    @serve.deployment(**scale.deployment())
    @serve.ingress(api)
    class MuseImages:
        def __init__(self, options: EngineOptions) -> None:
            self.engine = ImageEngine(options)

        @api.get("/health")
        def health(self) -> dict[str, str]:
            return {"status": "ok"}

        @api.get("/v1/models")
        def models(self) -> dict[str, Any]:
            return self.engine.models()

        @api.post("/v1/images/generations")
        async def generations(self, request: Request) -> Any:
            return await answer(self.engine, request, edit=False)

        @api.post("/v1/images/edits")
        async def edits(self, request: Request) -> Any:
            return await answer(self.engine, request, edit=True)

    return MuseImages.bind(engine)  # type: ignore[attr-defined]


def _autoscale(text: str) -> tuple[int, int]:
    low, _, high = text.partition(":")
    try:
        bounds = int(low), int(high)
    except ValueError as err:
        raise argparse.ArgumentTypeError("--autoscale takes MIN:MAX, e.g. 1:4") from err
    if not 0 <= bounds[0] <= bounds[1] or bounds[1] < 1:
        raise argparse.ArgumentTypeError("--autoscale needs 0 <= MIN <= MAX and MAX >= 1")
    return bounds


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m generators.serve_images", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add = cli.add_argument
    add("--model", required=True, help="pipeline folder (save_pretrained) or hub id")
    add("--model-id", default="", help="the model name to report (default: --model)")
    add("--host", default="127.0.0.1", help="HTTP address (0.0.0.0 for other hosts)")
    add("--port", type=int, default=8000)
    add("--replicas", type=int, default=1, help="fixed replica count (without --autoscale)")
    add("--gpus-per-replica", type=float, default=0.0, help="Ray num_gpus of each replica")
    add("--cpus-per-replica", type=float, default=1.0, help="Ray num_cpus of each replica")
    add("--autoscale", type=_autoscale, default=None, metavar="MIN:MAX")
    add("--max-ongoing-requests", type=int, default=8, help="per replica; the rest queue")
    add("--device", default="auto", help="auto, cpu, cuda, ...")
    add("--guidance", type=float, default=7.0, help="default classifier-free guidance")
    add("--threads", type=int, default=1, help="torch threads per replica (CPU)")
    add("--address", default="", help="an existing Ray cluster (auto, ray://...); default: local")
    add("--num-cpus", type=int, default=None, help="CPUs of a local Ray (default: all)")
    add("--object-store-mb", type=int, default=500, help="object store of a local Ray")
    return cli


def start_ray(args: argparse.Namespace) -> None:
    import ray

    if args.address:
        ray.init(address=args.address, include_dashboard=False, log_to_driver=False)
        return
    # Ray runs its workers at niceness 15; the replicas are this host's whole purpose, and
    # niced ones starve behind any other busy process (measured: 2 replicas no faster than 1)
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(
        num_cpus=args.num_cpus, object_store_memory=args.object_store_mb * 1024 * 1024,
        include_dashboard=False, log_to_driver=False,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; Serve and Ray are shut down on the way out."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    engine = EngineOptions(args.model, args.model_id, args.device, args.guidance, args.threads)
    scale = ScaleOptions(args.replicas, args.gpus_per_replica, args.cpus_per_replica,
                         args.autoscale, args.max_ongoing_requests)  # fmt: skip
    from ray import serve

    stop = threading.Event()
    start_ray(args)
    for signum in (signal.SIGTERM, signal.SIGINT):  # after ray.init, which sets its own
        signal.signal(signum, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": args.host, "port": args.port})
        serve.run(build_app(engine, scale), name=APP_NAME, route_prefix="/", blocking=False)
        log.info("serving %s on http://%s:%d/v1", engine.model, args.host, args.port)
        print(f"ready http://{args.host}:{args.port}/v1", flush=True)
        stop.wait()
    finally:
        _shutdown()
    return 0


def _shutdown() -> None:
    import ray
    from ray import serve

    try:
        serve.shutdown()  # type: ignore[no-untyped-call]
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
