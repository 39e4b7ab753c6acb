"""The Discord adapter: slash commands, persistent buttons, modals and replies.

Owns everything that imports ``discord``. May import the core (``bot.service``, ``bot.review``,
``bot.datasets``, ``bot.store``, ``bot.config``, ``bot.errors``), ``generators`` and ``moderation``;
nothing outside this package may import it, except ``bot.cli`` for ``muse run``.
"""
