"""LP construction (DESIGN §4): the linear objectives under the linear hard rules, rounded.

Under a tight balance band, shifts and swaps from today stall: passing potential along a
chain of reps leaves the band's violation flat, so no single move pays. The LP relaxation
of the assignment over each account's candidate reps moves everything at once. A basic
optimum splits at most one account per binding rule row, so rounding each account to its
largest share leaves a few small violations, which the local search then repairs.

Modelled: travel, disruption and skill mismatch (linear; the imbalance objectives are
quadratic and left to the search), the unary rules (through the candidate lists), the balance
band, capacity, accounts per territory, the potential change and the disruption budget.
Contiguity is not modelled. Rule rows are elastic at a high price, so an LP that no
assignment within the lists satisfies still solves; its lists are then widened.

Past `WHOLE_LP_COLUMNS` the LP is solved by column generation: per-rep prices on the rules,
found by a Numba kernel (kernels/prices.py) in the way the LP's duals would price them, rank
each listed rep by its reduced cost; the cheapest start the LP, and the LP's own duals then
call in every listed column that would improve it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import csr_array, hstack, vstack

from engine.candidates import Candidates, candidate_lists
from engine.problem import Problem
from kernels.arrays import (
    DISRUPTION,
    POTENTIAL,
    RULE_BALANCE,
    RULE_CAPACITY,
    RULE_MAX_ACCOUNTS,
    RULE_MAX_MOVED,
    RULE_MAX_MOVED_POTENTIAL,
    RULE_MIN_ACCOUNTS,
    RULE_POTENTIAL_CHANGE,
    SKILL_MISMATCH,
    TRAVEL,
    WORKLOAD,
)
from kernels.prices import rule_prices

# Each account's LP list: at least this many reps (a wider choice than the search's lists pays
# under a band: the optimum sends some accounts past their nearest reps).
MIN_CANDIDATES = 16
# Up to this many columns (accounts × list length) the LP takes the whole lists.
WHOLE_LP_COLUMNS = 100_000
# Past it, the LP starts from this many columns (or two per account if more), the listed reps
# of least reduced cost under rule prices (`_priced_columns`), and columns join while the LP's
# duals ask for them (`_generate_columns`). On 20,000 × 100 under a ±5 % band that reached the
# whole lists' optimum with 63,584 of 320,000 columns, 16.5 s with the search; the whole LP 70 s.
LP_COLUMNS = 50_000
# `auto` construction uses the LP up to this many listed pairs (accounts × list length).
AUTO_LP_COLUMNS = 400_000
# Lists double while the rules cannot be met, up to every rep or this many listed pairs.
MAX_COLUMNS = 1_000_000
# Price updates of `_priced_columns`; 20,000 × 16 pairs take about 1 s.
PRICE_ROUNDS = 1000
# Rounds of column generation from the priced columns (each solves the LP once).
GENERATION_ROUNDS = 6
_REDUCED_COST = 1e-9  # a column enters below minus this
# Price of one unit of a rule row's violation (rows are scaled to order 1): far above any
# objective, so the LP meets every rule it can.
VIOLATION_PRICE = 1e6
_FEASIBLE = 1e-7  # elastic slack below this counts as none
_WHOLE = 1e-6  # an LP share within this of 0 or 1 counts as whole
# Rounds of diving (fix the split accounts, solve again); on the MILP benchmark 2 rounds
# gave most of what 8 did, at a third of the LP time.
DIVES = 2


@dataclass(frozen=True)
class Relaxation:
    """A rounded LP optimum.

    Attributes
    ----------
    design : int64[n_accounts]
        Each account on the rep with its largest share (rep indices).
    objective : float
        The LP's optimum of the linear objectives (weighted, normalised as the search's score;
        elastic violation not included). With every rep in the lists and no violation, a
        lower bound on them over all designs that meet the modelled rules.
    candidates : int
        List length of the final LP.
    columns : int
        Columns of the final LP: accounts × `candidates`, or fewer when priced down.
    fractional : int
        Accounts the LP optimum split between reps.
    violation : float
        Elastic slack the LP needed (0 when its rules hold within the lists).
    seconds : float
        Wall time, lists and every LP solved included.
    """

    design: np.ndarray
    objective: float
    candidates: int
    columns: int
    fractional: int
    violation: float
    seconds: float


def lp_construction(
    problem: Problem,
    weights: np.ndarray,
    candidates: int = 8,
    whole_columns: int | None = None,
) -> Relaxation:
    """Solve the assignment LP and round it (module docstring).

    Rounding dives: the split accounts are fixed to their largest share and the LP solved
    again, so the whole accounts move to make room (at most `DIVES` rounds). Of the roundings
    seen (every account to its largest share) the one that breaks the rules least is returned,
    for the search to repair.

    Parameters
    ----------
    problem : Problem
    weights : float64[N_OBJECTIVES]
        The search's normalised objective weights (only the linear objectives are read).
    candidates : int
        The search's list length; the LP uses at least `MIN_CANDIDATES`.
    whole_columns : int, optional
        Up to this many columns the LP takes the whole lists (default `WHOLE_LP_COLUMNS`);
        past it, column generation starts from at most this many, or `LP_COLUMNS`.

    Returns
    -------
    Relaxation
        From the first LP that meets its rules, or the last (widest) one tried.
    """
    started = time.perf_counter()
    n_accounts, n_reps = problem.n_accounts, problem.n_reps
    k = min(max(candidates, MIN_CANDIDATES), n_reps)
    whole_columns = WHOLE_LP_COLUMNS if whole_columns is None else whole_columns
    start_columns = max(min(LP_COLUMNS, whole_columns), 2 * n_accounts)
    while True:
        lists = candidate_lists(problem, k)
        model = _model(problem, lists, weights)
        if model.cost.size > max(whole_columns, start_columns):
            start = _priced_columns(problem, lists, model.cost, start_columns)[lists.rep >= 0]
            model, x, violation = _generate_columns(model, start, start_columns)
        else:
            x, violation = _solve(model)
        widest = k >= n_reps or n_accounts * min(2 * k, n_reps) > MAX_COLUMNS
        if violation <= _FEASIBLE or widest:
            break
        k = min(2 * k, n_reps)
    objective = float(model.cost @ x)
    fractional = int(_split_accounts(model, x, n_accounts).sum())
    # Dive: fix each split account to its largest share and solve again, so the whole accounts
    # move to make room for it; keep the rounding (every account to its largest share) that
    # breaks the rule rows least, then costs least.
    fixed = np.zeros(model.cost.size, dtype=bool)
    everyone = np.ones(n_accounts, dtype=bool)
    best = None  # ((broken by, cost), columns)
    for dive in range(DIVES + 1):
        columns = _largest_share_columns(model, x, everyone)
        activity = model.rules[:, columns] @ np.ones(columns.size)
        broken = np.maximum(activity - model.upper, 0.0) + np.maximum(model.lower - activity, 0.0)
        key = (float(broken.sum()), float(model.cost[columns].sum()))
        if best is None or key < best[0]:
            best = (key, columns)
        split = _split_accounts(model, x, n_accounts)
        if key[0] <= _FEASIBLE or not split.any() or violation > _FEASIBLE or dive == DIVES:
            break  # rounded cleanly, or the LP itself breaks a rule: diving cannot mend that
        fixed[_largest_share_columns(model, x, split)] = True
        x, dive_violation = _solve(model, fixed)
        if dive_violation > violation + _FEASIBLE:
            break  # the fixed accounts left the others no room
    design = np.empty(n_accounts, dtype=np.int64)
    design[model.account[best[1]]] = model.rep[best[1]]
    return Relaxation(
        design=design,
        objective=objective,
        candidates=k,
        columns=int(model.cost.size),
        fractional=fractional,
        violation=violation,
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class _Model:
    """The assignment LP over candidate lists: one column per (account, listed rep)."""

    account: np.ndarray  # int64[n_columns]
    rep: np.ndarray  # int64[n_columns]
    cost: np.ndarray  # float64[n_columns]: weighted linear objectives
    rules: csr_array  # [n_rule_rows, n_columns], each row scaled to order 1
    lower: np.ndarray  # float64[n_rule_rows], -inf where unbounded
    upper: np.ndarray  # float64[n_rule_rows], inf where unbounded


def _model(problem: Problem, lists: Candidates, weights: np.ndarray) -> _Model:
    account, slot = np.nonzero(lists.rep >= 0)
    rep = lists.rep[account, slot]
    n_columns = rep.size
    rows, lower, upper = _rule_rows(problem, account, rep, n_columns)
    matrix = vstack(rows, format="csr") if rows else csr_array((0, n_columns))
    return _Model(
        account=account,
        rep=rep,
        cost=_column_cost(problem, lists, account, slot, rep, weights),
        rules=csr_array(matrix),
        lower=np.array(lower, dtype=np.float64),
        upper=np.array(upper, dtype=np.float64),
    )


def _priced_columns(
    problem: Problem, lists: Candidates, column_cost: np.ndarray, n_columns: int
) -> np.ndarray:
    """bool[n_accounts, k]: the listed reps of least reduced cost under rule prices.

    Prices on the per-rep rules (`kernels.prices.rule_prices`) approximate the LP's duals; a
    listed rep whose cost plus priced rule use is far above the account's best would not be in
    the LP's optimum. The `n_columns` cheapest of those differences are kept (more on a tie),
    each account's best among them. `column_cost` is `_model(problem, lists, ...).cost`.
    """
    listed = lists.rep >= 0
    cost = np.full(lists.rep.shape, np.inf)
    cost[listed] = column_cost  # the model's columns run in the lists' row-major order
    rep_rules = _rep_rules(problem)
    inverse_scale = 1.0 / rep_rules.scale
    price = np.zeros_like(rep_rules.lower)
    rule_prices(
        lists.rep,
        cost,
        rep_rules.coefficient,
        inverse_scale,
        rep_rules.lower,
        rep_rules.upper,
        PRICE_ROUNDS,
        _first_price_step(cost, rep_rules.coefficient, inverse_scale),
        price,
    )
    rep = np.where(listed, lists.rep, 0)
    priced = cost + np.einsum("ri,rik->ik", rep_rules.coefficient, (price * inverse_scale)[:, rep])
    priced = np.where(listed, priced, np.inf)
    reduced = priced - priced.min(axis=1, keepdims=True)
    budget = min(n_columns, int(listed.sum()))
    margin = np.partition(reduced[listed], budget - 1)[budget - 1]
    return listed & (reduced <= margin)


def _generate_columns(
    model: _Model, active: np.ndarray, n_columns: int
) -> tuple[_Model, np.ndarray, float]:
    """Solve the LP over the `active` columns of `model`, adding columns while they pay.

    Column generation: the duals of the restricted LP price every column of `model`; a column
    of negative reduced cost would improve it. The most negative (up to a quarter of
    `n_columns` a round) join, until none is left (then the restricted optimum is the whole
    LP's) or after `GENERATION_ROUNDS` solves.

    Returns
    -------
    (the restricted model, its optimum x, its elastic violation)
    """
    active = active.copy()
    n_accounts = int(model.account.max()) + 1
    rounds = 0
    while True:
        columns = np.flatnonzero(active)  # in `model`'s order: account by account, nearest first
        restricted = _Model(
            account=model.account[columns],
            rep=model.rep[columns],
            cost=model.cost[columns],
            rules=model.rules[:, columns],
            lower=model.lower,
            upper=model.upper,
        )
        x, violation, account_dual, rule_dual = _solve_with_duals(restricted, n_accounts)
        rounds += 1
        reduced = model.cost - account_dual[model.account] - model.rules.T @ rule_dual
        entering = np.flatnonzero((reduced < -_REDUCED_COST) & ~active)
        if entering.size == 0 or rounds == GENERATION_ROUNDS:
            return restricted, x, violation
        most = max(n_columns // 4, 1)
        active[entering[np.argsort(reduced[entering], kind="stable")[:most]]] = True


def _first_price_step(
    cost: np.ndarray, coefficient: np.ndarray, inverse_scale: np.ndarray
) -> float:
    """A tenth of the price at which a typical rule use outweighs a typical next-rep cost."""
    runner_up = cost[:, 1] - cost[:, 0] if cost.shape[1] > 1 else np.zeros(0)
    runner_up = runner_up[np.isfinite(runner_up)]
    use = (
        float(np.mean(coefficient.mean(axis=1) * inverse_scale.mean(axis=1)))
        if coefficient.size
        else 0.0
    )
    gap = float(np.median(runner_up)) if runner_up.size else 0.0
    return 0.1 * gap / use if gap > 0 and use > 0 else 1.0


def _solve_with_duals(
    model: _Model, n_accounts: int
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """As `_solve` (no columns fixed), with the duals of the account rows and the rule rows.

    scipy's `milp` returns no duals, so this LP goes through `linprog`; `_solve` stays on
    `milp`, whose optimal vertices the whole-lists path and its records were measured with.
    """
    n, n_rows = model.cost.size, model.lower.size
    # Each rule row: a·x + e⁺ − e⁻ − s = 0 with lower ≤ s ≤ upper, so every row is an equality
    # and its dual is its marginal.
    elastic = _identity(n_rows)
    assign = csr_array((np.ones(n), (model.account, np.arange(n))), shape=(n_accounts, n))
    matrix = vstack(
        [
            hstack([assign, csr_array((n_accounts, 3 * n_rows))]),
            hstack([model.rules, elastic, -elastic, -elastic]),
        ],
        format="csr",
    )
    cost = np.concatenate([model.cost, np.full(2 * n_rows, VIOLATION_PRICE), np.zeros(n_rows)])
    low = np.concatenate([np.zeros(n + 2 * n_rows), model.lower])
    high = np.concatenate([np.ones(n), np.full(2 * n_rows, np.inf), model.upper])
    result = linprog(
        cost,
        A_eq=matrix,
        b_eq=np.concatenate([np.ones(n_accounts), np.zeros(n_rows)]),
        bounds=np.column_stack([low, high]),
        method="highs",
    )
    if result.x is None:  # elastic rows make the LP feasible and bounded: a solver failure
        raise RuntimeError(f"LP construction: HiGHS stopped with '{result.message}'")
    dual = result.eqlin.marginals
    violation = float(result.x[n : n + 2 * n_rows].sum())
    return result.x[:n], violation, dual[:n_accounts], dual[n_accounts:]


def _solve(model: _Model, fixed: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The LP optimum x[n_columns] (`fixed` columns held at 1) and its elastic violation."""
    n, n_rows = model.cost.size, model.lower.size
    n_accounts = int(model.account.max()) + 1 if n else 0
    # Each rule row: lower ≤ a·x + e⁺ − e⁻ ≤ upper, both e ≥ 0 at `VIOLATION_PRICE`.
    elastic = _identity(n_rows)
    assign = csr_array((np.ones(n), (model.account, np.arange(n))), shape=(n_accounts, n))
    matrix = vstack(
        [
            hstack([assign, csr_array((n_accounts, 2 * n_rows))]),
            hstack([model.rules, elastic, -elastic]),
        ],
        format="csr",
    )
    lower = np.concatenate([np.ones(n_accounts), model.lower])
    upper = np.concatenate([np.ones(n_accounts), model.upper])
    cost = np.concatenate([model.cost, np.full(2 * n_rows, VIOLATION_PRICE)])
    low = np.zeros(n + 2 * n_rows)
    if fixed is not None:
        low[:n][fixed] = 1.0
    result = milp(
        cost,
        bounds=Bounds(low, np.r_[np.ones(n), np.full(2 * n_rows, np.inf)]),
        constraints=LinearConstraint(matrix, lower, upper),
    )
    if result.x is None:  # elastic rows make the LP feasible and bounded: a solver failure
        raise RuntimeError(f"LP construction: HiGHS stopped with '{result.message}'")
    return result.x[:n], float(result.x[n:].sum())


def _split_accounts(model: _Model, x: np.ndarray, n_accounts: int) -> np.ndarray:
    """bool[n_accounts]: accounts the LP shares between reps."""
    split = np.zeros(n_accounts, dtype=bool)
    split[model.account[(x > _WHOLE) & (x < 1.0 - _WHOLE)]] = True
    return split


def _largest_share_columns(model: _Model, x: np.ndarray, accounts: np.ndarray) -> np.ndarray:
    """The column of each selected account's largest share (the nearer rep on a tie)."""
    # Columns run account by account, nearest rep first: the first maximum per account.
    order = np.lexsort((np.arange(x.size), -x, model.account))
    first = np.r_[True, model.account[order][1:] != model.account[order][:-1]]
    best = order[first]
    return best[accounts[model.account[best]]]


def _column_cost(
    problem: Problem,
    lists: Candidates,
    account: np.ndarray,
    slot: np.ndarray,
    rep: np.ndarray,
    weights: np.ndarray,
) -> np.ndarray:
    """The linear objectives (DESIGN §3) of putting `account` on `rep`, weighted."""
    acc, reps = problem.accounts, problem.reps
    potential, workload = acc.measures[POTENTIAL], acc.measures[WORKLOAD]
    total_potential = float(potential.sum())
    # Every account is assigned in the LP: travel's denominator is all their workload.
    held = np.isfinite(lists.distance[:, 0])
    total_workload = float(workload[held].sum())
    cost = np.zeros(rep.size)
    if weights[TRAVEL] and total_workload > 0:
        distance = lists.distance[account, slot]
        cost += weights[TRAVEL] * workload[account] * distance / total_workload
    if total_potential > 0:
        current = acc.current_rep[account]
        moved = (current >= 0) & (current != rep)
        cost += weights[DISRUPTION] * moved * potential[account] / total_potential
        mismatch = reps.has_skills[rep] & ~reps.skill[rep, acc.segment[account]]
        cost += weights[SKILL_MISMATCH] * mismatch * potential[account] / total_potential
    return cost


@dataclass(frozen=True)
class _RepRules:
    """The per-rep linear rules that are on, each row scaled to order 1.

    Row r of rep j bounds Σ coefficient[r, i] over j's accounts, divided by scale[r, j], to
    [lower[r, j], upper[r, j]] (±inf where unbounded).
    """

    coefficient: np.ndarray  # float64[n_rows, n_accounts]
    scale: np.ndarray  # float64[n_rows, n_reps], > 0
    lower: np.ndarray  # float64[n_rows, n_reps]
    upper: np.ndarray  # float64[n_rows, n_reps]


def _rep_rules(problem: Problem) -> _RepRules:
    """Balance band, capacity, accounts per territory and potential change, scaled to order 1."""
    acc, reps, rules = problem.accounts, problem.reps, problem.rules
    n_reps = problem.n_reps
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def per_rep(value: np.ndarray, scale: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
        safe = np.where(scale > 0, scale, 1.0)
        rows.append(
            (value, safe, np.broadcast_to(low / safe, n_reps), np.broadcast_to(high / safe, n_reps))
        )

    on = rules.on
    staying = reps.target_share > 0
    if on[RULE_BALANCE]:
        for m, tolerance in enumerate(rules.band_tolerance):
            if not np.isfinite(tolerance):
                continue
            measure = acc.measures[m]
            target = reps.target_share * measure.sum()
            # Reps without a target (leaving) are not banded.
            low = np.where(staying, (1.0 - tolerance) * target, -np.inf)
            high = np.where(staying, (1.0 + tolerance) * target, np.inf)
            per_rep(measure, target, low, high)
    if on[RULE_CAPACITY]:
        limit = reps.capacity * (1.0 + rules.capacity_slack)
        per_rep(acc.measures[WORKLOAD], limit, np.full(n_reps, -np.inf), limit)
    if on[RULE_MIN_ACCOUNTS] or on[RULE_MAX_ACCOUNTS]:
        # The minimum binds reps that stay (as in the kernels), the maximum every rep.
        low = np.where(staying & on[RULE_MIN_ACCOUNTS], rules.min_accounts, -np.inf)
        high = np.full(n_reps, rules.max_accounts if on[RULE_MAX_ACCOUNTS] else np.inf)
        per_rep(
            np.ones(problem.n_accounts), np.full(n_reps, max(rules.min_accounts, 1.0)), low, high
        )
    if on[RULE_POTENTIAL_CHANGE]:
        before = reps.baseline_potential
        change = rules.max_potential_change
        low = np.where(before > 0, (1.0 - change) * before, -np.inf)
        high = np.where(before > 0, (1.0 + change) * before, np.inf)
        per_rep(acc.measures[POTENTIAL], before, low, high)
    if not rows:
        empty = np.zeros((0, n_reps))
        return _RepRules(np.zeros((0, problem.n_accounts)), empty, empty, empty)
    return _RepRules(*(np.array(part, dtype=np.float64) for part in zip(*rows, strict=True)))


def _rule_rows(
    problem: Problem, account: np.ndarray, rep: np.ndarray, n_columns: int
) -> tuple[list[csr_array], list[float], list[float]]:
    """Rows of the linear hard rules that are on, each scaled to order 1, with their bounds."""
    acc, rules = problem.accounts, problem.rules
    n_reps = problem.n_reps
    column = np.arange(n_columns)
    rows: list[csr_array] = []
    lower: list[float] = []
    upper: list[float] = []
    rep_rules = _rep_rules(problem)
    for r in range(rep_rules.coefficient.shape[0]):
        value = rep_rules.coefficient[r, account] / rep_rules.scale[r, rep]
        rows.append(csr_array((value, (rep, column)), shape=(n_reps, n_columns)))
        lower.extend(rep_rules.lower[r].tolist())
        upper.extend(rep_rules.upper[r].tolist())
    on = rules.on
    ones = np.ones(n_columns)
    current = acc.current_rep
    stays = current[account] == rep  # columns that keep an account with today's rep
    had_rep = current >= 0
    if on[RULE_MAX_MOVED]:
        # moved = (accounts with a rep today) − Σ x over staying columns ≤ K
        n_had = float(had_rep.sum())
        scale = max(n_had, 1.0)
        rows.append(_single_row(-ones * stays / scale, column))
        lower.append(-np.inf)
        upper.append((rules.max_moved - n_had) / scale)
    if on[RULE_MAX_MOVED_POTENTIAL]:
        potential = acc.measures[POTENTIAL]
        held_potential = float(potential[had_rep].sum())
        scale = max(held_potential, 1.0)
        rows.append(_single_row(-potential[account] * stays / scale, column))
        lower.append(-np.inf)
        upper.append((rules.max_moved_potential - held_potential) / scale)
    return rows, lower, upper


def _single_row(value: np.ndarray, column: np.ndarray) -> csr_array:
    return csr_array((value, (np.zeros(column.size, np.int64), column)), shape=(1, column.size))


def _identity(n: int) -> csr_array:
    return csr_array((np.ones(n), (np.arange(n), np.arange(n))), shape=(n, n))
