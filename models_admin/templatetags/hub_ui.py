"""Template helpers for Hub-UI: query-string links and server-drawn SVG charts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from models_admin.ui.asset_page import Chart
from models_admin.ui.models_list import ModelsQuery

register = template.Library()

WIDTH, HEIGHT = 640, 180
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 12, 12, 24
# Series are told apart by dash pattern and legend text, not by colour alone.
STYLES = [("#2456c7", ""), ("#a15c00", "6 4"), ("#17803d", "2 3")]


def _qs(params: dict[str, str]) -> str:
    return "?" + urlencode(params) if params else "?"


@register.simple_tag
def page_url(query: ModelsQuery, group: str, page: int) -> str:
    """The models page with ``group`` on ``page`` and everything else kept."""
    return _qs(query.params(**{f"{group}-page": page}))


@register.simple_tag
def sort_url(query: ModelsQuery, key: str) -> str:
    """Sort by ``key``; again on the current key flips the direction. Pages restart at 1."""
    descending = query.sort == key and not query.descending
    params = query.params(sort=("-" if descending else "") + key)
    return _qs({k: v for k, v in params.items() if not k.endswith("-page")})


@register.simple_tag
def sort_state(query: ModelsQuery, key: str) -> str:
    """``aria-sort`` value for a column header."""
    if query.sort != key:
        return "none"
    return "descending" if query.descending else "ascending"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(value)


@register.simple_tag
def line_chart(chart: Chart) -> SafeString:
    """An inline SVG line chart of the last hour; gaps where a minute has no value."""
    values = [v for s in chart.series for _, v in s.points if v is not None]
    if not values:
        return mark_safe('<p class="muted">— (no traffic recorded in the last hour)</p>')
    now = timezone.now()
    start = now - timedelta(hours=1)
    top = _nice_max(max(values))
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(at: datetime) -> float:
        return PAD_LEFT + plot_w * min(1.0, max(0.0, (at - start).total_seconds() / 3600))

    def y(v: float) -> float:
        return PAD_TOP + plot_h * (1 - v / top)

    parts: list[str] = []
    for fraction in (0, 0.5, 1):
        gy = PAD_TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}" class="grid"/>'
            f'<text x="{PAD_LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end">{_fmt(top * fraction)}</text>'
        )
    parts.append(f'<text x="{PAD_LEFT}" y="{HEIGHT - 6}">60 min ago</text>')
    parts.append(f'<text x="{WIDTH - PAD_RIGHT}" y="{HEIGHT - 6}" text-anchor="end">now</text>')
    legend: list[str] = []
    for index, series in enumerate(chart.series):
        colour, dash = STYLES[index % len(STYLES)]
        segments: list[list[str]] = [[]]
        for at, v in sorted(series.points, key=lambda p: p[0]):
            if v is None:
                segments.append([])
            else:
                segments[-1].append(f"{x(at):.1f},{y(v):.1f}")
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        for seg in segments:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>')
            elif seg:
                parts.append(
                    f'<polyline points="{" ".join(seg)}" fill="none" stroke="{colour}" stroke-width="2"{dash_attr}/>'
                )
        latest = next(
            (v for _, v in sorted(series.points, key=lambda p: p[0], reverse=True) if v is not None), None
        )
        peak = max((v for _, v in series.points if v is not None), default=None)
        legend.append(
            f'<li><svg width="24" height="8" aria-hidden="true"><line x1="0" x2="24" y1="4" y2="4" '
            f'stroke="{colour}" stroke-width="2"{dash_attr}/></svg> {escape(series.label)}: latest '
            f"{_fmt(latest)} {escape(series.unit)}, peak {_fmt(peak)} {escape(series.unit)}</li>"
        )
    title = escape(chart.title)
    svg = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}" '
        f'preserveAspectRatio="none"><title>{title}</title>{"".join(parts)}</svg>'
        f'<ul class="legend">{"".join(legend)}</ul>'
    )
    # Every interpolated text above is escaped or a number.
    return mark_safe(svg)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"
