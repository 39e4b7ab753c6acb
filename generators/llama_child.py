"""The llama.cpp engine process: llama.cpp's own server (continuous batching over parallel
slots, per-request seeds, GBNF grammars, OpenAI-compatible streaming) from the ``xllamacpp``
wheel, listening on loopback until it is told to stop.

Muse starts it (``generators.llamacpp.LlamaEngine``) as ``python -m generators.llama_child``, so
a crash in native code takes this process down and not the bot, which restarts it.
"""

from __future__ import annotations

import argparse
import signal
import threading


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="the GGUF file")
    parser.add_argument("--alias", required=True, help="the model name answers report")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--slots", type=int, default=8, help="rows decoded together at most")
    parser.add_argument("--ctx-size", type=int, default=8192, help="tokens, all slots together")
    parser.add_argument("--batch-size", type=int, default=2048, help="prompt tokens read a step")
    return parser.parse_args(argv)


def serve(args: argparse.Namespace) -> None:
    """Run the server until SIGTERM or SIGINT."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.n_parallel = args.slots
    params.n_ctx = args.ctx_size
    params.n_batch = params.n_ubatch = args.batch_size
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.use_jinja = True
    params.endpoint_metrics = True
    params.load_mode = xllamacpp.llama_load_mode.LLAMA_LOAD_MODE_NONE  # as engine_command
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    server = xllamacpp.Server(params)
    print(f"muse llama engine listening on {server.listening_address}", flush=True)
    while not stop.wait(1.0):
        pass
    del server  # stops the server's threads before the interpreter exits


if __name__ == "__main__":
    serve(parse_args())
