"""SQLite storage through aiosqlite: the schema, its migrations, and the shared connection.

Owns the database file: ``connection`` (open, pragmas, migrate, the write lock), ``schema``,
``records`` (row dataclasses) and the query groups ``jobs``, ``votes`` and ``members``, joined
as ``storage.Storage``, the one object callers use. May import only the standard library and
aiosqlite; everything else in ``bot`` builds on it.
"""
