"""Memory savers for large pictures, on CPU for the call path: tiled VAE decoding (and
attention slicing when asked) during an upscale above the threshold, off again afterwards, and
a retry with every saver when the device runs out of memory."""

from __future__ import annotations

import dataclasses
import io
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from generators.backend import GenerationCancelled
from generators.edits import plan
from generators.memory import MemoryPlan
from generators.samples import DrawRow


@pytest.fixture
def backend(tiny_sd_dir: Path) -> Any:
    from generators.image import DiffusersImageBackend

    return DiffusersImageBackend.load(str(tiny_sd_dir), device="cpu")


def upscale_row(backend: Any) -> DrawRow:
    """A ×2 upscale of a 64 px picture the backend drew (128 px, hires fix)."""
    [parent] = backend.generate([DrawRow("a fox", "", 1, 64, 64, 2)], threading.Event(),
                                lambda s, t: None)  # fmt: skip
    how = plan("upscale", parent.png, 1, backend.multiple)
    return DrawRow("a fox", "", 2, how.width, how.height, 4, init_png=how.picture,
                   strength=how.strength, mode="upscale")  # fmt: skip


def savers_seen(backend: Any, row: DrawRow) -> tuple[set[bool], set[str], bytes]:
    """Whether the VAE tiled and which attention processors ran, at each step."""
    tiled: set[bool] = set()
    processors: set[str] = set()

    def watch(step: int, total: int) -> None:
        tiled.add(bool(backend.pipe.vae.use_tiling))
        processors.update(type(p).__name__ for p in backend.pipe.unet.attn_processors.values())

    [sample] = backend.generate([row], threading.Event(), watch)
    return tiled, processors, sample.png


def test_large_pictures_decode_in_tiles_and_small_ones_do_not(backend: Any) -> None:
    row = upscale_row(backend)
    assert (row.width, row.height) == (128, 128)
    backend.memory = MemoryPlan(tile_above_px=64)
    tiled, processors, tiled_png = savers_seen(backend, row)
    assert tiled == {True} and "SlicedAttnProcessor" not in processors
    assert not backend.pipe.vae.use_tiling  # off again for the next call
    backend.memory = MemoryPlan(tile_above_px=64, slice_attention=True)
    _, processors, _ = savers_seen(backend, row)
    assert "SlicedAttnProcessor" in processors
    assert "SlicedAttnProcessor" not in {
        type(p).__name__ for p in backend.pipe.unet.attn_processors.values()
    }
    backend.memory = MemoryPlan(tile_above_px=1024)
    tiled, _, plain_png = savers_seen(backend, row)
    assert tiled == {False}
    assert plain_png != tiled_png  # tiles are blended: close, not equal


def test_out_of_memory_retries_with_every_saver(backend: Any, monkeypatch: Any) -> None:
    row = upscale_row(backend)
    backend.memory = MemoryPlan(tile_above_px=1024)
    vae = backend.pipe.vae
    real_decode = vae.decode

    def small_device(z: Any, *args: Any, **kwargs: Any) -> Any:
        if not vae.use_tiling:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_decode(z, *args, **kwargs)

    monkeypatch.setattr(vae, "decode", small_device)
    [sample] = backend.generate([row], threading.Event(), lambda s, t: None)
    monkeypatch.undo()
    backend.memory = dataclasses.replace(backend.memory, tile_above_px=0, slice_attention=True)
    [expected] = backend.generate([row], threading.Event(), lambda s, t: None)
    assert sample.png == expected.png  # the retry starts from the same seeds


def test_an_operator_upscaler_replaces_the_hires_fix(tiny_sd_dir: Path, tmp_path: Path) -> None:
    from generators.image import DiffusersImageBackend
    from tests.tiny_families import make_tiny_x4_upscaler

    upscaler = make_tiny_x4_upscaler(tmp_path / "x4")
    backend = DiffusersImageBackend.load(str(tiny_sd_dir), device="cpu", upscaler=str(upscaler))
    row = dataclasses.replace(upscale_row(backend), operation="upscale ×2", parent="muse:output:1")
    steps: list[tuple[int, int]] = []
    [sample] = backend.generate([row], threading.Event(), lambda s, t: steps.append((s, t)))
    with Image.open(io.BytesIO(sample.png)) as image:
        assert image.size == (128, 128)  # ×4 made, resized to ×2
        text = dict(image.text)  # type: ignore[attr-defined]
    assert text["upscaler"] == str(upscaler) and text["operation"] == "upscale ×2"
    assert steps[-1] == (row.steps, row.steps)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GenerationCancelled):
        backend.generate([row], cancel, lambda s, t: None)
