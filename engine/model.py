"""The validated data model of DESIGN §2: accounts, reps and a problem to solve.

Built once at the edge (engine/validate.py); inner code trusts these arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ACTIVE, NEW, LEAVING = 0, 1, 2
REP_STATUSES = ("active", "new", "leaving")


@dataclass(frozen=True)
class Accounts:
    """Accounts as contiguous arrays, one entry per account (n_accounts).

    Strings are coded: `region` and `segment` index `region_names` and `segment_names`;
    `current_rep` and the barred lists index the reps of the same problem (-1 = none).
    """

    ids: np.ndarray  # object[n_accounts] of str
    names: np.ndarray  # object[n_accounts] of str ('' when absent)
    lat: np.ndarray  # float64, degrees
    lon: np.ndarray  # float64, degrees
    region: np.ndarray  # int64 codes into region_names
    segment: np.ndarray  # int64 codes into segment_names
    potential: np.ndarray  # float64
    workload: np.ndarray  # float64
    current_rep: np.ndarray  # int64 rep index, -1 when unassigned
    relationship_years: np.ndarray  # float64
    locked: np.ndarray  # bool
    barred_ptr: np.ndarray  # int64[n_accounts + 1], CSR pointers into barred_rep
    barred_rep: np.ndarray  # int64 rep indices
    region_names: tuple[str, ...]
    segment_names: tuple[str, ...]
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # further numeric columns

    def protected_by(self, potential: float) -> np.ndarray:
        """bool[n_accounts]: held today at or above `potential` (the protected_potential rule)."""
        return (self.potential >= potential) & (self.current_rep >= 0)

    @property
    def n_accounts(self) -> int:
        """Number of accounts."""
        return int(self.ids.shape[0])


@dataclass(frozen=True)
class Reps:
    """Reps as contiguous arrays, one entry per rep (n_reps)."""

    ids: np.ndarray  # object[n_reps] of str
    names: np.ndarray  # object[n_reps] of str
    home_lat: np.ndarray  # float64
    home_lon: np.ndarray  # float64
    capacity: np.ndarray  # float64 hours per year
    tenure_months: np.ndarray  # float64
    skill: np.ndarray  # bool[n_reps, n_segments]
    specialist: np.ndarray  # bool
    region_ok: np.ndarray  # bool[n_reps, n_regions]; all True when `regions` was empty
    status: np.ndarray  # int8: ACTIVE, NEW or LEAVING

    @property
    def n_reps(self) -> int:
        """Number of reps."""
        return int(self.ids.shape[0])

    @property
    def leaving(self) -> np.ndarray:
        """Reps that receive no accounts in a redesign."""
        return self.status == LEAVING


@dataclass(frozen=True)
class Instance:
    """Accounts and reps that passed validation, with where they came from."""

    accounts: Accounts
    reps: Reps
    source: str  # a preset name or the input paths, for reports and metadata
    distance_matrix: np.ndarray | None = None  # float64[n_accounts, n_reps], benchmarks
    neighbour_graph: tuple[np.ndarray, np.ndarray] | None = None  # CSR (ptr, index)


def territory_potential(
    rep_of_account: np.ndarray, potential: np.ndarray, n_reps: int
) -> np.ndarray:
    """P_j per rep for an assignment (unassigned accounts count nowhere)."""
    held = rep_of_account >= 0
    return np.bincount(rep_of_account[held], weights=potential[held], minlength=n_reps)
