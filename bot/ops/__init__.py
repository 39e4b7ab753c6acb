"""Operations: logging, metrics and health.

Sits below the service: ``bot.service`` may import it, it never imports ``bot.service`` or
``bot.app`` (what builds the service), nor ``discord`` or ``bot.discord``.
"""
