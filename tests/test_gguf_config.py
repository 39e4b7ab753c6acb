"""MUSE_TEXT_MODEL names a GGUF file (a path, or owner/repo:file.gguf), checked with the other
settings; ``auto`` picks the GGUF on CPU-only hosts and transformers on GPU hosts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.errors import ConfigError
from bot.ops.gguf import local_gguf, text_model_for
from generators.gguf_spec import CPU_TEXT_MODEL, GPU_TEXT_MODEL, GgufSpec, parse_gguf


def test_a_path_to_a_gguf_file(tmp_path: Path) -> None:
    gguf = tmp_path / "poet.Q4_K_M.gguf"
    gguf.write_bytes(b"GGUF")
    settings = load_settings({"MUSE_TEXT_MODEL": str(gguf)})
    assert local_gguf(settings) == GgufSpec(path=gguf)
    assert GgufSpec(path=gguf).name == "poet.Q4_K_M"


def test_a_hub_repo_and_file() -> None:
    value = "Qwen/Qwen2.5-0.5B-Instruct-GGUF:qwen2.5-0.5b-instruct-q4_k_m.gguf"
    spec = parse_gguf(value)
    assert spec == GgufSpec(repo="Qwen/Qwen2.5-0.5B-Instruct-GGUF", filename=value.split(":")[1])
    assert str(spec) == value and spec is not None and spec.name == "qwen2.5-0.5b-instruct-q4_k_m"
    assert parse_gguf("owner/repo:Q4_K_M/model.gguf") == GgufSpec(
        repo="owner/repo", filename="Q4_K_M/model.gguf"
    )
    assert load_settings({"MUSE_TEXT_MODEL": value}).text_model == value


def test_transformers_models_are_not_gguf(tmp_path: Path) -> None:
    assert parse_gguf("Qwen/Qwen2.5-0.5B-Instruct") is None
    assert parse_gguf(str(tmp_path)) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("./missing.gguf", "'./missing.gguf' is not a file"),
        ("poet.gguf", "'poet.gguf' is not a file"),
        ("just-a-name:poet.gguf", "'just-a-name' is not a hub repo like owner/repo"),
        ("owner/repo:weights.bin", "the file after ':' must be a .gguf file"),
        ("owner/repo:../up.gguf", "the file after ':' must be a .gguf file"),
    ],
)
def test_malformed_gguf_names_are_reported_with_the_syntax(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"MUSE_TEXT_MODEL": value})
    assert message in str(caught.value)
    assert "owner/repo:file.gguf" in str(caught.value)


def test_a_missing_folder_names_both_kinds() -> None:
    with pytest.raises(ConfigError, match="not a folder holding a model, nor a GGUF file"):
        load_settings({"MUSE_TEXT_MODEL": "./nowhere"})


def test_a_gguf_file_takes_no_transformers_quantization(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(ConfigError, match="MUSE_TEXT_QUANT=8bit applies to transformers"):
        load_settings({"MUSE_TEXT_MODEL": str(gguf), "MUSE_TEXT_QUANT": "8bit"})


def test_engine_settings(tmp_path: Path) -> None:
    binary = tmp_path / "llama-server"
    binary.write_bytes(b"")
    settings = load_settings({"MUSE_GGUF_THREADS": "4", "MUSE_LLAMA_SERVER": str(binary)})
    assert (settings.gguf_threads, settings.llama_server) == (4, binary)
    with pytest.raises(ConfigError) as caught:
        load_settings({"MUSE_GGUF_THREADS": "0", "MUSE_LLAMA_SERVER": str(tmp_path / "nope")})
    assert "MUSE_GGUF_THREADS must be at least 1" in str(caught.value)
    assert "is not a file (a llama-server binary)" in str(caught.value)


def test_auto_is_the_gguf_on_cpu_and_transformers_on_a_gpu() -> None:
    auto = load_settings({})
    assert auto.text_model == "auto"
    assert text_model_for(dataclasses.replace(auto, device="cpu")) == CPU_TEXT_MODEL
    assert text_model_for(dataclasses.replace(auto, device="cuda:0")) == GPU_TEXT_MODEL
    assert local_gguf(dataclasses.replace(auto, device="cpu")) == parse_gguf(CPU_TEXT_MODEL)
    remote = dataclasses.replace(auto, device="cpu", text_backend="openai")
    assert local_gguf(remote) is None  # the server runs the model


def test_an_explicit_model_is_kept_on_any_host() -> None:
    settings = Settings(text_model="owner/model", device="cpu")
    assert text_model_for(settings) == "owner/model" and local_gguf(settings) is None


def test_a_llama_server_built_for_this_host_is_used_unless_the_wheel_is_asked_for(
    tmp_path: Path,
) -> None:
    """`make llama-server` caches a host build under MUSE_CACHE; Muse then serves GGUF models
    with it by default. ``wheel`` keeps the xllamacpp wheel's engine; with no build, the wheel."""
    from bot.config_read import LLAMA_SERVER_VERSION

    cache = tmp_path / "cache"
    assert load_settings({"MUSE_CACHE": str(cache)}).llama_server is None
    built = cache / f"llama-server-{LLAMA_SERVER_VERSION}" / "llama-server"
    built.parent.mkdir(parents=True)
    built.write_bytes(b"")
    assert load_settings({"MUSE_CACHE": str(cache)}).llama_server == built
    wheel = {"MUSE_CACHE": str(cache), "MUSE_LLAMA_SERVER": "wheel"}
    assert load_settings(wheel).llama_server is None


def test_the_build_script_and_the_settings_agree_on_the_version() -> None:
    from bot.config_read import LLAMA_SERVER_VERSION

    script = Path(__file__).resolve().parents[1] / ".ci" / "llama-server"
    assert f"VERSION={LLAMA_SERVER_VERSION}" in script.read_text()
