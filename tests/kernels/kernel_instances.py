"""Random small problems for the kernel tests: plain for the reference, named tuples for kernels.

Every edge §3 cares about shows up at random: leaving reps, reps without skills, specialists,
region limits, barred lists, locks, unassigned accounts today and in the design, empty
territories, extra measures, measures totalling 0, explicit matrices, accounts sitting on a
rep's home, every rule on or off.
"""

import math

import numpy as np

from kernels.arrays import (
    N_OBJECTIVES,
    N_RULES,
    RULE_NAMES,
    AccountArrays,
    DistanceArrays,
    RepArrays,
    RuleArrays,
)
from kernels.geo import unit_vectors
from kernels.objectives import N_SUMS, evaluate_design, objectives_from_sums
from tests.kernels.reference import PlainInstance, baseline_potential, target_shares

US_BOX = (25.0, 49.0, -125.0, -67.0)


def random_points(rng, n, spread):
    if spread == "global":
        lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
        lon = rng.uniform(-180.0, 180.0, n)
    else:
        lat = rng.uniform(US_BOX[0], US_BOX[1], n)
        lon = rng.uniform(US_BOX[2], US_BOX[3], n)
    return lat, lon


def random_subset(rng, n, low=1):
    size = int(rng.integers(low, n + 1))
    return {int(x) for x in rng.choice(n, size=size, replace=False)}


def knn_neighbours(lat, lon, k):
    """Symmetric k-nearest-neighbour graph on the sphere, as adjacency lists."""
    xyz = unit_vectors(lat, lon)
    n = xyz.shape[0]
    neighbours = [set() for _ in range(n)]
    if n < 2:
        return [[] for _ in range(n)]
    gaps = ((xyz[:, None, :] - xyz[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(gaps, np.inf)
    for i in range(n):
        for k_ in np.argsort(gaps[i], kind="stable")[: min(k, n - 1)]:
            neighbours[i].add(int(k_))
            neighbours[int(k_)].add(i)
    return [sorted(s) for s in neighbours]


def random_plain_instance(rng, positive_workload=False):
    """A random problem of 1-60 accounts and 1-8 reps."""
    n_accounts = int(rng.integers(1, 61))
    n_reps = int(rng.integers(1, 9))
    n_segments = int(rng.integers(1, 5))
    n_regions = int(rng.integers(1, 5))
    n_extra = int(rng.integers(0, 3))
    spread = "global" if rng.random() < 0.2 else "us"

    rep_lat, rep_lon = random_points(rng, n_reps, spread)
    lat, lon = random_points(rng, n_accounts, spread)
    at_home = rng.random(n_accounts) < 0.15
    homes = rng.integers(0, n_reps, n_accounts)
    lat[at_home] = rep_lat[homes[at_home]]
    lon[at_home] = rep_lon[homes[at_home]]

    potential = rng.lognormal(10.0, 1.5, n_accounts)
    potential[rng.random(n_accounts) < 0.1] = 0.0
    if rng.random() < 0.05:
        potential[:] = 0.0
    workload = rng.lognormal(3.0, 0.5, n_accounts)
    if not positive_workload:
        workload[rng.random(n_accounts) < 0.05] = 0.0
    rows = [potential, workload, np.ones(n_accounts)]
    for _ in range(n_extra):
        extra = rng.gamma(2.0, 10.0, n_accounts)
        if rng.random() < 0.2:
            extra[:] = 0.0
        rows.append(extra)

    current = rng.integers(0, n_reps, n_accounts)
    current[rng.random(n_accounts) < 0.15] = -1
    locked = (current >= 0) & (rng.random(n_accounts) < 0.15)
    if rng.random() < 0.5:
        protected = potential >= np.quantile(potential, rng.uniform(0.5, 1.0))
    else:
        protected = np.zeros(n_accounts, dtype=bool)
    barred = [
        random_subset(rng, n_reps) if rng.random() < 0.3 else set() for _ in range(n_accounts)
    ]

    capacity = rng.uniform(500.0, 3000.0, n_reps)
    leaving = rng.random(n_reps) < 0.2
    skills = [
        random_subset(rng, n_segments) if rng.random() < 0.5 else set() for _ in range(n_reps)
    ]
    specialist = [bool(s) and rng.random() < 0.3 for s in skills]
    regions = [random_subset(rng, n_regions) if rng.random() < 0.3 else None for _ in range(n_reps)]

    matrix = None
    if rng.random() < 0.3:
        m = rng.uniform(0.0, 800.0, (n_accounts, n_reps))
        m[rng.random((n_accounts, n_reps)) < 0.05] = 0.0
        matrix = m.tolist()

    n_measures = len(rows)
    on = {name: bool(rng.random() < 0.5) for name in RULE_NAMES}
    tolerance = [math.inf if rng.random() < 0.4 else float(rng.uniform(0.0, 0.5)) for _ in rows]
    total_potential = float(potential.sum())
    assert len(tolerance) == n_measures
    return PlainInstance(
        lat=lat.tolist(),
        lon=lon.tolist(),
        measures=[r.tolist() for r in rows],
        current_rep=current.tolist(),
        segment=rng.integers(0, n_segments, n_accounts).tolist(),
        region=rng.integers(0, n_regions, n_accounts).tolist(),
        locked=locked.tolist(),
        protected=protected.tolist(),
        barred=barred,
        rep_lat=rep_lat.tolist(),
        rep_lon=rep_lon.tolist(),
        capacity=capacity.tolist(),
        leaving=leaving.tolist(),
        skills=skills,
        specialist=specialist,
        regions=regions,
        matrix=matrix,
        circuity=float(rng.choice([1.0, 1.3, rng.uniform(1.0, 1.6)])),
        neighbours=knn_neighbours(lat, lon, int(rng.integers(1, 5))),
        rules_on=on,
        band_tolerance=tolerance,
        capacity_slack=float(rng.uniform(0.0, 0.3)),
        min_accounts=float(rng.integers(0, 6)),
        max_accounts=float(rng.integers(1, 16)),
        max_potential_change=float(rng.uniform(0.0, 0.5)),
        max_moved=float(rng.integers(0, n_accounts + 1)),
        max_moved_potential=float(rng.uniform(0.0, 1.0) * total_potential),
        n_segments=n_segments,
        n_regions=n_regions,
        max_distance=float(rng.uniform(20.0, 2500.0)),
    )


def random_assignment(rng, inst):
    """A design: today's with some changes, or random; some unassigned, some reps left empty."""
    n_accounts, n_reps = inst.n_accounts, inst.n_reps
    if rng.random() < 0.5:
        assignment = np.array(inst.current_rep, dtype=np.int64)
        changed = rng.random(n_accounts) < rng.uniform(0.0, 0.5)
        assignment[changed] = rng.integers(0, n_reps, int(changed.sum()))
    else:
        assignment = rng.integers(0, n_reps, n_accounts)
    if n_reps > 1 and rng.random() < 0.3:
        empty = rng.integers(0, n_reps)
        assignment[assignment == empty] = (empty + 1) % n_reps
    assignment[rng.random(n_accounts) < 0.1] = -1
    return assignment.astype(np.int64)


def to_arrays(inst):
    """The kernels' named tuples for a PlainInstance: (accounts, reps, distance, rules)."""
    n_accounts, n_reps = inst.n_accounts, inst.n_reps
    barred_ptr = np.zeros(n_accounts + 1, dtype=np.int64)
    barred_ptr[1:] = np.cumsum([len(b) for b in inst.barred])
    barred_rep = np.array([j for b in inst.barred for j in sorted(b)], dtype=np.int64)
    neighbour_ptr = np.zeros(n_accounts + 1, dtype=np.int64)
    neighbour_ptr[1:] = np.cumsum([len(nb) for nb in inst.neighbours])
    neighbour = np.array([k for nb in inst.neighbours for k in nb], dtype=np.int64)
    accounts = AccountArrays(
        measures=np.ascontiguousarray(inst.measures, dtype=np.float64),
        current_rep=np.array(inst.current_rep, dtype=np.int64),
        segment=np.array(inst.segment, dtype=np.int64),
        region=np.array(inst.region, dtype=np.int64),
        locked=np.array(inst.locked, dtype=np.bool_),
        protected=np.array(inst.protected, dtype=np.bool_),
        barred_ptr=barred_ptr,
        barred_rep=barred_rep,
        xyz=unit_vectors(inst.lat, inst.lon),
        neighbour_ptr=neighbour_ptr,
        neighbour=neighbour,
    )
    skill = np.zeros((n_reps, inst.n_segments), dtype=np.bool_)
    region_ok = np.ones((n_reps, inst.n_regions), dtype=np.bool_)
    for j in range(n_reps):
        for s in inst.skills[j]:
            skill[j, s] = True
        if inst.regions[j] is not None:
            region_ok[j] = False
            for r in inst.regions[j]:
                region_ok[j, r] = True
    reps = RepArrays(
        capacity=np.array(inst.capacity, dtype=np.float64),
        target_share=np.array(target_shares(inst), dtype=np.float64),
        baseline_potential=np.array(baseline_potential(inst), dtype=np.float64),
        skill=skill,
        has_skills=skill.any(axis=1),
        specialist=np.array(inst.specialist, dtype=np.bool_),
        region_ok=region_ok,
        leaving=np.array(inst.leaving, dtype=np.bool_),
        xyz=unit_vectors(inst.rep_lat, inst.rep_lon),
    )
    matrix = np.zeros((0, 0))
    if inst.matrix is not None:
        matrix = np.ascontiguousarray(inst.matrix, dtype=np.float64)
    distance = DistanceArrays(matrix=matrix, circuity=float(inst.circuity), radius_km=6371.0)
    rules = RuleArrays(
        on=np.array([inst.rules_on[name] for name in RULE_NAMES], dtype=np.bool_),
        band_tolerance=np.array(inst.band_tolerance, dtype=np.float64),
        capacity_slack=float(inst.capacity_slack),
        min_accounts=float(inst.min_accounts),
        max_accounts=float(inst.max_accounts),
        max_potential_change=float(inst.max_potential_change),
        max_moved=float(inst.max_moved),
        max_moved_potential=float(inst.max_moved_potential),
        max_distance=float(inst.max_distance),
    )
    return accounts, reps, distance, rules


class State:
    """The kernels' evaluation state of one design: the arrays evaluate_design fills."""

    def __init__(self, arrays, assignment):
        accounts, reps, distance, rules = arrays
        self.arrays = arrays
        self.assignment = np.array(assignment, dtype=np.int64)
        self.totals = np.zeros((accounts.measures.shape[0], reps.capacity.shape[0]))
        self.grand_totals = np.zeros(accounts.measures.shape[0])
        self.sums = np.zeros(N_SUMS)
        self.violations = np.zeros(N_RULES)
        self.objectives = np.zeros(N_OBJECTIVES)
        evaluate_design(
            self.assignment,
            accounts,
            reps,
            distance,
            rules,
            self.totals,
            self.grand_totals,
            self.sums,
            self.violations,
        )
        self.refresh_objectives()

    def refresh_objectives(self):
        objectives_from_sums(self.sums, self.grand_totals, self.objectives)
        return self.objectives


def close(actual, expected, scale=1.0):
    """Equal to 1e-9 relative, or to 1e-12 of `scale`, the magnitude the value is made of."""
    return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12 * max(1.0, abs(scale)))


def violation_scales(inst):
    """Per rule, the magnitude of the quantities its violation is a difference of."""
    shares = target_shares(inst)
    workload = sum(inst.measures[1])
    capacity = sum(c * (1 + inst.capacity_slack) for c in inst.capacity)
    inverse_shares = sum(1.0 / s for s in shares if s > 0)
    potential = sum(inst.measures[0])
    change = sum(potential / p0 for p0 in baseline_potential(inst) if p0 > 0)
    scales = dict.fromkeys(RULE_NAMES, float(inst.n_accounts))
    scales["capacity"] = workload + capacity
    scales["balance"] = len(inst.measures) * (inst.n_reps + inverse_shares)
    scales["potential_change"] = inst.n_reps + change
    scales["max_moved_potential"] = potential + inst.max_moved_potential
    return scales


def sum_scales(inst, reference_sums):
    """Per running sum, the magnitude of what it adds up."""
    scales = dict(reference_sums)
    scales["moved_potential"] = sum(inst.measures[0])
    scales["mismatch_potential"] = sum(inst.measures[0])
    return scales
