"""The copyright guard where the text filter runs: prompts, outputs and edits, per-guild
policy, the member's private answers, and how the runtime and settings switch it on."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.copyright_eval import eval_guard
from bot.app import load_text_filter
from bot.config import load_settings
from bot.errors import ConfigError, Refused
from bot.review.reviews import GuildSettings
from bot.service.types import Origin
from generators.requests import PoemRequest, SloganRequest
from moderation.copyright import GuardedTextFilter
from moderation.policy import Strictness
from moderation.wordlist import WordListFilter
from tests.conftest import ServiceFactory
from tests.fakes import ScriptedBackend

ALICE = Origin(user_id=1, guild_id=10, channel_id=20)
LANTERNS = (
    "We hung our paper lanterns on the fire escape in June\n"
    "You said the city hummed a little flatter than the moon\n"
    "And every siren sounded like a song we used to know"
)


@pytest.fixture(scope="module")
def guarded() -> GuardedTextFilter:
    return GuardedTextFilter(WordListFilter(), eval_guard())


async def run(service: object, request: PoemRequest | SloganRequest) -> object:
    pending = service.prepare(request, ALICE)  # type: ignore[attr-defined]
    await service.start(pending)  # type: ignore[attr-defined]
    return await service.finish(pending)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("request_", "says"),
    [
        (PoemRequest(topic="the lyrics of Bohemian Rhapsody"), "in the style of"),
        (SloganRequest(product="What is Nike's slogan?"), "brand's slogan"),
        (PoemRequest(topic="周杰伦《晴天》的歌词"), "原创作品"),
    ],
)
async def test_a_request_for_protected_words_is_refused_with_a_suggestion(
    make_service: ServiceFactory,
    guarded: GuardedTextFilter,
    request_: PoemRequest | SloganRequest,
    says: str,
) -> None:
    service = await make_service(text_filter=guarded)
    with pytest.raises(Refused, match=says):
        service.prepare(request_, ALICE)
    assert service.queue.state.waiting == []
    service.prepare(PoemRequest(topic="a poem inspired by the lyrics of Bohemian Rhapsody"), ALICE)


async def test_a_copied_output_is_withheld_and_the_member_told_why(
    make_service: ServiceFactory, guarded: GuardedTextFilter
) -> None:
    service = await make_service(ScriptedBackend(texts=[LANTERNS]), text_filter=guarded)
    delivery = await run(service, PoemRequest(topic="a summer night"))
    assert delivery.outputs == ()  # type: ignore[attr-defined]
    withheld = delivery.withheld  # type: ignore[attr-defined]
    assert withheld.startswith("The result repeated a long passage of a protected text")
    assert '"Paper Lanterns" (The Hollow Pines)' in withheld and "in the style of" in withheld
    [stored] = await service.storage.job_outputs(delivery.job_id)  # type: ignore[attr-defined]
    assert stored.decision == "block"


async def test_a_relaxed_server_holds_a_copy_for_a_moderator(
    make_service: ServiceFactory, guarded: GuardedTextFilter
) -> None:
    service = await make_service(ScriptedBackend(texts=[LANTERNS]), text_filter=guarded)
    relaxed = GuildSettings(guild_id=10, strictness=Strictness.RELAXED)
    await service.reviews.save_settings(relaxed, actor_id=99)
    delivery = await run(service, PoemRequest(topic="a summer night"))
    assert "holding it for a moderator" in delivery.withheld  # type: ignore[attr-defined]
    assert len(delivery.held_ids) == 1  # type: ignore[attr-defined]


async def test_an_edit_that_pastes_a_protected_text_is_refused(
    make_service: ServiceFactory, guarded: GuardedTextFilter
) -> None:
    service = await make_service(text_filter=guarded)
    delivery = await run(service, PoemRequest(topic="a summer night"))
    [out] = delivery.outputs  # type: ignore[attr-defined]
    with pytest.raises(Refused, match="refused by the safety filter"):
        await service.edit(delivery.job_id, ALICE.user_id, {out.output_id: LANTERNS})  # type: ignore[attr-defined]


def test_the_runtime_puts_the_guard_beside_the_text_filter(tmp_path: Path) -> None:
    env = {"MUSE_FILTER_ML": "0", "MUSE_IMAGE_MODEL": "off"}
    on = load_text_filter(load_settings(env))
    assert isinstance(on, GuardedTextFilter)
    assert not on.check_request("Lyrics to 'Someone Like You' by Adele").allowed
    off = load_text_filter(load_settings({**env, "MUSE_COPYRIGHT_GUARD": "0"}))
    assert not isinstance(off, GuardedTextFilter)
    assert off.check("Lyrics to 'Someone Like You' by Adele").allowed


def test_settings_read_fingerprint_files_and_the_upload_limit(tmp_path: Path) -> None:
    mine = tmp_path / "mine.json"
    mine.write_text("{}", "utf-8")
    settings = load_settings(
        {"MUSE_COPYRIGHT_FINGERPRINTS": f"{mine}, ", "MUSE_IMAGE_INPUT_MAX_BYTES": "2048"}
    )
    assert settings.copyright_fingerprints == (mine,)
    assert settings.image_input_max_bytes == 2048 and settings.copyright_guard
    with pytest.raises(ConfigError, match=r"absent\.json"):
        load_settings({"MUSE_COPYRIGHT_FINGERPRINTS": str(tmp_path / "absent.json")})
