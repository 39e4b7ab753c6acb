"""What members see: embeds, progress lines and model names."""

from __future__ import annotations

from bot.discord.render import EMBED_TEXT_MAX, model_name, progress_text, result_embed
from bot.service.types import Delivery, Progress, ShownOutput
from bot.store.records import Tally


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
    assert long.footer.text == "AI-generated · Qwen/Qwen2.5-0.5B-Instruct · seed 9 · 0.0 s"


def test_progress_lines() -> None:
    assert progress_text(Progress(3, 12.4), "poem") == "⏳ In the queue: position 3 · about 12 s"
    assert progress_text(Progress(0, 0.2), "poem") == "✍️ Writing… about 1 s left"
    assert progress_text(Progress(0, 0.2), "draw") == "🎨 Drawing… about 1 s left"
    running = Progress(0, 9.6, step=7, steps=20)
    assert progress_text(running, "draw") == "🎨 Drawing… step 7/20 · about 10 s left"


def test_progress_shows_the_text_written_so_far_laid_out_like_the_result() -> None:
    poem = Progress(0, 2.2, partial=("The moon\nrises",))
    assert progress_text(poem, "poem") == "✍️ Writing… about 2 s left\n\nThe moon\nrises"
    slogans = Progress(0, 1.0, partial=("Fresh", "", "Bold"))
    assert progress_text(slogans, "slogan").endswith("\n\n**1.** Fresh\n**3.** Bold")
    versions = progress_text(Progress(0, 1.0, partial=("one", "two")), "poem")
    assert versions.endswith("\n\n**1**\none\n\n**2**\ntwo")
    long = progress_text(Progress(0, 1.0, partial=("x" * 5000,)), "poem")
    assert len(long) <= 2000 and long.endswith("… (cut)")


def test_draw_body_lists_each_image_seed() -> None:
    out = (ShownOutput(1, 0, "", Tally(), 41, "a.png"), ShownOutput(2, 1, "", Tally(), 42, "b.png"))
    embed = result_embed(delivery("draw", [], outputs=out))
    assert embed.title == "🎨 Drawing"
    assert embed.description is not None
    assert embed.description.startswith("**1** · seed 41\n**2** · seed 42")
