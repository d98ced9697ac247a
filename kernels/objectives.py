"""Full evaluation of a design: territory totals, the five objectives and rule violations.

DESIGN §3 exactly; one pass over accounts in a fixed number of blocks, so results are
bit-identical whatever the number of Numba threads.

Conventions where §3 is silent (kernels/deltas.py follows them too):

- a rep with s_j = 0 (a leaving rep) adds no term to the imbalance objectives nor to the
  balance band;
- a measure whose grand total is 0 adds no term (imbalance and balance band);
- a ratio whose denominator is 0 is 0: travel with no assigned workload, disruption and
  skill_mismatch when the total potential is 0;
- an account is moved when it has a current rep and its rep differs from it (unassigning
  it counts as moved);
- an empty territory's totals are exactly 0.
"""

import numpy as np
from numba import prange

from kernels.arrays import (
    ACCOUNT_COUNT,
    DISRUPTION,
    N_RULES,
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

# Entries of the `sums` vector: the running sums the objectives are made of.
SUM_TRAVEL = 0  # sum over assigned accounts of workload_i * d(i, a(i))  (hour km)
SUM_ASSIGNED_WORKLOAD = 1  # sum over assigned accounts of workload_i
SUM_MOVED = 2  # accounts moved (current rep set and a(i) != current(i))
SUM_MOVED_POTENTIAL = 3  # potential of the moved accounts
SUM_MISMATCH_POTENTIAL = 4  # potential of accounts held by a rep with skills outside them
SUM_MAX_DISTANCE = 5  # max over assigned accounts of d(i, a(i)); apply_* keep an upper bound
SUM_UNASSIGNED = 6  # accounts with no rep
SUM_SQUARES_POTENTIAL = 7  # sum_j s_j (P_j / P*_j - 1)^2, the square of potential_imbalance
SUM_SQUARES_WORKLOAD = 8  # sum_j s_j (W_j / W*_j - 1)^2, the square of workload_imbalance
N_SUMS = 9

SUM_NAMES = (
    "travel",
    "assigned_workload",
    "moved",
    "moved_potential",
    "mismatch_potential",
    "max_distance",
    "unassigned",
    "squares_potential",
    "squares_workload",
)

# Accounts are cut into this many blocks whatever the thread count (determinism).
N_BLOCKS = 64
# Below this many accounts the blocks run serially: waking the thread pool costs more.
PARALLEL_FROM = 16384


@njit(inline="always")
def ratio(numerator, denominator):
    """Divide, giving 0 when the denominator is 0 (DESIGN §3 convention)."""
    if denominator == 0.0:
        return 0.0
    return numerator / denominator


@njit(inline="always")
def inverse(value):
    """1 / value, 0 when value is 0 (a measure totalling 0 adds no term)."""
    if value == 0.0:
        return 0.0
    return 1.0 / value


@njit(inline="always")
def inverse_share(share):
    """1 / s_j, 0 when s_j <= 0 (a leaving rep adds no term)."""
    if share <= 0.0:
        return 0.0
    return 1.0 / share


@njit(inline="always")
def imbalance_term(total, share, inverse_target):
    """s_j (X_j / X*_j - 1)^2, given 1 / X*_j = inverse_share(s_j) * inverse(G) (0: no term)."""
    if inverse_target == 0.0:
        return 0.0
    excess = total * inverse_target - 1.0
    return share * excess * excess


@njit(inline="always")
def band_excess(total, inverse_target, tolerance):
    """max(0, |X_j / X*_j - 1| - tol); 0 without a target or when tol is inf (not banded)."""
    if inverse_target == 0.0 or not tolerance < np.inf:
        return 0.0
    return max(0.0, abs(total * inverse_target - 1.0) - tolerance)


@njit(inline="always")
def territory_after(total, value_out, value_in, count_after):
    """A territory total after one account's value leaves and another's joins (0.0: none).

    An emptied territory is exactly 0, so rounding left by earlier moves does not survive.
    Deltas and apply_* both use this, so later deltas start from the terms they predicted.
    """
    if count_after == 0.0:
        return 0.0
    return (total - value_out) + value_in


@njit(inline="always")
def territory_terms(
    count,
    potential,
    workload,
    share,
    inverse_potential_target,
    inverse_workload_target,
    capacity_limit,
    minimum,
    maximum,
    baseline,
    max_change,
):
    """Per-territory terms of one rep from its totals (scalars in, so it inlines cleanly).

    The targets come as 1 / X*_j (0: no term). A switched-off rule is passed as an
    infinite limit (capacity_limit, maximum and max_change = inf, minimum = -inf), which
    makes its term 0.

    Returns
    -------
    tuple of float64
        (potential imbalance square, workload imbalance square, capacity excess,
        min-accounts shortfall, max-accounts excess, potential-change excess).
    """
    potential_change = 0.0
    if baseline > 0.0 and max_change < np.inf:
        potential_change = max(0.0, abs(potential / baseline - 1.0) - max_change)
    return (
        imbalance_term(potential, share, inverse_potential_target),
        imbalance_term(workload, share, inverse_workload_target),
        max(0.0, workload - capacity_limit),
        max(0.0, minimum - count),
        max(0.0, count - maximum),
        potential_change,
    )


@njit(inline="always")
def rule_limits(on, capacity_slack, min_accounts, max_accounts, max_potential_change):
    """The limits `territory_terms` takes, infinite for rules switched off.

    Parameters are ``rules.on`` and the scalar fields of RuleArrays.

    Returns
    -------
    tuple of float64
        (capacity factor 1 + slack, minimum accounts, maximum accounts, max potential change).
    """
    return (
        1.0 + capacity_slack if on[RULE_CAPACITY] else np.inf,
        min_accounts if on[RULE_MIN_ACCOUNTS] else -np.inf,
        max_accounts if on[RULE_MAX_ACCOUNTS] else np.inf,
        max_potential_change if on[RULE_POTENTIAL_CHANGE] else np.inf,
    )


@njit(inline="always")
def budget_excess(amount, is_on, budget):
    """Violation of a disruption budget (max moved, max moved potential); 0 when off."""
    if not is_on:
        return 0.0
    return max(0.0, amount - budget)


# Numba does not reliably inline calls between jitted functions, and a call that passes
# arrays or named tuples pays reference counting and argument unpacking every time (tens of
# ns). Hot loops are therefore written flat over arrays bound once at the top of the kernel,
# and the helpers they call take scalars only.
@njit
def _accumulate_block(
    start,
    stop,
    rep_of_account,
    accounts,
    reps,
    distance,
    on,
    distance_limit,
    totals,
    grand,
    sums,
    counts,
):
    """Serial pass over accounts [start, stop) into one block's buffers (zeroed here).

    `distance_limit` is the max_distance rule's km, inf when the rule is off.
    """
    measures = accounts.measures
    current_rep = accounts.current_rep
    segment = accounts.segment
    region = accounts.region
    locked = accounts.locked
    protected = accounts.protected
    barred_ptr = accounts.barred_ptr
    barred_rep = accounts.barred_rep
    account_xyz = accounts.xyz
    rep_xyz = reps.xyz
    skill = reps.skill
    has_skills = reps.has_skills
    specialist = reps.specialist
    region_ok = reps.region_ok
    leaving = reps.leaving
    check_locked = on[RULE_LOCKED]
    check_protected = on[RULE_PROTECTED]
    check_regions = on[RULE_REGIONS]
    check_specialists = on[RULE_SPECIALISTS]
    check_leaving = on[RULE_LEAVING]
    check_barred = on[RULE_BARRED]
    n_measures = measures.shape[0]

    totals[:, :] = 0.0
    grand[:] = 0.0
    counts[:] = 0.0
    travel = 0.0
    assigned_workload = 0.0
    moved = 0.0
    moved_potential = 0.0
    mismatch_potential = 0.0
    max_distance = 0.0
    unassigned = 0.0
    n_locked = 0.0
    n_protected = 0.0
    n_regions = 0.0
    n_specialists = 0.0
    n_leaving = 0.0
    n_barred = 0.0
    n_far = 0.0
    for i in range(start, stop):
        j = rep_of_account[i]
        potential = measures[POTENTIAL, i]
        current = current_rep[i]
        if current >= 0 and j != current:
            moved += 1.0
            moved_potential += potential
            if check_protected and protected[i]:
                n_protected += 1.0
        if check_locked and locked[i] and j != current:
            n_locked += 1.0
        if j < 0:
            for m in range(n_measures):
                grand[m] += measures[m, i]
            unassigned += 1.0
            continue
        for m in range(n_measures):
            value = measures[m, i]
            grand[m] += value
            totals[m, j] += value
        workload = measures[WORKLOAD, i]
        d = account_rep_distance(i, j, account_xyz, rep_xyz, distance)
        travel += workload * d
        assigned_workload += workload
        max_distance = max(max_distance, d)
        if d > distance_limit:
            n_far += 1.0
        skilled = skill[j, segment[i]]
        if has_skills[j] and not skilled:
            mismatch_potential += potential
        if check_specialists and specialist[j] and not skilled:
            n_specialists += 1.0
        if check_regions and not region_ok[j, region[i]]:
            n_regions += 1.0
        if check_leaving and leaving[j]:
            n_leaving += 1.0
        if check_barred:
            for e in range(barred_ptr[i], barred_ptr[i + 1]):
                if barred_rep[e] == j:
                    n_barred += 1.0
                    break
    sums[SUM_TRAVEL] = travel
    sums[SUM_ASSIGNED_WORKLOAD] = assigned_workload
    sums[SUM_MOVED] = moved
    sums[SUM_MOVED_POTENTIAL] = moved_potential
    sums[SUM_MISMATCH_POTENTIAL] = mismatch_potential
    sums[SUM_MAX_DISTANCE] = max_distance
    sums[SUM_UNASSIGNED] = unassigned
    sums[SUM_SQUARES_POTENTIAL] = 0.0
    sums[SUM_SQUARES_WORKLOAD] = 0.0
    counts[RULE_LOCKED] = n_locked
    counts[RULE_PROTECTED] = n_protected
    counts[RULE_REGIONS] = n_regions
    counts[RULE_SPECIALISTS] = n_specialists
    counts[RULE_LEAVING] = n_leaving
    counts[RULE_BARRED] = n_barred
    counts[RULE_MAX_DISTANCE] = n_far


@njit(parallel=True)
def _accumulate_blocks(
    rep_of_account,
    accounts,
    reps,
    distance,
    on,
    distance_limit,
    block_totals,
    block_grand,
    block_sums,
    block_counts,
):
    """Fill the per-block buffers, one block per iteration, in parallel."""
    n_accounts = rep_of_account.shape[0]
    n_blocks = block_totals.shape[0]
    for block in prange(n_blocks):
        _accumulate_block(
            block * n_accounts // n_blocks,
            (block + 1) * n_accounts // n_blocks,
            rep_of_account,
            accounts,
            reps,
            distance,
            on,
            distance_limit,
            block_totals[block],
            block_grand[block],
            block_sums[block],
            block_counts[block],
        )


@njit
def evaluate_design(
    rep_of_account, accounts, reps, distance, rules, totals, grand_totals, sums, violations
):
    """Evaluate a design from scratch (DESIGN §3).

    Parameters
    ----------
    rep_of_account : int64[n_accounts]
        Rep of each account, -1 when unassigned.
    accounts : AccountArrays
    reps : RepArrays
    distance : DistanceArrays
    rules : RuleArrays
    totals : float64[n_measures, n_reps]
        Out: X_mj, the sum of each measure row over each territory (P_j, W_j, N_j, extras).
    grand_totals : float64[n_measures]
        Out: each measure summed over all accounts, assigned or not.
    sums : float64[N_SUMS]
        Out: the running sums, indexed by the SUM_* constants.
    violations : float64[N_RULES]
        Out: each rule's violation amount (kernels/arrays.py), 0 for rules switched off.
        Contiguity is computed (by `count_islands`) only when its rule is on.

    Notes
    -----
    The accounts are cut into N_BLOCKS blocks whatever the thread count, and the blocks
    are summed in a fixed order: results are bit-identical for any number of threads.
    """
    n_measures, n_reps = totals.shape
    on = rules.on
    distance_limit = rules.max_distance if on[RULE_MAX_DISTANCE] else np.inf
    block_totals = np.empty((N_BLOCKS, n_measures, n_reps))
    block_grand = np.empty((N_BLOCKS, n_measures))
    block_sums = np.empty((N_BLOCKS, N_SUMS))
    block_counts = np.empty((N_BLOCKS, N_RULES))
    n_accounts = rep_of_account.shape[0]
    if n_accounts >= PARALLEL_FROM:
        _accumulate_blocks(
            rep_of_account,
            accounts,
            reps,
            distance,
            on,
            distance_limit,
            block_totals,
            block_grand,
            block_sums,
            block_counts,
        )
    else:
        # The same blocks through the same compiled block kernel, hence the same bits,
        # without waking the thread pool for a small design.
        for block in range(N_BLOCKS):
            _accumulate_block(
                block * n_accounts // N_BLOCKS,
                (block + 1) * n_accounts // N_BLOCKS,
                rep_of_account,
                accounts,
                reps,
                distance,
                on,
                distance_limit,
                block_totals[block],
                block_grand[block],
                block_sums[block],
                block_counts[block],
            )
    # Blocks are summed in a fixed order, whatever thread filled them.
    totals[:, :] = 0.0
    grand_totals[:] = 0.0
    sums[:] = 0.0
    violations[:] = 0.0
    for block in range(N_BLOCKS):
        for m in range(n_measures):
            grand_totals[m] += block_grand[block, m]
            for j in range(n_reps):
                totals[m, j] += block_totals[block, m, j]
        for s in range(N_SUMS):
            if s == SUM_MAX_DISTANCE:
                sums[s] = max(sums[s], block_sums[block, s])
            else:
                sums[s] += block_sums[block, s]
        for r in range(N_RULES):
            violations[r] += block_counts[block, r]

    share = reps.target_share
    capacity = reps.capacity
    baseline = reps.baseline_potential
    leaving = reps.leaving
    tolerance = rules.band_tolerance
    capacity_factor, min_accounts, max_accounts, max_change = rule_limits(
        on, rules.capacity_slack, rules.min_accounts, rules.max_accounts, rules.max_potential_change
    )
    banding = on[RULE_BALANCE]
    inverse_grand = np.empty(n_measures)
    for m in range(n_measures):
        inverse_grand[m] = inverse(grand_totals[m])
    for j in range(n_reps):
        inverse_s = inverse_share(share[j])
        terms = territory_terms(
            totals[ACCOUNT_COUNT, j],
            totals[POTENTIAL, j],
            totals[WORKLOAD, j],
            share[j],
            inverse_s * inverse_grand[POTENTIAL],
            inverse_s * inverse_grand[WORKLOAD],
            capacity[j] * capacity_factor,
            -np.inf if leaving[j] else min_accounts,
            max_accounts,
            baseline[j],
            max_change,
        )
        sums[SUM_SQUARES_POTENTIAL] += terms[0]
        sums[SUM_SQUARES_WORKLOAD] += terms[1]
        violations[RULE_CAPACITY] += terms[2]
        violations[RULE_MIN_ACCOUNTS] += terms[3]
        violations[RULE_MAX_ACCOUNTS] += terms[4]
        violations[RULE_POTENTIAL_CHANGE] += terms[5]
        if banding:
            for m in range(n_measures):
                violations[RULE_BALANCE] += band_excess(
                    totals[m, j], inverse_s * inverse_grand[m], tolerance[m]
                )
    violations[RULE_MAX_MOVED] = budget_excess(sums[SUM_MOVED], on[RULE_MAX_MOVED], rules.max_moved)
    violations[RULE_MAX_MOVED_POTENTIAL] = budget_excess(
        sums[SUM_MOVED_POTENTIAL], on[RULE_MAX_MOVED_POTENTIAL], rules.max_moved_potential
    )
    if on[RULE_CONTIGUITY]:
        violations[RULE_CONTIGUITY] = count_islands(
            rep_of_account, n_reps, accounts.neighbour_ptr, accounts.neighbour
        )


@njit
def objectives_from_sums(sums, grand_totals, out):
    """The five objectives of DESIGN §3 from the running sums.

    Parameters
    ----------
    sums : float64[N_SUMS]
    grand_totals : float64[n_measures]
    out : float64[N_OBJECTIVES]
        Out: indexed by kernels.arrays' objective constants.
    """
    out[POTENTIAL_IMBALANCE] = np.sqrt(max(sums[SUM_SQUARES_POTENTIAL], 0.0))
    out[WORKLOAD_IMBALANCE] = np.sqrt(max(sums[SUM_SQUARES_WORKLOAD], 0.0))
    out[TRAVEL] = ratio(sums[SUM_TRAVEL], sums[SUM_ASSIGNED_WORKLOAD])
    out[DISRUPTION] = ratio(sums[SUM_MOVED_POTENTIAL], grand_totals[POTENTIAL])
    out[SKILL_MISMATCH] = ratio(sums[SUM_MISMATCH_POTENTIAL], grand_totals[POTENTIAL])


@njit
def count_islands(rep_of_account, n_reps, neighbour_ptr, neighbour):
    """Contiguity violation: sum over non-empty territories of (connected components - 1).

    Union-find over the edges that join two accounts of the same territory.

    Parameters
    ----------
    rep_of_account : int64[n_accounts]
    n_reps : int64
    neighbour_ptr : int64[n_accounts + 1]
        CSR row pointers of the neighbour graph.
    neighbour : int64[n_edges]

    Returns
    -------
    float64
    """
    n_accounts = rep_of_account.shape[0]
    parent = np.arange(n_accounts)
    for i in range(n_accounts):
        j = rep_of_account[i]
        if j < 0:
            continue
        for e in range(neighbour_ptr[i], neighbour_ptr[i + 1]):
            k = neighbour[e]
            if rep_of_account[k] != j:
                continue
            root_i = i
            while parent[root_i] != root_i:
                parent[root_i] = parent[parent[root_i]]  # path halving
                root_i = parent[root_i]
            root_k = k
            while parent[root_k] != root_k:
                parent[root_k] = parent[parent[root_k]]
                root_k = parent[root_k]
            if root_i != root_k:
                parent[max(root_i, root_k)] = min(root_i, root_k)
    non_empty = np.zeros(n_reps, dtype=np.bool_)
    islands = 0
    for i in range(n_accounts):
        j = rep_of_account[i]
        if j < 0 or parent[i] != i:
            continue
        # Each root is one component; the first one seen in a territory is not an island.
        if non_empty[j]:
            islands += 1
        else:
            non_empty[j] = True
    return float(islands)
