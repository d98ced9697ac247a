"""Headcount changes (DESIGN §4 scenario library, §7 `headcount`): add or remove reps.

New reps' homes go where coverage is thinnest (a p-median with today's homes fixed); removed reps
are those whose departure loses the least, marked `leaving` so that rep indices stay valid.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from engine.errors import TerrasimError
from engine.greenfield import choose_centres
from engine.model import LEAVING, NEW, Instance, Reps
from engine.simulation import SimParams
from kernels import pmedian
from kernels.geo import unit_vectors
from kernels.jit import interrupts_deferred

EARTH_RADIUS_KM = 6371.0
# Candidate homes: every account up to this many, else a weighted D²-sample of this many.
_MAX_SITES = 2000
# Beyond n_accounts × n_sites entries, accounts are pooled on their nearest site (as greenfield).
_MAX_MATRIX_ENTRIES = 4_000_000
# A p-median of a few new homes stops by its restarts long before this; the clock is a backstop.
_PMEDIAN_SECONDS = 30.0


@dataclass(frozen=True)
class StaffingChange:
    """What a headcount change did.

    Attributes
    ----------
    delta : int
        Reps added (> 0) or removed (< 0).
    added : tuple of str
        Ids of the new reps (status `new`), in the order they were appended.
    removed : tuple of str
        Ids of the reps marked `leaving`, least loss first.
    description : str
        One line for reports.
    """

    delta: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    description: str


def change_headcount(instance: Instance, delta: int, seed: int) -> tuple[Instance, StaffingChange]:
    """Add `delta` reps (delta > 0) or remove `-delta` reps (delta < 0).

    Adding appends reps with status `new` (they ramp in the simulation, DESIGN §5), ids
    ``new-1``, ``new-2``, ... (skipping ids in use), named "New rep 1", ..., with tenure 0, the
    median capacity of the staying reps, no listed skills and not specialist (a generalist: no
    skill mismatch anywhere), and allowed in the regions of the accounts its home is nearest to
    among all homes (every region when no rep today is bounded by region). Homes: `new_rep_homes`.

    Removing marks reps `leaving` (the arrays keep their length, so account indices into reps
    stay valid): the reps whose accounts carry the least first-year bookings at risk when
    reassigned (`removal_loss`), among reps that hold no locked account and whose departure
    leaves every account some staying rep its region and segment allow.

    Accounts are unchanged either way; current_rep still indexes the same reps.

    Parameters
    ----------
    instance : Instance
    delta : int
    seed : int
        Seeds the p-median of the new homes; the result is a function of the instance, delta and
        seed.

    Returns
    -------
    (Instance, StaffingChange)

    Raises
    ------
    TerrasimError
        Adding reps to an instance with an explicit distance matrix (no distances to new homes),
        adding more reps than there are accounts, or removing more reps than can go.
    """
    if isinstance(delta, bool) or int(delta) != delta:
        raise TerrasimError(f"headcount change must be a whole number of reps, got {delta!r}")
    delta = int(delta)
    if delta > 0:
        return add_reps(instance, delta, seed)
    if delta < 0:
        return remove_reps(instance, -delta)
    return instance, StaffingChange(0, (), (), "headcount unchanged")


def add_reps(instance: Instance, n_new: int, seed: int) -> tuple[Instance, StaffingChange]:
    """Append `n_new` reps with status `new`, homes where coverage is thinnest (see above)."""
    acc, reps = instance.accounts, instance.reps
    if instance.distance_matrix is not None:
        raise TerrasimError(
            "cannot add reps to an instance with an explicit distance matrix: "
            "there are no distances to the new reps' homes"
        )
    if n_new > acc.n_accounts:
        raise TerrasimError(
            f"cannot add {n_new} reps: there are only {acc.n_accounts} accounts to place homes at"
        )
    staying = reps.status != LEAVING
    homes, nearest_home = new_rep_homes(instance, n_new, seed)
    ids = _unused_ids("new", n_new, reps.ids)
    region_ok = np.zeros((n_new, len(acc.region_names)), dtype=bool)
    if reps.region_ok[staying].all():
        region_ok[:] = True
    else:
        for r in range(n_new):
            region_ok[r, acc.region[nearest_home == r]] = True
            region_ok[r, acc.region[homes[r]]] = True  # its home's region, even if it serves none
    capacity = float(np.median(reps.capacity[staying])) if staying.any() else 1.0
    added = Reps(
        ids=np.array(ids, dtype=object),
        names=np.array([f"New rep {r + 1}" for r in range(n_new)], dtype=object),
        home_lat=acc.lat[homes].astype(np.float64),
        home_lon=acc.lon[homes].astype(np.float64),
        capacity=np.full(n_new, capacity),
        tenure_months=np.zeros(n_new),
        skill=np.zeros((n_new, reps.skill.shape[1]), dtype=bool),
        specialist=np.zeros(n_new, dtype=bool),
        region_ok=region_ok,
        status=np.full(n_new, NEW, dtype=np.int8),
    )
    joined = Reps(
        **{
            f.name: np.concatenate([getattr(reps, f.name), getattr(added, f.name)])
            for f in dataclasses.fields(Reps)
        }
    )
    near = ", ".join(
        f"{i} in {acc.region_names[acc.region[h]]}" for i, h in zip(ids, homes, strict=True)
    )
    change = StaffingChange(
        n_new,
        tuple(ids),
        (),
        f"+{n_new} rep{'s' if n_new > 1 else ''} ({near}), homes where coverage is thinnest",
    )
    return dataclasses.replace(instance, reps=joined), change


def new_rep_homes(instance: Instance, n_new: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Homes for new reps: the p-median over accounts with the staying reps' homes fixed.

    Minimises Σ_i w_i · min(e_i, d(i, nearest new home)), where e_i is account i's distance to
    the nearest staying rep's home and w_i its workload (0 for locked accounts, which cannot
    move). This is a p-median on the distance matrix min(d(i, c), e_i): the new homes go where
    workload lies far from today's homes, i.e. where coverage is thinnest, and several new homes
    spread over several such places. Candidate homes are account locations (a weighted
    D²-sample of 2,000 of them on large instances, whose accounts are then pooled on their
    nearest candidate).

    Returns
    -------
    homes : int64[n_new]
        Account index of each new home, ascending.
    nearest_home : int64[n_accounts]
        For each account, the new home (0..n_new-1) it is nearer to than to every staying
        rep's home, or -1.
    """
    acc, reps = instance.accounts, instance.reps
    xyz = unit_vectors(acc.lat, acc.lon)
    staying = reps.status != LEAVING
    scale = 1.3 * EARTH_RADIUS_KM  # the scale does not move the optimum; km for readability
    if staying.any():
        home_xyz = unit_vectors(reps.home_lat[staying], reps.home_lon[staying])
        chord, _ = cKDTree(home_xyz).query(xyz)
        existing = scale * 2.0 * np.arcsin(np.minimum(0.5 * chord, 1.0))
    else:
        existing = np.full(acc.n_accounts, np.inf)
    weights = np.where(acc.locked, 0.0, acc.workload).astype(np.float64)
    if weights.sum() <= 0:
        weights = np.ones(acc.n_accounts)

    rng = np.random.default_rng((seed, 1))
    if acc.n_accounts <= _MAX_SITES:
        sites = np.arange(acc.n_accounts, dtype=np.int64)
    else:
        picked = np.empty(_MAX_SITES, dtype=np.int64)
        with interrupts_deferred():
            pmedian.sample_sites(xyz, weights * np.minimum(existing, 1e9), rng, picked)
        sites = np.sort(picked)
    site_xyz = np.ascontiguousarray(xyz[sites])
    if acc.n_accounts * sites.shape[0] <= _MAX_MATRIX_ENTRIES:
        point_xyz, point_weights, point_existing = xyz, weights, existing
    else:
        _, nearest_site = cKDTree(site_xyz).query(xyz)
        point_xyz = site_xyz
        point_weights = np.bincount(nearest_site, weights=weights, minlength=sites.shape[0])
        point_existing = existing[sites]
    distance = np.empty((point_xyz.shape[0], sites.shape[0]))
    pmedian.great_circle_matrix(point_xyz, site_xyz, scale, distance)
    # Cap every distance at the point's distance to today's homes: then the p-median objective
    # is the service distance with today's homes fixed as extra centres.
    np.minimum(distance, np.minimum(point_existing, 1e12)[:, None], out=distance)
    found = choose_centres(distance, n_new, point_weights, seed=seed, time_limit=_PMEDIAN_SECONDS)
    homes = np.sort(sites[found.centres])

    new_xyz = xyz[homes]
    chord, nearest = cKDTree(new_xyz).query(xyz)
    to_new = scale * 2.0 * np.arcsin(np.minimum(0.5 * chord, 1.0))
    nearest_home = np.where(to_new < existing, nearest, -1).astype(np.int64)
    return homes.astype(np.int64), nearest_home


def removal_loss(instance: Instance, params: SimParams | None = None) -> np.ndarray:
    """float64[n_reps]: first-year bookings at risk if each rep left and its accounts moved.

    For each account the rep holds: potential × (relationship re-ramp + churn), with the
    scenario model's parameters (DESIGN §5): the re-ramp loses (1 − relationship_floor) / 2 of
    bookings over account_ramp_months, and the account churns with probability
    min(churn_max, churn_base + churn_per_relationship_year · relationship_years). A rep who
    holds nothing (an open req) loses nothing.
    """
    p = SimParams() if params is None else params
    acc = instance.accounts
    ramp = (1.0 - p.relationship_floor) * 0.5 * min(p.account_ramp_months, 12.0) / 12.0
    churn = np.minimum(
        p.churn_max, p.churn_base + p.churn_per_relationship_year * acc.relationship_years
    )
    held = acc.current_rep >= 0
    return np.bincount(
        acc.current_rep[held],
        weights=(acc.potential * (ramp + churn))[held],
        minlength=instance.reps.n_reps,
    )


def remove_reps(instance: Instance, n_remove: int) -> tuple[Instance, StaffingChange]:
    """Mark the `n_remove` reps whose departure loses the least as `leaving` (see above).

    Reps are taken in order of `removal_loss` (then smaller capacity, then index), skipping a
    rep who holds a locked account, and one whose departure would leave some account with no
    staying rep its region (and, for specialists, its segment) allows.
    """
    acc, reps = instance.accounts, instance.reps
    staying = reps.status != LEAVING
    n_staying = int(staying.sum())
    if n_remove >= n_staying:
        raise TerrasimError(
            f"cannot remove {n_remove} reps: {n_staying} rep(s) are staying, and at least one "
            "must stay to hold the accounts"
        )
    loss = removal_loss(instance)
    holds_locked = np.zeros(reps.n_reps, dtype=bool)
    holds_locked[acc.current_rep[acc.locked & (acc.current_rep >= 0)]] = True
    # Which staying reps may hold each (region, segment) pair that some account has.
    pairs = np.unique(np.stack([acc.region, acc.segment], axis=1), axis=0)
    allowed = reps.region_ok[:, pairs[:, 0]] & (
        ~reps.specialist[:, None] | reps.skill[:, pairs[:, 1]]
    )  # bool[n_reps, n_pairs]
    covering = (allowed & staying[:, None]).sum(axis=0).astype(np.int64)

    order = np.lexsort((np.arange(reps.n_reps), reps.capacity, loss))
    removed: list[int] = []
    for j in order:
        if len(removed) == n_remove:
            break
        if not staying[j] or holds_locked[j]:
            continue
        if (covering[allowed[j]] <= 1).any():
            continue  # the only rep some accounts may have
        removed.append(int(j))
        covering -= allowed[j].astype(np.int64)
    if len(removed) < n_remove:
        raise TerrasimError(
            f"cannot remove {n_remove} reps: only {len(removed)} can leave without leaving "
            "locked accounts or accounts of some region and segment with no rep"
        )
    status = reps.status.copy()
    status[removed] = LEAVING
    ids = tuple(str(reps.ids[j]) for j in removed)
    change = StaffingChange(
        -n_remove,
        (),
        ids,
        f"-{n_remove} rep{'s' if n_remove > 1 else ''} ({', '.join(ids)}), least bookings at risk",
    )
    return dataclasses.replace(instance, reps=dataclasses.replace(reps, status=status)), change


def with_empty_seats(instance: Instance, n_reps: int) -> Instance:
    """The instance with reps appended up to `n_reps`, each an empty seat (`leaving`).

    A leaving rep who holds no account is an empty seat in the simulation: no bookings, no
    quota, no departures. A scenario's draws for the first reps do not depend on how many
    follow (kernels.simulation.draw_scenario), so padding changes no result: it gives instances
    of different headcounts one shape, compared under common random numbers (DESIGN §5).
    """
    reps = instance.reps
    extra = n_reps - reps.n_reps
    if extra < 0:
        raise TerrasimError(f"cannot pad {reps.n_reps} reps to {n_reps}")
    if extra == 0:
        return instance
    ids = _unused_ids("seat", extra, reps.ids)
    pad = {
        "ids": np.array(ids, dtype=object),
        "names": np.array(ids, dtype=object),
        "home_lat": np.zeros(extra),
        "home_lon": np.zeros(extra),
        "capacity": np.ones(extra),
        "tenure_months": np.zeros(extra),
        "skill": np.zeros((extra, reps.skill.shape[1]), dtype=bool),
        "specialist": np.zeros(extra, dtype=bool),
        "region_ok": np.zeros((extra, reps.region_ok.shape[1]), dtype=bool),
        "status": np.full(extra, LEAVING, dtype=np.int8),
    }
    joined = Reps(**{name: np.concatenate([getattr(reps, name), pad[name]]) for name in pad})
    matrix = instance.distance_matrix
    if matrix is not None:
        matrix = np.concatenate([matrix, np.zeros((matrix.shape[0], extra))], axis=1)
    return dataclasses.replace(instance, reps=joined, distance_matrix=matrix)


def _unused_ids(prefix: str, count: int, existing: np.ndarray) -> list[str]:
    """`count` ids PREFIX-1, PREFIX-2, ... that no existing rep has."""
    taken = set(existing.tolist())
    ids: list[str] = []
    k = 0
    while len(ids) < count:
        k += 1
        if f"{prefix}-{k}" not in taken:
            ids.append(f"{prefix}-{k}")
    return ids
