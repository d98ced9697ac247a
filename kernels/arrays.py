"""The flat arrays every kernel reads: accounts, reps and rules as named tuples.

The engine builds them once per problem (engine/model.py); kernels only read them.
"""

from collections import namedtuple

# Rows of AccountArrays.measures: the per-account quantities that are summed per territory.
POTENTIAL, WORKLOAD, ACCOUNT_COUNT = 0, 1, 2  # rows 3.. are extra numeric columns (balance rule)

# Indices of the violation vector (hard rules of DESIGN §3). Each entry is an amount that is
# 0 when the rule holds: a count of accounts, hours over capacity, or a sum of relative excesses.
RULE_LOCKED = 0  # locked accounts not with their current rep
RULE_REGIONS = 1  # accounts held by a rep whose `regions` exclude them
RULE_SPECIALISTS = 2  # accounts held by a specialist outside its skills
RULE_CAPACITY = 3  # sum_j max(0, W_j - capacity_j * (1 + slack))  (hours)
RULE_BALANCE = (
    4  # sum over banded measures m and reps with s_j > 0 of max(0, |X_mj/X*_mj - 1| - tol_m)
)
RULE_MIN_ACCOUNTS = 5  # sum over non-leaving reps of max(0, min - N_j)
RULE_MAX_ACCOUNTS = 6  # sum_j max(0, N_j - max)
RULE_POTENTIAL_CHANGE = 7  # sum over reps with P0_j > 0 of max(0, |P_j/P0_j - 1| - max_change)
RULE_MAX_MOVED = 8  # max(0, accounts moved - max_moved)
RULE_MAX_MOVED_POTENTIAL = 9  # max(0, potential moved - max_moved_potential)
RULE_PROTECTED = 10  # accounts at or above the potential threshold that moved
RULE_BARRED = 11  # accounts held by a rep they bar
RULE_LEAVING = 12  # accounts held by a leaving rep
RULE_CONTIGUITY = (
    13  # sum over non-empty territories of (connected components - 1); full evaluation only
)
RULE_MAX_DISTANCE = 14  # accounts held by a rep farther than max_distance km
N_RULES = 15

RULE_NAMES = (
    "locked",
    "regions",
    "specialists",
    "capacity",
    "balance",
    "min_accounts",
    "max_accounts",
    "potential_change",
    "max_moved",
    "max_moved_potential",
    "protected",
    "barred",
    "leaving",
    "contiguity",
    "max_distance",
)

# Objective indices (DESIGN §3, in order).
POTENTIAL_IMBALANCE, WORKLOAD_IMBALANCE, TRAVEL, DISRUPTION, SKILL_MISMATCH = 0, 1, 2, 3, 4
N_OBJECTIVES = 5
OBJECTIVE_NAMES = (
    "potential_imbalance",
    "workload_imbalance",
    "travel",
    "disruption",
    "skill_mismatch",
)

AccountArrays = namedtuple(
    "AccountArrays",
    [
        "measures",  # float64[n_measures, n_accounts]: potential, workload, 1.0, extra columns
        "current_rep",  # int64[n_accounts]: today's rep index, -1 when unassigned
        "segment",  # int64[n_accounts]: segment code
        "region",  # int64[n_accounts]: region code
        "locked",  # bool[n_accounts]
        "protected",  # bool[n_accounts]: potential at or above the never-move threshold
        "barred_ptr",  # int64[n_accounts + 1]: CSR row pointers into barred_rep
        "barred_rep",  # int64[n_barred]: rep indices an account may not go to
        "xyz",  # float64[n_accounts, 3]: unit vectors of the account locations
        "neighbour_ptr",  # int64[n_accounts + 1]: CSR neighbour graph for contiguity
        "neighbour",  # int64[n_edges] (both directions); empty when contiguity is off
    ],
)

RepArrays = namedtuple(
    "RepArrays",
    [
        "capacity",  # float64[n_reps]: hours per year, for the capacity rule
        "target_share",  # float64[n_reps]: s_j = capacity_j / sum capacity; 0 for leaving reps
        "baseline_potential",  # float64[n_reps]: P_j under today's assignment (P0_j)
        "skill",  # bool[n_reps, n_segments]
        "has_skills",  # bool[n_reps]
        "specialist",  # bool[n_reps]
        "region_ok",  # bool[n_reps, n_regions]: all True for a rep with no `regions`
        "leaving",  # bool[n_reps]
        "xyz",  # float64[n_reps, 3]: unit vectors of the rep homes
    ],
)

DistanceArrays = namedtuple(
    "DistanceArrays",
    [
        "matrix",  # float64[n_accounts, n_reps] explicit distances, or shape (0, 0) to use xyz
        "circuity",  # float: multiplies the great-circle distance (not the explicit matrix)
        "radius_km",  # float: 6371.0
    ],
)

RuleArrays = namedtuple(
    "RuleArrays",
    [
        "on",  # bool[N_RULES]: which hard rules are switched on
        "band_tolerance",  # float64[n_measures]: tol_m of the balance band; inf = not banded
        "capacity_slack",  # float
        "min_accounts",  # float
        "max_accounts",  # float
        "max_potential_change",  # float
        "max_moved",  # float: K, accounts
        "max_moved_potential",  # float: B, in potential units (not a share)
        "max_distance",  # float: km from account to rep (DESIGN §3 distance); inf when off
    ],
)
