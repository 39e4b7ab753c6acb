"""What the back-ends take and give: one row per sample in (``TextPrompt`` with its
``SamplingParams``, ``DrawRow``), and samples and results out, with timings in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from generators.forms.spec import FormSpec
from generators.options import InvalidRequest


@dataclass(frozen=True)
class DrawRow:
    """One image for the pipeline; rows of a batch share size and steps."""

    prompt: str
    negative: str
    seed: int
    width: int
    height: int
    steps: int
    created_s: float = 0.0  # when the job was made (Unix seconds), for the PNG's provenance
    init_png: bytes | None = None  # image-to-image: the member's checked picture, at this size
    strength: float = 1.0  # image-to-image: how far the picture may change (0-1]
    init_sha256: str = ""  # image-to-image: SHA-256 of the member's upload or parent image
    mode: str = ""  # "" (text- or image-to-image), "upscale" or "inpaint" (generators.edits)
    mask_png: bytes | None = None  # inpaint: white where the picture is redrawn
    operation: str = ""  # lineage: what made this from its parent ("vary (strong)", ...)
    parent: str = ""  # lineage: the parent's reference ("muse:output:<id>"), or ""


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True)
class SamplingParams:
    """Per-row sampling settings; ``seed`` makes the row reproducible."""

    seed: int
    max_new_tokens: int = 160
    temperature: float = 0.9
    top_p: float = 0.95
    top_k: int = 50

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise InvalidRequest(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature <= 0:
            raise InvalidRequest(f"temperature must be above 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise InvalidRequest(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 1:
            raise InvalidRequest(f"top_k must be at least 1, got {self.top_k}")


@dataclass(frozen=True)
class TextPrompt:
    """One row for the model: chat messages (used with a chat template) and a plain fallback;
    ``form``, when set, is kept by construction (``generators.constrain``)."""

    messages: tuple[ChatMessage, ...]
    plain: str
    sampling: SamplingParams
    form: FormSpec | None = None


@dataclass(frozen=True)
class TextSample:
    """One generated row."""

    text: str
    seed: int
    prompt_tokens: int
    new_tokens: int
    finish_reason: str  # "stop" (end of text), "length" or "cancelled"


@dataclass(frozen=True)
class TextResult:
    """What one generate call returned for one job, with timings in seconds."""

    samples: tuple[TextSample, ...]
    model_id: str
    generate_s: float
    batch_rows: int = 1
    extra: dict[str, str] = field(default_factory=dict)
    model_ids: tuple[str, ...] = ()  # per sample, when two models wrote them (an A/B match)


@dataclass(frozen=True)
class ImageSample:
    """One generated image, already encoded as PNG with its provenance in text chunks."""

    png: bytes
    seed: int
    width: int
    height: int


@dataclass(frozen=True)
class ImageResult:
    """What one pipeline call returned for one job, with timings in seconds."""

    samples: tuple[ImageSample, ...]
    model_id: str
    generate_s: float
    batch_rows: int = 1
