"""Result tables of designs (DESIGN §4 explainability, §6 outputs).

designs.arrow: one row per design (objectives, metrics, feasibility, assignment);
moves.arrow: each moved account with from, to and the objective deltas of its move;
transitions.arrow: per rep, what a design gains and loses; assignment.csv for a CRM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from engine.errors import InputError
from engine.evaluate import Evaluation
from engine.problem import Problem
from kernels.arrays import N_OBJECTIVES, N_RULES, OBJECTIVE_NAMES
from kernels.deltas import shift_delta
from kernels.objectives import N_SUMS, evaluate_design


@dataclass(frozen=True)
class NamedDesign:
    """A design with the label it is reported under and its evaluation."""

    label: str
    assignment: np.ndarray  # int64[n_accounts], rep index, -1 unassigned
    evaluation: Evaluation
    extra: dict[str, object] | None = None  # e.g. the budget of an epsilon point


def rep_labels(problem: Problem, assignment: np.ndarray) -> list[str | None]:
    """Rep ids per account (None where unassigned)."""
    ids = problem.instance.reps.ids
    return [ids[j] if j >= 0 else None for j in assignment.tolist()]


def designs_table(problem: Problem, designs: Sequence[NamedDesign]) -> pa.Table:
    """One row per design: label, objectives, metrics, violations, feasible, assignment."""
    rows = []
    for d in designs:
        row = {"design": d.label, **(d.extra or {}), **d.evaluation.row()}
        row["assignment"] = rep_labels(problem, d.assignment)
        rows.append(row)
    # Every key of every row: a key that only later designs carry must not be dropped.
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return pa.table({k: [row.get(k) for row in rows] for k in keys})


def moves_table(problem: Problem, design: NamedDesign) -> pa.Table:
    """Each account the design moves from today's rep, with the objective deltas of that move.

    The deltas are those of the single shift from today's assignment: what moving this
    account alone does to each objective.
    """
    today = np.ascontiguousarray(problem.accounts.current_rep)
    n_measures = len(problem.measure_names)
    totals = np.empty((n_measures, problem.n_reps))
    grand, sums, violations = np.empty(n_measures), np.empty(N_SUMS), np.empty(N_RULES)
    evaluate_design(
        today,
        problem.accounts,
        problem.reps,
        problem.distance,
        problem.rules,
        totals,
        grand,
        sums,
        violations,
    )
    objective_delta, violation_delta = np.empty(N_OBJECTIVES), np.empty(N_RULES)
    moved = np.flatnonzero(design.assignment != today)
    deltas = np.empty((moved.shape[0], N_OBJECTIVES))
    for row, i in enumerate(moved):
        shift_delta(
            np.int64(i),
            np.int64(design.assignment[i]),
            today,
            problem.accounts,
            problem.reps,
            problem.distance,
            problem.rules,
            totals,
            grand,
            sums,
            objective_delta,
            violation_delta,
        )
        deltas[row] = objective_delta
    acc, ids = problem.instance.accounts, problem.instance.reps.ids
    columns = {
        "design": [design.label] * moved.shape[0],
        "account_id": acc.ids[moved].tolist(),
        "account_name": acc.names[moved].tolist(),
        "from_rep": [ids[j] if j >= 0 else None for j in today[moved]],
        "to_rep": [ids[j] if j >= 0 else None for j in design.assignment[moved]],
        "potential": acc.potential[moved],
        "workload": acc.workload[moved],
        "relationship_years": acc.relationship_years[moved],
    }
    for k, name in enumerate(OBJECTIVE_NAMES):
        columns[f"delta_{name}"] = deltas[:, k]
    return pa.table(columns)


def transitions_table(problem: Problem, design: NamedDesign) -> pa.Table:
    """Transition package per rep (DESIGN §4).

    Accounts gained and lost, potential and workload before and after, relationship years
    given up.
    """
    acc, reps = problem.instance.accounts, problem.instance.reps
    today, new = acc.current_rep, design.assignment
    n = reps.n_reps
    moved = today != new
    lost_from = today[moved & (today >= 0)]
    gained_by = new[moved & (new >= 0)]

    def per_rep(index: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(index, weights=weights, minlength=n)

    held_before, held_after = today >= 0, new >= 0
    return pa.table(
        {
            "design": [design.label] * n,
            "rep_id": reps.ids.tolist(),
            "rep_name": reps.names.tolist(),
            "accounts_before": per_rep(today[held_before]).astype(np.int64),
            "accounts_after": per_rep(new[held_after]).astype(np.int64),
            "accounts_gained": per_rep(gained_by).astype(np.int64),
            "accounts_lost": per_rep(lost_from).astype(np.int64),
            "potential_before": per_rep(today[held_before], acc.potential[held_before]),
            "potential_after": per_rep(new[held_after], acc.potential[held_after]),
            "workload_before": per_rep(today[held_before], acc.workload[held_before]),
            "workload_after": per_rep(new[held_after], acc.workload[held_after]),
            "relationship_years_given_up": per_rep(
                lost_from, acc.relationship_years[moved & (today >= 0)]
            ),
        }
    )


def assignment_table(problem: Problem, assignment: np.ndarray) -> pa.Table:
    """account_id, rep_id, moved: the file a CRM imports (DESIGN §6)."""
    acc = problem.instance.accounts
    return pa.table(
        {
            "account_id": acc.ids.tolist(),
            "rep_id": [r or "" for r in rep_labels(problem, assignment)],
            "moved": (assignment != acc.current_rep) & (acc.current_rep >= 0),
        }
    )


def design_from_table(
    table: pa.Table, source: str, which: str, problem: Problem
) -> tuple[str, np.ndarray]:
    """Pick one design of a designs or frontier table, by label or row number, as rep indices."""
    if "assignment" not in table.column_names or "design" not in table.column_names:
        raise InputError(source, "assignment", "is not a designs or frontier file (no assignment)")
    labels = table.column("design").to_pylist()
    if which in labels:
        row = labels.index(which)
    elif which.isdigit() and int(which) < len(labels):
        row = int(which)
    else:
        raise InputError(source, "design", f"has no design '{which}'; designs: {labels[:20]}")
    rep_ids = table.column("assignment")[row].as_py()
    if len(rep_ids) != problem.n_accounts:
        raise InputError(
            source,
            "assignment",
            f"has {len(rep_ids)} accounts but the input has {problem.n_accounts}: "
            "another instance?",
        )
    index = {r: j for j, r in enumerate(problem.instance.reps.ids)}
    unknown = [r for r in rep_ids if r is not None and r not in index]
    if unknown:
        raise InputError(
            source, "assignment", f"names reps not in the input: {sorted(set(unknown))[:10]}"
        )
    assignment = np.array([index[r] if r is not None else -1 for r in rep_ids], dtype=np.int64)
    return labels[row], assignment
