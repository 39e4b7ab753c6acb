"""The choices a request is made of: kinds, forms, moods, tones, languages and image sizes, plus
``InvalidRequest``, the error every rule about a request raises.
"""

from __future__ import annotations

from enum import StrEnum


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

    @property
    def native_language(self) -> Language:
        """The language the form belongs to: Chinese for the jueju, English for the others
        (free verse is asked for in either; this is its English)."""
        return Language.CHINESE if self.is_chinese else Language.ENGLISH


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
