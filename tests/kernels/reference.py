"""Plain-Python reference of DESIGN §3: objectives, sums and rule violations, by loops.

Written from the text of §3 and the comments of kernels/arrays.py, not from the kernels:
distances by the haversine formula from degrees, shares and baselines derived here.
"""

import math
from dataclasses import dataclass, field

EARTH_RADIUS_KM = 6371.0


@dataclass
class PlainInstance:
    """One problem in plain Python terms (lists, sets), as a user would describe it."""

    lat: list  # per account, degrees
    lon: list
    measures: list  # [n_measures][n_accounts]: potential, workload, 1.0, extra columns
    current_rep: list  # rep index or -1
    segment: list
    region: list
    locked: list
    protected: list
    barred: list  # set of rep indices per account
    rep_lat: list
    rep_lon: list
    capacity: list
    leaving: list
    skills: list  # set of segments per rep; empty = no skills
    specialist: list
    regions: list  # set of regions per rep, or None for any
    matrix: list | None  # [n_accounts][n_reps] km, or None to use haversine
    circuity: float
    neighbours: list  # list of neighbour account indices per account
    rules_on: dict  # rule name -> bool
    band_tolerance: list  # per measure; math.inf = not banded
    capacity_slack: float
    min_accounts: float
    max_accounts: float
    max_potential_change: float
    max_moved: float
    max_moved_potential: float
    n_segments: int = 1
    n_regions: int = 1
    max_distance: float = math.inf  # km from account to rep (the max_distance rule)
    notes: dict = field(default_factory=dict)

    @property
    def n_accounts(self):
        return len(self.lat)

    @property
    def n_reps(self):
        return len(self.capacity)


def haversine_km(lat1, lon1, lat2, lon2):
    """Great-circle distance in km by the haversine formula (inputs in degrees)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2) - math.radians(lon1)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def distance_km(inst, i, j):
    if inst.matrix is not None:
        return inst.matrix[i][j]
    return inst.circuity * haversine_km(inst.lat[i], inst.lon[i], inst.rep_lat[j], inst.rep_lon[j])


def target_shares(inst):
    """s_j = capacity_j / sum of capacity over reps that stay; 0 for leaving reps."""
    staying = sum(c for c, gone in zip(inst.capacity, inst.leaving, strict=True) if not gone)
    return [
        0.0 if gone or staying == 0 else c / staying
        for c, gone in zip(inst.capacity, inst.leaving, strict=True)
    ]


def territory_sums(inst, assignment, row):
    out = [0.0] * inst.n_reps
    for i, j in enumerate(assignment):
        if j >= 0:
            out[j] += inst.measures[row][i]
    return out


def baseline_potential(inst):
    """P0_j: potential per rep under today's assignment; 0 for a leaving rep.

    A leaving rep's change is total by definition: with no baseline the potential-change rule
    binds only the reps who stay.
    """
    today = territory_sums(inst, inst.current_rep, 0)
    return [0.0 if leaving else p for p, leaving in zip(today, inst.leaving, strict=True)]


def is_moved(inst, i, j):
    return inst.current_rep[i] >= 0 and j != inst.current_rep[i]


def components(inst, assignment, rep):
    """Connected components of the accounts of `rep` in the neighbour graph (BFS)."""
    members = [i for i, j in enumerate(assignment) if j == rep]
    seen = set()
    count = 0
    for start in members:
        if start in seen:
            continue
        count += 1
        seen.add(start)
        queue = [start]
        while queue:
            i = queue.pop()
            for k in inst.neighbours[i]:
                if assignment[k] == rep and k not in seen:
                    seen.add(k)
                    queue.append(k)
    return count


def evaluate(inst, assignment):
    """Every number of DESIGN §3 for one assignment (rep index per account, -1 = none).

    Returns a dict with totals [n_measures][n_reps], grand_totals, sums, objectives and
    violations (the last three keyed by name).
    """
    n_accounts, n_reps = inst.n_accounts, inst.n_reps
    n_measures = len(inst.measures)
    share = target_shares(inst)
    totals = [territory_sums(inst, assignment, m) for m in range(n_measures)]
    grand = [sum(row) for row in inst.measures]
    potential, workload, count = inst.measures[0], inst.measures[1], totals[2]

    travel = assigned_workload = moved = moved_potential = mismatch = max_distance = 0.0
    unassigned = 0.0
    for i, j in enumerate(assignment):
        if is_moved(inst, i, j):
            moved += 1
            moved_potential += potential[i]
        if j < 0:
            unassigned += 1
            continue
        d = distance_km(inst, i, j)
        travel += workload[i] * d
        assigned_workload += workload[i]
        max_distance = max(max_distance, d)
        if inst.skills[j] and inst.segment[i] not in inst.skills[j]:
            mismatch += potential[i]

    def squares(m):
        # Leaving reps (s_j = 0) and a measure totalling 0 contribute nothing.
        if grand[m] == 0:
            return 0.0
        return sum(
            share[j] * (totals[m][j] / (share[j] * grand[m]) - 1.0) ** 2
            for j in range(n_reps)
            if share[j] > 0
        )

    def ratio(a, b):
        return 0.0 if b == 0 else a / b

    sums = {
        "travel": travel,
        "assigned_workload": assigned_workload,
        "moved": moved,
        "moved_potential": moved_potential,
        "mismatch_potential": mismatch,
        "max_distance": max_distance,
        "unassigned": unassigned,
        "squares_potential": squares(0),
        "squares_workload": squares(1),
    }
    objectives = {
        "potential_imbalance": math.sqrt(sums["squares_potential"]),
        "workload_imbalance": math.sqrt(sums["squares_workload"]),
        "travel": ratio(travel, assigned_workload),
        "disruption": ratio(moved_potential, grand[0]),
        "skill_mismatch": ratio(mismatch, grand[0]),
    }

    on = inst.rules_on
    p0 = baseline_potential(inst)
    v = dict.fromkeys(on, 0.0)
    held = [(i, j) for i, j in enumerate(assignment) if j >= 0]
    if on["locked"]:
        v["locked"] = sum(
            1.0
            for i in range(n_accounts)
            if inst.locked[i] and assignment[i] != inst.current_rep[i]
        )
    if on["regions"]:
        v["regions"] = sum(
            1.0
            for i, j in held
            if inst.regions[j] is not None and inst.region[i] not in inst.regions[j]
        )
    if on["specialists"]:
        v["specialists"] = sum(
            1.0 for i, j in held if inst.specialist[j] and inst.segment[i] not in inst.skills[j]
        )
    if on["capacity"]:
        v["capacity"] = sum(
            max(0.0, totals[1][j] - inst.capacity[j] * (1 + inst.capacity_slack))
            for j in range(n_reps)
        )
    if on["balance"]:
        v["balance"] = sum(
            max(0.0, abs(totals[m][j] / (share[j] * grand[m]) - 1.0) - inst.band_tolerance[m])
            for m in range(n_measures)
            if inst.band_tolerance[m] != math.inf and grand[m] != 0
            for j in range(n_reps)
            if share[j] > 0
        )
    if on["min_accounts"]:
        v["min_accounts"] = sum(
            max(0.0, inst.min_accounts - count[j]) for j in range(n_reps) if not inst.leaving[j]
        )
    if on["max_accounts"]:
        v["max_accounts"] = sum(max(0.0, count[j] - inst.max_accounts) for j in range(n_reps))
    if on["potential_change"]:
        v["potential_change"] = sum(
            max(0.0, abs(totals[0][j] / p0[j] - 1.0) - inst.max_potential_change)
            for j in range(n_reps)
            if p0[j] > 0
        )
    if on["max_moved"]:
        v["max_moved"] = max(0.0, moved - inst.max_moved)
    if on["max_moved_potential"]:
        v["max_moved_potential"] = max(0.0, moved_potential - inst.max_moved_potential)
    if on["protected"]:
        v["protected"] = sum(
            1.0 for i in range(n_accounts) if inst.protected[i] and is_moved(inst, i, assignment[i])
        )
    if on["barred"]:
        v["barred"] = sum(1.0 for i, j in held if j in inst.barred[i])
    if on["leaving"]:
        v["leaving"] = sum(1.0 for i, j in held if inst.leaving[j])
    if on["max_distance"]:
        v["max_distance"] = sum(1.0 for i, j in held if distance_km(inst, i, j) > inst.max_distance)
    if on["contiguity"]:
        v["contiguity"] = sum(
            float(components(inst, assignment, j) - 1) for j in range(n_reps) if count[j] > 0
        )
    return {
        "totals": totals,
        "grand_totals": grand,
        "sums": sums,
        "objectives": objectives,
        "violations": v,
    }
