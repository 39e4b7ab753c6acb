"""Plain request and result types for the generators: frozen dataclasses in, frozen dataclasses out.

Requests are validated by ``check_inputs`` methods that raise ``InvalidRequest`` with the rule and
the offending value. Nothing is ever fixed silently.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

TOPIC_MAX_CHARS = 200
STYLE_MAX_CHARS = 100
PRODUCT_MAX_CHARS = 200
AUDIENCE_MAX_CHARS = 100
SLOGAN_MAX_COUNT = 5
POEM_MAX_COUNT = 3
SEED_MAX = 2**32 - 1


class InvalidRequest(ValueError):
    """A request broke a rule; the message names the rule and the value and is safe to show."""


class TextKind(StrEnum):
    POEM = "poem"
    SLOGAN = "slogan"


class ImageKind(StrEnum):
    DRAW = "draw"


class PoemForm(StrEnum):
    FREE_VERSE = "free verse"
    HAIKU = "haiku"
    SONNET = "sonnet"
    LIMERICK = "limerick"
    QUATRAIN = "quatrain"
    WUYAN_JUEJU = "五言绝句"
    QIYAN_JUEJU = "七言绝句"

    @property
    def is_chinese(self) -> bool:
        return self in (PoemForm.WUYAN_JUEJU, PoemForm.QIYAN_JUEJU)


class Mood(StrEnum):
    JOYFUL = "joyful"
    CALM = "calm"
    ROMANTIC = "romantic"
    NOSTALGIC = "nostalgic"
    MELANCHOLIC = "melancholic"
    HOPEFUL = "hopeful"
    PLAYFUL = "playful"
    SOLEMN = "solemn"


class Language(StrEnum):
    AUTO = "auto"
    ENGLISH = "en"
    CHINESE = "zh"


class Tone(StrEnum):
    FRIENDLY = "friendly"
    BOLD = "bold"
    PLAYFUL = "playful"
    ELEGANT = "elegant"
    PROFESSIONAL = "professional"
    WITTY = "witty"
    INSPIRING = "inspiring"


def cjk_share(text: str) -> float:
    """Share of letters in ``text`` that are CJK ideographs (0.0 for no letters)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    cjk = sum(1 for ch in letters if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff")
    return cjk / len(letters)


def detect_language(text: str) -> Language:
    """English or Chinese, whichever the text is mostly written in."""
    return Language.CHINESE if cjk_share(text) >= 0.3 else Language.ENGLISH


def _check_text(name: str, value: str, max_chars: int, *, required: bool) -> None:
    if required and not value.strip():
        raise InvalidRequest(f"{name} must not be empty")
    if len(value) > max_chars:
        raise InvalidRequest(f"{name} must be at most {max_chars} characters, got {len(value)}")
    bad = [ch for ch in value if unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n"]
    if bad:
        raise InvalidRequest(f"{name} contains control characters ({bad[0]!r}); remove them")


def _check_count(count: int, most: int, compare: bool) -> None:
    if not 1 <= count <= most:
        raise InvalidRequest(f"count must be between 1 and {most}, got {count}")
    if compare and count > 1:
        raise InvalidRequest("choose either count or compare, not both")


def _check_seed(seed: int | None) -> None:
    if seed is not None and not 0 <= seed <= SEED_MAX:
        raise InvalidRequest(f"seed must be between 0 and {SEED_MAX}, got {seed}")


@dataclass(frozen=True)
class PoemRequest:
    """What a member asked for with /poem."""

    topic: str
    form: PoemForm = PoemForm.FREE_VERSE
    style: str = ""
    mood: Mood | None = None
    language: Language = Language.AUTO
    seed: int | None = None
    count: int = 1
    compare: bool = False  # two versions, A and B, for members to judge side by side

    def check_inputs(self) -> None:
        _check_text("topic", self.topic, TOPIC_MAX_CHARS, required=True)
        _check_text("style", self.style, STYLE_MAX_CHARS, required=False)
        _check_seed(self.seed)
        _check_count(self.count, POEM_MAX_COUNT, self.compare)
        if self.form.is_chinese and self.language is Language.ENGLISH:
            raise InvalidRequest(
                f"{self.form.value} is a classical Chinese form; choose language 中文 or auto"
            )

    @property
    def kind(self) -> TextKind:
        return TextKind.POEM

    def fields(self) -> dict[str, str]:
        """Every option except the seed, as stored, so the request can be rebuilt exactly."""
        return {
            "topic": self.topic,
            "form": self.form.value,
            "style": self.style,
            "mood": self.mood.value if self.mood else "",
            "language": self.language.value,
            "count": str(self.count),
            "compare": "1" if self.compare else "",
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> PoemRequest:
        mood = fields.get("mood", "")
        return cls(
            topic=fields["topic"],
            form=PoemForm(fields.get("form", PoemForm.FREE_VERSE.value)),
            style=fields.get("style", ""),
            mood=Mood(mood) if mood else None,
            language=Language(fields.get("language", Language.AUTO.value)),
            count=int(fields.get("count", "1")),
            compare=bool(fields.get("compare")),
        )

    @property
    def samples(self) -> int:
        """How many versions to write: two when comparing, else ``count``."""
        return 2 if self.compare else self.count

    def prompt_text(self) -> str:
        """The member-written text that the safety filter must see."""
        return f"{self.topic}\n{self.style}"

    def resolved_language(self) -> Language:
        """The language the poem is written in: explicit, implied by the form, or the topic's."""
        if self.language is not Language.AUTO:
            return self.language
        if self.form.is_chinese:
            return Language.CHINESE
        return detect_language(self.topic)

    def options(self) -> dict[str, str]:
        """The options as shown to members and stored with the output."""
        shown = {"topic": self.topic, "form": self.form.value}
        if self.style:
            shown["style"] = self.style
        if self.mood is not None:
            shown["mood"] = self.mood.value
        shown["language"] = self.resolved_language().value
        if self.compare:
            shown["compare"] = "A / B"
        elif self.count > 1:
            shown["count"] = str(self.count)
        return shown


@dataclass(frozen=True)
class SloganRequest:
    """What a member asked for with /slogan: ``count`` independent candidates."""

    product: str
    audience: str = ""
    tone: Tone | None = None
    count: int = 3
    language: Language = Language.AUTO
    seed: int | None = None

    def check_inputs(self) -> None:
        _check_text("product", self.product, PRODUCT_MAX_CHARS, required=True)
        _check_text("audience", self.audience, AUDIENCE_MAX_CHARS, required=False)
        _check_seed(self.seed)
        if not 1 <= self.count <= SLOGAN_MAX_COUNT:
            raise InvalidRequest(
                f"count must be between 1 and {SLOGAN_MAX_COUNT}, got {self.count}"
            )

    @property
    def kind(self) -> TextKind:
        return TextKind.SLOGAN

    @property
    def samples(self) -> int:
        return self.count

    @property
    def compare(self) -> bool:
        return False

    def fields(self) -> dict[str, str]:
        return {
            "product": self.product,
            "audience": self.audience,
            "tone": self.tone.value if self.tone else "",
            "count": str(self.count),
            "language": self.language.value,
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> SloganRequest:
        tone = fields.get("tone", "")
        return cls(
            product=fields["product"],
            audience=fields.get("audience", ""),
            tone=Tone(tone) if tone else None,
            count=int(fields.get("count", "3")),
            language=Language(fields.get("language", Language.AUTO.value)),
        )

    def prompt_text(self) -> str:
        return f"{self.product}\n{self.audience}"

    def resolved_language(self) -> Language:
        if self.language is not Language.AUTO:
            return self.language
        return detect_language(self.product + " " + self.audience)

    def options(self) -> dict[str, str]:
        shown = {"product": self.product}
        if self.audience:
            shown["audience"] = self.audience
        if self.tone is not None:
            shown["tone"] = self.tone.value
        shown["count"] = str(self.count)
        shown["language"] = self.resolved_language().value
        return shown


TextRequest = PoemRequest | SloganRequest


@dataclass(frozen=True)
class StylePreset:
    """A /draw style: words appended to the prompt and a negative prompt."""

    suffix: str
    negative: str


STYLE_PRESETS: dict[str, StylePreset] = {
    "none": StylePreset("", ""),
    "photo": StylePreset(
        "photograph, natural light, 35mm, sharp focus, highly detailed",
        "painting, drawing, illustration, cartoon, blurry, deformed",
    ),
    "anime": StylePreset(
        "anime style, cel shading, vibrant colors, clean line art",
        "photo, realistic, 3d render, blurry, deformed",
    ),
    "watercolor": StylePreset(
        "watercolor painting, soft washes, paper texture, delicate",
        "photo, 3d render, harsh lines, oversaturated",
    ),
    "ink wash 水墨": StylePreset(
        "traditional Chinese ink wash painting, shuimo, monochrome ink, rice paper, brush strokes",
        "photo, color, 3d render, western oil painting",
    ),
    "oil painting": StylePreset(
        "oil painting, impasto, rich colors, canvas texture, classical",
        "photo, 3d render, flat colors, blurry",
    ),
    "pixel art": StylePreset(
        "pixel art, 16-bit, crisp pixels, limited palette",
        "photo, blurry, smooth gradients, realistic",
    ),
    "3d render": StylePreset(
        "3d render, octane, soft studio lighting, detailed materials",
        "photo, painting, flat, blurry",
    ),
    "sketch": StylePreset(
        "pencil sketch, graphite, hatching, on white paper",
        "color, photo, painting, blurry",
    ),
    "poster": StylePreset(
        "flat vector poster, bold shapes, graphic design, limited palette",
        "photo, realistic, noisy, blurry",
    ),
}


class ImageSize(StrEnum):
    SQUARE = "square"
    PORTRAIT = "portrait"
    LANDSCAPE = "landscape"

    def pixels(self, native: int, multiple: int) -> tuple[int, int]:
        """(width, height) around the model's native side, rounded to ``multiple``."""
        long_side = max(multiple, round(native * 1.5 / multiple) * multiple)
        if self is ImageSize.PORTRAIT:
            return native, long_side
        if self is ImageSize.LANDSCAPE:
            return long_side, native
        return native, native


PROMPT_MAX_CHARS = 500
NEGATIVE_MAX_CHARS = 300
DRAW_MAX_COUNT = 4


@dataclass(frozen=True)
class DrawRequest:
    """What a member asked for with /draw: ``count`` images, seeds ``seed`` .. ``seed+count-1``."""

    prompt: str
    negative: str = ""
    style: str = "none"
    size: ImageSize = ImageSize.SQUARE
    steps: int = 20
    count: int = 1
    seed: int | None = None
    compare: bool = False

    @property
    def kind(self) -> ImageKind:
        return ImageKind.DRAW

    @property
    def samples(self) -> int:
        return 2 if self.compare else self.count

    def check_inputs(self, *, max_steps: int = 50) -> None:
        _check_text("prompt", self.prompt, PROMPT_MAX_CHARS, required=True)
        _check_text("negative", self.negative, NEGATIVE_MAX_CHARS, required=False)
        _check_seed(self.seed)
        if self.style not in STYLE_PRESETS:
            raise InvalidRequest(
                f"style must be one of {', '.join(STYLE_PRESETS)}, got {self.style!r}"
            )
        if not 1 <= self.steps <= max_steps:
            raise InvalidRequest(f"steps must be between 1 and {max_steps}, got {self.steps}")
        _check_count(self.count, DRAW_MAX_COUNT, self.compare)

    def full_prompt(self) -> str:
        suffix = STYLE_PRESETS[self.style].suffix
        return f"{self.prompt}, {suffix}" if suffix else self.prompt

    def full_negative(self) -> str:
        parts = [self.negative, STYLE_PRESETS[self.style].negative]
        return ", ".join(p for p in parts if p)

    def fields(self) -> dict[str, str]:
        return {
            "prompt": self.prompt,
            "negative": self.negative,
            "style": self.style,
            "size": self.size.value,
            "steps": str(self.steps),
            "count": str(self.count),
            "compare": "1" if self.compare else "",
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> DrawRequest:
        return cls(
            prompt=fields["prompt"],
            negative=fields.get("negative", ""),
            style=fields.get("style", "none"),
            size=ImageSize(fields.get("size", ImageSize.SQUARE.value)),
            steps=int(fields.get("steps", "20")),
            count=int(fields.get("count", "1")),
            compare=bool(fields.get("compare")),
        )

    def prompt_text(self) -> str:
        return self.prompt

    def options(self) -> dict[str, str]:
        shown = {"prompt": self.prompt}
        if self.negative:
            shown["negative"] = self.negative
        shown.update(style=self.style, size=self.size.value, steps=str(self.steps))
        shown["compare" if self.compare else "count"] = "A / B" if self.compare else str(self.count)
        return shown


Request = PoemRequest | SloganRequest | DrawRequest


def request_from_fields(kind: str, fields: Mapping[str, str]) -> Request:
    """Rebuild a stored request (without its seed)."""
    if kind == TextKind.POEM:
        return PoemRequest.from_fields(fields)
    if kind == TextKind.SLOGAN:
        return SloganRequest.from_fields(fields)
    if kind == ImageKind.DRAW:
        return DrawRequest.from_fields(fields)
    raise InvalidRequest(f"unknown request kind {kind!r}")


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
    init_sha256: str = ""  # image-to-image: SHA-256 of the member's upload


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
    """One row for the model: chat messages (used with a chat template) and a plain fallback."""

    messages: tuple[ChatMessage, ...]
    plain: str
    sampling: SamplingParams


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
