"""Stress-testing designs for the experiments: run the simulation, label and print its tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from engine.model import Instance
from engine.simulation import (
    StressResult,
    scenarios_table,
    sim_params_from_config,
    simulate_designs,
    summarise,
)


def stress_tables(
    instance: Instance,
    designs: np.ndarray,
    labels: list[str],
    sim_cfg: Any,
    seed: int,
    runner: Any,
) -> tuple[pa.Table, pa.Table]:
    """Simulate designs (row 0 = today) and return (scenarios, summary) with design labels."""
    params = sim_params_from_config(sim_cfg)
    result = simulate_designs(
        instance,
        designs,
        params,
        n_scenarios=int(sim_cfg.get("scenarios", 2000)),
        seed=int(seed),
        batch_size=int(sim_cfg.get("batch_size", 50)),
        runner=runner,
    )
    return labelled_tables(result, labels)


def labelled_tables(result: StressResult, labels: Sequence[str]) -> tuple[pa.Table, pa.Table]:
    """scenarios.arrow and summary.arrow of a result, designs named by `labels`."""
    return _labelled(scenarios_table(result), labels), _labelled(summarise(result), labels)


def _labelled(table: pa.Table, labels: Sequence[str]) -> pa.Table:
    index = table.column("design").to_numpy()
    named = pa.array([labels[i] for i in index], type=pa.string())
    return table.set_column(0, "design", named).add_column(1, "design_index", pa.array(index))


def print_summary(summary: pa.Table) -> None:
    """Print the per-design summary: bookings distribution, odds of beating today, people."""
    header = (
        f"{'design':<22}{'mean':>12}{'p5':>12}{'p95':>12}{'CVaR5':>12}"
        f"{'P(beat)':>9}{'break-even':>11}{'departures':>11}{'churned':>9}"
    )
    print(header)
    for row in summary.to_pylist():
        beat = "" if row["prob_beat_today"] is None else f"{row['prob_beat_today']:.0%}"
        even = "never" if row["break_even_month"] is None else f"month {row['break_even_month']}"
        print(
            f"{row['design'][:21]:<22}{_m(row['mean']):>12}{_m(row['p5']):>12}{_m(row['p95']):>12}"
            f"{_m(row['cvar5']):>12}{beat:>9}{even:>11}{row['expected_departures']:>11.2f}"
            f"{row['expected_churned_accounts']:>9.1f}"
        )


def _m(value: float) -> str:
    return f"${value / 1e6:,.2f}M"
