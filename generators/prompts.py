"""Turn validated requests into model prompts.

User text always stays in the user message, inside its own labelled field, never in the system
prompt, so "ignore previous instructions" is just more topic text.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

from generators.forms.spec import form_spec
from generators.options import Language, PoemForm, TextKind
from generators.requests import PoemRequest, SloganRequest
from generators.samples import ChatMessage, SamplingParams, TextPrompt

POEM_MAX_NEW_TOKENS = 200
SLOGAN_MAX_NEW_TOKENS = 40
SLOGAN_SEED_STRIDE = 1

# No persona in the system turn: a small model told "You are Muse" answers as Muse ("I am the
# Muse, a poet and copywriter..."). It is told only that the piece is wanted, in few tokens:
# with forms on, the form's grammar or decoding rules keep the lines, and cleaning drops labels
# and quotes, so a long list of don'ts only adds prefill before the first word (SmolLM2: 36 -> 12
# tokens in English, 69 -> 15 in Chinese; a third of a poem prompt).
_SYSTEM_EN = "Reply with the piece only, no title or introduction."
_SYSTEM_ZH = "只写作品，不要标题。"

_FORM_RULES_EN: dict[PoemForm, str] = {
    PoemForm.FREE_VERSE: "a short free-verse poem (8 to 14 lines)",
    PoemForm.HAIKU: "a haiku: three lines of 5, 7 and 5 syllables",
    PoemForm.SONNET: "a sonnet: 14 lines of iambic pentameter",
    PoemForm.LIMERICK: "a limerick: five lines rhyming AABBA",
    PoemForm.QUATRAIN: "a quatrain: four rhyming lines",
    PoemForm.WUYAN_JUEJU: "a classical Chinese quatrain of four five-character lines",
    PoemForm.QIYAN_JUEJU: "a classical Chinese quatrain of four seven-character lines",
}

_FORM_RULES_ZH: dict[PoemForm, str] = {
    PoemForm.FREE_VERSE: "一首自由诗（8 到 14 行）",
    PoemForm.HAIKU: "一首俳句（三行，五、七、五音节）",
    PoemForm.SONNET: "一首十四行诗",
    PoemForm.LIMERICK: "一首五行打油诗（AABBA 押韵）",
    PoemForm.QUATRAIN: "一首四行押韵短诗",
    PoemForm.WUYAN_JUEJU: "一首五言绝句（四句，每句五字，押平声韵）",
    PoemForm.QIYAN_JUEJU: "一首七言绝句（四句，每句七字，押平声韵）",
}


def _fields(pairs: list[tuple[str, str]]) -> str:
    return "\n".join(f"{label}: {value}" for label, value in pairs if value)


def poem_prompt(req: PoemRequest, sampling: SamplingParams, *, forms: bool = False) -> TextPrompt:
    """One prompt row for ``/poem``; with ``forms`` the row carries its form (kept by
    construction) and the form's token budget replaces ``sampling.max_new_tokens``."""
    mood = req.mood.value if req.mood else ""
    if req.resolved_language() is Language.CHINESE:
        system = _SYSTEM_ZH
        task = f"请写{_FORM_RULES_ZH[req.form]}。"
        body = _fields([("主题", req.topic), ("风格", req.style), ("情绪", mood)])
        plain = f"{_FORM_RULES_ZH[req.form]}，主题：{req.topic}\n"
    else:
        system = _SYSTEM_EN
        task = f"Write {_FORM_RULES_EN[req.form]}, in English."
        body = _fields([("Topic", req.topic), ("Style", req.style), ("Mood", mood)])
        plain = f"A {req.form.value} about {req.topic}:\n"
    messages = (ChatMessage("system", system), ChatMessage("user", f"{task}\n{body}"))
    return _shaped(TextPrompt(messages, plain, sampling), TextKind.POEM, req, forms)


def _shaped(
    prompt: TextPrompt, kind: TextKind, req: PoemRequest | SloganRequest, forms: bool
) -> TextPrompt:
    if not forms:
        return prompt
    form = req.form if isinstance(req, PoemRequest) else None
    spec = form_spec(kind, form, req.resolved_language())
    sampling = dataclasses.replace(prompt.sampling, max_new_tokens=spec.budget_tokens())
    return dataclasses.replace(prompt, sampling=sampling, form=spec)


def slogan_prompt(
    req: SloganRequest, sampling: SamplingParams, *, forms: bool = False
) -> TextPrompt:
    """One prompt row for ``/slogan``; a request with ``count`` n needs n rows."""
    tone = req.tone.value if req.tone else ""
    if req.resolved_language() is Language.CHINESE:
        system = _SYSTEM_ZH
        task = "请为下面的产品写一句简短有力的广告语（不超过 20 个字）。"
        body = _fields([("产品", req.product), ("受众", req.audience), ("语气", tone)])
        plain = f"{req.product} 的广告语："
    else:
        system = _SYSTEM_EN
        task = "Write one short, catchy advertising slogan (at most 12 words) for this product."
        body = _fields([("Product", req.product), ("Audience", req.audience), ("Tone", tone)])
        plain = f"Slogan for {req.product}:"
    messages = (ChatMessage("system", system), ChatMessage("user", f"{task}\n{body}"))
    return _shaped(TextPrompt(messages, plain, sampling), TextKind.SLOGAN, req, forms)


_LABEL = re.compile(
    r"^(?:\d+[.)、]\s*|[-*•]\s+|(?:slogan|tagline|广告语|标语)\s*\d*\s*[:：]\s*)+", re.IGNORECASE
)
_QUOTES = "\"'“”‘’「」『』*"


def _printable(text: str) -> str:
    """Drop control and format characters a model may emit, and U+FFFD (half a character);
    keep line breaks and tabs."""
    return "".join(
        ch
        for ch in text
        if ch in "\n\t" or (unicodedata.category(ch) not in ("Cc", "Cf", "Cs") and ch != "\ufffd")
    )


def clean_poem(text: str) -> str:
    """Printable text with blank edges trimmed; the poem's own line breaks stay."""
    return _printable(text).strip()


def clean_slogan(text: str) -> str:
    """First non-empty line without numbering, label or wrapping quotes."""
    for line in _printable(text).strip().splitlines():
        line = _LABEL.sub("", line.strip()).strip().strip(_QUOTES).strip()
        if line:
            return line
    return ""
