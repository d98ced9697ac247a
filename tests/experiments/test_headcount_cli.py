"""`terrasim headcount` through the CLI: the curve, its files, multirun jobs and bad input."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pytest

from tests.experiments.test_report_cli import terrasim

# A small northeast: 160 accounts, 8 reps; a search bounded by moves so that runs repeat exactly.
SMALL = (
    "data.n_accounts=160",
    "data.n_reps=8",
    "ray.enabled=false",
    "sim.scenarios=40",
    "solver.max_moves=1000",
    "solver.time_limit=60",
)
RANGE = ("headcount.min=-1", "headcount.max=1")
REPORT_FILES = ("report.html", "headcount.png", "map.png", "stress.png")


def read(path: Path) -> pa.Table:
    with ipc.open_file(path) as reader:
        return reader.read_all()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """One headcount run over -1..+1, shared by the tests that read its files."""
    run_dir = tmp_path_factory.mktemp("headcount") / "run"
    code, out = terrasim("headcount", *SMALL, *RANGE, f"hydra.run.dir={run_dir}")
    assert code == 0, out
    (run_dir.parent / "run.out").write_text(out, encoding="utf-8")
    return run_dir


def test_headcount_writes_the_curve_designs_scenarios_and_summary(sweep: Path):
    curve = read(sweep / "headcount.arrow")
    assert curve["headcount"].to_pylist() == [7, 8, 9]
    assert curve["delta"].to_pylist() == [-1, 0, 1]
    for column in ("expected_bookings", "p5_bookings", "attainment_spread", "capacity_utilisation"):
        values = curve[column].to_pylist()
        assert all(v is not None and v > 0 for v in values), column
    assert curve["p5_bookings"].to_pylist() < curve["expected_bookings"].to_pylist()
    # Fewer reps for the same workload: utilisation falls as headcount rises.
    utilisation = curve["capacity_utilisation"].to_pylist()
    assert utilisation[0] > utilisation[1] > utilisation[2]
    assert curve["marginal_bookings"].to_pylist()[0] is None

    designs = read(sweep / "designs.arrow")
    assert designs["design"].to_pylist() == curve["design"].to_pylist()
    assignments = designs["assignment"].to_pylist()
    removed = curve["removed"].to_pylist()[0]
    added = curve["added"].to_pylist()[2]
    assert removed and removed not in assignments[0]  # the leaving rep holds nothing
    assert added == "new-1" and added in assignments[2]  # the new rep holds accounts

    summary = read(sweep / "summary.arrow")
    assert summary["design"].to_pylist() == ["today (8 reps)", *curve["design"].to_pylist()]
    assert summary["mean"].to_pylist()[1:] == curve["expected_bookings"].to_pylist()
    scenarios = read(sweep / "scenarios.arrow")
    assert scenarios.num_rows == 4 * 40
    assert (sweep / "config.yaml").is_file()


def test_the_report_shows_the_curve_and_the_best_headcounts_design(sweep: Path):
    out = (sweep.parent / "run.out").read_text(encoding="utf-8")
    assert out.strip().splitlines()[-1] == f"report: {sweep / 'report.html'}"
    curve = read(sweep / "headcount.arrow").to_pylist()
    best = max(curve, key=lambda row: row["expected_bookings"])
    page = (sweep / "report.html").read_text(encoding="utf-8")
    for heading in (
        f"<h2>Recommended design: {best['design']}</h2>",
        "<h2>Headcount curve</h2>",
        "<h2>Territories before and after</h2>",
        "<h2>Stress test</h2>",
    ):
        assert heading in page, heading
    start = page.index("<h2>Headcount curve</h2>")
    section = page[start : page.index("<h2>", start + 1)]
    assert "headcount.png" in section and section.count("<tr") == 1 + len(curve)
    assert f"<tr class='recommended'><td>{best['headcount']}</td>" in section
    for name in REPORT_FILES:
        assert (sweep / name).stat().st_size > 0, name


def test_the_curve_is_printed_with_the_over_capacity_headcount(run_cli, tmp_path: Path):
    code, out, _ = run_cli(
        "headcount",
        *SMALL,
        "headcount.min=-2",
        "headcount.max=0",
        "report=false",
        f"hydra.run.dir={tmp_path}",
    )
    assert code == 0
    assert "report:" not in out
    assert not list(tmp_path.glob("report.html")) + list(tmp_path.glob("*.png"))
    curve = read(tmp_path / "headcount.arrow")
    over = [
        h
        for h, o in zip(
            curve["headcount"].to_pylist(), curve["over_capacity"].to_pylist(), strict=True
        )
        if o
    ]
    assert "E[bookings]" in out
    line = next(x for x in out.splitlines() if x.startswith("over-capacity headcount:"))
    assert line.startswith(
        f"over-capacity headcount: {max(over)} reps" if over else "over-capacity headcount: none"
    )
    # Six reps hold what eight did: some territory is over capacity.
    assert 6 in over


def test_same_config_writes_the_same_bytes(run_cli, tmp_path: Path):
    for name in ("a", "b"):
        code, _, _ = run_cli("headcount", *SMALL, *RANGE, f"hydra.run.dir={tmp_path / name}")
        assert code == 0
    for name in ("headcount", "designs", "scenarios", "summary"):
        first = (tmp_path / "a" / f"{name}.arrow").read_bytes()
        assert first == (tmp_path / "b" / f"{name}.arrow").read_bytes(), name
    for name in REPORT_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_a_single_headcount_job_sees_the_same_scenarios_as_the_sweep(
    run_cli, sweep: Path, tmp_path: Path
):
    # The same config but one delta: scenarios share their random numbers when the jobs agree
    # on headcount.max (it sets how many seats every instance is padded to).
    code, _, _ = run_cli(
        "headcount", *SMALL, *RANGE, "headcount.delta=1", f"hydra.run.dir={tmp_path}"
    )
    assert code == 0
    alone = read(tmp_path / "scenarios.arrow")
    together = read(sweep / "scenarios.arrow")

    def bookings(table: pa.Table, design: str) -> list[float]:
        rows = table.filter(pc.equal(table["design"], design))
        return rows["total_bookings"].to_pylist()

    assert bookings(alone, "9 reps (+1)") == bookings(together, "9 reps (+1)")
    assert bookings(alone, "today (8 reps)") == bookings(together, "today (8 reps)")


def test_multirun_runs_one_job_per_headcount(run_cli, tmp_path: Path):
    code, _, _ = run_cli(
        "headcount", "-m", *SMALL, "headcount.delta=-1,1", f"hydra.sweep.dir={tmp_path}"
    )
    assert code == 0
    jobs = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1"]
    curves = [read(job / "headcount.arrow") for job in jobs]
    assert [c["delta"].to_pylist() for c in curves] == [[-1], [1]]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("headcount.min=2", "headcount.max=1"), "must not exceed"),
        (("headcount.delta=-8",), "cannot remove 8 reps"),
        (("headcount.delta=0.5",), "whole number"),
        (("+headcount.step=2",), "unknown key"),
        (("sim.scenarios=0", "headcount.delta=0"), "sim.scenarios"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(run_cli, tmp_path: Path, overrides, message):
    run_dir = tmp_path / "run"
    code, _, err = run_cli("headcount", *SMALL, *overrides, f"hydra.run.dir={run_dir}")
    assert code == 2
    assert message in err
    assert not run_dir.exists() or not any(run_dir.iterdir())
