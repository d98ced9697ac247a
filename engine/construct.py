"""Starting designs for the local search (DESIGN §4): today's, greedy regret, and greenfield.

Each returns a design: int64[n_accounts] rep indices, -1 where no rep may hold an account.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from engine.candidates import Candidates, candidate_lists
from engine.greenfield import choose_centres_geo
from engine.problem import Problem
from kernels.arrays import (
    RULE_BARRED,
    RULE_CAPACITY,
    RULE_LEAVING,
    RULE_LOCKED,
    RULE_MAX_DISTANCE,
    RULE_PROTECTED,
    RULE_REGIONS,
    RULE_SPECIALISTS,
    WORKLOAD,
)
from kernels.search import assign_greedy, design_distances

# `lp` is engine/relaxation.py; `auto` is resolved by engine.optimize.resolved_construction.
CONSTRUCTIONS = ("auto", "today", "regret", "greenfield", "lp")


def from_today(problem: Problem, candidates: Candidates | None = None) -> np.ndarray:
    """Today's assignment, made to meet the unary rules.

    An account that is unassigned today, or whose current rep it may not have (a leaving rep,
    a rep outside its region, ...), goes to its nearest allowed rep; the others keep theirs.

    Parameters
    ----------
    problem : Problem
    candidates : Candidates, optional
        From `candidate_lists` (computed when omitted).

    Returns
    -------
    int64[n_accounts]
    """
    if candidates is None:
        candidates = candidate_lists(problem)
    design = problem.accounts.current_rep.copy()
    return place_misplaced(problem, design, candidates)


def place_misplaced(problem: Problem, design: np.ndarray, candidates: Candidates) -> np.ndarray:
    """Put accounts that are unassigned or on a rep they may not have on their nearest allowed rep.

    Parameters
    ----------
    problem : Problem
    design : int64[n_accounts]
        Changed in place and returned. Accounts with no allowed rep keep their value.
    candidates : Candidates

    Returns
    -------
    int64[n_accounts]
    """
    place = ~is_allowed(problem, design) & (candidates.rep[:, 0] >= 0)
    design[place] = candidates.rep[place, 0]
    return design


def is_allowed(problem: Problem, design: np.ndarray) -> np.ndarray:
    """bool[n_accounts]: each account is on a rep the unary rules let it have (not unassigned).

    The rules of `candidate_lists`: regions, specialists, barred, leaving, max_distance, locked,
    protected, each only where switched on.
    """
    acc, reps, on = problem.accounts, problem.reps, problem.rules.on
    held = design >= 0
    rep = np.where(held, design, 0)
    ok = held.copy()
    if on[RULE_REGIONS]:
        ok &= reps.region_ok[rep, acc.region]
    if on[RULE_SPECIALISTS]:
        ok &= ~reps.specialist[rep] | reps.skill[rep, acc.segment]
    if on[RULE_LEAVING]:
        ok &= ~reps.leaving[rep]
    if on[RULE_BARRED]:
        owner = np.repeat(np.arange(design.shape[0]), np.diff(acc.barred_ptr))
        ok[owner[design[owner] == acc.barred_rep]] = False
    if on[RULE_MAX_DISTANCE]:
        km = np.empty(design.shape[0])
        design_distances(np.asarray(design, dtype=np.int64), acc, reps, problem.distance, km)
        ok &= km <= problem.rules.max_distance
    stays = np.zeros(design.shape[0], dtype=bool)
    if on[RULE_LOCKED]:
        stays |= acc.locked
    if on[RULE_PROTECTED]:
        stays |= acc.protected
    ok &= ~stays | (design == acc.current_rep)
    return ok


def greedy_regret(problem: Problem, candidates: Candidates) -> np.ndarray:
    """Assign accounts by regret: the largest gap between best and second-best rep goes first.

    The regret of an account is d(second nearest allowed rep) − d(nearest); accounts with one
    allowed rep (locked, protected, or constrained) go first. Each account takes its nearest
    candidate whose workload stays within its fair share W*_j = s_j · ΣW (and within capacity
    when that rule is on); when none has room, the one it overfills least.

    Parameters
    ----------
    problem : Problem
    candidates : Candidates

    Returns
    -------
    int64[n_accounts]
    """
    n_accounts = problem.n_accounts
    workload = problem.accounts.measures[WORKLOAD]
    limit = problem.reps.target_share * workload.sum()
    if problem.rules.on[RULE_CAPACITY]:
        limit = np.minimum(limit, problem.reps.capacity * (1.0 + problem.rules.capacity_slack))
    dist = candidates.distance
    second = dist[:, 1] if dist.shape[1] > 1 else np.full(n_accounts, np.inf)
    regret = np.where(np.isfinite(second), second - dist[:, 0], np.inf)
    # Largest regret first; ties by account index (a stable sort of the negated regret).
    order = np.argsort(-regret, kind="stable").astype(np.int64)
    design = np.full(n_accounts, -1, dtype=np.int64)
    load = np.zeros(problem.n_reps)
    assign_greedy(order, candidates.rep, workload, limit, load, design)
    return design


def greenfield(
    problem: Problem,
    seed: int = 0,
    candidates: Candidates | None = None,
    time_limit: float = 5.0,
) -> np.ndarray:
    """Territories designed from scratch around p-median centres, one per staying rep.

    Centres: p = number of staying reps accounts chosen by p-median, weighted by workload
    (engine.greenfield.choose_centres_geo). Reps are matched to centres by the Hungarian method
    on home-to-centre distance; each account then goes to the rep of its nearest centre among
    the reps it may have. Locked (and protected) accounts keep their rep. Today's assignment is
    not used, so this works when there is none.

    Parameters
    ----------
    problem : Problem
    seed : int
        Seeds the p-median search.
    candidates : Candidates, optional
        The search's candidate lists; only used when no rep is staying.
    time_limit : float
        Seconds for the p-median search.

    Returns
    -------
    int64[n_accounts]
    """
    acc, reps = problem.instance.accounts, problem.reps
    staying = np.flatnonzero(reps.target_share > 0)
    n_accounts = problem.n_accounts
    if staying.size == 0 or n_accounts == 0:
        if candidates is None:
            candidates = candidate_lists(problem)
        return from_today(problem, candidates)
    p = int(min(staying.size, n_accounts))
    workload = problem.accounts.measures[WORKLOAD]
    weights = workload if workload.sum() > 0 else None
    found = choose_centres_geo(
        acc.lat,
        acc.lon,
        p,
        weights=weights,
        circuity=problem.distance.circuity,
        seed=seed,
        time_limit=time_limit,
    )
    centre_xyz = problem.accounts.xyz[found.centres]
    # Hungarian matching of staying reps to centres on home-to-centre distance (km).
    gaps = reps.xyz[staying][:, None, :] - centre_xyz[None, :, :]
    chord = np.sqrt((gaps * gaps).sum(axis=2))
    scale = 2.0 * problem.distance.radius_km * problem.distance.circuity
    rows, cols = linear_sum_assignment(scale * np.arcsin(np.minimum(0.5 * chord, 1.0)))
    # With more staying reps than accounts, the unmatched reps keep their homes as sites.
    site_xyz = reps.xyz.copy()
    site_xyz[staying[rows]] = centre_xyz[cols]
    nearest_site = candidate_lists(problem, k=1, site_xyz=site_xyz, include_current=False)
    return nearest_site.rep[:, 0].copy()
