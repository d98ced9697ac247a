"""Benchmarks of the frontier (DESIGN §4) on `northeast`, beside plain pymoo.

(1) the frontier's wall time after compilation, target 20 s; (2) the hypervolume of terrasim's
3-objective frontier against plain pymoo NSGA-II evaluating in Python, given the same wall time
and ten times it. Run with
`pytest tests/benchmarks/test_frontier_bench.py -m slow --benchmark-enable -s`.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from engine.candidates import candidate_lists
from engine.evaluate import evaluate
from engine.frontier import FrontierSettings, frontier, hypervolume, non_dominated
from engine.generator import generate_instance
from engine.optimize import SolverSettings
from engine.problem import build_problem
from engine.rules import Objective, Rules
from engine.validate import instance_from_tables
from tests.conftest import DEFAULT_WEIGHTS

pytestmark = pytest.mark.slow

TARGET_SECONDS = 20.0
OBJECTIVES = ("potential_imbalance", "travel", "disruption")
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


# -- plain pymoo: NSGA-II with the objectives computed in Python, one individual at a time ----


def plain_pymoo_problem(problem):
    """The pymoo problem a user would write: the same genome, objectives in NumPy per design.

    Genes are candidate indices of the accounts with a choice (the same lists as terrasim, so
    the unary rules hold); capacity, the one other hard rule on, is one constraint per rep.
    """
    from pymoo.core.problem import ElementwiseProblem

    candidates = candidate_lists(problem, 8)
    free = np.flatnonzero(candidates.count > 1)
    base = candidates.rep[:, 0].copy()
    potential = problem.instance.accounts.potential
    workload = problem.instance.accounts.workload
    current = problem.instance.accounts.current_rep
    capacity_limit = problem.reps.capacity * (1.0 + problem.objective.rules.capacity_slack)
    share = problem.reps.target_share
    staying = share > 0
    n_reps = problem.n_reps

    def design_of(x):
        design = base.copy()
        design[free] = candidates.rep[free, np.asarray(x, dtype=np.int64)]
        return design

    class PlainTerritories(ElementwiseProblem):
        def __init__(self):
            super().__init__(
                n_var=free.size,
                n_obj=3,
                n_ieq_constr=n_reps,
                xl=0,
                xu=candidates.count[free] - 1,
                vtype=int,
            )

        def _evaluate(self, x, out, *args, **kwargs):
            design = design_of(x)
            rep_potential = np.bincount(design, weights=potential, minlength=n_reps)
            rep_workload = np.bincount(design, weights=workload, minlength=n_reps)
            target = share * potential.sum()
            imbalance = np.sqrt(
                np.sum(share[staying] * (rep_potential[staying] / target[staying] - 1.0) ** 2)
            )
            rows = np.arange(design.size)
            distance = candidates.distance[rows, (candidates.rep == design[:, None]).argmax(1)]
            travel = np.sum(workload * distance) / workload.sum()
            moved = (current >= 0) & (design != current)
            disruption = potential[moved].sum() / potential.sum()
            out["F"] = [imbalance, travel, disruption]
            out["G"] = rep_workload - capacity_limit

    today = np.where(
        candidates.rep[free] == current[free, None], np.arange(candidates.rep.shape[1]), 0
    ).max(axis=1)
    return PlainTerritories(), design_of, today


def run_plain_pymoo(problem, seconds, seed=0):
    """pymoo NSGA-II (the documented integer recipe), today's design in the first generation."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.population import Population
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize

    plain, design_of, today = plain_pymoo_problem(problem)
    rng = np.random.default_rng(seed)
    initial = IntegerRandomSampling().do(plain, 100, random_state=rng).get("X")
    initial[0] = today
    algorithm = NSGA2(
        pop_size=100,
        sampling=Population.new("X", initial),
        crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
        mutation=PM(eta=20, vtype=float, repair=RoundingRepair()),
        eliminate_duplicates=True,
    )
    started = time.perf_counter()
    result = minimize(plain, algorithm, ("time", seconds), seed=seed, verbose=False)
    took = time.perf_counter() - started
    designs = [design_of(x) for x in result.pop.get("X")]
    return designs, took, int(result.algorithm.n_iter), int(result.algorithm.evaluator.n_eval)


def feasible_hypervolume(problem, designs, reference):
    """Hypervolume of the feasible non-dominated designs, each objective over its reference."""
    evaluations = [evaluate(problem, d) for d in designs]
    values = np.array([[e.objectives[o] for o in OBJECTIVES] for e in evaluations])
    feasible = np.array([e.feasible for e in evaluations])
    front = values[feasible][non_dominated(values[feasible])] if feasible.any() else values[:0]
    return hypervolume(front / reference, np.ones(len(OBJECTIVES))), int(front.shape[0])


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
