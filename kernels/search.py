"""Local search kernels (DESIGN §4): candidate lists, shift and swap moves, descent, kicks.

The engine (engine/optimize.py) owns the loop and the clock; each call here does a bounded number
of steps on a state kept in arrays, so the same number of steps gives the same design whatever
the chunking.

Moves are scored by the weighted sum of normalised objectives plus penalty weights × rule
violations, with the exact O(1) deltas of kernels/deltas.py. A move only goes to a rep in the
account's candidate list, so the unary rules (regions, specialists, barred, leaving, locked,
protected) are never broken by a move. Contiguity, when its rule is on, is kept by checks: a
shift out of territory a needs the account's neighbours in a to stay connected without it (a
bounded breadth-first search inside a), and a shift into territory b needs a neighbour in b.
"""

from collections import namedtuple

import numpy as np

from kernels.arrays import (
    ACCOUNT_COUNT,
    N_OBJECTIVES,
    N_RULES,
    RULE_BARRED,
    RULE_CONTIGUITY,
    RULE_LEAVING,
    RULE_LOCKED,
    RULE_MAX_DISTANCE,
    RULE_PROTECTED,
    RULE_REGIONS,
    RULE_SPECIALISTS,
)
from kernels.deltas import apply_move, apply_shift, shift_deltas_weighted, swap_deltas_weighted
from kernels.geo import account_rep_distance
from kernels.jit import njit
from kernels.objectives import (
    objectives_from_sums,
)

SearchState = namedtuple(
    "SearchState",
    [
        "rep_of_account",  # int64[n_accounts]: the design being improved, in place
        "totals",  # float64[n_measures, n_reps]: as filled by evaluate_design, kept by apply_*
        "grand_totals",  # float64[n_measures]
        "sums",  # float64[N_SUMS]
        "violations",  # float64[N_RULES]; the contiguity entry is not kept up to date
        "current_distance",  # float64[n_accounts]: d(i, rep_of_account[i]), 0 when unassigned
        "order",  # int64[n_accounts]: the order in which descent examines accounts
        "counters",  # int64[N_COUNTERS]: see the indices below
        "mark",  # int64[n_accounts]: scratch stamps of the contiguity search (start at -1)
        "queue",  # int64[n_accounts]: scratch queue of the contiguity search
        "rep_moved",  # int64[n_reps]: counters[MOVES] after the last move into or out of a rep
        "account_seen",  # int64[n_accounts]: counters[MOVES] when last examined in vain (-1)
        "near_move",  # bool[n_accounts]: a move next to it since its swaps were last tried
    ],
)

Neighbourhood = namedtuple(
    "Neighbourhood",
    [
        "candidate_rep",  # int64[n_accounts, k]: allowed reps, nearest first, -1 padded
        "candidate_distance",  # float64[n_accounts, k]: d(i, candidate_rep[i, c])
        "swap_ptr",  # int64[n_accounts + 1]: CSR graph of swap partners (nearby accounts)
        "swap_neighbour",  # int64[n_edges]; empty: no swaps
        "rep_ptr",  # int64[n_reps + 1]: CSR of the accounts whose candidate list holds each rep
        "rep_account",  # int64[n_accounts * k, at most]
    ],
)

# Indices into SearchState.counters.
STEPS = 0  # descent: accounts examined in the current phase
MOVES = 1  # moves applied, every phase (moves a kick round undoes included)
SHIFTS = 2  # shifts applied
SWAPS = 3  # swaps applied
POSITION = 4  # descent: next index into `order` in the current sweep
SWEEP_MOVES = 5  # descent: moves in the current sweep
SWAPPING = 6  # descent: 1 once the shifts alone are at a local optimum (swaps are tried too)
STRICT = 7  # descent: 1 while a sweep examines every account (0: unchanged ones are skipped)
BATCH = 8  # descent: accounts whose shifts are scored in one call (adapts to the move rate)
REFUSED = 9  # improving moves refused by the contiguity check
STAMP = 10  # last stamp used in `mark`
ROUNDS = 11  # kicks: rounds done in the current phase
STALE = 12  # kicks: rounds since the last one that improved the score
ACCEPTED = 13  # kicks: rounds kept
N_COUNTERS = 14

# Indices into the float64 `params` vector.
MIN_GAIN = 0  # a move (and a kick round) must lower the score by more than this
SEARCH_LIMIT = 1  # contiguity: largest number of accounts one check may visit
MAX_ROUNDS = 2  # kicks: rounds in the phase
MAX_STALE = 3  # kicks: the phase ends after this many rounds in a row without improvement
ROUND_STEPS = 4  # kicks: accounts one round's local descent may examine
N_PARAMS = 5

# What a search call returns.
RUNNING = 0  # the budget of this call ran out; call again
CONVERGED = 1  # descent: a local optimum; kicks: the phase is over
MOVE_LIMIT = 2  # the move limit is reached

_LOG_LENGTH = 4096  # kicks: moves one round may make (its undo log)
# Descent scores the shifts of up to this many accounts in one call, fewer while many move.
# After a move, the rest of the batch that looked improving is scored again before it moves;
# the rest waits for the next sweep. (The sweep that ends a descent moves nothing, so every
# account in it was scored on the exact final state.)
_MAX_BATCH = 64


@njit(inline="always")
def _is_barred(i, j, barred_ptr, barred_rep):
    """Whether account i bars rep j."""
    for e in range(barred_ptr[i], barred_ptr[i + 1]):
        if barred_rep[e] == j:
            return True
    return False


@njit
def select_candidates(
    nearest, accounts, reps, distance, rules, include_current, candidate_rep, candidate_distance
):
    """Each account's k nearest reps that the unary rules allow, nearest first.

    Allowed: not leaving, covering the account's region, a specialist only in the account's
    segment, not barred by it (each rule only where switched on); a locked account (locked
    rule on) or a protected one (protected rule on) allows only its current rep. The rows of
    `nearest` are searched first; a row with fewer than k allowed reps there is searched again
    over every rep, so the result is exact. Ties in distance go to the lower rep index.

    Parameters
    ----------
    nearest : int64[n_accounts, q]
        Reps by increasing distance from each account (a KD-tree query), q <= n_reps; q = 0
        searches every rep (explicit distance matrices).
    accounts : AccountArrays
    reps : RepArrays
        ``reps.xyz`` are the points distances are measured to (rep homes, or greenfield sites).
    distance : DistanceArrays
    rules : RuleArrays
    include_current : bool
        Keep the account's current rep when it is allowed, in place of the k-th nearest.
    candidate_rep : int64[n_accounts, k]
        Out: rep indices, -1 padded.
    candidate_distance : float64[n_accounts, k]
        Out: d(i, candidate_rep[i, c]); inf where padded.
    """
    n_accounts, k = candidate_rep.shape
    n_reps = reps.leaving.shape[0]
    q = nearest.shape[1]
    on = rules.on
    check_regions = on[RULE_REGIONS]
    check_specialists = on[RULE_SPECIALISTS]
    check_barred = on[RULE_BARRED]
    check_leaving = on[RULE_LEAVING]
    check_locked = on[RULE_LOCKED]
    check_protected = on[RULE_PROTECTED]
    distance_limit = rules.max_distance if on[RULE_MAX_DISTANCE] else np.inf
    region = accounts.region
    segment = accounts.segment
    current_rep = accounts.current_rep
    locked = accounts.locked
    protected = accounts.protected
    barred_ptr = accounts.barred_ptr
    barred_rep = accounts.barred_rep
    account_xyz = accounts.xyz
    leaving = reps.leaving
    region_ok = reps.region_ok
    specialist = reps.specialist
    skill = reps.skill
    rep_xyz = reps.xyz
    for i in range(n_accounts):
        for c in range(k):
            candidate_rep[i, c] = -1
            candidate_distance[i, c] = np.inf
        current = current_rep[i]
        only_current = (check_locked and locked[i]) or (check_protected and protected[i])
        found = 0
        # Pass 0 reads the tree's nearest reps, pass 1 every rep (a short row or no tree).
        for sweep in range(2):
            if sweep == 0 and (q == 0 or only_current):
                continue
            if sweep == 1 and found == k:
                break
            if sweep == 1 and q >= n_reps and not only_current:
                break
            found = 0
            n_reps_seen = q if sweep == 0 else n_reps
            if sweep == 1 and only_current:
                n_reps_seen = 1 if current >= 0 else 0
            for t in range(n_reps_seen):
                j = nearest[i, t] if sweep == 0 else t
                if sweep == 1 and only_current:
                    j = current
                if check_leaving and leaving[j]:
                    continue
                if check_regions and not region_ok[j, region[i]]:
                    continue
                if check_specialists and specialist[j] and not skill[j, segment[i]]:
                    continue
                if check_barred and _is_barred(i, j, barred_ptr, barred_rep):
                    continue
                d = account_rep_distance(i, j, account_xyz, rep_xyz, distance)
                if d > distance_limit:
                    continue
                # Insert (d, j) into the sorted row, dropping the farthest when full.
                if found == k:
                    last = candidate_distance[i, k - 1]
                    if d > last or (d == last and j > candidate_rep[i, k - 1]):
                        continue
                    position = k - 1
                else:
                    position = found
                    found += 1
                while position > 0 and (
                    candidate_distance[i, position - 1] > d
                    or (
                        candidate_distance[i, position - 1] == d
                        and candidate_rep[i, position - 1] > j
                    )
                ):
                    candidate_distance[i, position] = candidate_distance[i, position - 1]
                    candidate_rep[i, position] = candidate_rep[i, position - 1]
                    position -= 1
                candidate_distance[i, position] = d
                candidate_rep[i, position] = j
        if not include_current or current < 0 or only_current or found == 0:
            continue
        # The current rep, when allowed and not listed, takes the farthest slot (it is farther).
        listed = False
        for c in range(found):
            if candidate_rep[i, c] == current:
                listed = True
        if listed:
            continue
        j = current
        if check_leaving and leaving[j]:
            continue
        if check_regions and not region_ok[j, region[i]]:
            continue
        if check_specialists and specialist[j] and not skill[j, segment[i]]:
            continue
        if check_barred and _is_barred(i, j, barred_ptr, barred_rep):
            continue
        if account_rep_distance(i, j, account_xyz, rep_xyz, distance) > distance_limit:
            continue
        slot = found if found < k else k - 1
        candidate_rep[i, slot] = j
        candidate_distance[i, slot] = account_rep_distance(i, j, account_xyz, rep_xyz, distance)


@njit
def symmetric_graph(nearest):
    """The undirected graph of k-nearest lists: a and b are joined when either lists the other.

    Parameters
    ----------
    nearest : int64[n, q]
        Each point's nearest points (a k-d tree query); the point itself is dropped.

    Returns
    -------
    ptr : int64[n + 1]
    neighbour : int64[n_edges]
        CSR rows, each sorted ascending without repeats.
    """
    n, q = nearest.shape
    degree = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        for c in range(q):
            j = nearest[i, c]
            if j != i:
                degree[i + 1] += 1
                degree[j + 1] += 1
    start = np.cumsum(degree)
    fill = start[:n].copy()
    both = np.empty(start[n], dtype=np.int64)
    for i in range(n):
        for c in range(q):
            j = nearest[i, c]
            if j != i:
                both[fill[i]] = j
                fill[i] += 1
                both[fill[j]] = i
                fill[j] += 1
    # Sort each (short) row by insertion and drop repeats, compacting in place.
    ptr = np.zeros(n + 1, dtype=np.int64)
    size = 0
    for i in range(n):
        row_start = size
        for e in range(start[i], start[i + 1]):
            x = both[e]
            position = size
            while position > row_start and both[position - 1] > x:
                position -= 1
            if position > row_start and both[position - 1] == x:
                continue
            for f in range(size, position, -1):
                both[f] = both[f - 1]
            both[position] = x
            size += 1
        ptr[i + 1] = size
    return ptr, both[:size].copy()


@njit
def accounts_by_rep(candidate_rep, n_reps):
    """CSR of the accounts whose candidate list holds each rep, ascending (a counting sort).

    Returns
    -------
    rep_ptr : int64[n_reps + 1]
    rep_account : int64[number of listed (account, rep) pairs]
    """
    n_accounts, k = candidate_rep.shape
    rep_ptr = np.zeros(n_reps + 1, dtype=np.int64)
    for i in range(n_accounts):
        for c in range(k):
            if candidate_rep[i, c] >= 0:
                rep_ptr[candidate_rep[i, c] + 1] += 1
    for j in range(n_reps):
        rep_ptr[j + 1] += rep_ptr[j]
    fill = rep_ptr[:n_reps].copy()
    rep_account = np.empty(rep_ptr[n_reps], dtype=np.int64)
    for i in range(n_accounts):
        for c in range(k):
            j = candidate_rep[i, c]
            if j >= 0:
                rep_account[fill[j]] = i
                fill[j] += 1
    return rep_ptr, rep_account


@njit
def design_distances(rep_of_account, accounts, reps, distance, out):
    """d(i, rep_of_account[i]) for every account (0 when unassigned) into `out`."""
    account_xyz = accounts.xyz
    rep_xyz = reps.xyz
    for i in range(rep_of_account.shape[0]):
        j = rep_of_account[i]
        out[i] = 0.0 if j < 0 else account_rep_distance(i, j, account_xyz, rep_xyz, distance)


@njit
def rep_distances(i, accounts, reps, distance, out):
    """d(i, j) from account i to every rep j into `out` (float64[n_reps])."""
    for j in range(out.shape[0]):
        out[j] = account_rep_distance(i, j, accounts.xyz, reps.xyz, distance)


@njit
def assign_greedy(order, candidate_rep, workload, limit, load, out):
    """Assign accounts in `order` to their nearest candidate with room (greedy regret).

    Room: load_j + workload_i <= limit_j. An account no candidate has room for goes to the
    candidate it overfills least (in hours). An account without candidates is left as it is.

    Parameters
    ----------
    order : int64[n]
        Accounts in the order they choose (largest regret first).
    candidate_rep : int64[n_accounts, k]
        Allowed reps, nearest first, -1 padded.
    workload : float64[n_accounts]
    limit : float64[n_reps]
    load : float64[n_reps]
        In and out: workload already held by each rep.
    out : int64[n_accounts]
        Out: the rep of each account in `order`.
    """
    k = candidate_rep.shape[1]
    for t in range(order.shape[0]):
        i = order[t]
        chosen = -1
        least = np.inf
        fallback = -1
        for c in range(k):
            j = candidate_rep[i, c]
            if j < 0:
                break
            after = load[j] + workload[i]
            if after <= limit[j]:
                chosen = j
                break
            if after - limit[j] < least:
                least = after - limit[j]
                fallback = j
        if chosen < 0:
            chosen = fallback
        if chosen >= 0:
            out[i] = chosen
            load[chosen] += workload[i]


@njit
def _can_leave(i, a, rep_of_account, ptr, neighbour, mark, queue, stamp, limit):
    """Whether i's neighbours in territory a stay connected in a without i.

    A breadth-first search inside a from one neighbour until it meets the others; it gives up
    (False, the safe answer) after visiting `limit` accounts. Marks use 2·stamp (a target) and
    2·stamp + 1 (visited), so `mark` never needs clearing.
    """
    target = 2 * stamp
    visited = target + 1
    n_targets = 0
    start = -1
    for e in range(ptr[i], ptr[i + 1]):
        x = neighbour[e]
        if x != i and rep_of_account[x] == a and mark[x] != target:
            mark[x] = target
            n_targets += 1
            start = x
    if n_targets <= 1:
        return True
    mark[start] = visited
    remaining = n_targets - 1
    queue[0] = start
    head = 0
    tail = 1
    while head < tail:
        u = queue[head]
        head += 1
        for e in range(ptr[u], ptr[u + 1]):
            y = neighbour[e]
            if y == i or rep_of_account[y] != a or mark[y] == visited:
                continue
            if mark[y] == target:
                remaining -= 1
                if remaining == 0:
                    return True
            mark[y] = visited
            if tail >= limit:
                return False
            queue[tail] = y
            tail += 1
    return False


@njit(inline="always")
def _can_join(i, b, leaver, rep_of_account, ptr, neighbour, count_after_leaving):
    """Whether i joins territory b next to one of its accounts (or b is otherwise empty)."""
    if count_after_leaving <= 0.0:
        return True
    for e in range(ptr[i], ptr[i + 1]):
        x = neighbour[e]
        if x != leaver and x != i and rep_of_account[x] == b:
            return True
    return False


@njit(inline="always")
def _slot(i, j, candidate_rep):
    """Position of rep j in account i's candidate list, -1 when absent."""
    for c in range(candidate_rep.shape[1]):
        if candidate_rep[i, c] == j:
            return c
    return -1


@njit
def _leaves_connected(i, a, state, accounts, limit):
    """Whether account i may leave territory a without splitting it (`_can_leave`)."""
    state.counters[STAMP] += 1
    return _can_leave(
        i,
        a,
        state.rep_of_account,
        accounts.neighbour_ptr,
        accounts.neighbour,
        state.mark,
        state.queue,
        state.counters[STAMP],
        limit,
    )


@njit
def _shift_allowed(i, a, b, state, accounts, contiguity, limit):
    """The contiguity check of shifting i from a to b (always True when the rule is off)."""
    if not contiguity:
        return True
    rep_of_account = state.rep_of_account
    ptr = accounts.neighbour_ptr
    neighbour = accounts.neighbour
    if not _can_join(i, b, -1, rep_of_account, ptr, neighbour, state.totals[ACCOUNT_COUNT, b]):
        return False
    if a < 0:
        return True
    state.counters[STAMP] += 1
    return _can_leave(
        i, a, rep_of_account, ptr, neighbour, state.mark, state.queue, state.counters[STAMP], limit
    )


@njit
def _swap_allowed(i, k, state, accounts, contiguity, limit):
    """The contiguity check of exchanging accounts i (in a) and k (in b)."""
    if not contiguity:
        return True
    rep_of_account = state.rep_of_account
    a = rep_of_account[i]
    b = rep_of_account[k]
    ptr = accounts.neighbour_ptr
    neighbour = accounts.neighbour
    totals = state.totals
    if not _can_join(i, b, k, rep_of_account, ptr, neighbour, totals[ACCOUNT_COUNT, b] - 1.0):
        return False
    if not _can_join(k, a, i, rep_of_account, ptr, neighbour, totals[ACCOUNT_COUNT, a] - 1.0):
        return False
    state.counters[STAMP] += 1
    if not _can_leave(
        i, a, rep_of_account, ptr, neighbour, state.mark, state.queue, state.counters[STAMP], limit
    ):
        return False
    state.counters[STAMP] += 1
    return _can_leave(
        k, b, rep_of_account, ptr, neighbour, state.mark, state.queue, state.counters[STAMP], limit
    )


@njit
def _find_pairs(
    account,
    wanted,
    one_way,
    rep_of_account,
    current_distance,
    candidate_rep,
    candidate_distance,
    swap_ptr,
    swap_neighbour,
    pairs,
):
    """The swap partners of each wanted account that may take its rep while it takes theirs.

    For account i = account[t] (when wanted[t]), a partner counts when it is in another
    territory b, b is in i's candidate list and i's rep a in the partner's (and, with
    one_way, it comes after i). Writes into `pairs` (from `_pair_buffers`) one row per pair:
    its accounts, the slots of b in i's list and of a in the partner's, and the distances
    `swap_deltas_weighted` takes, from the caches; i's rows are [pair_start[t], pair_stop[t]).
    The other arrays are the state's and the neighbourhood's (fields, not the named tuples,
    and a whole batch per call: each call pays for every array it takes).

    Returns
    -------
    int64
        The number of rows written.
    """
    first, partners, slots, pair_distance, _, pair_start, pair_stop, _, _ = pairs
    row = 0
    for t in range(account.shape[0]):
        pair_start[t] = row
        i = account[t]
        a = rep_of_account[i]
        if wanted[t] and a >= 0:
            for e in range(swap_ptr[i], swap_ptr[i + 1]):
                k = swap_neighbour[e]
                b = rep_of_account[k]
                if b < 0 or b == a or (one_way and k < i):
                    continue
                ci = _slot(i, b, candidate_rep)
                if ci < 0:
                    continue
                ck = _slot(k, a, candidate_rep)
                if ck < 0:
                    continue
                first[row] = i
                partners[row] = k
                slots[row, 0] = ci
                slots[row, 1] = ck
                pair_distance[row, 0] = current_distance[i]
                pair_distance[row, 1] = candidate_distance[i, ci]
                pair_distance[row, 2] = candidate_distance[k, ck]
                pair_distance[row, 3] = current_distance[k]
                row += 1
        pair_stop[t] = row
    return row


@njit
def _score_pairs(start, stop, state, accounts, reps, distance, rules, ow, pw, pairs):
    """Weighted change of the swaps in rows [start, stop) of `pairs`, into its values."""
    first, partners, _, pair_distance, values, _, _, _, _ = pairs
    swap_deltas_weighted(
        first[start:stop],
        partners[start:stop],
        pair_distance[start:stop],
        state.rep_of_account,
        accounts,
        reps,
        distance,
        rules,
        state.totals,
        state.grand_totals,
        state.sums,
        ow,
        pw,
        values[start:stop],
    )


@njit(inline="always")
def _best_pair(start, stop, values, min_gain):
    """Row of the most improving scored swap in [start, stop), -1 when none improves."""
    best = -1
    best_value = -min_gain
    for row in range(start, stop):
        if values[row] < best_value:
            best_value = values[row]
            best = row
    return best


@njit
def _max_degree(ptr):
    """Largest number of partners of one account in a CSR graph (at least 1)."""
    degree = 1
    for i in range(ptr.shape[0] - 1):
        degree = max(degree, ptr[i + 1] - ptr[i])
    return degree


@njit
def _pair_buffers(swap_ptr, n_accounts):
    """Buffers for the swaps of up to n_accounts accounts (`_find_pairs`, `_score_pairs`).

    Returns (first, partners, slots, pair_distance, values), one row per pair; then
    (pair_start, pair_stop), one entry per account; then (account, wanted), an input
    buffer for the accounts.
    """
    n_accounts = max(n_accounts, 1)
    rows = n_accounts * _max_degree(swap_ptr)
    return (
        np.empty(rows, dtype=np.int64),
        np.empty(rows, dtype=np.int64),
        np.empty((rows, 2), dtype=np.int64),
        np.empty((rows, 4)),
        np.empty(rows),
        np.zeros(n_accounts, dtype=np.int64),
        np.zeros(n_accounts, dtype=np.int64),
        np.zeros(n_accounts, dtype=np.int64),
        np.zeros(n_accounts, dtype=np.bool_),
    )


@njit(inline="always")
def _unsee_around(i, near_move, swap_ptr, swap_neighbour):
    """Mark account i and its swap partners as having a move next to them."""
    near_move[i] = True
    if swap_neighbour.shape[0] > 0:
        for e in range(swap_ptr[i], swap_ptr[i + 1]):
            near_move[swap_neighbour[e]] = True


@njit
def _do_shift(i, c, state, accounts, reps, rules, neighbourhood):
    """Apply the shift of account i to its candidate c and keep the distance cache."""
    b = neighbourhood.candidate_rep[i, c]
    a = state.rep_of_account[i]
    d_ib = neighbourhood.candidate_distance[i, c]
    apply_move(
        i,
        -1,
        b,
        state.current_distance[i],
        d_ib,
        0.0,
        0.0,
        state.rep_of_account,
        accounts,
        reps,
        rules,
        state.totals,
        state.grand_totals,
        state.sums,
        state.violations,
    )
    state.current_distance[i] = d_ib
    state.counters[MOVES] += 1
    state.counters[SHIFTS] += 1
    if a >= 0:
        state.rep_moved[a] = state.counters[MOVES]
    state.rep_moved[b] = state.counters[MOVES]
    _unsee_around(i, state.near_move, neighbourhood.swap_ptr, neighbourhood.swap_neighbour)


@njit
def _do_swap(i, k, ci, ck, state, accounts, reps, rules, neighbourhood):
    """Apply the exchange of i and k; ci, ck are the slots of their new reps in their lists."""
    a = state.rep_of_account[i]
    b = state.rep_of_account[k]
    current_distance = state.current_distance
    d_ib = neighbourhood.candidate_distance[i, ci]
    d_ka = neighbourhood.candidate_distance[k, ck]
    apply_move(
        i,
        k,
        b,
        current_distance[i],
        d_ib,
        d_ka,
        current_distance[k],
        state.rep_of_account,
        accounts,
        reps,
        rules,
        state.totals,
        state.grand_totals,
        state.sums,
        state.violations,
    )
    current_distance[i] = d_ib
    current_distance[k] = d_ka
    state.counters[MOVES] += 1
    state.counters[SWAPS] += 1
    state.rep_moved[a] = state.counters[MOVES]
    state.rep_moved[b] = state.counters[MOVES]
    _unsee_around(i, state.near_move, neighbourhood.swap_ptr, neighbourhood.swap_neighbour)
    _unsee_around(k, state.near_move, neighbourhood.swap_ptr, neighbourhood.swap_neighbour)


@njit
def _evaluate_shifts(index, state, accounts, reps, distance, rules, neighbourhood, ow, pw, out):
    """Weighted change of shifting each account of `index` to each of its candidates."""
    shift_deltas_weighted(
        index,
        neighbourhood.candidate_rep,
        neighbourhood.candidate_distance,
        state.current_distance,
        state.rep_of_account,
        accounts,
        reps,
        distance,
        rules,
        state.totals,
        state.grand_totals,
        state.sums,
        ow,
        pw,
        out,
    )


@njit
def _improve(
    i,
    values,
    with_swaps,
    state,
    accounts,
    reps,
    distance,
    rules,
    neighbourhood,
    objective_weight,
    penalty_weight,
    params,
    max_moves,
    tried,
    pairs,
):
    """Apply account i's best improving shift, else (with_swaps) its best improving swap.

    Shifts go to i's candidates, scored in `values` (float64[k], as from
    `shift_deltas_weighted` on the current state); a swap exchanges i with a swap partner in
    another territory when each goes to a rep in its own candidate list. with_swaps is 0 (no
    swaps), 1 (partners after i only: a sweep then tries each pair of a symmetric swap graph
    once) or 2 (every partner). Contiguity may refuse a move (the next best shift is tried).
    Nothing moves once state.counters[MOVES] reaches max_moves. `pairs` is scratch from
    `_pair_buffers` (one account's rows).

    Returns
    -------
    int64
        -2: nothing moved; -1: a shift; k >= 0: swapped with account k.
    """
    rep_of_account = state.rep_of_account
    counters = state.counters
    candidate_rep = neighbourhood.candidate_rep
    k = candidate_rep.shape[1]
    a = rep_of_account[i]
    if counters[MOVES] >= max_moves:
        return -2
    if candidate_rep[i, 0] == a and (k == 1 or candidate_rep[i, 1] < 0):
        return -2  # nowhere else to go (locked, protected, or one allowed rep)
    min_gain = params[MIN_GAIN]
    limit = int(params[SEARCH_LIMIT])
    contiguity = rules.on[RULE_CONTIGUITY]
    # Improving candidates best first; contiguity may refuse some.
    tried[:] = False
    leave = -1  # contiguity: whether i may leave a (-1: not checked yet)
    for _attempt in range(k):
        best = -1
        best_value = -min_gain
        for c in range(k):
            b = candidate_rep[i, c]
            if b < 0 or b == a or tried[c]:
                continue
            if values[c] < best_value:
                best_value = values[c]
                best = c
        if best < 0:
            break
        tried[best] = True
        if contiguity:
            # Joining b is checked per rep; leaving a once (it is the same for every b).
            b = candidate_rep[i, best]
            if not _can_join(
                i,
                b,
                -1,
                rep_of_account,
                accounts.neighbour_ptr,
                accounts.neighbour,
                state.totals[ACCOUNT_COUNT, b],
            ):
                counters[REFUSED] += 1
                continue
            if leave < 0:
                leave = 1 if a < 0 or _leaves_connected(i, a, state, accounts, limit) else 0
            if leave == 0:
                counters[REFUSED] += 1
                break
        _do_shift(i, best, state, accounts, reps, rules, neighbourhood)
        return -1
    swap_neighbour = neighbourhood.swap_neighbour
    if with_swaps == 0 or a < 0 or swap_neighbour.shape[0] == 0:
        return -2
    first, partners, _, pair_distance, values, _, _, account, wanted = pairs
    account[0] = i
    wanted[0] = True
    stop = _find_pairs(
        account,
        wanted,
        with_swaps == 1,
        rep_of_account,
        state.current_distance,
        candidate_rep,
        neighbourhood.candidate_distance,
        neighbourhood.swap_ptr,
        neighbourhood.swap_neighbour,
        pairs,
    )
    if stop == 0:
        return -2
    swap_deltas_weighted(
        first[:stop],
        partners[:stop],
        pair_distance[:stop],
        rep_of_account,
        accounts,
        reps,
        distance,
        rules,
        state.totals,
        state.grand_totals,
        state.sums,
        objective_weight,
        penalty_weight,
        values[:stop],
    )
    if _best_pair(0, stop, values, min_gain) < 0:
        return -2
    return _do_best_swap(0, stop, state, accounts, reps, rules, neighbourhood, params, pairs)


@njit
def _do_best_swap(start, stop, state, accounts, reps, rules, neighbourhood, params, pairs):
    """Apply the most improving swap of rows [start, stop) of `pairs` (scored on this state).

    Returns
    -------
    int64
        -2: nothing moved; k >= 0: the first account of the pair swapped with account k.
    """
    row = _best_pair(start, stop, pairs[4], params[MIN_GAIN])
    if row < 0:
        return -2
    first, partners, slots = pairs[0], pairs[1], pairs[2]
    i = first[row]
    k = partners[row]
    contiguity = rules.on[RULE_CONTIGUITY]
    if not _swap_allowed(i, k, state, accounts, contiguity, int(params[SEARCH_LIMIT])):
        state.counters[REFUSED] += 1
        return -2
    _do_swap(i, k, slots[row, 0], slots[row, 1], state, accounts, reps, rules, neighbourhood)
    return k


@njit
def descend(
    state,
    accounts,
    reps,
    distance,
    rules,
    neighbourhood,
    objective_weight,
    penalty_weight,
    params,
    max_steps,
    max_moves,
):
    """Descent to a local optimum of shifts and swaps, examining up to `max_steps` accounts.

    Sweeps go through the accounts in `state.order`; each account takes its best improving
    move (`_improve`), its shifts and swaps scored a batch of accounts per kernel call (after
    a move in the batch, the rest is scored again before it moves if it looked improving, and
    otherwise waits for the next sweep). A lazy sweep skips an account none of whose reps
    (its own and its candidates) gained or lost an account since it was last
    examined without moving, and tries swaps only for accounts next to a move since their
    swaps were last tried; after a lazy sweep without a move, a strict sweep examines every
    account. Shifts alone come first; when a strict sweep moves nothing, swaps are tried as
    well, and the search is at a local optimum of both when a strict sweep with swaps moves
    nothing (every account then saw the exact state). Calls resume where the last one
    stopped; set POSITION, SWEEP_MOVES, SWAPPING and STRICT to 0 to start a new descent.

    Parameters
    ----------
    state : SearchState
        Updated in place.
    accounts, reps, distance, rules
        The problem (kernels/arrays.py).
    neighbourhood : Neighbourhood
    objective_weight : float64[N_OBJECTIVES]
        Weight of each objective divided by its scale.
    penalty_weight : float64[N_RULES]
        Weight of each unit of violation (contiguity's is not used: moves keep it).
    params : float64[N_PARAMS]
    max_steps : int64
        Accounts to examine in this call.
    max_moves : int64
        Moves allowed in total (state.counters[MOVES] never passes it).

    Returns
    -------
    int64
        RUNNING, CONVERGED or MOVE_LIMIT.
    """
    counters = state.counters
    order = state.order
    n_accounts = order.shape[0]
    candidate_rep = neighbourhood.candidate_rep
    k = candidate_rep.shape[1]
    swaps = neighbourhood.swap_neighbour.shape[0] > 0
    rep_of_account = state.rep_of_account
    current_distance = state.current_distance
    totals = state.totals
    grand_totals = state.grand_totals
    sums = state.sums
    candidate_distance = neighbourhood.candidate_distance
    swap_ptr = neighbourhood.swap_ptr
    swap_neighbour = neighbourhood.swap_neighbour
    rep_moved = state.rep_moved
    account_seen = state.account_seen
    near_move = state.near_move
    batch = np.empty(_MAX_BATCH, dtype=np.int64)
    out = np.empty((_MAX_BATCH, k))
    tried = np.zeros(k, dtype=np.bool_)
    min_gain = params[MIN_GAIN]
    pairs = _pair_buffers(neighbourhood.swap_ptr, 1)
    # The swaps of a batch are found and scored in one call, like its shifts.
    batch_pairs = _pair_buffers(neighbourhood.swap_ptr, _MAX_BATCH)
    pair_values, pair_start, pair_stop = batch_pairs[4], batch_pairs[5], batch_pairs[6]
    improving = np.zeros(_MAX_BATCH, dtype=np.bool_)
    wanted = np.zeros(_MAX_BATCH, dtype=np.bool_)
    examined = 0
    while examined < max_steps:
        if counters[POSITION] >= n_accounts:
            # End of a sweep.
            if counters[SWEEP_MOVES] > 0:
                counters[STRICT] = 0
            elif counters[STRICT] == 0:
                counters[STRICT] = 1  # confirm with a sweep that skips nobody
            elif counters[SWAPPING] == 0 and swaps:
                counters[SWAPPING] = 1  # shifts are at a local optimum: swaps too, strictly
            else:
                return CONVERGED
            counters[POSITION] = 0
            counters[SWEEP_MOVES] = 0
        if counters[MOVES] >= max_moves:
            return MOVE_LIMIT
        # The next accounts of the sweep; a lazy sweep skips an account none of whose reps
        # gained or lost an account since it was last examined (only global terms moved).
        size = max(1, min(counters[BATCH], _MAX_BATCH))
        m = 0
        while m < size and counters[POSITION] < n_accounts:
            i = order[counters[POSITION]]
            counters[POSITION] += 1
            if (
                counters[STRICT] == 0
                and account_seen[i] >= 0
                and not (near_move[i] and counters[SWAPPING] == 1)
            ):
                changed = rep_of_account[i] >= 0 and rep_moved[rep_of_account[i]] > account_seen[i]
                for c in range(k):
                    j = candidate_rep[i, c]
                    if j >= 0 and rep_moved[j] > account_seen[i]:
                        changed = True
                        break
                if not changed:
                    continue
            batch[m] = i
            m += 1
        if m == 0:
            continue
        shift_deltas_weighted(
            batch[:m],
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
            out[:m],
        )
        for t in range(m):
            best = 0.0
            for c in range(k):
                best = min(best, out[t, c])
            improving[t] = best < -min_gain
            # Swaps (once shifts are at a local optimum) are tried in a strict sweep, and in
            # a lazy one for accounts next to a move since their swaps were last tried; an
            # account with an improving shift has its swaps found afresh if it needs them.
            wanted[t] = (
                counters[SWAPPING] == 1
                and (counters[STRICT] == 1 or near_move[batch[t]])
                and not improving[t]
            )
        n_rows = 0
        if counters[SWAPPING] == 1:
            n_rows = _find_pairs(
                batch[:m],
                wanted[:m],
                True,
                rep_of_account,
                current_distance,
                candidate_rep,
                candidate_distance,
                swap_ptr,
                swap_neighbour,
                batch_pairs,
            )
        if n_rows > 0:
            _score_pairs(
                0,
                n_rows,
                state,
                accounts,
                reps,
                distance,
                rules,
                objective_weight,
                penalty_weight,
                batch_pairs,
            )
        moves_before = counters[MOVES]
        t = 0
        while t < m:
            i = batch[t]
            t += 1
            looks_improving = improving[t - 1]
            if counters[MOVES] > moves_before:
                # Scored before a move of this batch: only an account that looked improving is
                # scored again; the others wait for the next sweep (they stay unseen).
                if not looks_improving:
                    continue
                shift_deltas_weighted(
                    batch[t - 1 : t],
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
                    out[t - 1 : t],
                )
            examined += 1
            counters[STEPS] += 1
            # Swaps (once shifts are at a local optimum) are tried in a strict sweep, and in
            # a lazy one for accounts next to a move since their swaps were last tried.
            swapping = counters[SWAPPING] == 1 and (counters[STRICT] == 1 or near_move[i])
            if not looks_improving and not swapping:
                account_seen[i] = counters[MOVES]
                continue
            if swapping:
                near_move[i] = False
            if looks_improving:
                moved = _improve(
                    i,
                    out[t - 1],
                    1 if swapping else 0,
                    state,
                    accounts,
                    reps,
                    distance,
                    rules,
                    neighbourhood,
                    objective_weight,
                    penalty_weight,
                    params,
                    max_moves,
                    tried,
                    pairs,
                )
            elif (
                counters[MOVES] < max_moves
                and _best_pair(pair_start[t - 1], pair_stop[t - 1], pair_values, min_gain) >= 0
            ):
                # Swaps only, scored with the batch on this very state (nothing moved since).
                moved = _do_best_swap(
                    pair_start[t - 1],
                    pair_stop[t - 1],
                    state,
                    accounts,
                    reps,
                    rules,
                    neighbourhood,
                    params,
                    batch_pairs,
                )
            else:
                moved = -2
            if moved == -2:
                account_seen[i] = counters[MOVES]
            else:
                counters[SWEEP_MOVES] += 1
        if counters[MOVES] > moves_before:
            counters[BATCH] = max(1, size // 2)
        else:
            counters[BATCH] = min(_MAX_BATCH, 2 * size)
    return RUNNING


@njit
def score(state, objective_weight, penalty_weight, objective_values):
    """The search's score of the state: weighted objectives plus weighted violations.

    `objective_values` (float64[N_OBJECTIVES]) is scratch, left holding the objectives.
    """
    objectives_from_sums(state.sums, state.grand_totals, objective_values)
    total = 0.0
    for o in range(N_OBJECTIVES):
        total += objective_weight[o] * objective_values[o]
    for r in range(N_RULES):
        if r != RULE_CONTIGUITY:
            total += penalty_weight[r] * state.violations[r]
    return total


@njit(inline="always")
def _push_territory(j, pending, queued, tail, rep_ptr, rep_account):
    """Queue the accounts that may go to rep j (its territory and its borders); returns the tail.

    `pending` is a ring buffer of n_accounts entries; an account already queued is not added
    again, so it never overflows.
    """
    if j < 0:
        return tail
    size = pending.shape[0]
    for e in range(rep_ptr[j], rep_ptr[j + 1]):
        y = rep_account[e]
        if queued[y]:
            continue
        queued[y] = True
        pending[tail % size] = y
        tail += 1
    return tail


@njit
def kick(
    state,
    accounts,
    reps,
    distance,
    rules,
    neighbourhood,
    objective_weight,
    penalty_weight,
    params,
    rng,
    max_calls,
    max_moves,
):
    """Iterated local search: up to `max_calls` rounds of kick, local descent, keep or undo.

    A round kicks the design out of its local optimum: a random account, and its swap partners
    in the same territory, move to a random rep of the account's candidate list (those that
    may have it). A descent limited to the territories involved follows (`_improve`, shifts
    and swaps both ways): the accounts that may go to a rep that gained or lost an account
    are queued, first in first out, at most params[ROUND_STEPS] of them examined. The round
    is kept when the score fell by more than params[MIN_GAIN], otherwise its moves are undone
    in reverse order. The phase ends after params[MAX_ROUNDS]
    rounds, or params[MAX_STALE] rounds in a row that were not kept. Arguments as for
    `descend`, plus `rng`, a numpy.random.Generator whose state carries over between calls.

    Returns
    -------
    int64
        RUNNING, CONVERGED (the phase is over) or MOVE_LIMIT.
    """
    rep_of_account = state.rep_of_account
    counters = state.counters
    current_distance = state.current_distance
    candidate_rep = neighbourhood.candidate_rep
    swap_ptr = neighbourhood.swap_ptr
    swap_neighbour = neighbourhood.swap_neighbour
    n_accounts = rep_of_account.shape[0]
    k = candidate_rep.shape[1]
    limit = int(params[SEARCH_LIMIT])
    contiguity = rules.on[RULE_CONTIGUITY]
    round_steps = int(params[ROUND_STEPS])
    account_index = np.empty(1, dtype=np.int64)
    out = np.empty((1, k))
    tried = np.zeros(k, dtype=np.bool_)
    pairs = _pair_buffers(neighbourhood.swap_ptr, 1)
    values = np.empty(N_OBJECTIVES)
    rep_ptr = neighbourhood.rep_ptr
    rep_account = neighbourhood.rep_account
    pending = np.empty(n_accounts, dtype=np.int64)
    queued = np.zeros(n_accounts, dtype=np.bool_)
    log_account = np.empty(_LOG_LENGTH, dtype=np.int64)
    log_rep = np.empty(_LOG_LENGTH, dtype=np.int64)
    log_distance = np.empty(_LOG_LENGTH)
    swaps = swap_neighbour.shape[0] > 0
    if n_accounts == 0:
        return CONVERGED
    for _ in range(max_calls):
        if counters[ROUNDS] >= params[MAX_ROUNDS] or counters[STALE] >= params[MAX_STALE]:
            return CONVERGED
        if counters[MOVES] >= max_moves:
            return MOVE_LIMIT
        counters[ROUNDS] += 1
        before = score(state, objective_weight, penalty_weight, values)
        n_log = 0
        head = 0
        tail = 0
        # The kick.
        i = rng.integers(0, n_accounts)
        a = rep_of_account[i]
        n_listed = 0
        for c in range(k):
            if candidate_rep[i, c] >= 0:
                n_listed += 1
        if n_listed == 0 or (n_listed == 1 and candidate_rep[i, 0] == a):
            counters[STALE] += 1
            continue
        c = rng.integers(0, n_listed)
        if candidate_rep[i, c] == a:
            c = (c + 1 + rng.integers(0, n_listed - 1)) % n_listed
        b = candidate_rep[i, c]
        stop = swap_ptr[i + 1] if swaps and a >= 0 else swap_ptr[i]
        for e in range(swap_ptr[i] - 1, stop):
            x = i if e < swap_ptr[i] else swap_neighbour[e]
            if rep_of_account[x] != a or counters[MOVES] >= max_moves or n_log >= _LOG_LENGTH:
                continue
            cx = c if x == i else _slot(x, b, candidate_rep)
            if cx < 0 or not _shift_allowed(x, a, b, state, accounts, contiguity, limit):
                continue
            log_account[n_log] = x
            log_rep[n_log] = a
            log_distance[n_log] = current_distance[x]
            n_log += 1
            _do_shift(x, cx, state, accounts, reps, rules, neighbourhood)
        if n_log > 0:
            tail = _push_territory(a, pending, queued, tail, rep_ptr, rep_account)
            tail = _push_territory(b, pending, queued, tail, rep_ptr, rep_account)
        # The local descent around it.
        steps = 0
        while head < tail and steps < round_steps and n_log < _LOG_LENGTH - 2:
            x = pending[head % pending.shape[0]]
            head += 1
            queued[x] = False
            steps += 1
            old_x = rep_of_account[x]
            old_distance = current_distance[x]
            account_index[0] = x
            shift_deltas_weighted(
                account_index,
                candidate_rep,
                neighbourhood.candidate_distance,
                current_distance,
                rep_of_account,
                accounts,
                reps,
                distance,
                rules,
                state.totals,
                state.grand_totals,
                state.sums,
                objective_weight,
                penalty_weight,
                out,
            )
            moved = _improve(
                x,
                out[0],
                2,
                state,
                accounts,
                reps,
                distance,
                rules,
                neighbourhood,
                objective_weight,
                penalty_weight,
                params,
                max_moves,
                tried,
                pairs,
            )
            if moved == -2:
                continue
            log_account[n_log] = x
            log_rep[n_log] = old_x
            log_distance[n_log] = old_distance
            n_log += 1
            held = rep_of_account[x]
            tail = _push_territory(old_x, pending, queued, tail, rep_ptr, rep_account)
            tail = _push_territory(held, pending, queued, tail, rep_ptr, rep_account)
            if moved >= 0:
                # A swap: the partner held the rep x holds now. Distances are recomputed with
                # the function that filled the cache, so the undo restores the same bits.
                log_account[n_log] = moved
                log_rep[n_log] = held
                log_distance[n_log] = account_rep_distance(
                    moved, held, accounts.xyz, reps.xyz, distance
                )
                n_log += 1
        while head < tail:
            queued[pending[head % pending.shape[0]]] = False
            head += 1
        after = score(state, objective_weight, penalty_weight, values)
        if after < before - params[MIN_GAIN]:
            counters[STALE] = 0
            counters[ACCEPTED] += 1
            continue
        counters[STALE] += 1
        for t in range(n_log - 1, -1, -1):
            x = log_account[t]
            apply_shift(
                x,
                log_rep[t],
                rep_of_account,
                accounts,
                reps,
                distance,
                rules,
                state.totals,
                state.grand_totals,
                state.sums,
                state.violations,
            )
            current_distance[x] = log_distance[t]
    if counters[ROUNDS] >= params[MAX_ROUNDS] or counters[STALE] >= params[MAX_STALE]:
        return CONVERGED
    return RUNNING


@njit
def _territory_cores(rep_of_account, ptr, neighbour, n_reps, queue, component, size, in_core):
    """Connected pieces of each territory; in_core marks each territory's largest piece.

    Returns
    -------
    int64
        Accounts outside the largest piece of their territory (strays).
    """
    n_accounts = rep_of_account.shape[0]
    component[:] = -1
    n_components = 0
    for s in range(n_accounts):
        if component[s] >= 0 or rep_of_account[s] < 0:
            continue
        j = rep_of_account[s]
        component[s] = n_components
        queue[0] = s
        head = 0
        tail = 1
        while head < tail:
            u = queue[head]
            head += 1
            for e in range(ptr[u], ptr[u + 1]):
                y = neighbour[e]
                if component[y] < 0 and rep_of_account[y] == j:
                    component[y] = n_components
                    queue[tail] = y
                    tail += 1
        size[n_components] = tail
        n_components += 1
    core = np.full(n_reps, -1, dtype=np.int64)
    for s in range(n_accounts):
        j = rep_of_account[s]
        if j >= 0 and (core[j] < 0 or size[component[s]] > size[core[j]]):
            core[j] = component[s]
    strays = 0
    for s in range(n_accounts):
        j = rep_of_account[s]
        in_core[s] = j < 0 or component[s] == core[j]
        if not in_core[s]:
            strays += 1
    return strays


@njit
def repair_islands(
    state,
    accounts,
    reps,
    distance,
    rules,
    neighbourhood,
    objective_weight,
    penalty_weight,
    max_passes,
    max_moves,
):
    """Join the islands of territories to their cores (contiguity, DESIGN §3).

    A territory's core is its largest connected piece in the neighbour graph. Each pass finds
    the pieces afresh, then, for each account outside its territory's core (a stray):

    - it moves to the best-scoring territory of its candidate list whose core it touches
      (that territory stays connected);
    - after a pass in which no stray could do that, a stray pulls in a neighbour from
      another territory that may join its rep and can leave without splitting its own
      territory: one touching its rep's core (a bridge), else one nearer its rep's home than
      itself, so the island grows towards its territory.

    Passes repeat until no stray is left or can move, `max_passes` passes are done, or the
    move count reaches `max_moves`. The search's moves never split a territory afterwards.

    Returns
    -------
    int64
        Strays left (0: every territory is connected).
    """
    rep_of_account = state.rep_of_account
    ptr = accounts.neighbour_ptr
    neighbour = accounts.neighbour
    candidate_rep = neighbourhood.candidate_rep
    candidate_distance = neighbourhood.candidate_distance
    current_distance = state.current_distance
    n_accounts = rep_of_account.shape[0]
    n_reps = state.totals.shape[1]
    k = candidate_rep.shape[1]
    limit = int(state.queue.shape[0])
    component = np.empty(n_accounts, dtype=np.int64)
    size = np.zeros(n_accounts, dtype=np.int64)
    in_core = np.zeros(n_accounts, dtype=np.bool_)
    pulled_once = np.zeros(n_accounts, dtype=np.bool_)
    scratch = np.empty(n_accounts, dtype=np.int64)
    account_index = np.empty(1, dtype=np.int64)
    out = np.empty((1, k))
    strays = _territory_cores(
        rep_of_account, ptr, neighbour, n_reps, scratch, component, size, in_core
    )
    pulling = False
    for _ in range(max_passes):
        if strays == 0:
            break
        moved = 0
        for i in range(n_accounts):
            if in_core[i] or state.counters[MOVES] >= max_moves:
                continue
            a = rep_of_account[i]
            account_index[0] = i
            _evaluate_shifts(
                account_index,
                state,
                accounts,
                reps,
                distance,
                rules,
                neighbourhood,
                objective_weight,
                penalty_weight,
                out,
            )
            best = -1
            best_value = np.inf
            for c in range(k):
                b = candidate_rep[i, c]
                if b < 0 or b == a or out[0, c] >= best_value:
                    continue
                for e in range(ptr[i], ptr[i + 1]):
                    y = neighbour[e]
                    if rep_of_account[y] == b and in_core[y]:
                        best = c
                        best_value = out[0, c]
                        break
            if best >= 0:
                _do_shift(i, best, state, accounts, reps, rules, neighbourhood)
                in_core[i] = True
                moved += 1
                continue
            if not pulling:
                continue
            # Pull a neighbour in: a bridge to the core first, else one nearer a's home.
            pulled = -1
            pulled_slot = -1
            bridge = False
            nearest = current_distance[i]
            for e in range(ptr[i], ptr[i + 1]):
                y = neighbour[e]
                c_y = rep_of_account[y]
                if c_y < 0 or c_y == a or pulled_once[y]:
                    continue
                slot = _slot(y, a, candidate_rep)
                if slot < 0:
                    continue
                touches_core = False
                for f in range(ptr[y], ptr[y + 1]):
                    z = neighbour[f]
                    if rep_of_account[z] == a and in_core[z]:
                        touches_core = True
                        break
                if touches_core and not bridge:
                    bridge = True
                    pulled = y
                    pulled_slot = slot
                elif not bridge and candidate_distance[y, slot] < nearest:
                    nearest = candidate_distance[y, slot]
                    pulled = y
                    pulled_slot = slot
            if pulled < 0:
                continue
            state.counters[STAMP] += 1
            if not _can_leave(
                pulled,
                rep_of_account[pulled],
                rep_of_account,
                ptr,
                neighbour,
                state.mark,
                state.queue,
                state.counters[STAMP],
                limit,
            ):
                continue
            _do_shift(pulled, pulled_slot, state, accounts, reps, rules, neighbourhood)
            in_core[pulled] = bridge
            pulled_once[pulled] = True  # never pulled back and forth
            moved += 1
        strays = _territory_cores(
            rep_of_account, ptr, neighbour, n_reps, scratch, component, size, in_core
        )
        if moved == 0 and pulling:
            break
        # Pull only after a pass in which no stray could move to a neighbouring core.
        pulling = moved == 0
    return strays
