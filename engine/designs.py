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

from engine.candidates import candidate_lists
from engine.errors import InputError
from engine.evaluate import Evaluation
from engine.problem import Problem
from kernels.arrays import N_OBJECTIVES, N_RULES, OBJECTIVE_NAMES
from kernels.deltas import shift_delta
from kernels.objectives import N_SUMS, evaluate_design
from kernels.search import design_distances


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


def designs_table(
    problem: Problem, designs: Sequence[NamedDesign], recommended: str | None = None
) -> pa.Table:
    """One row per design: label, objectives, metrics, violations, feasible, assignment.

    Each row carries its accounts' ids (`account_ids`) beside the rep ids (`assignment`), so a
    design is read back by account id whatever the row order of the accounts file
    (`design_from_table`). `recommended` marks the design a run recommends (column
    `recommended`), the one `terrasim export` writes by default.
    """
    account_ids = problem.instance.accounts.ids.tolist()
    rows = []
    for d in designs:
        row = {"design": d.label, **(d.extra or {}), **d.evaluation.row()}
        row["account_ids"] = account_ids
        row["assignment"] = rep_labels(problem, d.assignment)
        if recommended is not None:
            row["recommended"] = d.label == recommended
        rows.append(row)
    # Every key of every row: a key that only later designs carry must not be dropped.
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return pa.table({k: [row.get(k) for row in rows] for k in keys})


def moves_table(problem: Problem, design: NamedDesign) -> pa.Table:
    """Each account whose owner the design changes, with the objective deltas of that change.

    Column `change` says which kind (`change_kinds`): moved, newly_covered or uncovered. The
    metric `accounts_moved` counts the moved and uncovered rows, not the newly covered. The
    deltas are those of the single shift from today's assignment: what moving this
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
        "change": change_kinds(today[moved], design.assignment[moved]).tolist(),
        "potential": acc.potential[moved],
        "workload": acc.workload[moved],
        "relationship_years": acc.relationship_years[moved],
    }
    for k, name in enumerate(OBJECTIVE_NAMES):
        columns[f"delta_{name}"] = deltas[:, k]
    return pa.table(columns)


FARTHEST_SHOWN = 10


def farthest_table(
    problem: Problem, label: str, assignment: np.ndarray, n: int = FARTHEST_SHOWN
) -> pa.Table:
    """The n accounts farthest from their rep, with the nearest rep the rules allow them.

    Columns: design, account_id, account_name, rep_id, km, nearest_allowed_rep, nearest_km
    (road km, DESIGN §3). A far account beside a near allowed rep is what a planner questions
    first; `objective.rules.max_distance_km` bounds it.
    """
    assignment = np.asarray(assignment, dtype=np.int64)
    km = np.zeros(problem.n_accounts)
    design_distances(assignment, problem.accounts, problem.reps, problem.distance, km)
    km[assignment < 0] = -np.inf
    order = np.argsort(-km, kind="stable")[: min(n, int((assignment >= 0).sum()))]
    nearest = candidate_lists(problem, 1, include_current=False)
    acc, ids = problem.instance.accounts, problem.instance.reps.ids
    near = nearest.rep[order, 0]
    return pa.table(
        {
            "design": [label] * order.shape[0],
            "account_id": acc.ids[order].tolist(),
            "account_name": acc.names[order].tolist(),
            "rep_id": [str(ids[j]) for j in assignment[order]],
            "km": km[order],
            "nearest_allowed_rep": [str(ids[j]) if j >= 0 else None for j in near],
            "nearest_km": np.where(near >= 0, nearest.distance[order, 0], np.nan),
        }
    )


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


CHANGES = ("kept", "moved", "newly_covered", "uncovered")


def change_kinds(today: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """What each account's row changes in the CRM: one of `CHANGES` per account.

    kept: same rep as today (or unassigned both times); moved: from one rep to another;
    newly_covered: unassigned today, a rep now; uncovered: a rep today, none now. An account
    counts as moved in the metrics (`accounts_moved`) when it is moved or uncovered.
    """
    kind = np.zeros(assignment.shape[0], dtype=np.int64)
    had, has = today >= 0, assignment >= 0
    kind[had & has & (assignment != today)] = 1
    kind[~had & has] = 2
    kind[had & ~has] = 3
    return np.asarray(CHANGES, dtype=object)[kind]


def assignment_table(problem: Problem, assignment: np.ndarray) -> pa.Table:
    """account_id, rep_id, previous_rep, change: the file a CRM imports (DESIGN §6)."""
    acc = problem.instance.accounts
    return pa.table(
        {
            "account_id": acc.ids.tolist(),
            "rep_id": [r or "" for r in rep_labels(problem, assignment)],
            "previous_rep": [r or "" for r in rep_labels(problem, acc.current_rep)],
            "change": change_kinds(acc.current_rep, assignment).tolist(),
        }
    )


def recommended_label(table: pa.Table, source: str) -> str:
    """The label of the design a designs or frontier table marks as recommended."""
    labels = table.column("design").to_pylist() if "design" in table.column_names else []
    flags = table.column("recommended").to_pylist() if "recommended" in table.column_names else []
    marked = [label for label, flag in zip(labels, flags, strict=True) if flag]
    if not marked:
        raise InputError(
            source,
            "recommended",
            f"marks no design as recommended; name one with design=LABEL; designs: {labels[:20]}",
        )
    return marked[0]


def design_from_table(
    table: pa.Table, source: str, which: str, problem: Problem
) -> tuple[str, np.ndarray]:
    """Pick one design of a designs or frontier table, by label or row number, as rep indices.

    The design is matched to the problem's accounts by account id (column `account_ids`), never
    by row position: the accounts file may list them in any order, but it must hold the same
    accounts, and the reps named must be the problem's.

    Raises
    ------
    InputError
        No such design; a file without account ids; accounts missing from the design or from
        the input (up to 10 of each named); a rep the input does not have.
    """
    for column in ("design", "assignment", "account_ids"):
        if column not in table.column_names:
            what = (
                "no account ids: written by an older terrasim; run it again"
                if column == "account_ids" and "assignment" in table.column_names
                else f"is not a designs or frontier file (no column '{column}')"
            )
            raise InputError(source, column, what)
    labels = table.column("design").to_pylist()
    if which in labels:
        row = labels.index(which)
    elif which.isdigit() and int(which) < len(labels):
        row = int(which)
    else:
        raise InputError(source, "design", f"has no design '{which}'; designs: {labels[:20]}")
    account_ids = table.column("account_ids")[row].as_py()
    rep_ids = table.column("assignment")[row].as_py()
    if len(account_ids) != len(rep_ids):
        raise InputError(source, "account_ids", "and assignment differ in length: a damaged file")
    position = _account_positions(account_ids, source, problem)
    index = {r: j for j, r in enumerate(problem.instance.reps.ids)}
    unknown = [r for r in rep_ids if r is not None and r not in index]
    if unknown:
        raise InputError(
            source, "assignment", f"names reps not in the input: {sorted(set(unknown))[:10]}"
        )
    assignment = np.full(problem.n_accounts, -1, dtype=np.int64)
    assignment[position] = [index[r] if r is not None else -1 for r in rep_ids]
    return labels[row], assignment


def _account_positions(account_ids: list[str], source: str, problem: Problem) -> np.ndarray:
    """Row of each of a design's accounts in the problem, or an error naming the differences."""
    ids = problem.instance.accounts.ids.tolist()
    position = {a: i for i, a in enumerate(ids)}
    extra = [a for a in account_ids if a not in position]
    listed = set(account_ids)
    missing = [a for a in ids if a not in listed]
    if extra or missing or len(listed) != len(account_ids):
        parts = []
        if missing:
            parts.append(f"misses {len(missing):,} account(s) of the input, e.g. {missing[:10]}")
        if extra:
            parts.append(f"has {len(extra):,} account(s) the input lacks, e.g. {extra[:10]}")
        if not parts:
            parts.append("lists an account twice")
        raise InputError(
            source,
            "account_ids",
            "does not hold the input's accounts: " + "; ".join(parts) + " (another instance?)",
        )
    return np.array([position[a] for a in account_ids], dtype=np.int64)
