"""What a review card and a chart say: the member's own words, where the request came from,
and "no data yet" instead of an empty axis."""

from __future__ import annotations

from datetime import date, timedelta

from bot.review.items import CLI_USER_ID, ReviewItem
from bot.web.charts import bar_chart
from bot.web.pages import Dashboard, dashboard_page
from bot.web.queries import DailyCounts, QueueDepth

INSTRUCTION = "Write one short, catchy advertising slogan for the product below."


def _item(**overrides: object) -> ReviewItem:
    fields: dict[str, object] = {
        "review_id": 1, "output_id": 1, "job_id": "j1", "kind": "slogan", "source": "filter",
        "status": "pending", "requester_id": 1001, "guild_id": 4242, "channel_id": 77,
        "prompt": INSTRUCTION,
        "options": {"product": "moon coffee", "audience": "night owls", "tone": "", "count": "3",
                    "language": "en"},
        "text": "damn good coffee", "image_path": None, "verdict": {"decision": "review"},
        "created_at": 1_796_000_000.0,
    }  # fmt: skip
    return ReviewItem(**(fields | overrides))  # type: ignore[arg-type]


def _page(*items: ReviewItem, charts: tuple[str, ...] = ()) -> str:
    board = Dashboard(items, len(items), QueueDepth(0, 0), (), charts)
    return dashboard_page(board, "csrf")


def test_a_card_shows_what_the_member_typed_not_muses_instruction() -> None:
    page = _page(_item())
    assert '<dt>Product</dt><dd class="prompt">moon coffee</dd>' in page
    assert "audience: night owls · count: 3 · language: en" in page
    assert INSTRUCTION not in page and "tone:" not in page


def test_a_poem_card_names_its_topic_and_a_draw_card_its_prompt() -> None:
    poem = _item(kind="poem", options={"topic": "rain", "form": "haiku", "count": "1"})
    draw = _item(
        review_id=2, kind="draw", prompt="a cat, watercolor, soft",
        options={"prompt": "a cat", "style": "watercolor", "picture": "ab12", "strength": "0.6"},
    )  # fmt: skip
    page = _page(poem, draw)
    assert '<dt>Topic</dt><dd class="prompt">rain</dd>' in page and "count: 1" not in page
    assert '<dt>Prompt</dt><dd class="prompt">a cat</dd>' in page
    assert "style: watercolor · strength: 0.6 · from a picture" in page and "ab12" not in page


def test_old_jobs_without_the_field_fall_back_to_the_stored_prompt() -> None:
    assert f'<dd class="prompt">{INSTRUCTION}</dd>' in _page(_item(options={}))


def test_where_a_request_came_from() -> None:
    cli = _item(guild_id=None, channel_id=None, requester_id=CLI_USER_ID)
    dm = _item(review_id=2, guild_id=None, channel_id=5)
    page = _page(cli, dm, _item(review_id=3))
    assert '<p class="meta">CLI · ' in page
    assert "channel None" not in page and "user 0" not in page
    assert "direct message · channel 5 · user 1001" in page
    assert "guild 4242 · channel 77 · user 1001" in page
    named = _item(guild_name="Poets <3", channel_name="haiku")
    assert "guild Poets &lt;3 · #haiku · user 1001" in _page(named)


def test_an_empty_chart_says_no_data_yet() -> None:
    days = tuple(date(2026, 11, 17) + timedelta(days=n) for n in range(14))
    empty = bar_chart("Votes", DailyCounts(days, {"up": (0,) * 14}), {"up": "#2f9e44"})
    assert "no data yet" in empty and "<svg" not in empty
    busy = bar_chart("Votes", DailyCounts(days, {"up": (1,) * 14}), {"up": "#2f9e44"})
    assert "<svg" in busy and "no data yet" not in busy
