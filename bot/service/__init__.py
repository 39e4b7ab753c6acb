"""The Discord-free service: admission, generation flow, feedback, delivery and privacy.

``core.MuseService`` is the one façade adapters (the Discord cog, the CLI) call. Behind it:
``types`` (the plain data it hands out: ``Origin``, ``PendingJob``, ``Progress``, ``Delivery``),
``work`` (per-kind rows and outputs), ``execution`` (running a batch on the model worker and
judging images), ``delivery`` (a finished job's shown state from stored rows), ``feedback``
(edits, picks, consent) and ``privacy`` (deleting a member's data).

May import ``bot.store``, ``bot.review``, ``bot.ops.metrics``, ``bot.config``, ``bot.errors``,
``generators`` and ``moderation``; never ``discord`` or ``bot.discord``.
"""
