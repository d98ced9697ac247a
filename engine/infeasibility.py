"""Why a design or a problem breaks the hard rules, in words a planner can act on.

The accounts involved in each broken rule, the amount by which it is broken in the rule's own
units, and the checks made before a search starts (accounts no rep may hold; moves forced by
the team that a disruption budget cannot pay for).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from engine.candidates import blocking_rules, candidate_lists
from engine.console import money
from engine.errors import InfeasibleError
from engine.evaluate import FEASIBILITY_TOLERANCE, Evaluation
from engine.problem import Problem
from kernels.arrays import (
    POTENTIAL,
    RULE_BALANCE,
    RULE_BARRED,
    RULE_CAPACITY,
    RULE_CONTIGUITY,
    RULE_LEAVING,
    RULE_LOCKED,
    RULE_MAX_ACCOUNTS,
    RULE_MAX_DISTANCE,
    RULE_MAX_MOVED,
    RULE_MAX_MOVED_POTENTIAL,
    RULE_MIN_ACCOUNTS,
    RULE_NAMES,
    RULE_POTENTIAL_CHANGE,
    RULE_PROTECTED,
    RULE_REGIONS,
    RULE_SPECIALISTS,
    WORKLOAD,
)
from kernels.search import design_distances

# Rules whose violation counts accounts on a rep the rule forbids them.
_ACCOUNT_RULES = ("locked", "regions", "specialists", "protected", "barred", "leaving")
# Unary rules that can force an account off today's rep (the team or the rules changed).
_FORCING_RULES = (RULE_LEAVING, RULE_REGIONS, RULE_SPECIALISTS, RULE_BARRED, RULE_MAX_DISTANCE)


def describe_violation(rule: str, amount: float) -> str:
    """How much a rule is broken, in its own units (the `violation_<rule>` value, explained)."""
    if rule in _ACCOUNT_RULES:
        return f"{rule}: {amount:,.0f} account(s) on a rep the rule forbids"
    words = {
        "capacity": f"{amount:,.0f} hours of workload over the reps' capacity",
        "balance": f"territories {_percent(amount)} outside the balance band (summed over reps "
        "and measures)",
        "min_accounts": f"{amount:,.0f} account(s) short of the minimum per territory",
        "max_accounts": f"{amount:,.0f} account(s) over the maximum per territory",
        "potential_change": f"rep potential changed {_percent(amount)} beyond the allowed change "
        "(summed over reps)",
        "max_moved": f"{amount:,.0f} account(s) moved over the disruption budget",
        "max_moved_potential": f"{money(amount)} of potential moved over the disruption budget",
        "contiguity": f"{amount:,.0f} detached piece(s) of territory",
        "max_distance": f"{amount:,.0f} account(s) farther from their rep than the max distance",
    }
    return f"{rule}: {words.get(rule, f'{amount:,.4g}')}"


def _percent(share: float) -> str:
    """A share as a percentage, with two significant digits when it is under 0.1%."""
    return f"{share:.1%}" if share >= 1e-3 else f"{share * 100:.2g}%"


def broken_rules(violations: Mapping[str, float]) -> dict[str, float]:
    """The rules a design breaks, beyond the feasibility tolerance, largest first."""
    broken = {k: v for k, v in violations.items() if v > FEASIBILITY_TOLERANCE}
    return dict(sorted(broken.items(), key=lambda kv: -kv[1]))


def broken_rules_lines(problem: Problem, design: np.ndarray, evaluation: Evaluation) -> list[str]:
    """What a planner reads about a design's broken hard rules; empty when every rule holds.

    One line per broken rule, in rule order, the first after "hard rules broken: ": the amount
    in the rule's units and the accounts involved (the first 10 ids).
    """
    head = "hard rules broken: "
    ids = problem.instance.accounts.ids
    lines = []
    for rule, amount in evaluation.violations.items():
        if amount <= FEASIBILITY_TOLERANCE:
            continue
        involved = violating_accounts(problem, design, RULE_NAMES.index(rule))
        text = describe_violation(rule, amount)
        if involved.size:
            shown = ", ".join(str(ids[i]) for i in involved[:10])
            more = f" (and {involved.size - 10:,} more)" if involved.size > 10 else ""
            text += f" — accounts {shown}{more}"
        lines.append((head if not lines else " " * len(head)) + text)
    return lines


def unplaceable_error(problem: Problem, accounts: np.ndarray) -> InfeasibleError:
    """Accounts that no rep may hold: the rule that leaves each without one."""
    blamed = blocking_rules(problem, accounts)
    rule, first = next(iter(blamed.items()))
    ids = problem.instance.accounts.ids
    others = ", ".join(f"{r} ({len(a):,})" for r, a in blamed.items() if r != rule)
    message = f"{len(first):,} account(s) have no rep the rules allow"
    if rule in ("locked", "protected"):
        # The hold keeps them on today's rep, whom another rule forbids them: name that rule.
        held = set(first.tolist())
        forbidding = [
            RULE_NAMES[r]
            for r in _FORCING_RULES
            if problem.rules.on[r]
            and held & set(violating_accounts(problem, problem.accounts.current_rep, r).tolist())
        ]
        if forbidding:
            message += (
                f": {rule} on today's rep, whom the {', '.join(forbidding)} rule(s) forbid them"
            )
    if others:
        message += f"; also under {others}"
    return InfeasibleError(rule, message, [str(ids[i]) for i in first])


def broken_rule_error(
    problem: Problem, design: np.ndarray, evaluation: Evaluation, why: str
) -> InfeasibleError:
    """A design that still breaks hard rules: each rule with its amount, the first's accounts."""
    broken = {k: v for k, v in evaluation.violations.items() if v > FEASIBILITY_TOLERANCE}
    rule = next(iter(broken))
    involved = violating_accounts(problem, design, RULE_NAMES.index(rule))
    ids = problem.instance.accounts.ids
    summary = "; ".join(describe_violation(k, v) for k, v in broken.items())
    return InfeasibleError(
        rule, f"{why} (still broken: {summary})", [str(ids[i]) for i in involved]
    )


def forced_moves(problem: Problem) -> dict[str, np.ndarray]:
    """Accounts that must leave today's rep whatever the design: rule name -> account indices.

    An account on a leaving rep, or on a rep the regions, specialists, barred or max_distance
    rules no longer allow, moves in every feasible design (locked accounts are left to the
    unplaceable check: a lock on a forbidden rep has no design at all). Each account is charged
    to the first rule that forces it.
    """
    today = problem.accounts.current_rep
    on = problem.rules.on
    seen = np.zeros(problem.n_accounts, dtype=bool)
    forced: dict[str, np.ndarray] = {}
    for rule in _FORCING_RULES:
        if not on[rule]:
            continue
        hit = np.zeros(problem.n_accounts, dtype=bool)
        hit[violating_accounts(problem, today, rule)] = True
        hit &= ~seen
        if hit.any():
            forced[RULE_NAMES[rule]] = np.flatnonzero(hit)
            seen |= hit
    return forced


def forced_accounts(problem: Problem) -> np.ndarray:
    """bool[n_accounts]: the accounts of `forced_moves`, whichever rule forces them."""
    forced = np.zeros(problem.n_accounts, dtype=bool)
    for accounts in forced_moves(problem).values():
        forced[accounts] = True
    return forced


def held_accounts(problem: Problem) -> np.ndarray:
    """bool[n_accounts]: accounts the locked or protected rule keeps with today's rep."""
    acc, on = problem.accounts, problem.rules.on
    held = np.zeros(problem.n_accounts, dtype=bool)
    if on[RULE_LOCKED]:
        held |= acc.locked
    if on[RULE_PROTECTED]:
        held |= acc.protected
    return held & (acc.current_rep >= 0)


def check_forced_moves(problem: Problem) -> None:
    """Refuse a disruption budget smaller than the moves the team change forces.

    Raises
    ------
    InfeasibleError
        Under `max_moved` or `max_moved_potential`, naming the forced accounts, how many
        (and how much potential) each rule forces, and the budget.
    """
    rules, on = problem.rules, problem.rules.on
    if not (on[RULE_MAX_MOVED] or on[RULE_MAX_MOVED_POTENTIAL]):
        return
    forced = forced_moves(problem)
    if not forced:
        return
    accounts = np.sort(np.concatenate(list(forced.values())))
    potential = float(problem.instance.accounts.potential[accounts].sum())
    why = ", ".join(f"{len(a):,} under {rule}" for rule, a in forced.items())
    ids = [str(problem.instance.accounts.ids[i]) for i in accounts]
    head = (
        f"{len(accounts):,} account(s) must move whatever the design ({why}: their rep is "
        f"leaving or no longer allowed) and carry {money(potential)} of potential"
    )
    if on[RULE_MAX_MOVED] and len(accounts) > rules.max_moved + FEASIBILITY_TOLERANCE:
        raise InfeasibleError(
            "max_moved",
            f"{head}, but the disruption budget allows {rules.max_moved:,.0f} "
            "(objective.rules.disruption_budget.max_accounts): raise it to at least "
            f"{len(accounts):,}",
            ids,
        )
    if on[RULE_MAX_MOVED_POTENTIAL] and potential > rules.max_moved_potential * (
        1 + FEASIBILITY_TOLERANCE
    ):
        total = float(problem.instance.accounts.potential.sum())
        raise InfeasibleError(
            "max_moved_potential",
            f"{head}, but the disruption budget allows {money(rules.max_moved_potential)} "
            "(objective.rules.disruption_budget.max_potential_share): raise it to at least "
            f"{potential / total:.1%}",
            ids,
        )


def check_before_search(problem: Problem) -> None:
    """Refuse a problem that no design can solve, for reasons known before any search.

    In turn: accounts no rep may hold under the unary rules (what `optimize` refuses before
    it starts), accounts that must keep their rep carrying more workload than that rep's
    capacity (what it would report only after its search), and moves forced by the team change
    beyond a disruption budget.

    Raises
    ------
    InfeasibleError
        Naming the rule and the accounts.
    """
    unplaceable = np.flatnonzero(candidate_lists(problem, k=1).rep[:, 0] < 0)
    if unplaceable.size:
        raise unplaceable_error(problem, unplaceable)
    check_held_capacity(problem)
    check_forced_moves(problem)


def check_held_capacity(problem: Problem) -> None:
    """Refuse reps whose locked (or protected) accounts alone exceed their capacity.

    Those accounts stay with their rep in every design, so the capacity rule cannot hold.

    Raises
    ------
    InfeasibleError
        Under `capacity`, naming the reps, their held workload and capacity, and the accounts.
    """
    acc, reps, rules = problem.accounts, problem.reps, problem.rules
    on = rules.on
    if not on[RULE_CAPACITY]:
        return
    held = held_accounts(problem)
    owner = acc.current_rep[held]
    load = np.bincount(owner, weights=acc.measures[WORKLOAD][held], minlength=problem.n_reps)
    limit = reps.capacity * (1.0 + rules.capacity_slack)
    over = np.flatnonzero(load > limit + FEASIBILITY_TOLERANCE)
    if over.size == 0:
        return
    rep_ids, ids = problem.instance.reps.ids, problem.instance.accounts.ids
    shown = "; ".join(
        f"{rep_ids[j]} {load[j]:,.0f} h against {limit[j]:,.0f} h" for j in over[:5].tolist()
    )
    more = f" (and {over.size - 5} more reps)" if over.size > 5 else ""
    accounts = np.flatnonzero(held & np.isin(acc.current_rep, over))
    kept = "locked or protected" if on[RULE_PROTECTED] else "locked"
    raise InfeasibleError(
        "capacity",
        f"{over.size:,} rep(s) hold more workload in {kept} accounts alone than their capacity "
        f"with {rules.capacity_slack:.0%} slack: {shown}{more} (unlock accounts, raise "
        "capacity or objective.rules.capacity.slack)",
        [str(ids[i]) for i in accounts],
    )


def no_feasible_design_error(
    problem: Problem, designs: Sequence, what: str = "design", cause: str = ""
) -> InfeasibleError:
    """None of a set of designs meets the hard rules: the closest one's broken rules.

    `designs` are engine.designs.NamedDesign; the closest breaks the fewest rules, then by the
    smallest total violation.
    """

    def distance(d) -> tuple[int, float]:
        broken = broken_rules(d.evaluation.violations)
        return len(broken), sum(broken.values())

    closest = min(designs, key=distance)
    return broken_rule_error(
        problem,
        closest.assignment,
        closest.evaluation,
        f"none of the {len(designs):,} {what}s meets every hard rule{cause}; the closest, "
        f"'{closest.label}', breaks them",
    )


def violating_accounts(problem: Problem, design: np.ndarray, rule: int) -> np.ndarray:
    """Accounts involved in breaking one rule in a design (account indices, ascending).

    The accounts on a wrong rep for unary rules; the accounts of the reps that break a
    per-territory rule (capacity, balance, accounts per territory, potential change); the moved
    accounts for a disruption budget; the accounts off their territory's largest connected
    piece for contiguity.
    """
    acc, reps = problem.accounts, problem.reps
    design = np.asarray(design, dtype=np.int64)
    n_reps = problem.n_reps
    held = design >= 0
    rep = np.where(held, design, 0)
    current = acc.current_rep
    moved = (current >= 0) & (design != current)
    if rule == RULE_LOCKED:
        bad = acc.locked & (design != current)
    elif rule == RULE_PROTECTED:
        bad = acc.protected & moved
    elif rule == RULE_REGIONS:
        bad = held & ~reps.region_ok[rep, acc.region]
    elif rule == RULE_SPECIALISTS:
        bad = held & reps.specialist[rep] & ~reps.skill[rep, acc.segment]
    elif rule == RULE_LEAVING:
        bad = held & reps.leaving[rep]
    elif rule == RULE_BARRED:
        owner = np.repeat(np.arange(problem.n_accounts), np.diff(acc.barred_ptr))
        hits = design[owner] == acc.barred_rep
        bad = np.zeros(problem.n_accounts, dtype=bool)
        bad[owner[hits]] = True
    elif rule in (RULE_MAX_MOVED, RULE_MAX_MOVED_POTENTIAL):
        bad = moved
    elif rule == RULE_CONTIGUITY:
        bad = _off_core(design, n_reps, acc.neighbour_ptr, acc.neighbour)
    elif rule == RULE_MAX_DISTANCE:
        km = np.zeros(problem.n_accounts)
        design_distances(design, acc, reps, problem.distance, km)
        bad = held & (km > problem.rules.max_distance)
    else:
        bad_rep = _reps_breaking(problem, design, rule)
        bad = held & bad_rep[rep]
    return np.flatnonzero(bad)


def _reps_breaking(problem: Problem, design: np.ndarray, rule: int) -> np.ndarray:
    """bool[n_reps]: the reps that break a per-territory rule."""
    acc, reps, rules = problem.accounts, problem.reps, problem.rules
    held = design >= 0
    totals = np.stack(
        [np.bincount(design[held], weights=m[held], minlength=problem.n_reps) for m in acc.measures]
    )
    tol = FEASIBILITY_TOLERANCE
    if rule == RULE_CAPACITY:
        return totals[WORKLOAD] > reps.capacity * (1.0 + rules.capacity_slack) + tol
    if rule == RULE_MIN_ACCOUNTS:
        return (totals[2] < rules.min_accounts - tol) & ~reps.leaving
    if rule == RULE_MAX_ACCOUNTS:
        return totals[2] > rules.max_accounts + tol
    if rule == RULE_POTENTIAL_CHANGE:
        base = reps.baseline_potential
        change = np.divide(totals[POTENTIAL], base, out=np.ones_like(base), where=base > 0) - 1.0
        return (base > 0) & (np.abs(change) > rules.max_potential_change + tol)
    if rule == RULE_BALANCE:
        grand = acc.measures.sum(axis=1)
        target = reps.target_share[None, :] * grand[:, None]
        ratio = np.divide(totals, target, out=np.ones_like(totals), where=target > 0)
        banded = np.isfinite(rules.band_tolerance)[:, None] & (target > 0)
        outside = np.abs(ratio - 1.0) > rules.band_tolerance[:, None] + tol
        return (banded & outside).any(axis=0)
    return np.zeros(problem.n_reps, dtype=bool)


def _off_core(
    design: np.ndarray, n_reps: int, ptr: np.ndarray, neighbour: np.ndarray
) -> np.ndarray:
    """Accounts outside the largest connected piece of their territory."""
    n = design.shape[0]
    src = np.repeat(np.arange(n), np.diff(ptr))
    same = (design[src] == design[neighbour]) & (design[src] >= 0)
    graph = csr_matrix((np.ones(int(same.sum())), (src[same], neighbour[same])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    held = design >= 0
    size = np.bincount(label)
    # Per rep, the label of its largest piece (the lowest label on ties).
    core = np.full(n_reps, -1)
    order = np.lexsort((label[held], -size[label[held]]))
    reps_in_order = design[held][order]
    first = np.unique(reps_in_order, return_index=True)[1]
    core[reps_in_order[first]] = label[held][order][first]
    return held & (label != core[np.where(held, design, 0)])
