"""Datasets from members' feedback: the SFT, DPO, KTO and raw exports, and rater statistics.

Owns: what leaves the database as a dataset and who may appear in it. ``consent`` (who and
what is never exported), ``snapshot`` (the read-only read, one prompt group at a time),
``pseudonyms`` (keyed hashes for ids and mentions), ``filters``, ``formats`` (one registry of
``Format`` records; one module per format), ``sinks`` (JSONL, Parquet) and ``imagefolder``
(the layouts), ``manifest``, ``export`` (one export end to end) and ``stats``.

May import ``bot.store``, ``generators`` (prompts and request types, never a back-end), aiosqlite,
and lazily pyarrow and Pillow; never Discord, ``bot.service``, ``bot.review`` or the ML stack.
"""
