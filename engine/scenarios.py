"""The scenario library of DESIGN §4: named redesigns, stress-tested together and compared.

One function per scenario returns a ScenarioDesign; `design_scenarios` runs the chosen ones,
`stress_scenarios` simulates them with today's design under common random numbers (DESIGN §5),
and `comparison_table` lines them up in one table (scenarios_summary.arrow).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.optimize import linear_sum_assignment

from engine.candidates import candidate_lists
from engine.designs import NamedDesign, designs_table
from engine.errors import InfeasibleError, TerrasimError
from engine.evaluate import FEASIBILITY_TOLERANCE, evaluate
from engine.infeasibility import forced_accounts, held_accounts
from engine.model import LEAVING, Instance
from engine.optimize import Design, SolverSettings, optimize
from engine.problem import Problem, build_problem, rule_arrays
from engine.simulation import (
    SimParams,
    StressResult,
    simulate_designs,
)
from engine.staffing import change_headcount, with_empty_seats
from kernels.arrays import OBJECTIVE_NAMES

SCENARIOS = (
    "status_quo_plus",
    "full_reopt",
    "headcount",
    "specialisation",
    "hybrid",
    "departure",
)
# Feasible designs for today's reps compete for the recommendation; a headcount change or a
# departure is a what-if about other reps, not a redesign to ship.
REDESIGNS = ("status_quo_plus", "full_reopt", "specialisation", "hybrid")
# Each specialised team's and the general team's seat: a rep skilled in the team's segments
# scores this much above one whose book today is all in them (skills lead, today's book breaks
# ties); a specialist outside the team's segments scores _FORBIDDEN.
_SKILL_AFFINITY = 1.0
_FORBIDDEN = -1e6


@dataclass(frozen=True)
class ScenarioSettings:
    """The `scenarios` config block (conf/scenarios.yaml).

    Attributes
    ----------
    run : tuple of str
        Scenarios to design, any of SCENARIOS; designed and reported in SCENARIOS order.
    time_limit : float
        Seconds of local search per design (the solver's time_limit for these runs).
    status_quo_plus_share : float
        Disruption budget of status quo plus: at most this share of the accounts moved.
    status_quo_plus_accounts : int or None
        The budget in accounts instead of the share.
    status_quo_plus_candidates : int
        Edge moves: an account may move only to one of its this many nearest allowed reps.
    headcount_delta : int
        Reps added (> 0; homes by p-median where coverage is thinnest) or removed (< 0).
    specialisation_segments : tuple of str or None
        Segments that get a dedicated team; None: every segment with accounts.
    hybrid_named_quantile : float
        Named accounts: those at or above this quantile of potential (0.9: the top 10%).
    hybrid_named_potential : float or None
        Named accounts above this potential instead of the quantile.
    hybrid_weights : dict of str to float
        Objective weights of the geographic design, over `objective.weights`.
    departure_rep : str or None
        The rep who leaves; None: the staying rep with the most accounts today (first in the
        reps' order on a tie).
    """

    run: tuple[str, ...] = SCENARIOS
    time_limit: float = 5.0
    status_quo_plus_share: float = 0.05
    status_quo_plus_accounts: int | None = None
    status_quo_plus_candidates: int = 3
    headcount_delta: int = 2
    specialisation_segments: tuple[str, ...] | None = None
    hybrid_named_quantile: float = 0.9
    hybrid_named_potential: float | None = None
    hybrid_weights: dict[str, float] = field(
        default_factory=lambda: {"travel": 1.0, "disruption": 0.0}
    )
    departure_rep: str | None = None


@dataclass(frozen=True)
class ScenarioDesign:
    """One scenario's design and the organisation it is for.

    Attributes
    ----------
    name : str
        One of SCENARIOS.
    design : NamedDesign or None
        Labelled `name`; its objectives and metrics are evaluated for `organisation`, its
        violations (and so `feasible`) under the scenario's own rules (`problem`). None when
        no design exists (an account no rep may hold under the scenario's rules); see `note`.
        extra: score (the weighted objective the search minimised), moves, stopped,
        construction.
    problem : Problem
        What the design was optimised under: the organisation with the scenario's rules,
        weights and (specialisation) skills.
    organisation : Problem
        The reps the design is for, under the run's objective: the run's problem, or the one
        with reps added or leaving (headcount, departure). It is evaluated and simulated there.
    description : str
        What the scenario did, in one line.
    note : str
        Why it is infeasible (empty when feasible).
    seconds : float
        Wall time of the design.
    """

    name: str
    design: NamedDesign | None
    problem: Problem
    organisation: Problem
    description: str
    note: str = ""
    seconds: float = 0.0

    @property
    def feasible(self) -> bool:
        """A design exists and meets every hard rule of the scenario."""
        return self.design is not None and self.design.evaluation.feasible


# -- settings ---------------------------------------------------------------------------------

# Config key (block, key) -> (ScenarioSettings field, reader).
_KEYS: dict[tuple[str, str], tuple[str, Callable[[Any], Any]]] = {
    ("", "run"): ("run", lambda v: tuple(str(x) for x in v)),
    ("", "time_limit"): ("time_limit", float),
    ("status_quo_plus", "max_moved_share"): ("status_quo_plus_share", float),
    ("status_quo_plus", "max_moved"): ("status_quo_plus_accounts", int),
    ("status_quo_plus", "candidates"): ("status_quo_plus_candidates", int),
    ("headcount", "delta"): ("headcount_delta", int),
    ("specialisation", "segments"): ("specialisation_segments", lambda v: tuple(map(str, v))),
    ("hybrid", "named_quantile"): ("hybrid_named_quantile", float),
    ("hybrid", "named_potential"): ("hybrid_named_potential", float),
    ("hybrid", "weights"): ("hybrid_weights", lambda v: {str(k): float(x) for k, x in v.items()}),
    ("departure", "rep"): ("departure_rep", str),
}
_NULLABLE = {
    "status_quo_plus_accounts",
    "specialisation_segments",
    "hybrid_named_potential",
    "departure_rep",
}


def scenario_settings_from_config(cfg: Any) -> ScenarioSettings:
    """Build ScenarioSettings from the composed `scenarios` config (a DictConfig or dict).

    Raises
    ------
    TerrasimError
        An unknown key or scenario, or a value out of range.
    """
    values: dict[str, Any] = {}
    blocks = {name for name, _ in _KEYS if name}
    for key, value in (dict(cfg.items()) if cfg is not None else {}).items():
        if key in blocks:
            for sub, sub_value in (dict(value.items()) if value is not None else {}).items():
                _read(values, (key, str(sub)), sub_value)
        else:
            _read(values, ("", str(key)), value)
    settings = ScenarioSettings(**values)
    check_scenario_settings(settings)
    return settings


def _read(values: dict[str, Any], key: tuple[str, str], value: Any) -> None:
    name = ".".join(k for k in key if k)
    if key not in _KEYS:
        known = sorted(".".join(k for k in pair if k) for pair in _KEYS)
        raise TerrasimError(f"scenarios.{name}: unknown setting; known: {known}")
    target, reader = _KEYS[key]
    if value is None:
        if target not in _NULLABLE:
            raise TerrasimError(f"scenarios.{name} may not be null")
        values[target] = None
        return
    try:
        values[target] = reader(value)
    except (TypeError, ValueError, AttributeError) as exc:
        raise TerrasimError(f"scenarios.{name}: cannot read {value!r}") from exc


def check_scenario_settings(settings: ScenarioSettings) -> None:
    """Raise TerrasimError for settings no run could use."""
    s = settings
    unknown = [name for name in s.run if name not in SCENARIOS]
    checks = [
        (not unknown, f"run: unknown scenario(s) {unknown}; known: {list(SCENARIOS)}"),
        (len(s.run) > 0, "run: name at least one scenario"),
        (len(set(s.run)) == len(s.run), "run: each scenario at most once"),
        (s.time_limit > 0, "time_limit must be > 0"),
        (0 <= s.status_quo_plus_share <= 1, "status_quo_plus.max_moved_share must be within 0..1"),
        (
            s.status_quo_plus_accounts is None or s.status_quo_plus_accounts >= 0,
            "status_quo_plus.max_moved must be >= 0",
        ),
        (s.status_quo_plus_candidates >= 1, "status_quo_plus.candidates must be >= 1"),
        (s.headcount_delta != 0, "headcount.delta must not be 0 (that is full_reopt)"),
        (0 <= s.hybrid_named_quantile <= 1, "hybrid.named_quantile must be within 0..1"),
        (
            s.hybrid_named_potential is None or s.hybrid_named_potential >= 0,
            "hybrid.named_potential must be >= 0",
        ),
        (
            set(s.hybrid_weights) <= set(OBJECTIVE_NAMES),
            f"hybrid.weights: objectives are {list(OBJECTIVE_NAMES)}",
        ),
        (all(w >= 0 for w in s.hybrid_weights.values()), "hybrid.weights must be >= 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise TerrasimError(f"scenarios.{message}")


def check_against_problem(problem: Problem, settings: ScenarioSettings) -> None:
    """Raise TerrasimError where the settings name what the instance lacks (reps, segments)."""
    if "departure" in settings.run:
        departing_rep(problem, settings.departure_rep)
    if "specialisation" in settings.run and settings.specialisation_segments is not None:
        known = problem.instance.accounts.segment_names
        unknown = [s for s in settings.specialisation_segments if s not in known]
        if unknown or not settings.specialisation_segments:
            raise TerrasimError(
                f"scenarios.specialisation.segments: unknown segment(s) {unknown}; "
                f"the accounts' segments are {list(known)}"
                if unknown
                else "scenarios.specialisation.segments: name at least one segment, or null"
            )


# -- the scenarios ----------------------------------------------------------------------------


def status_quo_plus(
    problem: Problem, solver: SolverSettings, max_moved: int, candidates: int = 3
) -> ScenarioDesign:
    """Today's territories with edge moves only: at most `max_moved` accounts move.

    The disruption budget is the hard rule "at most K accounts moved" (DESIGN §3); each account
    may go only to one of its `candidates` nearest allowed reps, so what moves are accounts at
    the edge of a territory, to a neighbour. Searched from today's assignment. Moves the team
    forces (a leaving rep's book, accounts on a rep the rules no longer allow) come on top of
    the budget: they are not the planner's choice.
    """
    forced = int(forced_accounts(problem).sum())
    rules = dataclasses.replace(problem.objective.rules, max_moved=int(max_moved) + forced)
    budgeted = _with_rules(problem, rules)
    settings = dataclasses.replace(
        solver, construction="today", candidates=min(candidates, solver.candidates)
    )
    on_top = f" on top of {forced:,} forced by the team" if forced else ""
    return _solve(
        "status_quo_plus",
        budgeted,
        problem,
        settings,
        f"at most {max_moved:,} accounts moved{on_top}, each to one of its "
        f"{settings.candidates} nearest reps",
    )


def full_reopt(
    problem: Problem, solver: SolverSettings, start: ScenarioDesign | None = None
) -> ScenarioDesign:
    """Optimise with no disruption budget (neither in accounts nor in potential).

    The search starts from the solver's construction (today's assignment by default). With
    `start` (status quo plus, say) whose design is feasible and better on the weighted
    objective, the search runs again from it and keeps the better: full re-optimisation is
    then never worse than a design with a budget.
    """
    rules = dataclasses.replace(
        problem.objective.rules, max_moved=None, max_moved_potential_share=None
    )
    free = _with_rules(problem, rules)
    description = "no disruption budget"
    found = _solve("full_reopt", free, problem, solver, description)
    if start is None or not start.feasible or start.design is None:
        return found
    start_score = float(start.design.extra["score"])
    if found.feasible and found.design is not None and found.design.extra["score"] <= start_score:
        return found
    again = _solve("full_reopt", free, problem, solver, description, start=start.design.assignment)
    if again.design is None or not again.feasible:
        return found
    if found.feasible and found.design.extra["score"] <= again.design.extra["score"]:
        return found
    return dataclasses.replace(again, seconds=found.seconds + again.seconds)


def headcount(problem: Problem, solver: SolverSettings, delta: int, seed: int) -> ScenarioDesign:
    """Add `delta` reps (homes by p-median where coverage is thinnest) or remove `-delta`.

    engine.staffing.change_headcount builds the organisation (new reps appended with status
    `new`; removed reps marked `leaving`, so today's rep indices stay valid); the design is a
    full re-optimisation for it, from the solver's construction (today's assignment by default).
    """
    instance, change = change_headcount(problem.instance, delta, seed)
    organisation = build_problem(instance, problem.objective)
    rules = dataclasses.replace(
        problem.objective.rules, max_moved=None, max_moved_potential_share=None
    )
    return _solve(
        "headcount", _with_rules(organisation, rules), organisation, solver, change.description
    )


def specialisation(
    problem: Problem, solver: SolverSettings, segments: Sequence[str] | None = None
) -> ScenarioDesign:
    """Segment teams: each rep serves only the segments of its team.

    Every segment in `segments` (None: every segment with accounts) gets a dedicated team; the
    other segments share a general team. Seats are split among the staying reps in proportion to
    each team's workload (at least one each, largest remainders), and reps are matched to seats
    by the Hungarian method, preferring reps skilled in the team's segments, then those whose
    book today is most in them; a specialist joins only a team of its skills. Then every staying
    rep becomes a specialist of its team's segments and the `specialists` hard rule (DESIGN §3)
    does the rest: an account may go only to a rep of its segment's team. The design is a full
    re-optimisation under that rule, from the solver's construction; its skill mismatch is reported
    against the reps' listed skills, as for every other design. Locked (and protected) accounts
    keep their owners, whatever the owner's team; an account that no rep of its team may hold
    (the team's reps cover none of its region, or are barred) may go to any rep the other rules
    allow, and the description counts them.

    Raises
    ------
    TerrasimError
        A segment in `segments` that no account has.
    """
    acc = problem.instance.accounts
    names = acc.segment_names
    if segments is not None:
        unknown = [s for s in segments if s not in names]
        if unknown:
            raise TerrasimError(f"specialisation: unknown segment(s) {unknown}; known {names}")
    try:
        skill, teams = segment_teams(problem, segments)
    except InfeasibleError as exc:
        return ScenarioDesign(
            "specialisation", None, problem, problem, "segment teams", note=str(exc)
        )
    reps = problem.instance.reps
    staying = reps.status != LEAVING
    # Locked and protected accounts stay with their owners whatever their segment: they get a
    # segment of their own that every rep is skilled in, so that the specialists rule passes
    # them (and only them) while the locks keep them in place.
    exempt = held_accounts(problem)
    teamed = dataclasses.replace(
        reps,
        skill=np.hstack([skill, np.ones((reps.n_reps, 1), dtype=bool)]),
        specialist=np.where(staying, True, reps.specialist),
    )
    rules = dataclasses.replace(
        problem.objective.rules, specialists=True, max_moved=None, max_moved_potential_share=None
    )
    objective = dataclasses.replace(problem.objective, rules=rules)

    def specialised_problem(exempt: np.ndarray) -> Problem:
        segment = np.where(exempt, len(names), acc.segment)
        accounts = dataclasses.replace(acc, segment=segment, segment_names=(*names, "(any team)"))
        instance = dataclasses.replace(problem.instance, accounts=accounts, reps=teamed)
        return build_problem(instance, objective)

    specialised = specialised_problem(exempt)
    # An account whose segment's team has no rep it may have (regions, barred) is not left
    # without one: like a held account, any rep the other rules allow may take it.
    uncovered = candidate_lists(specialised, 1).rep[:, 0] < 0
    if uncovered.any():
        specialised = specialised_problem(exempt | uncovered)
    description = "teams: " + "; ".join(f"{team} {len(ids)}" for team, ids in teams.items())
    if exempt.any():
        description += f"; {int(exempt.sum()):,} locked accounts stay with their owners"
    if uncovered.any():
        description += (
            f"; {int(uncovered.sum()):,} accounts no rep of their team may hold (regions, "
            "barred) go to any team"
        )
    return _solve("specialisation", specialised, problem, solver, description)


def segment_teams(
    problem: Problem, segments: Sequence[str] | None = None
) -> tuple[np.ndarray, dict[str, list[str]]]:
    """Split the staying reps into segment teams (see `specialisation`).

    Returns
    -------
    skill : bool[n_reps, n_segments]
        Each staying rep's team segments (a specialist's: those of its skills); leaving reps
        keep their listed skills.
    teams : dict of str to list of str
        Team name (a segment, or "general") to its rep ids.

    Raises
    ------
    InfeasibleError
        Fewer staying reps than teams.
    """
    acc, reps = problem.instance.accounts, problem.instance.reps
    n_segments = len(acc.segment_names)
    workload = np.bincount(acc.segment, weights=acc.workload, minlength=n_segments)
    present = np.flatnonzero(np.bincount(acc.segment, minlength=n_segments) > 0)
    chosen = (
        present
        if segments is None
        else np.array(sorted(acc.segment_names.index(s) for s in segments), dtype=np.int64)
    )
    team_segments = [np.array([s]) for s in chosen]
    team_names = [acc.segment_names[s] for s in chosen]
    rest = np.setdiff1d(present, chosen)
    if rest.size:
        team_segments.append(rest)
        team_names.append("general")
    staying = np.flatnonzero(reps.status != LEAVING)
    if staying.size < len(team_segments):
        raise InfeasibleError(
            "specialists",
            f"{staying.size} staying reps cannot form {len(team_segments)} segment teams "
            f"({', '.join(team_names)})",
        )
    team_workload = np.array([workload[segs].sum() for segs in team_segments])
    seats = _seats(team_workload, staying.size)
    seat_team = np.repeat(np.arange(len(team_segments)), seats)

    held = acc.current_rep >= 0
    book = np.zeros((reps.n_reps, n_segments))
    np.add.at(book, (acc.current_rep[held], acc.segment[held]), acc.potential[held])
    total = book.sum(axis=1, keepdims=True)
    share = np.divide(book, total, out=np.zeros_like(book), where=total > 0)
    affinity = np.empty((staying.size, len(team_segments)))
    for t, segs in enumerate(team_segments):
        skilled = reps.skill[staying][:, segs].any(axis=1)
        affinity[:, t] = share[staying][:, segs].sum(axis=1) + _SKILL_AFFINITY * skilled
        affinity[reps.specialist[staying] & ~skilled, t] = _FORBIDDEN
    rows, cols = linear_sum_assignment(-affinity[:, seat_team])
    skill = reps.skill.copy()
    teams: dict[str, list[str]] = {name: [] for name in team_names}
    for r, c in zip(rows, cols, strict=True):
        j, t = staying[r], seat_team[c]
        skill[j] = False
        skill[j, team_segments[t]] = True
        if reps.specialist[j]:
            skill[j] &= reps.skill[j]  # a specialist in the general team keeps to its skills
        teams[team_names[t]].append(str(reps.ids[j]))
    return skill, teams


def _seats(weights: np.ndarray, n: int) -> np.ndarray:
    """Split n seats in proportion to weights, at least one each (largest remainders)."""
    total = weights.sum()
    quota = weights / total * n if total > 0 else np.full(weights.size, n / weights.size)
    seats = np.maximum(1, np.floor(quota)).astype(np.int64)
    while seats.sum() > n:
        over = np.where(seats > 1, seats - quota, -np.inf)
        seats[int(np.argmax(over))] -= 1
    while seats.sum() < n:
        seats[int(np.argmax(quota - seats))] += 1
    return seats


def hybrid(
    problem: Problem,
    solver: SolverSettings,
    named_potential: float,
    weights: dict[str, float] | None = None,
) -> ScenarioDesign:
    """Named accounts keep their owners; the rest is designed geographically.

    Accounts held today with potential at or above `named_potential` are protected (the
    `protected_potential` hard rule, DESIGN §3: they never move). The others start from a
    greenfield design (p-median territory centres, DESIGN §4) and the search minimises the
    run's weights updated with `weights` (by default travel weighted 1.0 and no cost for
    disruption), with no disruption budget.
    """
    rules = problem.objective.rules
    threshold = float(named_potential)
    if rules.protected_potential is not None:
        threshold = min(threshold, rules.protected_potential)
    rules = dataclasses.replace(
        rules, protected_potential=threshold, max_moved=None, max_moved_potential_share=None
    )
    objective = dataclasses.replace(
        problem.objective,
        weights={**problem.objective.weights, **(weights or {})},
        rules=rules,
    )
    geographic = _unheld_where_forced(build_problem(problem.instance, objective))
    settings = dataclasses.replace(
        solver,
        construction="greenfield",
        greenfield_time_limit=min(solver.greenfield_time_limit, solver.time_limit),
    )
    n_named = int(geographic.accounts.protected.sum())
    return _solve(
        "hybrid",
        geographic,
        problem,
        settings,
        f"{n_named} named accounts (potential >= {threshold:,.0f}) keep their owners",
    )


def named_threshold(problem: Problem, quantile: float, potential: float | None = None) -> float:
    """The potential from which an account is named: `potential`, else that quantile."""
    if potential is not None:
        return float(potential)
    values = problem.instance.accounts.potential
    return float(np.quantile(values, quantile)) if values.size else 0.0


def departure(
    problem: Problem, solver: SolverSettings, rep_id: str | None = None
) -> ScenarioDesign:
    """One rep leaves; its accounts are redistributed and nothing else moves.

    The rep (`departing_rep`) gets status `leaving`; every account held today by a staying rep
    is locked to it, so the search places only the leaver's accounts (on the run's weights:
    balance, travel), from today's assignment. Accounts unassigned today stay unassigned.
    """
    leaver = departing_rep(problem, rep_id)
    reps = problem.instance.reps
    status = reps.status.copy()
    status[leaver] = LEAVING
    instance = dataclasses.replace(problem.instance, reps=dataclasses.replace(reps, status=status))
    organisation = build_problem(instance, problem.objective)
    current = organisation.accounts.current_rep
    stays = (current >= 0) & ~organisation.reps.leaving[np.maximum(current, 0)]
    rules = dataclasses.replace(
        problem.objective.rules,
        locked=True,
        max_moved=None,
        max_moved_potential_share=None,
    )
    fixed = _with_rules(organisation, rules)
    fixed = dataclasses.replace(
        fixed,
        accounts=fixed.accounts._replace(locked=stays, protected=fixed.accounts.protected & stays),
    )
    fixed = _unheld_where_forced(fixed)
    n_moving = int(((current >= 0) & ~fixed.accounts.locked).sum())
    return _solve(
        "departure",
        fixed,
        organisation,
        dataclasses.replace(solver, construction="today"),
        f"{reps.ids[leaver]} leaves; {n_moving} accounts redistributed, the rest fixed",
        finish=lambda design: np.where(current >= 0, design, -1),
    )


def _unheld_where_forced(problem: Problem) -> Problem:
    """The problem without locks or protection on the accounts the team forces to move.

    The forced accounts are engine.infeasibility.forced_moves's: a scenario's own lock never
    holds an account on a rep it may no longer have (a user's lock there is refused at
    validation instead).
    """
    forced = forced_accounts(problem)
    if not forced.any():
        return problem
    acc = problem.accounts
    return dataclasses.replace(
        problem,
        accounts=acc._replace(locked=acc.locked & ~forced, protected=acc.protected & ~forced),
    )


def departing_rep(problem: Problem, rep_id: str | None) -> int:
    """Index of the leaving rep: `rep_id`, or the staying rep with the most accounts today.

    Raises
    ------
    TerrasimError
        `rep_id` names no rep, or a rep who is already leaving; no rep is staying.
    """
    reps = problem.instance.reps
    staying = reps.status != LEAVING
    if rep_id is not None:
        ids = reps.ids.tolist()
        if rep_id not in ids:
            shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
            raise TerrasimError(f"scenarios.departure.rep: no rep '{rep_id}' (reps: {shown})")
        j = ids.index(rep_id)
        if not staying[j]:
            raise TerrasimError(f"scenarios.departure.rep: rep '{rep_id}' is already leaving")
        return j
    if not staying.any():
        raise TerrasimError("scenarios.departure: no staying rep to leave")
    current = problem.instance.accounts.current_rep
    counts = np.bincount(current[current >= 0], minlength=reps.n_reps)
    return int(np.argmax(np.where(staying, counts, -1)))


# -- designing ------------------------------------------------------------------------------


def _with_rules(problem: Problem, rules: Any) -> Problem:
    """The same problem under other rules (only the rule switches and bounds change)."""
    objective = dataclasses.replace(problem.objective, rules=rules)
    total = float(problem.instance.accounts.potential.sum())
    return dataclasses.replace(
        problem, objective=objective, rules=rule_arrays(objective, problem.measure_names, total)
    )


def _solve(
    name: str,
    problem: Problem,
    organisation: Problem,
    solver: SolverSettings,
    description: str,
    start: np.ndarray | None = None,
    finish: Callable[[np.ndarray], np.ndarray] | None = None,
) -> ScenarioDesign:
    """Optimise `problem` and wrap the design; an InfeasibleError becomes a design-less row."""
    started = time.perf_counter()
    settings = dataclasses.replace(solver, raise_infeasible=False)
    try:
        found: Design = optimize(problem, settings, start=start)
    except InfeasibleError as exc:
        return ScenarioDesign(
            name,
            None,
            problem,
            organisation,
            description,
            note=str(exc),
            seconds=time.perf_counter() - started,
        )
    assignment = found.assignment if finish is None else finish(found.assignment)
    under_rules = evaluate(problem, assignment)
    evaluation = dataclasses.replace(
        evaluate(organisation, assignment), violations=under_rules.violations
    )
    broken = [k for k, v in under_rules.violations.items() if v > FEASIBILITY_TOLERANCE]
    # A rule today's design breaks too is often why (e.g. reps over capacity who keep their book).
    today = evaluate(problem, problem.accounts.current_rep).violations
    broken = [f"{k} (as today's design)" if today[k] > FEASIBILITY_TOLERANCE else k for k in broken]
    design = NamedDesign(
        name,
        assignment,
        evaluation,
        {
            "score": found.score,
            "moves": found.moves,
            "stopped": found.stopped,
            "construction": found.construction,
        },
    )
    return ScenarioDesign(
        name,
        design,
        problem,
        organisation,
        description,
        note=f"breaks hard rule(s): {', '.join(broken)}" if broken else "",
        seconds=time.perf_counter() - started,
    )


def design_scenarios(
    problem: Problem,
    settings: ScenarioSettings,
    solver: SolverSettings,
    seed: int,
    progress: bool = False,
) -> list[ScenarioDesign]:
    """Design the scenarios in `settings.run`, in SCENARIOS order.

    Each search gets `settings.time_limit` seconds; full re-optimisation also starts from the
    status-quo-plus design when that one was designed and scores better (see `full_reopt`).

    Raises
    ------
    TerrasimError
        A setting the instance cannot meet (an unknown departing rep or segment).
    """
    check_scenario_settings(settings)
    check_against_problem(problem, settings)
    solver = dataclasses.replace(solver, time_limit=settings.time_limit)
    s = settings
    budget = (
        s.status_quo_plus_accounts
        if s.status_quo_plus_accounts is not None
        else int(round(s.status_quo_plus_share * problem.n_accounts))
    )
    done: dict[str, ScenarioDesign] = {}
    builders: dict[str, Callable[[], ScenarioDesign]] = {
        "status_quo_plus": lambda: status_quo_plus(
            problem, solver, budget, s.status_quo_plus_candidates
        ),
        "full_reopt": lambda: full_reopt(problem, solver, done.get("status_quo_plus")),
        "headcount": lambda: headcount(problem, solver, s.headcount_delta, seed),
        "specialisation": lambda: specialisation(problem, solver, s.specialisation_segments),
        "hybrid": lambda: hybrid(
            problem,
            solver,
            named_threshold(problem, s.hybrid_named_quantile, s.hybrid_named_potential),
            s.hybrid_weights,
        ),
        "departure": lambda: departure(problem, solver, s.departure_rep),
    }
    for name in SCENARIOS:
        if name not in s.run:
            continue
        done[name] = builders[name]()
        if progress:
            _report(done[name])
    return list(done.values())


def _report(scenario: ScenarioDesign) -> None:
    d = scenario.design
    state = "feasible" if scenario.feasible else f"INFEASIBLE ({scenario.note})"
    moved = "" if d is None else f", {int(d.evaluation.metrics['accounts_moved'])} moved"
    print(
        f"[scenarios] {scenario.name:<16} {state}{moved}, {scenario.seconds:.1f} s: "
        f"{scenario.description}",
        file=sys.stderr,
    )


# -- stress test and comparison -----------------------------------------------------------------


def stress_scenarios(
    problem: Problem,
    scenarios: Sequence[ScenarioDesign],
    params: SimParams,
    n_scenarios: int,
    seed: int,
    batch_size: int,
    runner: Any = None,
) -> tuple[StressResult, list[str]]:
    """Simulate today's design and every scenario design under common random numbers.

    Designs for one organisation are simulated together; a scenario with other reps (headcount,
    departure) is simulated on its own instance, with today's design as row 0. Every instance is
    padded with empty seats (engine.staffing.with_empty_seats: leaving reps who hold nothing,
    which book nothing and count no departure, quota or target) to the largest headcount, so
    every run draws the same random numbers in scenario k (the draws depend on the sizes
    alone, DESIGN §5). The runs then combine into one result, paired scenario by scenario with
    today's design on today's reps; the other runs' row 0 (today's design with those reps) is
    dropped. Scenarios without a design are left out.

    Simulating everything on the instance with the added reps instead would distort the other
    designs: a `new` rep with no accounts is a seat with a turnover hazard (departures counted)
    and a capacity share that lowers every other rep's target potential.

    Returns
    -------
    StressResult
        Row 0 today's design, then the scenarios with a design, in order.
    labels : list of str
        "today", then the scenario names.
    """
    designed = [s for s in scenarios if s.design is not None]
    groups: dict[int, list[ScenarioDesign]] = {id(problem.instance): []}
    instances: dict[int, Instance] = {id(problem.instance): problem.instance}
    for s in designed:
        key = id(s.organisation.instance)
        groups.setdefault(key, []).append(s)
        instances[key] = s.organisation.instance
    n_reps = max(instance.reps.n_reps for instance in instances.values())
    today = problem.instance.accounts.current_rep
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for key, members in groups.items():
        instance = with_empty_seats(instances[key], n_reps)
        designs = np.stack([today, *(s.design.assignment for s in members)])
        result = simulate_designs(instance, designs, params, n_scenarios, seed, batch_size, runner)
        if key == id(problem.instance):
            parts["today"] = (result.month_bookings[0], result.metrics[0])
        for row, s in enumerate(members, start=1):
            parts[s.name] = (result.month_bookings[row], result.metrics[row])
    labels = ["today", *(s.name for s in designed)]
    combined = StressResult(
        month_bookings=np.stack([parts[label][0] for label in labels]),
        metrics=np.stack([parts[label][1] for label in labels]),
        seed=int(seed),
        params=params,
    )
    return combined, labels


def comparison_table(
    problem: Problem,
    today: NamedDesign,
    scenarios: Sequence[ScenarioDesign],
    summary: pa.Table,
) -> pa.Table:
    """scenarios_summary.arrow: one row for today, then one per scenario, side by side.

    Columns: scenario, description, feasible, note, reps (staying), the five objectives of
    DESIGN §3 and accounts_moved (each design evaluated for its own reps), then from the stress
    test (`summary`, rows labelled by scenario): expected_bookings (mean), p5_bookings,
    p95_bookings, cvar5_bookings, p_beats_today, gain_vs_today, break_even_month,
    expected_departures, expected_churned_accounts, and `recommended` (see `recommend`).
    A scenario without a design, or not simulated, has nulls there.
    """
    stress = {row["design"]: row for row in summary.to_pylist()}
    rows: list[dict[str, Any]] = []
    entries: list[tuple[str, str, NamedDesign | None, Problem, bool, str]] = [
        ("today", "today's assignment", today, problem, today.evaluation.feasible, "")
    ]
    entries += [
        (s.name, s.description, s.design, s.organisation, s.feasible, s.note) for s in scenarios
    ]
    chosen = recommend(scenarios, summary)
    for name, description, design, organisation, feasible, note in entries:
        row: dict[str, Any] = {
            "scenario": name,
            "description": description,
            "feasible": bool(feasible),
            "note": note,
            "reps": int((organisation.reps.target_share > 0).sum()),
        }
        values = design.evaluation if design is not None else None
        for objective in OBJECTIVE_NAMES:
            row[objective] = None if values is None else values.objectives[objective]
        row["accounts_moved"] = None if values is None else int(values.metrics["accounts_moved"])
        sim = stress.get(name)
        row.update(
            {
                "expected_bookings": _get(sim, "mean"),
                "p5_bookings": _get(sim, "p5"),
                "p95_bookings": _get(sim, "p95"),
                "cvar5_bookings": _get(sim, "cvar5"),
                "p_beats_today": _get(sim, "prob_beat_today"),
                "gain_vs_today": _get(sim, "gain_vs_today"),
                "break_even_month": _get(sim, "break_even_month"),
                "expected_departures": _get(sim, "expected_departures"),
                "expected_churned_accounts": _get(sim, "expected_churned_accounts"),
                "recommended": name == chosen,
            }
        )
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=_COMPARISON_SCHEMA)


def _get(row: dict[str, Any] | None, key: str) -> Any:
    return None if row is None else row[key]


_COMPARISON_SCHEMA = pa.schema(
    [
        ("scenario", pa.string()),
        ("description", pa.string()),
        ("feasible", pa.bool_()),
        ("note", pa.string()),
        ("reps", pa.int64()),
        *((name, pa.float64()) for name in OBJECTIVE_NAMES),
        ("accounts_moved", pa.int64()),
        ("expected_bookings", pa.float64()),
        ("p5_bookings", pa.float64()),
        ("p95_bookings", pa.float64()),
        ("cvar5_bookings", pa.float64()),
        ("p_beats_today", pa.float64()),
        ("gain_vs_today", pa.float64()),
        ("break_even_month", pa.int64()),
        ("expected_departures", pa.float64()),
        ("expected_churned_accounts", pa.float64()),
        ("recommended", pa.bool_()),
    ]
)


def recommend(scenarios: Sequence[ScenarioDesign], summary: pa.Table) -> str | None:
    """The recommended scenario: the feasible redesign for today's reps that books the most.

    Redesigns are status quo plus, full re-optimisation, specialisation and hybrid (a headcount
    change or a departure is a what-if about other reps); among the feasible ones that were
    simulated, the highest expected bookings (mean over the scenarios) wins, ties to fewer
    accounts moved, then to SCENARIOS order. When no redesign is feasible, the same rule over
    every feasible scenario; None when none is.
    """
    mean = {row["design"]: row["mean"] for row in summary.to_pylist()}
    feasible = [s for s in scenarios if s.feasible and s.name in mean]
    pool = [s for s in feasible if s.name in REDESIGNS] or feasible
    if not pool:
        return None
    best = min(
        pool,
        key=lambda s: (
            -mean[s.name],
            s.design.evaluation.metrics["accounts_moved"],
            SCENARIOS.index(s.name),
        ),
    )
    return best.name


def scenario_designs_table(
    today: NamedDesign,
    problem: Problem,
    scenarios: Sequence[ScenarioDesign],
    recommended: str | None = None,
) -> pa.Table:
    """designs.arrow: today's design and each scenario's (engine.designs.designs_table rows).

    Each row names reps by the ids of its own organisation (a headcount design names the new
    reps); a scenario without a design has no row. Extra columns: scenario, description, and the
    search's score, moves, stopped and construction; `recommended` marks the recommended
    scenario's row.
    """
    rows = designs_table(
        problem, [dataclasses.replace(today, extra={"scenario": "today"})], recommended or ""
    ).to_pylist()
    for s in scenarios:
        if s.design is None:
            continue
        extra = {"scenario": s.name, "description": s.description, **(s.design.extra or {})}
        marked = s.design.label if s.name == recommended else ""
        rows += designs_table(
            s.organisation, [dataclasses.replace(s.design, extra=extra)], marked
        ).to_pylist()
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return pa.table({k: [row.get(k) for row in rows] for k in keys})
