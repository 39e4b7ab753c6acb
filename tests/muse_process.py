"""``muse run`` as its own process, for the tests that stop it with a signal: the real CLI, its
signal handling, its database and discord.py over real sockets to a ``FakeDiscord`` that the
test process serves. Only the text model is scripted (it takes ``MUSE_TEST_DELAY_S``).

Run as ``python -m tests.muse_process`` with ``MUSE_TEST_API_BASE`` and ``MUSE_TEST_GATEWAY``.
"""

from __future__ import annotations

import functools
import os
import sys

import discord
import yarl

import bot.discord.serve
from bot.app import Models, open_service
from bot.cli import main
from bot.config import Settings
from tests.fakes import ScriptedBackend


def scripted_models(settings: Settings) -> Models:
    """What ``load_models`` gives, with the scripted model instead of a real one."""
    return Models(ScriptedBackend(delay_s=float(os.environ["MUSE_TEST_DELAY_S"])), 0.01)


def run() -> int:
    """Point discord.py at the fake Discord, script the model, then run ``muse run``."""
    discord.http.Route.BASE = os.environ["MUSE_TEST_API_BASE"]
    gateway = yarl.URL(os.environ["MUSE_TEST_GATEWAY"])
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway
    scripted = functools.partial(open_service, load=scripted_models)
    vars(bot.discord.serve)["open_service"] = scripted  # serve's one way to build the service
    return main(["run"])


if __name__ == "__main__":
    sys.exit(run())
