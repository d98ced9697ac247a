"""Benchmarks of the local search (DESIGN §4) beside baselines timed in the same run.

Candidate lists at `enterprise` (100,000 accounts x 500 reps) against a NumPy brute force;
the descent from today's assignment to its local optimum with shifts and swaps and every rule
on, against a shift-only descent; and the metaheuristic against plain descent on `northeast`.
Run with `pytest tests/benchmarks/test_optimize_bench.py -m slow --benchmark-enable`.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from engine.bench.optimizer import DESCENT, EVERY_RULE, K
from engine.benchmarks.baselines import brute_force_candidates
from engine.candidates import candidate_lists
from engine.construct import from_today
from engine.generator import generate_instance
from engine.optimize import _objective_weights, optimize
from engine.problem import build_problem
from engine.rules import Objective, Rules
from engine.validate import instance_from_tables
from kernels.arrays import OBJECTIVE_NAMES
from tests.conftest import DEFAULT_WEIGHTS

WEIGHTS = DEFAULT_WEIGHTS


def problem_for(preset: str, rules: Rules):
    accounts, reps = generate_instance(preset, seed=0)
    instance = instance_from_tables(accounts, reps, rules)
    return build_problem(instance, Objective(weights=WEIGHTS, circuity=1.3, rules=rules))


@pytest.fixture(scope="module")
def enterprise():
    return problem_for("enterprise", Rules())


@pytest.mark.slow
def test_candidate_lists_enterprise(benchmark, enterprise):
    started = time.perf_counter()
    expected = brute_force_candidates(enterprise, K)
    baseline = time.perf_counter() - started
    result = benchmark.pedantic(
        candidate_lists, args=(enterprise, K), rounds=5, iterations=1, warmup_rounds=1
    )
    # Same reps, except where the current rep took the last slot (it always stays listed).
    current = enterprise.accounts.current_rep
    same = (np.sort(result.rep, axis=1) == np.sort(expected, axis=1)).all(axis=1)
    kept_current = (result.rep[:, -1] == current) & ~(expected == current[:, None]).any(axis=1)
    assert (same | kept_current).all()
    assert (result.rep[:, :-1] == expected[:, :-1])[~kept_current].all()
    if benchmark.disabled:
        return
    kernel = benchmark.stats.stats.min
    benchmark.extra_info.update(
        accounts=enterprise.n_accounts,
        reps=enterprise.n_reps,
        k=K,
        kdtree_min_s=kernel,
        numpy_brute_force_s=baseline,
        speedup_vs_numpy=baseline / kernel,
        current_rep_kept=int(kept_current.sum()),
    )


def weighted(problem, design) -> float:
    from engine.evaluate import evaluate

    weights = _objective_weights(problem, candidate_lists(problem, K))
    values = evaluate(problem, design).objectives
    return float(sum(w * values[name] for w, name in zip(weights, OBJECTIVE_NAMES, strict=True)))


@pytest.mark.slow
@pytest.mark.parametrize("contiguity", [False, True], ids=["all-but-contiguity", "every-rule"])
def test_local_search_enterprise(benchmark, contiguity):
    problem = problem_for("enterprise", Rules(**{**EVERY_RULE, "contiguity": contiguity}))
    started = time.perf_counter()
    candidates = candidate_lists(problem, K)
    start = from_today(problem, candidates)
    start_seconds = time.perf_counter() - started
    started = time.perf_counter()
    shift_only = optimize(problem, replace(DESCENT, swap_neighbours=0))
    shift_only_seconds = time.perf_counter() - started
    design = benchmark.pedantic(
        optimize, args=(problem, DESCENT), rounds=3, iterations=1, warmup_rounds=1
    )
    assert design.stopped == "converged"
    if benchmark.disabled:
        return
    benchmark.extra_info.update(
        accounts=problem.n_accounts,
        reps=problem.n_reps,
        rules_on=int(problem.rules.on.sum()),
        seconds_min=benchmark.stats.stats.min,
        candidates_and_start_seconds=start_seconds,
        moves=design.moves,
        score_start=weighted(problem, start),
        score_local_optimum=design.score,
        feasible=design.feasible,
        broken={k: v for k, v in design.evaluation.violations.items() if v > 0},
        shift_only_seconds=shift_only_seconds,
        shift_only_moves=shift_only.moves,
        shift_only_score=shift_only.score,
    )


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["northeast", "enterprise"])
def test_kicks_against_descent(benchmark, preset):
    problem = problem_for(preset, Rules())
    started = time.perf_counter()
    descent = optimize(problem, replace(DESCENT, penalty_rounds=8, raise_infeasible=True))
    descent_seconds = time.perf_counter() - started
    settings = replace(DESCENT, metaheuristic="ils", penalty_rounds=8, raise_infeasible=True)
    design = benchmark.pedantic(
        optimize, args=(problem, settings), rounds=3, iterations=1, warmup_rounds=1
    )
    assert design.score <= descent.score
    seeds = [optimize(problem, replace(settings, seed=s)).score for s in range(1, 4)]
    if benchmark.disabled:
        return
    benchmark.extra_info.update(
        accounts=problem.n_accounts,
        descent_score=descent.score,
        descent_seconds=descent_seconds,
        ils_score=design.score,
        ils_seconds_min=benchmark.stats.stats.min,
        ils_scores_other_seeds=seeds,
        improvement=1.0 - design.score / descent.score,
    )
