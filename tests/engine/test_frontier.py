"""The frontier (DESIGN §4): ε sweep, population kernel, dominance, hypervolume, NSGA, table."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from omegaconf import OmegaConf

from engine.errors import TerrasimError
from engine.evaluate import evaluate
from engine.frontier import (
    FrontierSettings,
    _Encoding,
    epsilon_sweep,
    frontier,
    frontier_settings_from_config,
    frontier_table,
    hypervolume,
    knee,
    non_dominated,
    nsga_frontier,
    reference_point,
    with_budget,
    with_weights,
)
from engine.generator import generate_instance
from engine.optimize import SolverSettings
from engine.problem import build_problem
from engine.rules import Objective, Rules
from engine.validate import instance_from_tables
from kernels.arrays import N_OBJECTIVES, N_RULES, RULE_MAX_MOVED
from kernels.objectives import N_SUMS, evaluate_design, objectives_from_sums
from kernels.population import evaluate_population
from tests.conftest import DEFAULT_WEIGHTS, account_columns, rep_columns, table

OBJECTIVES = ("potential_imbalance", "travel", "disruption")
WEIGHTS = DEFAULT_WEIGHTS
# Time limits far above what the searches need on northeast: convergence, not the clock
# (nor compilation), decides where they stop, so results are reproducible.
SOLVER = SolverSettings(time_limit=120.0)
SMALL = FrontierSettings(
    sweeps=("objective",),
    budget_shares=(0.0, 0.05, 0.2),
    point_time_limit=120.0,
    population=20,
    generations=12,
    time_limit=120.0,
    polish=2,
)


# The default frontier's structure (two sweeps, nine budgets, eight polish runs, every phase
# bounded by work) on a small northeast, with less work so that a run takes seconds.
SMALL_CLI = (
    "frontier",
    "data.n_accounts=150",
    "data.n_reps=6",
    "frontier.point_ils_rounds=30",
    "frontier.population=20",
    "frontier.generations=10",
    "stress=false",
    "report=false",
)


def make_problem(accounts, reps, rules=None, weights=None):
    rules = rules or Rules()
    instance = instance_from_tables(accounts, reps, rules)
    return build_problem(instance, Objective(weights or WEIGHTS, 1.3, rules))


@pytest.fixture(scope="module")
def northeast():
    return make_problem(*generate_instance("northeast", 0))


@pytest.fixture(scope="module")
def small():
    return make_problem(table(account_columns()), table(rep_columns()))


@pytest.fixture(scope="module")
def small_northeast():
    return make_problem(*generate_instance("northeast", 0, n_accounts=150, n_reps=6))


@pytest.fixture(scope="module")
def northeast_frontier(northeast):
    return frontier(northeast, SOLVER, SMALL)


def read(path: Path) -> pa.Table:
    with ipc.open_file(path) as reader:
        return reader.read_all()


def random_designs(problem, n, seed):
    """Designs with every rep and some unassigned accounts, rules broken and kept alike."""
    rng = np.random.default_rng(seed)
    designs = rng.integers(-1, problem.n_reps, (n, problem.n_accounts))
    designs[0] = problem.accounts.current_rep
    return np.ascontiguousarray(designs, dtype=np.int64)


def population_buffers(problem, n):
    m = problem.accounts.measures.shape[0]
    return (
        np.full((n, m, problem.n_reps), np.nan),
        np.full((n, m), np.nan),
        np.full((n, N_SUMS), np.nan),
        np.full((n, N_RULES), np.nan),
        np.full((n, N_OBJECTIVES), np.nan),
    )


def run_population(problem, designs):
    out = population_buffers(problem, designs.shape[0])
    evaluate_population(
        designs, problem.accounts, problem.reps, problem.distance, problem.rules, *out
    )
    return out


# -- kernels/population.py --------------------------------------------------------------------


@pytest.mark.parametrize("instance", ["small", "northeast"])
def test_population_equals_evaluating_each_design(instance, request):
    problem = request.getfixturevalue(instance)
    designs = random_designs(problem, 7, seed=3)
    totals, grand, sums, violations, objectives = run_population(problem, designs)
    m = problem.accounts.measures.shape[0]
    for k, design in enumerate(designs):
        one = (np.empty((m, problem.n_reps)), np.empty(m), np.empty(N_SUMS), np.empty(N_RULES))
        evaluate_design(
            design, problem.accounts, problem.reps, problem.distance, problem.rules, *one
        )
        single_objectives = np.empty(N_OBJECTIVES)
        objectives_from_sums(one[2], one[1], single_objectives)
        np.testing.assert_array_equal(totals[k], one[0])
        np.testing.assert_array_equal(grand[k], one[1])
        np.testing.assert_array_equal(sums[k], one[2])
        np.testing.assert_array_equal(violations[k], one[3])
        np.testing.assert_array_equal(objectives[k], single_objectives)
        evaluation = evaluate(problem, design)
        assert list(objectives[k]) == list(evaluation.objectives.values())


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_population_identical_with_one_and_two_threads(northeast):
    designs = random_designs(northeast, 33, seed=5)
    saved = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run_population(northeast, designs)
        numba.set_num_threads(2)
        two = run_population(northeast, designs)
    finally:
        numba.set_num_threads(saved)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


# -- problems with a budget -------------------------------------------------------------------


def test_with_budget_makes_accounts_moved_a_hard_rule(northeast):
    budgeted = with_budget(northeast, 12)
    assert budgeted.rules.on[RULE_MAX_MOVED] and budgeted.rules.max_moved == 12.0
    assert budgeted.objective.rules.max_moved == 12
    assert not northeast.rules.on[RULE_MAX_MOVED]  # the original is untouched
    np.testing.assert_array_equal(
        np.delete(budgeted.rules.on, RULE_MAX_MOVED), np.delete(northeast.rules.on, RULE_MAX_MOVED)
    )
    assert (
        with_budget(budgeted, None).rules.on[RULE_MAX_MOVED] == northeast.rules.on[RULE_MAX_MOVED]
    )
    assert with_weights(northeast, {"travel": 1.0}).objective.weights == {"travel": 1.0}


# -- ε sweep ----------------------------------------------------------------------------------


def test_epsilon_designs_respect_budgets_and_improve_with_budget(northeast):
    imbalance_only = with_weights(northeast, {"potential_imbalance": 1.0})
    budgets = [0, 10, 40, 120, 400]
    designs = epsilon_sweep(imbalance_only, SOLVER, budgets)
    assert [d.label for d in designs] == [f"eps_moved_{k}" for k in budgets]
    assert [d.extra["budget_accounts"] for d in designs] == budgets
    for d, k in zip(designs, budgets, strict=True):
        assert d.evaluation.metrics["accounts_moved"] <= k
        assert evaluate(with_budget(northeast, k), d.assignment).violations["max_moved"] == 0.0
    assert designs[0].evaluation.metrics["accounts_moved"] == 0
    feasible = [d.evaluation.feasible for d in designs]
    assert feasible[-1]
    # Once a budget allows a feasible design, every larger budget has one at least as good.
    first = feasible.index(True)
    assert all(feasible[first:])
    imbalance = [d.evaluation.objectives["potential_imbalance"] for d in designs[first:]]
    assert all(b <= a for a, b in zip(imbalance, imbalance[1:], strict=False))
    assert imbalance[-1] < imbalance[0]


def test_epsilon_points_go_through_map_fn(small):
    calls = []

    def recording_map(function, items):
        items = list(items)
        calls.append(items)
        return [function(k) for k in items]

    designs = epsilon_sweep(small, SOLVER, [3, 0, 1, 1], map_fn=recording_map)
    assert calls == [[0, 1, 3]]
    assert [d.extra["budget_accounts"] for d in designs] == [0, 1, 3]


# -- dominance, hypervolume, knee, reference point --------------------------------------------


def test_non_dominated_of_a_hand_made_set():
    points = np.array([[1, 3], [2, 2], [3, 1], [2, 3], [3, 3], [2, 2], [4, 0.5]], dtype=float)
    # [2, 3] and [3, 3] are dominated, the second [2, 2] repeats the first.
    assert non_dominated(points).tolist() == [True, True, True, False, False, False, True]


def test_infeasible_points_never_dominate_feasible_ones():
    points = np.array([[1.0, 1.0], [2.0, 2.0], [0.5, 3.0], [2.0, 2.0], [3.0, 3.0]])
    feasible = np.array([False, True, True, False, False])
    # [1, 1] is infeasible: it stays (nothing dominates it) but cannot remove [2, 2];
    # the infeasible twin of a feasible [2, 2] goes, and so does [3, 3].
    assert non_dominated(points, feasible).tolist() == [True, True, True, False, False]


def test_hypervolume_of_a_hand_made_2d_set_is_its_area():
    staircase = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    reference = np.array([4.0, 4.0])
    # Columns of width 1 from x = 1, 2, 3 up to y = 4: heights 1, 2, 3.
    assert hypervolume(staircase, reference) == pytest.approx(6.0, abs=1e-12)
    dominated_and_outside = np.vstack([staircase, [[3.0, 3.0], [5.0, 0.0], [0.5, 4.0]]])
    assert hypervolume(dominated_and_outside, reference) == pytest.approx(6.0, abs=1e-12)
    assert hypervolume(np.empty((0, 2)), reference) == 0.0


def test_knee_is_the_point_farthest_below_the_line_between_extremes():
    front = np.array([[0.0, 1.0], [0.1, 0.3], [0.5, 0.1], [1.0, 0.0]])
    assert knee(front) == 1
    assert knee(front[::-1] * [10.0, 2.0]) == 2  # scale-free, and by position


def test_reference_point_is_today_with_a_margin(northeast):
    today = evaluate(northeast, northeast.accounts.current_rep).objectives
    reference = reference_point(northeast, OBJECTIVES)
    assert reference.tolist() == [
        1.1 * today["potential_imbalance"],
        1.1 * today["travel"],
        1.0,
    ]


# -- NSGA and the frontier --------------------------------------------------------------------


def test_encoding_snaps_reps_outside_the_lists_to_the_nearest_allowed(northeast):
    from engine.candidates import candidate_lists

    candidates = candidate_lists(northeast, 8)
    encoding = _Encoding(northeast, candidates)
    design = encoding.decode(np.zeros((1, encoding.n_genes), dtype=np.int64))[0]
    genome = np.arange(encoding.n_genes) % (encoding.upper + 1)
    other = encoding.decode(genome[None, :])[0]
    np.testing.assert_array_equal(encoding.encode(other), genome)
    outside = other.copy()
    i = encoding.free[0]
    outside[i] = next(j for j in range(northeast.n_reps) if j not in candidates.rep[i])
    snapped = encoding.decode(encoding.encode(outside)[None, :])[0]
    assert snapped[i] == candidates.rep[i, 0] == design[i]
    assert (snapped != outside).sum() == 1


def test_nsga_is_deterministic_for_a_seed_and_differs_across_seeds(northeast):
    seeds = [northeast.accounts.current_rep]
    settings = dataclasses.replace(SMALL, generations=8)

    def run(seed):
        designs = nsga_frontier(
            northeast, OBJECTIVES, seeds, dataclasses.replace(settings, seed=seed)
        )
        return np.stack([d.assignment for d in designs])

    first, again, other = run(0), run(0), run(1)
    np.testing.assert_array_equal(first, again)
    assert first.shape != other.shape or (first != other).any()


def test_frontier_on_northeast_spans_from_no_moves(northeast, northeast_frontier):
    result = northeast_frontier
    designs = result.designs
    assert len(designs) >= 3
    assert any(d.evaluation.metrics["accounts_moved"] == 0 for d in designs)
    assert {d.extra["source"] for d in designs} <= {"epsilon", "nsga", "polish"}
    assert any(d.extra["source"] == "epsilon" for d in designs)
    assert len({d.label for d in designs}) == len(designs)
    feasible = np.array([d.evaluation.feasible for d in designs])
    assert feasible.any()
    assert not (~feasible[:-1] & feasible[1:]).any()  # feasible ones first
    disruption = [d.evaluation.objectives["disruption"] for d in designs if d.evaluation.feasible]
    assert disruption == sorted(disruption)
    assert result.recommended.evaluation.feasible and result.recommended in designs
    assert 0.0 < result.hypervolume < 1.0
    assert result.n_evaluated >= len(designs)


def test_every_frontier_design_is_non_dominated_among_them(northeast_frontier):
    designs = northeast_frontier.designs
    values = np.array([[d.evaluation.objectives[o] for o in OBJECTIVES] for d in designs])
    feasible = np.array([d.evaluation.feasible for d in designs])
    for a in range(len(designs)):
        for b in range(len(designs)):
            dominates = (values[b] <= values[a]).all() and (values[b] < values[a]).any()
            # An infeasible design may dominate a feasible one, never the other way round.
            if a != b and dominates and (feasible[b] or not feasible[a]):
                pytest.fail(f"{designs[b].label} dominates {designs[a].label}")
    assert non_dominated(values[feasible]).all()


def test_frontier_hypervolume_is_of_the_feasible_designs_over_the_reference(northeast_frontier):
    result = northeast_frontier
    reference = np.array([result.reference_point[o] for o in OBJECTIVES])
    values = np.array([[d.evaluation.objectives[o] for o in OBJECTIVES] for d in result.designs])
    feasible = np.array([d.evaluation.feasible for d in result.designs])
    assert result.hypervolume == hypervolume(values[feasible] / reference, np.ones(3))


def test_same_seed_gives_the_same_frontier(northeast, northeast_frontier):
    again = frontier(northeast, SOLVER, SMALL)
    assert [d.label for d in again.designs] == [d.label for d in northeast_frontier.designs]
    for a, b in zip(again.designs, northeast_frontier.designs, strict=True):
        np.testing.assert_array_equal(a.assignment, b.assignment)
    assert again.hypervolume == northeast_frontier.hypervolume
    assert again.recommended.label == northeast_frontier.recommended.label
    assert again.stopped_on_clock == northeast_frontier.stopped_on_clock == {}


def test_frontier_does_not_depend_on_the_order_points_finish(small_northeast):
    """Points run out of order (as Ray tasks may finish) give the same frontier."""

    def backwards(function, items):
        items = list(items)
        done = {k: function(k) for k in reversed(items)}
        return [done[k] for k in items]

    settings = dataclasses.replace(SMALL, point_ils_rounds=30, generations=6)
    ordered = frontier(small_northeast, SOLVER, settings)
    shuffled = frontier(small_northeast, SOLVER, settings, map_fn=backwards)
    assert frontier_table(small_northeast, ordered).equals(
        frontier_table(small_northeast, shuffled), check_metadata=True
    )


def test_frontier_table_has_one_row_per_design_and_the_hypervolume(northeast, northeast_frontier):
    result = northeast_frontier
    out = frontier_table(northeast, result)
    assert out.num_rows == len(result.designs)
    assert out.column("design").to_pylist() == [d.label for d in result.designs]
    assert out.column("recommended").to_pylist().count(True) == 1
    assert set(out.column("source").to_pylist()) <= {"epsilon", "nsga", "polish"}
    for name in (*OBJECTIVES, "accounts_moved", "feasible"):
        assert name in out.column_names
    first = out.column("assignment")[0].as_py()
    ids = northeast.instance.reps.ids
    assert first == [ids[j] for j in result.designs[0].assignment]
    meta = out.schema.metadata
    assert json.loads(meta[b"terrasim.hypervolume"]) == result.hypervolume
    assert json.loads(meta[b"terrasim.reference_point"]) == result.reference_point
    details = json.loads(meta[b"terrasim.frontier"])
    assert details["recommended"] == result.recommended.label
    # Nothing that depends on the machine's speed: the same config and seed, the same bytes.
    assert "seconds" not in details and "phase_seconds" not in details
    assert json.loads(meta[b"terrasim.stopped_on_clock"]) == {}


# -- work, not the clock, ends every phase: the same bytes, with or without Ray ---------------


@pytest.fixture
def stop_ray():
    yield
    import ray

    ray.shutdown()


def test_frontier_files_are_the_same_bytes_twice_and_on_ray(run_cli, tmp_path, stop_ray):
    runs = {
        "first": ("ray.enabled=false",),
        "again": ("ray.enabled=false",),
        "ray": ("ray.enabled=true", "ray.num_cpus=2"),
    }
    files = {}
    for name, ray_args in runs.items():
        code, _, err = run_cli(*SMALL_CLI, *ray_args, f"hydra.run.dir={tmp_path / name}")
        assert code == 0, err
        assert "[frontier] warning" not in err
        files[name] = {
            f: (tmp_path / name / f).read_bytes() for f in ("frontier.arrow", "designs.arrow")
        }
    assert files["first"] == files["again"]
    assert files["ray"] == files["first"]
    meta = read(tmp_path / "first" / "frontier.arrow").schema.metadata
    assert json.loads(meta[b"terrasim.stopped_on_clock"]) == {}
    nsga = read(tmp_path / "first" / "designs.arrow").column("generations").drop_null()
    assert set(nsga.to_pylist()) == {10}  # every generation ran


def test_a_tiny_cap_stops_on_the_clock_and_says_so(run_cli, tmp_path):
    code, _, err = run_cli(
        *SMALL_CLI,
        "ray.enabled=false",
        "frontier.point_time_limit=1e-9",
        "frontier.time_limit=1e-9",
        "objective.rules.capacity.enabled=false",  # today's design is then feasible
        f"hydra.run.dir={tmp_path}",
    )
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "[frontier] warning" in line]
    assert len(warnings) == 1
    assert "depends on the machine's speed" in warnings[0]
    stopped = json.loads(
        read(tmp_path / "frontier.arrow").schema.metadata[b"terrasim.stopped_on_clock"]
    )
    assert set(stopped) == {"epsilon", "nsga", "polish"}
    assert "of 10 generations" in stopped["nsga"]
    assert all(phase in warnings[0] for phase in stopped)


def test_a_frontier_the_clock_leaves_infeasible_exits_2_and_blames_the_clock(run_cli, tmp_path):
    code, _, err = run_cli(
        *SMALL_CLI,
        "ray.enabled=false",
        "frontier.point_time_limit=1e-9",
        "frontier.time_limit=1e-9",
        f"hydra.run.dir={tmp_path}",
    )
    assert code == 2
    assert "infeasible under rule 'capacity'" in err and "a time limit stopped epsilon" in err
    assert "hours of workload over" in err
    assert not (tmp_path / "frontier.arrow").exists()


# -- settings ---------------------------------------------------------------------------------


def test_config_file_holds_the_default_settings():
    cfg = OmegaConf.load(Path(__file__).resolve().parents[2] / "conf/frontier/default.yaml")
    assert frontier_settings_from_config(cfg) == FrontierSettings()


@pytest.mark.parametrize(
    "override",
    [
        {"objectives": ["travel"]},
        {"objectives": ["travel", "speed"]},
        {"algorithm": "nsga3", "objectives": ["travel", "disruption"]},
        {"budget_shares": [1.5]},
        {"sweeps": ["workload_imbalance"]},
        {"population": 2},
        {"point_ils_rounds": -1},
        {"polish": None},
        {"generation": 10},
    ],
)
def test_bad_settings_are_user_errors(override):
    with pytest.raises(TerrasimError, match="frontier"):
        frontier_settings_from_config(override)
