"""Chinese sound rules: the common Han characters (GB2312) grouped into rhyme groups by their
pypinyin finals, level tones (平声, modern tones 1 and 2) only, as 绝句 rhyme on them.

The groups follow the modern 中华新韵 in spirit: medials (i, u, ü) are dropped, so 花 (ua), 家 (ia)
and 沙 (a) rhyme; en/in/un rhyme; eng/ing/ong rhyme.
"""

from __future__ import annotations

from functools import cache

_GROUP_OF_FINAL = {
    "a": "a", "ia": "a", "ua": "a",
    "o": "o", "uo": "o", "e": "o",
    "ie": "ie", "ve": "ie", "ue": "ie",
    "i": "i", "v": "i", "er": "i",
    "u": "u",
    "ai": "ai", "uai": "ai",
    "ei": "ei", "uei": "ei", "ui": "ei",
    "ao": "ao", "iao": "ao",
    "ou": "ou", "iou": "ou", "iu": "ou",
    "an": "an", "ian": "an", "uan": "an", "van": "an",
    "en": "en", "in": "en", "uen": "en", "un": "en", "vn": "en",
    "ang": "ang", "iang": "ang", "uang": "ang",
    "eng": "eng", "ing": "eng", "ong": "eng", "iong": "eng", "ueng": "eng",
}  # fmt: skip
MIN_GROUP_CHARS = 40  # smaller groups are too narrow to write a line into


@cache
def common_han() -> str:
    """The 6,763 Han characters of GB2312 (levels 1 and 2), in code order."""
    chars = []
    for high in range(0xB0, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                ch = bytes((high, low)).decode("gb2312")
            except UnicodeDecodeError:
                continue
            if "\u4e00" <= ch <= "\u9fff":
                chars.append(ch)
    return "".join(chars)


def rhyme_key(char: str, *, level_only: bool = False) -> str:
    """The rhyme group of a Han character ('' when unknown or, with ``level_only``, when its
    tone is oblique)."""
    from pypinyin import Style, lazy_pinyin

    final = lazy_pinyin(char, style=Style.FINALS_TONE3, errors="ignore")
    if not final or not final[0]:
        return ""
    tone = final[0][-1] if final[0][-1].isdigit() else "5"
    if level_only and tone not in "12":
        return ""
    return _GROUP_OF_FINAL.get(final[0].rstrip("012345"), "")


@cache
def level_rhyme_groups() -> dict[str, str]:
    """Rhyme group -> its common level-tone characters, for groups big enough to write in."""
    groups: dict[str, list[str]] = {}
    for ch in common_han():
        key = rhyme_key(ch, level_only=True)
        if key:
            groups.setdefault(key, []).append(ch)
    return {k: "".join(v) for k, v in sorted(groups.items()) if len(v) >= MIN_GROUP_CHARS}


def rhymes_zh(a: str, b: str) -> bool:
    """True when the Han characters ``a`` and ``b`` fall in the same rhyme group."""
    key = rhyme_key(a)
    return bool(key) and key == rhyme_key(b)
