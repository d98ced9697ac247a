"""The frontier of DESIGN §4: non-dominated designs over 2–4 objectives, with hypervolume.

An ε-constraint sweep over the disruption budget (local search per point), then NSGA-II seeded
with the sweep and evaluated in Numba populations, then local-search polish of a few points.

Every phase is bounded by work (ILS rounds per local search, generations × population), so a
seed gives the same frontier on any machine and any number of workers. The time limits are
safety caps only; when one stops a phase, `frontier` warns on stderr and records it
(`FrontierResult.stopped_on_clock`, `terrasim.stopped_on_clock` in frontier.arrow).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pyarrow as pa

from engine.candidates import Candidates, candidate_lists
from engine.designs import NamedDesign, designs_table
from engine.errors import TerrasimError
from engine.evaluate import FEASIBILITY_TOLERANCE, evaluate
from engine.infeasibility import check_forced_moves, forced_accounts, no_feasible_design_error
from engine.optimize import Design, SolverSettings, optimize
from engine.problem import Problem, rule_arrays
from kernels.arrays import (
    N_OBJECTIVES,
    N_RULES,
    OBJECTIVE_NAMES,
    POTENTIAL,
    RULE_CAPACITY,
    RULE_MAX_MOVED_POTENTIAL,
)
from kernels.objectives import N_SUMS, SUM_MOVED
from kernels.population import evaluate_population

ALGORITHMS = ("nsga2", "nsga3")
# Default disruption budgets of the ε sweep, as shares of the accounts (0 = today's design).
DEFAULT_BUDGET_SHARES = (0.0, 0.01, 0.02, 0.05, 0.10, 0.20, 0.35, 0.50, 1.0)
# The reference point is today's value times this, except disruption (a share: at most 1).
REFERENCE_MARGIN = 1.1
# A polished design minimises its best objective with this many times the others' weight.
_POLISH_TILT = 4.0
# A sweep named after an objective weighs it this many times the others.
_SWEEP_TILT = 5.0
# When the frontier's time limit bites, the evolutionary search still gets this share of it.
_NSGA_MIN_SHARE = 0.1


@dataclass(frozen=True)
class FrontierSettings:
    """How the frontier is searched (the `frontier` config group; conf/frontier/default.yaml).

    Attributes
    ----------
    objectives : tuple of str
        2–4 objective names of DESIGN §3, all minimised.
    sweeps : tuple of str
        One ε sweep per entry, each minimising other weights of the frontier's objectives but
        disruption (see `sweep_weights`): "objective" (the problem's weights), "equal", or an
        objective's name (tilted towards it).
    budget_shares : tuple of float
        ε-sweep disruption budgets as shares of the accounts (0..1).
    budget_accounts : tuple of int
        Further ε-sweep budgets in accounts.
    point_ils_rounds : int
        Iterated-local-search rounds of each ε point and each polish run (the solver's
        `ils_rounds` when lower): the work that bounds them.
    point_time_limit : float
        Safety cap in seconds on each ε point and each polish run (the solver's `time_limit`
        when lower; compilation not counted), well above what `point_ils_rounds` takes.
    time_limit : float
        Safety cap in seconds on the evolutionary search and the polish runs together, well
        above what their work takes; counted from the end of the first generation, so Ray
        start-up, compilation and the ε points (capped one by one) are outside it. Should it
        bite, the evolutionary search stops when the time left is what the polish runs would
        take (their number × a typical ε run's time), but runs at least a tenth of
        `time_limit`, and no polish run starts after it. A cap that stops a phase makes the
        result depend on the machine's speed: `frontier` warns and records it.
    algorithm : str
        nsga2 or nsga3 (NSGA-III with Riesz s-energy reference directions; 3–4 objectives).
    population : int
        Individuals per generation.
    generations : int
        Generations of the evolutionary search (the first is the initial population): with
        `population`, the work that bounds it.
    candidates : int
        Reps per account the genome chooses among (nearest allowed, as the local search).
    mutation_genes : float
        Mean number of accounts a mutation reassigns.
    revert_share : float
        Share of mutated accounts sent back to today's rep (the others to a random candidate).
    seed : int
        Seeds the evolutionary search and the perturbed initial population.
    polish : int
        Non-dominated evolutionary designs improved by the local search at the end.
    """

    objectives: tuple[str, ...] = ("potential_imbalance", "travel", "disruption")
    sweeps: tuple[str, ...] = ("objective", "equal")
    budget_shares: tuple[float, ...] = DEFAULT_BUDGET_SHARES
    budget_accounts: tuple[int, ...] = ()
    point_ils_rounds: int = 300
    point_time_limit: float = 10.0
    time_limit: float = 120.0
    algorithm: str = "nsga2"
    population: int = 100
    generations: int = 80
    candidates: int = 8
    mutation_genes: float = 4.0
    revert_share: float = 0.5
    seed: int = 0
    polish: int = 8


@dataclass(frozen=True)
class FrontierResult:
    """A frontier and how it was found.

    Attributes
    ----------
    designs : list of NamedDesign
        The non-dominated designs: feasible ones first, each group sorted by disruption
        (then by the other objectives). `extra["source"]` is epsilon, nsga or polish.
    recommended : NamedDesign
        The knee of the feasible frontier (see `knee`).
    objectives : tuple of str
    reference_point : dict of str to float
        See `reference_point`.
    hypervolume : float
        Hypervolume of the feasible designs with every objective divided by its reference
        value: the share of the box [0, reference] that the frontier dominates (0..1).
    n_evaluated : int
        Designs evaluated on the way (ε points, every individual, polish runs).
    seconds : float
        Wall time of `frontier`.
    phase_seconds : dict of str to float
        Wall time of each phase: epsilon, nsga, polish.
    stopped_on_clock : dict of str to str
        The phases (epsilon, nsga, polish) a time limit stopped before their work was done,
        each with what stopped; empty when the work budgets alone ended every phase, so that
        the frontier does not depend on the machine's speed.
    """

    designs: list[NamedDesign]
    recommended: NamedDesign
    objectives: tuple[str, ...]
    reference_point: dict[str, float]
    hypervolume: float
    n_evaluated: int
    seconds: float
    phase_seconds: dict[str, float]
    stopped_on_clock: dict[str, str] = dataclasses.field(default_factory=dict)


# -- settings ---------------------------------------------------------------------------------


def frontier_settings_from_config(cfg: Any) -> FrontierSettings:
    """Build FrontierSettings from the composed `frontier` config (a DictConfig or a dict).

    Raises
    ------
    TerrasimError
        An unknown key or a value out of range.
    """
    values = dict(cfg.items()) if cfg is not None else {}
    known = {f.name for f in fields(FrontierSettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TerrasimError(f"frontier: unknown setting(s) {unknown}; known: {sorted(known)}")
    kinds: dict[str, Callable[[Any], Any]] = {
        "objectives": lambda v: tuple(str(x) for x in v),
        "sweeps": lambda v: tuple(str(x) for x in v),
        "budget_shares": lambda v: tuple(float(x) for x in v),
        "budget_accounts": lambda v: tuple(int(x) for x in v),
        "point_ils_rounds": int,
        "point_time_limit": float,
        "time_limit": float,
        "algorithm": str,
        "population": int,
        "generations": int,
        "candidates": int,
        "mutation_genes": float,
        "revert_share": float,
        "seed": int,
        "polish": int,
    }
    parsed: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            raise TerrasimError(f"frontier.{key} may not be null")
        try:
            parsed[key] = kinds[key](value)
        except (TypeError, ValueError) as exc:
            raise TerrasimError(f"frontier.{key}: cannot read {value!r}") from exc
    settings = FrontierSettings(**parsed)
    check_frontier_settings(settings)
    return settings


def check_frontier_settings(settings: FrontierSettings) -> None:
    """Raise TerrasimError for settings no run could use."""
    s = settings
    checks = [
        (2 <= len(s.objectives) <= 4, "objectives: give 2 to 4"),
        (set(s.objectives) <= set(OBJECTIVE_NAMES), f"objectives: known are {OBJECTIVE_NAMES}"),
        (len(set(s.objectives)) == len(s.objectives), "objectives: each at most once"),
        (
            set(s.sweeps) <= {"objective", "equal", *s.objectives} - {"disruption"},
            "sweeps: each is objective, equal, or one of the objectives but disruption",
        ),
        (len(set(s.sweeps)) == len(s.sweeps), "sweeps: each at most once"),
        (all(0 <= b <= 1 for b in s.budget_shares), "budget_shares must be within 0..1"),
        (all(b >= 0 for b in s.budget_accounts), "budget_accounts must be >= 0"),
        (s.point_ils_rounds >= 0, "point_ils_rounds must be >= 0"),
        (s.point_time_limit > 0, "point_time_limit must be > 0"),
        (s.algorithm in ALGORITHMS, f"algorithm must be one of {list(ALGORITHMS)}"),
        (s.algorithm != "nsga3" or len(s.objectives) >= 3, "algorithm: nsga3 needs 3+ objectives"),
        (s.population >= 4, "population must be >= 4"),
        (s.generations >= 0, "generations must be >= 0"),
        (s.time_limit > 0, "time_limit must be > 0"),
        (s.candidates >= 1, "candidates must be >= 1"),
        (s.mutation_genes > 0, "mutation_genes must be > 0"),
        (0 <= s.revert_share <= 1, "revert_share must be within 0..1"),
        (s.polish >= 0, "polish must be >= 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise TerrasimError(f"frontier.{message}")


# -- problems with a budget or other weights --------------------------------------------------


def with_budget(problem: Problem, max_moved: int | None) -> Problem:
    """The same problem with "at most `max_moved` accounts moved" as a hard rule (None: off)."""
    rules = dataclasses.replace(problem.objective.rules, max_moved=max_moved)
    return _with_objective(problem, dataclasses.replace(problem.objective, rules=rules))


def with_weights(problem: Problem, weights: dict[str, float]) -> Problem:
    """The same problem with other objective weights (the local search minimises them)."""
    return _with_objective(problem, dataclasses.replace(problem.objective, weights=dict(weights)))


def _with_objective(problem: Problem, objective: Any) -> Problem:
    total_potential = float(problem.instance.accounts.potential.sum())
    return dataclasses.replace(
        problem,
        objective=objective,
        rules=rule_arrays(objective, problem.measure_names, total_potential),
    )


def default_budgets(n_accounts: int, shares: Iterable[float] = DEFAULT_BUDGET_SHARES) -> list[int]:
    """Budgets in accounts from shares of `n_accounts` (rounded, ascending, without repeats)."""
    return sorted({int(round(share * n_accounts)) for share in shares})


# -- ε-constraint sweep -----------------------------------------------------------------------


def epsilon_sweep(
    problem: Problem,
    settings: SolverSettings,
    budgets: Sequence[int] | None = None,
    map_fn: Callable[[Callable, Iterable], Iterable] = map,
    label: str = "eps",
    extra: dict[str, object] | None = None,
) -> list[NamedDesign]:
    """One optimized design per disruption budget: the ε-constraint method of DESIGN §4.

    Point K minimises the problem's weighted objective subject to "at most K accounts moved"
    (a hard rule) as well as the problem's own rules. The points run independently through
    `map_fn` (e.g. as Ray tasks), each from the solver's construction. Then they are chained in
    order of budget: when the previous point's design is feasible and better (a lower weighted
    score, or this point is infeasible), this point is optimized again from it, and keeps it if
    the search finds nothing better. So a feasible point is never worse than a feasible point
    with a smaller budget.

    Parameters
    ----------
    problem : Problem
        Its weights are what each point minimises; its rules hold at every point.
    settings : SolverSettings
        Used as given, except that an infeasible point is returned, not raised.
    budgets : sequence of int, optional
        Accounts moved at most, on top of those the team forces to move
        (engine.infeasibility.forced_moves); `default_budgets(problem.n_accounts)` when omitted.
    map_fn : callable
        Called as ``map_fn(function, budgets)``; returns the designs in the same order.
    label : str
        Labels are ``<label>_moved_<K>``.
    extra : dict, optional
        Added to each design's extra.

    Returns
    -------
    list of NamedDesign
        In ascending budget, evaluated under `problem` (without the budget); extra: source
        "epsilon", budget_accounts K, score (the weighted objective), and `extra`.
    """
    return _epsilon_sweep(problem, settings, budgets, map_fn, label, extra)[0]


def _epsilon_sweep(
    problem: Problem,
    settings: SolverSettings,
    budgets: Sequence[int] | None,
    map_fn: Callable[[Callable, Iterable], Iterable],
    label: str,
    extra: dict[str, object] | None,
) -> tuple[list[NamedDesign], list[Design]]:
    """`epsilon_sweep`, and every optimizer run it made (to see what stopped them)."""
    if budgets is None:
        budgets = default_budgets(problem.n_accounts)
    # The moves the team forces (a leaving rep's book) are in every design: each budget is
    # counted on top of them, so the smallest point is "only what must move".
    forced = int(forced_accounts(problem).sum())
    budgets = sorted({int(k) + forced for k in budgets})
    settings = dataclasses.replace(settings, raise_infeasible=False)
    # map_fn returns the points in the order of `budgets`, whichever worker finished first.
    solved = list(map_fn(functools.partial(_solve_point, problem, settings), budgets))
    runs = list(solved)
    chained: list[Design] = []
    for k, design in zip(budgets, solved, strict=True):
        if chained and _is_better(chained[-1], design):
            previous = chained[-1]
            again = optimize(with_budget(problem, k), settings, start=previous.assignment)
            runs.append(again)
            design = again if _is_better(again, previous, or_equal=True) else previous
        chained.append(design)
    named = [
        NamedDesign(
            f"{label}_moved_{k}",
            d.assignment,
            evaluate(problem, d.assignment),
            {"source": "epsilon", "budget_accounts": k, "score": d.score, **(extra or {})},
        )
        for k, d in zip(budgets, chained, strict=True)
    ]
    return named, runs


def _solve_point(problem: Problem, settings: SolverSettings, max_moved: int) -> Design:
    return optimize(with_budget(problem, max_moved), settings)


def _is_better(a: Design, b: Design, or_equal: bool = False) -> bool:
    """A feasible design beats an infeasible one; two feasible ones compare by score."""
    if not a.feasible:
        return False
    if not b.feasible:
        return True
    return a.score <= b.score if or_equal else a.score < b.score


# -- dominance, hypervolume, reference point, knee --------------------------------------------


def non_dominated(points: np.ndarray, feasible: np.ndarray | None = None) -> np.ndarray:
    """Which points no other point dominates (all objectives minimised).

    b dominates a when b is no worse in every objective and better in one. With `feasible`,
    an infeasible point never dominates a feasible one, and a feasible point also removes an
    infeasible one with identical values. Of identical points only the first is kept.

    Parameters
    ----------
    points : float64[n, m]
    feasible : bool[n], optional
        Default: all feasible.

    Returns
    -------
    bool[n]
    """
    points = np.asarray(points, dtype=np.float64)
    n = points.shape[0]
    ok = np.ones(n, dtype=bool) if feasible is None else np.asarray(feasible, dtype=bool)
    keep = np.ones(n, dtype=bool)
    for a in range(n):
        no_worse = (points <= points[a]).all(axis=1)
        better = (points < points[a]).any(axis=1)
        equal = no_worse & ~better
        may_dominate = ok if ok[a] else np.ones(n, dtype=bool)
        first = np.arange(n) < a
        removes = may_dominate & ((no_worse & better) | (equal & ok & ~ok[a]))
        removes |= equal & first & (ok == ok[a])
        removes[a] = False
        keep[a] = not removes.any()
    return keep


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume dominated by `points` up to `reference` (all objectives minimised).

    Points not strictly better than the reference in every objective add nothing.

    Parameters
    ----------
    points : float64[n, m]
    reference : float64[m]

    Returns
    -------
    float
    """
    from pymoo.indicators.hv import HV

    points = np.asarray(points, dtype=np.float64).reshape(-1, np.size(reference))
    reference = np.asarray(reference, dtype=np.float64)
    inside = points[(points < reference).all(axis=1)]
    if inside.shape[0] == 0:
        return 0.0
    return float(HV(ref_point=reference)(inside))


def reference_point(problem: Problem, objectives: Sequence[str]) -> np.ndarray:
    """The hypervolume reference point: today's design, a little worse.

    Today's value (the current assignment, unassigned accounts as they are) times 1.1 for
    every objective but disruption, whose reference is 1.0 (all potential moved; a share
    cannot exceed it). An objective whose value today is 0 gets 1.0 (1 km for travel), so
    the box is never empty.

    Parameters
    ----------
    problem : Problem
    objectives : sequence of str

    Returns
    -------
    float64[m]
    """
    today = evaluate(problem, problem.accounts.current_rep).objectives
    out = np.empty(len(objectives))
    for o, name in enumerate(objectives):
        value = REFERENCE_MARGIN * today[name]
        out[o] = 1.0 if name == "disruption" or value <= 0.0 else value
    return out


def knee(points: np.ndarray) -> int:
    """Index of the knee: the point farthest below the hyperplane through the extremes.

    Objectives are normalised to 0..1 between the best and worst value among `points`; the
    extremes are the points best in each objective (the plane through them is a line for
    two objectives); the knee maximises the distance from that plane towards the ideal point.
    When the extremes do not span a plane, the plane sum(f) = 1 is used. Ties go to the
    first point.

    Parameters
    ----------
    points : float64[n, m]

    Returns
    -------
    int
    """
    points = np.asarray(points, dtype=np.float64)
    if points.shape[0] <= 2:
        return 0
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    scaled = (points - low) / span
    extremes = scaled[np.argmin(scaled, axis=0)]
    try:
        normal = np.linalg.solve(extremes, np.ones(points.shape[1]))
        if not np.isfinite(normal).all() or (normal <= 0).any():
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        normal = np.ones(points.shape[1])
    distance = (1.0 - scaled @ normal) / np.linalg.norm(normal)
    return int(np.argmax(distance))


# -- the evolutionary search ------------------------------------------------------------------


class _Encoding:
    """A genome: for each account with a choice, an index into its candidate list.

    Genes follow the accounts along a Hilbert curve over their locations, so the segment a
    two-point crossover takes from a parent is a compact area of the map.
    """

    def __init__(self, problem: Problem, candidates: Candidates) -> None:
        self.rep = candidates.rep
        count = candidates.count
        free = np.flatnonzero(count > 1)
        acc = problem.instance.accounts
        order = np.argsort(_hilbert_index(acc.lat[free], acc.lon[free]), kind="stable")
        self.free = free[order]
        self.upper = count[self.free] - 1
        self.fixed = self.rep[:, 0].copy()  # accounts with one candidate (or none: -1)
        current = problem.accounts.current_rep[self.free]
        hit = self.rep[self.free] == current[:, None]
        self.today = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)

    @property
    def n_genes(self) -> int:
        return int(self.free.shape[0])

    def decode(self, genomes: np.ndarray) -> np.ndarray:
        """int64[pop, n_accounts] designs from int[pop, n_genes] genomes."""
        genomes = np.asarray(genomes).astype(np.int64)
        designs = np.repeat(self.fixed[None, :], genomes.shape[0], axis=0)
        designs[:, self.free] = self.rep[self.free[None, :], genomes]
        return designs

    def encode(self, design: np.ndarray) -> np.ndarray:
        """The genome of a design; an account on a rep outside its list takes its nearest."""
        reps = self.rep[self.free]
        hit = reps == np.asarray(design)[self.free, None]
        return np.where(hit.any(axis=1), hit.argmax(axis=1), 0).astype(np.int64)


def _hilbert_index(lat: np.ndarray, lon: np.ndarray, bits: int = 16) -> np.ndarray:
    """Position of each point along a Hilbert curve over the bounding box of the points."""
    side = 1 << bits

    def grid(v: np.ndarray) -> np.ndarray:
        low, high = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
        scaled = (v - low) / (high - low) if high > low else np.zeros_like(v)
        return np.minimum((scaled * side).astype(np.int64), side - 1)

    x, y = grid(np.asarray(lon, dtype=np.float64)), grid(np.asarray(lat, dtype=np.float64))
    d = np.zeros_like(x)
    s = side >> 1
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx) ^ ry)
        # Rotate the quadrant so the curve stays continuous.
        flip = ~ry & rx
        x = np.where(flip, s - 1 - x, x)
        y = np.where(flip, s - 1 - y, y)
        swap = ~ry
        x, y = np.where(swap, y, x), np.where(swap, x, y)
        s >>= 1
    return d


class _PopulationEvaluator:
    """Objectives and rule violations of many designs, by kernels/population.py."""

    def __init__(self, problem: Problem, objectives: Sequence[str]) -> None:
        self.problem = problem
        self.columns = np.array([OBJECTIVE_NAMES.index(o) for o in objectives], dtype=np.int64)
        self.rules = np.flatnonzero(problem.rules.on)
        # Violations in the units of the optimizer's penalties, so no rule swamps the others:
        # hours over capacity per average capacity, potential moved per average account.
        unit = np.ones(N_RULES)
        capacity = problem.reps.capacity[problem.reps.target_share > 0]
        if capacity.size and capacity.mean() > 0:
            unit[RULE_CAPACITY] = 1.0 / capacity.mean()
        total = float(problem.accounts.measures[POTENTIAL].sum())
        if total > 0:
            unit[RULE_MAX_MOVED_POTENTIAL] = problem.n_accounts / total
        self.unit = unit[self.rules]

    def __call__(self, designs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Objectives (all five), violations (all rules) and accounts moved of each design."""
        p = self.problem
        n = designs.shape[0]
        n_measures = p.accounts.measures.shape[0]
        totals = np.empty((n, n_measures, p.n_reps))
        grand = np.empty((n, n_measures))
        sums = np.empty((n, N_SUMS))
        violations = np.empty((n, N_RULES))
        objectives = np.empty((n, N_OBJECTIVES))
        evaluate_population(
            np.ascontiguousarray(designs, dtype=np.int64),
            p.accounts,
            p.reps,
            p.distance,
            p.rules,
            totals,
            grand,
            sums,
            violations,
            objectives,
        )
        return objectives, violations, sums[:, SUM_MOVED]

    def constraints(self, violations: np.ndarray) -> np.ndarray:
        """Inequality constraints for pymoo, G <= 0, one column per rule that is on."""
        return (violations[:, self.rules] - FEASIBILITY_TOLERANCE) * self.unit


def _pymoo_problem(encoding: _Encoding, evaluator: _PopulationEvaluator):
    """A pymoo Problem evaluating whole populations at once (elementwise=False)."""
    from pymoo.core.problem import Problem as PymooProblem

    class TerritoryProblem(PymooProblem):
        def __init__(self) -> None:
            super().__init__(
                n_var=encoding.n_genes,
                n_obj=len(evaluator.columns),
                n_ieq_constr=max(len(evaluator.rules), 1),
                xl=np.zeros(encoding.n_genes, dtype=np.int64),
                xu=encoding.upper,
                vtype=int,
                elementwise=False,
            )

        def _evaluate(self, x, out, *args, **kwargs):
            objectives, violations, _ = evaluator(encoding.decode(x))
            out["F"] = objectives[:, evaluator.columns]
            g = evaluator.constraints(violations)
            out["G"] = g if g.shape[1] else np.zeros((x.shape[0], 1)) - 1.0

    return TerritoryProblem()


def _mutation(encoding: _Encoding, mean_genes: float, revert_share: float):
    """Reassign a few accounts: to today's rep (`revert_share`) or to another candidate."""
    from pymoo.core.mutation import Mutation

    class Reassign(Mutation):
        def _do(self, problem, X, *args, random_state=None, **kwargs):
            X = np.asarray(X).astype(np.int64, copy=True)
            return _perturb(X, encoding, mean_genes, revert_share, random_state)

    return Reassign()


def _perturb(
    genomes: np.ndarray,
    encoding: _Encoding,
    mean_genes: float,
    revert_share: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Change about `mean_genes` genes of each genome (at least one), in place."""
    n_genomes, n_genes = genomes.shape
    if n_genes == 0:
        return genomes
    rate = min(1.0, mean_genes / n_genes)
    changed = rng.random((n_genomes, n_genes)) < rate
    none = ~changed.any(axis=1)
    changed[np.flatnonzero(none), rng.integers(0, n_genes, int(none.sum()))] = True
    rows, genes = np.nonzero(changed)
    upper = encoding.upper[genes]
    # Another candidate than the present one: a draw over the other `upper` indices.
    draw = rng.integers(0, upper) if upper.size else upper
    other = draw + (draw >= genomes[rows, genes])
    revert = (rng.random(rows.shape[0]) < revert_share) & (encoding.today[genes] >= 0)
    genomes[rows, genes] = np.where(revert, encoding.today[genes], other)
    return genomes


def nsga_frontier(
    problem: Problem,
    objectives: Sequence[str],
    seeds: Sequence[np.ndarray],
    settings: FrontierSettings,
    time_limit: float | None = None,
) -> list[NamedDesign]:
    """Non-dominated designs of an evolutionary search (pymoo NSGA-II or NSGA-III).

    A genome holds, for each account with a choice, an index into its candidate list (its
    `settings.candidates` nearest allowed reps, engine/candidates.py), so the unary rules always
    hold; the other hard rules are inequality constraints (pymoo's G), so a feasible design
    beats an infeasible one. Whole generations are evaluated by kernels/population.py. The
    first generation holds the seed designs (a rep outside an account's list becomes its
    nearest allowed rep), then perturbed copies of them. Crossover is two-point along a Hilbert
    curve over the accounts (a child takes an area of the map from each parent); mutation
    reassigns a few accounts, to today's rep or to another candidate.

    Parameters
    ----------
    problem : Problem
    objectives : sequence of str
        2–4 objective names, all minimised.
    seeds : sequence of int64[n_accounts]
        Designs for the first generation (at least one; at most `settings.population` used).
    settings : FrontierSettings
        Population, generations, seed, operators.
    time_limit : float, optional
        Safety cap in seconds (default `settings.time_limit`), counted from the end of the
        first generation, which always runs.

    Returns
    -------
    list of NamedDesign
        The final population's non-dominated designs (feasible ones when there are any),
        labelled ``nsga_<i>``; extra: source "nsga", generations run, individuals evaluated.

    Notes
    -----
    For a seed, the result is the same whenever `settings.generations`, not the time limit,
    stops the search.
    """
    return _nsga(problem, objectives, seeds, settings, time_limit)[0]


def _nsga(
    problem: Problem,
    objectives: Sequence[str],
    seeds: Sequence[np.ndarray],
    settings: FrontierSettings,
    time_limit: float | None,
) -> tuple[list[NamedDesign], bool, float]:
    """`nsga_frontier`; whether the time limit stopped it, and when its clock started."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.algorithms.moo.nsga3 import NSGA3
    from pymoo.operators.crossover.pntx import TwoPointCrossover
    from pymoo.util.ref_dirs import get_reference_directions

    if not seeds:
        raise ValueError("nsga_frontier needs at least one seed design")
    candidates = candidate_lists(problem, settings.candidates)
    encoding = _Encoding(problem, candidates)
    evaluator = _PopulationEvaluator(problem, objectives)
    if encoding.n_genes == 0:  # nothing to choose: the one design there is
        design = encoding.decode(np.zeros((1, 0), dtype=np.int64))[0]
        extra = {"source": "nsga", "generations": 0, "evaluated": 1}
        named = [NamedDesign("nsga_0", design, evaluate(problem, design), extra)]
        return named, False, time.perf_counter()

    rng = np.random.default_rng([settings.seed, 1])
    genomes = np.unique(np.stack([encoding.encode(s) for s in seeds]), axis=0)
    genomes = genomes[: settings.population]
    n_more = settings.population - genomes.shape[0]
    parents = genomes[np.arange(n_more) % genomes.shape[0]].copy()
    # Perturbations of a few to a few dozen accounts: from near-copies to new territories.
    spread = float(max(settings.mutation_genes, 0.05 * encoding.n_genes))
    for row in range(n_more):
        strength = settings.mutation_genes + (spread - settings.mutation_genes) * row / max(
            n_more, 1
        )
        _perturb(parents[row : row + 1], encoding, strength, settings.revert_share, rng)
    initial = np.vstack([genomes, parents])

    common = {
        "pop_size": settings.population,
        "sampling": initial,
        "crossover": TwoPointCrossover(),
        "mutation": _mutation(encoding, settings.mutation_genes, settings.revert_share),
        "eliminate_duplicates": True,
    }
    if settings.algorithm == "nsga3":
        directions = get_reference_directions(
            "energy", len(objectives), settings.population, seed=settings.seed
        )
        algorithm = NSGA3(ref_dirs=directions, **common)
    else:
        algorithm = NSGA2(**common)
    pymoo_problem = _pymoo_problem(encoding, evaluator)
    algorithm.setup(
        pymoo_problem, termination=("n_gen", max(settings.generations, 1)), seed=settings.seed
    )
    # The first call evaluates the initial population (compiling the population kernel when
    # its cache is stale); the clock starts after it.
    algorithm.next()
    started = time.perf_counter()
    deadline = started + (settings.time_limit if time_limit is None else time_limit)
    while algorithm.has_next() and time.perf_counter() < deadline:
        algorithm.next()
    stopped_on_clock = bool(algorithm.has_next())
    n_evaluated = int(algorithm.evaluator.n_eval)

    population = algorithm.pop
    designs = encoding.decode(population.get("X"))
    values = population.get("F")
    feasible = population.get("CV")[:, 0] <= 0.0
    keep = non_dominated(values, feasible)
    if feasible.any():
        keep &= feasible
    # pymoo counts the generation it would make next; the initial population is the first.
    generations = int(algorithm.n_iter or 1) - 1
    extra = {"source": "nsga", "generations": generations, "evaluated": n_evaluated}
    named = [
        NamedDesign(f"nsga_{i}", designs[row], evaluate(problem, designs[row]), dict(extra))
        for i, row in enumerate(np.flatnonzero(keep))
    ]
    return named, stopped_on_clock, started


# -- polish -----------------------------------------------------------------------------------


def polish(
    problem: Problem,
    designs: Sequence[NamedDesign],
    objectives: Sequence[str],
    settings: SolverSettings,
    count: int,
    deadline: float | None = None,
) -> list[NamedDesign]:
    """Improve a few designs by the local search, each where it is strongest.

    Picks, among the feasible `designs`, the best in each objective, then the knee, then each
    time the design farthest from those picked (objectives normalised), up to `count`. Each
    is optimized from itself (`optimize(start=...)`) under a disruption budget of its own
    accounts moved, minimising the objectives (weight 1 each, as the optimizer normalises
    them) with the one it is best at, relative to the others, weighted `_POLISH_TILT` times.
    No run starts after `deadline` (a `time.perf_counter()` value), and none runs past it.

    Returns
    -------
    list of NamedDesign
        Labelled ``polish_<label>``, extra source "polish".
    """
    return _polish(problem, designs, objectives, settings, count, deadline)[0]


def _polish(
    problem: Problem,
    designs: Sequence[NamedDesign],
    objectives: Sequence[str],
    settings: SolverSettings,
    count: int,
    deadline: float | None,
) -> tuple[list[NamedDesign], int, int]:
    """`polish`; also how many runs a time limit stopped, and how many `deadline` skipped."""
    pool = [d for d in designs if d.evaluation.feasible] or list(designs)
    if not pool or count <= 0:
        return [], 0, 0
    values = _values(pool, objectives)
    low, high = values.min(axis=0), values.max(axis=0)
    scaled = (values - low) / np.where(high > low, high - low, 1.0)
    picked = list(dict.fromkeys([*np.argmin(values, axis=0).tolist(), knee(values)]))[:count]
    while len(picked) < min(count, len(pool)):
        gap = np.linalg.norm(scaled[:, None, :] - scaled[None, picked, :], axis=2).min(axis=1)
        picked.append(int(np.argmax(gap)))
    out = []
    stopped = 0
    for n, i in enumerate(picked):
        limit = settings.time_limit
        if deadline is not None:
            limit = min(limit, deadline - time.perf_counter())
            if limit <= 0:
                return out, stopped, len(picked) - n
        settings_i = dataclasses.replace(settings, time_limit=limit, raise_infeasible=False)
        best = int(np.argmin(scaled[i]))
        weights = {name: 1.0 for name in objectives}
        weights[objectives[best]] = _POLISH_TILT
        moved = int(pool[i].evaluation.metrics["accounts_moved"])
        budgeted = with_budget(with_weights(problem, weights), moved)
        design = optimize(budgeted, settings_i, start=pool[i].assignment)
        stopped += design.stopped == "time_limit"
        out.append(
            NamedDesign(
                f"polish_{pool[i].label}",
                design.assignment,
                evaluate(problem, design.assignment),
                {"source": "polish"},
            )
        )
    return out, stopped, 0


# -- the frontier -----------------------------------------------------------------------------


def frontier(
    problem: Problem,
    solver_settings: SolverSettings,
    frontier_settings: FrontierSettings,
    map_fn: Callable[[Callable, Iterable], Iterable] = map,
    progress: bool = False,
) -> FrontierResult:
    """The non-dominated designs over the chosen objectives (DESIGN §4), with hypervolume.

    1. ε-constraint sweeps over the disruption budget (`epsilon_sweep`, points through
       `map_fn`), one per `sweeps` entry, each minimising a weighting of the frontier's
       objectives other than disruption (`sweep_weights`); disruption is the constraint.
    2. NSGA-II (or III) seeded with the sweep's designs and today's (`nsga_frontier`).
    3. Local-search polish of up to `polish` non-dominated evolutionary designs (`polish`).
    4. The non-dominated set of everything found (`non_dominated`, infeasible designs kept only
       where nothing dominates them), hypervolume of its feasible designs against
       `reference_point`, normalised, and the knee as the recommended design.

    Work bounds every phase: `point_ils_rounds` each local search, `generations` ×
    `population` the evolutionary search. So for a seed the result is the same on any
    machine, whatever `map_fn` runs the points on and in whatever order they finish. The
    time limits are safety caps; a phase one of them stops is named on stderr (one line,
    always printed) and in `FrontierResult.stopped_on_clock`.

    Parameters
    ----------
    problem : Problem
    solver_settings : SolverSettings
        For the ε points and the polish runs (their `ils_rounds` capped at
        `frontier_settings.point_ils_rounds`, their time limit at `point_time_limit`).
    frontier_settings : FrontierSettings
        Objectives, sweeps, budgets, the evolutionary search, polish, the work and the caps
        (see `FrontierSettings`).
    map_fn : callable
        Runs the ε points: ``map_fn(function, budgets)``, results in the order of `budgets`.
    progress : bool
        Print one line per phase to stderr.

    Returns
    -------
    FrontierResult
        Its `recommended` design is always feasible.

    Raises
    ------
    InfeasibleError
        Moves forced by the team exceed the disruption budget, or no frontier design meets
        every hard rule (the closest one's broken rules and accounts named).
    """
    check_frontier_settings(frontier_settings)
    check_forced_moves(problem)
    fs = frontier_settings
    started = time.perf_counter()
    objectives = tuple(fs.objectives)
    point_settings = dataclasses.replace(
        solver_settings,
        time_limit=min(solver_settings.time_limit, fs.point_time_limit),
        ils_rounds=min(solver_settings.ils_rounds, fs.point_ils_rounds),
    )
    clock: dict[str, str] = {}

    def report(phase: str, found: int) -> None:
        if progress:
            print(
                f"[frontier] {time.perf_counter() - started:7.2f}s  {phase:<10} {found} designs",
                file=sys.stderr,
            )

    budgets = sorted(
        set(default_budgets(problem.n_accounts, fs.budget_shares)) | set(fs.budget_accounts)
    )
    swept: list[NamedDesign] = []
    runs: list[Design] = []
    for sweep in fs.sweeps:
        weighted = with_weights(problem, sweep_weights(problem, objectives, sweep))
        label = "eps" if sweep == "objective" else f"eps_{sweep}"
        extra = {"sweep": sweep}
        named, ran = _epsilon_sweep(weighted, point_settings, budgets, map_fn, label, extra)
        swept += named
        runs += ran
    timed_out = sum(r.stopped == "time_limit" for r in runs)
    if timed_out:
        clock["epsilon"] = (
            f"{timed_out} of {len(runs)} local searches stopped at the time limit "
            f"({point_settings.time_limit:g} s) before {point_settings.ils_rounds} ILS rounds"
        )
    t_epsilon = time.perf_counter()
    report("epsilon", len(swept))

    seeds = [d.assignment for d in swept] + [problem.accounts.current_rep]
    # Only when the cap bites: leave the polish runs what a typical ε run took (the median: a
    # worker's first run also compiles the kernels).
    typical_run = float(np.median([r.seconds for r in runs])) if runs else 0.0
    reserve = fs.polish * min(typical_run, point_settings.time_limit)
    nsga_limit = max(fs.time_limit - reserve, _NSGA_MIN_SHARE * fs.time_limit)
    evolved, nsga_clock, clock_started = _nsga(problem, objectives, seeds, fs, nsga_limit)
    # The cap counts from the first generation: Ray start-up, compilation and the ε points
    # (each capped by point_time_limit) are outside it.
    deadline = clock_started + fs.time_limit
    n_evolved = int(evolved[0].extra["evaluated"]) if evolved else 0
    if nsga_clock:
        clock["nsga"] = (
            f"stopped after {evolved[0].extra['generations']} of {fs.generations} generations "
            f"at {nsga_limit:.3g} s (time_limit {fs.time_limit:g} s less the polish runs' share)"
        )
    t_nsga = time.perf_counter()
    report("nsga", len(evolved))

    found = swept + evolved
    values = _values(found, objectives)
    feasible = np.array([d.evaluation.feasible for d in found])
    front = non_dominated(values, feasible)
    candidates = [
        d for d, keep in zip(found, front, strict=True) if keep and d.extra["source"] == "nsga"
    ]
    polished, timed_out, skipped = _polish(
        problem, candidates, objectives, point_settings, fs.polish, deadline
    )
    if timed_out or skipped:
        clock["polish"] = (
            f"{timed_out} runs stopped at the time limit and {skipped} not started "
            f"(point_time_limit {point_settings.time_limit:g} s, time_limit {fs.time_limit:g} s)"
        )
    t_polish = time.perf_counter()
    report("polish", len(polished))

    designs = _frontier_designs(swept + evolved + polished, objectives)
    values = _values(designs, objectives)
    feasible = np.array([d.evaluation.feasible for d in designs])
    reference = reference_point(problem, objectives)
    volume = hypervolume(values[feasible] / reference, np.ones(len(objectives)))
    report("frontier", len(designs))
    if clock:
        print(
            "[frontier] warning: a time limit, not the work budget, stopped "
            + "; ".join(f"{phase}: {what}" for phase, what in clock.items())
            + " - this frontier depends on the machine's speed (raise frontier.time_limit "
            "or frontier.point_time_limit, or lower the work, to make it repeatable)",
            file=sys.stderr,
        )
    if not feasible.any():
        # Never recommend a design that breaks a hard rule: report it as optimize does.
        cut = f" (a time limit stopped {', '.join(clock)}: raise it)" if clock else ""
        raise no_feasible_design_error(problem, designs, "frontier design", cut)
    chosen = np.flatnonzero(feasible)
    recommended = designs[int(chosen[knee(values[chosen])])]
    return FrontierResult(
        designs=designs,
        recommended=recommended,
        objectives=objectives,
        reference_point=dict(zip(objectives, reference.tolist(), strict=True)),
        hypervolume=volume,
        n_evaluated=len(swept) + n_evolved + len(polished),
        seconds=time.perf_counter() - started,
        phase_seconds={
            "epsilon": t_epsilon - started,
            "nsga": t_nsga - t_epsilon,
            "polish": t_polish - t_nsga,
        },
        stopped_on_clock=clock,
    )


def sweep_weights(problem: Problem, objectives: Sequence[str], sweep: str) -> dict[str, float]:
    """What the points of one ε sweep minimise: weights of the frontier objectives but disruption.

    Parameters
    ----------
    problem : Problem
    objectives : sequence of str
        The frontier's objectives.
    sweep : str
        "objective": the problem's weights of those objectives (1.0 each when all are 0);
        "equal": 1.0 each; an objective's name: 1.0 on it and 1 / `_SWEEP_TILT` on the others.

    Returns
    -------
    dict of str to float
    """
    others = [o for o in objectives if o != "disruption"] or [
        o for o in OBJECTIVE_NAMES if o != "disruption"
    ]
    if sweep == "objective":
        weights = {o: float(problem.objective.weights.get(o, 0.0)) for o in others}
        if any(w > 0 for w in weights.values()):
            return weights
    if sweep in others:
        return {o: 1.0 if o == sweep else 1.0 / _SWEEP_TILT for o in others}
    return dict.fromkeys(others, 1.0)


def _values(designs: Sequence[NamedDesign], objectives: Sequence[str]) -> np.ndarray:
    """float64[n, m]: the chosen objectives of each design."""
    return np.array(
        [[d.evaluation.objectives[o] for o in objectives] for d in designs], dtype=np.float64
    ).reshape(len(designs), len(objectives))


def _frontier_designs(found: Sequence[NamedDesign], objectives: Sequence[str]) -> list[NamedDesign]:
    """The non-dominated designs: feasible first, each group by disruption then the others."""
    unique: dict[bytes, NamedDesign] = {}
    for d in found:
        unique.setdefault(np.asarray(d.assignment, dtype=np.int64).tobytes(), d)
    pool = list(unique.values())
    values = _values(pool, objectives)
    feasible = np.array([d.evaluation.feasible for d in pool])
    keep = non_dominated(values, feasible)
    disruption = np.array([d.evaluation.objectives["disruption"] for d in pool])
    order = np.lexsort((*values.T[::-1], disruption, ~feasible))
    return [pool[i] for i in order if keep[i]]


def frontier_table(problem: Problem, result: FrontierResult) -> pa.Table:
    """frontier.arrow (DESIGN §6): one row per frontier design, hypervolume in the metadata.

    Columns: those of `designs_table` (design label, source, budget_accounts, objectives,
    metrics, violations, feasible, assignment as rep ids) plus `recommended`. Schema metadata:
    ``terrasim.hypervolume`` (JSON number), ``terrasim.reference_point`` (JSON object,
    objective to value), ``terrasim.stopped_on_clock`` (JSON object, phase to what stopped
    it; empty when the work budgets alone ended every phase) and ``terrasim.frontier`` (JSON:
    objectives, the definitions and counts). Wall times stay out, so the same config and seed
    give the same bytes; `FrontierResult` has them.
    """
    rows = [
        dataclasses.replace(
            d,
            extra={
                "source": (d.extra or {}).get("source"),
                "budget_accounts": (d.extra or {}).get("budget_accounts"),
            },
        )
        for d in result.designs
    ]
    table = designs_table(problem, rows, recommended=result.recommended.label)
    details = {
        "objectives": list(result.objectives),
        "hypervolume": "feasible designs, each objective divided by its reference value "
        "(share of the box [0, reference] dominated)",
        "reference_point": "today's design x 1.1; disruption 1.0; 1.0 where today's value is 0",
        "recommended": result.recommended.label,
        "recommended_rule": "knee: farthest from the hyperplane through the extremes, "
        "objectives normalised over the feasible frontier",
        "n_designs": len(result.designs),
        "n_evaluated": result.n_evaluated,
    }
    metadata = dict(table.schema.metadata or {})
    metadata[b"terrasim.hypervolume"] = json.dumps(result.hypervolume).encode()
    metadata[b"terrasim.reference_point"] = json.dumps(result.reference_point).encode()
    metadata[b"terrasim.stopped_on_clock"] = json.dumps(result.stopped_on_clock).encode()
    metadata[b"terrasim.frontier"] = json.dumps(details).encode()
    return table.replace_schema_metadata(metadata)
