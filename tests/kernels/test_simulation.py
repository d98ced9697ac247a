"""The scenario kernel of DESIGN §5 against analytic values, hazards and a NumPy model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.benchmarks.baselines import draw_numpy, simulate_numpy
from engine.model import ACTIVE, LEAVING, NEW
from engine.simulation import SimParams, kernel_params, sim_arrays
from kernels.simulation import (
    ATTAINMENT_SPREAD,
    CHURNED,
    DEPARTURES,
    DISRUPTION_COST,
    N_METRICS,
    SHARE_AT_QUOTA,
    TOTAL_BOOKINGS,
    draw_scenario,
    new_draws,
    simulate_scenario_designs,
)
from tests.engine.conftest_sim import make_instance, random_instance, shifted_design

# Noise, turnover and reassignment effects all off: bookings are deterministic.
QUIET = dict(
    segment_volatility=0.0,
    account_volatility=0.0,
    deal_size=0.0,
    turnover_annual=0.0,
    relationship_floor=1.0,
    churn_base=0.0,
    churn_per_relationship_year=0.0,
    sales_cycle_days=0.0,
)


def run(instance, designs, params: SimParams, seeds, n_segments=None):
    """Month bookings [n_seeds, n_designs, H] and metrics [n_seeds, n_designs, M]."""
    accounts, reps = sim_arrays(instance)
    designs = np.array(designs, dtype=np.int64)
    designs.setflags(write=False)  # as the engine passes them: one compiled signature
    n_segments = n_segments or len(instance.accounts.segment_names)
    horizon = params.horizon_months
    draws = new_draws(designs.shape[1], reps.capacity.shape[0], n_segments, horizon)
    month = np.empty((len(seeds), designs.shape[0], horizon))
    metrics = np.empty((len(seeds), designs.shape[0], N_METRICS))
    kp = kernel_params(params)
    for k, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        simulate_scenario_designs(designs, accounts, reps, kp, rng, draws, month[k], metrics[k])
    return month, metrics


# ---- plain reference of the deterministic parts ------------------------------------------


def productivity(tenure: float, p: SimParams) -> float:
    """The tenure curve written out: ramp, rise to the peak, plateau, decline with a floor."""
    if tenure < p.ramp_months:
        return tenure / p.ramp_months
    if tenure < p.tenure_peak_months:
        share = (tenure - p.ramp_months) / (p.tenure_peak_months - p.ramp_months)
        return 1.0 + (p.peak_productivity - 1.0) * share
    if tenure < p.tenure_decline_months:
        return p.peak_productivity
    years = (tenure - p.tenure_decline_months) / 12.0
    return max(p.min_productivity, p.peak_productivity - p.decline_per_year * years)


def analytic_bookings(instance, design, p: SimParams):
    """Bookings by month and per rep with no noise, turnover or reassignment effects."""
    acc, reps = instance.accounts, instance.reps
    n_reps = reps.n_reps
    potential = np.zeros(n_reps)
    workload = np.zeros(n_reps)
    for i, j in enumerate(design):
        if j >= 0:
            potential[j] += acc.potential[i]
            workload[j] += acc.workload[i]
    months = np.zeros(p.horizon_months)
    per_rep = np.zeros(n_reps)
    for j in range(n_reps):
        coverage = min(1.0, reps.capacity[j] / workload[j]) if workload[j] > 0 else 1.0
        start = 0.0 if reps.status[j] == NEW else reps.tenure_months[j]
        for m in range(p.horizon_months):
            if reps.status[j] == LEAVING:  # gone at month 0: vacancy, then a hire from tenure 0
                if m < p.vacancy_months:
                    prod = p.vacancy_productivity
                else:
                    prod = productivity(m - p.vacancy_months + 0.5, p)
            else:
                prod = productivity(start + m + 0.5, p)
            amount = potential[j] / 12.0 * coverage * prod
            months[m] += amount
            per_rep[j] += amount
    return months, per_rep, potential


@pytest.fixture(scope="module")
def team():
    """Six reps across the tenure curve (new, ramped, rising, peak, declining, leaving)."""
    rng = np.random.default_rng(7)
    n_accounts = 60
    current = np.repeat(np.arange(6), 10)
    workload = rng.uniform(5.0, 15.0, n_accounts)
    capacity = np.full(6, 120.0)
    capacity[4] = 40.0  # over capacity: coverage below 1
    return make_instance(
        potential=rng.uniform(20_000.0, 200_000.0, n_accounts),
        current_rep=current,
        capacity=capacity,
        tenure_months=[30.0, 3.0, 12.0, 40.0, 80.0, 50.0],
        workload=workload,
        segment=rng.integers(0, 3, n_accounts),
        relationship_years=rng.uniform(0, 6, n_accounts),
        status=[NEW, ACTIVE, ACTIVE, ACTIVE, ACTIVE, LEAVING],
        n_segments=3,
    )


def team_redesign(instance):
    """Moves the leaving rep's accounts to others and shifts a few more."""
    design = instance.accounts.current_rep.copy()
    design[50:60] = np.arange(10) % 5
    design[0:4] = 3
    return design


def test_bookings_equal_the_analytic_value_without_noise_turnover_or_reassignment(team):
    params = SimParams(**QUIET)
    designs = np.stack([team.accounts.current_rep, team_redesign(team)])
    month, metrics = run(team, designs, params, seeds=[1, 2])
    for d, design in enumerate(designs):
        months, per_rep, potential = analytic_bookings(team, design, params)
        np.testing.assert_allclose(month[:, d], np.tile(months, (2, 1)), rtol=1e-12)
        np.testing.assert_allclose(metrics[:, d, TOTAL_BOOKINGS], months.sum(), rtol=1e-12)
        assert (metrics[:, d, [DEPARTURES, CHURNED, DISRUPTION_COST]] == 0).all()
        quota = potential * params.quota_factor * params.horizon_months / 12.0
        attainment = per_rep[quota > 0] / quota[quota > 0]
        np.testing.assert_allclose(metrics[:, d, ATTAINMENT_SPREAD], np.ptp(attainment), rtol=1e-9)
        np.testing.assert_allclose(metrics[:, d, SHARE_AT_QUOTA], np.mean(attainment >= 1.0))


def test_lumpy_deals_average_to_the_expected_bookings(team):
    lumpy = SimParams(**{**QUIET, "deal_size": 85_000.0})
    designs = np.stack([team.accounts.current_rep])
    month, metrics = run(team, designs, lumpy, seeds=range(400))
    expected = analytic_bookings(team, designs[0], lumpy)[0].sum()
    totals = metrics[:, 0, TOTAL_BOOKINGS]
    assert np.allclose(month / 85_000.0, np.round(month / 85_000.0))  # whole deals only
    assert abs(totals.mean() - expected) <= 4 * totals.std() / math.sqrt(totals.size)
    assert totals.std() > 0.01 * expected


def two_rep_team(potential_moved=120_000.0):
    """Two identical reps on the tenure plateau, one account of each moved in design 1."""
    instance = make_instance(
        potential=[potential_moved, 90_000.0, 60_000.0, 80_000.0],
        current_rep=[0, 0, 1, 1],
        capacity=[1000.0, 1000.0],
        tenure_months=[36.0, 36.0],  # 36.5 .. 59.5 months over 24 months: peak all along
        relationship_years=[4.0, 0.0, 0.0, 0.0],
    )
    return instance, np.array([[0, 0, 1, 1], [1, 0, 1, 1]])


@pytest.mark.parametrize("sales_cycle_days", [0.0, 87.0])
def test_moved_account_productivity_follows_the_ramp_curve(sales_cycle_days):
    params = SimParams(**{**QUIET, "relationship_floor": 0.4, "sales_cycle_days": sales_cycle_days})
    instance, designs = two_rep_team()
    month, metrics = run(instance, designs, params, seeds=[3])
    m = np.arange(params.horizon_months) + 0.5
    ramp = 0.4 + 0.6 * np.minimum(1.0, m / params.account_ramp_months)
    cycle = sales_cycle_days / (365.25 / 12)
    old_pipeline = np.maximum(0.0, 1.0 - m / cycle) if cycle > 0 else np.zeros_like(m)
    full = 120_000.0 / 12.0 * params.peak_productivity
    lost = full * (1.0 - old_pipeline) * (1.0 - ramp)
    np.testing.assert_allclose(month[0, 0] - month[0, 1], lost, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(metrics[0, 1, DISRUPTION_COST], lost.sum(), rtol=1e-9)
    assert metrics[0, 0, DISRUPTION_COST] == 0.0


def test_departures_match_the_hazard_within_a_confidence_bound():
    params = SimParams(**{**QUIET, "turnover_annual": 0.30, "vacancy_months": 24})
    # Four equal reps; design 1 takes both accounts of rep 0 away (loss 1, shortfall 1).
    instance = make_instance(
        potential=np.full(8, 50_000.0),
        current_rep=np.repeat(np.arange(4), 2),
        capacity=np.full(4, 100.0),
        tenure_months=np.full(4, 24.0),
    )
    designs = np.array([np.repeat(np.arange(4), 2), [1, 2, 1, 1, 2, 2, 3, 3]])
    n = 3000
    _, metrics = run(instance, designs, params, seeds=range(n))

    def leave_within_horizon(annual):  # at most one departure per seat (vacancy >= horizon)
        monthly = 1.0 - (1.0 - annual) ** (1.0 / 12.0)
        return 1.0 - (1.0 - monthly) ** params.horizon_months

    base = leave_within_horizon(0.30)
    raised = leave_within_horizon(0.30 * (1.0 + params.turnover_unfairness_factor + 1.0))
    for d, probabilities in enumerate([[base] * 4, [raised, base, base, base]]):
        expected = sum(probabilities)
        sd = math.sqrt(sum(q * (1 - q) for q in probabilities) / n)
        observed = metrics[:, d, DEPARTURES].mean()
        assert abs(observed - expected) <= 4 * sd, (d, observed, expected)
    assert raised - base > 8 * sd  # the raise is far larger than the bound


def test_moved_accounts_churn_with_their_relationship_years():
    params = SimParams(**{**QUIET, "churn_base": 0.02, "churn_per_relationship_year": 0.015})
    n_accounts = 40
    instance = make_instance(
        potential=np.full(n_accounts, 50_000.0),
        current_rep=np.zeros(n_accounts, dtype=np.int64),
        capacity=[1e6, 1e6],
        tenure_months=[40.0, 40.0],
        relationship_years=np.where(np.arange(n_accounts) < 20, 4.0, 20.0),
    )
    designs = np.stack([np.zeros(n_accounts, dtype=np.int64), np.ones(n_accounts, dtype=np.int64)])
    n = 500
    _, metrics = run(instance, designs, params, seeds=range(n))
    probabilities = [0.02 + 0.015 * 4.0] * 20 + [params.churn_max] * 20  # 20 years: capped
    expected = sum(probabilities)
    sd = math.sqrt(sum(q * (1 - q) for q in probabilities) / n)
    assert abs(metrics[:, 1, CHURNED].mean() - expected) <= 4 * sd
    assert (metrics[:, 0, CHURNED] == 0).all()


def test_same_seed_gives_the_same_scenario_and_another_seed_differs():
    instance = random_instance(300, 8)
    designs = np.stack([instance.accounts.current_rep, shifted_design(instance, 0.3)])
    first = run(instance, designs, SimParams(), seeds=[[5, 0], [5, 1]])
    again = run(instance, designs, SimParams(), seeds=[[5, 0], [5, 1]])
    other = run(instance, designs, SimParams(), seeds=[[6, 0], [6, 1]])
    assert first[0].tobytes() == again[0].tobytes() and first[1].tobytes() == again[1].tobytes()
    assert not np.array_equal(first[1], other[1])
    assert not np.array_equal(first[1][0], first[1][1])  # scenarios 0 and 1 differ


def test_designs_of_a_scenario_share_its_random_numbers():
    instance = random_instance(300, 8)
    today = instance.accounts.current_rep
    small_change = today.copy()
    small_change[np.argmin(instance.accounts.potential)] = (today[0] + 1) % 8
    designs = np.stack([today, today, small_change])
    month, metrics = run(instance, designs, SimParams(), seeds=range(60))
    assert month[:, 0].tobytes() == month[:, 1].tobytes()
    totals = metrics[:, :, TOTAL_BOOKINGS]
    assert np.corrcoef(totals[:, 0], totals[:, 2])[0, 1] > 0.99


@pytest.mark.parametrize("lumpy", [True, False])
def test_kernel_matches_the_numpy_model(lumpy):
    instance = random_instance(400, 9, seed=3)
    designs = np.stack(
        [
            instance.accounts.current_rep,
            shifted_design(instance, 0.25, seed=2),
            np.where(np.arange(400) % 7 == 0, -1, shifted_design(instance, 0.05, seed=4)),
        ]
    )
    params = SimParams(vacancy_months=2, deal_size=85_000.0 if lumpy else 0.0)
    month, metrics = run(instance, designs, params, seeds=[[9, k] for k in range(6)])
    accounts, reps = sim_arrays(instance)
    kp = kernel_params(params)
    for k in range(6):
        draws = draw_numpy(np.random.default_rng([9, k]), 400, 9, 4, params.horizon_months)
        for d in range(designs.shape[0]):
            ref_month, ref_metrics = simulate_numpy(designs[d], accounts, reps, kp, draws)
            np.testing.assert_allclose(month[k, d], ref_month, rtol=1e-9)
            np.testing.assert_allclose(metrics[k, d], ref_metrics, rtol=1e-9, atol=1e-6)
    assert metrics[:, 1:, DEPARTURES].sum() > 0 and metrics[:, 1:, CHURNED].sum() > 0


def test_kernel_draws_equal_numpy_draws():
    draws = new_draws(50, 4, 3, 6)
    draw_scenario(np.random.default_rng([1, 2]), draws)
    reference = draw_numpy(np.random.default_rng([1, 2]), 50, 4, 3, 6)
    for got, want in zip(draws, reference, strict=True):
        assert got.tobytes() == want.tobytes()
