"""Muse, the application: a Discord adapter (``bot.discord``) over a Discord-free core.

The core is ``bot.service``, ``bot.review``, ``bot.datasets``, ``bot.store``, ``bot.ops``,
``bot.config`` and ``bot.errors``. ``bot.app`` builds the service (database, models, queue);
``bot.cli`` drives it and reaches the adapter only for ``muse run``.
"""
