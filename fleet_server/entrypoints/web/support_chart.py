"""Line charts as inline SVG, drawn on the server: no script, no CDN (the console's CSP allows
neither, and the machines it runs on may have no network)."""

from datetime import datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

PARIS = ZoneInfo("Europe/Paris")
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 640, 170, 56, 12, 14, 28


def line_chart(points: list[tuple[datetime, float | None]], title: str, unit: str,
               colour: str, chart_id: str) -> Markup:
    """One series over time; gaps (None) break the line. An empty series says so."""
    values = [(t, v) for t, v in points if v is not None]
    head = (f'<svg id="{escape(chart_id)}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="100%" role="img" aria-label="{escape(title)}" '
            'xmlns="http://www.w3.org/2000/svg">'
            f'<title>{escape(title)}</title>'
            f'<text x="{LEFT}" y="11" font-size="11" fill="#333">{escape(title)} ({unit})'
            '</text>')
    if len(values) < 1:
        return Markup(head + f'<text x="{LEFT}" y="{HEIGHT // 2}" font-size="12" '
                             'fill="#666">Pas encore de mesure</text></svg>')
    t0, t1 = values[0][0].timestamp(), values[-1][0].timestamp()
    low, high = min(v for _, v in values), max(v for _, v in values)
    if high == low:
        low, high = low - 1, high + 1
    span_t = max(t1 - t0, 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: datetime) -> float:
        return LEFT + (t.timestamp() - t0) / span_t * plot_w

    def y(v: float) -> float:
        return TOP + (high - v) / (high - low) * plot_h

    parts = [head]
    for value in (high, (high + low) / 2, low):  # grid and labels
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" '
                     f'y2="{y(value):.1f}" stroke="#ddd"/>'
                     f'<text x="{LEFT - 4}" y="{y(value) + 4:.1f}" font-size="10" '
                     f'text-anchor="end" fill="#555">{value:.0f}</text>')
    for t in (values[0][0], values[-1][0]):
        anchor = "start" if t is values[0][0] else "end"
        parts.append(f'<text x="{x(t):.1f}" y="{HEIGHT - 8}" font-size="10" '
                     f'text-anchor="{anchor}" fill="#555">'
                     f'{t.astimezone(PARIS).strftime("%d/%m %H:%M")}</text>')
    segment: list[str] = []
    segments = [segment]
    for t, v in points:
        if v is None:
            segment = []
            segments.append(segment)
        else:
            segment.append(f"{x(t):.1f},{y(v):.1f}")
    for seg in segments:
        if len(seg) == 1:
            cx, cy = seg[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
        elif seg:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                         f'points="{" ".join(seg)}"/>')
    last_t, last_v = values[-1]
    parts.append(f'<text x="{WIDTH - RIGHT}" y="11" font-size="11" text-anchor="end" '
                 f'fill="{colour}">dernière : {last_v:.0f} {unit}</text></svg>')
    return Markup("".join(parts))
