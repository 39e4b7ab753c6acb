"""Operations: logging, metrics and health, the startup checks (``preflight``), starting the
GGUF engine (``gguf``) and one-line operator errors (``failures``).

Sits below the service: ``bot.service`` may import it, it never imports ``bot.service`` or
``bot.app`` (what builds the service), nor ``discord`` or ``bot.discord``.
"""
