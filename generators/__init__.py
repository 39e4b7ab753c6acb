"""Generation: plain request and result types, the model back-ends, the GPU thread and the queue.

Owns what members ask for (``options``, ``styles``, ``requests``), what the back-ends take and
give (``samples``), the transformers and diffusers back-ends (``text``, ``prompts``, ``image``,
``backend``), fine-tuning (``finetune``), the one model thread (``worker``) and the bounded job
queue (``queue``).

May import the standard library and, inside ``text``, ``image`` and ``finetune`` only (which
callers load lazily), torch, transformers, diffusers and their kin. Never ``bot`` or ``discord``
(tests/test_boundaries.py), nor ``moderation``: plain data in, plain data out.
"""
