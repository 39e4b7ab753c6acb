"""The web view's HTML. Every string that comes from members, the models or the database
passes through ``escape`` (``html.escape``, quotes included); charts arrive as finished SVG."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from bot.review.items import CLI_USER_ID, AuditEntry, ReviewItem, actor_name
from bot.service.arena import Standing
from bot.web.queries import QueueDepth


@dataclass(frozen=True)
class Flash:
    """A one-line notice at the top of the page; ``ok`` picks its colour."""

    text: str
    ok: bool = True


@dataclass(frozen=True)
class Dashboard:
    """Everything the main page shows."""

    items: Sequence[ReviewItem]
    pending_total: int
    queue: QueueDepth
    audit: Sequence[AuditEntry]
    charts: Sequence[str]  # finished SVG markup from bot.web.charts
    flash: Flash | None = None
    arena: Sequence[Standing] = ()  # A/B matches between text models (bot.service.arena)


def when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def layout(title: str, body: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        '<link rel="stylesheet" href="/static/muse.css">'
        '<script src="/static/muse.js" defer></script>'
        f"</head><body>{body}</body></html>\n"
    )


def login_page(nonce: str, error: str | None = None) -> str:
    """The one form that takes the token; ``nonce`` is the double-submit CSRF value."""
    problem = f'<p class="flash error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        '<main class="login"><h1>Muse · moderators</h1>'
        f"{problem}"
        '<form method="post" action="/login">'
        f'<input type="hidden" name="csrf" value="{escape(nonce)}">'
        '<label for="token">Web token (MUSE_WEB_TOKEN)</label>'
        '<input id="token" name="token" type="password" autocomplete="off" required autofocus>'
        '<button type="submit">Sign in</button></form>'
        '<p class="hint">Ask the operator who runs Muse for the token.</p></main>'
    )
    return layout("Muse · sign in", body)


def _output(item: ReviewItem) -> str:
    if item.image_path:
        return (
            f'<img class="spoiler" tabindex="0" src="/reviews/{item.review_id}/image" '
            f'alt="held image of review {item.review_id}" width="256">'
        )
    return f'<div class="spoiler text" tabindex="0">{escape(item.text) or "(empty)"}</div>'


def _verdict(item: ReviewItem) -> str:
    verdict = item.verdict
    categories = ", ".join(str(c) for c in verdict.get("categories", [])) or "none"
    scores = ", ".join(f"{k} {float(v):.2f}" for k, v in verdict.get("scores", {}).items())
    text = f"{verdict.get('decision', '?')} · {categories}" + (f" · {scores}" if scores else "")
    if layers := ", ".join(str(layer) for layer in verdict.get("layers", [])):
        text += f" · decided by {layers}"
    return escape(text)


def _reports(item: ReviewItem) -> str:
    if not item.reports:
        return ""
    lines = "".join(
        f"<li>user {user}: {escape(reason) or '<em>no reason</em>'}</li>"
        for user, reason in item.reports
    )
    return f"<dt>Reports ({len(item.reports)})</dt><dd><ul>{lines}</ul></dd>"


ASKED_FIELD = {
    "poem": ("Topic", "topic"),
    "slogan": ("Product", "product"),
    "draw": ("Prompt", "prompt"),
}
UNSHOWN_OPTIONS = {"picture"}  # an internal file key; "from a picture" says it instead


def asked(item: ReviewItem) -> tuple[str, str, str]:
    """What the member typed: (label, their main text, their other options). Muse's own
    instruction to the model (``item.prompt`` for text) stands in only for old jobs whose
    options lack the field."""
    label, key = ASKED_FIELD.get(item.kind, ("Prompt", ""))
    main = item.options.get(key) or item.prompt
    rest = [
        f"{name}: {value}"
        for name, value in item.options.items()
        if value and name != key and name not in UNSHOWN_OPTIONS
        and not (name == "count" and value == "1")
    ]  # fmt: skip
    if item.options.get("picture"):
        rest.append("from a picture")
    return label, main, " · ".join(rest)


def where(item: ReviewItem) -> str:
    """Where the request came from: "CLI" for ``muse try``, else guild, channel and member."""
    if item.guild_id is None and item.channel_id is None:
        return "CLI" if item.requester_id == CLI_USER_ID else f"user {item.requester_id}"
    if item.guild_id is None:
        place = "direct message"
    else:
        place = f"guild {item.guild_name or item.guild_id}"
    channel = f"#{item.channel_name}" if item.channel_name else f"channel {item.channel_id}"
    return f"{place} · {channel} · user {item.requester_id}"


def _item(item: ReviewItem, csrf: str) -> str:
    why = "held by the safety filter" if item.source == "filter" else "reported by members"
    label, main, options = asked(item)
    return (
        f'<article class="item" id="review-{item.review_id}" data-review="{item.review_id}">'
        f"<h3>#{item.review_id} · {escape(item.kind)} · {why}</h3>"
        f'<p class="meta">{escape(where(item))} · {when(item.created_at)}</p><dl>'
        f'<dt>{label}</dt><dd class="prompt">{escape(main)}</dd>'
        + (f'<dt>Options</dt><dd class="options">{escape(options)}</dd>' if options else "")
        + f"<dt>Output</dt><dd>{_output(item)}</dd>"
        f"<dt>Filter</dt><dd>{_verdict(item)}</dd>{_reports(item)}</dl>"
        f'<form method="post" action="/reviews/{item.review_id}" class="decide">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input name="note" maxlength="500" placeholder="Note for the log (optional)"'
        f' aria-label="Note for review {item.review_id}">'
        '<span class="buttons">'
        '<button name="action" value="approve" class="approve">Approve</button>'
        '<button name="action" value="reject" class="reject">Reject</button>'
        "</span></form></article>"
    )


def _audit(entries: Sequence[AuditEntry]) -> str:
    if not entries:
        return '<p class="empty">No moderation decisions yet.</p>'
    rows = "".join(
        f"<tr><td>{when(e.created_at)}</td><td>{e.guild_id if e.guild_id is not None else '—'}"
        f"</td><td>{escape(actor_name(e.actor_id, mention=False))}</td><td>{escape(e.action)}</td>"
        f"<td>{escape(e.target)}</td><td>{escape(e.reason)}</td></tr>"
        for e in entries
    )
    return (
        '<div class="scroll"><table class="audit"><thead><tr><th>when</th><th>guild</th>'
        "<th>who</th><th>action</th><th>target</th><th>note</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


def _arena(standings: Sequence[Standing]) -> str:
    """Each pair of models that met in A/B matches: win rate, 95% interval, comparisons."""
    if not standings:
        return ""
    rows = []
    for s in standings:
        rate, (low, high) = s.win_rate(), s.interval()
        shown = "—" if rate is None else f"{rate:.1%} ({low:.1%} to {high:.1%})"
        rows.append(
            f"<tr><td>{escape(s.model)}</td><td>{escape(s.rival)}</td><td>{shown}</td>"
            f"<td>{s.decided}</td><td>{s.ties}</td></tr>"
        )
    return (
        '<section><h2>Champion and challenger</h2><table class="arena"><thead><tr>'
        "<th>model</th><th>against</th><th>win rate (95% CI)</th><th>comparisons</th>"
        f"<th>ties</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _header(board: Dashboard, csrf: str) -> str:
    return (
        '<header class="top"><h1>Muse · moderators</h1>'
        '<div class="stats">'
        f'<span>pending <b id="pending-total">{board.pending_total}</b></span>'
        f'<span>queued <b id="queue-queued">{board.queue.queued}</b></span>'
        f'<span>running <b id="queue-running">{board.queue.running}</b></span></div>'
        '<form method="post" action="/logout">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<button class="quiet">Sign out</button></form></header>'
    )


def dashboard_page(board: Dashboard, csrf: str) -> str:
    """Pending reviews, then charts, then the audit log."""
    flash = ""
    if board.flash is not None:
        kind = "ok" if board.flash.ok else "error"
        flash = f'<p class="flash {kind}" role="status">{escape(board.flash.text)}</p>'
    items = "".join(_item(item, csrf) for item in board.items)
    if not items:
        items = '<p class="empty" id="nothing-pending">Nothing is waiting for review.</p>'
    shown = len(board.items)
    more = (
        f'<p class="hint">Showing the oldest {shown} of {board.pending_total}.</p>'
        if board.pending_total > shown
        else ""
    )
    body = (
        f"{_header(board, csrf)}<main>{flash}"
        '<p class="flash info" id="news" hidden></p>'
        f'<section><h2>Pending review</h2><div id="pending">{items}</div>{more}</section>'
        f'<section><h2>Activity, last 14 days (UTC)</h2><div class="charts">'
        f"{''.join(board.charts)}</div></section>"
        f"{_arena(board.arena)}"
        f"<section><h2>Moderation log</h2>{_audit(board.audit)}</section></main>"
    )
    return layout("Muse · moderators", body)
