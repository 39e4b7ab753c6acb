"""The moderators' web view (``muse web``, or beside ``muse run`` with ``MUSE_WEB_PORT``).

A small aiohttp site over the review desk: pending reviews with Approve/Reject, the audit log,
vote and verdict charts (inline SVG), and queue depth. Decisions go through
``ReviewDesk.decide``, the same code as Discord's review buttons. Discord-free: nothing here
imports ``discord``; the adapter hears of web decisions through ``ReviewDesk.events``.

auth.py     the token, session cookies and CSRF tokens
queries.py  read-only SQL for the charts and the queue depth
charts.py   stacked bar charts as inline SVG
pages.py    HTML pages (every member-supplied string escaped)
app.py      routes, security headers, and the server
"""
