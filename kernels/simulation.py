"""Monte Carlo scenario kernels of DESIGN §5: one call simulates one scenario of one design.

The engine (engine/simulation.py) builds the arrays; Ray or a plain loop runs batches of calls.

The model, month by month over `horizon_months` (m = 0, 1, ...; curves are read at mid-month,
m + 0.5). Potentials are annual; the expected bookings of account i held by seat j in month m
are

    potential_i / 12 * noise_i * shock_g(i)(m) * rep_factor_j(m) * relationship_i(m)

- noise_i = exp(a * z_i - a^2 / 2), one normal z_i per account and scenario: the error of the
  potential estimate (a = account_volatility; mean 1).
- shock_g(m) = exp(x_g(m) - s^2 / 2), x_g an AR(1) per segment g with stationary sd s
  (segment_volatility), persistence phi and innovations sqrt(rho) * market + sqrt(1 - rho) * own,
  so segments move together with correlation rho (segment_correlation).
- rep_factor_j(m) = coverage_j * productivity. coverage_j = min(1, capacity_j / W_j): a
  territory whose workload exceeds capacity is only partly worked (capacity saturation).
  Productivity follows tenure (months in role, read at mid-month): a linear ramp from 0 to 1 over
  ramp_months, a linear rise to peak_productivity at tenure_peak_months, flat until
  tenure_decline_months, then a decline of decline_per_year, floored at min_productivity. A seat
  whose rep has left is vacant for vacancy_months (neighbours cover at vacancy_productivity),
  then a new hire starts at tenure 0 and ramps.
- Reassignment. An account whose design rep differs from today's is moved at month 0:
  * relationship_i(m) = floor + (1 - floor) * min(1, (m + 0.5) / account_ramp_months) when it
    had a rep today and has one in the design (relationship_floor; 1 otherwise);
  * pipeline does not move with the lines: a share max(0, 1 - (m + 0.5) / cycle) of the
    account's expected bookings is pipeline built before the move (cycle = sales_cycle_days in
    months); it closes for the old seat at the old seat's rep_factor and with no relationship
    loss; the rest is the new rep's own pipeline (new seat, new rep_factor, times relationship).
    The new rep's bookings on the account thus start slowly (the pipeline gap of the rep), and
    the old rep keeps closing for one cycle;
  * it churns (books nothing more) with probability p_i = min(churn_max, churn_base +
    churn_per_relationship_year * relationship_years_i), in a month drawn uniformly within
    the first account_ramp_months.
  Accounts unassigned today get no relationship loss or churn, but their pipeline starts empty.
- Lumpy deals. Expected bookings, divided by deal_size, are the intensity of a Poisson process
  of deals of deal_size each. Arrivals are the points E_1, E_1 + E_2, ... of unit exponentials in
  cumulative intensity, one sequence per account keyed by (scenario, account, deal number): a
  design with more intensity sees the same deals and more (common random numbers that stay
  common when designs differ). deal_size = 0 books the expected value itself.
- Turnover. Seat j's annual hazard is turnover_annual * (1 + turnover_loss_factor * loss_j +
  turnover_unfairness_factor * shortfall_j), capped at 1, and monthly 1 - (1 - annual)^(1/12);
  loss_j = max(0, 1 - P_j / P0_j) is the share of today's potential the rep loses and
  shortfall_j = max(0, 1 - P_j / P*_j) how far the territory falls below its target. The loss
  term applies to the rep who holds the seat at month 0 only; a departure at the end of a month
  opens the vacancy from the next month. A `leaving` rep who still holds accounts leaves at
  month 0 (vacancy, then a hire; not counted as a departure); a seat with no accounts and a
  leaving rep is empty.
- Quota_j = quota_factor * P_j * horizon / 12; attainment_j = bookings credited to seat j /
  quota_j, over reps with a quota.
- Disruption cost = expected bookings lost on moved accounts to the relationship reset and to
  churn (what they would have booked with neither), in the scenario's market, before lumpiness.

Random numbers (common random numbers): `draw_scenario` fills a ScenarioDraws from a
numpy Generator seeded by the engine with (seed, scenario index), in an order fixed by the sizes
of the problem alone; every design of the scenario then reads the same draws.
"""

from collections import namedtuple

import numpy as np

from kernels.jit import njit

# Columns of the per-scenario metrics row.
TOTAL_BOOKINGS, DEPARTURES, CHURNED, ATTAINMENT_SPREAD, SHARE_AT_QUOTA, DISRUPTION_COST = range(6)
N_METRICS = 6
METRIC_NAMES = (
    "total_bookings",
    "departures",
    "churned_accounts",
    "attainment_spread",
    "share_at_quota",
    "disruption_cost",
)

SimAccounts = namedtuple(
    "SimAccounts",
    [
        "potential",  # float64[n_accounts]: annual potential
        "workload",  # float64[n_accounts]: hours per year
        "segment",  # int64[n_accounts]: segment code, 0..n_segments-1
        "current_rep",  # int64[n_accounts]: today's rep, -1 when unassigned
        "relationship_years",  # float64[n_accounts]: years today's rep has held it
    ],
)

SimReps = namedtuple(
    "SimReps",
    [
        "capacity",  # float64[n_reps]: hours per year
        "start_tenure",  # float64[n_reps]: months in role at month 0 (0 for `new` reps)
        "leaving",  # bool[n_reps]
        "target_potential",  # float64[n_reps]: P*_j = s_j * sum potential (0 for leaving reps)
        "baseline_potential",  # float64[n_reps]: P0_j under today's assignment
    ],
)

# Model parameters, all float64 except the two counts (int64); see engine.simulation.SimParams.
ScenarioParams = namedtuple(
    "ScenarioParams",
    [
        "horizon_months",  # int
        "ramp_months",
        "tenure_peak_months",
        "tenure_decline_months",
        "peak_productivity",
        "decline_per_year",
        "min_productivity",
        "account_ramp_months",
        "relationship_floor",
        "churn_base",
        "churn_per_relationship_year",
        "churn_max",
        "sales_cycle_months",
        "turnover_annual",
        "turnover_loss_factor",
        "turnover_unfairness_factor",
        "vacancy_months",  # int
        "vacancy_productivity",
        "segment_volatility",
        "segment_correlation",
        "segment_persistence",
        "account_volatility",
        "deal_size",
        "quota_factor",
    ],
)

ScenarioDraws = namedtuple(
    "ScenarioDraws",
    [
        "key",  # uint64[1]: keys the per-account deal arrivals
        "account_normal",  # float64[n_accounts]: potential estimate error
        "churn_uniform",  # float64[n_accounts]: churn of a moved account, and its month
        "market_normal",  # float64[horizon, n_segments + 1]: column 0 market-wide, then segments
        "rep_uniform",  # float64[horizon, n_reps]: departures
    ],
)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_ACCOUNT_MIX = np.uint64(0xD1B54A32D192ED03)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 2.0**-53


def new_draws(n_accounts, n_reps, n_segments, horizon):
    """Allocate the random numbers of one scenario (filled by `draw_scenario`)."""
    return ScenarioDraws(
        np.zeros(1, dtype=np.uint64),
        np.empty(n_accounts),
        np.empty(n_accounts),
        np.empty((horizon, n_segments + 1)),
        np.empty((horizon, n_reps)),
    )


@njit
def draw_scenario(rng, draws):
    """Fill `draws` from `rng` in a fixed order: key, accounts, the market, then rep by rep.

    The reps come last and one whole rep at a time, so that rep j's departures draw the same
    numbers however many reps follow it: a command that appends seats (headcount, an open req)
    leaves today's reps, and so today's design, with the draws every other command gives them.
    """
    draws.key[0] = np.uint64(rng.integers(0, 2**62))
    for i in range(draws.account_normal.shape[0]):
        draws.account_normal[i] = rng.standard_normal()
    for i in range(draws.churn_uniform.shape[0]):
        draws.churn_uniform[i] = rng.random()
    for m in range(draws.market_normal.shape[0]):
        for g in range(draws.market_normal.shape[1]):
            draws.market_normal[m, g] = rng.standard_normal()
    for j in range(draws.rep_uniform.shape[1]):
        for m in range(draws.rep_uniform.shape[0]):
            draws.rep_uniform[m, j] = rng.random()


@njit
def _splitmix(z):
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit
def deal_gap(key, account, k):
    """Unit exponential number k of `account`'s deal arrivals in the scenario keyed by `key`."""
    stream = _splitmix(key + np.uint64(account) * _ACCOUNT_MIX)
    z = _splitmix(stream + np.uint64(k + 1) * _GOLDEN)
    return -np.log((np.float64(z >> _S11) + 0.5) * _TO_UNIT)


@njit
def tenure_productivity(tenure, p):
    """Productivity of a rep `tenure` months in role (1.0 = fully ramped)."""
    if tenure < p.ramp_months:
        return tenure / p.ramp_months
    if tenure < p.tenure_peak_months:
        rise = (tenure - p.ramp_months) / (p.tenure_peak_months - p.ramp_months)
        return 1.0 + (p.peak_productivity - 1.0) * rise
    if tenure < p.tenure_decline_months:
        return p.peak_productivity
    late = p.peak_productivity - p.decline_per_year * (tenure - p.tenure_decline_months) / 12.0
    return max(p.min_productivity, late)


@njit
def relationship_factor(m, p):
    """Productivity on a moved account in month m after the move (1.0 = as before)."""
    if p.account_ramp_months <= 0.0:
        return 1.0
    return p.relationship_floor + (1.0 - p.relationship_floor) * min(
        1.0, (m + 0.5) / p.account_ramp_months
    )


@njit
def pipeline_share(m, p):
    """Share of a moved account's month-m bookings that is pipeline from before the move."""
    if p.sales_cycle_months <= 0.0:
        return 0.0
    return max(0.0, 1.0 - (m + 0.5) / p.sales_cycle_months)


@njit
def monthly_hazard(annual):
    """Monthly departure probability for an annual rate (capped at 1)."""
    if annual >= 1.0:
        return 1.0
    return 1.0 - (1.0 - annual) ** (1.0 / 12.0)


@njit
def simulate_scenario(assignment, accounts, reps, params, draws, month_bookings, metrics):
    """Simulate one scenario of one design.

    Parameters
    ----------
    assignment : int64[n_accounts]
        Rep index of each account under the design, -1 = unassigned.
    accounts : SimAccounts
    reps : SimReps
    params : ScenarioParams
    draws : ScenarioDraws
        The scenario's random numbers (`draw_scenario`); only read.
    month_bookings : float64[horizon_months]
        Out: bookings by month.
    metrics : float64[N_METRICS]
        Out: the scenario's metrics row (TOTAL_BOOKINGS, ...).
    """
    p = params
    n_accounts = assignment.shape[0]
    n_reps = reps.capacity.shape[0]
    horizon = p.horizon_months
    n_segments = draws.market_normal.shape[1] - 1
    lumpy = p.deal_size > 0.0
    unit = p.deal_size if lumpy else 1.0
    key = draws.key[0]

    # Territories of the design: potential, workload and account count per seat.
    territory_potential = np.zeros(n_reps)
    territory_workload = np.zeros(n_reps)
    territory_accounts = np.zeros(n_reps, dtype=np.int64)
    for i in range(n_accounts):
        j = assignment[i]
        if j >= 0:
            territory_potential[j] += accounts.potential[i]
            territory_workload[j] += accounts.workload[i]
            territory_accounts[j] += 1

    # Seats: coverage, hazards (of the rep at month 0 and of a hire), quota and initial state.
    coverage = np.ones(n_reps)
    hazard_first = np.zeros(n_reps)
    hazard_hire = np.zeros(n_reps)
    quota = np.empty(n_reps)
    tenure = np.empty(n_reps)
    vacant_left = np.zeros(n_reps, dtype=np.int64)
    is_first = np.ones(n_reps, dtype=np.bool_)
    is_empty = np.zeros(n_reps, dtype=np.bool_)
    for j in range(n_reps):
        pj = territory_potential[j]
        if territory_workload[j] > reps.capacity[j]:
            coverage[j] = reps.capacity[j] / territory_workload[j]
        loss = 0.0
        if reps.baseline_potential[j] > 0.0:
            loss = max(0.0, 1.0 - pj / reps.baseline_potential[j])
        shortfall = 0.0
        if reps.target_potential[j] > 0.0:
            shortfall = max(0.0, 1.0 - pj / reps.target_potential[j])
        fair = 1.0 + p.turnover_unfairness_factor * shortfall
        hazard_first[j] = monthly_hazard(p.turnover_annual * (fair + p.turnover_loss_factor * loss))
        hazard_hire[j] = monthly_hazard(p.turnover_annual * fair)
        quota[j] = p.quota_factor * pj * horizon / 12.0
        tenure[j] = reps.start_tenure[j]
        if reps.leaving[j]:
            is_first[j] = False
            if territory_accounts[j] == 0:
                is_empty[j] = True
            elif p.vacancy_months > 0:
                vacant_left[j] = p.vacancy_months
            else:
                tenure[j] = 0.0

    # Accounts: scenario scale (in deal units), churn month of moved accounts, deal arrivals.
    noise_var = p.account_volatility * p.account_volatility
    scale = np.empty(n_accounts)
    churn_month = np.full(n_accounts, horizon, dtype=np.int64)
    budget = np.empty(n_accounts)
    deal_count = np.ones(n_accounts, dtype=np.int64)
    for i in range(n_accounts):
        noise = np.exp(p.account_volatility * draws.account_normal[i] - 0.5 * noise_var)
        scale[i] = accounts.potential[i] / 12.0 / unit * noise
        j = assignment[i]
        o = accounts.current_rep[i]
        if j != o and j >= 0 and o >= 0:
            churn = min(
                p.churn_max,
                p.churn_base + p.churn_per_relationship_year * accounts.relationship_years[i],
            )
            u = draws.churn_uniform[i]
            if u < churn:
                churn_month[i] = int(u / churn * p.account_ramp_months)
        if lumpy:
            budget[i] = deal_gap(key, i, 0)

    shock_state = np.zeros(n_segments)
    shock = np.empty(n_segments)
    rep_factor = np.empty(n_reps)
    rep_bookings = np.zeros(n_reps)
    seg_sd = p.segment_volatility
    innovation_sd = seg_sd * np.sqrt(1.0 - p.segment_persistence * p.segment_persistence)
    market_weight = np.sqrt(p.segment_correlation)
    own_weight = np.sqrt(1.0 - p.segment_correlation)
    departures = 0
    lost = 0.0

    for m in range(horizon):
        market = draws.market_normal[m, 0]
        for g in range(n_segments):
            eps = market_weight * market + own_weight * draws.market_normal[m, g + 1]
            if m == 0:
                shock_state[g] = seg_sd * eps
            else:
                shock_state[g] = p.segment_persistence * shock_state[g] + innovation_sd * eps
            shock[g] = np.exp(shock_state[g] - 0.5 * seg_sd * seg_sd)
        for j in range(n_reps):
            if vacant_left[j] > 0:
                rep_factor[j] = coverage[j] * p.vacancy_productivity
            else:
                rep_factor[j] = coverage[j] * tenure_productivity(tenure[j] + 0.5, p)
        relationship = relationship_factor(m, p)
        old_share = pipeline_share(m, p)
        month_total = 0.0

        for i in range(n_accounts):
            j = assignment[i]
            o = accounts.current_rep[i]
            if j == o:
                if j < 0:
                    continue
                lam = scale[i] * shock[accounts.segment[i]] * rep_factor[j]
                if lumpy:
                    b = budget[i] - lam
                    while b <= 0.0:
                        rep_bookings[j] += 1.0
                        month_total += 1.0
                        b += deal_gap(key, i, deal_count[i])
                        deal_count[i] += 1
                    budget[i] = b
                else:
                    rep_bookings[j] += lam
                    month_total += lam
                continue
            # A moved (or newly covered, or uncovered) account.
            s = scale[i] * shock[accounts.segment[i]]
            lam_old = s * rep_factor[o] * old_share if o >= 0 else 0.0
            lam_new_full = s * rep_factor[j] * (1.0 - old_share) if j >= 0 else 0.0
            if m >= churn_month[i]:
                lost += lam_old + lam_new_full
                continue
            lam_new = lam_new_full
            if o >= 0 and j >= 0:
                lam_new = lam_new_full * relationship
                lost += lam_new_full - lam_new
            lam = lam_old + lam_new
            if lumpy:
                b = budget[i] - lam
                while b <= 0.0:
                    seat = o if lam + b <= lam_old else j  # where in the month it arrived
                    rep_bookings[seat] += 1.0
                    month_total += 1.0
                    b += deal_gap(key, i, deal_count[i])
                    deal_count[i] += 1
                budget[i] = b
            else:
                if o >= 0:
                    rep_bookings[o] += lam_old
                if j >= 0:
                    rep_bookings[j] += lam_new
                month_total += lam
        month_bookings[m] = month_total * unit

        # Month end: the vacant count down, the others age and may leave.
        for j in range(n_reps):
            if is_empty[j]:
                continue
            if vacant_left[j] > 0:
                vacant_left[j] -= 1
                if vacant_left[j] == 0:
                    tenure[j] = 0.0
                continue
            tenure[j] += 1.0
            hazard = hazard_first[j] if is_first[j] else hazard_hire[j]
            if draws.rep_uniform[m, j] < hazard:
                departures += 1
                is_first[j] = False
                if p.vacancy_months > 0:
                    vacant_left[j] = p.vacancy_months
                else:
                    tenure[j] = 0.0

    total = 0.0
    for m in range(horizon):
        total += month_bookings[m]
    churned = 0
    for i in range(n_accounts):
        if churn_month[i] < horizon:
            churned += 1
    low, high, at_quota, with_quota = np.inf, -np.inf, 0, 0
    for j in range(n_reps):
        if quota[j] > 0.0:
            attainment = rep_bookings[j] * unit / quota[j]
            low = min(low, attainment)
            high = max(high, attainment)
            with_quota += 1
            if attainment >= 1.0:
                at_quota += 1
    metrics[TOTAL_BOOKINGS] = total
    metrics[DEPARTURES] = departures
    metrics[CHURNED] = churned
    metrics[ATTAINMENT_SPREAD] = high - low if with_quota > 0 else 0.0
    metrics[SHARE_AT_QUOTA] = at_quota / with_quota if with_quota > 0 else 0.0
    metrics[DISRUPTION_COST] = lost * unit


@njit
def simulate_scenario_designs(designs, accounts, reps, params, rng, draws, month_bookings, metrics):
    """Draw one scenario from `rng` and simulate every design in it (common random numbers).

    Parameters
    ----------
    designs : int64[n_designs, n_accounts]
        Rep index per account, one row per design.
    accounts, reps, params
        As in `simulate_scenario`.
    rng : numpy.random.Generator
        The scenario's generator, seeded by (seed, scenario index) alone.
    draws : ScenarioDraws
        Workspace from `new_draws`, overwritten.
    month_bookings : float64[n_designs, horizon_months]
        Out.
    metrics : float64[n_designs, N_METRICS]
        Out.
    """
    draw_scenario(rng, draws)
    simulate_drawn_scenario(designs, accounts, reps, params, draws, month_bookings, metrics)


@njit
def simulate_drawn_scenario(designs, accounts, reps, params, draws, month_bookings, metrics):
    """Simulate every design in a scenario already drawn into `draws` (only read).

    The caller may split the designs over several calls: each design reads the draws alone.
    Arguments as in `simulate_scenario_designs`, without `rng`.
    """
    for d in range(designs.shape[0]):
        simulate_scenario(designs[d], accounts, reps, params, draws, month_bookings[d], metrics[d])
