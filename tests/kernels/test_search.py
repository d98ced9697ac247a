"""Local search kernels (kernels/search.py) against brute force and full re-evaluation."""

import math

import numpy as np
import pytest

from kernels import search
from kernels.arrays import N_OBJECTIVES, N_RULES, RULE_CONTIGUITY
from kernels.deltas import shift_deltas_weighted, swap_delta
from kernels.objectives import N_SUMS, count_islands, evaluate_design
from tests.kernels.kernel_instances import random_assignment, random_plain_instance, to_arrays
from tests.kernels.reference import distance_km

K = 4
SEEDS = range(40)


def brute_force_candidates(inst, k):
    """Each account's k nearest allowed reps by plain loops, the current rep kept if allowed."""
    on = inst.rules_on
    rows = []
    for i in range(inst.n_accounts):
        current = inst.current_rep[i]

        def allowed(j, i=i, current=current):
            if on["leaving"] and inst.leaving[j]:
                return False
            if (
                on["regions"]
                and inst.regions[j] is not None
                and inst.region[i] not in inst.regions[j]
            ):
                return False
            if on["specialists"] and inst.specialist[j] and inst.segment[i] not in inst.skills[j]:
                return False
            if on["barred"] and j in inst.barred[i]:
                return False
            if on["max_distance"] and distance_km(inst, i, j) > inst.max_distance:
                return False
            stays = (on["locked"] and inst.locked[i]) or (on["protected"] and inst.protected[i])
            return not stays or j == current

        ranked = sorted((distance_km(inst, i, j), j) for j in range(inst.n_reps) if allowed(j))
        chosen = [j for _, j in ranked[:k]]
        if current >= 0 and allowed(current) and current not in chosen:
            chosen[-1] = current
        rows.append(chosen)
    return rows


def candidates_for(inst, arrays, k, q):
    """Candidate lists from the kernel, with the tree's answer imitated by an exact ranking."""
    accounts, reps, distance, rules = arrays
    n_reps = inst.n_reps
    if q == 0:
        nearest = np.zeros((inst.n_accounts, 0), dtype=np.int64)
    else:
        q = min(q, n_reps)
        ranking = np.array(
            [
                sorted(range(n_reps), key=lambda j, i=i: distance_km(inst, i, j))
                for i in range(inst.n_accounts)
            ],
            dtype=np.int64,
        ).reshape(inst.n_accounts, n_reps)
        nearest = np.ascontiguousarray(ranking[:, :q])
    k = min(k, n_reps)
    rep = np.empty((inst.n_accounts, k), dtype=np.int64)
    dist = np.empty((inst.n_accounts, k))
    search.select_candidates(nearest, accounts, reps, distance, rules, True, rep, dist)
    return rep, dist


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("q", [0, 1, 6, 100])
def test_candidates_are_the_k_nearest_allowed_reps(seed, q):
    inst = random_plain_instance(np.random.default_rng(seed))
    arrays = to_arrays(inst)
    rep, dist = candidates_for(inst, arrays, K, q)
    expected = brute_force_candidates(inst, min(K, inst.n_reps))
    for i, row in enumerate(expected):
        listed = [j for j in rep[i] if j >= 0]
        # The current rep may sit at the end; the others are in distance order.
        assert sorted(listed) == sorted(row), (i, listed, row)
        for c, j in enumerate(listed):
            assert math.isclose(dist[i, c], distance_km(inst, i, j), rel_tol=1e-9, abs_tol=1e-9)
        assert (rep[i, len(listed) :] == -1).all() and np.isinf(dist[i, len(listed) :]).all()
        ordered = [j for j in listed if j != inst.current_rep[i]]
        assert ordered == [j for j in row if j != inst.current_rep[i]]


class Search:
    """A search state and neighbourhood built on a random kernel instance."""

    def __init__(self, seed, contiguity=None, all_assigned=True):
        rng = np.random.default_rng(seed)
        self.inst = inst = random_plain_instance(rng, positive_workload=True)
        if contiguity is not None:
            inst.rules_on["contiguity"] = contiguity
        self.arrays = accounts, reps, distance, rules = to_arrays(inst)
        n_accounts, n_reps = inst.n_accounts, inst.n_reps
        k = min(K, n_reps)
        rep = np.empty((n_accounts, k), dtype=np.int64)
        dist = np.empty((n_accounts, k))
        nearest = np.zeros((n_accounts, 0), dtype=np.int64)
        search.select_candidates(nearest, accounts, reps, distance, rules, True, rep, dist)
        assignment = random_assignment(rng, inst)
        if all_assigned:
            # Every account on one of its candidates (as the constructions leave it).
            for i in range(n_accounts):
                listed = rep[i][rep[i] >= 0]
                if listed.size and assignment[i] not in listed:
                    assignment[i] = listed[rng.integers(0, listed.size)]
        self.n_accounts = n_accounts
        listed_by = [[i for i in range(n_accounts) if j in rep[i]] for j in range(n_reps)]
        rep_ptr = np.zeros(n_reps + 1, dtype=np.int64)
        rep_ptr[1:] = np.cumsum([len(x) for x in listed_by])
        self.neighbourhood = search.Neighbourhood(
            candidate_rep=rep,
            candidate_distance=dist,
            swap_ptr=accounts.neighbour_ptr,
            swap_neighbour=accounts.neighbour,
            rep_ptr=rep_ptr,
            rep_account=np.array([i for x in listed_by for i in x], dtype=np.int64),
        )
        n_measures = accounts.measures.shape[0]
        self.state = search.SearchState(
            rep_of_account=assignment.astype(np.int64),
            totals=np.empty((n_measures, n_reps)),
            grand_totals=np.empty(n_measures),
            sums=np.empty(N_SUMS),
            violations=np.empty(N_RULES),
            current_distance=np.empty(n_accounts),
            order=np.arange(n_accounts, dtype=np.int64),
            counters=np.zeros(search.N_COUNTERS, dtype=np.int64),
            mark=np.full(n_accounts, -1, dtype=np.int64),
            queue=np.empty(n_accounts, dtype=np.int64),
            rep_moved=np.zeros(n_reps, dtype=np.int64),
            account_seen=np.full(n_accounts, -1, dtype=np.int64),
            near_move=np.ones(n_accounts, dtype=np.bool_),
        )
        self.objective_weight = rng.uniform(0.0, 1.0, N_OBJECTIVES)
        self.objective_weight[2] /= 500.0  # travel in km
        self.penalty_weight = rng.uniform(1.0, 20.0, N_RULES)
        self.penalty_weight[RULE_CONTIGUITY] = 0.0
        self.params = np.zeros(search.N_PARAMS)
        self.params[search.MIN_GAIN] = 1e-9
        self.params[search.SEARCH_LIMIT] = n_accounts
        self.params[search.MAX_ROUNDS] = 60
        self.params[search.MAX_STALE] = 1000
        self.params[search.ROUND_STEPS] = 50
        self.refresh()

    def refresh(self):
        s = self.state
        evaluate_design(
            s.rep_of_account, *self.arrays, s.totals, s.grand_totals, s.sums, s.violations
        )
        accounts, reps, distance, _ = self.arrays
        search.design_distances(s.rep_of_account, accounts, reps, distance, s.current_distance)

    def score(self):
        return search.score(
            self.state, self.objective_weight, self.penalty_weight, np.empty(N_OBJECTIVES)
        )

    def descend(self, chunk=10**9, max_moves=2**62):
        while True:
            status = search.descend(
                self.state,
                *self.arrays,
                self.neighbourhood,
                self.objective_weight,
                self.penalty_weight,
                self.params,
                chunk,
                max_moves,
            )
            if status != search.RUNNING:
                return status

    def kick(self, rng, chunk=10**9, max_moves=2**62):
        while True:
            status = search.kick(
                self.state,
                *self.arrays,
                self.neighbourhood,
                self.objective_weight,
                self.penalty_weight,
                self.params,
                rng,
                chunk,
                max_moves,
            )
            if status != search.RUNNING:
                return status

    def assert_state_is_exact(self):
        """The kept totals and sums equal a full evaluation of the design."""
        s = self.state
        kept = (s.totals.copy(), s.sums.copy(), s.violations.copy(), s.current_distance.copy())
        self.refresh()
        np.testing.assert_allclose(kept[0], s.totals, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(kept[1][:5], s.sums[:5], rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(kept[1][6:], s.sums[6:], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(
            kept[2][:RULE_CONTIGUITY], s.violations[:RULE_CONTIGUITY], rtol=1e-9, atol=1e-6
        )
        assert np.array_equal(kept[3], s.current_distance)


def weighted_swap(srch, i, k):
    od, vd = np.empty(N_OBJECTIVES), np.empty(N_RULES)
    s = srch.state
    swap_delta(i, k, s.rep_of_account, *srch.arrays, s.totals, s.grand_totals, s.sums, od, vd)
    return float(srch.objective_weight @ od + srch.penalty_weight @ vd)


def weighted_shifts(srch):
    s, nb = srch.state, srch.neighbourhood
    out = np.empty((srch.n_accounts, nb.candidate_rep.shape[1]))
    shift_deltas_weighted(
        np.arange(srch.n_accounts),
        nb.candidate_rep,
        nb.candidate_distance,
        s.current_distance,
        s.rep_of_account,
        *srch.arrays,
        s.totals,
        s.grand_totals,
        s.sums,
        srch.objective_weight,
        srch.penalty_weight,
        out,
    )
    return out


def mutual_pairs(srch):
    """Swap pairs the search may make: partners in other territories, each allowed the other's."""
    s, nb = srch.state, srch.neighbourhood
    rep = s.rep_of_account
    for i in range(srch.n_accounts):
        for e in range(nb.swap_ptr[i], nb.swap_ptr[i + 1]):
            k = nb.swap_neighbour[e]
            a, b = rep[i], rep[k]
            if (
                a >= 0
                and b >= 0
                and a != b
                and b in nb.candidate_rep[i]
                and a in nb.candidate_rep[k]
            ):
                yield i, k


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("one_way", [False, True])
def test_swap_pairs_are_the_mutual_pairs_and_score_as_swap_delta(seed, one_way):
    srch = Search(seed)
    s, nb = srch.state, srch.neighbourhood
    pairs = search._pair_buffers(nb.swap_ptr, srch.n_accounts)
    first, partners, slots, pair_distance, values, pair_start, pair_stop, _, _ = pairs
    expected = {}
    for i, k in mutual_pairs(srch):
        if not one_way or k > i:
            expected[i, k] = weighted_swap(srch, i, k)
    # Every other account's pairs in one call, scored in one call (as a descent batch does).
    account = np.arange(srch.n_accounts)
    wanted = account % 2 == 0
    n = search._find_pairs(
        account,
        wanted,
        one_way,
        s.rep_of_account,
        s.current_distance,
        nb.candidate_rep,
        nb.candidate_distance,
        nb.swap_ptr,
        nb.swap_neighbour,
        pairs,
    )
    expected = {(i, k): v for (i, k), v in expected.items() if wanted[i]}
    for i in account:
        assert (first[pair_start[i] : pair_stop[i]] == i).all()
    search._score_pairs(0, n, s, *srch.arrays, srch.objective_weight, srch.penalty_weight, pairs)
    got = {(int(first[t]), int(partners[t])): float(values[t]) for t in range(n)}
    assert got.keys() == expected.keys()
    for t in range(n):
        i, k = int(first[t]), int(partners[t])
        a, b = s.rep_of_account[i], s.rep_of_account[k]
        assert nb.candidate_rep[i, slots[t, 0]] == b and nb.candidate_rep[k, slots[t, 1]] == a
        assert (
            pair_distance[t]
            == [distance_km_cached(srch, x, j) for x, j in ((i, a), (i, b), (k, a), (k, b))]
        ).all()
        assert math.isclose(values[t], expected[i, k], rel_tol=1e-9, abs_tol=1e-9), (i, k)


def distance_km_cached(srch, x, j):
    """The search's cached distance of account x to rep j (current or candidate)."""
    s, nb = srch.state, srch.neighbourhood
    if s.rep_of_account[x] == j:
        return s.current_distance[x]
    return nb.candidate_distance[x, list(nb.candidate_rep[x]).index(j)]


@pytest.mark.parametrize("seed", SEEDS)
def test_descent_ends_at_a_local_optimum_of_shifts_and_swaps(seed):
    srch = Search(seed, contiguity=False)
    before = srch.score()
    assert srch.descend() == search.CONVERGED
    srch.assert_state_is_exact()
    assert srch.score() <= before + 1e-9
    min_gain = srch.params[search.MIN_GAIN]
    shifts = weighted_shifts(srch)
    assert not (shifts < -min_gain).any()
    for i, k in mutual_pairs(srch):
        assert weighted_swap(srch, i, k) >= -min_gain


@pytest.mark.parametrize("seed", SEEDS[:15])
def test_same_steps_same_design_whatever_the_chunks(seed):
    designs = []
    for chunk in (1, 3, 10**9):
        srch = Search(seed)
        srch.descend(chunk)
        srch.kick(np.random.default_rng(7), max(1, chunk // 2))
        designs.append((srch.state.rep_of_account.copy(), srch.state.counters[search.MOVES]))
    for design, moves in designs[1:]:
        assert np.array_equal(design, designs[0][0]) and moves == designs[0][1]


@pytest.mark.parametrize("seed", SEEDS)
def test_kick_rounds_keep_only_improvements_and_undo_exactly(seed):
    srch = Search(seed, contiguity=False)
    srch.descend()
    rng = np.random.default_rng(seed)
    srch.params[search.MAX_ROUNDS] = 1
    for _ in range(20):
        before = srch.score()
        design = srch.state.rep_of_account.copy()
        srch.state.counters[search.ROUNDS] = 0
        srch.kick(rng)
        after = srch.score()
        if srch.state.counters[search.STALE] > 0:  # not kept: the design is restored
            assert np.array_equal(srch.state.rep_of_account, design)
        assert after <= before + 1e-9
        srch.state.counters[search.STALE] = 0
    srch.assert_state_is_exact()


@pytest.mark.parametrize("seed", SEEDS)
def test_moves_never_split_a_territory(seed):
    srch = Search(seed, contiguity=True)
    accounts, reps, _, _ = srch.arrays
    s = srch.state
    n_reps = reps.capacity.shape[0]
    islands = count_islands(s.rep_of_account, n_reps, accounts.neighbour_ptr, accounts.neighbour)
    strays = search.repair_islands(
        s, *srch.arrays, srch.neighbourhood, srch.objective_weight, srch.penalty_weight, 100, 2**62
    )
    srch.refresh()
    repaired = count_islands(s.rep_of_account, n_reps, accounts.neighbour_ptr, accounts.neighbour)
    assert repaired <= islands
    if strays == 0:
        assert repaired == 0
    srch.descend()
    srch.kick(np.random.default_rng(seed))
    after = count_islands(s.rep_of_account, n_reps, accounts.neighbour_ptr, accounts.neighbour)
    assert after <= repaired


@pytest.mark.parametrize("seed", SEEDS[:10])
@pytest.mark.parametrize("max_moves", [0, 1, 5])
def test_kernels_stop_at_the_move_limit(seed, max_moves):
    srch = Search(seed)
    design = srch.state.rep_of_account.copy()
    srch.descend(max_moves=max_moves)
    srch.kick(np.random.default_rng(1), max_moves=max_moves)
    assert srch.state.counters[search.MOVES] <= max_moves
    assert (srch.state.rep_of_account != design).sum() <= 2 * max_moves


def test_greedy_assignment_fills_nearest_reps_with_room():
    candidate_rep = np.array([[0, 1], [0, 1], [1, 0], [0, -1]], dtype=np.int64)
    workload = np.array([6.0, 6.0, 3.0, 1.0])
    limit = np.array([10.0, 10.0])
    load = np.zeros(2)
    out = np.full(4, -1, dtype=np.int64)
    search.assign_greedy(
        np.array([3, 0, 1, 2], dtype=np.int64),
        candidate_rep,
        workload,
        limit,
        load,
        out,
    )
    # Account 3 takes rep 0 first; 0 fits there (7 h), 1 does not (13 h) and goes to rep 1.
    assert out.tolist() == [0, 1, 1, 0]
    assert load.tolist() == [7.0, 9.0]


@pytest.mark.parametrize("seed", SEEDS[:20])
def test_symmetric_graph_joins_two_points_when_either_lists_the_other(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    q = int(rng.integers(1, 6))
    # Random lists, the point itself sometimes among them (as a k-d tree returns it).
    nearest = rng.integers(0, n, (n, q))
    own = rng.random((n, q)) < 0.2
    nearest[own] = np.repeat(np.arange(n)[:, None], q, axis=1)[own]
    ptr, neighbour = search.symmetric_graph(nearest.astype(np.int64))
    expected = [set() for _ in range(n)]
    for i in range(n):
        for j in nearest[i]:
            if j != i:
                expected[i].add(int(j))
                expected[j].add(i)
    assert ptr[0] == 0 and ptr[-1] == neighbour.shape[0]
    for i in range(n):
        assert neighbour[ptr[i] : ptr[i + 1]].tolist() == sorted(expected[i])


@pytest.mark.parametrize("seed", SEEDS[:20])
def test_accounts_by_rep_lists_each_reps_accounts_in_order(seed):
    rng = np.random.default_rng(seed)
    n_accounts, n_reps, k = int(rng.integers(1, 50)), int(rng.integers(1, 8)), 3
    candidate_rep = rng.integers(-1, n_reps, (n_accounts, k)).astype(np.int64)
    rep_ptr, rep_account = search.accounts_by_rep(candidate_rep, n_reps)
    for j in range(n_reps):
        listed = [i for i in range(n_accounts) for c in range(k) if candidate_rep[i, c] == j]
        assert rep_account[rep_ptr[j] : rep_ptr[j + 1]].tolist() == listed
    assert rep_ptr[-1] == rep_account.shape[0] == (candidate_rep >= 0).sum()
