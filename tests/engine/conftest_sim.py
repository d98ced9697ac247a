"""Instances for the stress-test tests, built straight from arrays (no files, no generator)."""

from __future__ import annotations

import numpy as np

from engine.model import ACTIVE, Accounts, Instance, Reps


def make_instance(
    potential,
    current_rep,
    capacity,
    tenure_months,
    workload=None,
    segment=None,
    relationship_years=None,
    status=None,
    n_segments: int = 1,
) -> Instance:
    """An Instance with the given arrays; locations, regions and skills are placeholders."""
    potential = np.asarray(potential, dtype=np.float64)
    n_accounts, n_reps = potential.shape[0], len(capacity)
    zeros = np.zeros(n_accounts)

    def given(values, default, dtype):
        return np.full(n_accounts, default, dtype) if values is None else np.asarray(values, dtype)

    accounts = Accounts(
        ids=np.array([f"A{i}" for i in range(n_accounts)], dtype=object),
        names=np.full(n_accounts, "", dtype=object),
        lat=zeros,
        lon=zeros,
        region=np.zeros(n_accounts, dtype=np.int64),
        segment=given(segment, 0, np.int64),
        potential=potential,
        workload=given(workload, 1.0, np.float64),
        current_rep=np.asarray(current_rep, dtype=np.int64),
        relationship_years=given(relationship_years, 0.0, np.float64),
        locked=np.zeros(n_accounts, dtype=bool),
        barred_ptr=np.zeros(n_accounts + 1, dtype=np.int64),
        barred_rep=np.zeros(0, dtype=np.int64),
        region_names=("R",),
        segment_names=tuple(f"S{g}" for g in range(n_segments)),
    )
    reps = Reps(
        ids=np.array([f"R{j}" for j in range(n_reps)], dtype=object),
        names=np.full(n_reps, "", dtype=object),
        home_lat=np.zeros(n_reps),
        home_lon=np.zeros(n_reps),
        capacity=np.asarray(capacity, dtype=np.float64),
        tenure_months=np.asarray(tenure_months, dtype=np.float64),
        skill=np.zeros((n_reps, n_segments), dtype=bool),
        specialist=np.zeros(n_reps, dtype=bool),
        region_ok=np.ones((n_reps, 1), dtype=bool),
        status=np.full(n_reps, ACTIVE, np.int8) if status is None else np.asarray(status, np.int8),
    )
    return Instance(accounts=accounts, reps=reps, source="test")


def random_instance(n_accounts: int, n_reps: int, seed: int = 0, n_segments: int = 4) -> Instance:
    """A northeast-like instance: lognormal potential, uneven territories, mixed tenure."""
    rng = np.random.default_rng(seed)
    potential = rng.lognormal(np.log(60_000.0), 1.0, n_accounts)
    workload = potential / 600.0 * rng.uniform(0.7, 1.3, n_accounts)
    weights = rng.uniform(0.5, 1.5, n_reps)
    current_rep = rng.choice(n_reps, size=n_accounts, p=weights / weights.sum())
    capacity = np.full(n_reps, workload.sum() / n_reps * 1.05)
    return make_instance(
        potential,
        current_rep,
        capacity,
        tenure_months=rng.uniform(0.0, 96.0, n_reps),
        workload=workload,
        segment=rng.integers(0, n_segments, n_accounts),
        relationship_years=rng.uniform(0.0, 8.0, n_accounts),
        n_segments=n_segments,
    )


def shifted_design(instance: Instance, share: float, seed: int = 1) -> np.ndarray:
    """Today's assignment with a random `share` of accounts moved to another rep."""
    rng = np.random.default_rng(seed)
    design = instance.accounts.current_rep.copy()
    n_reps = instance.reps.n_reps
    moved = rng.random(design.shape[0]) < share
    design[moved] = (design[moved] + rng.integers(1, n_reps, moved.sum())) % n_reps
    return design
