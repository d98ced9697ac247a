"""Benchmarks of the frontier (DESIGN §4) on `northeast`, beside plain pymoo.

(1) the frontier's wall time after compilation, target 20 s; (2) the hypervolume of terrasim's
3-objective frontier against plain pymoo NSGA-II evaluating in Python, given the same wall time
and ten times it. Run with
`pytest tests/benchmarks/test_frontier_bench.py -m slow --benchmark-enable -s`.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.benchmarks.baselines import PLAIN_OBJECTIVES, feasible_hypervolume, run_plain_pymoo
from engine.frontier import FrontierSettings, frontier
from engine.generator import generate_instance
from engine.optimize import SolverSettings
from engine.problem import build_problem
from engine.rules import Objective, Rules
from engine.validate import instance_from_tables
from tests.conftest import DEFAULT_WEIGHTS

pytestmark = pytest.mark.slow

TARGET_SECONDS = 20.0
OBJECTIVES = PLAIN_OBJECTIVES  # the plain pymoo problem computes these three
WEIGHTS = DEFAULT_WEIGHTS


@pytest.fixture(scope="module")
def northeast():
    rules = Rules()
    instance = instance_from_tables(*generate_instance("northeast", 0), rules)
    return build_problem(instance, Objective(WEIGHTS, 1.3, rules))


def run_terrasim(problem):
    return frontier(problem, SolverSettings(), FrontierSettings(objectives=OBJECTIVES))


def test_northeast_frontier_wall_time(benchmark, northeast):
    result = benchmark.pedantic(run_terrasim, args=(northeast,), rounds=1, warmup_rounds=1)
    seconds = benchmark.stats.stats.max
    benchmark.extra_info.update(
        {
            "seconds": seconds,
            "target_seconds": TARGET_SECONDS,
            "phase_seconds": result.phase_seconds,
            "designs": len(result.designs),
            "evaluated": result.n_evaluated,
            "hypervolume": result.hypervolume,
            "reference_point": result.reference_point,
        }
    )
    print(f"\nnortheast frontier: {seconds:.1f} s, {len(result.designs)} designs")
    print("\n".join(f"{k}: {v}" for k, v in benchmark.extra_info.items()))
    assert seconds <= TARGET_SECONDS


def test_frontier_hypervolume_beats_plain_pymoo(benchmark, northeast):
    result = benchmark.pedantic(run_terrasim, args=(northeast,), rounds=1, warmup_rounds=1)
    seconds = benchmark.stats.stats.max
    reference = np.array([result.reference_point[o] for o in OBJECTIVES])
    ours, ours_front = feasible_hypervolume(
        northeast, [d.assignment for d in result.designs], reference
    )
    assert ours == pytest.approx(result.hypervolume, rel=1e-12)
    info = {
        "reference_point": result.reference_point,
        "terrasim_seconds": seconds,
        "terrasim_hypervolume": ours,
        "terrasim_front": ours_front,
        "terrasim_evaluated": result.n_evaluated,
    }
    for name, factor in (("equal_time", 1.0), ("ten_times", 10.0)):
        designs, took, generations, evaluated = run_plain_pymoo(northeast, factor * seconds)
        volume, front = feasible_hypervolume(northeast, designs, reference)
        info.update(
            {
                f"pymoo_{name}_seconds": took,
                f"pymoo_{name}_generations": generations,
                f"pymoo_{name}_evaluated": evaluated,
                f"pymoo_{name}_hypervolume": volume,
                f"pymoo_{name}_front": front,
                f"ratio_{name}": ours / volume if volume > 0 else float("inf"),
            }
        )
    benchmark.extra_info.update(info)
    print("\n" + "\n".join(f"{k}: {v}" for k, v in info.items()))
    assert ours > info["pymoo_equal_time_hypervolume"]
    assert ours > info["pymoo_ten_times_hypervolume"]
