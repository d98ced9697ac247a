"""Evaluating one design: the five objectives, the reported metrics and the rule violations.

DESIGN §3. The kernels compute the sums; this module names them and derives per-rep metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from engine.problem import Problem
from kernels.arrays import (
    ACCOUNT_COUNT,
    N_OBJECTIVES,
    N_RULES,
    OBJECTIVE_NAMES,
    POTENTIAL,
    RULE_NAMES,
    WORKLOAD,
)
from kernels.objectives import (
    N_SUMS,
    SUM_MAX_DISTANCE,
    SUM_MOVED,
    SUM_MOVED_POTENTIAL,
    SUM_UNASSIGNED,
    evaluate_design,
    objectives_from_sums,
)

# Violations below this are rounding, not a broken rule (they are sums of float terms).
FEASIBILITY_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Evaluation:
    """Objectives, metrics and violations of one design, plus its per-rep figures."""

    objectives: dict[str, float]
    metrics: dict[str, float]
    violations: dict[str, float]
    rep_potential: np.ndarray  # P_j, float64[n_reps]
    rep_workload: np.ndarray  # W_j
    rep_accounts: np.ndarray  # N_j
    rep_potential_change: np.ndarray  # (P_j - P0_j) / P0_j; NaN for a leaving rep or none today

    @property
    def feasible(self) -> bool:
        """Whether every switched-on hard rule holds."""
        return all(v <= FEASIBILITY_TOLERANCE for v in self.violations.values())

    def row(self) -> dict[str, object]:
        """Flat record: objectives, metrics, violations (`violation_<rule>`) and feasibility."""
        record: dict[str, object] = {**self.objectives, **self.metrics}
        record.update({f"violation_{k}": v for k, v in self.violations.items()})
        record["feasible"] = self.feasible
        return record


def evaluate(problem: Problem, rep_of_account: np.ndarray) -> Evaluation:
    """Evaluate a design (rep index per account, -1 unassigned) under the problem's rules."""
    design = np.ascontiguousarray(rep_of_account, dtype=np.int64)
    if design.shape != (problem.n_accounts,):
        raise ValueError(f"design has shape {design.shape}, expected ({problem.n_accounts},)")
    n_measures = len(problem.measure_names)
    totals = np.empty((n_measures, problem.n_reps))
    grand_totals = np.empty(n_measures)
    sums = np.empty(N_SUMS)
    violations = np.empty(N_RULES)
    evaluate_design(
        design,
        problem.accounts,
        problem.reps,
        problem.distance,
        problem.rules,
        totals,
        grand_totals,
        sums,
        violations,
    )
    objectives = np.empty(N_OBJECTIVES)
    objectives_from_sums(sums, grand_totals, objectives)

    reps = problem.reps
    share = reps.target_share
    staying = share > 0
    potential, workload, accounts = totals[POTENTIAL], totals[WORKLOAD], totals[ACCOUNT_COUNT]
    target = share * grand_totals[POTENTIAL]
    ratio = np.divide(potential, target, out=np.zeros_like(potential), where=target > 0)
    utilisation = workload / reps.capacity
    baseline = reps.baseline_potential
    change = np.full(problem.n_reps, np.nan)
    np.divide(potential - baseline, baseline, out=change, where=baseline > 0)
    held = potential[staying] if staying.any() else potential
    counts = accounts[staying] if staying.any() else accounts
    metrics = {
        "accounts_moved": float(sums[SUM_MOVED]),
        "potential_moved": float(sums[SUM_MOVED_POTENTIAL]),
        "accounts_unassigned": float(sums[SUM_UNASSIGNED]),
        "potential_ratio_max": float(ratio[staying].max()) if staying.any() else 0.0,
        "potential_ratio_min": float(ratio[staying].min()) if staying.any() else 0.0,
        "potential_std": float(held.std()),
        "potential_range": float(held.max() - held.min()),
        "utilisation_max": float(utilisation.max()),
        "reps_over_capacity": float((utilisation > 1.0).sum()),
        "distance_max": float(sums[SUM_MAX_DISTANCE]),
        "accounts_per_territory_min": float(counts.min()),
        "accounts_per_territory_max": float(counts.max()),
        "rep_potential_change_max": float(np.nanmax(np.abs(change)))
        if np.isfinite(change).any()
        else 0.0,
    }
    rule_on = problem.rules.on
    return Evaluation(
        objectives=dict(zip(OBJECTIVE_NAMES, objectives.tolist(), strict=True)),
        metrics=metrics,
        violations={name: float(violations[r]) for r, name in enumerate(RULE_NAMES) if rule_on[r]},
        rep_potential=potential.copy(),
        rep_workload=workload.copy(),
        rep_accounts=accounts.copy(),
        rep_potential_change=change,
    )


def evaluation_table(evaluation: Evaluation, rep_ids: np.ndarray, label: str = "today") -> pa.Table:
    """One row: every objective and metric as a column, per-rep figures as list columns."""
    record = {"design": label, **evaluation.row()}
    columns = {k: [v] for k, v in record.items()}
    columns["rep_id"] = [list(rep_ids)]
    columns["rep_potential"] = [evaluation.rep_potential.tolist()]
    columns["rep_workload"] = [evaluation.rep_workload.tolist()]
    columns["rep_accounts"] = [evaluation.rep_accounts.astype(np.int64).tolist()]
    columns["rep_potential_change"] = [evaluation.rep_potential_change.tolist()]
    return pa.table(columns)
