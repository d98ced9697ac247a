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
    crm = read_crm(optimized / "assignment.csv")
    assert crm.column_names == ["account_id", "rep_id", "previous_rep", "change"]
    assert crm.num_rows == 450
    change = crm.column("change").to_pylist()
    # accounts_moved counts a rep taken away (moved or uncovered); newly covered is its own kind.
    assert change.count("moved") + change.count("uncovered") == moved
    assert change.count("newly_covered") == placed
    assert set(change) <= {"kept", "moved", "newly_covered", "uncovered"}
    for previous, rep, kind in zip(
        crm.column("previous_rep").to_pylist(),
        crm.column("rep_id").to_pylist(),
        change,
        strict=True,
    ):
        assert (kind == "kept") == (previous == rep)
        assert (kind == "newly_covered") == (previous == "" and rep != "")


def read_crm(path: Path) -> pa.Table:
    text = {c: pa.string() for c in ("account_id", "rep_id", "previous_rep", "change")}
    return pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(column_types=text, strings_can_be_null=False),
    )


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


def test_export_without_design_writes_the_recommended_one(run_cli, optimized: Path, tmp_path: Path):
    out = tmp_path / "export.csv"
    code, stdout, err = run_cli(
        "export",
        "data.preset=southwest",
        f"designs={optimized / 'designs.arrow'}",
        f"out={out}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 0, err
    assert "design 'optimized'" in stdout
    assert out.read_bytes() == (optimized / "assignment.csv").read_bytes()


@pytest.fixture(scope="module")
def southwest_files(tmp_path_factory) -> tuple[Path, Path]:
    """The southwest preset as CSV files, accounts in their generated order."""
    from engine.generator import generate_instance

    folder = tmp_path_factory.mktemp("southwest")
    accounts, reps = generate_instance("southwest", seed=0)
    pacsv.write_csv(accounts, folder / "accounts.csv")
    pacsv.write_csv(reps, folder / "reps.csv")
    return folder / "accounts.csv", folder / "reps.csv"


def test_export_follows_account_ids_not_rows(
    run_cli, optimized: Path, southwest_files: tuple[Path, Path], tmp_path: Path
):
    """The same accounts in another row order get the same reps: a design is keyed by id."""
    import numpy as np

    accounts, reps = southwest_files
    table = pacsv.read_csv(accounts)
    shuffled = tmp_path / "shuffled.csv"
    order = np.random.default_rng(3).permutation(table.num_rows)
    pacsv.write_csv(table.take(order), shuffled)
    out = tmp_path / "export.csv"
    code, stdout, err = run_cli(
        "export",
        "data=files",
        f"data.accounts={shuffled}",
        f"data.reps={reps}",
        f"designs={optimized / 'designs.arrow'}",
        f"out={out}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 0, err

    def by_account(path: Path) -> dict[str, tuple[str, str, str]]:
        crm = read_crm(path)
        return {
            row["account_id"]: (row["rep_id"], row["previous_rep"], row["change"])
            for row in crm.to_pylist()
        }

    assert by_account(out) == by_account(optimized / "assignment.csv")


def test_export_against_other_accounts_exits_2_naming_them(
    run_cli, optimized: Path, southwest_files: tuple[Path, Path], tmp_path: Path
):
    accounts, reps = southwest_files
    text = pacsv.ConvertOptions(column_types={"account_id": pa.string()})
    table = pacsv.read_csv(accounts, convert_options=text)
    dropped = table.column("account_id")[5].as_py()
    fewer = tmp_path / "fewer.csv"
    pacsv.write_csv(pa.concat_tables([table.slice(0, 5), table.slice(6)]), fewer)
    out = tmp_path / "export.csv"
    code, _, err = run_cli(
        "export",
        "data=files",
        f"data.accounts={fewer}",
        f"data.reps={reps}",
        f"designs={optimized / 'designs.arrow'}",
        f"out={out}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 2
    assert "account_ids" in err and dropped in err
    assert not out.exists()


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


def test_frontier_under_a_band_no_design_meets_exits_2_and_writes_nothing(run_cli, tmp_path: Path):
    code, out, err = run_cli(
        "frontier",
        "objective.rules.balance.enabled=true",
        "objective.rules.balance.measures.potential=0",
        "frontier.time_limit=6",
        "frontier.population=12",
        "frontier.generations=2",
        "frontier.polish=1",
        "stress=false",
        "report=false",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 2
    assert "infeasible under rule 'balance'" in err and "frontier designs meets" in err
    assert "recommended" not in out
    assert not (tmp_path / "run" / "assignment.csv").exists()
    assert not (tmp_path / "run" / "frontier.arrow").exists()
