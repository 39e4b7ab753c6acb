"""What members ask for, as frozen dataclasses: /poem, /slogan and /draw requests.

Requests are validated by ``check_inputs`` methods that raise ``InvalidRequest`` with the rule and
the offending value. Nothing is ever fixed silently. ``fields``/``from_fields`` store and rebuild
a request exactly (without its seed); ``options`` is what members see.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from generators.edits import check_operation, describe
from generators.options import (
    ImageKind,
    ImageSize,
    InvalidRequest,
    Language,
    Mood,
    PoemForm,
    TextKind,
    Tone,
    detect_language,
)
from generators.styles import STYLE_PRESETS

TOPIC_MAX_CHARS = 200
STYLE_MAX_CHARS = 100
PRODUCT_MAX_CHARS = 200
AUDIENCE_MAX_CHARS = 100
SLOGAN_MAX_COUNT = 5
POEM_MAX_COUNT = 3
SEED_MAX = 2**32 - 1
PROMPT_MAX_CHARS = 500
NEGATIVE_MAX_CHARS = 300
DRAW_MAX_COUNT = 4


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


STRENGTH_MIN, STRENGTH_MAX, DEFAULT_STRENGTH = 0.1, 1.0, 0.6
_PICTURE_KEY = re.compile(r"[0-9a-f]{64}-\d{1,5}x\d{1,5}")  # upload SHA-256, model size


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
    picture: str = ""  # image-to-image: the key of the member's checked picture, or ""
    strength: float | None = None  # image-to-image: how far it may change (default 0.6)
    source: int = 0  # a button's operation: the output (picture Muse drew) it starts from
    operation: str = ""  # that operation (``generators.edits.OPERATIONS``)

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
        self._check_picture()
        self._check_source()

    def _check_source(self) -> None:
        if not self.source and not self.operation:
            return
        check_operation(self.operation)
        if not 0 < self.source < 10**18 or self.picture or self.compare:
            raise InvalidRequest("an operation applies to one picture Muse drew, and only to it")

    def _check_picture(self) -> None:
        if not self.picture:
            if self.strength is not None:
                raise InvalidRequest("strength applies to a picture: attach one with image")
            return
        if not _PICTURE_KEY.fullmatch(self.picture):
            raise InvalidRequest(f"picture must be a stored picture's key, got {self.picture!r}")
        if not STRENGTH_MIN <= self.denoise <= STRENGTH_MAX:
            raise InvalidRequest(
                f"strength must be between {STRENGTH_MIN} and {STRENGTH_MAX}, got {self.denoise}"
            )
        if int(self.steps * self.denoise) < 1:
            raise InvalidRequest(
                f"steps × strength must make at least one step, got {self.steps} × {self.denoise:g}"
            )

    @property
    def denoise(self) -> float:
        """The image-to-image strength in effect."""
        return DEFAULT_STRENGTH if self.strength is None else self.strength

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
            **({"picture": self.picture, "strength": f"{self.denoise:g}"} if self.picture else {}),
            **({"source": str(self.source), "operation": self.operation} if self.source else {}),
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> DrawRequest:
        strength = fields.get("strength", "")
        return cls(
            prompt=fields["prompt"],
            negative=fields.get("negative", ""),
            style=fields.get("style", "none"),
            size=ImageSize(fields.get("size", ImageSize.SQUARE.value)),
            steps=int(fields.get("steps", "20")),
            count=int(fields.get("count", "1")),
            compare=bool(fields.get("compare")),
            picture=fields.get("picture", ""),
            strength=float(strength) if strength else None,
            source=int(fields.get("source", "0")),
            operation=fields.get("operation", ""),
        )

    def prompt_text(self) -> str:
        return self.prompt

    def options(self) -> dict[str, str]:
        shown = {"prompt": self.prompt}
        if self.negative:
            shown["negative"] = self.negative
        shown.update(style=self.style, size=self.size.value, steps=str(self.steps))
        shown["compare" if self.compare else "count"] = "A / B" if self.compare else str(self.count)
        if self.picture:
            shown["from your picture"] = f"strength {self.denoise:g}"
        if self.source:
            shown["made by"] = describe(self.operation)
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
