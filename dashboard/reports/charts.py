"""Charts drawn on the server as SVG: no chart library, no script, works inside an embed.

Two shapes cover the reports: stacked bars over time buckets (volumes) and horizontal bars
for categories (rates by country). Colours come from a fixed palette so a series keeps its
colour from one period to the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from django.utils.safestring import SafeString, mark_safe

PALETTE = ["#2456d6", "#1f8a4c", "#c0352b", "#b26a00", "#7b3fc4", "#0f8b8d", "#8a5a44", "#667085"]
WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 44


@dataclass
class Series:
    name: str
    values: list[float]
    color: str = ""


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5, 5 × 10^n)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 0.1
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _fmt(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _legend(series: Sequence[Series], y: int) -> list[str]:
    parts, x = [], LEFT
    for item in series:
        parts.append(
            f'<rect x="{x}" y="{y - 9}" width="10" height="10" rx="2" fill="{item.color}"/>'
        )
        parts.append(f'<text x="{x + 14}" y="{y}" class="legend">{escape(item.name)}</text>')
        x += 22 + 7 * len(item.name)
    return parts


def stacked_bars(
    labels: Sequence[str], series: Sequence[Series], *, title: str, stacked: bool = True
) -> SafeString:
    """Vertical bars, one group per label, one colour per series: stacked (parts of a whole) or
    side by side (quantities to compare, e.g. spend against top-ups)."""
    for index, item in enumerate(series):
        item.color = item.color or PALETTE[index % len(PALETTE)]
    if stacked:
        totals = [sum(float(s.values[i]) for s in series) for i in range(len(labels))]
    else:
        totals = [max((float(s.values[i]) for s in series), default=0) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    grand_total = sum(float(value) for item in series for value in item.values)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)
    bar_w = max(2.0, min(40.0, slot * 0.7))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT + 20}" role="img" '
        f'aria-label="{escape(title)}" class="chart" data-total="{_fmt(grand_total)}">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in range(5):
        value = top * tick / 4
        y = TOP + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{_fmt(value)}</text>'
        )
    label_every = max(1, len(labels) // 12)
    part_w = bar_w if stacked else bar_w / max(len(series), 1)
    for i, label in enumerate(labels):
        x = LEFT + slot * i + (slot - bar_w) / 2
        y = TOP + plot_h
        for n, item in enumerate(series):
            value = float(item.values[i])
            if value <= 0:
                continue
            h = plot_h * value / top
            if stacked:
                y -= h
                bx = x
            else:
                y = TOP + plot_h - h
                bx = x + n * part_w
            parts.append(
                f'<rect x="{bx:.1f}" y="{y:.1f}" width="{part_w:.1f}" height="{h:.1f}" fill="{item.color}">'
                f"<title>{escape(label)} · {escape(item.name)}: {_fmt(value)}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{TOP + plot_h + 16}" class="axis" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    parts += _legend(series, HEIGHT + 12)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every dynamic value above is escaped


def horizontal_bars(
    labels: Sequence[str], values: Sequence[float | Decimal], *, title: str, unit: str = ""
) -> SafeString:
    """One horizontal bar per category, e.g. delivery rate by country."""
    row_h = 22
    height = TOP + row_h * max(len(labels), 1) + 8
    top = _nice_max(max((float(v) for v in values), default=0))
    plot_w = WIDTH - 140 - RIGHT - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, raw) in enumerate(zip(labels, values, strict=True)):
        value = float(raw)
        y = TOP + i * row_h
        w = plot_w * value / top if top else 0
        parts.append(
            f'<text x="132" y="{y + 14}" class="axis" text-anchor="end">{escape(label)}</text>'
        )
        parts.append(
            f'<rect x="140" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" rx="3" fill="{PALETTE[0]}"/>'
        )
        parts.append(
            f'<text x="{146 + w:.1f}" y="{y + 14}" class="axis">{_fmt(value)}{escape(unit)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every dynamic value above is escaped
