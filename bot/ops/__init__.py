"""Operations: opening and closing Muse's resources, logging, metrics and health.

May import the core and the back-ends; never ``discord`` or ``bot.discord``.
"""
