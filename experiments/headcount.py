"""`terrasim headcount`: a sweep over headcount, each design optimised and stress-tested.

For each headcount change (headcount.min..max, or one headcount.delta per multirun job) reps are
added or removed (engine/staffing.py), the territories re-optimised and every design simulated
under common random numbers; the curve goes to headcount.arrow.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import numpy as np
import pyarrow as pa
from omegaconf import DictConfig

from engine.cli import experiment
from engine.data import load_problem
from engine.designs import NamedDesign, designs_table
from engine.errors import TerrasimError
from engine.model import LEAVING, Instance
from engine.optimize import Design, optimize, solver_settings_from_config
from engine.parallel import runner_from_config
from engine.problem import Problem, build_problem
from engine.report import write_report
from engine.runs import Run
from engine.simulation import (
    StressResult,
    sim_params_from_config,
    simulate_designs,
)
from engine.staffing import StaffingChange, change_headcount, with_empty_seats
from engine.stress import labelled_tables, print_summary

HEADCOUNT_KEYS = ("min", "max", "delta")
OVER_CAPACITY_RULE = (
    "the largest headcount in the sweep whose optimised design leaves some territory's workload "
    "above its rep's capacity (W_j > capacity_j: the simulation loses coverage there)"
)


@dataclasses.dataclass(frozen=True)
class StaffedDesign:
    """One headcount of the sweep: the staffing change, its problem and its optimised design."""

    change: StaffingChange
    problem: Problem
    design: Design

    @property
    def headcount(self) -> int:
        """Reps who stay (not `leaving`)."""
        return int((self.problem.instance.reps.status != LEAVING).sum())

    @property
    def label(self) -> str:
        """How the design is named in every table."""
        return f"{self.headcount} reps ({self.change.delta:+d})"


def headcount_deltas(cfg: Any) -> list[int]:
    """The headcount changes to run: [delta] when `delta` is set, else min..max ascending.

    Raises
    ------
    TerrasimError
        An unknown key, a value that is not a whole number, or min > max.
    """
    values = {str(k): v for k, v in (cfg or {}).items()}
    unknown = sorted(set(values) - set(HEADCOUNT_KEYS))
    if unknown:
        raise TerrasimError(f"headcount: unknown key(s) {unknown}; known: {list(HEADCOUNT_KEYS)}")

    def whole(name: str) -> int:
        value = values.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TerrasimError(f"headcount.{name} must be a whole number of reps, got {value!r}")
        return value

    if values.get("delta") is not None:
        return [whole("delta")]
    low, high = whole("min"), whole("max")
    if low > high:
        raise TerrasimError(f"headcount.min ({low}) must not exceed headcount.max ({high})")
    return list(range(low, high + 1))


def stress_headcounts(
    base: Instance,
    staffed: list[StaffedDesign],
    sim_cfg: Any,
    seed: int,
    runner: Any,
    n_seats: int,
) -> StressResult:
    """Simulate today's design and each headcount's design under common random numbers.

    Designs of different headcounts have different reps, and the scenario model reads the reps'
    status (new reps ramp, targets are shares of the staying reps' capacity), so one instance
    cannot hold them all. Each headcount is simulated in its own instance instead, with the same
    seed, every instance padded with empty seats to `n_seats` reps: a scenario's draws depend on
    the seed, the scenario index and the sizes alone, so scenario k is the same market, the same
    deals and the same rep departures for every headcount. Row 0 is today's design with today's
    reps (the status quo), the rest follow `staffed`.
    """
    params = sim_params_from_config(sim_cfg)
    run = {
        "params": params,
        "n_scenarios": int(sim_cfg.get("scenarios", 2000)),
        "seed": int(seed),
        "batch_size": int(sim_cfg.get("batch_size", 50)),
        "runner": runner,
    }
    today = base.accounts.current_rep
    # simulate_designs takes today's design first; only the status quo keeps its row 0.
    parts = [simulate_designs(with_empty_seats(base, n_seats), today[None, :], **run)]
    for s in staffed:
        print(f"stress test: {s.label}", file=sys.stderr)
        instance = with_empty_seats(s.problem.instance, n_seats)
        result = simulate_designs(instance, np.stack([today, s.design.assignment]), **run)
        parts.append(
            StressResult(result.month_bookings[1:], result.metrics[1:], result.seed, params)
        )
    return StressResult(
        month_bookings=np.concatenate([p.month_bookings for p in parts]),
        metrics=np.concatenate([p.metrics for p in parts]),
        seed=int(seed),
        params=params,
    )


def curve_table(staffed: list[StaffedDesign], summary: pa.Table) -> pa.Table:
    """headcount.arrow: one row per headcount, ascending (summary row 0 is today's design)."""
    rows = summary.to_pylist()[1:]
    columns: dict[str, list] = {name: [] for name in _CURVE_COLUMNS}
    previous = None
    for s, row in zip(staffed, rows, strict=True):
        instance, evaluation = s.problem.instance, s.design.evaluation
        staying = instance.reps.status != LEAVING
        workload = float(instance.accounts.workload.sum())
        capacity = float(instance.reps.capacity[staying].sum())
        over = int(evaluation.metrics["reps_over_capacity"])
        values = {
            "headcount": s.headcount,
            "delta": s.change.delta,
            "design": s.label,
            "added": ";".join(s.change.added),
            "removed": ";".join(s.change.removed),
            "feasible": s.design.feasible,
            "expected_bookings": row["mean"],
            "p5_bookings": row["p5"],
            "p95_bookings": row["p95"],
            "cvar5_bookings": row["cvar5"],
            "bookings_per_rep": row["mean"] / s.headcount,
            "marginal_bookings": None if previous is None else row["mean"] - previous,
            "gain_vs_today": row["gain_vs_today"],
            "prob_beat_today": row["prob_beat_today"],
            "attainment_spread": row["mean_attainment_spread"],
            "share_at_quota": row["mean_share_at_quota"],
            "expected_departures": row["expected_departures"],
            "capacity_utilisation": workload / capacity,
            "utilisation_max": evaluation.metrics["utilisation_max"],
            "reps_over_capacity": over,
            "over_capacity": over > 0,
            **{name: evaluation.objectives[name] for name in _OBJECTIVES},
            "accounts_moved": int(evaluation.metrics["accounts_moved"]),
        }
        for name, value in values.items():
            columns[name].append(value)
        previous = row["mean"]
    types = {
        "headcount": pa.int64(),
        "delta": pa.int64(),
        "reps_over_capacity": pa.int64(),
        "accounts_moved": pa.int64(),
        "feasible": pa.bool_(),
        "over_capacity": pa.bool_(),
        "design": pa.string(),
        "added": pa.string(),
        "removed": pa.string(),
    }
    return pa.table(
        {
            name: pa.array(values, type=types.get(name, pa.float64()))
            for name, values in columns.items()
        }
    )


_OBJECTIVES = ("potential_imbalance", "workload_imbalance", "travel", "disruption")
_CURVE_COLUMNS = (
    "headcount",
    "delta",
    "design",
    "added",
    "removed",
    "feasible",
    "expected_bookings",
    "p5_bookings",
    "p95_bookings",
    "cvar5_bookings",
    "bookings_per_rep",
    "marginal_bookings",
    "gain_vs_today",
    "prob_beat_today",
    "attainment_spread",
    "share_at_quota",
    "expected_departures",
    "capacity_utilisation",
    "utilisation_max",
    "reps_over_capacity",
    "over_capacity",
    *_OBJECTIVES,
    "accounts_moved",
)


def designs_of(staffed: list[StaffedDesign]) -> pa.Table:
    """designs.arrow: one row per headcount, each against its own team's reps."""
    tables = [
        designs_table(
            s.problem,
            [
                NamedDesign(
                    s.label,
                    s.design.assignment,
                    s.design.evaluation,
                    {
                        "headcount": s.headcount,
                        "delta": s.change.delta,
                        "change": s.change.description,
                        "moves": s.design.moves,
                        "stopped": s.design.stopped,
                    },
                )
            ],
        )
        for s in staffed
    ]
    return pa.concat_tables(tables, promote_options="default")


def over_capacity_headcount(curve: pa.Table) -> int | None:
    """The largest headcount whose optimised design is over capacity; None when none is."""
    headcounts, over = curve["headcount"].to_pylist(), curve["over_capacity"].to_pylist()
    found = [h for h, o in zip(headcounts, over, strict=True) if o]
    return max(found) if found else None


def print_curve(curve: pa.Table, today: dict[str, Any], base_headcount: int) -> None:
    """The curve as a table, today's design for reference, and the over-capacity headcount."""
    print(
        f"{'reps':>5}{'change':>8}{'E[bookings]':>13}{'p5':>11}{'marginal':>11}{'attain.':>9}"
        f"{'util.':>7}{'max util.':>10}{'over cap.':>10}{'feasible':>9}"
    )
    for row in curve.to_pylist():
        marginal = "" if row["marginal_bookings"] is None else _m(row["marginal_bookings"])
        print(
            f"{row['headcount']:>5}{row['delta']:>+8d}{_m(row['expected_bookings']):>13}"
            f"{_m(row['p5_bookings']):>11}{marginal:>11}{row['attainment_spread']:>9.2f}"
            f"{row['capacity_utilisation']:>7.0%}{row['utilisation_max']:>10.0%}"
            f"{row['reps_over_capacity']:>10}{'yes' if row['feasible'] else 'NO':>9}"
        )
    print(
        f"today's design with today's {base_headcount} reps: {_m(today['mean'])} expected, "
        f"p5 {_m(today['p5'])}, attainment spread {today['mean_attainment_spread']:.2f}"
    )
    found = over_capacity_headcount(curve)
    where = f"{found} reps" if found is not None else "none in the sweep"
    print(f"over-capacity headcount: {where} — {OVER_CAPACITY_RULE}")
    print(
        "attain. = mean attainment spread (max - min over reps); util. = total workload / "
        "staying capacity; max util. = the busiest territory; over cap. = territories over capacity"
    )


def _m(value: float) -> str:
    return f"{'-' if value < 0 else ''}${abs(value) / 1e6:,.2f}M"


@experiment("headcount")
def main(cfg: DictConfig, run: Run) -> dict[str, int | float | str]:
    """Optimise and stress-test one design per headcount; write the curve and the designs."""
    deltas = headcount_deltas(cfg.get("headcount"))
    # A headcount too small for the workload is a finding of the sweep, not an error.
    settings = dataclasses.replace(solver_settings_from_config(cfg.solver), raise_infeasible=False)
    # Bad simulation settings fail before any search.
    sim_params_from_config(cfg.sim)
    for key in ("scenarios", "batch_size"):
        if int(cfg.sim.get(key, 1)) < 1:
            raise TerrasimError(f"sim.{key} must be >= 1, got {cfg.sim.get(key)}")
    problem = load_problem(cfg)
    base, seed = problem.instance, int(cfg.seed)
    # Every staffing change first: an impossible one fails the run before any search.
    changes = [change_headcount(base, delta, seed) for delta in deltas]
    staffed = []
    for instance, change in changes:
        staffed_problem = build_problem(instance, problem.objective)
        print(f"headcount {change.delta:+d}: {change.description}", file=sys.stderr)
        design = optimize(staffed_problem, settings, progress=True)
        staffed.append(StaffedDesign(change, staffed_problem, design))

    # The same padding for every job of a multirun whose deltas lie within headcount.max.
    n_seats = base.reps.n_reps + max(0, int(cfg.headcount.max), *deltas)
    runner = runner_from_config(cfg.ray)
    result = stress_headcounts(base, staffed, cfg.sim, seed, runner, n_seats)
    base_headcount = int((base.reps.status != LEAVING).sum())
    labels = [f"today ({base_headcount} reps)", *(s.label for s in staffed)]
    scenarios, summary = labelled_tables(result, labels)
    curve = curve_table(staffed, summary)

    run.write_table("designs", designs_of(staffed))
    run.write_table("headcount", curve)
    run.write_table("scenarios", scenarios)
    run.write_table("summary", summary)
    run.save_config()
    print_summary(summary)
    print_curve(curve, summary.to_pylist()[0], base_headcount)
    print(f"wrote headcount, designs, scenarios and summary to {run.dir}")
    if cfg.report:
        # The report maps the design with the most bookings, for its own team.
        means = curve["expected_bookings"].to_pylist()
        best = staffed[means.index(max(means))]
        report = write_report(
            run.dir,
            problem,
            recommended=(best.label, best.design.assignment),
            organisation=best.problem,
        )
        print(f"report: {report}")
    return _key_results(curve, summary)


def _key_results(curve: pa.Table, summary: pa.Table) -> dict[str, int | float | str]:
    rows = curve.to_pylist()
    results: dict[str, int | float | str] = {
        "designs": len(rows),
        "today_expected_bookings": float(summary["mean"][0].as_py()),
    }
    best = max(rows, key=lambda r: r["expected_bookings"])
    results["best_headcount"] = best["headcount"]
    results["best_expected_bookings"] = best["expected_bookings"]
    found = over_capacity_headcount(curve)
    if found is not None:
        results["over_capacity_headcount"] = found
    if len(rows) == 1:
        row = rows[0]
        for key in ("headcount", "delta", "expected_bookings", "p5_bookings"):
            results[key] = row[key]
        results["attainment_spread"] = row["attainment_spread"]
        results["capacity_utilisation"] = row["capacity_utilisation"]
        results["over_capacity"] = int(row["over_capacity"])
    return results


if __name__ == "__main__":
    main()
