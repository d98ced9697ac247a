"""Exact O(1) changes of every objective and rule for a shift or a swap (DESIGN §4).

Only the one or two accounts and the two territories involved are read; nothing is re-summed.
Contiguity is the exception: its delta stays 0 (a move checks it by a bounded search).
"""

import numpy as np

from kernels.arrays import (
    ACCOUNT_COUNT,
    DISRUPTION,
    N_OBJECTIVES,
    N_RULES,
    POTENTIAL,
    POTENTIAL_IMBALANCE,
    RULE_BALANCE,
    RULE_BARRED,
    RULE_CAPACITY,
    RULE_LEAVING,
    RULE_LOCKED,
    RULE_MAX_ACCOUNTS,
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
    objective_delta,
    violation_delta,
):
    """Account i goes from its rep a to rep b and, when k >= 0, account k from b to a.

    A shift is k = -1 (a or b may then be -1: unassigned); a swap has a, b >= 0.
    d_xy is the distance from account x to rep y (ignored where the rep is -1).
    Fills both delta vectors and returns the sums after the move: (squares_potential,
    squares_workload, travel, assigned_workload, unassigned, moved, moved_potential,
    mismatch_potential).
    """
    a = rep_of_account[i]
    swap = k >= 0
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
    banding = on[RULE_BALANCE]
    capacity_factor, min_accounts, max_accounts, max_change = rule_limits(
        on, rules.capacity_slack, rules.min_accounts, rules.max_accounts, rules.max_potential_change
    )
    grand_potential = grand_totals[POTENTIAL]

    # Territories: a loses i (gains k), b gains i (loses k).
    violation_delta[:] = 0.0
    inverse_potential = inverse(grand_totals[POTENTIAL])
    inverse_workload = inverse(grand_totals[WORKLOAD])
    old_a = _NO_TERMS
    new_a = _NO_TERMS
    old_b = _NO_TERMS
    new_b = _NO_TERMS
    for side in range(2):
        j = a if side == 0 else b
        if j < 0:
            continue
        leaver = i if side == 0 else k
        joiner = k if side == 0 else i
        count = totals[ACCOUNT_COUNT, j]
        count_after = count
        if leaver >= 0:
            count_after -= measures[ACCOUNT_COUNT, leaver]
        if joiner >= 0:
            count_after += measures[ACCOUNT_COUNT, joiner]
        inverse_s = inverse_share(share[j])
        capacity_limit = capacity[j] * capacity_factor
        minimum = -np.inf if leaving[j] else min_accounts
        old = territory_terms(
            count,
            totals[POTENTIAL, j],
            totals[WORKLOAD, j],
            share[j],
            inverse_s * inverse_potential,
            inverse_s * inverse_workload,
            capacity_limit,
            minimum,
            max_accounts,
            baseline[j],
            max_change,
        )
        new = territory_terms(
            count_after,
            territory_after(
                totals[POTENTIAL, j],
                measures[POTENTIAL, leaver] if leaver >= 0 else 0.0,
                measures[POTENTIAL, joiner] if joiner >= 0 else 0.0,
                count_after,
            ),
            territory_after(
                totals[WORKLOAD, j],
                measures[WORKLOAD, leaver] if leaver >= 0 else 0.0,
                measures[WORKLOAD, joiner] if joiner >= 0 else 0.0,
                count_after,
            ),
            share[j],
            inverse_s * inverse_potential,
            inverse_s * inverse_workload,
            capacity_limit,
            minimum,
            max_accounts,
            baseline[j],
            max_change,
        )
        if side == 0:
            old_a = old
            new_a = new
        else:
            old_b = old
            new_b = new
        if banding:
            for m in range(measures.shape[0]):
                inverse_target = inverse_s * inverse(grand_totals[m])
                after = territory_after(
                    totals[m, j],
                    measures[m, leaver] if leaver >= 0 else 0.0,
                    measures[m, joiner] if joiner >= 0 else 0.0,
                    count_after,
                )
                violation_delta[RULE_BALANCE] += band_excess(
                    after, inverse_target, tolerance[m]
                ) - band_excess(totals[m, j], inverse_target, tolerance[m])
    # Old terms first: when one term makes the whole sum, it cancels exactly.
    squares_potential = ((sums[SUM_SQUARES_POTENTIAL] - old_a[0]) - old_b[0]) + new_a[0] + new_b[0]
    squares_workload = ((sums[SUM_SQUARES_WORKLOAD] - old_a[1]) - old_b[1]) + new_a[1] + new_b[1]
    violation_delta[RULE_CAPACITY] = (new_a[2] - old_a[2]) + (new_b[2] - old_b[2])
    violation_delta[RULE_MIN_ACCOUNTS] = (new_a[3] - old_a[3]) + (new_b[3] - old_b[3])
    violation_delta[RULE_MAX_ACCOUNTS] = (new_a[4] - old_a[4]) + (new_b[4] - old_b[4])
    violation_delta[RULE_POTENTIAL_CHANGE] = (new_a[5] - old_a[5]) + (new_b[5] - old_b[5])

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

    # Per-account quantities of (account, rep) before and after: i at a then b, k at b then a.
    moved = sums[SUM_MOVED]
    moved_potential = sums[SUM_MOVED_POTENTIAL]
    mismatch_potential = sums[SUM_MISMATCH_POTENTIAL]
    for q in range(4 if swap else 2):
        x = i if q < 2 else k
        j = (a, b, b, a)[q]
        sign = -1.0 if q % 2 == 0 else 1.0
        current = current_rep[x]
        potential = measures[POTENTIAL, x]
        if current >= 0 and j != current:
            moved += sign
            moved_potential += sign * potential
            if on[RULE_PROTECTED] and protected[x]:
                violation_delta[RULE_PROTECTED] += sign
        if on[RULE_LOCKED] and locked[x] and j != current:
            violation_delta[RULE_LOCKED] += sign
        if j < 0:
            continue
        skilled = skill[j, segment[x]]
        if has_skills[j] and not skilled:
            mismatch_potential += sign * potential
        if on[RULE_SPECIALISTS] and specialist[j] and not skilled:
            violation_delta[RULE_SPECIALISTS] += sign
        if on[RULE_REGIONS] and not region_ok[j, region[x]]:
            violation_delta[RULE_REGIONS] += sign
        if on[RULE_LEAVING] and leaving[j]:
            violation_delta[RULE_LEAVING] += sign
        if on[RULE_BARRED]:
            for e in range(barred_ptr[x], barred_ptr[x + 1]):
                if barred_rep[e] == j:
                    violation_delta[RULE_BARRED] += sign
                    break
    if moved == 0.0:
        moved_potential = 0.0
    violation_delta[RULE_MAX_MOVED] = budget_excess(
        moved, on[RULE_MAX_MOVED], rules.max_moved
    ) - budget_excess(sums[SUM_MOVED], on[RULE_MAX_MOVED], rules.max_moved)
    violation_delta[RULE_MAX_MOVED_POTENTIAL] = budget_excess(
        moved_potential, on[RULE_MAX_MOVED_POTENTIAL], rules.max_moved_potential
    ) - budget_excess(
        sums[SUM_MOVED_POTENTIAL], on[RULE_MAX_MOVED_POTENTIAL], rules.max_moved_potential
    )

    objective_delta[POTENTIAL_IMBALANCE] = np.sqrt(max(squares_potential, 0.0)) - np.sqrt(
        max(sums[SUM_SQUARES_POTENTIAL], 0.0)
    )
    objective_delta[WORKLOAD_IMBALANCE] = np.sqrt(max(squares_workload, 0.0)) - np.sqrt(
        max(sums[SUM_SQUARES_WORKLOAD], 0.0)
    )
    objective_delta[TRAVEL] = ratio(travel, assigned_workload) - ratio(
        sums[SUM_TRAVEL], sums[SUM_ASSIGNED_WORKLOAD]
    )
    objective_delta[DISRUPTION] = ratio(moved_potential, grand_potential) - ratio(
        sums[SUM_MOVED_POTENTIAL], grand_potential
    )
    objective_delta[SKILL_MISMATCH] = ratio(mismatch_potential, grand_potential) - ratio(
        sums[SUM_MISMATCH_POTENTIAL], grand_potential
    )
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
    _exchange(
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
        objective_delta,
        violation_delta,
    )


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
    _exchange(
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
        objective_delta,
        violation_delta,
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
    capacity_factor, min_accounts, max_accounts, max_change = rule_limits(
        on, rules.capacity_slack, rules.min_accounts, rules.max_accounts, rules.max_potential_change
    )
    banding = on[RULE_BALANCE]
    check_capacity = on[RULE_CAPACITY]
    check_min_accounts = on[RULE_MIN_ACCOUNTS]
    check_max_accounts = on[RULE_MAX_ACCOUNTS]
    check_potential_change = on[RULE_POTENTIAL_CHANGE]
    check_locked = on[RULE_LOCKED]
    check_protected = on[RULE_PROTECTED]
    check_regions = on[RULE_REGIONS]
    check_specialists = on[RULE_SPECIALISTS]
    check_leaving = on[RULE_LEAVING]
    check_barred = on[RULE_BARRED]
    check_moved = on[RULE_MAX_MOVED]
    check_moved_potential = on[RULE_MAX_MOVED_POTENTIAL]
    inverse_grand = np.empty(n_measures)
    banded = np.empty(n_measures, dtype=np.int64)  # measures with a band and a target
    n_banded = 0
    for m in range(n_measures):
        inverse_grand[m] = inverse(grand_totals[m])
        if banding and tolerance[m] < np.inf and inverse_grand[m] != 0.0:
            banded[n_banded] = m
            n_banded += 1
    inverse_potential = inverse_grand[POTENTIAL]
    inverse_workload = inverse_grand[WORKLOAD]
    weight_potential = objective_weight[POTENTIAL_IMBALANCE]
    weight_workload = objective_weight[WORKLOAD_IMBALANCE]
    weight_travel = objective_weight[TRAVEL]
    weight_disruption = objective_weight[DISRUPTION]
    weight_mismatch = objective_weight[SKILL_MISMATCH]
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
    disruption_before = moved_potential_before * inverse_potential
    mismatch_share_before = mismatch_before * inverse_potential
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
        locked_i = check_locked and locked[i]
        protected_i = check_protected and protected[i]

        # Account i's own side, the same for every candidate: it leaves rep a.
        old_a = _NO_TERMS
        new_a = _NO_TERMS
        balance_a = 0.0
        account_cost_a = 0.0
        moved_a = current >= 0 and a != current
        mismatched_a = False
        travel_sum = sums[SUM_TRAVEL]
        assigned_workload = sums[SUM_ASSIGNED_WORKLOAD]
        travel_leaving = 0.0
        if a >= 0:
            count_a = totals[ACCOUNT_COUNT, a]
            count_a_after = count_a - count_i
            inverse_s = inverse_share(share[a])
            capacity_limit = capacity[a] * capacity_factor
            minimum = -np.inf if leaving[a] else min_accounts
            old_a = territory_terms(
                count_a,
                totals[POTENTIAL, a],
                totals[WORKLOAD, a],
                share[a],
                inverse_s * inverse_potential,
                inverse_s * inverse_workload,
                capacity_limit,
                minimum,
                max_accounts,
                baseline[a],
                max_change,
            )
            new_a = territory_terms(
                count_a_after,
                territory_after(totals[POTENTIAL, a], potential_i, 0.0, count_a_after),
                territory_after(totals[WORKLOAD, a], workload_i, 0.0, count_a_after),
                share[a],
                inverse_s * inverse_potential,
                inverse_s * inverse_workload,
                capacity_limit,
                minimum,
                max_accounts,
                baseline[a],
                max_change,
            )
            if banding:
                for m in range(n_measures):
                    inverse_target = inverse_s * inverse_grand[m]
                    after = territory_after(totals[m, a], measures[m, i], 0.0, count_a_after)
                    balance_a += band_excess(after, inverse_target, tolerance[m]) - band_excess(
                        totals[m, a], inverse_target, tolerance[m]
                    )
            skilled = skill[a, segment_i]
            mismatched_a = has_skills[a] and not skilled
            if check_specialists and specialist[a] and not skilled:
                account_cost_a += penalty_weight[RULE_SPECIALISTS]
            if check_regions and not region_ok[a, region_i]:
                account_cost_a += penalty_weight[RULE_REGIONS]
            if check_leaving and leaving[a]:
                account_cost_a += penalty_weight[RULE_LEAVING]
            if cached_current:
                travel_leaving = workload_i * current_distance[i]
            else:
                travel_leaving = workload_i * account_rep_distance(
                    i, a, account_xyz, rep_xyz, distance
                )
        else:
            assigned_workload += workload_i
        inverse_assigned_workload = inverse(assigned_workload)
        if moved_a and protected_i:
            account_cost_a += penalty_weight[RULE_PROTECTED]
        if locked_i and a != current:
            account_cost_a += penalty_weight[RULE_LOCKED]
        squares_potential_a = squares_potential + (new_a[0] - old_a[0])
        squares_workload_a = squares_workload + (new_a[1] - old_a[1])
        rule_terms_a = (
            penalty_weight[RULE_CAPACITY] * (new_a[2] - old_a[2])
            + penalty_weight[RULE_MIN_ACCOUNTS] * (new_a[3] - old_a[3])
            + penalty_weight[RULE_MAX_ACCOUNTS] * (new_a[4] - old_a[4])
            + penalty_weight[RULE_POTENTIAL_CHANGE] * (new_a[5] - old_a[5])
            + penalty_weight[RULE_BALANCE] * balance_a
        )
        barred_start = barred_ptr[i]
        barred_stop = barred_ptr[i + 1]
        if check_barred and a >= 0:
            for e in range(barred_start, barred_stop):
                if barred_rep[e] == a:
                    account_cost_a += penalty_weight[RULE_BARRED]
                    break

        for c in range(candidate_rep.shape[1]):
            b = candidate_rep[i, c]
            if b < 0:
                out[t, c] = np.inf
                continue
            if b == a:
                out[t, c] = 0.0
                continue
            # Territory b gains i: each term's change in closed form, s((x+d)^2 - x^2) =
            # s d (2x + d) for the imbalance squares, rules only where switched on.
            inverse_s = inverse_share(share[b])
            inverse_target = inverse_s * inverse_potential
            excess = totals[POTENTIAL, b] * inverse_target - 1.0
            step = potential_i * inverse_target
            new_squares_potential = squares_potential_a + share[b] * step * (excess + excess + step)
            inverse_target = inverse_s * inverse_workload
            excess = totals[WORKLOAD, b] * inverse_target - 1.0
            step = workload_i * inverse_target
            new_squares_workload = squares_workload_a + share[b] * step * (excess + excess + step)
            rule_terms = rule_terms_a
            if check_capacity:
                limit = capacity[b] * capacity_factor
                workload_b = totals[WORKLOAD, b]
                rule_terms += penalty_weight[RULE_CAPACITY] * (
                    max(0.0, (workload_b + workload_i) - limit) - max(0.0, workload_b - limit)
                )
            count_b = totals[ACCOUNT_COUNT, b]
            if check_min_accounts and not leaving[b]:
                rule_terms += penalty_weight[RULE_MIN_ACCOUNTS] * (
                    max(0.0, min_accounts - (count_b + count_i)) - max(0.0, min_accounts - count_b)
                )
            if check_max_accounts:
                rule_terms += penalty_weight[RULE_MAX_ACCOUNTS] * (
                    max(0.0, (count_b + count_i) - max_accounts) - max(0.0, count_b - max_accounts)
                )
            if check_potential_change and baseline[b] > 0.0:
                potential_b = totals[POTENTIAL, b]
                rule_terms += penalty_weight[RULE_POTENTIAL_CHANGE] * (
                    max(0.0, abs((potential_b + potential_i) / baseline[b] - 1.0) - max_change)
                    - max(0.0, abs(potential_b / baseline[b] - 1.0) - max_change)
                )
            if n_banded > 0 and inverse_s != 0.0:
                balance = 0.0
                for q in range(n_banded):
                    m = banded[q]
                    inverse_target = inverse_s * inverse_grand[m]
                    excess = totals[m, b] * inverse_target - 1.0
                    balance += max(
                        0.0, abs(excess + measures[m, i] * inverse_target) - tolerance[m]
                    ) - max(0.0, abs(excess) - tolerance[m])
                rule_terms += penalty_weight[RULE_BALANCE] * balance
            if cached_candidates:
                d_ib = candidate_distance[i, c]
            else:
                d_ib = account_rep_distance(i, b, account_xyz, rep_xyz, distance)
            if a >= 0:
                travel = travel_sum + (workload_i * d_ib - travel_leaving)
            else:
                travel = travel_sum + workload_i * d_ib

            account_cost = -account_cost_a
            moved = moved_before
            moved_potential = moved_potential_before
            moved_b = current >= 0 and b != current
            if moved_b != moved_a:
                if moved_a:
                    moved -= 1.0
                    moved_potential -= potential_i
                else:
                    moved += 1.0
                    moved_potential += potential_i
            if moved == 0.0:
                moved_potential = 0.0
            if moved_b and protected_i:
                account_cost += penalty_weight[RULE_PROTECTED]
            if locked_i and b != current:
                account_cost += penalty_weight[RULE_LOCKED]
            skilled = skill[b, segment_i]
            mismatch = mismatch_before
            mismatched_b = has_skills[b] and not skilled
            if mismatched_b != mismatched_a:
                if mismatched_a:
                    mismatch -= potential_i
                else:
                    mismatch += potential_i
            if check_specialists and specialist[b] and not skilled:
                account_cost += penalty_weight[RULE_SPECIALISTS]
            if check_regions and not region_ok[b, region_i]:
                account_cost += penalty_weight[RULE_REGIONS]
            if check_leaving and leaving[b]:
                account_cost += penalty_weight[RULE_LEAVING]
            if check_barred:
                for e in range(barred_start, barred_stop):
                    if barred_rep[e] == b:
                        account_cost += penalty_weight[RULE_BARRED]
                        break

            total = weight_potential * (np.sqrt(max(new_squares_potential, 0.0)) - root_potential)
            total += weight_workload * (np.sqrt(max(new_squares_workload, 0.0)) - root_workload)
            total += weight_travel * (travel * inverse_assigned_workload - travel_before)
            total += weight_disruption * (moved_potential * inverse_potential - disruption_before)
            total += weight_mismatch * (mismatch * inverse_potential - mismatch_share_before)
            total += rule_terms
            total += penalty_weight[RULE_MAX_MOVED] * (
                budget_excess(moved, check_moved, rules.max_moved) - moved_excess_before
            )
            total += penalty_weight[RULE_MAX_MOVED_POTENTIAL] * (
                budget_excess(moved_potential, check_moved_potential, rules.max_moved_potential)
                - moved_potential_excess_before
            )
            out[t, c] = total + account_cost


@njit
def _apply(
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
    """Move i from its rep a to b (and k from b to a when k >= 0), updating the state."""
    a = rep_of_account[i]
    objective_delta = np.empty(N_OBJECTIVES)
    violation_delta = np.empty(N_RULES)
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
        objective_delta,
        violation_delta,
    )
    for r in range(N_RULES):
        violations[r] += violation_delta[r]
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
            totals[m, j] = territory_after(
                totals[m, j],
                measures[m, leaver] if leaver >= 0 else 0.0,
                measures[m, joiner] if joiner >= 0 else 0.0,
                count_after,
            )
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
    _apply(
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
    _apply(
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
