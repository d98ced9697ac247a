"""Travel under a hard balance band and locks: terrasim against the exact MILP optimum (HiGHS).

Instances come from the generator (`northeast` shape, scaled, seeded). The rules are the
engine's: locked accounts stay, and each territory's potential lies within ±band of its target
s_j · ΣP (DESIGN §3); every other rule is off. Both solvers minimise the engine's travel,
Σ_i workload_i · d(i, a(i)) / Σ_i workload_i, with d the haversine distance × circuity.

The MILP is the assignment problem over every pair the unary rules allow (a locked account
allows only its current rep): binary x[i, j], Σ_j x[i, j] = 1, per banded measure and rep
(1 − tol) ≤ Σ_i x[i, j] · X_i / X*_j ≤ (1 + tol), capacity rows when that rule is on. Its
coefficients d(i, j) come from the engine's own distance kernel (`candidate_lists` with every
rep), and both designs are scored by `engine.evaluate`, so the two objectives are the same
function.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, replace

import numpy as np

from engine.benchmarks.tables import format_rows
from engine.candidates import candidate_lists
from engine.errors import TerrasimError
from engine.evaluate import evaluate
from engine.generator import generate_instance
from engine.model import Instance
from engine.optimize import SolverSettings, _objective_weights, optimize
from engine.problem import Problem, build_problem
from engine.relaxation import lp_construction
from engine.rules import Objective, Rules
from engine.validate import instance_from_tables
from kernels.arrays import (
    RULE_BALANCE,
    RULE_CAPACITY,
    RULE_CONTIGUITY,
    RULE_MAX_ACCOUNTS,
    RULE_MAX_MOVED,
    RULE_MAX_MOVED_POTENTIAL,
    RULE_MIN_ACCOUNTS,
    RULE_NAMES,
    RULE_POTENTIAL_CHANGE,
    TRAVEL,
    WORKLOAD,
)

SECTION = "travel under a balance band and locks (HiGHS MILP)"
# (accounts, reps): the sizes of the issue, 200 to 2,000 accounts with 10 to 40 reps.
CASES = ((200, 10), (500, 15), (1000, 25), (2000, 40))
PRESET = "northeast"
BAND = 0.05  # potential within ±5 % of each territory's target
CIRCUITY = 1.3  # the engine's default (conf/objective/default.yaml)
# Rules the MILP has no rows for; a problem with one of them on is refused.
_UNSUPPORTED = (
    RULE_MIN_ACCOUNTS,
    RULE_MAX_ACCOUNTS,
    RULE_POTENTIAL_CHANGE,
    RULE_MAX_MOVED,
    RULE_MAX_MOVED_POTENTIAL,
    RULE_CONTIGUITY,
)


def band_rules(band: float = BAND) -> Rules:
    """Locked accounts stay and potential lies within ±band of target; every other rule off."""
    return Rules(
        locked=True,
        regions=False,
        specialists=False,
        barred=False,
        leaving=False,
        capacity=False,
        balance={"potential": band},
    )


def travel_objective(rules: Rules) -> Objective:
    """Travel alone (weight 1, every other objective 0) under `rules`, default circuity."""
    return Objective(weights={"travel": 1.0}, circuity=CIRCUITY, rules=rules)


def band_instance(
    n_accounts: int, n_reps: int, seed: int = 0, band: float = BAND, preset: str = PRESET
) -> Instance:
    """A generated instance (the preset's shape at these sizes) validated under `band_rules`."""
    accounts, reps = generate_instance(preset, seed=seed, n_accounts=n_accounts, n_reps=n_reps)
    return instance_from_tables(
        accounts, reps, band_rules(band), source=f"{preset} {n_accounts}x{n_reps} seed {seed}"
    )


@dataclass(frozen=True)
class ExactAssignment:
    """What HiGHS returned for the assignment MILP.

    Attributes
    ----------
    assignment : int64[n_accounts] or None
        Rep index of each account in the incumbent; None when HiGHS found none.
    objective : float
        The incumbent's travel (km; inf without one).
    bound : float
        HiGHS's dual bound on the optimum travel.
    status : str
        HiGHS's model status ("Optimal", "Time limit reached", "Infeasible", ...).
    mip_gap_percent : float
        100 · (objective − bound) / objective as HiGHS reports it.
    seconds : float
        Wall time of HiGHS's solve (building the model not counted).
    n_columns : int
        Binary variables of the model.
    """

    assignment: np.ndarray | None
    objective: float
    bound: float
    status: str
    mip_gap_percent: float
    seconds: float
    n_columns: int

    @property
    def proven(self) -> bool:
        """HiGHS proved the incumbent optimal (within its relative gap)."""
        return self.status == "Optimal"


def solve_exact(
    problem: Problem, time_limit: float = 120.0, mip_rel_gap: float = 1e-4, seed: int = 0
) -> ExactAssignment:
    """Solve the travel-minimising assignment under the problem's hard rules with HiGHS.

    Parameters
    ----------
    problem : Problem
        Hard rules: the unary ones (through the allowed pairs), balance and capacity.
    time_limit : float
        Seconds HiGHS may take.
    mip_rel_gap : float
        HiGHS stops when (incumbent − bound) / incumbent falls below this.
    seed : int
        HiGHS's random seed.

    Returns
    -------
    ExactAssignment

    Raises
    ------
    TerrasimError
        A rule the MILP does not model is on, or every workload is 0 (travel undefined).
    """
    import highspy

    on = [RULE_NAMES[r] for r in _UNSUPPORTED if problem.rules.on[r]]
    if on:
        raise TerrasimError(f"MILP benchmark: rules {on} are not modelled; switch them off")
    workload = problem.accounts.measures[WORKLOAD]
    total_workload = float(workload.sum())
    if total_workload <= 0:
        raise TerrasimError("MILP benchmark: travel needs a positive total workload")
    n_accounts, n_reps = problem.n_accounts, problem.n_reps
    # Every allowed pair with the engine's own d(i, j); -1 pads accounts with fewer reps.
    allowed = candidate_lists(problem, n_reps)
    account, slot = np.nonzero(allowed.rep >= 0)
    rep = allowed.rep[account, slot]
    n_columns = rep.size
    column = np.arange(n_columns)
    cost = workload[account] * allowed.distance[account, slot] / total_workload

    # (column, row, value) triples, row bounds: one block per kind of row.
    triples = [(column, account, np.ones(n_columns))]
    lower, upper = [np.ones(n_accounts)], [np.ones(n_accounts)]
    n_rows = n_accounts
    if problem.rules.on[RULE_BALANCE]:
        for m, tolerance in enumerate(problem.rules.band_tolerance):
            if not np.isfinite(tolerance):
                continue
            measure = problem.accounts.measures[m]
            target = problem.reps.target_share * measure.sum()
            banded = target > 0  # the engine bands only reps with a target (not leaving)
            row_of_rep = np.full(n_reps, -1)
            row_of_rep[banded] = n_rows + np.arange(int(banded.sum()))
            keep = banded[rep]
            # Scaled by the target, so the row reads 1 − tol ≤ X_j / X*_j ≤ 1 + tol.
            triples.append(
                (column[keep], row_of_rep[rep[keep]], measure[account[keep]] / target[rep[keep]])
            )
            lower.append(np.full(int(banded.sum()), 1.0 - tolerance))
            upper.append(np.full(int(banded.sum()), 1.0 + tolerance))
            n_rows += int(banded.sum())
    if problem.rules.on[RULE_CAPACITY]:
        triples.append((column, n_rows + rep, workload[account]))
        lower.append(np.full(n_reps, -np.inf))
        upper.append(problem.reps.capacity * (1.0 + problem.rules.capacity_slack))
        n_rows += n_reps
    col_of, row_of, value_of = (np.concatenate(parts) for parts in zip(*triples, strict=True))
    order = np.lexsort((row_of, col_of))

    lp = highspy.HighsLp()
    lp.num_col_ = n_columns
    lp.num_row_ = n_rows
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(n_columns)
    lp.col_upper_ = np.ones(n_columns)
    lp.row_lower_ = np.concatenate(lower)
    lp.row_upper_ = np.concatenate(upper)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n_columns
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = n_columns
    lp.a_matrix_.num_row_ = n_rows
    lp.a_matrix_.start_ = np.searchsorted(col_of[order], np.arange(n_columns + 1)).astype(np.int32)
    lp.a_matrix_.index_ = row_of[order].astype(np.int32)
    lp.a_matrix_.value_ = value_of[order]

    highs = _quiet_highs(highspy)
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("time_limit", float(time_limit))
    highs.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    highs.setOptionValue("random_seed", int(seed))
    # Tight feasibility, so that the rounded incumbent meets the band as the engine checks it.
    highs.setOptionValue("primal_feasibility_tolerance", 1e-9)
    highs.setOptionValue("mip_feasibility_tolerance", 1e-9)
    highs.passModel(lp)
    started = time.perf_counter()
    highs.run()
    seconds = time.perf_counter() - started
    status = highs.modelStatusToString(highs.getModelStatus())
    info = highs.getInfo()
    has_incumbent = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    assignment, objective = None, np.inf
    if has_incumbent:
        value = np.asarray(highs.getSolution().col_value)
        pick = value > 0.5
        assignment = np.full(n_accounts, -1, dtype=np.int64)
        assignment[account[pick]] = rep[pick]
        objective = float(info.objective_function_value)
    return ExactAssignment(
        assignment=assignment,
        objective=objective,
        bound=float(info.mip_dual_bound),
        status=status,
        mip_gap_percent=100.0 * float(info.mip_gap) if has_incumbent else np.inf,
        seconds=seconds,
        n_columns=n_columns,
    )


def _quiet_highs(highspy):
    """A Highs object, built with stdout silenced: the constructor prints a banner there."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _warm_up(seed: int) -> None:
    """Compile (or load from cache) the engine kernels on a tiny instance of the same rules."""
    problem = build_problem(
        band_instance(60, 4, seed=seed, band=0.5), travel_objective(band_rules(0.5))
    )
    optimize(problem, SolverSettings(time_limit=0.2, seed=seed, raise_infeasible=False))


def case_name(n_accounts: int, n_reps: int, seed: int = 0) -> str:
    """Instance name of a case in the table, e.g. "northeast-500x15-s0"."""
    return f"{PRESET}-{n_accounts}x{n_reps}-s{seed}"


def parse_case(name: str) -> tuple[int, int]:
    """(n_accounts, n_reps) from "500x15" or a `case_name`.

    Raises
    ------
    TerrasimError
        When the name holds no "<accounts>x<reps>".
    """
    for part in name.split("-"):
        accounts, _, reps = part.partition("x")
        if accounts.isdigit() and reps.isdigit() and int(accounts) > 0 and int(reps) > 0:
            return int(accounts), int(reps)
    raise TerrasimError(f"MILP benchmark: case {name!r} is not '<accounts>x<reps>'")


def run_milp(
    cases: list[tuple[int, int]] | None = None,
    time_limit: float = 10.0,
    seed: int = 0,
    band: float = BAND,
    milp_time_limit: float = 120.0,
    mip_rel_gap: float = 1e-4,
) -> list[dict]:
    """Terrasim and HiGHS on generated instances: travel, gap and time.

    Terrasim runs with the solver defaults (conf/solver/default.yaml: `auto` construction, which
    under the band is the LP construction, 8 candidate reps, iterated local search) and
    `time_limit`; HiGHS with `milp_time_limit` and its default relative gap (1e-4).

    Parameters
    ----------
    cases : list of (n_accounts, n_reps), optional
        Default `CASES`.
    time_limit : float
        Seconds of terrasim's search per instance (it may stop earlier, converged).
    seed : int
        Seeds the generator and both solvers.
    band : float
        Tolerance of the potential band.
    milp_time_limit : float
        Seconds HiGHS may take per instance; past it the row reports HiGHS's own gap.
    mip_rel_gap : float
        HiGHS's relative optimality gap.

    Returns
    -------
    list of dict
        section, instance, n, p_or_m (reps), locked, band, optimum (travel of HiGHS's best
        design, km), bound (HiGHS's lower bound), found (terrasim's travel), gap_percent
        (100 · (found − optimum) / optimum), gap_bound_percent (100 · (found − bound) / bound:
        terrasim's gap is at most this), seconds (terrasim, construction included, compilation
        not), milp_seconds, time_ratio (milp_seconds / seconds), milp_status, feasible
        (terrasim meets every hard rule).
    """
    _warm_up(seed)
    rows = []
    for n_accounts, n_reps in cases or CASES:
        instance = band_instance(n_accounts, n_reps, seed=seed, band=band)
        problem = build_problem(instance, travel_objective(band_rules(band)))
        settings = SolverSettings(time_limit=time_limit, seed=seed, raise_infeasible=False)
        design = optimize(problem, settings)
        exact = solve_exact(problem, milp_time_limit, mip_rel_gap, seed)
        optimum = None
        if exact.assignment is not None:
            scored = evaluate(problem, exact.assignment)
            optimum = scored.objectives["travel"]
            if not scored.feasible or abs(optimum - exact.objective) > 1e-6 * max(optimum, 1.0):
                raise TerrasimError(
                    f"MILP benchmark: HiGHS's design scores {optimum} (feasible "
                    f"{scored.feasible}) in the engine, HiGHS says {exact.objective}"
                )
        found = design.evaluation.objectives["travel"]
        rows.append(
            {
                "section": SECTION,
                "instance": case_name(n_accounts, n_reps, seed),
                "n": n_accounts,
                "p_or_m": n_reps,
                "locked": int(instance.accounts.locked.sum()),
                "band": band,
                "optimum": optimum,
                "bound": exact.bound,
                "found": found,
                "gap_percent": None if optimum is None else 100.0 * (found - optimum) / optimum,
                "gap_bound_percent": 100.0 * (found - exact.bound) / exact.bound
                if 0 < exact.bound < np.inf
                else None,
                "seconds": design.seconds,
                "milp_seconds": exact.seconds,
                "time_ratio": exact.seconds / design.seconds,
                "milp_status": exact.status,
                "feasible": design.feasible,
            }
        )
    return rows


# Larger instances, past what HiGHS solves: the starts compared, the whole LP as the reference.
LARGE_CASES = ((10_000, 60), (20_000, 100))
LARGE_SECTION = "travel under a balance band, larger instances (starts compared)"


def run_large(
    cases: list[tuple[int, int]] | None = None,
    time_limit: float = 30.0,
    seed: int = 0,
    band: float = BAND,
) -> list[dict]:
    """The search from three starts on instances too large for the exact MILP.

    `today` (the start `auto` takes past `AUTO_LP_COLUMNS`), `lp` (the default: column
    generation from `LP_COLUMNS` priced columns) and `lp-whole` (the LP over the whole lists);
    both LPs double their lists while they cannot meet the band. Each start is followed by the
    default search with `time_limit`.

    Returns
    -------
    list of dict
        section, instance, n, p_or_m, band, start, travel (km), feasible, lp_travel (the
        LP's optimum in km, before rounding; None from today), seconds (construction and
        search, compilation excluded), versus_whole_percent (travel against lp-whole's).
    """
    _warm_up(seed)
    rows = []
    for n_accounts, n_reps in cases or LARGE_CASES:
        problem = build_problem(
            band_instance(n_accounts, n_reps, seed=seed, band=band),
            travel_objective(band_rules(band)),
        )
        settings = SolverSettings(time_limit=time_limit, seed=seed, raise_infeasible=False)
        weights = _objective_weights(problem, candidate_lists(problem, settings.candidates))
        found = {}
        for start in ("today", "lp", "lp-whole"):
            started = time.perf_counter()
            lp_travel = None
            if start == "today":
                design = optimize(problem, replace(settings, construction="today"))
            else:
                relaxation = lp_construction(
                    problem,
                    weights,
                    settings.candidates,
                    whole_columns=sys.maxsize if start == "lp-whole" else None,
                )
                lp_travel = relaxation.objective / weights[TRAVEL]
                design = optimize(problem, settings, start=relaxation.design)
            found[start] = design.evaluation.objectives["travel"]
            rows.append(
                {
                    "section": LARGE_SECTION,
                    "instance": case_name(n_accounts, n_reps, seed),
                    "n": n_accounts,
                    "p_or_m": n_reps,
                    "band": band,
                    "start": start,
                    "travel": found[start],
                    "feasible": design.feasible,
                    "lp_travel": lp_travel,
                    "seconds": time.perf_counter() - started,
                }
            )
        for row in rows[-3:]:
            row["versus_whole_percent"] = 100.0 * (row["travel"] / found["lp-whole"] - 1.0)
    return rows


if __name__ == "__main__":
    print(format_rows(run_large()))
