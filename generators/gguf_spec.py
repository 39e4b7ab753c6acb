"""What ``MUSE_TEXT_MODEL`` names: a transformers model, or one GGUF file served by llama.cpp.

Three spellings name a GGUF file (checked by ``parse_gguf``):

- a path to the file, ending in ``.gguf`` (``./models/poet.Q4_K_M.gguf``, ``~/m.gguf``);
- a hub repository and a file in it, joined by a colon:
  ``Qwen/Qwen2.5-0.5B-Instruct-GGUF:qwen2.5-0.5b-instruct-q4_k_m.gguf``;
- the same with a file inside a folder of the repository: ``owner/repo:Q4_K_M/model.gguf``.

Anything else is a transformers model: a local folder or a hub id like ``owner/name``. Plain
data and string checks only: downloading a hub file happens when the model loads
(``resolve_gguf``), never while settings are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# The default text model per kind of host (README, "Which model each host gets").
GPU_TEXT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
CPU_TEXT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct-GGUF:qwen2.5-0.5b-instruct-q4_k_m.gguf"

_HUB_REPO = re.compile(r"^[\w.-]+/[\w.-]+$")
SYNTAX = "a .gguf file path, or a hub repo and file like owner/repo:file.gguf"


@dataclass(frozen=True)
class GgufSpec:
    """One GGUF file: on disk (``path``), or in a hub repository (``repo`` and ``filename``)."""

    path: Path | None = None
    repo: str = ""
    filename: str = ""

    def __str__(self) -> str:
        return str(self.path) if self.path is not None else f"{self.repo}:{self.filename}"

    @property
    def name(self) -> str:
        """The file's name without ``.gguf``: the model id Muse reports and stores."""
        base = self.path.name if self.path is not None else Path(self.filename).name
        return base[: -len(".gguf")] if base.lower().endswith(".gguf") else base


def looks_like_gguf(value: str) -> bool:
    """True when ``value`` is meant as a GGUF file (it may still be malformed: see ``problem``)."""
    return value.lower().endswith(".gguf") or (":" in value and "://" not in value)


def parse_gguf(value: str) -> GgufSpec | None:
    """The GGUF file ``value`` names, or None when it names a transformers model.
    Raises ``ValueError`` with the rule and the value when it is meant as GGUF but malformed."""
    if not looks_like_gguf(value):
        return None
    path = Path(value).expanduser()
    if value.startswith((".", "/", "~")) or path.exists():
        if not path.is_file():
            raise ValueError(f"{value!r} is not a file")
        return GgufSpec(path=path)
    repo, sep, filename = value.partition(":")
    if not sep:  # "model.gguf" that is not there
        raise ValueError(f"{value!r} is not a file ({SYNTAX})")
    if not _HUB_REPO.match(repo):
        raise ValueError(f"{value!r}: {repo!r} is not a hub repo like owner/repo ({SYNTAX})")
    if not filename.lower().endswith(".gguf") or filename.startswith("/") or ".." in filename:
        raise ValueError(f"{value!r}: the file after ':' must be a .gguf file in the repo")
    return GgufSpec(repo=repo, filename=filename)


def resolve_gguf(spec: GgufSpec) -> Path:
    """The file on disk: the path itself, or the hub file from the local Hugging Face cache,
    downloaded once when missing (``HF_HUB_OFFLINE=1`` forbids that). ``OSError`` when it
    cannot be had, with the reason."""
    if spec.path is not None:
        if not spec.path.is_file():
            raise OSError(f"{spec.path} is not a file")
        return spec.path
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id=spec.repo, filename=spec.filename))
    except Exception as err:  # the hub's errors have no common base besides Exception
        raise OSError(
            f"{spec} is not in the local Hugging Face cache and could not be downloaded "
            f"({type(err).__name__}: {err})"
        ) from err
