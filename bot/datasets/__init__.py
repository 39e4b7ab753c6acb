"""Datasets from members' feedback: export formats, consent rules and rater statistics.

May import ``bot.store``, ``bot.errors`` and ``generators`` types; never Discord or the service.
"""
