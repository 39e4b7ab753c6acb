"""The one object callers use: ``Storage`` joins the query groups on one open SQLite file.

All SQL for jobs, outputs, votes and members' data lives in this package as small named methods,
grouped by the tables they touch: ``jobs`` (jobs and outputs), ``votes`` and ``members``
(privacy). ``connection`` opens and migrates the file, ``schema`` holds the migrations and
``records`` the row dataclasses.
"""

from __future__ import annotations

from bot.store.arena import ArenaQueries
from bot.store.jobs import JobQueries
from bot.store.members import MemberQueries
from bot.store.votes import VoteQueries


class Storage(JobQueries, VoteQueries, MemberQueries, ArenaQueries):
    """The database. Open with ``await Storage.open(path)`` or ``async with``."""
