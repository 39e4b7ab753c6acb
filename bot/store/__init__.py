"""SQLite storage through aiosqlite: schema, migrations, and every query Muse makes.

May import only the standard library and aiosqlite; everything else in ``bot`` builds on it.
"""
