"""What runs print to the terminal: short, aligned summaries of inputs and results."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from engine.model import LEAVING, NEW, Instance, territory_potential


def describe_instance(instance: Instance) -> str:
    """One screen on an instance: sizes, totals, today's balance, rules-relevant counts."""
    acc, reps = instance.accounts, instance.reps
    today = territory_potential(acc.current_rep, acc.potential, reps.n_reps)
    staying = reps.status != LEAVING
    held = today[staying]
    workload, capacity = acc.workload.sum(), reps.capacity[staying].sum()
    lines = [
        f"instance    {instance.source}",
        f"accounts    {acc.n_accounts:,} in {len(acc.region_names)} regions, "
        f"{len(acc.segment_names)} segments",
        f"reps        {reps.n_reps:,} ({int((reps.status == NEW).sum())} new, "
        f"{int((reps.status == LEAVING).sum())} leaving, {int(reps.specialist.sum())} specialists)",
        f"potential   {money(acc.potential.sum())} total, median account "
        f"{money(float(np.median(acc.potential)))}, largest {money(acc.potential.max())}",
        f"workload    {workload:,.0f} h against {capacity:,.0f} h of capacity "
        f"({workload / capacity:.0%} utilised)"
        if capacity > 0
        else f"workload    {workload:,.0f} h",
        f"today       territory potential {money(held.min())} .. {money(held.max())} "
        f"across {int(staying.sum())} staying reps",
        f"            {int((acc.current_rep < 0).sum()):,} unassigned, "
        f"{int(acc.locked.sum()):,} locked, "
        f"{int((np.diff(acc.barred_ptr) > 0).sum()):,} with barred reps",
    ]
    return "\n".join(lines)


def format_table(rows: Mapping[str, Mapping[str, float]], title: str = "") -> str:
    """Align named columns of numbers: rows maps a metric to {column: value}."""
    columns = list(next(iter(rows.values())).keys()) if rows else []
    width = max([len(k) for k in rows] + [len(title)]) + 2
    out = [f"{title:<{width}}" + "".join(f"{c:>16}" for c in columns)]
    for name, values in rows.items():
        out.append(f"{name:<{width}}" + "".join(f"{_number(values[c]):>16}" for c in columns))
    return "\n".join(out)


def _number(value: float) -> str:
    if isinstance(value, (int, np.integer)) or float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.1f}"
    return f"{value:.4f}"


def format_farthest(farthest: pa.Table) -> str:
    """The farthest assignments (engine.designs.farthest_table) as lines for the console."""
    lines = (
        [f"farthest assignments ({farthest.column('design')[0].as_py()}):"]
        if farthest.num_rows
        else []
    )
    for row in farthest.to_pylist():
        nearest = (
            f"nearest allowed rep {row['nearest_allowed_rep']} at {row['nearest_km']:,.0f} km"
            if row["nearest_allowed_rep"] is not None
            else "no other rep allowed"
        )
        lines.append(
            f"  {row['account_id']:<12} {row['rep_id']:<10} {row['km']:>7,.0f} km  ({nearest})"
        )
    return "\n".join(lines)


def money(value: float) -> str:
    """A sum of money as a planner reads it: $1.23M, $45K, $678."""
    value = float(value)
    if abs(value) >= 1e6:
        return f"${value / 1e6:,.2f}M"
    if abs(value) >= 1e3:
        return f"${value / 1e3:,.0f}K"
    return f"${value:,.0f}"
