"""Muse, the application: a Discord adapter (``bot.discord``) over a Discord-free core.

The core is ``bot.service``, ``bot.review``, ``bot.datasets``, ``bot.store``, ``bot.ops``,
``bot.config`` and ``bot.errors``. ``bot.cli`` drives the core and reaches the adapter only
for ``muse run``.
"""
