"""The Discord-free service: admission, generation flow, feedback, delivery and privacy.

May import ``bot.store``, ``bot.review``, ``bot.ops.metrics``, ``bot.config``, ``bot.errors``,
``generators`` and ``moderation``; never ``discord`` or ``bot.discord``.
"""
