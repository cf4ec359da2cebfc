"""Report rendering: CSV, JSON, Markdown, and HTML with inline SVG charts (no plotting library needed)."""

from __future__ import annotations

import csv
import html
import io
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from analytics.errors import ReportQueryError

FORMATS = ("csv", "json", "md", "html")


class Progress:
    """A one-line progress bar on stderr for long exports (silent for short ones or when not a terminal)."""

    def __init__(self, total: int, stream: TextIO | None = None, threshold: int = 10_000) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = total >= threshold
        self._last = -1

    def update(self, done: int) -> None:
        """Show ``done`` of ``total`` rows."""
        if not self.enabled:
            return
        percent = done * 100 // max(self.total, 1)
        if percent != self._last:
            self._last = percent
            bar = "#" * (percent // 4)
            self.stream.write(f"\rexporting [{bar:<25}] {percent:3d}% ({done}/{self.total} rows)")
            if done >= self.total:
                self.stream.write("\n")
            self.stream.flush()


def _csv(rows: Sequence[dict[str, Any]], columns: Sequence[str], progress: Progress) -> str:
    out = io.StringIO()
    names = list(rows[0]) if rows else list(columns)
    if names:
        writer = csv.DictWriter(out, fieldnames=names)
        writer.writeheader()
        for i, row in enumerate(rows, start=1):
            writer.writerow(row)
            if i % 1000 == 0 or i == len(rows):
                progress.update(i)
    return out.getvalue()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") if value else "0"
    return "" if value is None else str(value)


def _markdown(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    names = list(rows[0]) if rows else list(columns)
    if not names:
        return "_no rows_\n"
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_cell(r[n]) for n in names) + " |" for r in rows]
    return "\n".join(lines) + "\n" + ("" if rows else "\n_no rows_\n")


def bar_chart_svg(title: str, points: Sequence[tuple[str, float]], width: int = 640, height: int = 220) -> str:
    """A small bar chart as inline SVG."""
    if not points:
        return f"<p>{html.escape(title)}: no data</p>"
    top = max(v for _, v in points) or 1.0
    bar_w = (width - 60) / len(points)
    bars = []
    for i, (label, value) in enumerate(points):
        h = (height - 60) * value / top
        x, y = 50 + i * bar_w, height - 30 - h
        bars.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar_w - 4, 1):.1f}" height="{h:.1f}" fill="#3b7dd8">'
            f"<title>{html.escape(label)}: {value:.6g}</title></rect>"
            f'<text x="{x + bar_w / 2:.1f}" y="{height - 12}" font-size="9" text-anchor="middle">'
            f"{html.escape(label[:10])}</text>"
        )
    return (
        f"<figure><figcaption>{html.escape(title)} (max {top:.6g})</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
        f'<line x1="48" y1="{height - 30}" x2="{width}" y2="{height - 30}" stroke="#999"/>'
        f"{''.join(bars)}</svg></figure>"
    )


def _html(rows: Sequence[dict[str, Any]], columns: Sequence[str], trends: Sequence[dict[str, Any]], title: str) -> str:
    day_key = "day" if trends and "day" in trends[0] else "hour"
    cost_chart = bar_chart_svg("Cost per day (USD)", [(str(t[day_key])[:10], float(t["cost_usd"])) for t in trends])
    runs_chart = bar_chart_svg("Runs per day", [(str(t[day_key])[:10], float(t["runs"])) for t in trends])
    names = list(rows[0]) if rows else list(columns)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r[n]))}</td>" for n in names) + "</tr>" for r in rows)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:2px 6px}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{cost_chart}{runs_chart}<table><tr>{head}</tr>{body}</table></body></html>"
    )


def render(
    rows: Sequence[dict[str, Any]],
    fmt: str,
    *,
    trends: Sequence[dict[str, Any]] = (),
    title: str = "tradeflow cost report",
    progress_stream: TextIO | None = None,
    columns: Sequence[str] = (),
) -> str:
    """Render report rows in one of :data:`FORMATS`; ``columns`` head a table that has no rows."""
    progress = Progress(len(rows), progress_stream)
    if fmt == "csv":
        return _csv(rows, columns, progress)
    if fmt == "json":
        return json.dumps(list(rows), indent=2, default=str) + "\n"
    if fmt == "md":
        return _markdown(rows, columns)
    if fmt == "html":
        return _html(rows, columns, trends, title)
    raise ReportQueryError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
