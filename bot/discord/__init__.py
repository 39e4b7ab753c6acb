"""The Discord adapter: slash commands, persistent buttons, modals and replies.

``client`` wires the bot; ``cog`` (/poem, /slogan, /draw), ``views`` and ``feedback_ui`` serve
members; ``review_cards``, ``reports``, ``mod_commands`` and ``permissions`` serve moderators;
``serve`` runs it all for ``muse run``.

Owns everything that imports ``discord``. May import the core (``bot.service``, ``bot.review``,
``bot.datasets``, ``bot.store``, ``bot.ops``, ``bot.config``, ``bot.errors``), ``generators`` and
``moderation``; nothing outside this package may import it, except ``bot.cli``, which imports
``bot.discord.serve`` inside the ``muse run`` command only.
"""
