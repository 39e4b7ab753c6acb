"""The diffusers backend on a tiny random pipeline saved and loaded through from_pretrained."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from generators.backend import GenerationCancelled, ModelLoadError
from generators.options import ImageSize
from generators.requests import DrawRequest
from generators.samples import DrawRow


@pytest.fixture(scope="module")
def backend(tiny_sd_dir: Path) -> Any:
    from generators.image import DiffusersImageBackend

    return DiffusersImageBackend.load(str(tiny_sd_dir), device="cpu")


def row(seed: int, steps: int = 2, width: int = 64, height: int = 64) -> DrawRow:
    return DrawRow("a red fox in snow, watercolor", "blurry", seed, width, height, steps)


def no_steps(step: int, total: int) -> None:
    pass


def test_loads_native_size_and_shapes(backend: Any) -> None:
    assert backend.native == 64
    assert backend.dimensions(ImageSize.SQUARE) == (64, 64)
    assert backend.dimensions(ImageSize.PORTRAIT) == (64, 96)
    assert backend.dimensions(ImageSize.LANDSCAPE) == (96, 64)
    assert backend.warmup() > 0


def test_generates_a_64px_png_with_provenance(backend: Any) -> None:
    [sample] = backend.generate([row(7)], threading.Event(), no_steps)
    image = Image.open(io.BytesIO(sample.png))
    assert image.format == "PNG" and image.size == (64, 64)
    meta = image.text  # type: ignore[attr-defined]
    assert meta["prompt"] == "a red fox in snow, watercolor"
    assert meta["negative_prompt"] == "blurry"
    assert (meta["seed"], meta["steps"], meta["size"]) == ("7", "2", "64x64")
    assert meta["model"] == backend.model_id and meta["muse_version"]
    assert "Seed: 7" in meta["parameters"]


def test_same_seed_same_png_and_rows_match_singles(backend: Any) -> None:
    rows = [row(1), row(2), row(3)]
    batch = backend.generate(rows, threading.Event(), no_steps)
    again = backend.generate(rows, threading.Event(), no_steps)
    assert [s.png for s in batch] == [s.png for s in again]
    alone = backend.generate([rows[1]], threading.Event(), no_steps)[0]
    a = np.asarray(Image.open(io.BytesIO(alone.png)), dtype=np.int16)
    b = np.asarray(Image.open(io.BytesIO(batch[1].png)), dtype=np.int16)
    assert np.abs(a - b).max() <= 2
    assert batch[0].png != batch[1].png


def test_reports_every_step(backend: Any) -> None:
    events: list[tuple[int, int]] = []
    backend.generate([row(1, steps=4)], threading.Event(), lambda s, t: events.append((s, t)))
    assert events == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_cancel_stops_at_the_next_step(backend: Any) -> None:
    cancel = threading.Event()
    events: list[int] = []

    def on_step(step: int, total: int) -> None:
        events.append(step)
        if step == 2:
            cancel.set()

    with pytest.raises(GenerationCancelled):
        backend.generate([row(1, steps=20)], cancel, on_step)
    assert events == [1, 2]


def test_style_presets_shape_the_rows() -> None:
    from bot.service.work import draw_rows

    request = DrawRequest(prompt="a fox", negative="text", style="ink wash 水墨", count=3, seed=5)
    rows = draw_rows(request, 64, 96)
    assert [r.seed for r in rows] == [5, 6, 7]
    assert rows[0].prompt.startswith("a fox, traditional Chinese ink wash")
    assert rows[0].negative.startswith("text, photo")
    assert (rows[0].width, rows[0].height, rows[0].steps) == (64, 96, 20)


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    from generators.image import DiffusersImageBackend

    with pytest.raises(ModelLoadError, match="cannot load image model"):
        DiffusersImageBackend.load(str(tmp_path / "absent"), device="cpu")
