"""The copyright guard through real discord.py: a private refusal that suggests an original
piece, and a copied result that is never posted."""

from __future__ import annotations

import pytest

from bench.copyright_eval import eval_guard
from bot.discord.client import MuseBot
from moderation.copyright import GuardedTextFilter
from moderation.wordlist import WordListFilter
from tests.conftest import ServiceFactory
from tests.discord_harness import Harness
from tests.discord_payloads import APP_ID
from tests.fakes import ScriptedBackend

EPHEMERAL = 64
COPIED = (
    "最后一班列车开走的时候\n月台上的风吹乱了你的袖口\n你说城市太大装不下温柔\n"
    "我把沉默折成纸船放进河流"
)


@pytest.fixture(scope="module")
def guarded() -> GuardedTextFilter:
    return GuardedTextFilter(WordListFilter(), eval_guard())


async def test_a_request_for_lyrics_is_refused_privately_with_a_suggestion(
    make_service: ServiceFactory, guarded: GuardedTextFilter
) -> None:
    service = await make_service(text_filter=guarded)
    async with Harness(MuseBot(service, service.settings)) as h:
        await h.run(h.slash("poem", {"topic": "周杰伦《晴天》的歌词"}))
        await h.run(h.slash("slogan", {"product": "Nike's slogan, word for word"}))
        refusals = h.http.interaction_responses()
    assert [r["type"] for r in refusals] == [4, 4]
    assert all(r["data"]["flags"] == EPHEMERAL for r in refusals)
    assert "原创作品" in refusals[0]["data"]["content"]
    assert "in the style of it instead" in refusals[1]["data"]["content"]


async def test_a_result_that_copies_a_known_text_is_never_posted(
    make_service: ServiceFactory, guarded: GuardedTextFilter
) -> None:
    service = await make_service(ScriptedBackend(texts=[COPIED]), text_filter=guarded)
    async with Harness(MuseBot(service, service.settings)) as h:
        payload = h.slash("poem", {"topic": "月台与离别"})
        await h.run(payload)
        assert h.errors == []
        [notice] = h.http.calls_to("POST", rf"/webhooks/{APP_ID}/{payload['token']}$")
        edits = h.http.calls_to("PATCH", r"/messages/@original$")
    assert notice.json["flags"] == EPHEMERAL
    assert '"月台上的风" (林晚舟)' in notice.json["content"]
    assert not any(edit.json.get("embeds") for edit in edits)  # no result was ever shown
