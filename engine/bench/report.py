"""The bench's side-by-side table, as Arrow (one row per case) and as Markdown."""

from __future__ import annotations

import dataclasses
import json
import math

import pyarrow as pa

from engine.bench.case import Row

SCHEMA = pa.schema(
    [
        ("case", pa.string()),
        ("size", pa.string()),
        ("terrasim_value", pa.float64()),
        ("baseline_value", pa.float64()),
        ("unit", pa.string()),
        ("ratio", pa.float64()),
        ("target", pa.string()),
        ("met", pa.bool_()),
        ("notes", pa.string()),
    ]
)
RATIO_MEANING = (
    "ratio = how many times better terrasim did than the baseline measured in the same run "
    "(baseline ÷ terrasim for times and memory, terrasim ÷ baseline for rates and hypervolume)"
)


def bench_table(rows: list[Row], environment: dict) -> pa.Table:
    """One row per case; the environment (machine, load, versions) in the schema metadata."""
    columns = {f.name: [getattr(r, f.name) for r in rows] for f in dataclasses.fields(Row)}
    metadata = {b"terrasim.bench": json.dumps(environment, sort_keys=True).encode()}
    return pa.table(columns, schema=SCHEMA.with_metadata(metadata))


def bench_markdown(rows: list[Row], environment: dict) -> str:
    """The same table as Markdown, under a header that says where and how it was measured."""
    env = environment
    libraries = ", ".join(f"{k} {v}" for k, v in sorted(env["libraries"].items()))
    lines = [
        f"# terrasim bench ({env['size']})",
        "",
        f"Written by `terrasim bench bench.size={env['size']} bench.repeat={env['repeat']}` "
        f"on {env['started_utc']} (UTC) in {_duration(env['wall_seconds'])}: terrasim "
        f"{env['terrasim_version']}, git {env['git_commit'][:12]}; {env['cpu_count']} CPUs, "
        f"{env['numba_threads']} Numba threads; Python {env['python']} on {env['platform']}.",
        "",
        f"Load average (1, 5, 15 min): {_loads(env['load_average_start'])} at the start, "
        f"{_loads(env['load_average_end'])} at the end; each case notes the 1-minute load "
        "when it finished. Times are the best of the rounds.",
        "",
        f"Libraries: {libraries}.",
        "",
        RATIO_MEANING + "; targets from the issues are judged at full size only.",
        "",
        "| case | size | terrasim | baseline | unit | ratio | target | met | notes |",
        "|---|---|---:|---:|---|---:|---|---|---|",
    ]
    for r in rows:
        met = {True: "yes", False: "**no**", None: "—"}[r.met]
        cells = [
            r.case,
            r.size,
            _number(r.terrasim_value),
            _number(r.baseline_value),
            r.unit,
            _ratio(r.ratio),
            r.target or "—",
            met,
            r.notes,
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _ratio(value: float) -> str:
    return f"{value:.1f}×" if value >= 10 else f"{value:.2f}×"


def _loads(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values) if values else "n/a"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"
