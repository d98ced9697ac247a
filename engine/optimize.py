"""The territory optimizer (DESIGN §4): construction, then local search in Numba kernels.

`optimize` owns the loop and the clock; kernels/search.py does bounded chunks of moves.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from engine.candidates import Candidates, candidate_lists, with_design
from engine.construct import CONSTRUCTIONS, from_today, greedy_regret, greenfield, place_misplaced
from engine.errors import TerrasimError
from engine.evaluate import FEASIBILITY_TOLERANCE, Evaluation, evaluate
from engine.infeasibility import broken_rule_error, check_forced_moves, unplaceable_error
from engine.problem import Problem
from engine.relaxation import AUTO_LP_COLUMNS, MIN_CANDIDATES, lp_construction
from kernels import search
from kernels.arrays import (
    N_OBJECTIVES,
    N_RULES,
    OBJECTIVE_NAMES,
    POTENTIAL,
    RULE_BALANCE,
    RULE_CAPACITY,
    RULE_CONTIGUITY,
    RULE_MAX_MOVED_POTENTIAL,
    RULE_NAMES,
    TRAVEL,
    WORKLOAD,
)
from kernels.jit import interrupts_deferred
from kernels.objectives import N_SUMS, evaluate_design

METAHEURISTICS = ("ils", "descent")
_NO_LIMIT = 2**62
_CHUNK_SECONDS = 0.05  # a kernel call returns to Python about this often to check the clock
_REPAIR_PASSES = 1000
# Rules a move never breaks (the candidate lists hold only allowed reps) or keeps by a check.
_KEPT_BY_MOVES = (RULE_CONTIGUITY,)


@dataclass(frozen=True)
class SolverSettings:
    """How the optimizer searches (the `solver` config group; see conf/solver/default.yaml)."""

    time_limit: float = 10.0
    max_moves: int | None = None
    seed: int = 0
    construction: str = "auto"
    candidates: int = 8
    metaheuristic: str = "ils"
    ils_rounds: int = 1000
    ils_patience: int = 300
    ils_round_steps: int = 300
    swap_neighbours: int = 6
    penalty: float = 10.0
    penalty_weights: dict[str, float] = field(default_factory=dict)
    penalty_growth: float = 4.0
    penalty_rounds: int = 8
    min_gain: float = 1e-9
    contiguity_search_limit: int = 500
    greenfield_time_limit: float = 5.0
    raise_infeasible: bool = True


@dataclass(frozen=True)
class Design:
    """An optimized design and how it was found.

    Attributes
    ----------
    assignment : int64[n_accounts]
        Rep index of each account.
    evaluation : Evaluation
        The design evaluated from scratch (engine.evaluate).
    feasible : bool
        Every switched-on hard rule holds (`evaluation.feasible`).
    moves : int
        Moves (shifts and swaps) the search applied, every phase counted.
    seconds : float
        Wall time of `optimize`, construction and compilation included.
    construction : str
        today, regret, greenfield, lp (what `auto` resolved to), or start (a design passed in).
    score : float
        The weighted sum of normalised objectives the search minimised (no penalties).
    stopped : str
        converged, time_limit or max_moves.
    """

    assignment: np.ndarray
    evaluation: Evaluation
    feasible: bool
    moves: int
    seconds: float
    construction: str
    score: float
    stopped: str


def solver_settings_from_config(cfg: Any) -> SolverSettings:
    """Build SolverSettings from the composed `solver` config (a DictConfig or a dict).

    Raises
    ------
    TerrasimError
        An unknown key or a value out of range.
    """
    values = dict(cfg.items()) if cfg is not None else {}
    known = {f.name: f for f in fields(SolverSettings)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise TerrasimError(f"solver: unknown setting(s) {unknown}; known: {sorted(known)}")
    kinds = {
        "time_limit": float,
        "max_moves": int,
        "seed": int,
        "construction": str,
        "candidates": int,
        "metaheuristic": str,
        "ils_rounds": int,
        "ils_patience": int,
        "ils_round_steps": int,
        "swap_neighbours": int,
        "penalty": float,
        "penalty_growth": float,
        "penalty_rounds": int,
        "min_gain": float,
        "contiguity_search_limit": int,
        "greenfield_time_limit": float,
        "raise_infeasible": bool,
    }
    parsed: dict[str, Any] = {}
    for key, value in values.items():
        if key == "penalty_weights":
            parsed[key] = {str(k): float(v) for k, v in (value or {}).items()}
        elif value is None:
            if key != "max_moves":
                raise TerrasimError(f"solver.{key} may not be null")
            parsed[key] = None
        else:
            try:
                parsed[key] = kinds[key](value)
            except (TypeError, ValueError) as exc:
                raise TerrasimError(f"solver.{key}: cannot read {value!r}") from exc
    settings = SolverSettings(**parsed)
    check_settings(settings)
    return settings


def check_settings(settings: SolverSettings) -> None:
    """Raise TerrasimError for settings no run could use."""
    s = settings
    checks = [
        (s.time_limit > 0, "time_limit must be > 0"),
        (s.max_moves is None or s.max_moves >= 0, "max_moves must be >= 0 or null"),
        (s.construction in CONSTRUCTIONS, f"construction must be one of {list(CONSTRUCTIONS)}"),
        (s.candidates >= 1, "candidates must be >= 1"),
        (s.metaheuristic in METAHEURISTICS, f"metaheuristic must be one of {list(METAHEURISTICS)}"),
        (s.ils_rounds >= 0, "ils_rounds must be >= 0"),
        (s.ils_patience >= 1, "ils_patience must be >= 1"),
        (s.ils_round_steps >= 1, "ils_round_steps must be >= 1"),
        (s.swap_neighbours >= 0, "swap_neighbours must be >= 0"),
        (s.penalty > 0, "penalty must be > 0"),
        (all(v > 0 for v in s.penalty_weights.values()), "penalty_weights must be > 0"),
        (set(s.penalty_weights) <= set(RULE_NAMES), f"penalty_weights: rules are {RULE_NAMES}"),
        (s.penalty_growth >= 1, "penalty_growth must be >= 1"),
        (s.penalty_rounds >= 0, "penalty_rounds must be >= 0"),
        (s.min_gain >= 0, "min_gain must be >= 0"),
        (s.contiguity_search_limit >= 1, "contiguity_search_limit must be >= 1"),
        (s.greenfield_time_limit > 0, "greenfield_time_limit must be > 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise TerrasimError(f"solver.{message}")


def optimize(
    problem: Problem,
    settings: SolverSettings | None = None,
    start: np.ndarray | None = None,
    progress: bool = False,
) -> Design:
    """Optimize a territory design (DESIGN §4).

    Construction (`settings.construction`, or `start`), then: a descent over shifts and swaps
    to a local optimum, raising the penalty weight of each rule still broken and descending
    again (up to `penalty_rounds` times); then, with `metaheuristic="ils"`, iterated local
    search (kicks, each followed by a local descent and kept only when it improves the score)
    and the same descent again. The better of the two local optima is returned
    (a feasible one first). The search stops early at `time_limit` seconds (counted once the
    start is built and the kernels compiled) or `max_moves`
    moves; for a seed, the same number of moves gives the same design.

    Parameters
    ----------
    problem : Problem
    settings : SolverSettings, optional
    start : int64[n_accounts], optional
        A starting design (rep indices, -1 unassigned) instead of the construction; accounts
        it leaves unassigned or on a rep they may not have go to their nearest allowed rep.
    progress : bool
        Print one line per phase to stderr.

    Returns
    -------
    Design

    Raises
    ------
    InfeasibleError
        An account no rep may hold under the unary rules (the rule and the accounts named), or,
        with `raise_infeasible`, a final design that still breaks a hard rule (the rule and
        the accounts involved).
    """
    settings = settings or SolverSettings()
    check_settings(settings)
    started = time.perf_counter()
    candidates = candidate_lists(problem, settings.candidates)
    unplaceable = np.flatnonzero(candidates.rep[:, 0] < 0)
    if unplaceable.size:
        raise unplaceable_error(problem, unplaceable)
    if start is None and settings.raise_infeasible:
        # A caller who takes infeasible designs back (a frontier point, a scenario) gets the
        # search's best instead; a start design's budget is the caller's.
        check_forced_moves(problem)

    if start is not None:
        design = np.array(start, dtype=np.int64, copy=True)
        if design.shape != (problem.n_accounts,):
            raise TerrasimError(
                f"start design has shape {design.shape}, expected ({problem.n_accounts},)"
            )
        if design.size and (design.min() < -1 or design.max() >= problem.n_reps):
            raise TerrasimError("start design names a rep index out of range")
        design = place_misplaced(problem, design, candidates)
        construction = "start"
    else:
        construction = resolved_construction(problem, settings)
        design = _construct(problem, settings, candidates, construction, progress, started)
    candidates = with_design(problem, candidates, design)

    run = _Search(problem, settings, candidates, design, progress, started)
    run.compile()
    # The clock starts here: JIT compilation (the first run on a machine) and construction
    # (greenfield has its own limit) do not eat into the search's time.
    stopped = run.solve(time.perf_counter() + settings.time_limit)
    assignment = run.best
    evaluation = evaluate(problem, assignment)
    design_out = Design(
        assignment=assignment,
        evaluation=evaluation,
        feasible=evaluation.feasible,
        moves=int(run.state.counters[search.MOVES]),
        seconds=time.perf_counter() - started,
        construction=construction,
        score=run.weighted(evaluation),
        stopped=stopped,
    )
    if not design_out.feasible and settings.raise_infeasible:
        raise broken_rule_error(problem, assignment, evaluation, _why_stopped(stopped, settings))
    return design_out


def resolved_construction(problem: Problem, settings: SolverSettings) -> str:
    """The construction to run: `auto` is `lp` under a balance band, else `today`.

    A tight band is where moves from today stall (engine/relaxation.py); without one, today's
    assignment is the start that disrupts least. Past `AUTO_LP_COLUMNS` listed pairs the LP,
    column generation included, takes far longer than the search it would help, so `auto`
    starts from today there (`lp` can be asked for).
    """
    if settings.construction != "auto":
        return settings.construction
    if not problem.rules.on[RULE_BALANCE]:
        return "today"
    listed = min(max(settings.candidates, MIN_CANDIDATES), problem.n_reps)
    return "lp" if problem.n_accounts * listed <= AUTO_LP_COLUMNS else "today"


def _construct(
    problem: Problem,
    settings: SolverSettings,
    candidates: Candidates,
    construction: str,
    progress: bool,
    started: float,
) -> np.ndarray:
    if construction == "today":
        return from_today(problem, candidates)
    if construction == "regret":
        return greedy_regret(problem, candidates)
    if construction == "lp":
        weights = _objective_weights(problem, candidates)
        if progress:  # the LP can take seconds: say so before, in the search's format
            print(
                f"[optimize] {time.perf_counter() - started:7.2f}s  construction lp",
                file=sys.stderr,
            )
        relaxation = lp_construction(problem, weights, settings.candidates)
        if progress:
            print(
                f"[optimize] {time.perf_counter() - started:7.2f}s  {'construction lp done':<28} "
                f"{relaxation.columns:,} columns ({relaxation.candidates} reps per account), "
                f"{relaxation.fractional:,} accounts split, violation {relaxation.violation:.3g}",
                file=sys.stderr,
            )
        return place_misplaced(problem, relaxation.design, candidates)
    design = greenfield(
        problem,
        seed=settings.seed,
        candidates=candidates,
        time_limit=settings.greenfield_time_limit,
    )
    # Accounts whose nearest centre's rep they may not have (-1) take their nearest allowed rep.
    return place_misplaced(problem, design, candidates)


class _Search:
    """The search state, its weights and the phases that run the kernels in chunks."""

    def __init__(
        self,
        problem: Problem,
        settings: SolverSettings,
        candidates: Candidates,
        design: np.ndarray,
        progress: bool,
        started: float,
    ) -> None:
        self.problem, self.settings, self.progress, self.started = (
            problem,
            settings,
            progress,
            started,
        )
        n_accounts, n_reps = problem.n_accounts, problem.n_reps
        self.rng = np.random.default_rng(settings.seed)
        self.max_moves = _NO_LIMIT if settings.max_moves is None else int(settings.max_moves)
        self.objective_weight = _objective_weights(problem, candidates)
        self.base_penalty = _penalty_weights(problem, settings)
        self.penalty_weight = self.base_penalty.copy()
        self.params = np.zeros(search.N_PARAMS)
        self.params[search.MIN_GAIN] = settings.min_gain
        self.params[search.SEARCH_LIMIT] = min(settings.contiguity_search_limit, n_accounts)
        self.params[search.MAX_ROUNDS] = settings.ils_rounds
        self.params[search.MAX_STALE] = settings.ils_patience
        self.params[search.ROUND_STEPS] = settings.ils_round_steps
        n_measures = problem.accounts.measures.shape[0]
        self.state = search.SearchState(
            rep_of_account=np.ascontiguousarray(design, dtype=np.int64),
            totals=np.empty((n_measures, n_reps)),
            grand_totals=np.empty(n_measures),
            sums=np.empty(N_SUMS),
            violations=np.empty(N_RULES),
            current_distance=np.empty(n_accounts),
            order=np.arange(n_accounts, dtype=np.int64),
            counters=np.zeros(search.N_COUNTERS, dtype=np.int64),
            mark=np.full(n_accounts, -1, dtype=np.int64),
            queue=np.empty(max(n_accounts, 1), dtype=np.int64),
            rep_moved=np.zeros(n_reps, dtype=np.int64),
            account_seen=np.full(n_accounts, -1, dtype=np.int64),
            near_move=np.ones(n_accounts, dtype=np.bool_),
        )
        self.neighbourhood = search.Neighbourhood(
            candidate_rep=candidates.rep,
            candidate_distance=candidates.distance,
            **_swap_graph(problem, settings.swap_neighbours),
            **_accounts_by_rep(candidates.rep, n_reps),
        )
        self.refresh()
        self.best = self.state.rep_of_account.copy()
        self.best_key = self.judge()
        # Steps per kernel call, per kernel; they follow the clock (see `_run`).
        self.chunks = {self._descend_chunk.__name__: 256, self._kick_chunk.__name__: 8}

    # -- state ------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-evaluate the state from scratch (clears rounding; contiguity counted afresh)."""
        p, s = self.problem, self.state
        evaluate_design(
            s.rep_of_account,
            p.accounts,
            p.reps,
            p.distance,
            p.rules,
            s.totals,
            s.grand_totals,
            s.sums,
            s.violations,
        )
        search.design_distances(
            s.rep_of_account, p.accounts, p.reps, p.distance, s.current_distance
        )

    def weighted(self, evaluation: Evaluation) -> float:
        """Weighted sum of normalised objectives of an evaluation (what the search minimises)."""
        values = np.array([evaluation.objectives[name] for name in OBJECTIVE_NAMES])
        return float(self.objective_weight @ values)

    def judge(self) -> tuple[int, float, float]:
        """Sort key of the current design: feasible first, then less violation, then score."""
        evaluation = evaluate(self.problem, self.state.rep_of_account)
        penalty = 0.0
        for r, name in enumerate(RULE_NAMES):
            amount = evaluation.violations.get(name, 0.0)
            if amount > FEASIBILITY_TOLERANCE:
                penalty += amount * (1.0 if r == RULE_CONTIGUITY else self.base_penalty[r])
        return (0 if evaluation.feasible else 1, penalty, self.weighted(evaluation))

    def keep_if_better(self) -> None:
        key = self.judge()
        if key < self.best_key:
            self.best_key = key
            self.best = self.state.rep_of_account.copy()

    # -- phases -----------------------------------------------------------------------------

    def compile(self) -> None:
        """Compile the kernels (or load them from Numba's cache): each called for 0 steps."""
        self._descend_chunk(0)
        self._kick_chunk(0)

    def solve(self, deadline: float) -> str:
        """Run every phase; returns why the search stopped."""
        rules = self.problem.rules
        if rules.on[RULE_CONTIGUITY] and self.state.violations[RULE_CONTIGUITY] > 0:
            self.repair_islands()
            # The repaired design is the baseline: its moves are what contiguity costs.
            self.best = self.state.rep_of_account.copy()
            self.best_key = self.judge()
        status = self.descend_rounds(deadline)
        self.keep_if_better()
        self.report("descent")
        if status == search.CONVERGED and self.settings.metaheuristic == "ils":
            status = self.kicks(deadline)
            if status == search.CONVERGED:
                status = self.descend_rounds(deadline)
            self.keep_if_better()
            self.report("kicks + descent")
        return {search.CONVERGED: "converged", search.MOVE_LIMIT: "max_moves"}.get(
            status, "time_limit"
        )

    def repair_islands(self) -> None:
        search.repair_islands(
            self.state,
            self.problem.accounts,
            self.problem.reps,
            self.problem.distance,
            self.problem.rules,
            self.neighbourhood,
            self.objective_weight,
            self.penalty_weight,
            _REPAIR_PASSES,
            self.max_moves,
        )
        self.refresh()
        self.report("island repair")

    def descend_rounds(self, deadline: float) -> int:
        """Descend to a local optimum; raise the penalties of broken rules and descend again."""
        counters = self.state.counters
        status = search.CONVERGED
        for round_ in range(self.settings.penalty_rounds + 1):
            moves_before = int(counters[search.MOVES])
            counters[search.STEPS] = 0
            counters[search.POSITION] = 0
            counters[search.SWEEP_MOVES] = 0
            counters[search.SWAPPING] = 0
            counters[search.STRICT] = 0
            self.state.account_seen[:] = -1
            status = self._run(self._descend_chunk, deadline)
            if status != search.CONVERGED:
                return status
            self.refresh()
            broken = [
                r
                for r in range(N_RULES)
                if r not in _KEPT_BY_MOVES and self.state.violations[r] > FEASIBILITY_TOLERANCE
            ]
            # Stuck: higher penalties moved nothing though they already outweigh the whole
            # objective (the moves are blocked). Below that a tiny violation may just be cheaper
            # than its repair, and the penalty keeps growing.
            outweighs = all(
                self.penalty_weight[r] * self.state.violations[r] >= 1.0 for r in broken
            )
            stuck = round_ > 0 and counters[search.MOVES] == moves_before and outweighs
            if not broken or stuck or round_ == self.settings.penalty_rounds:
                break
            self.penalty_weight[broken] *= self.settings.penalty_growth
            self.report(f"penalties up ({', '.join(RULE_NAMES[r] for r in broken)})")
        return status

    def kicks(self, deadline: float) -> int:
        """Iterated local search from the local optimum (kernels/search.py `kick`)."""
        counters = self.state.counters
        counters[search.ROUNDS] = 0
        counters[search.STALE] = 0
        return self._run(self._kick_chunk, deadline)

    def _descend_chunk(self, steps: int) -> int:
        p = self.problem
        return search.descend(
            self.state,
            p.accounts,
            p.reps,
            p.distance,
            p.rules,
            self.neighbourhood,
            self.objective_weight,
            self.penalty_weight,
            self.params,
            steps,
            self.max_moves,
        )

    def _kick_chunk(self, rounds: int) -> int:
        p = self.problem
        with interrupts_deferred():  # a Generator argument: see kernels/jit.py
            return search.kick(
                self.state,
                p.accounts,
                p.reps,
                p.distance,
                p.rules,
                self.neighbourhood,
                self.objective_weight,
                self.penalty_weight,
                self.params,
                self.rng,
                rounds,
                self.max_moves,
            )

    def _run(self, chunk_call, deadline: float) -> int:
        """Call a kernel in chunks until it stops by itself or the deadline passes.

        Chunk sizes follow the clock, but the kernels keep all their state between calls, so
        the result after a given number of steps does not depend on them.
        """
        name = chunk_call.__name__
        while True:
            now = time.perf_counter()
            if now >= deadline:
                return -1
            chunk = self.chunks[name]
            status = chunk_call(chunk)
            took = time.perf_counter() - now
            if status != search.RUNNING:
                return status
            per_step = max(took / chunk, 1e-9)
            budget = min(_CHUNK_SECONDS, max(deadline - time.perf_counter(), 0.0))
            self.chunks[name] = int(max(1, min(budget / per_step, 2 * chunk)))

    def report(self, phase: str) -> None:
        if not self.progress:
            return
        s = self.state
        broken = [
            RULE_NAMES[r]
            for r in range(N_RULES)
            if s.violations[r] > FEASIBILITY_TOLERANCE and self.problem.rules.on[r]
        ]
        print(
            f"[optimize] {time.perf_counter() - self.started:7.2f}s  {phase:<28} "
            f"moves {int(s.counters[search.MOVES]):>9,}  "
            f"broken: {', '.join(broken) if broken else 'none'}",
            file=sys.stderr,
        )


def _objective_weights(problem: Problem, candidates: Candidates) -> np.ndarray:
    """objective.weights divided by each objective's scale (travel: nearest-candidate travel)."""
    weights = problem.objective.weights
    out = np.array([float(weights.get(name, 0.0)) for name in OBJECTIVE_NAMES])
    workload = problem.accounts.measures[WORKLOAD]
    nearest = candidates.distance[:, 0]
    held = np.isfinite(nearest)
    total = workload[held].sum()
    scale = float(workload[held] @ nearest[held] / total) if total > 0 else 0.0
    out[TRAVEL] /= scale if scale > 0 else 1.0
    assert out.shape == (N_OBJECTIVES,)
    return out


def _penalty_weights(problem: Problem, settings: SolverSettings) -> np.ndarray:
    """Penalty per unit of each rule's violation, in units of the weighted objective.

    A unit is one account for the count rules, one average capacity of hours for capacity,
    one average account's potential for the potential budget, and the relative excess itself
    for the balance band and the potential change.
    """
    reps = problem.reps
    staying = reps.target_share > 0
    capacity = reps.capacity[staying] if staying.any() else reps.capacity
    mean_capacity = float(capacity.mean()) if capacity.size else 1.0
    total_potential = float(problem.accounts.measures[POTENTIAL].sum())
    unit = np.ones(N_RULES)
    unit[RULE_CAPACITY] = 1.0 / mean_capacity if mean_capacity > 0 else 1.0
    if total_potential > 0:
        unit[RULE_MAX_MOVED_POTENTIAL] = problem.n_accounts / total_potential
    unit[RULE_CONTIGUITY] = 0.0  # kept by the moves' checks, not by a penalty
    base = np.array([settings.penalty_weights.get(name, settings.penalty) for name in RULE_NAMES])
    return base * unit


def _swap_graph(problem: Problem, k: int) -> dict[str, np.ndarray]:
    """Swap partners: the contiguity graph when its rule is on, else the k nearest accounts.

    The k-nearest graph is made symmetric (a is a partner of b when either is among the
    other's k nearest).
    """
    n = problem.n_accounts
    if problem.rules.on[RULE_CONTIGUITY]:
        return {
            "swap_ptr": problem.accounts.neighbour_ptr,
            "swap_neighbour": problem.accounts.neighbour,
        }
    k = min(k, n - 1)
    if k <= 0:
        return {
            "swap_ptr": np.zeros(n + 1, dtype=np.int64),
            "swap_neighbour": np.zeros(0, np.int64),
        }
    xyz = problem.accounts.xyz
    tree = cKDTree(xyz)
    # Queried in the tree's own (spatial) order, for the cache; the answers are the same.
    in_order = tree.indices
    nearest = np.empty((n, k + 1), dtype=np.int64)
    nearest[in_order] = np.asarray(tree.query(xyz[in_order], k=k + 1)[1]).reshape(n, k + 1)
    # Symmetric, so that a sweep trying each pair once (from its lower account) tries them all.
    ptr, neighbour = search.symmetric_graph(nearest)
    return {"swap_ptr": ptr, "swap_neighbour": neighbour}


def _accounts_by_rep(candidate_rep: np.ndarray, n_reps: int) -> dict[str, np.ndarray]:
    """CSR of the accounts whose candidate list holds each rep (ascending account index)."""
    rep_ptr, rep_account = search.accounts_by_rep(candidate_rep, n_reps)
    return {"rep_ptr": rep_ptr, "rep_account": rep_account}


def _why_stopped(stopped: str, settings: SolverSettings) -> str:
    if stopped == "time_limit":
        return (
            f"the search stopped at solver.time_limit ({settings.time_limit:g} s) "
            "before it met every hard rule (raise the limit)"
        )
    if stopped == "max_moves":
        return (
            f"the search stopped at solver.max_moves ({settings.max_moves:,}) "
            "before it met every hard rule"
        )
    return "the search found no design that meets every hard rule"
