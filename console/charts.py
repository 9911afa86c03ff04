"""Server-rendered SVG charts: axes with units, a <title> on every mark (the browser shows it on hover)
and every mark a link to the request logs behind it. No script, no library, nothing from a CDN."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 520, 190
LEFT, RIGHT, TOP, BOTTOM = 56, 10, 12, 28
COLOURS = ("#2563eb", "#d97706", "#dc2626")


def nice_top(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def fmt(value: float, unit: str) -> str:
    if unit == "$":
        return f"${value:,.4f}".rstrip("0").rstrip(".") if value < 1 else f"${value:,.2f}"
    if unit == "%":
        return f"{_short(value)}%"
    if unit == "ms":
        return f"{value:,.0f} ms" if value >= 10 else f"{_short(value)} ms"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _short(value: float) -> str:
    """Up to two decimals, no trailing zeros (0.25, 0.5, 12.5)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def chart(
    points: Sequence[dict[str, Any]],
    series: Sequence[tuple[str, str]],
    unit: str,
    title: str,
    label: Callable[[dict[str, Any]], str] = lambda p: p["label"],
) -> SafeString:
    """Bars (one series) or lines with dots (several) over `points`; `series` is [(key, name)]."""
    top = nice_top(max((float(p[key]) for p in points for key, _ in series), default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(points), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'data-chart="{escape(title)}">'
    ]
    for i in range(5):  # horizontal grid lines with the axis' values
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value, unit))}</text>'
        )
    every = max(1, math.ceil(len(points) / 8))
    for i, point in enumerate(points):
        if (len(points) - 1 - i) % every == 0:  # counted back from the newest, which is always labelled
            x = LEFT + slot * (i + 0.5)
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(label(point))}</text>'
            )
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>'
    )
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}"/>')

    def y_of(value: float) -> float:
        return TOP + plot_h - plot_h * float(value) / top

    for s, (key, name) in enumerate(series):
        colour = COLOURS[s % len(COLOURS)]
        if len(series) > 1:
            coords = " ".join(
                f"{LEFT + slot * (i + 0.5):.1f},{y_of(p[key]):.1f}" for i, p in enumerate(points)
            )
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>')
        for i, point in enumerate(points):
            hover = escape(
                f"{label(point)} · {name}: {fmt(float(point[key]), unit)} · {point['requests']:,} requests"
            )
            href = escape(point["logs"])
            if len(series) > 1:
                mark = f'<circle class="mark" cx="{LEFT + slot * (i + 0.5):.1f}" cy="{y_of(point[key]):.1f}" r="3.5" fill="{colour}">'
            else:
                height = TOP + plot_h - y_of(point[key])
                mark = (
                    f'<rect class="mark" x="{LEFT + slot * i + slot * 0.15:.1f}" y="{y_of(point[key]):.1f}" '
                    f'width="{max(slot * 0.7, 1):.1f}" height="{max(height, 0.5):.1f}" fill="{colour}">'
                )
            parts.append(
                f'<a href="{href}">{mark}<title>{hover}</title>{mark.split(" ", 1)[0].replace("<", "</")}></a>'
            )
    parts.append("</svg>")
    legend = "".join(
        format_html(
            '<span class="legend-item"><i style="background:{}"></i>{}</span>',
            COLOURS[s % len(COLOURS)],
            name,
        )
        for s, (_, name) in enumerate(series)
    )
    # Every value in `parts` and `legend` went through escape() or format_html above.
    return mark_safe(  # noqa: S308
        format_html(
            '<figure class="chart-box"><figcaption>{} <small>({})</small>{}</figcaption>',
            title,
            unit or "count",
            mark_safe(legend),  # noqa: S308
        )
        + "".join(parts)
        + "</figure>"
    )
