"""Write a tiny Llama saved by ``tests.tiny_models`` as a GGUF file that llama.cpp can serve.

A small writer of our own over ``gguf.GGUFWriter`` (llama.cpp's converter does not recognise a
tokenizer trained here). It covers exactly what ``make_tiny_lm`` produces: a Llama with tied
embeddings and a byte-level BPE tokenizer with a Jinja chat template.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Hugging Face tensor name (after ``model.``) -> GGUF tensor name, per block or global.
_BLOCK_NAMES = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_GLOBAL_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


def unrotate(weight: Any, heads: int) -> Any:
    """Q/K rows from Hugging Face's half-split RoPE layout to llama.cpp's interleaved one."""
    rows = weight.shape[0]
    return (
        weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def gguf_name(hf_name: str) -> str:
    """The GGUF name of a Hugging Face Llama tensor; ``KeyError`` for one we do not know."""
    if hf_name in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[hf_name]
    parts = hf_name.split(".")
    if parts[:2] != ["model", "layers"]:
        raise KeyError(hf_name)
    block, part, kind = parts[2], ".".join(parts[3:-1]), parts[-1]
    return f"blk.{block}.{_BLOCK_NAMES[part]}.{kind}"


def _write_tokenizer(writer: Any, folder: Path) -> None:
    import gguf

    spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    vocab: dict[str, int] = dict(spec["model"]["vocab"])
    specials = {t["content"]: t["id"] for t in spec["added_tokens"]}
    vocab.update(specials)
    tokens = [""] * len(vocab)
    for text, index in vocab.items():
        tokens[index] = text
    kinds = [gguf.TokenType.CONTROL if t in specials else gguf.TokenType.NORMAL for t in tokens]
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(kinds)
    writer.add_token_merges(merges)
    for role, setter in (
        ("bos_token", writer.add_bos_token_id),
        ("eos_token", writer.add_eos_token_id),
        ("pad_token", writer.add_pad_token_id),
        ("unk_token", writer.add_unk_token_id),
    ):
        if config.get(role) in vocab:
            setter(vocab[config[role]])
    writer.add_add_bos_token(False)
    template = config.get("chat_template") or _template_file(folder)
    if template:
        writer.add_chat_template(template)


def _template_file(folder: Path) -> str | None:
    path = folder / "chat_template.jinja"
    return path.read_text(encoding="utf-8") if path.exists() else None


def _write_hparams(writer: Any, config: dict[str, Any], name: str) -> None:
    heads = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    writer.add_name(name)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(hidden)
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(heads)
    writer.add_head_count_kv(int(config.get("num_key_value_heads") or heads))
    writer.add_rope_dimension_count(hidden // heads)
    writer.add_rope_freq_base(float(config.get("rope_theta") or 10000.0))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_vocab_size(int(config["vocab_size"]))
    writer.add_file_type(0)  # all F32


def hf_to_gguf(folder: Path, out: Path) -> Path:
    """Convert the model saved in ``folder`` to one F32 GGUF file at ``out``."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != "llama":
        raise ValueError(f"only Llama models convert here, got {config.get('model_type')!r}")
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    tensors = load_file(str(folder / "model.safetensors"))
    writer = gguf.GGUFWriter(str(out), "llama")
    _write_hparams(writer, config, folder.name)
    _write_tokenizer(writer, folder)
    for hf_name, array in sorted(tensors.items()):
        data = array.astype(np.float32)
        if hf_name.endswith("q_proj.weight"):
            data = unrotate(data, heads)
        elif hf_name.endswith("k_proj.weight"):
            data = unrotate(data, kv_heads)
        writer.add_tensor(gguf_name(hf_name), np.ascontiguousarray(data))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
