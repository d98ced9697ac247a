"""Kernel cases: full evaluation and shift deltas per second beside NumPy (DESIGN §3, §4).

`KernelState` is the synthetic design these cases (and tests/benchmarks/test_kernels_bench.py)
time: accounts around 300 metros, 10 nearest reps per account as candidates, a tenth of the
accounts moved away from today's rep, six rules on.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy.spatial import cKDTree

from engine.bench.case import BenchSettings, Row, Target, make_row
from engine.bench.timing import best_seconds, load_average, numba_threads
from engine.benchmarks.baselines import (
    CIRCUITY,
    RADIUS_KM,
    great_circle,
    numpy_objectives,
    numpy_shift_deltas,
    numpy_shift_deltas_all,
)
from kernels.arrays import (
    N_OBJECTIVES,
    N_RULES,
    RULE_BALANCE,
    RULE_CAPACITY,
    RULE_LEAVING,
    RULE_LOCKED,
    RULE_REGIONS,
    RULE_SPECIALISTS,
    AccountArrays,
    DistanceArrays,
    RepArrays,
    RuleArrays,
)
from kernels.deltas import shift_deltas_weighted
from kernels.geo import unit_vectors
from kernels.objectives import N_SUMS, evaluate_design, objectives_from_sums

N_CANDIDATES = 10  # 10 million deltas per sweep over all accounts at xl
N_SEGMENTS = 6
N_REGIONS = 50
N_METROS = 300
# The rules the kernel cases switch on; the NumPy baselines compute the same ones.
RULES_ON = (RULE_LOCKED, RULE_REGIONS, RULE_SPECIALISTS, RULE_CAPACITY, RULE_BALANCE, RULE_LEAVING)
OBJECTIVE_WEIGHT = np.array([1.0, 1.0, 1e-3, 1.0, 0.5])
PENALTY_WEIGHT = np.full(N_RULES, 10.0)

SIZES = {"quick": (5_000, 50), "full": (1_000_000, 2_000)}
CASES = (
    "evaluate_1_thread",
    "evaluate_2_threads",
    "shift_deltas_cached",
    "shift_deltas_cached_rules",
    "shift_deltas_haversine",
    "shift_deltas_haversine_rules",
)
_EVALUATION_TARGET_MS = {1: 35.0, 2: 20.0}
_DELTA_TARGET_PER_S = {True: 60.0, False: 25.0}  # M deltas/s: cached, computed distances
_CHECK_ACCOUNTS = 100_000


class KernelState:
    """A design with its territory totals, candidate lists and candidate distances.

    Parameters
    ----------
    n_accounts, n_reps : int
        Sizes (n_reps >= N_CANDIDATES).
    seed : int
    """

    def __init__(self, n_accounts: int, n_reps: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        metro_lat = rng.uniform(26.0, 48.0, N_METROS)
        metro_lon = rng.uniform(-123.0, -70.0, N_METROS)
        metro = rng.integers(0, N_METROS, n_accounts)
        lat = np.clip(metro_lat[metro] + rng.normal(0.0, 0.6, n_accounts), -90.0, 90.0)
        lon = metro_lon[metro] + rng.normal(0.0, 0.8, n_accounts)
        home = rng.integers(0, N_METROS, n_reps)
        rep_lat = metro_lat[home] + rng.normal(0.0, 0.6, n_reps)
        rep_lon = metro_lon[home] + rng.normal(0.0, 0.8, n_reps)
        account_xyz = unit_vectors(lat, lon)
        rep_xyz = unit_vectors(rep_lat, rep_lon)
        _, nearest = cKDTree(rep_xyz).query(account_xyz, k=N_CANDIDATES)
        self.candidate_rep = np.ascontiguousarray(nearest, dtype=np.int64)
        current = self.candidate_rep[:, 0].copy()
        design = current.copy()
        changed = rng.random(n_accounts) < 0.1
        design[changed] = self.candidate_rep[changed, rng.integers(1, N_CANDIDATES, changed.sum())]
        self.design = design
        measures = np.vstack(
            [
                rng.lognormal(10.0, 1.5, n_accounts),
                rng.lognormal(3.0, 0.5, n_accounts),
                np.ones(n_accounts),
            ]
        )
        self.accounts = AccountArrays(
            measures=measures,
            current_rep=current,
            segment=rng.integers(0, N_SEGMENTS, n_accounts),
            region=rng.integers(0, N_REGIONS, n_accounts),
            locked=rng.random(n_accounts) < 0.05,
            protected=np.zeros(n_accounts, dtype=np.bool_),
            barred_ptr=np.zeros(n_accounts + 1, dtype=np.int64),
            barred_rep=np.zeros(0, dtype=np.int64),
            xyz=account_xyz,
            neighbour_ptr=np.zeros(n_accounts + 1, dtype=np.int64),
            neighbour=np.zeros(0, dtype=np.int64),
        )
        capacity = rng.uniform(1500.0, 2500.0, n_reps)
        leaving = rng.random(n_reps) < 0.01
        share = np.where(leaving, 0.0, capacity)
        skill = rng.random((n_reps, N_SEGMENTS)) < 0.2
        self.reps = RepArrays(
            capacity=capacity,
            target_share=share / share.sum(),
            baseline_potential=np.bincount(current, measures[0], n_reps),
            skill=skill,
            has_skills=skill.any(axis=1),
            specialist=skill.any(axis=1) & (rng.random(n_reps) < 0.05),
            region_ok=rng.random((n_reps, N_REGIONS)) < 0.95,
            leaving=leaving,
            xyz=rep_xyz,
        )
        self.distance = DistanceArrays(np.zeros((0, 0)), CIRCUITY, RADIUS_KM)
        on = np.zeros(N_RULES, dtype=np.bool_)
        on[list(RULES_ON)] = True
        self.rules = RuleArrays(
            on=on,
            band_tolerance=np.array([0.1, 0.1, np.inf]),
            capacity_slack=0.1,
            min_accounts=0.0,
            max_accounts=1e9,
            max_potential_change=0.1,
            max_moved=1e9,
            max_moved_potential=1e18,
            max_distance=np.inf,
        )
        self.totals = np.zeros((3, n_reps))
        self.grand_totals = np.zeros(3)
        self.sums = np.zeros(N_SUMS)
        self.violations = np.zeros(N_RULES)
        self.objectives = np.zeros(N_OBJECTIVES)
        self.evaluate()
        self.candidate_distance = np.empty((n_accounts, N_CANDIDATES))
        for c in range(N_CANDIDATES):
            self.candidate_distance[:, c] = great_circle(account_xyz, rep_xyz[nearest[:, c]])
        self.current_distance = great_circle(account_xyz, rep_xyz[design])

    @property
    def n_accounts(self) -> int:
        """Number of accounts."""
        return int(self.design.shape[0])

    def evaluate(self) -> np.ndarray:
        """Evaluate the design from scratch with the kernels; the five objectives."""
        evaluate_design(
            self.design,
            self.accounts,
            self.reps,
            self.distance,
            self.rules,
            self.totals,
            self.grand_totals,
            self.sums,
            self.violations,
        )
        objectives_from_sums(self.sums, self.grand_totals, self.objectives)
        return self.objectives

    def rule_arrays(self, rules_on: bool) -> RuleArrays:
        """The six rules of `RULES_ON`, or every rule off."""
        return self.rules if rules_on else self.rules._replace(on=np.zeros(N_RULES, np.bool_))

    def shift_delta_arguments(self, cached: bool, rules_on: bool, out: np.ndarray) -> tuple:
        """Arguments of `shift_deltas_weighted` over every account in order (a search sweep)."""
        if cached:
            candidate_distance, current_distance = self.candidate_distance, self.current_distance
        else:
            candidate_distance, current_distance = np.zeros((0, 0)), np.zeros(0)
        return (
            np.arange(self.n_accounts),
            self.candidate_rep,
            candidate_distance,
            current_distance,
            self.design,
            self.accounts,
            self.reps,
            self.distance,
            self.rule_arrays(rules_on),
            self.totals,
            self.grand_totals,
            self.sums,
            OBJECTIVE_WEIGHT,
            PENALTY_WEIGHT,
            out,
        )


def run(settings: BenchSettings, cases: set[str]) -> Iterator[Row]:
    """Rows of the selected kernel cases, in `CASES` order, each as soon as it is measured."""
    n_accounts, n_reps = SIZES[settings.size]
    settings.say(f"kernels: building a design of {n_accounts:,} accounts × {n_reps:,} reps")
    state = KernelState(n_accounts, n_reps, seed=settings.seed)
    size = f"{n_accounts:,} × {n_reps:,}, 6 rules"
    for threads, case in ((1, "evaluate_1_thread"), (2, "evaluate_2_threads")):
        if case in cases:
            yield _evaluation_row(settings, state, threads, case, size)
    for cached, name in ((True, "cached"), (False, "haversine")):
        for rules_on in (False, True):
            case = f"shift_deltas_{name}" + ("_rules" if rules_on else "")
            if case in cases:
                yield _shift_delta_row(settings, state, cached, rules_on, case)


def _evaluation_row(
    settings: BenchSettings, state: KernelState, threads: int, case: str, size: str
) -> Row:
    with numba_threads(threads) as used:
        expected = numpy_objectives(state)
        baseline = best_seconds(lambda: numpy_objectives(state), settings.repeat)
        kernel = best_seconds(state.evaluate, settings.repeat, warmup=1)
    agree = np.allclose(state.objectives, expected, rtol=1e-9)
    notes = (
        f"vs NumPy vectorised objectives; {used} Numba thread(s); objectives "
        f"{'agree' if agree else 'DIFFER'} (rtol 1e-9); load {load_average()}"
    )
    return make_row(
        settings,
        case,
        size,
        kernel * 1e3,
        baseline * 1e3,
        "ms",
        higher_is_better=False,
        notes=notes,
        targets=(Target("<=", _EVALUATION_TARGET_MS[threads]),),
    )


def _shift_delta_row(
    settings: BenchSettings, state: KernelState, cached: bool, rules_on: bool, case: str
) -> Row:
    n_accounts = state.n_accounts
    out = np.empty((n_accounts, N_CANDIDATES))
    arguments = state.shift_delta_arguments(cached, rules_on, out)
    rules = state.rule_arrays(rules_on)
    index = np.arange(n_accounts)
    with numba_threads(1):
        kernel = best_seconds(lambda: shift_deltas_weighted(*arguments), settings.repeat, warmup=1)
        baseline = best_seconds(
            lambda: numpy_shift_deltas_all(
                state, rules, index, cached, OBJECTIVE_WEIGHT, PENALTY_WEIGHT
            ),
            settings.repeat,
        )
    head = index[:_CHECK_ACCOUNTS]
    first = numpy_shift_deltas(
        state,
        rules,
        head,
        state.candidate_distance[head],
        state.current_distance[head],
        OBJECTIVE_WEIGHT,
        PENALTY_WEIGHT,
    )
    agree = np.allclose(out[: head.shape[0]], first, rtol=1e-7, atol=1e-9)
    n_deltas = n_accounts * N_CANDIDATES
    distances = "cached distances" if cached else "great-circle distance computed"
    notes = (
        f"vs NumPy batches of 100,000 accounts; one core; {distances}; "
        f"{'six rules' if rules_on else 'objectives only'}; deltas "
        f"{'agree' if agree else 'DIFFER'}; load {load_average()}"
    )
    return make_row(
        settings,
        case,
        f"{n_accounts:,} × {N_CANDIDATES} candidates",
        n_deltas / kernel / 1e6,
        n_deltas / baseline / 1e6,
        "M deltas/s",
        higher_is_better=True,
        notes=notes,
        targets=(Target(">=", _DELTA_TARGET_PER_S[cached]),),
    )
