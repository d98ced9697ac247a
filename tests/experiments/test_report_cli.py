"""The run report through the CLI (DESIGN §6), and opened in a headless browser.

The browser tests need Chromium (or Chrome); they skip, saying why, where none is installed.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.io import read_arrow
from tests.conftest import account_columns, rep_columns, write_csv

HOSTILE_ACCOUNT = "<script>alert(1)</script>"
HOSTILE_REP_NAME = "\"&'"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SMALL_FRONTIER = (
    "frontier.time_limit=60",
    "frontier.point_time_limit=60",
    "frontier.population=10",
    "frontier.generations=3",
    "frontier.polish=1",
    "sim.scenarios=24",
    "ray.enabled=false",
)


def hostile_files(folder: Path) -> tuple[str, str]:
    """The small instance with markup for account and rep names."""
    accounts, reps = account_columns(), rep_columns()
    accounts["name"] = [f"<script>alert({i})</script>" for i in range(1, 9)]
    reps["name"][1] = HOSTILE_REP_NAME
    folder.mkdir(parents=True, exist_ok=True)
    return (
        f"data.accounts={write_csv(folder / 'accounts.csv', accounts)}",
        f"data.reps={write_csv(folder / 'reps.csv', reps)}",
    )


def terrasim(*args: str) -> tuple[int, str]:
    """Run `terrasim ARGS` in-process; return the exit code and stdout."""
    from experiments import cli

    saved, out = sys.argv, io.StringIO()
    sys.argv = ["terrasim", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out):
            cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    finally:
        sys.argv = saved
    return code, out.getvalue()


@pytest.fixture(scope="module")
def frontier_runs(tmp_path_factory) -> list[tuple[Path, str]]:
    """The same small frontier with its stress test, run twice into two folders."""
    root = tmp_path_factory.mktemp("report")
    data = hostile_files(root / "data")
    runs = []
    for name in ("a", "b"):
        code, out = terrasim(
            "frontier", "data=files", *data, *SMALL_FRONTIER, f"hydra.run.dir={root / name}"
        )
        assert code == 0, out
        runs.append((root / name, out))
    return runs


def test_frontier_prints_where_the_report_is_last(frontier_runs):
    run_dir, out = frontier_runs[0]
    assert out.strip().splitlines()[-1] == f"report: {run_dir / 'report.html'}"
    for name in ("report.html", "frontier.png", "map.png", "stress.png"):
        assert (run_dir / name).stat().st_size > 0, name


def test_same_frontier_run_gives_the_same_report_bytes(frontier_runs):
    (a, _), (b, _) = frontier_runs
    for name in ("report.html", "frontier.png", "map.png", "stress.png"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_optimize_writes_a_report_unless_told_not_to(tmp_path: Path):
    data = hostile_files(tmp_path / "data")
    code, out = terrasim(
        "optimize", "data=files", *data, "solver.time_limit=5", f"hydra.run.dir={tmp_path / 'on'}"
    )
    assert code == 0, out
    assert out.strip().splitlines()[-1] == f"report: {tmp_path / 'on' / 'report.html'}"
    page = (tmp_path / "on" / "report.html").read_text(encoding="utf-8")
    assert "Transition packages: optimized" in page and "<h2>Designs</h2>" in page
    code, out = terrasim(
        "optimize",
        "data=files",
        *data,
        "solver.time_limit=5",
        "report=false",
        f"hydra.run.dir={tmp_path / 'off'}",
    )
    assert code == 0, out
    assert "report:" not in out
    assert not list((tmp_path / "off").glob("report.html")) + list((tmp_path / "off").glob("*.png"))


def test_stress_of_a_frontier_maps_its_recommended_design(frontier_runs, tmp_path: Path):
    run_dir, _ = frontier_runs[0]
    data = hostile_files(tmp_path / "data")
    code, out = terrasim(
        "stress",
        "data=files",
        *data,
        f"designs={run_dir / 'frontier.arrow'}",
        "sim.scenarios=12",
        "ray.enabled=false",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 0, out
    assert out.strip().splitlines()[-1] == f"report: {tmp_path / 'run' / 'report.html'}"
    frontier_page = (run_dir / "report.html").read_text(encoding="utf-8")
    recommended = re.search(r"<h2>Recommended design: ([^<]+)</h2>", frontier_page).group(1)
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert f"<h2>Recommended design: {recommended}</h2>" in page
    assert "<h2>Stress test</h2>" in page


def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"no headless browser found (looked for {', '.join(BROWSERS)})")


def open_in_browser(page: Path) -> dict[str, str]:
    """Load a page in headless Chromium; return the data attributes its script set on <body>."""
    dom = subprocess.run(
        [
            browser(),
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body, f"no <body> in the browser's DOM: {dom[:500]!r}"
    attributes = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(1)))
    return {**attributes, "dom": dom}


def test_report_shows_its_plots_in_a_browser_without_script_errors(frontier_runs):
    run_dir, _ = frontier_runs[0]
    seen = open_in_browser(run_dir / "report.html")
    assert seen.get("status") == "ok", seen.get("errors")
    assert seen["images"] == "3" and seen["broken"] == "0" and seen["errors"] == ""
    # User strings arrive as text: the browser shows the markup, does not run it.
    assert "&lt;script&gt;alert(" in seen["dom"] and "&amp;'" in seen["dom"]


def test_browser_check_catches_a_broken_page(frontier_runs, tmp_path: Path):
    run_dir, _ = frontier_runs[0]
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    broken = page.replace("</body>", f"<img src='missing.png' alt='x'>{HOSTILE_ACCOUNT}</body>")
    (tmp_path / "broken.html").write_text(broken, encoding="utf-8")
    seen = open_in_browser(tmp_path / "broken.html")
    assert seen.get("status") == "failed"
    assert seen["broken"] == "1" and "blocked" in seen["errors"]


def test_a_frontier_multirun_collects_its_key_results(tmp_path: Path):
    data = hostile_files(tmp_path / "data")
    sweep = tmp_path / "sweep"
    code, out = terrasim(
        "frontier",
        "-m",
        "data=files",
        *data,
        *SMALL_FRONTIER,
        "report=false",
        "seed=0,1",
        f"hydra.sweep.dir={sweep}",
    )
    assert code == 0, out
    table = read_arrow(sweep / "sweep.arrow")
    assert table.column("status").to_pylist() == ["finished"] * 2
    for job, row in enumerate(table.to_pylist()):
        frontier = read_arrow(sweep / str(job) / "frontier.arrow")
        meta = frontier.schema.metadata
        assert row["designs"] == frontier.num_rows
        assert row["hypervolume"] == float(json.loads(meta[b"terrasim.hypervolume"]))
        recommended = frontier.filter(frontier.column("recommended")).to_pylist()[0]
        assert row["recommended"] == recommended["design"]
        for key in ("potential_imbalance", "travel", "disruption", "accounts_moved"):
            assert row[key] == recommended[key], key
        summary = read_arrow(sweep / str(job) / "summary.arrow").to_pylist()
        stressed = next(s for s in summary if s["design"] == recommended["design"])
        assert row["expected_bookings"] == stressed["mean"]
        assert row["prob_beat_today"] == stressed["prob_beat_today"]
