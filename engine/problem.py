"""A problem ready for the kernels: an instance, its objective and rules, as flat arrays.

Built once per run; the optimizer, the evaluator and the simulation read the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from engine.model import LEAVING, Instance, territory_potential
from engine.rules import Objective
from kernels.arrays import (
    N_RULES,
    RULE_BALANCE,
    RULE_BARRED,
    RULE_CAPACITY,
    RULE_CONTIGUITY,
    RULE_LEAVING,
    RULE_LOCKED,
    RULE_MAX_ACCOUNTS,
    RULE_MAX_DISTANCE,
    RULE_MAX_MOVED,
    RULE_MAX_MOVED_POTENTIAL,
    RULE_MIN_ACCOUNTS,
    RULE_POTENTIAL_CHANGE,
    RULE_PROTECTED,
    RULE_REGIONS,
    RULE_SPECIALISTS,
    AccountArrays,
    DistanceArrays,
    RepArrays,
    RuleArrays,
)
from kernels.geo import unit_vectors

EARTH_RADIUS_KM = 6371.0
BUILTIN_MEASURE_ROWS = {"potential": 0, "workload": 1, "accounts": 2}


@dataclass(frozen=True)
class Problem:
    """An instance with its objective, as the named tuples of kernels/arrays.py."""

    instance: Instance
    objective: Objective
    measure_names: tuple[str, ...]
    accounts: AccountArrays
    reps: RepArrays
    distance: DistanceArrays
    rules: RuleArrays

    def __post_init__(self) -> None:
        # Ray hands workers read-only arrays, a Numba type of their own: read-only here too, so
        # the driver and the workers share one compiled (and cached) version of each kernel.
        for name in ("accounts", "reps", "distance", "rules"):
            object.__setattr__(self, name, _read_only(getattr(self, name)))

    @property
    def n_accounts(self) -> int:
        """Number of accounts."""
        return self.instance.accounts.n_accounts

    @property
    def n_reps(self) -> int:
        """Number of reps."""
        return self.instance.reps.n_reps


def _read_only(arrays):
    """The same named tuple of arrays, each array a read-only view."""
    frozen = {}
    for field, value in arrays._asdict().items():
        if isinstance(value, np.ndarray) and value.flags.writeable:
            value = value.view()
            value.setflags(write=False)
            frozen[field] = value
    return arrays._replace(**frozen) if frozen else arrays


def build_problem(instance: Instance, objective: Objective) -> Problem:
    """Prepare the kernel arrays of an instance under an objective and its rules."""
    acc, reps, rules = instance.accounts, instance.reps, objective.rules
    extra_names = tuple(sorted(m for m in rules.balance if m not in BUILTIN_MEASURE_ROWS))
    measure_names = ("potential", "workload", "accounts", *extra_names)
    measures = np.empty((len(measure_names), acc.n_accounts), dtype=np.float64)
    measures[0] = acc.potential
    measures[1] = acc.workload
    measures[2] = 1.0
    for row, name in enumerate(extra_names, start=3):
        measures[row] = acc.extra[name]

    protected = np.zeros(acc.n_accounts, dtype=bool)
    if rules.protected_potential is not None:
        protected = acc.protected_by(rules.protected_potential)

    account_arrays = AccountArrays(
        measures=measures,
        current_rep=acc.current_rep.astype(np.int64),
        segment=acc.segment.astype(np.int64),
        region=acc.region.astype(np.int64),
        locked=acc.locked.astype(np.bool_),
        protected=protected,
        barred_ptr=acc.barred_ptr.astype(np.int64),
        barred_rep=acc.barred_rep.astype(np.int64),
        xyz=unit_vectors(acc.lat, acc.lon),
        **_neighbour_graph(instance, objective),
    )
    rep_arrays = RepArrays(
        capacity=reps.capacity.astype(np.float64),
        target_share=target_shares(reps.capacity, reps.status == LEAVING),
        # A leaving rep's change is total by definition and an open req holds nothing today:
        # with no baseline the potential-change rule binds only the reps who stay with a book.
        baseline_potential=np.where(
            reps.status == LEAVING,
            0.0,
            territory_potential(acc.current_rep, acc.potential, reps.n_reps),
        ),
        skill=np.ascontiguousarray(reps.skill, dtype=np.bool_),
        has_skills=reps.skill.any(axis=1),
        specialist=reps.specialist.astype(np.bool_),
        region_ok=np.ascontiguousarray(reps.region_ok, dtype=np.bool_),
        leaving=reps.status == LEAVING,
        xyz=unit_vectors(reps.home_lat, reps.home_lon),
    )
    matrix = instance.distance_matrix
    distance = DistanceArrays(
        matrix=np.zeros((0, 0)) if matrix is None else np.ascontiguousarray(matrix, np.float64),
        circuity=float(objective.circuity),
        radius_km=EARTH_RADIUS_KM,
    )
    return Problem(
        instance=instance,
        objective=objective,
        measure_names=measure_names,
        accounts=account_arrays,
        reps=rep_arrays,
        distance=distance,
        rules=rule_arrays(objective, measure_names, float(acc.potential.sum())),
    )


def target_shares(capacity: np.ndarray, leaving: np.ndarray) -> np.ndarray:
    """s_j = capacity_j / sum capacity, with leaving reps counted at 0 (they hold nothing)."""
    staying = np.where(leaving, 0.0, capacity)
    total = staying.sum()
    return staying / total if total > 0 else staying


def rule_arrays(
    objective: Objective, measure_names: tuple[str, ...], total_potential: float
) -> RuleArrays:
    """Switches and parameters of the hard rules as kernel arrays."""
    r = objective.rules
    on = np.zeros(N_RULES, dtype=np.bool_)
    on[RULE_LOCKED] = r.locked
    on[RULE_REGIONS] = r.regions
    on[RULE_SPECIALISTS] = r.specialists
    on[RULE_BARRED] = r.barred
    on[RULE_LEAVING] = r.leaving
    on[RULE_CAPACITY] = r.capacity
    on[RULE_BALANCE] = bool(r.balance)
    on[RULE_MIN_ACCOUNTS] = r.min_accounts is not None
    on[RULE_MAX_ACCOUNTS] = r.max_accounts is not None
    on[RULE_POTENTIAL_CHANGE] = r.max_potential_change is not None
    on[RULE_MAX_MOVED] = r.max_moved is not None
    on[RULE_MAX_MOVED_POTENTIAL] = r.max_moved_potential_share is not None
    on[RULE_PROTECTED] = r.protected_potential is not None
    on[RULE_CONTIGUITY] = r.contiguity
    on[RULE_MAX_DISTANCE] = r.max_distance_km is not None
    tolerance = np.full(len(measure_names), np.inf)
    for name, tol in r.balance.items():
        tolerance[measure_names.index(name)] = tol
    share = r.max_moved_potential_share
    return RuleArrays(
        on=on,
        band_tolerance=tolerance,
        capacity_slack=float(r.capacity_slack),
        min_accounts=float(r.min_accounts or 0),
        max_accounts=float(r.max_accounts) if r.max_accounts is not None else np.inf,
        max_potential_change=float(r.max_potential_change or 0.0),
        max_moved=float(r.max_moved) if r.max_moved is not None else np.inf,
        max_moved_potential=share * total_potential if share is not None else np.inf,
        max_distance=float(r.max_distance_km) if r.max_distance_km is not None else np.inf,
    )


def _neighbour_graph(instance: Instance, objective: Objective) -> dict[str, np.ndarray]:
    """CSR neighbour graph for contiguity: the instance's own, or k nearest accounts."""
    n = instance.accounts.n_accounts
    if not objective.rules.contiguity:
        return {
            "neighbour_ptr": np.zeros(n + 1, dtype=np.int64),
            "neighbour": np.zeros(0, np.int64),
        }
    if instance.neighbour_graph is not None:
        ptr, index = instance.neighbour_graph
        return {"neighbour_ptr": ptr.astype(np.int64), "neighbour": index.astype(np.int64)}
    k = min(objective.rules.contiguity_k, n - 1)
    xyz = unit_vectors(instance.accounts.lat, instance.accounts.lon)
    _, nearest = cKDTree(xyz).query(xyz, k=k + 1)
    rows = np.repeat(np.arange(n), k)
    cols = nearest[:, 1:].reshape(-1)
    # Symmetrise so that "a is near b" joins both ways.
    edges = np.unique(np.concatenate([rows * n + cols, cols * n + rows]))
    src, dst = edges // n, edges % n
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=ptr[1:])
    return {"neighbour_ptr": ptr, "neighbour": dst.astype(np.int64)}
