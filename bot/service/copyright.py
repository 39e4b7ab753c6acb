"""What a member is told when the copyright guard stops a prompt or a result."""

from __future__ import annotations

from collections.abc import Sequence

from bot.store.records import NewOutput
from generators.options import Language, detect_language
from moderation.verdict import Category, Verdict

PROMPT_EN = (
    "Muse doesn't reproduce protected text word for word: song lyrics, other people's poems "
    "and stories, or a brand's slogan. Ask for an original piece in the style of it instead, "
    'e.g. topic "a rainy night in the city, in the style of a 90s ballad".'
)
PROMPT_ZH = (
    "Muse 不会逐字复制受版权保护的文字：歌词、他人的诗文或品牌广告语。"
    "可以请它写一首“某某风格”的原创作品，例如：“雨夜的城市，九十年代情歌的风格”。"
)
RESULT = (
    "The result repeated a long passage of a protected text ({work}), so Muse did not post "
    "it. Try 🔁, or ask for an original piece in the style of it."
)


def is_copyright(verdict: Verdict) -> bool:
    return Category.COPYRIGHT in verdict.categories


def prompt_refusal(prompt: str) -> str:
    """The private answer to a prompt the guard refused, in the prompt's language."""
    return PROMPT_ZH if detect_language(prompt) is Language.CHINESE else PROMPT_EN


def result_withheld(outputs: Sequence[NewOutput]) -> str | None:
    """Why nothing was posted, when a blocked output copied a protected work; else None."""
    for out in outputs:
        if out.decision == "block" and Category.COPYRIGHT.value in out.verdict["categories"]:
            works = [m for m in out.verdict["matched"] if not m.startswith("request: ")]
            return RESULT.format(work=works[0] if works else "a known work")
    return None
