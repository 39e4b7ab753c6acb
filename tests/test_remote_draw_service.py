"""tests/test_draw_service.py again, with every picture drawn by Muse's real picture engine
(Ray Serve on the CPU, the tiny pipeline) through ``RemoteImageBackend``, not the local one."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from generators.remote_image import ImageServerConfig, RemoteImageBackend
from tests.test_draw_service import *  # noqa: F403  (the same tests, collected here too)
from tests.test_draw_service import (
    test_cancel_while_queued_and_while_running as original_cancel,
)


@pytest.fixture(scope="module")  # type: ignore[no-redef]
def pipeline(image_engine_url: str) -> Any:
    return RemoteImageBackend.connect(ImageServerConfig(image_engine_url))


async def test_cancel_while_queued_and_while_running(  # type: ignore[no-redef]
    make_service: Any, pipeline: Any, image_filter: Any
) -> None:
    """The original with one picture batch at a time (``MUSE_REMOTE_CONCURRENCY=1``): with the
    default, the second job would not wait in the queue but run on the engine at once."""
    limited = functools.partial(make_service, remote_concurrency=1)
    await original_cancel(limited, pipeline, image_filter)
