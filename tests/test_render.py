"""What members see: embeds, progress lines and model names."""

from __future__ import annotations

from bot.render import EMBED_TEXT_MAX, model_name, progress_text, result_embed
from bot.service import Delivery, ShownOutput
from bot.storage import Tally


def delivery(kind: str, texts: list[str], **extra: object) -> Delivery:
    outputs = tuple(ShownOutput(i + 1, i, t, Tally()) for i, t in enumerate(texts))
    fields: dict[str, object] = dict(
        job_id="ab" * 8, group_id="ab" * 8, kind=kind, requester_id=5, options={"topic": "moon"},
        model_id="Qwen/Qwen2.5-0.5B-Instruct", seed=9, sample_number=1, outputs=outputs,
    )  # fmt: skip
    fields.update(extra)
    return Delivery(**fields)  # type: ignore[arg-type]


def test_model_names_hide_host_paths() -> None:
    assert model_name("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    assert model_name("/srv/models/my-poet") == "my-poet"
    assert model_name("./models/my-poet/") == "my-poet"


def test_slogans_are_numbered_and_long_poems_are_cut_visibly() -> None:
    embed = result_embed(delivery("slogan", ["Fresh", "Bold"], held=1))
    assert embed.description == "**1.** Fresh\n**2.** Bold"
    assert any(f.name == "held back" for f in embed.fields)
    long = result_embed(delivery("poem", ["x" * 5000], sample_number=3))
    assert long.description is not None and len(long.description) <= EMBED_TEXT_MAX
    assert long.description.endswith("… (cut)")
    assert long.title == "📜 Poem · 🔁 sample 3"
    assert long.footer.text is not None and "seed 9" in long.footer.text


def test_progress_lines() -> None:
    assert progress_text(3, 12.4) == "⏳ In the queue: position 3 · about 12 s"
    assert progress_text(0, 0.2) == "✍️ Writing… about 1 s left"
