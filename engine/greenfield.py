"""Greenfield construction (DESIGN §4): choose territory centres as a p-median on accounts.

`choose_centres` works on any distance matrix; `choose_centres_geo` builds one from coordinates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from engine.errors import TerrasimError
from kernels import pmedian
from kernels.geo import unit_vectors
from kernels.jit import interrupts_deferred

EARTH_RADIUS_KM = 6371.0
# One search run ends after max(100, 10 · p) perturbation rounds without improvement, and the
# search after 2 consecutive runs (restarts) that do not improve the best. Measured once on the
# OR-Library pmed instances with shakes up to 20 swaps (single runs, seeds 1–10): before its last
# improvement a run went at most about 1,200 rounds without one, mostly under 300 (p ≤ 10: 35),
# and 1 run of about 140 stalled 1 above the optimum, which the restarts cover.
_MIN_RUN_ROUNDS = 100
_RUN_ROUNDS_PER_CENTRE = 10
_DEFAULT_RESTARTS = 2
_MAX_SHAKE = 20  # largest perturbation, in random swaps (bounded by p and n_candidates − p)
_ROUND_SECONDS = 0.05  # the kernel returns to Python about this often to check the clock
_POOL_PER_CANDIDATE = 10  # geo: candidate sites are drawn from at most this many accounts each
_MAX_MATRIX_ENTRIES = 4_000_000  # geo: beyond n_accounts × n_candidates, pool weights on sites
_SITE_STREAM = 1  # geo: the site sampling draws from default_rng((seed, 1))


@dataclass(frozen=True)
class CentreResult:
    """Chosen centres and how the points are served.

    Attributes
    ----------
    centres : int64[p]
        Candidate indices of the chosen centres, ascending.
    objective : float
        Σ_i w_i · distance to the nearest chosen centre.
    assignment : int64[n_points]
        Candidate index of each point's nearest chosen centre (the lowest index on ties).
    iterations : int
        Local-search descents run: one per start plus one per perturbation round.
    seconds : float
        Wall time of the search, compilation included when it happened.
    """

    centres: np.ndarray
    objective: float
    assignment: np.ndarray
    iterations: int
    seconds: float


def choose_centres(
    distance: np.ndarray,
    p: int,
    weights: np.ndarray | None = None,
    seed: int = 0,
    time_limit: float = 10.0,
    restarts: int | None = None,
) -> CentreResult:
    """Choose p centres minimising Σ_i w_i · min_{c chosen} distance[i, c] (the p-median).

    Multi-start variable neighbourhood search (kernels/pmedian.py): each run starts from a
    randomised D-sampling start (k-means++-like) and repeats rounds of k random swaps (k = 1, 2,
    …, up to 20, back to 1 on improvement) each followed by a descent with the fast swap-based
    local search of Resende & Werneck (2007). Runs repeat until `restarts` of them in a row do
    not improve the best, or `time_limit` passes. The search never sees a known optimum.

    Parameters
    ----------
    distance : array_like of float, shape (n_points, n_candidates)
        Finite, non-negative distances from each point (account) to each candidate centre.
    p : int
        Number of centres, 1 ≤ p ≤ n_candidates.
    weights : array_like of float, shape (n_points,), optional
        Non-negative point weights (workload, potential); all 1 when omitted.
    seed : int
        Seeds every random draw; the result is a function of the seed alone when the search stops
        by `restarts` rather than by the clock.
    time_limit : float
        Seconds after which no new round starts (a round in progress finishes).
    restarts : int, optional
        Consecutive restarts that do not improve the best, after which the search stops
        (default 2; 0 runs one search). Each run starts afresh from a new random start and ends
        after max(100, 10 · p) perturbation rounds without improvement.

    Returns
    -------
    CentreResult

    Raises
    ------
    TerrasimError
        On a malformed matrix, weights or p.
    """
    started = time.perf_counter()
    distance, weights = _checked(distance, p, weights)
    n_points, n_candidates = distance.shape
    if p == n_candidates or p == 1:
        if p == 1:  # the weighted 1-median: one column sum per candidate
            centres = np.array([int(np.argmin(weights @ distance))], dtype=np.int64)
        else:
            centres = np.arange(n_candidates, dtype=np.int64)
        return _result(distance, weights, centres, 0, started)

    problem = pmedian.new_problem(distance, weights)
    state = pmedian.new_state(n_points, n_candidates, p)
    rng = np.random.default_rng(seed)
    scale = float(weights.sum()) * float(distance.max())
    tolerance = 1e-12 * scale
    run_rounds = max(_MIN_RUN_ROUNDS, _RUN_ROUNDS_PER_CENTRE * p)
    max_fruitless = _DEFAULT_RESTARTS if restarts is None else int(restarts)
    k_max = min(_MAX_SHAKE, p, n_candidates - p)
    deadline = started + time_limit

    best = state.best.copy()
    best_value = np.inf
    fruitless = -1  # the first run is not a restart
    descents = 0
    while fruitless < max_fruitless and (descents == 0 or time.perf_counter() < deadline):
        state.scalars[:] = 0.0
        with interrupts_deferred():
            pmedian.seed_centres(problem, rng, state.solution)
        pmedian.start_search(problem, state, tolerance)
        _run_rounds(problem, state, rng, run_rounds, k_max, tolerance, deadline)
        descents += 1 + int(state.scalars[pmedian.ROUNDS])
        if state.scalars[pmedian.BEST_OBJECTIVE] < best_value - tolerance:
            best_value = state.scalars[pmedian.BEST_OBJECTIVE]
            best[:] = state.best
            fruitless = 0
        else:
            fruitless += 1
    return _result(distance, weights, np.sort(best), descents, started)


def _run_rounds(problem, state, rng, run_rounds, k_max, tolerance, deadline) -> None:
    """Call the search kernel until `run_rounds` fruitless rounds in a row, or the deadline."""
    chunk = 1
    while state.scalars[pmedian.STALE_ROUNDS] < run_rounds:
        now = time.perf_counter()
        if now >= deadline:
            return
        with interrupts_deferred():
            pmedian.search_rounds(problem, state, rng, chunk, run_rounds, k_max, tolerance)
        took = time.perf_counter() - now
        # Size the next call to return about every _ROUND_SECONDS, without passing the deadline.
        per_round = max(took / chunk, 1e-7)
        budget = min(_ROUND_SECONDS, max(deadline - time.perf_counter(), 0.0))
        chunk = int(max(1, min(budget / per_round, 2 * chunk)))


def choose_centres_geo(
    lat: np.ndarray,
    lon: np.ndarray,
    p: int,
    weights: np.ndarray | None = None,
    circuity: float = 1.3,
    seed: int = 0,
    time_limit: float = 10.0,
    max_candidates: int = 2000,
    restarts: int | None = None,
) -> CentreResult:
    """Choose p centres among account locations, by great-circle distance × circuity (DESIGN §3).

    With n_accounts ≤ `max_candidates` every account is a candidate. Beyond that, candidate sites
    are drawn by weighted D²-sampling (as k-means++ seeds clusters: each next site is an account
    drawn with probability ∝ w_i · chord², chord to the nearest site so far), from a uniform pool of
    at most 10 · `max_candidates` accounts, so sites cover both the dense metros and the outliers.
    When n_accounts × n_candidates exceeds 4,000,000 the search serves the sites instead of the
    accounts: each account's weight is pooled on its nearest site. The returned assignment and
    objective are always exact over all accounts.

    Parameters
    ----------
    lat, lon : array_like of float, shape (n_accounts,)
        Account locations in degrees.
    p : int
        Number of centres, 1 ≤ p ≤ number of candidates.
    weights : array_like of float, shape (n_accounts,), optional
        Non-negative account weights (workload or potential); all 1 when omitted.
    circuity : float
        Road distance over great-circle distance (DESIGN §3 default 1.3).
    seed : int
        Seeds the site sampling and the search.
    time_limit : float
        Seconds for the search (see `choose_centres`).
    max_candidates : int
        Largest number of candidate sites.
    restarts : int, optional
        As in `choose_centres`.

    Returns
    -------
    CentreResult
        `centres` and `assignment` are account indices (the centre sits at that account);
        `objective` is Σ_i w_i · km to the nearest centre.
    """
    started = time.perf_counter()
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    if lat.ndim != 1 or lat.shape != lon.shape:
        raise TerrasimError("choose_centres_geo: lat and lon must be 1-D arrays of one length")
    bad = ~(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    if bad.any():
        raise TerrasimError(
            f"choose_centres_geo: {int(bad.sum())} coordinates are missing or out of range"
        )
    if not np.isfinite(circuity) or circuity <= 0:
        raise TerrasimError(f"choose_centres_geo: circuity must be > 0, got {circuity}")
    if max_candidates < 1:
        raise TerrasimError(f"choose_centres_geo: max_candidates must be ≥ 1, got {max_candidates}")
    n_accounts = lat.shape[0]
    weights = _checked_weights(weights, n_accounts)
    xyz = unit_vectors(lat, lon)
    rng = np.random.default_rng((seed, _SITE_STREAM))  # apart from the search's stream
    scale = circuity * EARTH_RADIUS_KM

    if n_accounts <= max_candidates:
        sites = np.arange(n_accounts, dtype=np.int64)
    else:
        pool_size = min(n_accounts, _POOL_PER_CANDIDATE * max_candidates)
        pool = np.sort(rng.choice(n_accounts, size=pool_size, replace=False))
        picked = np.empty(max_candidates, dtype=np.int64)
        with interrupts_deferred():
            pmedian.sample_sites(np.ascontiguousarray(xyz[pool]), weights[pool], rng, picked)
        sites = pool[np.sort(picked)]
    if not 1 <= p <= sites.shape[0]:
        raise TerrasimError(
            f"choose_centres_geo: p must be between 1 and {sites.shape[0]} candidates, got {p}"
        )

    site_xyz = np.ascontiguousarray(xyz[sites])
    if n_accounts * sites.shape[0] <= _MAX_MATRIX_ENTRIES:
        point_xyz, point_weights = xyz, weights
    else:
        _, nearest_site = cKDTree(site_xyz).query(xyz)
        point_xyz = site_xyz
        point_weights = np.bincount(nearest_site, weights=weights, minlength=sites.shape[0])
    distance = np.empty((point_xyz.shape[0], sites.shape[0]))
    pmedian.great_circle_matrix(point_xyz, site_xyz, scale, distance)
    remaining = max(time_limit - (time.perf_counter() - started), 0.0)
    found = choose_centres(
        distance, p, point_weights, seed=seed, time_limit=remaining, restarts=restarts
    )

    centres = np.sort(sites[found.centres])
    # Exact service over all accounts: the nearest centre by chord is the nearest by arc.
    _, nearest = cKDTree(xyz[centres]).query(xyz)
    chord = np.linalg.norm(xyz - xyz[centres[nearest]], axis=1)
    served_km = 2.0 * scale * np.arcsin(np.minimum(0.5 * chord, 1.0))
    objective = float(weights @ served_km)
    return CentreResult(
        centres=centres,
        objective=objective,
        assignment=centres[nearest],
        iterations=found.iterations,
        seconds=time.perf_counter() - started,
    )


def _checked_weights(weights, n_points: int) -> np.ndarray:
    if weights is None:
        return np.ones(n_points)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    if weights.shape != (n_points,):
        raise TerrasimError(f"p-median: weights must have shape ({n_points},), got {weights.shape}")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise TerrasimError("p-median: weights must be finite and ≥ 0")
    return weights


def _checked(distance, p, weights) -> tuple[np.ndarray, np.ndarray]:
    distance = np.ascontiguousarray(distance, dtype=np.float64)
    if distance.ndim != 2 or distance.shape[0] == 0 or distance.shape[1] == 0:
        raise TerrasimError(
            f"p-median: distance must be a non-empty 2-D matrix, got shape {distance.shape}"
        )
    if not np.all(np.isfinite(distance)) or np.any(distance < 0):
        raise TerrasimError("p-median: distances must be finite and ≥ 0")
    if isinstance(p, bool) or int(p) != p or not 1 <= p <= distance.shape[1]:
        raise TerrasimError(
            f"p-median: p must be an integer between 1 and {distance.shape[1]} candidates, got {p}"
        )
    return distance, _checked_weights(weights, distance.shape[0])


def _result(distance, weights, centres, iterations, started) -> CentreResult:
    nearest = np.empty(distance.shape[0], dtype=np.int64)
    pmedian.assign_nearest(distance, centres, nearest)
    return CentreResult(
        centres=centres,
        objective=float(pmedian.pmedian_objective(distance, weights, centres)),
        assignment=centres[nearest],
        iterations=iterations,
        seconds=time.perf_counter() - started,
    )
