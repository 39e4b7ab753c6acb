"""A thread that owns a model and runs calls on it, off the event loop.

Shaped like aiosqlite's connection thread: calls go in through a ``SimpleQueue`` and results come
back to the caller's loop with ``call_soon_threadsafe``. One thread means one owner for the
device, so CUDA state and model caches are never touched concurrently.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

_STOP = object()


class WorkerClosed(RuntimeError):
    """The worker was stopped; no more calls are accepted."""


class ModelWorker:
    """Runs callables one at a time on a dedicated daemon thread."""

    def __init__(self, name: str = "muse-model") -> None:
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._closed = False
        self.busy_since: float | None = None  # monotonic start of the call running now

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running" if self._thread.is_alive() else "new"
        return f"<ModelWorker {self._thread.name} {state}>"

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the worker thread and await its result or exception."""
        if self._closed:
            raise WorkerClosed("the model worker is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._calls.put((future, fn, args))
        return await future

    async def close(self, timeout_s: float = 30.0) -> None:
        """Finish queued calls, stop the thread and wait for it up to ``timeout_s``."""
        if self._closed:
            return
        self._closed = True
        self._calls.put(_STOP)
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join, timeout_s)

    def _run(self) -> None:
        while True:
            item = self._calls.get()
            if item is _STOP:
                return
            future, fn, args = item
            self.busy_since = time.monotonic()
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn(*args)
            except BaseException as err:  # delivered to the awaiting coroutine
                error = err
            # not busy before the caller hears back, so a health check right after sees it idle
            self.busy_since = None
            _deliver(future, result, error)


def _deliver(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    def settle() -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    try:
        future.get_loop().call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is gone; nobody is waiting any more
        log.debug("dropped a worker result: event loop closed")
