"""`terrasim scenarios` through the CLI: files, the comparison table, same bytes, bad settings."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pytest

from engine.io import read_arrow
from engine.scenarios import SCENARIOS
from tests.experiments.test_report_cli import open_in_browser, terrasim

# Small and fast: every search converges long before its time limit, so two runs agree.
FAST = (
    "data.n_accounts=120",
    "data.n_reps=8",
    "ray.enabled=false",
    "sim.scenarios=20",
    "sim.horizon_months=12",
    "solver.ils_rounds=100",
    "solver.ils_patience=50",
    "scenarios.time_limit=20",
)
FILES = ("designs", "moves", "transitions", "scenarios", "summary", "scenarios_summary")
REPORT_FILES = ("report.html", "scenarios.png", "map.png", "stress.png")


def read(path: Path) -> pa.Table:
    with ipc.open_file(path) as reader:
        return reader.read_all()


def run_scenarios(run_dir: Path, *overrides: str) -> str:
    """Run `terrasim scenarios` with the fast settings; return what it printed."""
    code, out = terrasim("scenarios", *FAST, *overrides, f"hydra.run.dir={run_dir}")
    assert code == 0, out
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """The default library run twice into two folders."""
    base = tmp_path_factory.mktemp("scenarios")
    out = run_scenarios(base / "one")
    (base / "one.out").write_text(out, encoding="utf-8")
    run_scenarios(base / "two")
    return base / "one", base / "two"


def test_writes_every_file_and_one_row_per_scenario(runs):
    one, _ = runs
    for name in FILES:
        assert (one / f"{name}.arrow").exists(), name
    assert (one / "config.yaml").exists()
    table = read(one / "scenarios_summary.arrow")
    assert table.column("scenario").to_pylist() == ["today", *SCENARIOS]
    for column in (
        "potential_imbalance",
        "workload_imbalance",
        "travel",
        "accounts_moved",
        "expected_bookings",
        "p5_bookings",
        "p_beats_today",
        "expected_departures",
        "feasible",
    ):
        assert column in table.column_names
    rows = table.to_pylist()
    designed = [r["scenario"] for r in rows if r["expected_bookings"] is not None]
    summary = read(one / "summary.arrow")
    assert summary.column("design").to_pylist() == designed
    assert read(one / "scenarios.arrow").num_rows == 20 * len(designed)
    recommended = [r for r in rows if r["recommended"]]
    assert len(recommended) == 1 and recommended[0]["feasible"]
    designs = read(one / "designs.arrow")
    assert designs.column("design").to_pylist()[0] == "today"


def test_assignment_csv_is_the_recommended_design(runs):
    one, _ = runs
    table = read(one / "scenarios_summary.arrow").to_pylist()
    chosen = next(r["scenario"] for r in table if r["recommended"])
    designs = read(one / "designs.arrow")
    row = designs.column("design").to_pylist().index(chosen)
    crm = pacsv.read_csv(
        one / "assignment.csv",
        convert_options=pacsv.ConvertOptions(
            column_types={"account_id": pa.string(), "rep_id": pa.string()}
        ),
    )
    assert crm.num_rows == 120
    expected = [r or "" for r in designs.column("assignment")[row].as_py()]
    assert crm.column("rep_id").to_pylist() == expected


def test_two_runs_write_the_same_bytes(runs):
    one, two = runs
    for name in FILES:
        assert (one / f"{name}.arrow").read_bytes() == (two / f"{name}.arrow").read_bytes(), name
    assert (one / "assignment.csv").read_bytes() == (two / "assignment.csv").read_bytes()
    for name in REPORT_FILES:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


def test_the_report_shows_the_comparison_and_the_recommended_design(runs):
    one, _ = runs
    out = (one.parent / "one.out").read_text(encoding="utf-8")
    assert out.strip().splitlines()[-1] == f"report: {one / 'report.html'}"
    chosen = next(r for r in read(one / "scenarios_summary.arrow").to_pylist() if r["recommended"])
    page = (one / "report.html").read_text(encoding="utf-8")
    for heading in (
        f"<h2>Recommended design: {chosen['scenario']}</h2>",
        "<h2>Scenario comparison</h2>",
        "<h2>Territories before and after</h2>",
        f"<h2>Transition packages: {chosen['scenario']}</h2>",
        "<h2>Stress test</h2>",
    ):
        assert heading in page, heading
    # Only the recommended design's packages, though transitions.arrow holds every scenario's.
    start = page.index("<h2>Transition packages")
    packages = page[start : page.index("<h2>", start + 1)]
    assert packages.count("<tr><td class='text'>") == chosen["reps"] == 8
    assert read(one / "transitions.arrow").num_rows > 8
    for name in REPORT_FILES:
        assert (one / name).stat().st_size > 0, name


def test_the_report_opens_in_a_browser_with_every_plot(runs):
    one, _ = runs
    seen = open_in_browser(one / "report.html")
    assert seen.get("status") == "ok", seen.get("errors")
    assert seen["images"] == "3" and seen["broken"] == "0" and seen["errors"] == ""


def test_a_headcount_scenario_is_reported_with_its_new_reps(tmp_path: Path):
    # Its design names reps that today's instance lacks; the report maps it for its own team.
    out = run_scenarios(tmp_path, "scenarios.run=[headcount]", "scenarios.headcount.delta=1")
    assert out.strip().splitlines()[-1] == f"report: {tmp_path / 'report.html'}"
    assert read_arrow(tmp_path / "scenarios_summary.arrow").column("recommended").to_pylist() == [
        False,
        True,
    ]
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<h2>Recommended design: headcount</h2>" in page
    start = page.index("<h2>Transition packages: headcount</h2>")
    packages = page[start : page.index("<h2>", start + 1)]
    assert ">new-1<" in packages and packages.count("<tr><td class='text'>") == 9


def test_one_scenario_and_a_named_leaver_without_a_report(run_cli, tmp_path: Path):
    code, out, err = run_cli(
        "scenarios",
        *FAST,
        "scenarios.run=[departure]",
        "scenarios.departure.rep=R0003",
        "report=false",
        f"hydra.run.dir={tmp_path}",
    )
    assert code == 0, err
    table = read(tmp_path / "scenarios_summary.arrow")
    assert table.column("scenario").to_pylist() == ["today", "departure"]
    assert "R0003 leaves" in table.column("description")[1].as_py()
    assert "departure" in out and "P(beats today)" in out
    assert "report:" not in out
    assert not list(tmp_path.glob("report.html")) + list(tmp_path.glob("*.png"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("scenarios.run=[status_quo_plus,nope]", "unknown scenario(s) ['nope']"),
        ("scenarios.departure.rep=R9999", "no rep 'R9999'"),
        ("scenarios.specialisation.segments=[space]", "unknown segment(s) ['space']"),
        ("scenarios.headcount.delta=0", "headcount.delta must not be 0"),
    ],
)
def test_bad_settings_exit_2_and_write_nothing(run_cli, tmp_path: Path, override, message):
    run_dir = tmp_path / "run"
    code, _, err = run_cli("scenarios", *FAST, override, f"hydra.run.dir={run_dir}")
    assert code == 2
    assert message in err
    assert not run_dir.exists() or not any(run_dir.iterdir())
