"""`terrasim bench` at quick size: every case in one table, as Arrow and Markdown, real runs."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from engine.bench.runner import CASES

QUICK = ("bench", "bench.size=quick", "bench.repeat=1")


def read(path: Path) -> pa.Table:
    with ipc.open_file(path) as reader:
        return reader.read_all()


@pytest.fixture(scope="module")
def quick_bench(tmp_path_factory) -> tuple[Path, Path]:
    """One quick run of every case (Ray included), shared by the tests that read its files."""
    from experiments import cli

    root = tmp_path_factory.mktemp("bench")
    saved = sys.argv
    sys.argv = ["terrasim", *QUICK, f"bench.out={root / 'out'}", f"hydra.run.dir={root / 'run'}"]
    try:
        cli.main()
    finally:
        sys.argv = saved
    return root / "out", root / "run"


def test_quick_bench_has_a_row_per_case_with_finite_positive_ratios(quick_bench):
    out, _ = quick_bench
    table = read(out / "bench.arrow")
    assert table.column_names == [
        "case",
        "size",
        "terrasim_value",
        "baseline_value",
        "unit",
        "ratio",
        "target",
        "met",
        "notes",
    ]
    assert table.column("case").to_pylist() == list(CASES)
    for row in table.to_pylist():
        assert math.isfinite(row["terrasim_value"]) and row["terrasim_value"] > 0, row
        if row["unit"] == "hypervolume" and row["baseline_value"] == 0:
            # On a loaded machine plain pymoo's front at terrasim's (sub-second) time may hold
            # no feasible design inside the reference point: zero, and infinitely worse.
            assert row["ratio"] == math.inf, row
            continue
        assert math.isfinite(row["baseline_value"]) and row["baseline_value"] > 0, row
        better = row["terrasim_value"] / row["baseline_value"]
        assert row["ratio"] == pytest.approx(better) or row["ratio"] == pytest.approx(1 / better)
    # Targets are set for the full sizes: a quick run lists them but judges none.
    assert table.column("met").null_count == table.num_rows
    assert "≤ 35 ms" in table.column("target").to_pylist()[0]
    # Each baseline computed the same results as terrasim where the case checks it.
    assert not any("DIFFER" in note for note in table.column("notes").to_pylist())


def test_quick_bench_records_the_machine_and_writes_markdown(quick_bench):
    out, run = quick_bench
    metadata = read(out / "bench.arrow").schema.metadata
    environment = json.loads(metadata[b"terrasim.bench"])
    assert environment["size"] == "quick"
    assert len(environment["load_average_start"]) == 3 and environment["cpu_count"] >= 1
    assert environment["numba_threads"] >= 1 and environment["wall_seconds"] > 0
    assert environment["git_commit"] == metadata[b"terrasim.git_commit"].decode()
    assert json.loads(metadata[b"terrasim.config"])["bench"]["size"] == "quick"
    markdown = (out / "bench.md").read_text(encoding="utf-8")
    assert markdown.startswith("# terrasim bench (quick)")
    assert "Load average" in markdown
    table_lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[0][2:] for line in table_lines[1:]] == list(CASES)
    # The run folder keeps the same files, and the config it ran with.
    assert (run / "bench.arrow").read_bytes() == (out / "bench.arrow").read_bytes()
    assert (run / "bench.md").read_text(encoding="utf-8") == markdown
    assert (run / "config.yaml").is_file()


def test_only_selects_cases_in_bench_order(run_cli, tmp_path):
    code, stdout, stderr = run_cli(
        *QUICK,
        "bench.only=[local_search,candidate_lists]",
        f"bench.out={tmp_path / 'out'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 0, stderr
    assert read(tmp_path / "out" / "bench.arrow").column("case").to_pylist() == [
        "candidate_lists",
        "local_search",
    ]
    assert "[bench" in stderr and "local_search:" in stderr  # progress lines
    assert "| candidate_lists |" in stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("bench.only=[evaluate_1_thread,no_such_case]", "no_such_case"),
        ("bench.size=huge", "bench.size"),
        ("bench.repeat=0", "bench.repeat"),
    ],
)
def test_bad_settings_exit_2_and_write_nothing(run_cli, tmp_path, override, message):
    code, _, stderr = run_cli(
        "bench", override, f"bench.out={tmp_path / 'out'}", f"hydra.run.dir={tmp_path / 'run'}"
    )
    assert code == 2
    assert message in stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "run").exists()
