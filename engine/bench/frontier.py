"""Frontier cases on `northeast`: wall time and hypervolume beside plain pymoo (DESIGN §4).

Plain pymoo is NSGA-II with the objectives computed in Python, one design at a time
(engine/benchmarks/baselines.py). It runs once, for up to `REACH_CAP` times terrasim's wall
time: its population at terrasim's time gives the equal-time hypervolume, and the first
generation whose front reaches terrasim's hypervolume gives its time to the same quality.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from engine.bench.case import BenchSettings, Row, Target, describe, make_row, preset_problem
from engine.bench.timing import load_average
from engine.benchmarks.baselines import PLAIN_OBJECTIVES, feasible_hypervolume, run_plain_pymoo
from engine.frontier import FrontierSettings, frontier, hypervolume, non_dominated
from engine.optimize import SolverSettings
from engine.rules import Rules

CASES = ("frontier_time", "frontier_hypervolume")
# A frontier of a few seconds: the quick size, and the warm-up that compiles the kernels.
SMALL = FrontierSettings(
    objectives=PLAIN_OBJECTIVES,
    budget_shares=(0.0, 0.05, 0.2, 1.0),
    point_ils_rounds=30,
    population=20,
    generations=10,
    polish=2,
)
SIZES = {
    "quick": (200, 6, SMALL),
    "full": (None, None, FrontierSettings(objectives=PLAIN_OBJECTIVES)),
}
REACH_CAP = {"quick": 2.0, "full": 3.0}
_TARGET_SECONDS = 20.0


def run(settings: BenchSettings, cases: set[str]) -> Iterator[Row]:
    """Rows of the selected frontier cases (both come from the same two runs)."""
    n_accounts, n_reps, frontier_settings = SIZES[settings.size]
    problem = preset_problem(settings, "northeast", Rules(), n_accounts, n_reps)
    settings.say("frontier: compiling on a small frontier")
    frontier(problem, SolverSettings(), SMALL)
    settings.say("frontier: terrasim, default work budget")
    result = frontier(problem, SolverSettings(), frontier_settings)
    seconds = result.seconds
    reference = np.array([result.reference_point[o] for o in PLAIN_OBJECTIVES])
    ours, ours_front = feasible_hypervolume(
        problem, [d.assignment for d in result.designs], reference
    )
    cap = REACH_CAP[settings.size] * seconds
    settings.say(f"frontier: plain pymoo, up to {cap:.1f} s")
    pymoo = _PymooTrace(seconds, ours, reference)
    _, took, generations, evaluated = run_plain_pymoo(problem, cap, on_generation=pymoo.observe)
    equal_time, equal_front = feasible_hypervolume(problem, pymoo.at_equal_time, reference)
    size = describe(problem, "northeast")
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in result.phase_seconds.items())
    if "frontier_time" in cases:
        reached = pymoo.reached is not None
        notes = (
            "vs plain pymoo NSGA-II (objectives in Python) until its front reaches terrasim's "
            "hypervolume: "
            + (
                f"reached after {pymoo.reached:.1f} s"
                if reached
                else f"not reached in {took:.1f} s ({generations:,} generations), a lower bound"
            )
            + f"; terrasim phases {phases}; load {load_average()}"
        )
        yield make_row(
            settings,
            "frontier_time",
            size,
            seconds,
            pymoo.reached if reached else took,
            "s",
            higher_is_better=False,
            notes=notes,
            targets=(Target("<=", _TARGET_SECONDS),),
        )
    if "frontier_hypervolume" in cases:
        notes = (
            f"vs plain pymoo NSGA-II given the same {seconds:.1f} s ({pymoo.equal_generations:,} "
            f"generations, {pymoo.equal_evaluated:,} designs evaluated); fronts of "
            f"{ours_front} and {equal_front} feasible designs; objectives "
            f"{', '.join(PLAIN_OBJECTIVES)}, reference today × 1.1 (disruption 1); "
            f"load {load_average()}"
        )
        yield make_row(
            settings,
            "frontier_hypervolume",
            size,
            ours,
            equal_time,
            "hypervolume",
            higher_is_better=True,
            notes=notes,
            targets=(Target(">", 1.0, on="ratio"),),
        )


class _PymooTrace:
    """Plain pymoo's generations as they pass.

    Keeps the population at terrasim's wall time, and the time at which the feasible front
    (by pymoo's own objective values) first reaches terrasim's hypervolume.
    """

    def __init__(self, seconds: float, target: float, reference: np.ndarray) -> None:
        self.seconds, self.target, self.reference = seconds, target, reference
        self.at_equal_time: list[np.ndarray] = []
        self.equal_generations = self.equal_evaluated = 0
        self.reached: float | None = None

    def observe(self, elapsed: float, algorithm, design_of) -> bool:
        """Record this generation; True once both measures are known (stops the run)."""
        population = algorithm.pop
        if not self.at_equal_time and elapsed >= self.seconds:
            self.at_equal_time = [design_of(x) for x in population.get("X")]
            self.equal_generations = int(algorithm.n_iter)
            self.equal_evaluated = int(algorithm.evaluator.n_eval)
        if self.reached is None:
            values = population.get("F")[population.get("CV")[:, 0] <= 0.0]
            front = values[non_dominated(values)] / self.reference
            if hypervolume(front, np.ones(front.shape[1])) >= self.target:
                self.reached = elapsed
        return bool(self.at_equal_time) and self.reached is not None
