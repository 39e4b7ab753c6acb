"""MUSE_TEXT_QUANT: dynamic int8 on CPU, bitsandbytes on CUDA, clear errors elsewhere."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import pytest

from generators.backend import ModelLoadError
from generators.prompts import poem_prompt
from generators.quant import plan_quantization
from generators.requests import PoemRequest
from generators.samples import SamplingParams, TextPrompt
from tests.conftest import ServiceFactory


def poem(seed: int, max_new_tokens: int = 12) -> TextPrompt:
    return poem_prompt(PoemRequest(topic="moon river"), SamplingParams(seed, max_new_tokens))


@pytest.fixture(scope="module")
def int8_backend(tiny_lm_dir: Path):  # type: ignore[no-untyped-def]
    from generators.text import TransformersTextBackend

    return TransformersTextBackend.load(str(tiny_lm_dir), device="cpu", quant="8bit")


def test_none_changes_nothing() -> None:
    import torch

    plan = plan_quantization("none", torch.device("cpu"))
    assert (plan.label, plan.load_kwargs, plan.int8_linears) == ("", {}, False)
    assert plan.model_id("owner/model") == "owner/model"


def test_8bit_on_cpu_loads_through_from_pretrained_and_generates(int8_backend) -> None:  # type: ignore[no-untyped-def]
    import torch

    from generators.int8 import Int8Linear

    modules = list(int8_backend.model.modules())
    assert not [m for m in modules if isinstance(m, torch.nn.Linear)]
    assert len([m for m in modules if isinstance(m, Int8Linear)]) == 2 * 7 + 1  # + LM head
    assert int8_backend.model_id.endswith("tiny-lm0 [cpu-int8]")
    first = int8_backend.generate([poem(1), poem(2, 6)], threading.Event())
    again = int8_backend.generate([poem(1)], threading.Event())
    assert first[0].text == again[0].text  # seeds still reproduce, alone or in a batch
    assert 0 < first[0].new_tokens <= 12 and 0 < first[1].new_tokens <= 6
    assert int8_backend.warmup() > 0


async def test_the_stored_model_id_records_the_quantization(
    make_service: ServiceFactory, int8_backend: object
) -> None:
    service = await make_service(int8_backend, poem_max_new_tokens=8)
    from bot.service.types import Origin

    pending = service.prepare(PoemRequest(topic="moon", seed=3), Origin(1, 10, 20))
    await service.start(pending)
    delivery = await service.finish(pending)
    assert delivery.model_id.endswith("[cpu-int8]")
    [stored] = await service.storage.job_outputs(delivery.job_id)
    assert stored.model_id.endswith("tiny-lm0 [cpu-int8]")


def test_4bit_on_cpu_is_a_clear_error_before_loading(tmp_path: Path) -> None:
    from generators.text import TransformersTextBackend

    with pytest.raises(ModelLoadError, match=r"4bit needs a CUDA GPU.*on CPU use 8bit"):
        TransformersTextBackend.load(str(tmp_path / "not-read"), device="cpu", quant="4bit")


def test_unknown_mode_and_other_devices_are_clear_errors() -> None:
    import torch

    with pytest.raises(ModelLoadError, match="must be one of none, 8bit, 4bit, got '2bit'"):
        plan_quantization("2bit", torch.device("cpu"))
    with pytest.raises(ModelLoadError, match="works on cuda and cpu, not on mps"):
        plan_quantization("8bit", torch.device("mps"))


def test_cuda_plan_uses_bitsandbytes_or_says_how_to_install_it() -> None:
    """No GPU is needed to build the plan; without bitsandbytes it is a clear error."""
    import torch

    if importlib.util.find_spec("bitsandbytes") is None:
        with pytest.raises(ModelLoadError, match=r"needs bitsandbytes.*pip install bitsandbytes"):
            plan_quantization("4bit", torch.device("cuda"))
        return
    plan = plan_quantization("4bit", torch.device("cuda:1"))
    config = plan.load_kwargs["quantization_config"]
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "nf4"
    assert plan.load_kwargs["device_map"] == {"": 1} and plan.places_model
    assert plan.model_id("owner/model") == "owner/model [bnb-nf4]"


@pytest.mark.parametrize(("mode", "layer"), [("8bit", "Linear8bitLt"), ("4bit", "Linear4bit")])
def test_cuda_bitsandbytes_loads_and_generates(tiny_lm_dir: Path, mode: str, layer: str) -> None:
    """Runs where a GPU and bitsandbytes are present (skipped in CI)."""
    import torch

    from generators.text import TransformersTextBackend

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this host")
    if importlib.util.find_spec("bitsandbytes") is None:
        pytest.skip("bitsandbytes is not installed")
    gpu = TransformersTextBackend.load(str(tiny_lm_dir), device="cuda", quant=mode)
    assert gpu.device.type == "cuda"
    assert any(type(m).__name__ == layer for m in gpu.model.modules())
    rows = [poem(seed, max_new_tokens=8) for seed in (1, 2)]
    first = gpu.generate(rows, threading.Event())
    assert [s.text for s in first] == [s.text for s in gpu.generate(rows, threading.Event())]
    assert all(0 < s.new_tokens <= 8 for s in first)


def test_int8_linear_is_close_to_float_and_each_row_is_independent() -> None:
    import torch

    from generators.int8 import Int8Linear

    torch.manual_seed(0)
    linear = torch.nn.Linear(96, 40)
    layer = Int8Linear(linear)
    x = torch.randn(3, 5, 96)
    x[0, 0] *= 50  # an outlier token must not cost the other rows their precision
    with torch.no_grad():
        want, got = linear(x), layer(x)
        alone = layer(x[2:3, 1:2])
    assert got.shape == want.shape == (3, 5, 40)
    rel = ((got - want).norm(dim=-1) / want.norm(dim=-1)).max()
    assert rel < 0.03
    assert torch.equal(alone[0, 0], got[2, 1])
    assert layer.weight_t.dtype == torch.int8


def test_a_bitsandbytes_that_cannot_load_is_a_clear_error(
    tiny_lm_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """transformers refuses a bitsandbytes it cannot use (missing, too old, or without a backend
    for this GPU) with ImportError or RuntimeError; startup must say so in one clear line.
    Here bitsandbytes is absent, so transformers' own check refuses the CUDA plan's config."""
    from transformers import BitsAndBytesConfig

    import generators.text
    from generators.quant import QuantPlan
    from generators.text import TransformersTextBackend

    if importlib.util.find_spec("bitsandbytes") is not None:
        pytest.skip("bitsandbytes is installed: transformers would accept it")
    plan = QuantPlan(
        "8bit",
        label="bnb-int8",
        load_kwargs={
            "quantization_config": BitsAndBytesConfig(load_in_8bit=True),  # type: ignore[no-untyped-call]
            "device_map": {"": "cpu"},
        },
    )
    monkeypatch.setattr(generators.text, "plan_quantization", lambda mode, device: plan)
    with pytest.raises(ModelLoadError, match=r"MUSE_TEXT_QUANT=8bit through bitsandbytes.*none"):
        TransformersTextBackend.load(str(tiny_lm_dir), device="cpu", quant="8bit")
