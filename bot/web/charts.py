"""Stacked bar charts as inline SVG, rendered on the server (no script, nothing fetched).

Only presentation attributes are used (no ``style``), so the page's Content-Security-Policy
needs no 'unsafe-inline'. Every label is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from bot.web.queries import DailyCounts

WIDTH, HEIGHT = 480, 200
LEFT, RIGHT, TOP, BOTTOM = 34, 8, 30, 24
MAX_X_LABELS = 7


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^k that is at least ``value`` (and at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if factor * step >= value:
                return factor * step
        step *= 10


def _legend(counts: DailyCounts, colours: Mapping[str, str]) -> list[str]:
    parts, x = [], LEFT
    for label, values in counts.series.items():
        text = f"{label} ({sum(values)})"
        parts.append(
            f'<rect x="{x}" y="8" width="10" height="10" fill="{colours[label]}"/>'
            f'<text x="{x + 14}" y="17" font-size="12">{escape(text)}</text>'
        )
        x += 26 + 7 * len(text)
    return parts


def _axes(top: int) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    for value in (0, top // 2, top) if top % 2 == 0 else (0, top):
        y = TOP + plot_h * (1 - value / top)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d0d4da" stroke-width="1"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#5b6470">{value}</text>'
        )
    return parts


def _bars(counts: DailyCounts, colours: Mapping[str, str], top: int) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(counts.days))
    every = max(1, -(-len(counts.days) // MAX_X_LABELS))
    parts = []
    for index, day in enumerate(counts.days):
        x, base = LEFT + index * slot + slot * 0.15, float(TOP + plot_h)
        for label, values in counts.series.items():
            if values[index] == 0:
                continue
            height = plot_h * values[index] / top
            base -= height
            tip = escape(f"{day.isoformat()} · {label}: {values[index]}")
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{slot * 0.7:.1f}" '
                f'height="{height:.1f}" fill="{colours[label]}"><title>{tip}</title></rect>'
            )
        if (len(counts.days) - 1 - index) % every == 0:  # today is always labelled
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 8}" font-size="11" '
                f'text-anchor="middle" fill="#5b6470">{day.strftime("%m-%d")}</text>'
            )
    return parts


def bar_chart(title: str, counts: DailyCounts, colours: Mapping[str, str]) -> str:
    """One chart: a stacked bar per day, a legend with totals, and a y axis to a round top."""
    tallest = max((sum(day) for day in zip(*counts.series.values(), strict=True)), default=0)
    if tallest == 0:  # an axis from 0 to 1 with nothing on it says less than these words
        return (
            f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
            '<p class="empty">no data yet</p></figure>'
        )
    top = _nice_ceiling(tallest)
    body = [*_legend(counts, colours), *_axes(top), *_bars(counts, colours, top)]
    return (
        f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(body)}</svg>'
        "</figure>"
    )
