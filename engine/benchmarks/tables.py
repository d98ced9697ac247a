"""Quality-benchmark rows as Markdown: one table per section, each with a summary line."""

from __future__ import annotations

import math

import numpy as np

_GAP_DECIMALS = 3
_SECONDS_DECIMALS = 2


def format_rows(rows: list[dict]) -> str:
    """Markdown: one table per section, each followed by a summary line.

    The columns are the row keys in order of first appearance (section aside). The summary gives
    the mean gap, the number solved to optimality, and the max and total time, for whichever of
    `gap_percent`, `optimal` and `seconds` the section has.
    """
    sections: dict[str, list[dict]] = {}
    for row in rows:
        sections.setdefault(str(row.get("section", "")), []).append(row)
    blocks = []
    for section, members in sections.items():
        columns: list[str] = []
        for row in members:
            columns += [key for key in row if key != "section" and key not in columns]
        lines = [f"### {section}", ""] if section else []
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "|".join("---" for _ in columns) + "|")
        for row in members:
            lines.append("| " + " | ".join(_cell(key, row.get(key)) for key in columns) + " |")
        lines += ["", _summary(members)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _cell(key: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return str(value)
        if key.endswith("_percent"):
            return f"{value:.{_GAP_DECIMALS}f}"
        if key.endswith("seconds"):
            return f"{value:.{_SECONDS_DECIMALS}f}"
        if key.endswith("ratio"):
            return f"{value:.1f}"
        return f"{value:g}"
    return str(value)


def _summary(rows: list[dict]) -> str:
    parts = [f"{len(rows)} instances"]
    gaps = [row["gap_percent"] for row in rows if row.get("gap_percent") is not None]
    if gaps:
        parts.append(f"mean gap {np.mean(gaps):.{_GAP_DECIMALS}f}%")
        parts.append(f"max gap {np.max(gaps):.{_GAP_DECIMALS}f}%")
    solved = [row["optimal"] for row in rows if row.get("optimal") is not None]
    if solved:
        parts.append(f"{sum(bool(s) for s in solved)} of {len(solved)} solved to optimality")
    feasible = [row["feasible"] for row in rows if row.get("feasible") is not None]
    if feasible:
        parts.append(f"{sum(bool(f) for f in feasible)} of {len(feasible)} feasible")
    seconds = [row["seconds"] for row in rows if row.get("seconds") is not None]
    if seconds:
        parts.append(f"max time {max(seconds):.{_SECONDS_DECIMALS}f} s")
        parts.append(f"total time {sum(seconds):.{_SECONDS_DECIMALS}f} s")
    return "**Summary:** " + ", ".join(parts) + "."
