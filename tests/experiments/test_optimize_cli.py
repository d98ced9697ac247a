"""`terrasim optimize`, `export`, `stress` and `frontier` through the CLI, on real files."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pytest


def read(path: Path) -> pa.Table:
    with ipc.open_file(path) as reader:
        return reader.read_all()


FAST_SOLVER = ("solver.time_limit=3",)


@pytest.fixture(scope="module")
def optimized(tmp_path_factory) -> Path:
    """One optimize run on southwest, shared by the tests that read its files."""
    import sys

    from experiments import cli

    run_dir = tmp_path_factory.mktemp("optimize") / "run"
    saved = sys.argv
    sys.argv = [
        "terrasim",
        "optimize",
        "data.preset=southwest",
        *FAST_SOLVER,
        f"hydra.run.dir={run_dir}",
    ]
    try:
        cli.main()
    finally:
        sys.argv = saved
    return run_dir


def test_optimize_writes_designs_moves_transitions_and_csv(optimized: Path):
    designs = read(optimized / "designs.arrow")
    assert designs.column("design").to_pylist() == ["today", "optimized"]
    assert designs.column("feasible").to_pylist()[1] is True
    before, after = designs.column("potential_imbalance").to_pylist()
    assert after < before
    moves = read(optimized / "moves.arrow")
    moved = designs.column("accounts_moved").to_pylist()[1]
    unassigned_before, unassigned_after = designs.column("accounts_unassigned").to_pylist()
    placed = unassigned_before - unassigned_after  # unassigned today, given a rep now
    assert moves.num_rows == moved + placed and moved > 0
    pairs = zip(
        moves.column("from_rep").to_pylist(), moves.column("to_rep").to_pylist(), strict=True
    )
    assert all(a != b for a, b in pairs)
    transitions = read(optimized / "transitions.arrow")
    assert (
        sum(transitions.column("accounts_gained").to_pylist())
        >= moved - designs.column("accounts_unassigned").to_pylist()[0]
    )
    assert sum(transitions.column("accounts_after").to_pylist()) == 450
    crm = pacsv.read_csv(
        optimized / "assignment.csv",
        convert_options=pacsv.ConvertOptions(
            column_types={"account_id": pa.string(), "rep_id": pa.string()}
        ),
    )
    assert crm.column_names == ["account_id", "rep_id", "moved"]
    assert crm.num_rows == 450
    assert sum(crm.column("moved").to_pylist()) == moved


def test_locked_accounts_stay(optimized: Path):
    from engine.generator import generate_instance

    accounts, _ = generate_instance("southwest", seed=0)
    locked = {
        a
        for a, lock in zip(
            accounts.column("account_id").to_pylist(),
            accounts.column("locked").to_pylist(),
            strict=True,
        )
        if lock
    }
    moves = read(optimized / "moves.arrow")
    assert locked and not locked & set(moves.column("account_id").to_pylist())


def test_export_writes_the_same_csv(run_cli, optimized: Path, tmp_path: Path):
    out = tmp_path / "export.csv"
    code, stdout, err = run_cli(
        "export",
        "data.preset=southwest",
        f"designs={optimized / 'designs.arrow'}",
        "design=optimized",
        f"out={out}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 0, err
    assert out.read_bytes() == (optimized / "assignment.csv").read_bytes()


def test_export_unknown_design_exits_2(run_cli, optimized: Path, tmp_path: Path):
    code, _, err = run_cli(
        "export",
        "data.preset=southwest",
        f"designs={optimized / 'designs.arrow'}",
        "design=nope",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 2 and "has no design 'nope'" in err


def test_stress_of_a_designs_file(run_cli, optimized: Path, tmp_path: Path):
    args = (
        "stress",
        "data.preset=southwest",
        f"designs={optimized / 'designs.arrow'}",
        "sim.scenarios=40",
        "ray.enabled=false",
    )
    code, out, err = run_cli(*args, "sim.batch_size=7", f"hydra.run.dir={tmp_path / 'a'}")
    assert code == 0, err
    summary = read(tmp_path / "a" / "summary.arrow")
    assert summary.column("design").to_pylist() == ["today", "optimized"]
    scenarios = read(tmp_path / "a" / "scenarios.arrow")
    assert scenarios.num_rows == 80
    code, _, err = run_cli(*args, "sim.batch_size=40", f"hydra.run.dir={tmp_path / 'b'}")
    assert code == 0, err
    for name in ("summary.arrow", "scenarios.arrow"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_frontier_end_to_end(run_cli, tmp_path: Path):
    code, out, err = run_cli(
        "frontier",
        "frontier.time_limit=6",
        "frontier.population=20",
        "frontier.generations=4",
        "frontier.polish=1",
        "sim.scenarios=30",
        "ray.enabled=false",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 0, err
    frontier = read(tmp_path / "run" / "frontier.arrow")
    assert frontier.num_rows >= 3
    assert b"terrasim.hypervolume" in frontier.schema.metadata
    assert min(frontier.column("accounts_moved").to_pylist()) == 0
    summary = read(tmp_path / "run" / "summary.arrow")
    assert summary.num_rows == frontier.num_rows + 1
    assert (tmp_path / "run" / "assignment.csv").is_file()
