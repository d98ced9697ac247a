"""Shift and swap deltas (kernels/deltas.py) against differences of full evaluations."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.arrays import N_OBJECTIVES, N_RULES, OBJECTIVE_NAMES, RULE_CONTIGUITY, RULE_NAMES
from kernels.deltas import (
    apply_shift,
    apply_swap,
    shift_delta,
    shift_deltas_weighted,
    swap_delta,
    swap_deltas_weighted,
)
from kernels.geo import account_rep_distance
from kernels.objectives import N_SUMS, SUM_MAX_DISTANCE, SUM_NAMES
from tests.kernels.kernel_instances import (
    State,
    close,
    random_assignment,
    random_plain_instance,
    to_arrays,
    violation_scales,
)
from tests.kernels.reference import evaluate

SEEDS = st.integers(min_value=0, max_value=2**63 - 1)
MOVES_PER_EXAMPLE = 6


def _delta(kernel, first, second, state):
    objective_delta = np.full(N_OBJECTIVES, np.nan)
    violation_delta = np.full(N_RULES, np.nan)
    kernel(
        first,
        second,
        state.assignment,
        *state.arrays,
        state.totals,
        state.grand_totals,
        state.sums,
        objective_delta,
        violation_delta,
    )
    return objective_delta, violation_delta


def _assert_matches_difference(objective_delta, violation_delta, before, after, scales):
    for o, name in enumerate(OBJECTIVE_NAMES):
        old, new = before.objectives[o], after.objectives[o]
        assert close(objective_delta[o], new - old, max(abs(old), abs(new))), name
    for r, name in enumerate(RULE_NAMES):
        if r == RULE_CONTIGUITY:
            assert violation_delta[r] == 0.0
            continue
        old, new = before.violations[r], after.violations[r]
        assert close(violation_delta[r], new - old, scales[name]), name


def _swappable(rng, assignment):
    assigned = np.flatnonzero(assignment >= 0)
    rng.shuffle(assigned)
    for i in assigned:
        others = assigned[assignment[assigned] != assignment[i]]
        if others.size:
            return int(i), int(rng.choice(others))
    return None


@settings(max_examples=150, deadline=None)
@given(seed=SEEDS)
def test_shift_delta_equals_difference_of_full_evaluations(seed):
    rng = np.random.default_rng(seed)
    inst = random_plain_instance(rng)
    arrays = to_arrays(inst)
    before = State(arrays, random_assignment(rng, inst))
    scales = violation_scales(inst)
    for _ in range(MOVES_PER_EXAMPLE):
        i = int(rng.integers(inst.n_accounts))
        b = int(rng.integers(-1, inst.n_reps))  # -1 unassigns; b may be i's own rep
        objective_delta, violation_delta = _delta(shift_delta, i, b, before)
        moved = before.assignment.copy()
        moved[i] = b
        after = State(arrays, moved)
        _assert_matches_difference(objective_delta, violation_delta, before, after, scales)


@settings(max_examples=150, deadline=None)
@given(seed=SEEDS)
def test_swap_delta_equals_difference_of_full_evaluations(seed):
    rng = np.random.default_rng(seed)
    inst = random_plain_instance(rng)
    arrays = to_arrays(inst)
    before = State(arrays, random_assignment(rng, inst))
    scales = violation_scales(inst)
    for _ in range(MOVES_PER_EXAMPLE):
        pair = _swappable(rng, before.assignment)
        if pair is None:
            return
        i, k = pair
        objective_delta, violation_delta = _delta(swap_delta, i, k, before)
        swapped = before.assignment.copy()
        swapped[i], swapped[k] = swapped[k], swapped[i]
        after = State(arrays, swapped)
        _assert_matches_difference(objective_delta, violation_delta, before, after, scales)


@settings(max_examples=150, deadline=None)
@given(seed=SEEDS, cached=st.booleans())
def test_weighted_shift_deltas_are_the_weighted_sum_of_shift_delta(seed, cached):
    rng = np.random.default_rng(seed)
    inst = random_plain_instance(rng)
    arrays = to_arrays(inst)
    accounts, reps, distance, rules = arrays
    state = State(arrays, random_assignment(rng, inst))
    objective_weight = rng.uniform(0.0, 2.0, N_OBJECTIVES) * (rng.random(N_OBJECTIVES) < 0.8)
    penalty_weight = rng.uniform(0.0, 100.0, N_RULES)
    k = int(rng.integers(1, 6))
    candidate_rep = rng.integers(-1, inst.n_reps, (inst.n_accounts, k))
    own = rng.random((inst.n_accounts, k)) < 0.1
    candidate_rep[own] = np.repeat(state.assignment[:, None], k, axis=1)[own]
    if cached:
        candidate_distance = np.array(
            [
                [
                    account_rep_distance(i, max(b, 0), accounts.xyz, reps.xyz, distance)
                    for b in candidate_rep[i]
                ]
                for i in range(inst.n_accounts)
            ]
        ).reshape(inst.n_accounts, k)
        current_distance = np.array(
            [
                account_rep_distance(i, max(a, 0), accounts.xyz, reps.xyz, distance)
                for i, a in enumerate(state.assignment)
            ]
        )
    else:
        candidate_distance = np.zeros((0, 0))
        current_distance = np.zeros(0)
    account_index = rng.permutation(inst.n_accounts)[: int(rng.integers(1, inst.n_accounts + 1))]
    out = np.full((account_index.shape[0], k), np.nan)
    shift_deltas_weighted(
        account_index,
        candidate_rep,
        candidate_distance,
        current_distance,
        state.assignment,
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
    scales = violation_scales(inst)
    for t, i in enumerate(account_index):
        for c, b in enumerate(candidate_rep[i]):
            if b < 0:
                assert out[t, c] == np.inf
                continue
            objective_delta, violation_delta = _delta(shift_delta, int(i), int(b), state)
            terms = np.concatenate(
                [objective_weight * objective_delta, penalty_weight * violation_delta]
            )
            magnitude = objective_weight.sum() * (1 + state.objectives.max()) + sum(
                w * scales[name] for w, name in zip(penalty_weight, RULE_NAMES, strict=True)
            )
            assert close(out[t, c], terms.sum(), magnitude), (i, b)


def _random_weights(rng):
    objective_weight = rng.uniform(0.0, 2.0, N_OBJECTIVES) * (rng.random(N_OBJECTIVES) < 0.8)
    return objective_weight, rng.uniform(0.0, 100.0, N_RULES)


def _weighted_magnitude(objective_weight, penalty_weight, objectives, scales):
    """The size of the numbers a weighted delta is a difference of (its absolute tolerance)."""
    return objective_weight.sum() * (1 + max(objectives)) + sum(
        w * scales[name] for w, name in zip(penalty_weight, RULE_NAMES, strict=True)
    )


def _random_pairs(rng, assignment, n_pairs):
    """Pairs of accounts, mostly in two territories, some in one, some unassigned."""
    n = assignment.shape[0]
    first = rng.integers(0, n, n_pairs)
    second = rng.integers(0, n, n_pairs)
    for t in range(n_pairs):
        others = np.flatnonzero((assignment != assignment[first[t]]) & (assignment >= 0))
        if assignment[first[t]] >= 0 and others.size and rng.random() < 0.8:
            second[t] = rng.choice(others)
    return first.astype(np.int64), second.astype(np.int64)


def _swap_values(state, first, second, objective_weight, penalty_weight, cached):
    accounts, reps, distance, rules = state.arrays
    if cached:
        pair_distance = np.array(
            [
                [
                    account_rep_distance(x, max(j, 0), accounts.xyz, reps.xyz, distance)
                    for x, j in ((i, a), (i, b), (k, a), (k, b))
                ]
                for i, k in zip(first, second, strict=True)
                for a, b in [(state.assignment[i], state.assignment[k])]
            ]
        ).reshape(-1, 4)
    else:
        pair_distance = np.zeros((0, 4))
    out = np.full(first.shape[0], np.nan)
    swap_deltas_weighted(
        first,
        second,
        pair_distance,
        state.assignment,
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
    return out


@settings(max_examples=150, deadline=None)
@given(seed=SEEDS, cached=st.booleans())
def test_weighted_swap_deltas_are_the_weighted_sum_of_swap_delta(seed, cached):
    rng = np.random.default_rng(seed)
    inst = random_plain_instance(rng)
    state = State(to_arrays(inst), random_assignment(rng, inst))
    objective_weight, penalty_weight = _random_weights(rng)
    first, second = _random_pairs(rng, state.assignment, int(rng.integers(1, 20)))
    out = _swap_values(state, first, second, objective_weight, penalty_weight, cached)
    magnitude = _weighted_magnitude(
        objective_weight, penalty_weight, state.objectives, violation_scales(inst)
    )
    for t, (i, k) in enumerate(zip(first, second, strict=True)):
        a, b = state.assignment[i], state.assignment[k]
        if a < 0 or b < 0:
            assert out[t] == np.inf
            continue
        objective_delta, violation_delta = _delta(swap_delta, int(i), int(k), state)
        expected = objective_weight @ objective_delta + penalty_weight @ violation_delta
        assert close(out[t], expected, magnitude), (i, k)
        if a == b:
            assert out[t] == 0.0


@settings(max_examples=60, deadline=None)
@given(seed=SEEDS)
def test_weighted_swap_deltas_equal_the_plain_reference(seed):
    rng = np.random.default_rng(seed)
    inst = random_plain_instance(rng)
    state = State(to_arrays(inst), random_assignment(rng, inst))
    objective_weight, penalty_weight = _random_weights(rng)
    first, second = _random_pairs(rng, state.assignment, 4)
    out = _swap_values(state, first, second, objective_weight, penalty_weight, True)
    before = evaluate(inst, state.assignment.tolist())
    magnitude = _weighted_magnitude(
        objective_weight, penalty_weight, state.objectives, violation_scales(inst)
    )
    for t, (i, k) in enumerate(zip(first, second, strict=True)):
        if state.assignment[i] < 0 or state.assignment[k] < 0:
            continue
        swapped = state.assignment.tolist()
        swapped[i], swapped[k] = swapped[k], swapped[i]
        after = evaluate(inst, swapped)
        expected = sum(
            w * (after["objectives"][name] - before["objectives"][name])
            for w, name in zip(objective_weight, OBJECTIVE_NAMES, strict=True)
        ) + sum(
            w * (after["violations"][name] - before["violations"][name])
            for w, name in zip(penalty_weight, RULE_NAMES, strict=True)
            if name != "contiguity"
        )
        assert close(out[t], expected, magnitude), (i, k)


@settings(max_examples=100, deadline=None)
@given(seed=SEEDS)
def test_applying_moves_keeps_the_state_of_a_fresh_evaluation(seed):
    rng = np.random.default_rng(seed)
    inst = random_plain_instance(rng, positive_workload=True)
    arrays = to_arrays(inst)
    state = State(arrays, random_assignment(rng, inst))
    expected_assignment = state.assignment.copy()
    largest_sums = np.abs(state.sums)
    largest_objectives = np.abs(state.objectives)
    for _ in range(50):
        pair = _swappable(rng, state.assignment) if rng.random() < 0.3 else None
        if pair is None:
            i, b = int(rng.integers(inst.n_accounts)), int(rng.integers(-1, inst.n_reps))
            objective_delta, _ = _delta(shift_delta, i, b, state)
            apply, first, second = apply_shift, i, b
            expected_assignment[i] = b
        else:
            (i, k) = pair
            objective_delta, _ = _delta(swap_delta, i, k, state)
            apply, first, second = apply_swap, i, k
            expected_assignment[[i, k]] = expected_assignment[[k, i]]
        objectives_before = state.objectives.copy()
        apply(
            first,
            second,
            state.assignment,
            *arrays,
            state.totals,
            state.grand_totals,
            state.sums,
            state.violations,
        )
        state.refresh_objectives()
        np.testing.assert_array_equal(state.assignment, expected_assignment)
        largest_sums = np.maximum(largest_sums, np.abs(state.sums))
        largest_objectives = np.maximum(largest_objectives, np.abs(state.objectives))
        for o, name in enumerate(OBJECTIVE_NAMES):
            predicted = objectives_before[o] + objective_delta[o]
            assert close(state.objectives[o], predicted, largest_objectives[o]), name

    fresh = State(arrays, expected_assignment)
    for m, row in enumerate(inst.measures):
        size = sum(abs(x) for x in row)
        assert fresh.grand_totals[m] == state.grand_totals[m]
        for j in range(inst.n_reps):
            assert close(state.totals[m, j], fresh.totals[m, j], size), (m, j)
    for s in range(N_SUMS):
        if s == SUM_MAX_DISTANCE:  # kept as an upper bound between full evaluations
            assert state.sums[s] >= fresh.sums[s] * (1 - 1e-12)
        else:
            assert close(state.sums[s], fresh.sums[s], largest_sums[s]), SUM_NAMES[s]
    for o, name in enumerate(OBJECTIVE_NAMES):
        assert close(state.objectives[o], fresh.objectives[o], largest_objectives[o]), name
    scales = violation_scales(inst)
    for r, name in enumerate(RULE_NAMES):
        if r != RULE_CONTIGUITY:
            assert close(state.violations[r], fresh.violations[r], scales[name]), name


def test_swap_inside_one_territory_changes_nothing_and_unassigned_is_refused():
    rng = np.random.default_rng(11)
    inst = random_plain_instance(rng)
    while inst.n_accounts < 3:
        inst = random_plain_instance(rng)
    arrays = to_arrays(inst)
    state = State(arrays, np.array([0, 0, -1] + [0] * (inst.n_accounts - 3)))
    objective_delta, violation_delta = _delta(swap_delta, 0, 1, state)
    assert not objective_delta.any() and not violation_delta.any()
    sums = state.sums.copy()
    state_arguments = (state.totals, state.grand_totals, state.sums, state.violations)
    apply_swap(0, 1, state.assignment, *arrays, *state_arguments)
    assert state.assignment[0] == 0 and (state.sums == sums).all()
    with pytest.raises(ValueError, match="two assigned accounts"):
        _delta(swap_delta, 0, 2, state)
    with pytest.raises(ValueError, match="two assigned accounts"):
        apply_swap(2, 0, state.assignment, *arrays, *state_arguments)
