"""tests/test_discord_draw.py again, with every picture drawn by Muse's real picture engine
(Ray Serve on the CPU, the tiny pipeline) through ``RemoteImageBackend``, not the local one."""

from __future__ import annotations

from typing import Any

import pytest

from generators.remote_image import ImageServerConfig, RemoteImageBackend
from tests.test_discord_draw import *  # noqa: F403  (the same tests, collected here too)


@pytest.fixture(scope="module")  # type: ignore[no-redef]
def pipeline(image_engine_url: str) -> Any:
    return RemoteImageBackend.connect(ImageServerConfig(image_engine_url))
