"""The stress-test driver: config, design checks, batching, and the two Arrow tables."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

import engine.simulation
from engine.errors import TerrasimError
from engine.parallel import InProcessRunner
from engine.simulation import (
    DEFAULT_BATCH_SIZE,
    PARAM_NAMES,
    SimParams,
    StressResult,
    scenarios_table,
    sim_params_from_config,
    simulate_designs,
    summarise,
)
from kernels.simulation import N_METRICS, TOTAL_BOOKINGS
from tests.engine.conftest_sim import random_instance, shifted_design

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"
QUIET_RUNNER = InProcessRunner(progress=False)


@pytest.fixture(scope="module")
def instance():
    return random_instance(200, 6, seed=11)


@pytest.fixture(scope="module")
def designs(instance):
    return np.stack(
        [
            instance.accounts.current_rep,
            shifted_design(instance, 0.2),
            shifted_design(instance, 0.5),
        ]
    )


def test_config_file_lists_every_parameter_with_its_default():
    cfg = OmegaConf.load(CONF / "sim" / "default.yaml")
    assert set(cfg) == set(PARAM_NAMES) | {"scenarios", "batch_size"}
    assert sim_params_from_config(cfg) == SimParams()
    assert cfg.batch_size == DEFAULT_BATCH_SIZE and cfg.scenarios == 2000
    ray_cfg = OmegaConf.load(CONF / "ray" / "default.yaml")
    assert dict(ray_cfg) == {"enabled": True, "address": None, "num_cpus": None, "dashboard": False}


def test_config_overrides_are_typed_and_checked():
    params = sim_params_from_config({"ramp_months": 4, "vacancy_months": 2.0})
    assert params.ramp_months == 4.0 and isinstance(params.ramp_months, float)
    assert params.vacancy_months == 2 and isinstance(params.vacancy_months, int)
    with pytest.raises(TerrasimError, match="unknown key.*ramp_month"):
        sim_params_from_config({"ramp_month": 4})
    with pytest.raises(TerrasimError, match="turnover_annual must be within 0..1"):
        sim_params_from_config({"turnover_annual": 1.5})
    with pytest.raises(TerrasimError, match="vacancy_months must be int"):
        sim_params_from_config({"vacancy_months": 2.5})
    with pytest.raises(TerrasimError, match="deal_size must be float"):
        sim_params_from_config({"deal_size": "big"})
    with pytest.raises(TerrasimError, match="ramp_months must be >= 0"):
        sim_params_from_config({"ramp_months": -1})
    with pytest.raises(TerrasimError, match="tenure_decline_months must not be below"):
        sim_params_from_config({"tenure_decline_months": 24})


def test_results_do_not_depend_on_the_batch_size(instance, designs):
    results = [
        simulate_designs(
            instance, designs, n_scenarios=23, seed=4, batch_size=b, runner=QUIET_RUNNER
        )
        for b in (1, 5, 50)
    ]
    for other in results[1:]:
        assert other.month_bookings.tobytes() == results[0].month_bookings.tobytes()
        assert other.metrics.tobytes() == results[0].metrics.tobytes()


def test_results_do_not_depend_on_how_designs_are_split_over_kernel_calls(
    instance, designs, monkeypatch
):
    # Large jobs split a scenario's designs over several kernel calls, so that Ctrl-C
    # (KeyboardInterrupt, raised between calls) stops them within a fraction of a second.
    whole = simulate_designs(instance, designs, n_scenarios=7, seed=4, runner=QUIET_RUNNER)
    n_accounts = instance.accounts.n_accounts
    for per_call in (1, 2):
        monkeypatch.setattr(engine.simulation, "KERNEL_ACCOUNT_DESIGNS", per_call * n_accounts)
        split = simulate_designs(instance, designs, n_scenarios=7, seed=4, runner=QUIET_RUNNER)
        assert split.month_bookings.tobytes() == whole.month_bookings.tobytes()
        assert split.metrics.tobytes() == whole.metrics.tobytes()


PESTERED_STRESS = """
import os, signal, threading, time
import numpy as np
from engine.parallel import InProcessRunner
from engine.simulation import simulate_designs
from tests.engine.conftest_sim import random_instance, shifted_design

instance = random_instance(5, 2, seed=3)
designs = np.stack([instance.accounts.current_rep, shifted_design(instance, 0.5)])
runner = InProcessRunner(progress=False)
simulate_designs(instance, designs, n_scenarios=2, runner=runner)

def pester():
    for _ in range(3000):
        time.sleep(0.001)
        os.kill(os.getpid(), signal.SIGINT)

thread = threading.Thread(target=pester)
thread.start()
interrupted = 0
while thread.is_alive():
    try:
        simulate_designs(instance, designs, n_scenarios=500, batch_size=500, runner=runner)
    except KeyboardInterrupt:
        interrupted += 1
thread.join()
print("interrupted", interrupted)
"""


@pytest.mark.slow
def test_ctrl_c_in_the_middle_of_scenarios_raises_keyboard_interrupt_never_a_crash():
    # Numba unboxes the scenario's Generator by calling Python code; a KeyboardInterrupt
    # raised there crashed the process (SIGSEGV) before kernels/jit.py deferred it: about one
    # run in four of 3,000 signals, so six runs (about 30 s) catch it nearly always.
    for _ in range(6):
        done = subprocess.run(
            [sys.executable, "-c", PESTERED_STRESS],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert int(done.stdout.split()[-1]) > 1000


def test_scenario_k_is_the_same_whatever_the_number_of_scenarios(instance, designs):
    few = simulate_designs(instance, designs, n_scenarios=5, seed=4, runner=QUIET_RUNNER)
    many = simulate_designs(instance, designs, n_scenarios=12, seed=4, runner=QUIET_RUNNER)
    assert few.metrics.tobytes() == many.metrics[:, :5].tobytes()
    other = simulate_designs(instance, designs, n_scenarios=5, seed=5, runner=QUIET_RUNNER)
    assert not np.array_equal(few.metrics, other.metrics)


def test_designs_are_checked(instance, designs):
    today = instance.accounts.current_rep
    with pytest.raises(TerrasimError, match="shape"):
        simulate_designs(instance, today, n_scenarios=1, runner=QUIET_RUNNER)
    bad = designs.copy()
    bad[1, 3] = 6
    with pytest.raises(TerrasimError, match="design 1, account A3: rep index 6"):
        simulate_designs(instance, bad, n_scenarios=1, runner=QUIET_RUNNER)
    with pytest.raises(TerrasimError, match="design 0 must be today's"):
        simulate_designs(instance, designs[1:], n_scenarios=1, runner=QUIET_RUNNER)
    with pytest.raises(TerrasimError, match="scenarios must be >= 1"):
        simulate_designs(instance, designs, n_scenarios=0, runner=QUIET_RUNNER)
    with pytest.raises(TerrasimError, match="deal_size=1 is too small"):
        simulate_designs(instance, designs, SimParams(deal_size=1.0), n_scenarios=1)


def test_scenarios_table_has_one_row_per_design_and_scenario(instance, designs):
    result = simulate_designs(instance, designs, n_scenarios=7, seed=1, runner=QUIET_RUNNER)
    table = scenarios_table(result)
    assert table.num_rows == 3 * 7
    assert table.column_names == [
        "design",
        "scenario",
        "total_bookings",
        "bookings_by_month",
        "departures",
        "churned_accounts",
        "attainment_spread",
        "share_at_quota",
        "disruption_cost",
    ]
    rows = table.to_pylist()
    row = rows[7 + 3]  # design 1, scenario 3
    assert (row["design"], row["scenario"]) == (1, 3)
    assert row["bookings_by_month"] == result.month_bookings[1, 3].tolist()
    assert row["total_bookings"] == pytest.approx(sum(row["bookings_by_month"]), rel=1e-12)
    assert row["departures"] == result.departures[1, 3]
    assert all(r["disruption_cost"] == 0.0 and r["churned_accounts"] == 0 for r in rows[:7])


def hand_made_result(totals: np.ndarray, months: np.ndarray) -> StressResult:
    metrics = np.zeros((*totals.shape, N_METRICS))
    metrics[:, :, TOTAL_BOOKINGS] = totals
    return StressResult(month_bookings=months, metrics=metrics, seed=0, params=SimParams())


def test_summary_statistics_of_total_bookings():
    rng = np.random.default_rng(0)
    today = rng.normal(100.0, 10.0, 40)
    better = today + rng.normal(2.0, 1.0, 40)
    totals = np.stack([today, better])
    months = np.zeros((2, 40, 3))
    months[:, :, 0] = totals
    row = summarise(hand_made_result(totals, months)).to_pylist()
    assert row[1]["mean"] == pytest.approx(better.mean())
    assert row[1]["p50"] == pytest.approx(np.median(better))
    assert row[1]["p5"] == pytest.approx(np.percentile(better, 5))
    assert row[1]["cvar5"] == pytest.approx(np.sort(better)[:2].mean())  # worst 5% of 40 = 2
    assert row[1]["prob_beat_today"] == pytest.approx(np.mean(better > today))
    assert row[0]["prob_beat_today"] is None
    assert row[1]["gain_vs_today"] == pytest.approx((better - today).mean())
    assert row[1]["gain_vs_today_se"] == pytest.approx((better - today).std(ddof=1) / np.sqrt(40))


@pytest.mark.parametrize(
    ("gains", "month"),
    [
        ([1.0, 1.0, 1.0, 1.0], 1),
        ([-3.0, 1.0, 1.0, 2.0], 4),  # cumulative -3, -2, -1, 1
        ([-1.0, 2.0, -2.0, 2.0], 4),  # -1, 1, -1, 1: back above only from month 4
        ([-1.0, 0.5, 0.5, 0.0], 3),  # reaches 0 in month 3 and stays
        ([1.0, -2.0, 0.5, 0.0], None),  # ends below today
    ],
)
def test_break_even_month_is_the_first_month_the_design_stays_ahead(gains, month):
    base = np.full((1, 2, 4), 10.0)
    design = base + np.array(gains)
    months = np.concatenate([base, design])
    totals = months.sum(axis=2)
    row = summarise(hand_made_result(totals, months)).to_pylist()
    assert row[1]["break_even_month"] == month
    assert row[0]["break_even_month"] == 1


def test_summary_of_a_simulation_has_one_row_per_design(instance, designs):
    result = simulate_designs(instance, designs, n_scenarios=30, seed=2, runner=QUIET_RUNNER)
    table = summarise(result)
    assert table.num_rows == 3
    assert table.column("mean").to_pylist() == pytest.approx(result.total_bookings.mean(axis=1))
    cost = table.column("mean_disruption_cost").to_pylist()
    assert cost[0] == 0.0 and cost[2] > cost[1] > 0.0  # more moves, more disruption
    assert dataclasses.asdict(result.params) == dataclasses.asdict(SimParams())
