"""Benchmarks of the objective kernels (DESIGN §3, §4) beside NumPy baselines of the same work.

Full evaluation at xl size (1,000,000 accounts x 2,000 reps) on one and two threads, and
weighted shift deltas per second on one core, with candidate distances cached or computed.
Run with `pytest tests/benchmarks/test_kernels_bench.py -m slow --benchmark-enable`.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from engine.bench.kernels import (
    N_CANDIDATES,
    OBJECTIVE_WEIGHT,
    PENALTY_WEIGHT,
    RULES_ON,
    KernelState,
)
from engine.bench.timing import best_seconds
from engine.benchmarks.baselines import (
    numpy_objectives,
    numpy_shift_deltas,
    numpy_shift_deltas_all,
)
from kernels.arrays import N_RULES
from kernels.deltas import shift_deltas_weighted

N_ACCOUNTS = 1_000_000
N_REPS = 2_000


@pytest.fixture(scope="module")
def xl():
    return KernelState(N_ACCOUNTS, N_REPS)


@pytest.fixture
def numba_threads():
    before = numba.get_num_threads()
    yield numba.set_num_threads
    numba.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
def test_full_evaluation_xl(benchmark, xl, threads, numba_threads):
    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip(f"needs {threads} Numba threads")
    numba_threads(threads)
    expected = numpy_objectives(xl)
    baseline = best_seconds(lambda: numpy_objectives(xl), repeat=3)
    benchmark.pedantic(xl.evaluate, rounds=7, iterations=1, warmup_rounds=1)
    np.testing.assert_allclose(xl.objectives, expected, rtol=1e-9)
    if benchmark.disabled:
        return
    kernel = benchmark.stats.stats.min
    benchmark.extra_info.update(
        threads=threads,
        accounts=N_ACCOUNTS,
        reps=N_REPS,
        rules_on=len(RULES_ON),
        kernel_min_ms=kernel * 1e3,
        numpy_baseline_min_ms=baseline * 1e3,
        speedup_vs_numpy=baseline / kernel,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("distances", "rules", "order"),
    [
        ("cached", "objectives", "sweep"),
        ("cached", "six_rules", "sweep"),
        ("computed", "objectives", "sweep"),
        ("computed", "six_rules", "sweep"),
        ("cached", "six_rules", "random"),
    ],
)
def test_shift_deltas_per_second(benchmark, xl, distances, rules, order, numba_threads):
    """Weighted shift deltas on one core: 1,000,000 accounts x 10 candidates per call.

    `sweep` visits accounts in order, as a local-search pass does; `random` in a random
    order, which makes it a test of memory latency. `objectives` switches every rule off;
    `six_rules` is RULES_ON.
    """
    numba_threads(1)
    rng = np.random.default_rng(1)
    account_index = np.arange(N_ACCOUNTS) if order == "sweep" else rng.permutation(N_ACCOUNTS)
    rule_arrays = xl.rules
    if rules == "objectives":
        rule_arrays = rule_arrays._replace(on=np.zeros(N_RULES, dtype=np.bool_))
    if distances == "cached":
        candidate_distance, current_distance = xl.candidate_distance, xl.current_distance
    else:
        candidate_distance, current_distance = np.zeros((0, 0)), np.zeros(0)
    out = np.empty((N_ACCOUNTS, N_CANDIDATES))
    arguments = (
        account_index,
        xl.candidate_rep,
        candidate_distance,
        current_distance,
        xl.design,
        xl.accounts,
        xl.reps,
        xl.distance,
        rule_arrays,
        xl.totals,
        xl.grand_totals,
        xl.sums,
        OBJECTIVE_WEIGHT,
        PENALTY_WEIGHT,
        out,
    )
    benchmark.pedantic(
        shift_deltas_weighted, args=arguments, rounds=3, iterations=1, warmup_rounds=1
    )

    chunk = 100_000

    def numpy_batch():
        return numpy_shift_deltas_all(
            xl,
            rule_arrays,
            account_index,
            distances == "cached",
            OBJECTIVE_WEIGHT,
            PENALTY_WEIGHT,
            chunk,
        )

    head = account_index[:chunk]
    first = numpy_shift_deltas(
        xl,
        rule_arrays,
        head,
        xl.candidate_distance[head],
        xl.current_distance[head],
        OBJECTIVE_WEIGHT,
        PENALTY_WEIGHT,
    )
    np.testing.assert_allclose(out[:chunk], first, rtol=1e-7, atol=1e-9)
    if benchmark.disabled:
        return
    baseline = best_seconds(numpy_batch, repeat=1)
    kernel = benchmark.stats.stats.min
    n_deltas = N_ACCOUNTS * N_CANDIDATES
    benchmark.extra_info.update(
        deltas=n_deltas,
        order=order,
        distances=distances,
        rules_on=0 if rules == "objectives" else len(RULES_ON),
        kernel_deltas_per_s=n_deltas / kernel,
        numpy_baseline_deltas_per_s=n_deltas / baseline,
        speedup_vs_numpy=baseline / kernel,
    )
