"""Exact O(1) changes of every objective and rule for a shift or a swap (DESIGN §4).

Only the one or two accounts and the two territories involved are read; nothing is re-summed.
Contiguity is the exception: its delta stays 0 (a move checks it by a bounded search).
`shift_delta` / `swap_delta` give every change; their batch twins `shift_deltas_weighted` /
`swap_deltas_weighted` give the weighted sum the local search ranks moves by; `apply_*` move.
"""

import numpy as np

from kernels.arrays import (
    ACCOUNT_COUNT,
    DISRUPTION,
    POTENTIAL,
    POTENTIAL_IMBALANCE,
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
    RULE_POTENTIAL_CHANGE,
    RULE_PROTECTED,
    RULE_REGIONS,
    RULE_SPECIALISTS,
    SKILL_MISMATCH,
    TRAVEL,
    WORKLOAD,
    WORKLOAD_IMBALANCE,
)
from kernels.geo import account_rep_distance
from kernels.jit import njit
from kernels.objectives import (
    SUM_ASSIGNED_WORKLOAD,
    SUM_MAX_DISTANCE,
    SUM_MISMATCH_POTENTIAL,
    SUM_MOVED,
    SUM_MOVED_POTENTIAL,
    SUM_SQUARES_POTENTIAL,
    SUM_SQUARES_WORKLOAD,
    SUM_TRAVEL,
    SUM_UNASSIGNED,
    band_excess,
    budget_excess,
    inverse,
    inverse_share,
    ratio,
    rule_limits,
    territory_after,
    territory_terms,
)

_NO_TERMS = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

# Rows of the per-candidate scratch of `shift_deltas_weighted`: what is read of rep b.
_SHARE = 0  # s_b
_POTENTIAL = 1  # P_b
_WORKLOAD = 2  # W_b
_COUNT = 3  # N_b
_CAPACITY_LIMIT = 4  # capacity_b · (1 + slack); inf when the rule is off
_MINIMUM = 5  # min accounts; -inf when the rule is off or b is leaving
_BASELINE = 6  # P0_b; 0 when the potential-change rule is off
_DISTANCE = 7  # d(i, b)
_COST = 8  # the per-account terms and the balance band of extra measures, weighted
_FILL = 9  # NaN: out is the computed change; else out (inf: no candidate, 0: own rep)
_VALUE = 10  # out
_N_ROWS = 11


@njit(inline="always")
def _measure_after(m, j, leaver, joiner, measures, totals, count_after):
    """Territory j's total of measure m once `leaver` leaves and `joiner` joins (-1: none)."""
    return territory_after(
        totals[m, j],
        measures[m, leaver] if leaver >= 0 else 0.0,
        measures[m, joiner] if joiner >= 0 else 0.0,
        count_after,
    )


@njit(inline="always")
def _territory_change(
    j,
    leaver,
    joiner,
    measures,
    totals,
    grand_totals,
    inverse_grand_potential,
    inverse_grand_workload,
    share,
    capacity,
    leaving,
    baseline,
    tolerance,
    banding,
    limits,
):
    """Territory j's terms before and after account `leaver` leaves it and `joiner` joins it.

    Either account may be -1 (none). inverse_grand_* are `inverse` of the grand totals of
    potential and workload (taken once by the caller); the rep arrays are RepArrays' fields,
    tolerance and banding the balance rule's, `limits` what `rule_limits` returns. (Arrays,
    not the named tuples: an inlined helper that takes a named tuple pays for every array.)

    Returns
    -------
    tuple
        (old, new, balance): old and new as `territory_terms` gives them, balance the change
        of j's balance-band excess summed over the measures (0 when the rule is off).
    """
    capacity_factor, min_accounts, max_accounts, max_change = limits
    share_j = share[j]
    count = totals[ACCOUNT_COUNT, j]
    count_after = count
    if leaver >= 0:
        count_after -= measures[ACCOUNT_COUNT, leaver]
    if joiner >= 0:
        count_after += measures[ACCOUNT_COUNT, joiner]
    inverse_s = inverse_share(share_j)
    inverse_potential = inverse_s * inverse_grand_potential
    inverse_workload = inverse_s * inverse_grand_workload
    capacity_limit = capacity[j] * capacity_factor
    minimum = -np.inf if leaving[j] else min_accounts
    old = territory_terms(
        count,
        totals[POTENTIAL, j],
        totals[WORKLOAD, j],
        share_j,
        inverse_potential,
        inverse_workload,
        capacity_limit,
        minimum,
        max_accounts,
        baseline[j],
        max_change,
    )
    new = territory_terms(
        count_after,
        _measure_after(POTENTIAL, j, leaver, joiner, measures, totals, count_after),
        _measure_after(WORKLOAD, j, leaver, joiner, measures, totals, count_after),
        share_j,
        inverse_potential,
        inverse_workload,
        capacity_limit,
        minimum,
        max_accounts,
        baseline[j],
        max_change,
    )
    balance = 0.0
    if banding:
        for m in range(measures.shape[0]):
            if not tolerance[m] < np.inf:
                continue  # not banded (band_excess would give 0)
            if m == POTENTIAL:
                inverse_grand = inverse_grand_potential
            elif m == WORKLOAD:
                inverse_grand = inverse_grand_workload
            else:
                inverse_grand = inverse(grand_totals[m])
            inverse_target = inverse_s * inverse_grand
            after = _measure_after(m, j, leaver, joiner, measures, totals, count_after)
            balance += band_excess(after, inverse_target, tolerance[m]) - band_excess(
                totals[m, j], inverse_target, tolerance[m]
            )
    return old, new, balance


@njit(inline="always")
def _record(violation_delta, r, change, add):
    """Write one rule's change into violation_delta, or add it there (`add`)."""
    if add:
        violation_delta[r] += change
    else:
        violation_delta[r] = change


@njit
def _exchange(
    i,
    k,
    b,
    d_ia,
    d_ib,
    d_ka,
    d_kb,
    rep_of_account,
    accounts,
    reps,
    rules,
    totals,
    grand_totals,
    sums,
    violation_delta,
    add,
):
    """Account i goes from its rep a to rep b and, when k >= 0, account k from b to a.

    A shift is k = -1 (a or b may then be -1: unassigned); a swap has a, b >= 0.
    d_xy is the distance from account x to rep y (ignored where the rep is -1).
    Writes each rule's change into violation_delta (adds it there when `add`; contiguity's is
    0, and the two budgets' a difference) and returns the sums after the move:
    (squares_potential, squares_workload, travel, assigned_workload, unassigned, moved,
    moved_potential, mismatch_potential).
    """
    a = rep_of_account[i]
    swap = k >= 0
    measures = accounts.measures
    potential = measures[POTENTIAL]
    current_rep = accounts.current_rep
    segment = accounts.segment
    region = accounts.region
    locked = accounts.locked
    protected = accounts.protected
    barred_ptr = accounts.barred_ptr
    barred_rep = accounts.barred_rep
    share = reps.target_share
    capacity = reps.capacity
    baseline = reps.baseline_potential
    skill = reps.skill
    has_skills = reps.has_skills
    specialist = reps.specialist
    region_ok = reps.region_ok
    leaving = reps.leaving
    on = rules.on
    tolerance = rules.band_tolerance
    banding = on[RULE_BALANCE]
    check_locked = on[RULE_LOCKED]
    check_protected = on[RULE_PROTECTED]
    check_regions = on[RULE_REGIONS]
    check_specialists = on[RULE_SPECIALISTS]
    check_leaving = on[RULE_LEAVING]
    check_barred = on[RULE_BARRED]
    limits = rule_limits(
        on, rules.capacity_slack, rules.min_accounts, rules.max_accounts, rules.max_potential_change
    )
    inverse_grand_potential = inverse(grand_totals[POTENTIAL])
    inverse_grand_workload = inverse(grand_totals[WORKLOAD])

    # Territories: a loses i (gains k), b gains i (loses k).
    old_a = _NO_TERMS
    new_a = _NO_TERMS
    old_b = _NO_TERMS
    new_b = _NO_TERMS
    balance = 0.0
    if a >= 0:
        old_a, new_a, balance_a = _territory_change(
            a,
            i,
            k,
            measures,
            totals,
            grand_totals,
            inverse_grand_potential,
            inverse_grand_workload,
            share,
            capacity,
            leaving,
            baseline,
            tolerance,
            banding,
            limits,
        )
        balance += balance_a
    if b >= 0:
        old_b, new_b, balance_b = _territory_change(
            b,
            k,
            i,
            measures,
            totals,
            grand_totals,
            inverse_grand_potential,
            inverse_grand_workload,
            share,
            capacity,
            leaving,
            baseline,
            tolerance,
            banding,
            limits,
        )
        balance += balance_b
    # Old terms first: when one term makes the whole sum, it cancels exactly.
    squares_potential = ((sums[SUM_SQUARES_POTENTIAL] - old_a[0]) - old_b[0]) + new_a[0] + new_b[0]
    squares_workload = ((sums[SUM_SQUARES_WORKLOAD] - old_a[1]) - old_b[1]) + new_a[1] + new_b[1]

    # Travel: i's and k's distance terms; the assigned workload changes only in a shift.
    workload_i = measures[WORKLOAD, i]
    travel = sums[SUM_TRAVEL]
    assigned_workload = sums[SUM_ASSIGNED_WORKLOAD]
    unassigned = sums[SUM_UNASSIGNED]
    if a >= 0 and b >= 0:
        travel += workload_i * d_ib - workload_i * d_ia
    elif a >= 0:
        travel -= workload_i * d_ia
        assigned_workload -= workload_i
        unassigned += 1.0
    else:
        travel += workload_i * d_ib
        assigned_workload += workload_i
        unassigned -= 1.0
    if swap:
        workload_k = measures[WORKLOAD, k]
        travel += workload_k * d_ka - workload_k * d_kb
    if unassigned == rep_of_account.shape[0]:
        travel = 0.0
        assigned_workload = 0.0

    # Per-account terms of (account, rep) before and after: i at a then b, k at b then a.
    moved = sums[SUM_MOVED]
    moved_potential = sums[SUM_MOVED_POTENTIAL]
    mismatch_potential = sums[SUM_MISMATCH_POTENTIAL]
    locked_change = 0.0
    protected_change = 0.0
    specialists_change = 0.0
    regions_change = 0.0
    leaving_change = 0.0
    barred_change = 0.0
    far_change = 0.0
    distance_limit = rules.max_distance if on[RULE_MAX_DISTANCE] else np.inf
    for q in range(4 if swap else 2):
        x = i if q < 2 else k
        j = (a, b, b, a)[q]
        sign = -1.0 if q % 2 == 0 else 1.0
        current = current_rep[x]
        if current >= 0 and j != current:
            moved += sign
            moved_potential += sign * potential[x]
            if check_protected and protected[x]:
                protected_change += sign
        if check_locked and locked[x] and j != current:
            locked_change += sign
        if j < 0:
            continue
        if (d_ia, d_ib, d_kb, d_ka)[q] > distance_limit:
            far_change += sign
        skilled = skill[j, segment[x]]
        if has_skills[j] and not skilled:
            mismatch_potential += sign * potential[x]
        if check_specialists and specialist[j] and not skilled:
            specialists_change += sign
        if check_regions and not region_ok[j, region[x]]:
            regions_change += sign
        if check_leaving and leaving[j]:
            leaving_change += sign
        if check_barred:
            for e in range(barred_ptr[x], barred_ptr[x + 1]):
                if barred_rep[e] == j:
                    barred_change += sign
                    break
    if moved == 0.0:
        moved_potential = 0.0

    _record(violation_delta, RULE_LOCKED, locked_change, add)
    _record(violation_delta, RULE_PROTECTED, protected_change, add)
    _record(violation_delta, RULE_SPECIALISTS, specialists_change, add)
    _record(violation_delta, RULE_REGIONS, regions_change, add)
    _record(violation_delta, RULE_LEAVING, leaving_change, add)
    _record(violation_delta, RULE_BARRED, barred_change, add)
    _record(violation_delta, RULE_MAX_DISTANCE, far_change, add)
    _record(violation_delta, RULE_CAPACITY, (new_a[2] - old_a[2]) + (new_b[2] - old_b[2]), add)
    _record(violation_delta, RULE_MIN_ACCOUNTS, (new_a[3] - old_a[3]) + (new_b[3] - old_b[3]), add)
    _record(violation_delta, RULE_MAX_ACCOUNTS, (new_a[4] - old_a[4]) + (new_b[4] - old_b[4]), add)
    _record(
        violation_delta, RULE_POTENTIAL_CHANGE, (new_a[5] - old_a[5]) + (new_b[5] - old_b[5]), add
    )
    _record(violation_delta, RULE_BALANCE, balance, add)
    _record(
        violation_delta,
        RULE_MAX_MOVED,
        budget_excess(moved, on[RULE_MAX_MOVED], rules.max_moved)
        - budget_excess(sums[SUM_MOVED], on[RULE_MAX_MOVED], rules.max_moved),
        add,
    )
    _record(
        violation_delta,
        RULE_MAX_MOVED_POTENTIAL,
        budget_excess(moved_potential, on[RULE_MAX_MOVED_POTENTIAL], rules.max_moved_potential)
        - budget_excess(
            sums[SUM_MOVED_POTENTIAL], on[RULE_MAX_MOVED_POTENTIAL], rules.max_moved_potential
        ),
        add,
    )
    _record(violation_delta, RULE_CONTIGUITY, 0.0, add)
    return (
        squares_potential,
        squares_workload,
        travel,
        assigned_workload,
        unassigned,
        moved,
        moved_potential,
        mismatch_potential,
    )


@njit(inline="always")
def _objective_change(after, sums, grand_totals, objective_delta):
    """Objective after minus objective before, from the sums `_exchange` returns."""
    grand_potential = grand_totals[POTENTIAL]
    objective_delta[POTENTIAL_IMBALANCE] = np.sqrt(max(after[0], 0.0)) - np.sqrt(
        max(sums[SUM_SQUARES_POTENTIAL], 0.0)
    )
    objective_delta[WORKLOAD_IMBALANCE] = np.sqrt(max(after[1], 0.0)) - np.sqrt(
        max(sums[SUM_SQUARES_WORKLOAD], 0.0)
    )
    objective_delta[TRAVEL] = ratio(after[2], after[3]) - ratio(
        sums[SUM_TRAVEL], sums[SUM_ASSIGNED_WORKLOAD]
    )
    objective_delta[DISRUPTION] = ratio(after[6], grand_potential) - ratio(
        sums[SUM_MOVED_POTENTIAL], grand_potential
    )
    objective_delta[SKILL_MISMATCH] = ratio(after[7], grand_potential) - ratio(
        sums[SUM_MISMATCH_POTENTIAL], grand_potential
    )


@njit
def shift_delta(
    i,
    b,
    rep_of_account,
    accounts,
    reps,
    distance,
    rules,
    totals,
    grand_totals,
    sums,
    objective_delta,
    violation_delta,
):
    """Exact change of every objective and rule if account i moved to rep b.

    O(n_measures + barred list of i); nothing is re-summed.

    Parameters
    ----------
    i : int64
        Account; it leaves rep_of_account[i] (which may be -1).
    b : int64
        Rep it would join, -1 to unassign it.
    rep_of_account : int64[n_accounts]
    accounts : AccountArrays
    reps : RepArrays
    distance : DistanceArrays
    rules : RuleArrays
    totals, grand_totals, sums
        The current state, as filled by `evaluate_design` and kept by `apply_shift` /
        `apply_swap`.
    objective_delta : float64[N_OBJECTIVES]
        Out: objective after minus objective before.
    violation_delta : float64[N_RULES]
        Out: violation after minus violation before; contiguity's entry stays 0.
    """
    a = rep_of_account[i]
    if a == b:
        objective_delta[:] = 0.0
        violation_delta[:] = 0.0
        return
    d_ia = 0.0 if a < 0 else account_rep_distance(i, a, accounts.xyz, reps.xyz, distance)
    d_ib = 0.0 if b < 0 else account_rep_distance(i, b, accounts.xyz, reps.xyz, distance)
    after = _exchange(
        i,
        -1,
        b,
        d_ia,
        d_ib,
        0.0,
        0.0,
        rep_of_account,
        accounts,
        reps,
        rules,
        totals,
        grand_totals,
        sums,
        violation_delta,
        False,
    )
    _objective_change(after, sums, grand_totals, objective_delta)


@njit
def swap_delta(
    i,
    k,
    rep_of_account,
    accounts,
    reps,
    distance,
    rules,
    totals,
    grand_totals,
    sums,
    objective_delta,
    violation_delta,
):
    """Exact change of every objective and rule if accounts i and k exchanged reps.

    Both must be assigned; two accounts of one territory give zero deltas. Arguments as
    for `shift_delta`.
    """
    a = rep_of_account[i]
    b = rep_of_account[k]
    if a < 0 or b < 0:
        raise ValueError("a swap needs two assigned accounts")
    if a == b:
        objective_delta[:] = 0.0
        violation_delta[:] = 0.0
        return
    account_xyz = accounts.xyz
    rep_xyz = reps.xyz
    after = _exchange(
        i,
        k,
        b,
        account_rep_distance(i, a, account_xyz, rep_xyz, distance),
        account_rep_distance(i, b, account_xyz, rep_xyz, distance),
        account_rep_distance(k, a, account_xyz, rep_xyz, distance),
        account_rep_distance(k, b, account_xyz, rep_xyz, distance),
        rep_of_account,
        accounts,
        reps,
        rules,
        totals,
        grand_totals,
        sums,
        violation_delta,
        False,
    )
    _objective_change(after, sums, grand_totals, objective_delta)


@njit(inline="always")
def _disruption_cost(
    moved_a,
    moved_b,
    potential_i,
    moved,
    moved_potential,
    inverse_potential,
    disruption_before,
    weight_disruption,
    check_moved,
    max_moved,
    moved_excess_before,
    penalty_moved,
    check_moved_potential,
    max_moved_potential,
    moved_potential_excess_before,
    penalty_moved_potential,
):
    """Weighted change of disruption and the two budgets when i's moved state goes a -> b."""
    if moved_b != moved_a:
        if moved_a:
            moved -= 1.0
            moved_potential -= potential_i
        else:
            moved += 1.0
            moved_potential += potential_i
    if moved == 0.0:
        moved_potential = 0.0
    return (
        weight_disruption * (moved_potential * inverse_potential - disruption_before)
        + penalty_moved * (budget_excess(moved, check_moved, max_moved) - moved_excess_before)
        + penalty_moved_potential
        * (
            budget_excess(moved_potential, check_moved_potential, max_moved_potential)
            - moved_potential_excess_before
        )
    )


@njit
def shift_deltas_weighted(
    account_index,
    candidate_rep,
    candidate_distance,
    current_distance,
    rep_of_account,
    accounts,
    reps,
    distance,
    rules,
    totals,
    grand_totals,
    sums,
    objective_weight,
    penalty_weight,
    out,
):
    """Weighted change of shifting accounts to each of their candidate reps, in one call.

    out[t, c] = objective_weight · objective_delta + penalty_weight · violation_delta for
    account i = account_index[t] moving to rep candidate_rep[i, c]: the dot product of the
    weights with what `shift_delta` reports, read off the same state. This is the local
    search's inner loop: the distances come from a candidate cache and the work on i's
    own territory is done once for all its candidates. One call per batch, not per pair:
    each Numba call that takes the named tuples pays for every array in them.

    Parameters
    ----------
    account_index : int64[n_batch]
        Accounts to evaluate.
    candidate_rep : int64[n_accounts, k]
        Candidate reps of each account; -1 pads a short list (out is +inf there).
    candidate_distance : float64[n_accounts, k]
        d(i, candidate_rep[i, c]), a cache; shape (0, 0) to compute each distance here.
    current_distance : float64[n_accounts]
        d(i, rep_of_account[i]) (ignored for unassigned accounts); shape (0,) to compute it.
    rep_of_account, accounts, reps, distance, rules, totals, grand_totals, sums
        The state, as for `shift_delta`.
    objective_weight : float64[N_OBJECTIVES]
    penalty_weight : float64[N_RULES]
    out : float64[n_batch, k]
        Out: the weighted deltas; 0 where the candidate is the account's own rep.
    """
    measures = accounts.measures
    current_rep = accounts.current_rep
    segment = accounts.segment
    region = accounts.region
    locked = accounts.locked
    protected = accounts.protected
    barred_ptr = accounts.barred_ptr
    barred_rep = accounts.barred_rep
    share = reps.target_share
    capacity = reps.capacity
    baseline = reps.baseline_potential
    skill = reps.skill
    has_skills = reps.has_skills
    specialist = reps.specialist
    region_ok = reps.region_ok
    leaving = reps.leaving
    on = rules.on
    tolerance = rules.band_tolerance
    account_xyz = accounts.xyz
    rep_xyz = reps.xyz
    cached_candidates = candidate_distance.shape[0] > 0
    cached_current = current_distance.shape[0] > 0
    n_measures = measures.shape[0]
    k = candidate_rep.shape[1]
    limits = rule_limits(
        on, rules.capacity_slack, rules.min_accounts, rules.max_accounts, rules.max_potential_change
    )
    capacity_factor, min_accounts, max_accounts, max_change = limits
    banding = on[RULE_BALANCE]
    check_capacity = on[RULE_CAPACITY]
    check_potential_change = on[RULE_POTENTIAL_CHANGE]
    check_locked = on[RULE_LOCKED]
    check_protected = on[RULE_PROTECTED]
    check_regions = on[RULE_REGIONS]
    check_specialists = on[RULE_SPECIALISTS]
    check_leaving = on[RULE_LEAVING]
    check_barred = on[RULE_BARRED]
    check_moved = on[RULE_MAX_MOVED]
    check_moved_potential = on[RULE_MAX_MOVED_POTENTIAL]
    check_unary = check_specialists or check_regions or check_leaving
    # Per-candidate scratch (see the _SHARE.. rows), in whole vectors of candidates (8 lanes):
    # padding is cheaper than a scalar remainder. One more row holds 1 / each grand total.
    lanes = -(-k // 8) * 8
    rows = np.empty((_N_ROWS + 1, max(lanes, n_measures)))
    for c in range(k, lanes):
        rows[:, c] = 0.0
        rows[_CAPACITY_LIMIT, c] = np.inf
        rows[_MINIMUM, c] = -np.inf
    inverse_grand = rows[_N_ROWS]
    extra_banded = False  # a banded measure besides potential and workload
    for m in range(n_measures):
        inverse_grand[m] = inverse(grand_totals[m])
        if m > WORKLOAD and banding and tolerance[m] < np.inf and inverse_grand[m] != 0.0:
            extra_banded = True
    inverse_potential = inverse_grand[POTENTIAL]
    inverse_workload = inverse_grand[WORKLOAD]
    inverse_grand_potential = inverse_potential
    inverse_grand_workload = inverse_workload
    # A measure outside the band rule gets an infinite tolerance: its band terms are then 0.
    tolerance_potential = np.inf
    tolerance_workload = np.inf
    if banding and inverse_potential != 0.0:
        tolerance_potential = tolerance[POTENTIAL]
    if banding and inverse_workload != 0.0:
        tolerance_workload = tolerance[WORKLOAD]
    weight_potential = objective_weight[POTENTIAL_IMBALANCE]
    weight_workload = objective_weight[WORKLOAD_IMBALANCE]
    weight_travel = objective_weight[TRAVEL]
    weight_disruption = objective_weight[DISRUPTION]
    weight_mismatch = objective_weight[SKILL_MISMATCH]
    penalty_capacity = penalty_weight[RULE_CAPACITY]
    penalty_min_accounts = penalty_weight[RULE_MIN_ACCOUNTS]
    penalty_max_accounts = penalty_weight[RULE_MAX_ACCOUNTS]
    penalty_potential_change = penalty_weight[RULE_POTENTIAL_CHANGE]
    penalty_balance = penalty_weight[RULE_BALANCE]
    penalty_specialists = penalty_weight[RULE_SPECIALISTS] if check_specialists else 0.0
    penalty_regions = penalty_weight[RULE_REGIONS] if check_regions else 0.0
    penalty_leaving = penalty_weight[RULE_LEAVING] if check_leaving else 0.0
    penalty_barred = penalty_weight[RULE_BARRED]
    distance_limit = rules.max_distance if on[RULE_MAX_DISTANCE] else np.inf
    penalty_far = penalty_weight[RULE_MAX_DISTANCE]
    squares_potential = sums[SUM_SQUARES_POTENTIAL]
    squares_workload = sums[SUM_SQUARES_WORKLOAD]
    root_potential = np.sqrt(max(squares_potential, 0.0))
    root_workload = np.sqrt(max(squares_workload, 0.0))
    # Products with reciprocals taken once, where shift_delta divides: equal to rounding,
    # and divisions are what this loop would otherwise wait on.
    travel_before = sums[SUM_TRAVEL] * inverse(sums[SUM_ASSIGNED_WORKLOAD])
    moved_before = sums[SUM_MOVED]
    moved_potential_before = sums[SUM_MOVED_POTENTIAL]
    mismatch_before = sums[SUM_MISMATCH_POTENTIAL]
    mismatch_share_before = mismatch_before * inverse_potential
    disruption_before = moved_potential_before * inverse_potential
    moved_excess_before = budget_excess(moved_before, check_moved, rules.max_moved)
    moved_potential_excess_before = budget_excess(
        moved_potential_before, check_moved_potential, rules.max_moved_potential
    )

    for t in range(account_index.shape[0]):
        i = account_index[t]
        a = rep_of_account[i]
        potential_i = measures[POTENTIAL, i]
        workload_i = measures[WORKLOAD, i]
        count_i = measures[ACCOUNT_COUNT, i]
        current = current_rep[i]
        segment_i = segment[i]
        region_i = region[i]
        barred_start = barred_ptr[i]
        barred_stop = barred_ptr[i + 1]

        # Account i's own side, the same for every candidate: it leaves rep a.
        old_a = _NO_TERMS
        new_a = _NO_TERMS
        balance_a = 0.0
        account_cost_a = 0.0
        mismatched_a = False
        travel_leaving = 0.0
        assigned_workload = sums[SUM_ASSIGNED_WORKLOAD]
        if a >= 0:
            old_a, new_a, balance_a = _territory_change(
                a,
                i,
                -1,
                measures,
                totals,
                grand_totals,
                inverse_grand_potential,
                inverse_grand_workload,
                share,
                capacity,
                leaving,
                baseline,
                tolerance,
                banding,
                limits,
            )
            skilled = skill[a, segment_i]
            mismatched_a = has_skills[a] and not skilled
            if check_specialists and specialist[a] and not skilled:
                account_cost_a += penalty_specialists
            if check_regions and not region_ok[a, region_i]:
                account_cost_a += penalty_regions
            if check_leaving and leaving[a]:
                account_cost_a += penalty_leaving
            if check_barred:
                for e in range(barred_start, barred_stop):
                    if barred_rep[e] == a:
                        account_cost_a += penalty_barred
                        break
            d_ia = (
                current_distance[i]
                if cached_current
                else account_rep_distance(i, a, account_xyz, rep_xyz, distance)
            )
            travel_leaving = workload_i * d_ia
            if d_ia > distance_limit:
                account_cost_a += penalty_far
        else:
            assigned_workload += workload_i
        inverse_assigned_workload = inverse(assigned_workload)
        # Travel after the move is travel_base + workload_i * d(i, b), weighted.
        travel_base = sums[SUM_TRAVEL] - travel_leaving
        squares_potential_a = squares_potential + (new_a[0] - old_a[0])
        squares_workload_a = squares_workload + (new_a[1] - old_a[1])
        terms_a = (
            penalty_capacity * (new_a[2] - old_a[2])
            + penalty_min_accounts * (new_a[3] - old_a[3])
            + penalty_max_accounts * (new_a[4] - old_a[4])
            + penalty_potential_change * (new_a[5] - old_a[5])
            + penalty_balance * balance_a
        )
        # The terms that depend on b only through "b is today's rep" and "b mismatches i":
        # the disruption budgets, locked, protected and skill_mismatch, each taken both ways.
        moved_a = current >= 0 and a != current
        stay_cost = _disruption_cost(
            moved_a,
            False,
            potential_i,
            moved_before,
            moved_potential_before,
            inverse_potential,
            disruption_before,
            weight_disruption,
            check_moved,
            rules.max_moved,
            moved_excess_before,
            penalty_weight[RULE_MAX_MOVED],
            check_moved_potential,
            rules.max_moved_potential,
            moved_potential_excess_before,
            penalty_weight[RULE_MAX_MOVED_POTENTIAL],
        )
        move_cost = _disruption_cost(
            moved_a,
            current >= 0,
            potential_i,
            moved_before,
            moved_potential_before,
            inverse_potential,
            disruption_before,
            weight_disruption,
            check_moved,
            rules.max_moved,
            moved_excess_before,
            penalty_weight[RULE_MAX_MOVED],
            check_moved_potential,
            rules.max_moved_potential,
            moved_potential_excess_before,
            penalty_weight[RULE_MAX_MOVED_POTENTIAL],
        )
        if check_protected and protected[i]:
            if moved_a:
                account_cost_a += penalty_weight[RULE_PROTECTED]
            if current >= 0:
                move_cost += penalty_weight[RULE_PROTECTED]
        if check_locked and locked[i]:
            if a != current:
                account_cost_a += penalty_weight[RULE_LOCKED]
            move_cost += penalty_weight[RULE_LOCKED]
        mismatch_gained = 0.0 if mismatched_a else potential_i
        mismatch_lost = potential_i if mismatched_a else 0.0
        mismatched_cost = weight_mismatch * (
            (mismatch_before + mismatch_gained) * inverse_potential - mismatch_share_before
        )
        matched_cost = weight_mismatch * (
            (mismatch_before - mismatch_lost) * inverse_potential - mismatch_share_before
        )
        stay_cost -= account_cost_a
        move_cost -= account_cost_a

        # Per candidate, first what must be read one rep at a time (gathered into `rows`),
        # then the arithmetic for all candidates at once, a loop the compiler vectorises:
        # no branches there, a rule switched off is an infinite limit (its terms are 0).
        for c in range(k):
            b = candidate_rep[i, c]
            if b < 0 or b == a:
                rows[_SHARE, c] = 0.0
                rows[_POTENTIAL, c] = 0.0
                rows[_WORKLOAD, c] = 0.0
                rows[_COUNT, c] = 0.0
                rows[_CAPACITY_LIMIT, c] = np.inf
                rows[_MINIMUM, c] = -np.inf
                rows[_BASELINE, c] = 0.0
                rows[_DISTANCE, c] = 0.0
                rows[_COST, c] = 0.0
                rows[_FILL, c] = np.inf if b < 0 else 0.0
                continue
            rows[_SHARE, c] = share[b]
            rows[_POTENTIAL, c] = totals[POTENTIAL, b]
            rows[_WORKLOAD, c] = totals[WORKLOAD, b]
            rows[_COUNT, c] = totals[ACCOUNT_COUNT, b]
            rows[_CAPACITY_LIMIT, c] = capacity[b] * capacity_factor if check_capacity else np.inf
            rows[_MINIMUM, c] = -np.inf if leaving[b] else min_accounts
            rows[_BASELINE, c] = baseline[b] if check_potential_change else 0.0
            if cached_candidates:
                d_ib = candidate_distance[i, c]
            else:
                d_ib = account_rep_distance(i, b, account_xyz, rep_xyz, distance)
            rows[_DISTANCE, c] = d_ib
            skilled = skill[b, segment_i]
            cost = stay_cost if b == current else move_cost
            if d_ib > distance_limit:
                cost += penalty_far
            cost += mismatched_cost if has_skills[b] and not skilled else matched_cost
            if check_unary:
                # Branch-free: each flag times its weight (0 for rules switched off).
                cost += penalty_specialists * (specialist[b] and not skilled)
                cost += penalty_regions * (not region_ok[b, region_i])
                cost += penalty_leaving * leaving[b]
            if check_barred:
                for e in range(barred_start, barred_stop):
                    if barred_rep[e] == b:
                        cost += penalty_barred
                        break
            if extra_banded and share[b] > 0.0:
                inverse_s = inverse_share(share[b])
                balance = 0.0
                for m in range(WORKLOAD + 1, n_measures):
                    if tolerance[m] < np.inf and inverse_grand[m] != 0.0:
                        inverse_target = inverse_s * inverse_grand[m]
                        excess = totals[m, b] * inverse_target - 1.0
                        balance += max(
                            0.0, abs(excess + measures[m, i] * inverse_target) - tolerance[m]
                        ) - max(0.0, abs(excess) - tolerance[m])
                cost += penalty_balance * balance
            rows[_COST, c] = cost
            rows[_FILL, c] = np.nan  # a move: out is the value computed below
        for c in range(lanes):
            # Territory b gains i: each term's change in closed form, s((x+d)^2 - x^2) =
            # s d (2x + d) for the imbalance squares.
            share_b = rows[_SHARE, c]
            inverse_s = 1.0 / share_b if share_b > 0.0 else 0.0
            inverse_target = inverse_s * inverse_potential
            excess_potential = rows[_POTENTIAL, c] * inverse_target - 1.0
            step_potential = potential_i * inverse_target
            new_squares_potential = squares_potential_a + share_b * step_potential * (
                excess_potential + excess_potential + step_potential
            )
            inverse_target = inverse_s * inverse_workload
            workload_b = rows[_WORKLOAD, c]
            excess_workload = workload_b * inverse_target - 1.0
            step_workload = workload_i * inverse_target
            new_squares_workload = squares_workload_a + share_b * step_workload * (
                excess_workload + excess_workload + step_workload
            )
            balance = (
                max(0.0, abs(excess_potential + step_potential) - tolerance_potential)
                - max(0.0, abs(excess_potential) - tolerance_potential)
            ) + (
                max(0.0, abs(excess_workload + step_workload) - tolerance_workload)
                - max(0.0, abs(excess_workload) - tolerance_workload)
            )
            limit = rows[_CAPACITY_LIMIT, c]
            count_b = rows[_COUNT, c]
            minimum = rows[_MINIMUM, c]
            baseline_b = rows[_BASELINE, c]
            inverse_baseline = 1.0 / baseline_b if baseline_b > 0.0 else 0.0
            potential_b = rows[_POTENTIAL, c]
            terms = terms_a + (
                penalty_balance * balance
                + penalty_capacity
                * (max(0.0, (workload_b + workload_i) - limit) - max(0.0, workload_b - limit))
                + penalty_min_accounts
                * (max(0.0, minimum - (count_b + count_i)) - max(0.0, minimum - count_b))
                + penalty_max_accounts
                * (max(0.0, (count_b + count_i) - max_accounts) - max(0.0, count_b - max_accounts))
                + penalty_potential_change
                * (
                    max(0.0, abs((potential_b + potential_i) * inverse_baseline - 1.0) - max_change)
                    - max(0.0, abs(potential_b * inverse_baseline - 1.0) - max_change)
                )
            )
            travel = weight_travel * (
                (travel_base + workload_i * rows[_DISTANCE, c]) * inverse_assigned_workload
                - travel_before
            )
            value = (
                ((terms + travel) + rows[_COST, c])
                + weight_potential * (np.sqrt(max(new_squares_potential, 0.0)) - root_potential)
                + weight_workload * (np.sqrt(max(new_squares_workload, 0.0)) - root_workload)
            )
            fill = rows[_FILL, c]
            rows[_VALUE, c] = value if fill != fill else fill
        for c in range(k):
            out[t, c] = rows[_VALUE, c]


@njit
def swap_deltas_weighted(
    first,
    second,
    pair_distance,
    rep_of_account,
    accounts,
    reps,
    distance,
    rules,
    totals,
    grand_totals,
    sums,
    objective_weight,
    penalty_weight,
    out,
):
    """Weighted change of exchanging the reps of accounts first[t] and second[t], per pair t.

    out[t] = objective_weight · objective_delta + penalty_weight · violation_delta for the
    swap of i = first[t] (at rep a) and k = second[t] (at rep b): the dot product of the
    weights with what `swap_delta` reports, read off the same state. The swap twin of
    `shift_deltas_weighted`, for the local search's swap neighbourhood (one call per batch
    of pairs).

    Parameters
    ----------
    first, second : int64[n_pairs]
        The accounts of each pair.
    pair_distance : float64[n_pairs, 4]
        d(i, a), d(i, b), d(k, a), d(k, b) of each pair, from the search's distance caches;
        shape (0, 4) to compute them here.
    rep_of_account, accounts, reps, distance, rules, totals, grand_totals, sums
        The state, as for `shift_delta`.
    objective_weight : float64[N_OBJECTIVES]
    penalty_weight : float64[N_RULES]
    out : float64[n_pairs]
        Out: the weighted changes; 0 for two accounts of one territory, +inf where either
        account is unassigned (not a swap).
    """
    measures = accounts.measures
    potential = measures[POTENTIAL]
    current_rep = accounts.current_rep
    segment = accounts.segment
    region = accounts.region
    locked = accounts.locked
    protected = accounts.protected
    barred_ptr = accounts.barred_ptr
    barred_rep = accounts.barred_rep
    share = reps.target_share
    capacity = reps.capacity
    baseline = reps.baseline_potential
    skill = reps.skill
    has_skills = reps.has_skills
    specialist = reps.specialist
    region_ok = reps.region_ok
    leaving = reps.leaving
    on = rules.on
    tolerance = rules.band_tolerance
    banding = on[RULE_BALANCE]
    check_locked = on[RULE_LOCKED]
    check_protected = on[RULE_PROTECTED]
    check_regions = on[RULE_REGIONS]
    check_specialists = on[RULE_SPECIALISTS]
    check_leaving = on[RULE_LEAVING]
    check_barred = on[RULE_BARRED]
    limits = rule_limits(
        on, rules.capacity_slack, rules.min_accounts, rules.max_accounts, rules.max_potential_change
    )
    inverse_grand_potential = inverse(grand_totals[POTENTIAL])
    inverse_grand_workload = inverse(grand_totals[WORKLOAD])
    cached = pair_distance.shape[0] > 0
    penalty_locked = penalty_weight[RULE_LOCKED]
    penalty_protected = penalty_weight[RULE_PROTECTED]
    penalty_specialists = penalty_weight[RULE_SPECIALISTS]
    penalty_regions = penalty_weight[RULE_REGIONS]
    penalty_leaving = penalty_weight[RULE_LEAVING]
    penalty_barred = penalty_weight[RULE_BARRED]
    distance_limit = rules.max_distance if on[RULE_MAX_DISTANCE] else np.inf
    penalty_far = penalty_weight[RULE_MAX_DISTANCE]
    grand_potential = grand_totals[POTENTIAL]
    inverse_potential = inverse(grand_potential)
    squares_potential = sums[SUM_SQUARES_POTENTIAL]
    squares_workload = sums[SUM_SQUARES_WORKLOAD]
    root_potential = np.sqrt(max(squares_potential, 0.0))
    root_workload = np.sqrt(max(squares_workload, 0.0))
    # A swap keeps the assigned workload: travel's change is its numerator's over it.
    inverse_assigned_workload = inverse(sums[SUM_ASSIGNED_WORKLOAD])
    moved_excess_before = budget_excess(sums[SUM_MOVED], on[RULE_MAX_MOVED], rules.max_moved)
    moved_potential_excess_before = budget_excess(
        sums[SUM_MOVED_POTENTIAL], on[RULE_MAX_MOVED_POTENTIAL], rules.max_moved_potential
    )
    disruption_before = ratio(sums[SUM_MOVED_POTENTIAL], grand_potential)
    for t in range(first.shape[0]):
        i = first[t]
        k = second[t]
        a = rep_of_account[i]
        b = rep_of_account[k]
        if a < 0 or b < 0:
            out[t] = np.inf
            continue
        if a == b:
            out[t] = 0.0
            continue
        old_a, new_a, balance_a = _territory_change(
            a,
            i,
            k,
            measures,
            totals,
            grand_totals,
            inverse_grand_potential,
            inverse_grand_workload,
            share,
            capacity,
            leaving,
            baseline,
            tolerance,
            banding,
            limits,
        )
        old_b, new_b, balance_b = _territory_change(
            b,
            k,
            i,
            measures,
            totals,
            grand_totals,
            inverse_grand_potential,
            inverse_grand_workload,
            share,
            capacity,
            leaving,
            baseline,
            tolerance,
            banding,
            limits,
        )
        # As in `_exchange`: old terms out first, then the new ones in.
        new_squares_potential = ((squares_potential - old_a[0]) - old_b[0]) + new_a[0] + new_b[0]
        new_squares_workload = ((squares_workload - old_a[1]) - old_b[1]) + new_a[1] + new_b[1]
        total = objective_weight[POTENTIAL_IMBALANCE] * (
            np.sqrt(max(new_squares_potential, 0.0)) - root_potential
        ) + objective_weight[WORKLOAD_IMBALANCE] * (
            np.sqrt(max(new_squares_workload, 0.0)) - root_workload
        )
        total += (
            penalty_weight[RULE_CAPACITY] * ((new_a[2] - old_a[2]) + (new_b[2] - old_b[2]))
            + penalty_weight[RULE_MIN_ACCOUNTS] * ((new_a[3] - old_a[3]) + (new_b[3] - old_b[3]))
            + penalty_weight[RULE_MAX_ACCOUNTS] * ((new_a[4] - old_a[4]) + (new_b[4] - old_b[4]))
            + penalty_weight[RULE_POTENTIAL_CHANGE]
            * ((new_a[5] - old_a[5]) + (new_b[5] - old_b[5]))
            + penalty_weight[RULE_BALANCE] * (balance_a + balance_b)
        )
        if cached:
            d_ia = pair_distance[t, 0]
            d_ib = pair_distance[t, 1]
            d_ka = pair_distance[t, 2]
            d_kb = pair_distance[t, 3]
        else:
            d_ia = account_rep_distance(i, a, accounts.xyz, reps.xyz, distance)
            d_ib = account_rep_distance(i, b, accounts.xyz, reps.xyz, distance)
            d_ka = account_rep_distance(k, a, accounts.xyz, reps.xyz, distance)
            d_kb = account_rep_distance(k, b, accounts.xyz, reps.xyz, distance)
        workload_i = measures[WORKLOAD, i]
        workload_k = measures[WORKLOAD, k]
        travel_change = (workload_i * d_ib - workload_i * d_ia) + (
            workload_k * d_ka - workload_k * d_kb
        )
        total += objective_weight[TRAVEL] * (travel_change * inverse_assigned_workload)
        far_change = 0.0
        far_change += 1.0 if d_ib > distance_limit else 0.0
        far_change -= 1.0 if d_ia > distance_limit else 0.0
        far_change += 1.0 if d_ka > distance_limit else 0.0
        far_change -= 1.0 if d_kb > distance_limit else 0.0
        total += penalty_far * far_change
        # Per-account terms: i at a then b, k at b then a.
        moved = sums[SUM_MOVED]
        moved_potential = sums[SUM_MOVED_POTENTIAL]
        mismatch_change = 0.0
        account_cost = 0.0
        for q in range(4):
            x = i if q < 2 else k
            j = (a, b, b, a)[q]
            sign = -1.0 if q % 2 == 0 else 1.0
            current = current_rep[x]
            if current >= 0 and j != current:
                moved += sign
                moved_potential += sign * potential[x]
                if check_protected and protected[x]:
                    account_cost += sign * penalty_protected
            if check_locked and locked[x] and j != current:
                account_cost += sign * penalty_locked
            skilled = skill[j, segment[x]]
            if has_skills[j] and not skilled:
                mismatch_change += sign * potential[x]
            if check_specialists and specialist[j] and not skilled:
                account_cost += sign * penalty_specialists
            if check_regions and not region_ok[j, region[x]]:
                account_cost += sign * penalty_regions
            if check_leaving and leaving[j]:
                account_cost += sign * penalty_leaving
            if check_barred:
                for e in range(barred_ptr[x], barred_ptr[x + 1]):
                    if barred_rep[e] == j:
                        account_cost += sign * penalty_barred
                        break
        if moved == 0.0:
            moved_potential = 0.0
        total += objective_weight[DISRUPTION] * (
            moved_potential * inverse_potential - disruption_before
        )
        total += objective_weight[SKILL_MISMATCH] * (mismatch_change * inverse_potential)
        total += penalty_weight[RULE_MAX_MOVED] * (
            budget_excess(moved, on[RULE_MAX_MOVED], rules.max_moved) - moved_excess_before
        )
        total += penalty_weight[RULE_MAX_MOVED_POTENTIAL] * (
            budget_excess(moved_potential, on[RULE_MAX_MOVED_POTENTIAL], rules.max_moved_potential)
            - moved_potential_excess_before
        )
        out[t] = total + account_cost


@njit
def apply_move(
    i,
    k,
    b,
    d_ia,
    d_ib,
    d_ka,
    d_kb,
    rep_of_account,
    accounts,
    reps,
    rules,
    totals,
    grand_totals,
    sums,
    violations,
):
    """Move i from its rep a to b (and k from b to a when k >= 0), updating the state in O(1).

    The kernel under `apply_shift` and `apply_swap`, for callers that hold the distances
    (a search's caches): d_xy is d(account x, rep y), ignored where the rep is -1. Other
    arguments as for `apply_shift`; for a swap, k is assigned to b = rep_of_account[k].
    """
    a = rep_of_account[i]
    after = _exchange(
        i,
        k,
        b,
        d_ia,
        d_ib,
        d_ka,
        d_kb,
        rep_of_account,
        accounts,
        reps,
        rules,
        totals,
        grand_totals,
        sums,
        violations,
        True,
    )
    violations[RULE_MAX_MOVED] = budget_excess(after[5], rules.on[RULE_MAX_MOVED], rules.max_moved)
    violations[RULE_MAX_MOVED_POTENTIAL] = budget_excess(
        after[6], rules.on[RULE_MAX_MOVED_POTENTIAL], rules.max_moved_potential
    )
    measures = accounts.measures
    # The arithmetic of _exchange, so later deltas start from the terms they predicted.
    for side in range(2):
        j = a if side == 0 else b
        if j < 0:
            continue
        leaver = i if side == 0 else k
        joiner = k if side == 0 else i
        count_after = totals[ACCOUNT_COUNT, j]
        if leaver >= 0:
            count_after -= measures[ACCOUNT_COUNT, leaver]
        if joiner >= 0:
            count_after += measures[ACCOUNT_COUNT, joiner]
        for m in range(measures.shape[0]):
            totals[m, j] = _measure_after(m, j, leaver, joiner, measures, totals, count_after)
    sums[SUM_SQUARES_POTENTIAL] = after[0]
    sums[SUM_SQUARES_WORKLOAD] = after[1]
    sums[SUM_TRAVEL] = after[2]
    sums[SUM_ASSIGNED_WORKLOAD] = after[3]
    sums[SUM_UNASSIGNED] = after[4]
    sums[SUM_MOVED] = after[5]
    sums[SUM_MOVED_POTENTIAL] = after[6]
    sums[SUM_MISMATCH_POTENTIAL] = after[7]
    if b >= 0:
        sums[SUM_MAX_DISTANCE] = max(sums[SUM_MAX_DISTANCE], d_ib)
    if k >= 0:
        sums[SUM_MAX_DISTANCE] = max(sums[SUM_MAX_DISTANCE], d_ka)
    rep_of_account[i] = b
    if k >= 0:
        rep_of_account[k] = a


@njit
def apply_shift(
    i, b, rep_of_account, accounts, reps, distance, rules, totals, grand_totals, sums, violations
):
    """Move account i to rep b (-1: unassign) and update the state in place, in O(1).

    Parameters
    ----------
    i, b : int64
        Account and its new rep.
    rep_of_account, accounts, reps, distance, rules
        As for `shift_delta`; rep_of_account[i] becomes b.
    totals, grand_totals, sums, violations
        The state filled by `evaluate_design`, updated in place (grand_totals is only
        read). violations changes by what `shift_delta` reports, so contiguity is not
        kept; sums[SUM_MAX_DISTANCE] becomes an upper bound until the next full evaluation.
    """
    a = rep_of_account[i]
    if a == b:
        return
    d_ia = 0.0 if a < 0 else account_rep_distance(i, a, accounts.xyz, reps.xyz, distance)
    d_ib = 0.0 if b < 0 else account_rep_distance(i, b, accounts.xyz, reps.xyz, distance)
    apply_move(
        i,
        -1,
        b,
        d_ia,
        d_ib,
        0.0,
        0.0,
        rep_of_account,
        accounts,
        reps,
        rules,
        totals,
        grand_totals,
        sums,
        violations,
    )


@njit
def apply_swap(
    i, k, rep_of_account, accounts, reps, distance, rules, totals, grand_totals, sums, violations
):
    """Exchange the reps of accounts i and k (both assigned) in place, in O(1).

    Arguments as for `apply_shift`.
    """
    a = rep_of_account[i]
    b = rep_of_account[k]
    if a < 0 or b < 0:
        raise ValueError("a swap needs two assigned accounts")
    if a == b:
        return
    account_xyz = accounts.xyz
    rep_xyz = reps.xyz
    apply_move(
        i,
        k,
        b,
        account_rep_distance(i, a, account_xyz, rep_xyz, distance),
        account_rep_distance(i, b, account_xyz, rep_xyz, distance),
        account_rep_distance(k, a, account_xyz, rep_xyz, distance),
        account_rep_distance(k, b, account_xyz, rep_xyz, distance),
        rep_of_account,
        accounts,
        reps,
        rules,
        totals,
        grand_totals,
        sums,
        violations,
    )
