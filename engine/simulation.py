"""Monte Carlo stress test of DESIGN §5: designs simulated month by month over many scenarios.

Builds the kernel arrays (kernels/simulation.py) from an Instance, runs batches of scenarios
through a runner (in-process or Ray, engine/parallel.py) and summarises them as Arrow tables.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from engine.errors import TerrasimError
from engine.model import LEAVING, NEW, Instance
from engine.parallel import InProcessRunner
from kernels.jit import interrupts_deferred
from kernels.simulation import (
    ATTAINMENT_SPREAD,
    CHURNED,
    DEPARTURES,
    DISRUPTION_COST,
    N_METRICS,
    SHARE_AT_QUOTA,
    TOTAL_BOOKINGS,
    ScenarioParams,
    SimAccounts,
    SimReps,
    draw_scenario,
    new_draws,
    simulate_drawn_scenario,
)

DAYS_PER_MONTH = 365.25 / 12.0
# Scenarios per task, measured (tests/benchmarks/test_simulation_bench.py): at 10,000 accounts
# x 2 designs, 2 Ray workers ran at 94-97% of twice 1 worker for batches of 10 to 100. A task
# costs ~5 ms here, so a batch should take 100 ms or more: 50 scenarios do from about 5,000
# accounts x 2 designs, and 2,000 scenarios still make 40 tasks to spread over the workers.
# Smaller jobs are faster in-process (ray.enabled=false) than Ray's start-up.
DEFAULT_BATCH_SIZE = 50
MAX_DEALS_PER_ACCOUNT_MONTH = 1000.0
# Account-designs one kernel call simulates (about 0.2 s at 10 ns each, measured at 100,000
# accounts): between calls Python can raise KeyboardInterrupt, so Ctrl-C stops a batch of many
# designs of a large instance within a fraction of a second.
KERNEL_ACCOUNT_DESIGNS = 2_000_000
# Keys of the `sim` config group that set the run, not the model.
RUN_KEYS = ("scenarios", "batch_size")


@dataclass(frozen=True)
class SimParams:
    """Parameters of the scenario model (DESIGN §5); defaults with their sources.

    "seeds NNN" are the articles in shared/seeds/; "assumption" marks a default with no
    published figure behind it, to be set from a team's own data.
    """

    horizon_months: int = 24  # DESIGN §5
    # Rep productivity by tenure (1.0 = fully ramped).
    ramp_months: float = 5.7  # Bridge Group 2024 average ramp, up from 4.3 in 2020 (seeds 003)
    tenure_peak_months: float = 36.0  # Xactly, 17 years of data: peak at three years (seeds 003)
    tenure_decline_months: float = 60.0  # Xactly: decline often begins by year five (seeds 003)
    peak_productivity: float = 1.15  # assumption: peak 15% above a just-ramped rep
    decline_per_year: float = 0.05  # assumption: after year five
    min_productivity: float = 0.85  # assumption: floor of the late-tenure decline
    # Reassignment: relationship reset, churn, pipeline.
    account_ramp_months: float = 5.7  # a redesign makes reps "new" in their accounts (seeds 003)
    relationship_floor: float = 0.6  # assumption: a "partial re-ramp" starts at 60% (seeds 003)
    churn_base: float = 0.02  # assumption: churn risk of any moved account
    churn_per_relationship_year: float = 0.015  # assumption: 7 years given up -> 12.5% (seeds 003)
    churn_max: float = 0.25  # assumption
    sales_cycle_days: float = 87.0  # average sales cycle, Northeast mid-market (seeds 001)
    # Turnover.
    turnover_annual: float = 0.30  # DESIGN §5; rep turnover rose from 22% to 36% (seeds 003)
    turnover_loss_factor: float = 1.0  # assumption: losing 20% of potential -> hazard x1.2
    turnover_unfairness_factor: float = 0.5  # 25% below target -> +12%, Gartner's 12% (seeds 000)
    vacancy_months: int = 3  # assumption: a quarter to backfill
    vacancy_productivity: float = 0.5  # assumption: neighbours cover a vacant territory at half
    # Market.
    segment_volatility: float = 0.10  # assumption: sd of a segment's monthly log-shock
    segment_correlation: float = 0.5  # assumption: share of a segment's shocks that is market-wide
    segment_persistence: float = 0.8  # assumption: AR(1) coefficient per month
    account_volatility: float = 0.30  # assumption: sd of the log error of an account's potential
    deal_size: float = 85_000.0  # average deal size (seeds 001); 0 = no lumpiness
    # Quota.
    quota_factor: float = 1.0  # quota = potential (DESIGN §5); seeds 003: quotas +37% YoY


PARAM_NAMES = tuple(f.name for f in dataclasses.fields(SimParams))
_INT_PARAMS = ("horizon_months", "vacancy_months")
_SHARES = (
    "relationship_floor",
    "churn_base",
    "churn_max",
    "turnover_annual",
    "vacancy_productivity",
    "segment_correlation",
)


def sim_params_from_config(cfg: Any) -> SimParams:
    """Build SimParams from the composed `sim` config (a DictConfig or dict).

    Missing keys take their defaults; `scenarios` and `batch_size` (RUN_KEYS) are ignored here.

    Raises
    ------
    TerrasimError
        An unknown key, a value of the wrong type, or a value out of range.
    """
    values = {str(k): v for k, v in (cfg or {}).items()}
    unknown = sorted(set(values) - set(PARAM_NAMES) - set(RUN_KEYS))
    if unknown:
        raise TerrasimError(f"sim: unknown key(s) {unknown}; known: {sorted(PARAM_NAMES)}")
    typed = {}
    for name in PARAM_NAMES:
        if name not in values:
            continue
        value = values[name]
        kind = int if name in _INT_PARAMS else float
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (kind is int and not float(value).is_integer())
        ):
            raise TerrasimError(f"sim.{name} must be {kind.__name__}, got {value!r}")
        typed[name] = kind(value)
    params = SimParams(**typed)
    check_sim_params(params)
    return params


def check_sim_params(params: SimParams) -> None:
    """Raise TerrasimError for parameters no run could use."""
    problems = [f"{n} must be within 0..1" for n in _SHARES if not 0 <= getattr(params, n) <= 1]
    positive = ("horizon_months",)
    problems += [f"{n} must be >= 1" for n in positive if getattr(params, n) < 1]
    non_negative = [n for n in PARAM_NAMES if n not in _SHARES and n not in positive]
    problems += [f"{n} must be >= 0" for n in non_negative if not getattr(params, n) >= 0]
    if params.segment_persistence >= 1:
        problems.append("segment_persistence must be < 1")
    if params.min_productivity > params.peak_productivity:
        problems.append("min_productivity must not exceed peak_productivity")
    if params.tenure_decline_months < params.tenure_peak_months:
        problems.append("tenure_decline_months must not be below tenure_peak_months")
    if problems:
        raise TerrasimError("sim: " + "; ".join(problems))


def kernel_params(params: SimParams) -> ScenarioParams:
    """The kernel's view of the parameters (counts int, the rest float, the cycle in months)."""
    values = {}
    for name in ScenarioParams._fields:
        if name == "sales_cycle_months":
            values[name] = float(params.sales_cycle_days) / DAYS_PER_MONTH
        elif name in _INT_PARAMS:
            values[name] = int(getattr(params, name))
        else:
            values[name] = float(getattr(params, name))
    return ScenarioParams(**values)


def sim_arrays(instance: Instance) -> tuple[SimAccounts, SimReps]:
    """The accounts and reps of an instance as read-only kernel arrays.

    Read-only in every path, so that the kernel compiles once for in-process arrays and for
    arrays that Ray maps from its object store.
    """
    acc, reps = instance.accounts, instance.reps
    n_reps = reps.n_reps
    held = acc.current_rep >= 0
    baseline = np.bincount(
        acc.current_rep[held], weights=acc.potential[held], minlength=n_reps
    ).astype(np.float64)
    leaving = reps.status == LEAVING
    share = np.where(leaving, 0.0, reps.capacity)
    share = share / share.sum() if share.sum() > 0 else share
    accounts = SimAccounts(
        potential=_frozen(acc.potential, np.float64),
        workload=_frozen(acc.workload, np.float64),
        segment=_frozen(acc.segment, np.int64),
        current_rep=_frozen(acc.current_rep, np.int64),
        relationship_years=_frozen(acc.relationship_years, np.float64),
    )
    sim_reps = SimReps(
        capacity=_frozen(reps.capacity, np.float64),
        # `new` reps (open reqs and hires starting now) ramp from zero.
        start_tenure=_frozen(np.where(reps.status == NEW, 0.0, reps.tenure_months), np.float64),
        leaving=_frozen(leaving, np.bool_),
        target_potential=_frozen(share * acc.potential.sum(), np.float64),
        baseline_potential=_frozen(baseline, np.float64),
    )
    return accounts, sim_reps


def _frozen(values: np.ndarray, dtype) -> np.ndarray:
    out = np.array(values, dtype=dtype, order="C", copy=True)
    out.setflags(write=False)
    return out


class SimInputs(NamedTuple):
    """Everything a batch of scenarios reads; shipped once to the workers."""

    designs: np.ndarray  # int64[n_designs, n_accounts], read-only
    accounts: SimAccounts
    reps: SimReps
    params: ScenarioParams
    n_segments: int
    seed: int


@dataclass(frozen=True)
class StressResult:
    """Per design x scenario results of a stress test; design 0 is today's assignment."""

    month_bookings: np.ndarray  # float64[n_designs, n_scenarios, horizon_months]
    metrics: np.ndarray  # float64[n_designs, n_scenarios, N_METRICS] (kernels.simulation)
    seed: int
    params: SimParams

    @property
    def n_designs(self) -> int:
        """Number of designs."""
        return int(self.metrics.shape[0])

    @property
    def n_scenarios(self) -> int:
        """Number of scenarios."""
        return int(self.metrics.shape[1])

    @property
    def total_bookings(self) -> np.ndarray:
        """float64[n_designs, n_scenarios]: bookings over the horizon."""
        return self.metrics[:, :, TOTAL_BOOKINGS]

    @property
    def departures(self) -> np.ndarray:
        """int64[n_designs, n_scenarios]: reps who left."""
        return self.metrics[:, :, DEPARTURES].astype(np.int64)

    @property
    def churned(self) -> np.ndarray:
        """int64[n_designs, n_scenarios]: moved accounts lost."""
        return self.metrics[:, :, CHURNED].astype(np.int64)

    @property
    def attainment_spread(self) -> np.ndarray:
        """float64[n_designs, n_scenarios]: max - min attainment over reps with a quota."""
        return self.metrics[:, :, ATTAINMENT_SPREAD]

    @property
    def share_at_quota(self) -> np.ndarray:
        """float64[n_designs, n_scenarios]: share of reps with a quota at 100% or more."""
        return self.metrics[:, :, SHARE_AT_QUOTA]

    @property
    def disruption_cost(self) -> np.ndarray:
        """float64[n_designs, n_scenarios]: expected bookings lost to reassignment."""
        return self.metrics[:, :, DISRUPTION_COST]


def simulate_designs(
    instance: Instance,
    designs: np.ndarray,
    params: SimParams | None = None,
    n_scenarios: int = 2000,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    runner=None,
) -> StressResult:
    """Simulate every design in the same scenarios (common random numbers).

    Parameters
    ----------
    instance : Instance
    designs : int[n_designs, n_accounts]
        Rep index per account, -1 = unassigned; row 0 must be today's assignment
        (`instance.accounts.current_rep`).
    params : SimParams, optional
        Model parameters; the defaults when omitted.
    n_scenarios : int
    seed : int
        Scenario k draws from ``numpy.random.default_rng([seed, k])``: results depend on the
        seed and the scenario index alone, whatever the batch size, runner or cluster.
    batch_size : int
        Scenarios per task.
    runner : InProcessRunner or RayRunner, optional
        engine.parallel runner; in-process when omitted.

    Returns
    -------
    StressResult

    Raises
    ------
    TerrasimError
        Designs of the wrong shape, rep indices out of range, a row 0 that is not today's
        assignment, bad counts, or a deal size too small for the accounts' potential.
    """
    params = SimParams() if params is None else params
    check_sim_params(params)
    designs = _checked_designs(instance, designs)
    if n_scenarios < 1:
        raise TerrasimError(f"sim.scenarios must be >= 1, got {n_scenarios}")
    if batch_size < 1:
        raise TerrasimError(f"sim.batch_size must be >= 1, got {batch_size}")
    if seed < 0:
        raise TerrasimError(f"seed must be >= 0, got {seed}")
    _check_deal_size(instance, params)
    accounts, reps = sim_arrays(instance)
    inputs = SimInputs(
        designs=designs,
        accounts=accounts,
        reps=reps,
        params=kernel_params(params),
        n_segments=max(
            len(instance.accounts.segment_names), int(accounts.segment.max(initial=-1)) + 1
        ),
        seed=int(seed),
    )
    batches = [
        (first, min(batch_size, n_scenarios - first)) for first in range(0, n_scenarios, batch_size)
    ]
    runner = InProcessRunner() if runner is None else runner
    parts = runner.run(simulate_batch, inputs, batches, [count for _, count in batches])
    month_bookings = np.concatenate([part[0] for part in parts], axis=0)
    metrics = np.concatenate([part[1] for part in parts], axis=0)
    return StressResult(
        month_bookings=np.ascontiguousarray(month_bookings.transpose(1, 0, 2)),
        metrics=np.ascontiguousarray(metrics.transpose(1, 0, 2)),
        seed=int(seed),
        params=params,
    )


def _checked_designs(instance: Instance, designs: np.ndarray) -> np.ndarray:
    designs = np.asarray(designs)
    n_accounts, n_reps = instance.accounts.n_accounts, instance.reps.n_reps
    if designs.ndim != 2 or designs.shape[1] != n_accounts or designs.shape[0] < 1:
        raise TerrasimError(
            f"designs must be a matrix of shape (n_designs, {n_accounts}), got {designs.shape}"
        )
    if not np.issubdtype(designs.dtype, np.integer):
        raise TerrasimError(f"designs must hold rep indices (integers), got {designs.dtype}")
    bad = (designs < -1) | (designs >= n_reps)
    if bad.any():
        d, i = np.argwhere(bad)[0]
        raise TerrasimError(
            f"design {d}, account {instance.accounts.ids[i]}: rep index {designs[d, i]} "
            f"is not in -1..{n_reps - 1}"
        )
    if not np.array_equal(designs[0], instance.accounts.current_rep):
        raise TerrasimError("design 0 must be today's assignment (accounts' current_rep)")
    return _frozen(designs, np.int64)


def _check_deal_size(instance: Instance, params: SimParams) -> None:
    # Deals are drawn one by one: a deal size far below the accounts' monthly potential would
    # draw millions of them. 0 is the way to book expected values.
    largest = float(instance.accounts.potential.max(initial=0.0)) / 12.0
    if params.deal_size > 0 and largest / params.deal_size > MAX_DEALS_PER_ACCOUNT_MONTH:
        raise TerrasimError(
            f"sim.deal_size={params.deal_size:g} is too small: the largest account would close "
            f"{largest / params.deal_size:.3g} deals a month (at most "
            f"{MAX_DEALS_PER_ACCOUNT_MONTH:g}); set sim.deal_size=0 for no lumpiness"
        )


def simulate_batch(inputs: SimInputs, batch: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Simulate scenarios first .. first + count - 1 of every design (one runner task).

    Returns
    -------
    month_bookings : float64[count, n_designs, horizon_months]
    metrics : float64[count, n_designs, N_METRICS]
    """
    first, count = batch
    n_designs, n_accounts = inputs.designs.shape
    horizon = inputs.params.horizon_months
    month_bookings = np.empty((count, n_designs, horizon))
    metrics = np.empty((count, n_designs, N_METRICS))
    draws = new_draws(n_accounts, inputs.reps.capacity.shape[0], inputs.n_segments, horizon)
    group = max(1, KERNEL_ACCOUNT_DESIGNS // max(n_accounts, 1))
    for k in range(count):
        rng = np.random.default_rng([inputs.seed, first + k])
        with interrupts_deferred():  # a Generator argument: see kernels/jit.py
            draw_scenario(rng, draws)
        for d in range(0, n_designs, group):
            simulate_drawn_scenario(
                inputs.designs[d : d + group],
                inputs.accounts,
                inputs.reps,
                inputs.params,
                draws,
                month_bookings[k, d : d + group],
                metrics[k, d : d + group],
            )
    return month_bookings, metrics


def scenarios_table(result: StressResult) -> pa.Table:
    """One row per design x scenario (DESIGN §6 `scenarios.arrow`), design-major."""
    n_designs, n_scenarios = result.n_designs, result.n_scenarios
    horizon = result.month_bookings.shape[2]
    rows = n_designs * n_scenarios
    offsets = np.arange(rows + 1, dtype=np.int32) * horizon
    by_month = pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(result.month_bookings.reshape(-1))
    )
    return pa.table(
        {
            "design": np.repeat(np.arange(n_designs, dtype=np.int64), n_scenarios),
            "scenario": np.tile(np.arange(n_scenarios, dtype=np.int64), n_designs),
            "total_bookings": result.total_bookings.reshape(-1),
            "bookings_by_month": by_month,
            "departures": result.departures.reshape(-1),
            "churned_accounts": result.churned.reshape(-1),
            "attainment_spread": result.attainment_spread.reshape(-1),
            "share_at_quota": result.share_at_quota.reshape(-1),
            "disruption_cost": result.disruption_cost.reshape(-1),
        }
    )


def summarise(result: StressResult) -> pa.Table:
    """One row per design (DESIGN §6 `summary.arrow`): the distribution of total bookings.

    Columns: mean, p5, p50, p95 and cvar5 (mean of the worst 5% of scenarios, at least one) of
    total bookings; prob_beat_today (share of scenarios in which the design books more than
    today's, scenario by scenario; null for design 0); gain_vs_today and its standard error
    (paired over scenarios); break_even_month (first month, 1-based, from which the design's
    mean cumulative bookings stay at or above today's; null if they end below); and the means
    of departures, churned accounts, attainment spread, share at quota and disruption cost.
    """
    total = result.total_bookings
    n_designs, n_scenarios = total.shape
    worst = max(1, int(np.ceil(0.05 * n_scenarios)))
    gain = total - total[0]
    cumulative_gain = np.cumsum(result.month_bookings - result.month_bookings[0], axis=2).mean(
        axis=1
    )
    break_even = [_break_even_month(cumulative_gain[d]) for d in range(n_designs)]
    se = gain.std(axis=1, ddof=1) / np.sqrt(n_scenarios) if n_scenarios > 1 else np.zeros(n_designs)
    beat = (gain > 0).mean(axis=1)
    p5, p50, p95 = np.percentile(total, [5, 50, 95], axis=1)
    return pa.table(
        {
            "design": np.arange(n_designs, dtype=np.int64),
            "mean": total.mean(axis=1),
            "p5": p5,
            "p50": p50,
            "p95": p95,
            "cvar5": np.sort(total, axis=1)[:, :worst].mean(axis=1),
            "prob_beat_today": pa.array([None, *beat[1:].tolist()], type=pa.float64()),
            "gain_vs_today": gain.mean(axis=1),
            "gain_vs_today_se": se,
            "break_even_month": pa.array(break_even, type=pa.int64()),
            "expected_departures": result.departures.mean(axis=1),
            "expected_churned_accounts": result.churned.mean(axis=1),
            "mean_attainment_spread": result.attainment_spread.mean(axis=1),
            "mean_share_at_quota": result.share_at_quota.mean(axis=1),
            "mean_disruption_cost": result.disruption_cost.mean(axis=1),
        }
    )


def _break_even_month(cumulative_gain: np.ndarray) -> int | None:
    below = np.flatnonzero(cumulative_gain < 0)
    if below.size == 0:
        return 1
    if below[-1] == cumulative_gain.shape[0] - 1:
        return None
    return int(below[-1]) + 2
