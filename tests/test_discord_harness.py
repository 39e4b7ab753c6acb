"""Self-test of the Discord test harness (``tests/discord_harness.py``, ``discord_http.py``
and ``discord_payloads.py``) on a tiny demo bot defined here."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.discord_harness import Harness
from tests.discord_http import RecordingHTTP
from tests.discord_payloads import APP_ID, custom_ids


class Counter(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"demo:count:(?P<n>\d+)"):
    """A persistent +1 button whose state lives in its custom_id."""

    def __init__(self, n: int) -> None:
        super().__init__(discord.ui.Button(label=f"+1 ({n})", custom_id=f"demo:count:{n}"))
        self.n = n

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any
    ) -> Counter:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot = interaction.client
        assert isinstance(bot, DemoBot)
        with bot.db_path.open("a") as db:
            db.write(f"{self.n + 1}\n")
        await interaction.response.edit_message(
            content=f"count={self.n + 1}", view=counter_view(self.n + 1)
        )


def counter_view(n: int) -> discord.ui.View:
    """A view holding one Counter button."""
    view = discord.ui.View(timeout=None)
    view.add_item(Counter(n))
    return view


class DemoBot(commands.Bot):
    """Just enough bot: /hello, /file, and the dynamic Counter button."""

    def __init__(self, db_path: Path, *, sync: bool = False) -> None:
        super().__init__(command_prefix=commands.when_mentioned, intents=discord.Intents.none())
        self.db_path = db_path
        self.sync_on_start = sync
        self.expired: list[bool] = []

    async def setup_hook(self) -> None:
        self.add_dynamic_items(Counter)

        @self.tree.command(description="Say hello")
        async def hello(
            interaction: discord.Interaction, name: str, count: app_commands.Range[int, 1, 5]
        ) -> None:
            self.expired.append(interaction.is_expired())
            await interaction.response.defer(thinking=True)
            await interaction.edit_original_response(
                content=f"Hello {name}!",
                view=counter_view(count),
                allowed_mentions=discord.AllowedMentions.none(),
            )

        @self.tree.command(description="Send a file")
        async def file(interaction: discord.Interaction) -> None:
            attachment = discord.File(io.BytesIO(b"hi"), filename="hello.txt")
            # A plain View starts a 180 s timeout task, which settle() must not wait for.
            links = discord.ui.View().add_item(discord.ui.Button(label="docs", url="https://a.b"))
            await interaction.response.send_message(
                "here", file=attachment, view=links, ephemeral=True
            )

        if self.sync_on_start:
            await self.tree.sync()


@pytest.mark.parametrize("guild_id", [1234, None], ids=["guild", "dm"])
async def test_slash_command_defers_then_edits_original(
    tmp_path: Path, guild_id: int | None
) -> None:
    async with Harness(DemoBot(tmp_path / "db")) as h:
        h.http.clear()  # forget the login calls
        payload = h.slash("hello", {"name": "Ada", "count": 2}, guild_id=guild_id)
        options = payload["data"]["options"]
        assert [o["type"] for o in options] == [3, 4]  # STRING, INTEGER: from the tree's params
        await h.run(payload)

        assert h.errors == []
        assert h.bot.expired == [False]
        assert h.http.interaction_responses() == [{"type": 5}]
        [edit] = h.http.calls_to("PATCH")
        assert edit.path == f"/webhooks/{APP_ID}/{payload['token']}/messages/@original"
        assert edit.json["content"] == "Hello Ada!"
        assert edit.json["allowed_mentions"] == {"parse": []}
        assert custom_ids(edit.json) == ["demo:count:2"]
        assert h.http.last_message_json() == edit.json
        original = h.http.original_message(payload["token"])
        assert original is not None and original["flags"] == 0  # "thinking" flag cleared by edit


async def test_button_from_before_a_restart_is_handled_by_a_fresh_bot(tmp_path: Path) -> None:
    db = tmp_path / "db"
    async with Harness(DemoBot(db)) as first:
        payload = first.slash("hello", {"name": "Ada", "count": 2})
        await first.run(payload)
        message = first.http.original_message(payload["token"])
        assert message is not None

    assert first.bot.is_closed()
    async with first.restarted(DemoBot(db)) as second:  # shares only the fake Discord and db
        assert second.bot is not first.bot
        second.http.clear()
        await second.run(second.click("demo:count:2", message))

        assert second.errors == []
        [update] = second.http.interaction_responses()
        assert update["type"] == 7
        assert update["data"]["content"] == "count=3"
        assert custom_ids(update["data"]) == ["demo:count:3"]
        stored = second.http.messages[int(message["id"])]
        assert custom_ids(stored) == ["demo:count:3"]
        assert db.read_text() == "3\n"


@pytest.mark.parametrize(
    ("method", "route", "status", "code", "text", "error"),
    [
        ("POST", r"/callback$", 404, 10062, "Unknown interaction", discord.NotFound),
        ("PATCH", r"/@original$", 404, 10015, "Unknown Webhook", discord.NotFound),
        ("PATCH", r"/@original$", 401, 50027, "Invalid Webhook Token", discord.HTTPException),
    ],
)
async def test_injected_discord_errors_surface_like_discord_py_raises_them(
    tmp_path: Path,
    method: str,
    route: str,
    status: int,
    code: int,
    text: str,
    error: type[discord.HTTPException],
) -> None:
    async with Harness(DemoBot(tmp_path / "db")) as h:
        h.http.fail_next(method, route, status, code, text)
        await h.run(h.slash("hello", {"name": "Ada", "count": 1}))

        [err] = h.errors  # logged by CommandTree.on_error, as in production
        assert isinstance(err, app_commands.CommandInvokeError)
        assert type(err.original) is error
        assert (err.original.status, err.original.code, err.original.text) == (status, code, text)
        [failed] = h.http.calls_to(method, route)
        assert failed.status == status


async def test_interaction_created_20_minutes_ago_is_expired(tmp_path: Path) -> None:
    old = discord.utils.utcnow() - dt.timedelta(minutes=20)
    async with Harness(DemoBot(tmp_path / "db"), RecordingHTTP(enforce_deadlines=True)) as h:
        await h.run(h.slash("hello", {"name": "Ada", "count": 1}, created_at=old))

        assert h.bot.expired == [True]
        [err] = h.errors  # Discord no longer accepts the callback
        assert isinstance(err, app_commands.CommandInvokeError)
        assert isinstance(err.original, discord.NotFound) and err.original.code == 10062


async def test_multipart_files_and_sync_are_recorded(tmp_path: Path) -> None:
    async with Harness(DemoBot(tmp_path / "db", sync=True)) as h:
        [sync] = h.http.calls_to("PUT", rf"^/applications/{APP_ID}/commands$")
        assert sorted(c["name"] for c in sync.json) == ["file", "hello"]

        await h.run(h.slash("file"))
        assert h.errors == []
        [callback] = h.http.calls_to("POST", r"/callback$")
        assert callback.files == ["hello.txt"]
        assert callback.json["type"] == 4
        assert callback.json["data"]["content"] == "here"
        assert callback.json["data"]["flags"] == 64
