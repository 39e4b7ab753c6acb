"""The moderators' review desk: held outputs, decisions, reports and per-guild settings.

May import ``bot.store``, ``bot.errors`` and ``moderation.policy``; never Discord or the service.
"""
