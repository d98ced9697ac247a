"""Optimizer cases at `enterprise` size: candidate lists and the descent to a local optimum.

Candidate lists against a NumPy brute force over the full distance matrix; the descent from
today's design with shifts and swaps against a shift-only descent (DESIGN §4).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from engine.bench.case import BenchSettings, Row, Target, describe, make_row, preset_problem
from engine.bench.timing import best_seconds, load_average
from engine.benchmarks.baselines import brute_force_candidates
from engine.candidates import candidate_lists
from engine.optimize import SolverSettings, optimize
from engine.problem import Problem
from engine.rules import Rules

K = 8
# Every rule of DESIGN §3 on, at bounds the enterprise preset can come near.
EVERY_RULE = dict(
    balance={"potential": 0.25},
    min_accounts=50,
    max_accounts=400,
    max_potential_change=1.0,
    max_moved=30_000,
    max_moved_potential_share=0.4,
    protected_potential=2_000_000.0,
    contiguity=True,
)
# One descent from today's assignment to its local optimum (no penalty raises, no kicks).
DESCENT = SolverSettings(
    construction="today",
    metaheuristic="descent",
    penalty_rounds=0,
    time_limit=600.0,
    raise_infeasible=False,
)
SIZES = {"quick": (3_000, 30), "full": (None, None)}  # enterprise: 100,000 × 500
CASES = ("candidate_lists", "local_search")
_CANDIDATES_TARGET_S = 0.2
_LOCAL_SEARCH_TARGET_S = 3.0


def run(settings: BenchSettings, cases: set[str]) -> Iterator[Row]:
    """Rows of the selected optimizer cases, in `CASES` order."""
    n_accounts, n_reps = SIZES[settings.size]
    if "candidate_lists" in cases:
        settings.say("optimizer: building enterprise with the default rules")
        problem = preset_problem(settings, "enterprise", Rules(), n_accounts, n_reps)
        yield _candidate_row(settings, problem)
    if "local_search" in cases:
        settings.say("optimizer: building enterprise with every rule but contiguity")
        rules = Rules(**{**EVERY_RULE, "contiguity": False})
        problem = preset_problem(settings, "enterprise", rules, n_accounts, n_reps)
        yield _local_search_row(settings, problem)


def _candidate_row(settings: BenchSettings, problem: Problem) -> Row:
    found = {}

    def brute_force() -> None:
        found["rep"] = brute_force_candidates(problem, K)

    baseline = best_seconds(brute_force, settings.repeat)
    expected = found["rep"]
    kernel = best_seconds(lambda: candidate_lists(problem, K), settings.repeat, warmup=1)
    result = candidate_lists(problem, K)
    # The same reps, except where the current rep took the last slot (it always stays listed).
    current = problem.accounts.current_rep
    same = (np.sort(result.rep, axis=1) == np.sort(expected, axis=1)).all(axis=1)
    kept_current = (result.rep[:, -1] == current) & ~(expected == current[:, None]).any(axis=1)
    agree = bool((same | kept_current).all()) and bool(
        (result.rep[:, :-1] == expected[:, :-1])[~kept_current].all()
    )
    notes = (
        f"vs NumPy brute force over the full distance matrix; k = {K}; lists "
        f"{'match' if agree else 'DIFFER'} ({int(kept_current.sum())} keep the current rep "
        f"last); load {load_average()}"
    )
    return make_row(
        settings,
        "candidate_lists",
        describe(problem, "enterprise"),
        kernel,
        baseline,
        "s",
        higher_is_better=False,
        notes=notes,
        targets=(Target("<=", _CANDIDATES_TARGET_S),),
    )


def _local_search_row(settings: BenchSettings, problem: Problem) -> Row:
    designs = {}

    def descend(name: str, solver: SolverSettings):
        def call():
            designs[name] = optimize(problem, solver)

        return call

    shift_only = replace(DESCENT, swap_neighbours=0)
    kernel = best_seconds(descend("search", DESCENT), settings.repeat, warmup=1)
    baseline = best_seconds(descend("shift_only", shift_only), settings.repeat)
    search, plain = designs["search"], designs["shift_only"]
    notes = (
        f"whole optimize call from today, shifts + swaps, {int(problem.rules.on.sum())} rules on "
        f"(all but contiguity): {search.moves:,} moves, score {search.score:.4f}, "
        f"{search.stopped}; vs shift-only descent: {plain.moves:,} moves, score "
        f"{plain.score:.4f}; load {load_average()}"
    )
    return make_row(
        settings,
        "local_search",
        describe(problem, "enterprise"),
        kernel,
        baseline,
        "s",
        higher_is_better=False,
        notes=notes,
        targets=(Target("<=", _LOCAL_SEARCH_TARGET_S),),
    )
