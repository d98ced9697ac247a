"""Numba kernels for the p-median problem: choose p centres that minimise weighted distance.

A fast swap-based local search (Resende & Werneck 2007) inside a variable neighbourhood search.

Notation: points i (accounts to serve, weight w_i), candidates f (possible centres), a dense
``distance[i, f]`` and ``order[i]``, the candidates sorted by distance from point i. A solution
puts p candidates into p *slots*; each point keeps its nearest and second-nearest chosen centre.
For every candidate f outside the solution and every slot s, the swap "f in, solution[s] out"
changes the objective by ``loss[s] - gain[f] - extra[f, s]`` (Whitaker's fast interchange in the
form of Resende & Werneck), where, summing over points i,

- ``gain[f]  = Σ w_i · max(0, d1_i − d(i, f))``                        (inserting f alone),
- ``loss[s]  = Σ_{near1_i in s} w_i · (d2_i − d1_i)``                    (removing slot s alone),
- ``extra[f, s] = Σ_{near1_i in s, d(i, f) < d2_i} w_i · (d2_i − max(d(i, f), d1_i))``.

A swap changes the nearest or second-nearest centre of few points (the *affected* ones); only
their terms are taken out of the three tables and put back, so a descent step costs one scan of
``extra`` plus work proportional to the affected points.

Also here, for greenfield designs on coordinates: a great-circle distance matrix and the
k-means++-like sampling of candidate sites.
"""

from collections import namedtuple

import numpy as np

from kernels.jit import njit

PMedianProblem = namedtuple(
    "PMedianProblem",
    [
        "distance",  # float64[n_points, n_candidates]
        "by_candidate",  # float64[n_candidates, n_points]: distance transposed, rows contiguous
        "order",  # int32[n_points, n_candidates]: each point's candidates, nearest first
        "sorted_distance",  # float64[n_points, n_candidates]: distance[i, order[i, r]]
        "weight",  # float64[n_points]
    ],
)

SwapState = namedtuple(
    "SwapState",
    [
        "solution",  # int64[p]: the candidate in each slot
        "slot_of",  # int64[n_candidates]: the slot a candidate occupies, -1 when not chosen
        "near1",  # int64[n_points]: nearest chosen candidate
        "near2",  # int64[n_points]: second-nearest chosen candidate
        "dist1",  # float64[n_points]: distance to near1
        "dist2",  # float64[n_points]: distance to near2
        "gain",  # float64[n_candidates]
        "loss",  # float64[p]
        "extra",  # float64[n_candidates, p]
        "affected",  # int64[n_points]: scratch list of the points a swap touches
        "best",  # int64[p]: best solution found (slot order is arbitrary)
        "scalars",  # float64[N_SCALARS]: see the indices below
    ],
)

# Indices into SwapState.scalars.
OBJECTIVE = 0  # exact objective of the current solution (recomputed after each descent)
BEST_OBJECTIVE = 1  # objective of `best`
ROUNDS = 2  # perturbation rounds run so far
STALE_ROUNDS = 3  # consecutive rounds that did not improve the best
MOVES = 4  # swaps applied by the descents so far
NEIGHBOURHOOD = 5  # size k of the next perturbation (k random swaps)
N_SCALARS = 6

REBUILD_EVERY = 1024  # rounds between rebuilding the tables from scratch (bounds float drift)


def new_problem(distance, weight):
    """Bundle a C-contiguous float64 matrix and weights with the sorted candidate lists.

    The walks along a point's sorted list read `order` and `sorted_distance` row by row, and the
    scans over all points for one candidate read `by_candidate`: both stay in cache lines.
    """
    order = np.argsort(distance, axis=1).astype(np.int32)
    return PMedianProblem(
        distance=distance,
        by_candidate=np.ascontiguousarray(distance.T),
        order=order,
        sorted_distance=np.take_along_axis(distance, order, axis=1),
        weight=weight,
    )


def new_state(n_points, n_candidates, p):
    """Allocate a `SwapState` for `n_points` points, `n_candidates` candidates and `p` centres."""
    return SwapState(
        solution=np.empty(p, dtype=np.int64),
        slot_of=np.full(n_candidates, -1, dtype=np.int64),
        near1=np.empty(n_points, dtype=np.int64),
        near2=np.empty(n_points, dtype=np.int64),
        dist1=np.empty(n_points),
        dist2=np.empty(n_points),
        gain=np.zeros(n_candidates),
        loss=np.zeros(p),
        extra=np.zeros((n_candidates, p)),
        affected=np.empty(n_points, dtype=np.int64),
        best=np.empty(p, dtype=np.int64),
        scalars=np.zeros(N_SCALARS),
    )


@njit
def pmedian_objective(distance, weight, centres):
    """Σ_i w_i · min_{c in centres} distance[i, c], summed plainly (the reference value).

    Parameters
    ----------
    distance : float64[n_points, n_candidates]
    weight : float64[n_points]
    centres : int64[p], p ≥ 1

    Returns
    -------
    float64
    """
    total = 0.0
    for i in range(distance.shape[0]):
        nearest = np.inf
        for c in centres:
            if distance[i, c] < nearest:
                nearest = distance[i, c]
        total += weight[i] * nearest
    return total


@njit
def assign_nearest(distance, centres, out):
    """Write into `out[i]` the position in `centres` of point i's nearest centre (first on ties).

    Parameters
    ----------
    distance : float64[n_points, n_candidates]
    centres : int64[p], p ≥ 1
    out : int64[n_points]
    """
    for i in range(distance.shape[0]):
        nearest = np.inf
        k_best = 0
        for k in range(centres.shape[0]):
            d = distance[i, centres[k]]
            if d < nearest:
                nearest = d
                k_best = k
        out[i] = k_best


@njit
def seed_centres(problem, rng, out):
    """Fill `out` with p distinct candidates by D-sampling (a k-means++-like randomised start).

    The first centre is the nearest candidate of a point drawn with probability ∝ w_i; each next
    one is the nearest unchosen candidate of a point drawn with probability ∝ w_i · d1_i, where
    d1_i is the distance to the nearest centre chosen so far. When every point is already served
    at distance 0, an unchosen candidate is drawn uniformly.

    Parameters
    ----------
    problem : PMedianProblem
    rng : numpy.random.Generator
    out : int64[p], p ≤ n_candidates
    """
    order, weight = problem.order, problem.weight
    n, m = problem.distance.shape
    chosen = np.zeros(m, dtype=np.bool_)
    nearest = np.empty(n)
    score = np.empty(n)
    for i in range(n):
        score[i] = weight[i]
        nearest[i] = np.inf
    for k in range(out.shape[0]):
        total = 0.0
        for i in range(n):
            total += score[i]
        pick = -1
        if total > 0.0:
            target = rng.random() * total
            acc = 0.0
            for i in range(n):
                acc += score[i]
                if acc > target and score[i] > 0.0:
                    break
            for r in range(m):  # the nearest unchosen candidate of point i
                if not chosen[order[i, r]]:
                    pick = order[i, r]
                    break
        if pick < 0:
            rank = rng.integers(0, m - k)
            for f in range(m):
                if not chosen[f]:
                    if rank == 0:
                        pick = f
                        break
                    rank -= 1
        chosen[pick] = True
        out[k] = pick
        to_pick = problem.by_candidate[pick]
        for i in range(n):
            if to_pick[i] < nearest[i]:
                nearest[i] = to_pick[i]
                score[i] = weight[i] * nearest[i]


@njit(inline="always")
def _find_nearest_two(i, problem, state):
    """Set near1/near2 and dist1/dist2 of point i by walking its sorted candidate list."""
    order = problem.order
    first = -1
    for r in range(order.shape[1]):
        f = order[i, r]
        if state.slot_of[f] >= 0:
            if first < 0:
                first = f
                state.dist1[i] = problem.sorted_distance[i, r]
            else:
                state.near1[i] = first
                state.near2[i] = f
                state.dist2[i] = problem.sorted_distance[i, r]
                return


@njit(inline="always")
def _add_point(i, sign, problem, state):
    """Add (sign +1) or take out (sign −1) point i's terms in gain, loss and extra."""
    order, sorted_distance = problem.order, problem.sorted_distance
    w = sign * problem.weight[i]
    if w == 0.0:
        return
    d1 = state.dist1[i]
    d2 = state.dist2[i]
    s1 = state.slot_of[state.near1[i]]
    state.loss[s1] += w * (d2 - d1)
    for r in range(order.shape[1]):
        d = sorted_distance[i, r]
        if d >= d2:
            break
        f = order[i, r]
        if d < d1:
            state.gain[f] += w * (d1 - d)
            state.extra[f, s1] += w * (d2 - d1)
        else:
            state.extra[f, s1] += w * (d2 - d)


@njit
def rebuild(problem, state):
    """Recompute nearest centres, gain, loss, extra and the objective from `state.solution`.

    Parameters
    ----------
    problem : PMedianProblem
    state : SwapState
        `solution` must hold p ≥ 2 distinct candidates; everything else is overwritten.
    """
    p = state.solution.shape[0]
    state.slot_of[:] = -1
    for s in range(p):
        state.slot_of[state.solution[s]] = s
    state.gain[:] = 0.0
    state.loss[:] = 0.0
    state.extra[:, :] = 0.0
    total = 0.0
    for i in range(problem.distance.shape[0]):
        _find_nearest_two(i, problem, state)
        _add_point(i, 1.0, problem, state)
        total += problem.weight[i] * state.dist1[i]
    state.scalars[OBJECTIVE] = total


@njit
def apply_swap(problem, state, f_in, slot):
    """Put candidate `f_in` into `slot` (its centre leaves); update the affected points' terms.

    Parameters
    ----------
    problem, state
        As in `rebuild`.
    f_in : int
        A candidate outside the solution.
    slot : int
        The slot whose candidate leaves.
    """
    to_f = problem.by_candidate[f_in]  # contiguous: this scan reads every point
    r_out = state.solution[slot]
    n_affected = 0
    for i in range(to_f.shape[0]):
        if state.near1[i] == r_out or state.near2[i] == r_out or to_f[i] < state.dist2[i]:
            state.affected[n_affected] = i
            n_affected += 1
    for k in range(n_affected):
        _add_point(state.affected[k], -1.0, problem, state)
    state.solution[slot] = f_in
    state.slot_of[r_out] = -1
    state.slot_of[f_in] = slot
    for k in range(n_affected):
        i = state.affected[k]
        if state.near1[i] == r_out or state.near2[i] == r_out:
            _find_nearest_two(i, problem, state)
        else:
            d = to_f[i]
            if d < state.dist1[i]:
                state.near2[i] = state.near1[i]
                state.dist2[i] = state.dist1[i]
                state.near1[i] = f_in
                state.dist1[i] = d
            else:
                state.near2[i] = f_in
                state.dist2[i] = d
        _add_point(i, 1.0, problem, state)


@njit
def best_swap(state, tolerance):
    """The swap that lowers the objective most, by more than `tolerance`.

    Returns
    -------
    (f_in, slot, improvement) : (int64, int64, float64)
        ``f_in = -1`` when no swap improves by more than `tolerance`. Ties go to the lowest
        candidate, then the lowest slot.
    """
    m, p = state.extra.shape
    best = tolerance
    best_f = -1
    best_slot = -1
    for f in range(m):
        g = state.gain[f]
        # extra[f, s] ≤ loss[s], so gain[f] bounds every swap that brings f in.
        if state.slot_of[f] >= 0 or g <= best:
            continue
        for s in range(p):
            v = g - state.loss[s] + state.extra[f, s]
            if v > best:
                best = v
                best_f = f
                best_slot = s
    return best_f, best_slot, best


@njit
def descend(problem, state, tolerance):
    """Apply best-improvement swaps until none improves by more than `tolerance`.

    Sets `state.scalars[OBJECTIVE]` to the exact objective of the local optimum and returns the
    number of swaps applied.
    """
    moves = 0
    while True:
        f_in, slot, _ = best_swap(state, tolerance)
        if f_in < 0:
            break
        apply_swap(problem, state, f_in, slot)
        moves += 1
    total = 0.0
    for i in range(state.dist1.shape[0]):
        total += problem.weight[i] * state.dist1[i]
    state.scalars[OBJECTIVE] = total
    return moves


@njit
def _move_to_best(problem, state, in_best):
    """Swap the current solution back to `state.best` (one swap per differing centre)."""
    p = state.solution.shape[0]
    for s in range(p):
        in_best[state.best[s]] = True
    k = 0
    for s in range(p):
        if in_best[state.solution[s]]:
            continue
        # The next candidate of `best` that is not in the current solution.
        while state.slot_of[state.best[k]] >= 0:
            k += 1
        apply_swap(problem, state, state.best[k], s)
    for s in range(p):
        in_best[state.best[s]] = False
    state.scalars[OBJECTIVE] = state.scalars[BEST_OBJECTIVE]


@njit
def search_rounds(problem, state, rng, max_rounds, max_stale, k_max, tolerance):
    """Run variable neighbourhood search rounds from the current best solution.

    One round: k random swaps (the shake), a descent, then accept the local optimum if it is no
    worse than the best (an equal one is accepted too, to drift along plateaus), else swap back to
    the best and grow k (1, 2, …, k_max, then 1 again). k returns to 1 on every improvement.
    `state` must hold a descended solution equal to `state.best` (as `start_search` leaves it).

    Parameters
    ----------
    problem, state
        As in `rebuild`.
    rng : numpy.random.Generator
        Draws the shakes; its state advances, so successive calls continue one stream.
    max_rounds : int
        Rounds to run in this call at most.
    max_stale : int
        Stop once this many consecutive rounds have not improved the best.
    k_max : int
        Largest shake, 1 ≤ k_max ≤ min(p, n_candidates − p).
    tolerance : float
        Improvements at or below it count as none (rounding noise).

    Returns
    -------
    int64
        Rounds run in this call.
    """
    m = state.slot_of.shape[0]
    p = state.solution.shape[0]
    sc = state.scalars
    in_best = np.zeros(m, dtype=np.bool_)
    done = 0
    while done < max_rounds and sc[STALE_ROUNDS] < max_stale:
        k = int(sc[NEIGHBOURHOOD])
        for _ in range(k):
            slot = rng.integers(0, p)
            rank = rng.integers(0, m - p)  # the rank-th candidate outside the solution
            f_in = 0
            while True:
                if state.slot_of[f_in] < 0:
                    if rank == 0:
                        break
                    rank -= 1
                f_in += 1
            apply_swap(problem, state, f_in, slot)
        sc[MOVES] += descend(problem, state, tolerance)
        done += 1
        sc[ROUNDS] += 1
        value = sc[OBJECTIVE]
        if value < sc[BEST_OBJECTIVE] - tolerance:
            sc[STALE_ROUNDS] = 0
            sc[NEIGHBOURHOOD] = 1
        else:
            sc[STALE_ROUNDS] += 1
            sc[NEIGHBOURHOOD] = k + 1 if k < k_max else 1
        if value <= sc[BEST_OBJECTIVE] + tolerance:
            state.best[:] = state.solution
            sc[BEST_OBJECTIVE] = min(value, sc[BEST_OBJECTIVE])
        else:
            _move_to_best(problem, state, in_best)
        if sc[ROUNDS] % REBUILD_EVERY == 0:
            rebuild(problem, state)
    return done


@njit
def start_search(problem, state, tolerance):
    """Build the tables for `state.solution`, descend, and make the local optimum the best.

    Returns the number of swaps applied.
    """
    rebuild(problem, state)
    moves = descend(problem, state, tolerance)
    state.best[:] = state.solution
    state.scalars[BEST_OBJECTIVE] = state.scalars[OBJECTIVE]
    state.scalars[MOVES] += moves
    state.scalars[NEIGHBOURHOOD] = 1
    return moves


@njit
def great_circle_matrix(a_xyz, b_xyz, scale, out):
    """Write ``scale · 2 · asin(|a_i − b_j| / 2)`` into `out[i, j]` (arc length × scale).

    With scale = circuity · R this is the haversine distance of DESIGN §3, computed from the
    chord by differences so that near points keep their precision.

    Parameters
    ----------
    a_xyz : float64[n_a, 3]
        Unit vectors.
    b_xyz : float64[n_b, 3]
        Unit vectors.
    scale : float
    out : float64[n_a, n_b]
    """
    for i in range(a_xyz.shape[0]):
        for j in range(b_xyz.shape[0]):
            dx = a_xyz[i, 0] - b_xyz[j, 0]
            dy = a_xyz[i, 1] - b_xyz[j, 1]
            dz = a_xyz[i, 2] - b_xyz[j, 2]
            half_chord = min(0.5 * np.sqrt(dx * dx + dy * dy + dz * dz), 1.0)
            out[i, j] = scale * 2.0 * np.arcsin(half_chord)


@njit
def sample_sites(xyz, weight, rng, out):
    """Fill `out` with distinct point indices by weighted D²-sampling (k-means++ seeding).

    Each next site is point i with probability ∝ w_i · chord_i², chord_i to the nearest site
    drawn so far (the first ∝ w_i); uniformly among the points not drawn when all of that is 0.

    Parameters
    ----------
    xyz : float64[n, 3]
        Unit vectors of the points.
    weight : float64[n]
    rng : numpy.random.Generator
    out : int64[n_sites], n_sites ≤ n
    """
    n = xyz.shape[0]
    taken = np.zeros(n, dtype=np.bool_)
    nearest = np.full(n, np.inf)
    score = weight.copy()
    total = 0.0
    for i in range(n):
        total += score[i]
    for k in range(out.shape[0]):
        pick = -1
        if total > 0.0:
            target = rng.random() * total
            acc = 0.0
            for i in range(n):
                acc += score[i]
                if acc > target and score[i] > 0.0:
                    pick = i
                    break
        if pick < 0:
            rank = rng.integers(0, n - k)
            for i in range(n):
                if not taken[i]:
                    if rank == 0:
                        pick = i
                        break
                    rank -= 1
        taken[pick] = True
        out[k] = pick
        # One pass updates the scores and re-sums them (a running total would drift).
        total = 0.0
        x, y, z = xyz[pick, 0], xyz[pick, 1], xyz[pick, 2]
        for i in range(n):
            dx = xyz[i, 0] - x
            dy = xyz[i, 1] - y
            dz = xyz[i, 2] - z
            chord2 = dx * dx + dy * dy + dz * dz
            if chord2 < nearest[i]:
                nearest[i] = chord2
                score[i] = weight[i] * chord2
            if taken[i]:
                score[i] = 0.0
            total += score[i]
