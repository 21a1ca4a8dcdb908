"""Server-rendered SVG bar charts: no script, no inline style (the CSP stays as it is).

A bar whose count is suppressed has no height: its label ("<5", "n.d.") stands where it would be,
so a chart never shows more than its table.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from markupsafe import Markup

WIDTH, HEIGHT, TOP, BOTTOM, LEFT = 640, 240, 24, 48, 8
BAR_FILL, MASKED_FILL, TEXT_FILL = "#2b5f8a", "#c9d3dd", "#1b1b1b"


def bar_chart(chart_id: str, title: str, labels: Sequence[str], texts: Sequence[str]) -> Markup:
    """A vertical bar chart of shown counts; `texts` are the table's cells (masks included)."""
    numbers = [int(t) if t.isdigit() else None for t in texts]
    top = max([n for n in numbers if n is not None] + [1])
    slot = (WIDTH - LEFT * 2) / max(1, len(labels))
    bar = max(4.0, slot * 0.6)
    plot = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{chart_id}-t" class="chart">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - LEFT}" '
        f'y2="{HEIGHT - BOTTOM}" stroke="{TEXT_FILL}" stroke-width="1"/>',
    ]
    for i, (label, text, number) in enumerate(zip(labels, texts, numbers, strict=True)):
        x = LEFT + i * slot + (slot - bar) / 2
        middle = x + bar / 2
        if number is not None and number > 0:
            height = plot * number / top
            y = HEIGHT - BOTTOM - height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{BAR_FILL}"/>'
            )
        else:
            y = HEIGHT - BOTTOM - 2
            if number is None:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="2" '
                    f'fill="{MASKED_FILL}"/>'
                )
        parts.append(
            f'<text x="{middle:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
            f'font-size="12" fill="{TEXT_FILL}">{escape(text)}</text>'
        )
        parts.append(
            f'<text x="{middle:.1f}" y="{HEIGHT - BOTTOM + 16:.1f}" '
            f'text-anchor="middle" font-size="11" fill="{TEXT_FILL}">'
            f"{escape(label)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it went through escape()
