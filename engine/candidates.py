"""Candidate lists for the local search (DESIGN §4): each account's k nearest allowed reps.

Allowed means by the unary rules (regions, specialists, barred, leaving, max_distance, locked,
protected).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.spatial import cKDTree

from engine.problem import Problem
from kernels.arrays import (
    RULE_BARRED,
    RULE_LEAVING,
    RULE_LOCKED,
    RULE_MAX_DISTANCE,
    RULE_NAMES,
    RULE_PROTECTED,
    RULE_REGIONS,
    RULE_SPECIALISTS,
)
from kernels.search import design_distances, rep_distances, select_candidates

# The tree is asked for this many times k reps (at least k + 4): on `enterprise`, 98% of the
# accounts find k = 8 allowed reps among their 12 nearest; the rest are searched over every rep.
_QUERY_FACTOR = 1.5
_QUERY_MARGIN = 4


class Candidates(NamedTuple):
    """Candidate reps of each account, nearest first.

    Attributes
    ----------
    rep : int64[n_accounts, k]
        Rep indices, -1 padded when fewer than k reps are allowed.
    distance : float64[n_accounts, k]
        d(i, rep[i, c]) in km (DESIGN §3), inf where padded.
    """

    rep: np.ndarray
    distance: np.ndarray

    @property
    def count(self) -> np.ndarray:
        """int64[n_accounts]: how many reps each account may go to (within its list)."""
        return (self.rep >= 0).sum(axis=1)


def candidate_lists(
    problem: Problem,
    k: int = 8,
    site_xyz: np.ndarray | None = None,
    include_current: bool = True,
) -> Candidates:
    """Each account's k nearest reps that the unary rules allow.

    Allowed: the rep is not leaving, covers the account's region, is not a specialist outside
    the account's segment, and is not barred by the account (each only when its rule is on); a
    locked account (locked rule on) allows only its current rep, and so does a protected one
    (protected rule on). The account's current rep, when allowed, is always in its list (in
    place of the k-th nearest). Ties in distance go to the lower rep index.

    Locations are unit vectors, so the nearest reps come from a KD-tree query (more than k,
    then filtered; an account short of k allowed reps is searched over every rep). With an
    explicit distance matrix every row is searched in full.

    Parameters
    ----------
    problem : Problem
    k : int
        List length; at most n_reps.
    site_xyz : float64[n_reps, 3], optional
        Measure distances to these points instead of the rep homes (greenfield centres);
        always by great circle, even when the instance has a distance matrix.
    include_current : bool
        Keep the current rep in the list when it is allowed.

    Returns
    -------
    Candidates
    """
    n_accounts, n_reps = problem.n_accounts, problem.n_reps
    k = int(max(1, min(k, n_reps)))
    reps, distance = problem.reps, problem.distance
    if site_xyz is not None:
        reps = reps._replace(xyz=np.ascontiguousarray(site_xyz, dtype=np.float64))
        distance = distance._replace(matrix=np.zeros((0, 0)))
    if distance.matrix.shape[0] > 0 or n_accounts == 0:
        nearest = np.zeros((n_accounts, 0), dtype=np.int64)
    else:
        q = min(n_reps, max(int(np.ceil(_QUERY_FACTOR * k)), k + _QUERY_MARGIN))
        _, nearest = cKDTree(reps.xyz).query(problem.accounts.xyz, k=q)
        nearest = np.ascontiguousarray(nearest.reshape(n_accounts, q), dtype=np.int64)
    rep = np.empty((n_accounts, k), dtype=np.int64)
    dist = np.empty((n_accounts, k), dtype=np.float64)
    select_candidates(
        nearest, problem.accounts, reps, distance, problem.rules, include_current, rep, dist
    )
    return Candidates(rep=rep, distance=dist)


def with_design(problem: Problem, candidates: Candidates, design: np.ndarray) -> Candidates:
    """The lists with each account's rep in `design` in them, nearest first.

    A start (an LP construction's, or one passed in) may put an account past its k nearest
    reps; the search can only move it to listed reps, so without this it could leave such a
    rep but never come back. The added rep takes the place of the farthest one that is not
    the account's current rep. Reps in `design` are assumed allowed (-1: nothing added).
    """
    rep, distance = candidates.rep, candidates.distance
    k = rep.shape[1]
    missing = np.flatnonzero((design >= 0) & ~(rep == design[:, None]).any(axis=1))
    if missing.size == 0:
        return candidates
    rep, distance = rep.copy(), distance.copy()
    current = problem.accounts.current_rep[missing]
    # The last slot, or the one before it where the last holds the current rep.
    slot = np.where((rep[missing, k - 1] == current) & (k > 1), k - 2, k - 1)
    added = design[missing].astype(np.int64)
    added_distance = np.empty(problem.n_accounts)
    design_distances(
        design.astype(np.int64), problem.accounts, problem.reps, problem.distance, added_distance
    )
    added_distance = added_distance[missing]
    rep[missing, slot] = added
    distance[missing, slot] = added_distance
    # Nearest first again, ties to the lower rep index (padding, at inf, stays last).
    rows_rep, rows_distance = rep[missing], distance[missing]
    order = np.lexsort((rows_rep, rows_distance), axis=1)
    rep[missing] = np.take_along_axis(rows_rep, order, axis=1)
    distance[missing] = np.take_along_axis(rows_distance, order, axis=1)
    return Candidates(rep=rep, distance=distance)


def _within_reach(problem: Problem, i: int) -> np.ndarray:
    """bool[n_reps]: the reps within the max_distance rule's km of account i."""
    if not problem.rules.on[RULE_MAX_DISTANCE]:
        return np.ones(problem.n_reps, dtype=bool)
    km = np.empty(problem.n_reps)
    rep_distances(np.int64(i), problem.accounts, problem.reps, problem.distance, km)
    return km <= problem.rules.max_distance


def blocking_rules(problem: Problem, accounts: np.ndarray) -> dict[str, np.ndarray]:
    """For accounts no rep may hold, the unary rule that leaves each without a rep.

    The rules are applied one after another (leaving, regions, specialists, barred,
    max_distance, then locked and protected); an account is charged to the rule after which no
    rep is left.

    Parameters
    ----------
    problem : Problem
    accounts : int64[m]
        Account indices (those with an empty candidate list).

    Returns
    -------
    dict
        Rule name -> int64 account indices, in the order of the rules above.
    """
    acc, reps, on = problem.accounts, problem.reps, problem.rules.on
    n_reps = problem.n_reps
    blamed: dict[str, list[int]] = {}
    for i in np.asarray(accounts, dtype=np.int64).tolist():
        allowed = np.ones(n_reps, dtype=bool)
        barred = np.zeros(n_reps, dtype=bool)
        barred[acc.barred_rep[acc.barred_ptr[i] : acc.barred_ptr[i + 1]]] = True
        only_current = np.zeros(n_reps, dtype=bool)
        if acc.current_rep[i] >= 0:
            only_current[acc.current_rep[i]] = True
        steps = (
            (RULE_LEAVING, ~reps.leaving),
            (RULE_REGIONS, reps.region_ok[:, acc.region[i]]),
            (RULE_SPECIALISTS, ~reps.specialist | reps.skill[:, acc.segment[i]]),
            (RULE_BARRED, ~barred),
            (RULE_MAX_DISTANCE, _within_reach(problem, i)),
            (RULE_LOCKED, only_current if acc.locked[i] else np.ones(n_reps, dtype=bool)),
            (RULE_PROTECTED, only_current if acc.protected[i] else np.ones(n_reps, dtype=bool)),
        )
        rule = "unary rules"
        if n_reps > 0:
            for index, keep in steps:
                if on[index]:
                    allowed &= keep
                    if not allowed.any():
                        rule = RULE_NAMES[index]
                        break
        blamed.setdefault(rule, []).append(i)
    return {rule: np.array(ids, dtype=np.int64) for rule, ids in blamed.items()}
