"""`terrasim EXPERIMENT -m`: a folder per job, sweep.arrow, resume, failures, presets."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from engine.io import read_arrow

PRESETS = Path(__file__).resolve().parents[2] / "conf" / "sweep"


@pytest.fixture
def files(small_files) -> tuple[str, str]:
    """The small instance as `data=files` overrides."""
    accounts, reps = small_files
    return ("data=files", f"data.accounts={accounts}", f"data.reps={reps}")


def arrow_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.arrow"))}


def test_multirun_writes_a_folder_per_job_and_sweep_arrow(run_cli, files, tmp_path: Path):
    sweep = tmp_path / "sweep"
    code, out, err = run_cli(
        "evaluate", "-m", *files, "objective.weights.travel=0.1,0.5,1", f"hydra.sweep.dir={sweep}"
    )
    assert code == 0, err
    table = read_arrow(sweep / "sweep.arrow")
    assert table.num_rows == 3
    assert table.column("job").to_pylist() == [0, 1, 2]
    assert table.column("status").to_pylist() == ["finished"] * 3
    assert table.schema.field("objective.weights.travel").type == pa.float64()
    assert table.column("objective.weights.travel").to_pylist() == [0.1, 0.5, 1.0]
    assert table.column("data").to_pylist() == ["files"] * 3
    assert table.column("overrides")[1].as_py()[-1] == "objective.weights.travel=0.5"
    for job in range(3):
        evaluation = read_arrow(sweep / str(job) / "evaluation.arrow")
        for key in ("travel", "potential_imbalance", "feasible"):
            assert table.column(key)[job].as_py() == evaluation.column(key)[0].as_py()
    meta = table.schema.metadata
    assert (
        b"terrasim.git_commit" in meta
        and b"objective.weights.travel=0.1,0.5,1" in meta[b"terrasim.sweep"]
    )
    assert f"wrote {sweep / 'sweep.arrow'} (3 jobs)" in out


def test_rerun_skips_finished_jobs_and_redoes_an_interrupted_one(run_cli, files, tmp_path: Path):
    sweep = tmp_path / "sweep"
    args = ("evaluate", "-m", *files, "seed=1,2,3", f"hydra.sweep.dir={sweep}")
    code, _, err = run_cli(*args)
    assert code == 0, err
    before = arrow_files(sweep)
    finished_at = {p: p.stat().st_mtime_ns for p in (sweep / "0").iterdir()}
    # An interruption: job 1 lost its marker and a result, and left a temporary file behind.
    (sweep / "1" / "result.arrow").unlink()
    (sweep / "1" / "evaluation.arrow").unlink()
    (sweep / "1" / ".evaluation.arrow.abc.tmp").write_bytes(b"partial")
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert "job 0: finished earlier, skipped" in out
    assert "job 2: finished earlier, skipped" in out
    assert "job 1: finished earlier" not in out
    assert {p: p.stat().st_mtime_ns for p in (sweep / "0").iterdir()} == finished_at
    assert not (sweep / "1" / ".evaluation.arrow.abc.tmp").exists()
    assert arrow_files(sweep) == before


def test_a_job_folder_marked_incomplete_is_rerun_and_left_unmarked(run_cli, files, tmp_path):
    sweep = tmp_path / "sweep"
    args = ("evaluate", "-m", *files, "seed=1,2", f"hydra.sweep.dir={sweep}")
    code, _, err = run_cli(*args)
    assert code == 0, err
    assert not list(sweep.rglob("INCOMPLETE"))
    # Interrupted between its last result and the marker's removal: it has not finished.
    (sweep / "1" / "INCOMPLETE").write_text("interrupted\n")
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert "job 0: finished earlier, skipped" in out
    assert "job 1: finished earlier" not in out
    assert not (sweep / "1" / "INCOMPLETE").exists()
    assert (sweep / "1" / "result.arrow").exists()


def test_same_multirun_twice_gives_identical_arrow_files(run_cli, files, tmp_path: Path):
    for name in ("a", "b"):
        code, _, err = run_cli(
            "evaluate", "-m", *files, "seed=0,1", f"hydra.sweep.dir={tmp_path / name}"
        )
        assert code == 0, err
    first, second = arrow_files(tmp_path / "a"), arrow_files(tmp_path / "b")
    assert len(first) == 5 and first == second


def test_default_sweep_folder_is_named_by_the_overrides(
    run_cli, files, tmp_path: Path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("evaluate", "-m", *files, "seed=0,1")
    assert code == 0, err
    code, out, err = run_cli("evaluate", "-m", *files, "seed=0,1")
    assert code == 0, err
    assert out.count("finished earlier, skipped") == 2
    sweeps = tmp_path / "results" / "evaluate" / "sweeps"
    assert len(list(sweeps.iterdir())) == 1
    code, _, err = run_cli("evaluate", "-m", *files, "seed=0,2")
    assert code == 0, err
    assert len(list(sweeps.iterdir())) == 2
    for folder in sweeps.iterdir():
        assert read_arrow(folder / "sweep.arrow").num_rows == 2


def test_changed_config_reruns_a_finished_job(run_cli, files, tmp_path: Path):
    sweep = tmp_path / "sweep"
    code, _, err = run_cli("evaluate", "-m", *files, "seed=0,1", f"hydra.sweep.dir={sweep}")
    assert code == 0, err
    code, out, err = run_cli("evaluate", "-m", *files, "seed=0,5", f"hydra.sweep.dir={sweep}")
    assert code == 0, err
    assert "job 0: finished earlier, skipped" in out and "job 1: finished earlier" not in out
    assert read_arrow(sweep / "sweep.arrow").column("seed").to_pylist() == [0, 5]


def test_sweep_preset_composes_a_grid(run_cli, files, tmp_path: Path):
    sweep = tmp_path / "sweep"
    code, _, err = run_cli("evaluate", "-m", *files, "sweep=weights", f"hydra.sweep.dir={sweep}")
    assert code == 0, err
    table = read_arrow(sweep / "sweep.arrow")
    grid = set(
        zip(
            table.column("objective.weights.travel").to_pylist(),
            table.column("objective.weights.disruption").to_pylist(),
            strict=True,
        )
    )
    assert table.num_rows == 9 and len(grid) == 9
    assert table.column("sweep").to_pylist() == ["weights"] * 9
    # A value on the command line replaces the preset's list for its key.
    code, _, err = run_cli(
        "evaluate",
        "-m",
        *files,
        "sweep=weights",
        "objective.weights.travel=0.3",
        f"hydra.sweep.dir={tmp_path / 'one'}",
    )
    assert code == 0, err
    table = read_arrow(tmp_path / "one" / "sweep.arrow")
    assert table.column("objective.weights.travel").to_pylist() == [0.3] * 3


# The experiment each preset is meant for: its keys must exist there.
PRESET_EXPERIMENTS = {
    "none": "optimize",
    "weights": "optimize",
    "budget": "optimize",
    "seeds": "optimize",
    "headcount": "headcount",
}


def test_every_preset_is_listed():
    assert sorted(p.stem for p in PRESETS.glob("*.yaml")) == sorted(PRESET_EXPERIMENTS)


@pytest.mark.parametrize("preset", sorted(PRESET_EXPERIMENTS))
def test_every_preset_sweeps_keys_its_experiment_has(preset: str):
    import engine.cli  # noqa: F401  (registers the resolver that names the sweep folder)

    with initialize_config_dir(config_dir=str(PRESETS.parent), version_base="1.3"):
        cfg = compose(PRESET_EXPERIMENTS[preset], [f"sweep={preset}"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params or {}
    assert bool(params) == (preset != "none")
    for key in params:
        assert OmegaConf.select(cfg, key, default="missing") != "missing", key


def test_budget_preset_sweeps_no_budget_and_four_shares(run_cli, files, tmp_path: Path):
    code, _, err = run_cli("evaluate", "-m", *files, "sweep=budget", f"hydra.sweep.dir={tmp_path}")
    assert code == 0, err
    table = read_arrow(tmp_path / "sweep.arrow")
    column = "objective.rules.disruption_budget.max_potential_share"
    assert table.schema.field(column).type == pa.float64()
    assert table.column(column).to_pylist() == [None, 0.02, 0.05, 0.10, 0.20]


def test_sweep_preset_without_m_exits_2(run_cli, files, tmp_path: Path):
    code, _, err = run_cli("evaluate", *files, "sweep=weights", f"hydra.run.dir={tmp_path / 'r'}")
    assert code == 2 and "runs only with -m" in err
    assert not (tmp_path / "r").exists()


def test_failed_job_is_recorded_retried_and_exits_2(run_cli, files, tmp_path: Path):
    ids = [f"A{i}" for i in range(1, 9)]
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    pacsv.write_csv(pa.table({"account_id": ids, "rep_id": ["R1"] * 8}), good)
    pacsv.write_csv(pa.table({"account_id": ["A1"], "rep_id": ["R1"]}), bad)
    sweep = tmp_path / "sweep"
    args = ("evaluate", "-m", *files, f"assignment={good},{bad}", f"hydra.sweep.dir={sweep}")
    code, out, err = run_cli(*args)
    assert code == 2
    assert "job 1: error:" in err and "1 of 2 jobs failed" in err
    table = read_arrow(sweep / "sweep.arrow")
    assert table.column("status").to_pylist() == ["finished", "failed"]
    assert "misses 7 account" in table.column("message")[1].as_py()
    assert table.column("potential_imbalance")[1].as_py() is None
    assert [p.name for p in (sweep / "1").iterdir()] == ["result.arrow"]
    code, out, err = run_cli(*args)
    assert code == 2
    assert "job 0: finished earlier, skipped" in out and "job 1: error:" in err


def test_optimize_multirun_of_the_seeds_preset_collects_key_results(run_cli, files, tmp_path: Path):
    sweep = tmp_path / "sweep"
    code, _, err = run_cli(
        "optimize",
        "-m",
        *files,
        "sweep=seeds",
        "solver.max_moves=40",
        f"hydra.sweep.dir={sweep}",
    )
    assert code == 0, err
    table = read_arrow(sweep / "sweep.arrow")
    assert table.column("solver.seed").to_pylist() == [0, 1, 2, 3, 4]
    assert table.column("feasible").to_pylist() == [True] * 5
    assert table.schema.field("moves").type == pa.int64()
    for job in range(5):
        designs = read_arrow(sweep / str(job) / "designs.arrow")
        assert table.column("travel")[job].as_py() == designs.column("travel")[1].as_py()
        assert (sweep / str(job) / "assignment.csv").is_file()


def test_single_run_keeps_its_folder_and_writes_no_marker(run_cli, files, tmp_path: Path):
    code, out, err = run_cli("evaluate", *files, f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 0, err
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert "evaluation.arrow" in names and "result.arrow" not in names
    assert "sweep" not in out
