"""How results and progress look in Discord. Pure functions: data in, embeds and text out."""

from __future__ import annotations

from pathlib import PurePath

import discord

from bot.service.types import Delivery, Progress, ShownOutput

EMBED_TEXT_MAX = 4000  # Discord allows 4096 in a description; keep room for the marker
STREAM_TEXT_MAX = 1900  # a message's content holds 2000; keep room for the progress line
_TITLES = {"poem": "📜 Poem", "slogan": "📣 Slogans", "draw": "🎨 Drawing"}
_COLOUR = discord.Colour.from_rgb(124, 92, 255)


def model_name(model_id: str) -> str:
    """A hub id as is; a local folder by its name only, so no host paths are shown."""
    if model_id.startswith(("/", ".", "~")) or "\\" in model_id or model_id.count("/") > 1:
        return PurePath(model_id.replace("\\", "/")).name or model_id
    return model_id


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 12].rstrip() + "\n… (cut)"


def label(delivery: Delivery, candidate: int) -> str:
    """How an output is named on its buttons and in the text: A/B, 1–5, or nothing."""
    if delivery.compare:
        return "AB"[candidate] if candidate < 2 else str(candidate + 1)
    return str(candidate + 1) if len(delivery.outputs) > 1 or delivery.held else ""


def _mark(delivery: Delivery, out: ShownOutput) -> str:
    picked = " ✅" if delivery.picked == out.output_id else ""
    return f"{' ✏️' if out.edited else ''}{picked}"


def _body(delivery: Delivery) -> str:
    outs = delivery.outputs
    if delivery.kind == "draw":
        lines = [f"**{label(delivery, o.candidate) or 1}** · seed {o.seed}{_mark(delivery, o)}"
                 for o in outs]  # fmt: skip
        return "\n".join(lines) + "\nSame prompt, options and seed give the same image."
    if delivery.kind == "slogan":
        return "\n".join(f"**{o.candidate + 1}.** {o.text}{_mark(delivery, o)}" for o in outs)
    if len(outs) == 1 and not delivery.compare:
        return outs[0].text
    return "\n\n".join(
        f"**{label(delivery, o.candidate)}**{_mark(delivery, o)}\n{o.text}" for o in outs
    )


def result_embed(delivery: Delivery) -> discord.Embed:
    """The output, the options used, the requester and the model, in one embed."""
    title = _TITLES.get(delivery.kind, delivery.kind)
    if delivery.compare:
        title += " · A or B?"
    if len(delivery.outputs) == 1 and delivery.outputs[0].edited:
        title += " · ✏️ edited"
    if delivery.sample_number > 1:
        title += f" · 🔁 sample {delivery.sample_number}"
    embed = discord.Embed(title=title, description=_fit(_body(delivery), EMBED_TEXT_MAX))
    embed.colour = _COLOUR
    for name, value in delivery.options.items():
        embed.add_field(name=name, value=_fit(value, 200) or "—", inline=True)
    embed.add_field(name="requested by", value=f"<@{delivery.requester_id}>", inline=True)
    if delivery.held:
        embed.add_field(
            name="held back", value=f"{delivery.held} candidate(s) flagged by the safety filter"
        )
    footer = (
        f"AI-generated · {model_name(delivery.model_id)} · seed {delivery.seed}"
        f" · {delivery.total_s:.1f} s"
    )
    embed.set_footer(text=footer)
    return embed


def progress_text(progress: Progress, kind: str) -> str:
    """The deferred message while a job waits (position ≥ 1) or runs (position 0)."""
    eta = f"about {max(1, round(progress.wait_s))} s"
    if progress.position > 0:
        return f"⏳ In the queue: position {progress.position} · {eta}"
    if progress.steps:
        return f"🎨 Drawing… step {progress.step}/{progress.steps} · {eta} left"
    verb = "🎨 Drawing…" if kind == "draw" else "✍️ Writing…"
    if progress.partial:
        return f"{verb} {eta} left\n\n{_fit(streamed(progress.partial, kind), STREAM_TEXT_MAX)}"
    return f"{verb} {eta} left"


def streamed(texts: tuple[str, ...], kind: str) -> str:
    """The text written so far (already past the filter), laid out like the result will be."""
    if kind == "slogan":
        return "\n".join(f"**{i + 1}.** {text}" for i, text in enumerate(texts) if text)
    if len(texts) == 1:
        return texts[0]
    return "\n\n".join(f"**{i + 1}**\n{text}" for i, text in enumerate(texts) if text)
