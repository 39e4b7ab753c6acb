"""A champion-challenger match through real discord.py: the public message names neither
model; a member who chooses is told, privately, which model wrote A and which B."""

from __future__ import annotations

import random

from tests.conftest import ServiceFactory
from tests.discord_harness import Harness
from tests.discord_payloads import APP_ID
from tests.fakes import ScriptedBackend
from tests.test_discord_feedback import EPHEMERAL, MEMBER, bot_with, buttons, result, rows

CHAMP, CHALL = "scripted-test-model", "org/challenger"  # the champion: bot_with's backend


async def test_a_match_hides_the_models_until_a_member_chooses(
    make_service: ServiceFactory,
) -> None:
    bot = await bot_with(make_service, text_model=CHAMP, text_challenger=CHALL)
    bot.service.executor.challenger = ScriptedBackend(model_id=CHALL)
    bot.service.executor.match_random = random.Random(0)
    async with Harness(bot) as h:
        message = await result(h, "poem", {"topic": "moon", "compare": True})
        footer = message["embeds"][0]["footer"]["text"]
        ab = [b for b in buttons(message) if b["custom_id"].startswith("muse:ab:")]
        click = h.click(ab[0]["custom_id"], message, user_id=MEMBER)
        await h.run(click)
        [reveal] = h.http.calls_to("POST", rf"/webhooks/{APP_ID}/{click['token']}$")
        assert h.errors == []
    assert "two models, named once you choose" in footer
    assert CHAMP not in str(message) and CHALL not in str(message)
    models = [m for (m,) in rows(bot, "SELECT model_id FROM outputs ORDER BY candidate")]
    assert sorted(models) == [CHALL, CHAMP]
    assert reveal.json["flags"] == EPHEMERAL
    assert f"**A** was written by `{models[0]}`, **B** by `{models[1]}`" in reveal.json["content"]
