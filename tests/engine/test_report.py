"""The run report (DESIGN §6): sections follow the files, user strings are escaped, same bytes."""

from __future__ import annotations

import base64
import dataclasses
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from omegaconf import OmegaConf

from engine.designs import NamedDesign, designs_table, moves_table, transitions_table
from engine.errors import InputError
from engine.evaluate import evaluate
from engine.frontier import FrontierSettings, frontier, frontier_table
from engine.io import read_arrow
from engine.optimize import SolverSettings
from engine.parallel import InProcessRunner
from engine.plots import sample_accounts, scenarios_figure, stress_figure, territory_map
from engine.problem import build_problem
from engine.report import write_report
from engine.rules import Objective, Rules
from engine.runs import Run
from engine.scenarios import (
    ScenarioDesign,
    comparison_table,
    scenario_designs_table,
    stress_scenarios,
)
from engine.simulation import sim_params_from_config
from engine.staffing import change_headcount
from engine.stress import labelled_tables, stress_tables
from engine.validate import instance_from_tables
from tests.conftest import DEFAULT_WEIGHTS, account_columns, rep_columns

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_ACCOUNT = "<script>alert(1)</script>"
HOSTILE_REP_NAME = "\"&'"
HOSTILE_REP_ID = "R<2>"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECTIONS = {
    "recommended": "<h2>Recommended design",
    "frontier": "<h2>Frontier</h2>",
    "map": "<h2>Territories before and after</h2>",
    "transitions": "<h2>Transition packages",
    "moves": "<h2>Largest changes of owner",
    "farthest": "<h2>Farthest assignments",
    "stress": "<h2>Stress test</h2>",
    "designs": "<h2>Designs</h2>",
    "scenarios": "<h2>Scenario comparison</h2>",
    "headcount": "<h2>Headcount curve</h2>",
}


def hostile_problem():
    """The small instance with an account and a rep whose names and id are markup."""
    accounts, reps = account_columns(), rep_columns()
    accounts["name"][0] = HOSTILE_ACCOUNT
    reps["name"][1] = HOSTILE_REP_NAME
    rename = {"R2": HOSTILE_REP_ID}
    reps["rep_id"] = [rename.get(r, r) for r in reps["rep_id"]]
    accounts["current_rep"] = [rename.get(r, r) for r in accounts["current_rep"]]
    accounts["barred_reps"] = [rename.get(r, r) for r in accounts["barred_reps"]]
    rules = Rules()
    instance = instance_from_tables(pa.table(accounts), pa.table(reps), rules)
    return build_problem(instance, Objective(DEFAULT_WEIGHTS, 1.3, rules))


@pytest.fixture(scope="module")
def problem():
    return hostile_problem()


def small_frontier(problem):
    settings = FrontierSettings(
        sweeps=("objective",),
        budget_shares=(0.0, 0.25, 1.0),
        point_time_limit=60.0,
        population=10,
        generations=3,
        time_limit=60.0,
        polish=1,
    )
    return frontier(problem, SolverSettings(time_limit=60.0), settings)


def write_run(run_dir: Path, problem, *, with_frontier: bool, with_stress: bool) -> Run:
    """A run folder as the experiments write it, from the real engine functions."""
    run = Run(run_dir, OmegaConf.create({"seed": 0}))
    acc = problem.instance.accounts
    today = NamedDesign("today", acc.current_rep, evaluate(problem, acc.current_rep))
    if with_frontier:
        result = small_frontier(problem)
        designs, chosen = [today, *result.designs], result.recommended
        run.write_table("frontier", frontier_table(problem, result))
    else:
        # The hostile account moves to the rep with the hostile id.
        moved = acc.current_rep.copy()
        moved[0], moved[7] = 1, 0
        chosen = NamedDesign("optimized", moved, evaluate(problem, moved))
        designs = [today, chosen]
    run.write_table("designs", designs_table(problem, designs))
    run.write_table("moves", moves_table(problem, chosen))
    run.write_table("transitions", transitions_table(problem, chosen))
    if with_stress:
        sim = OmegaConf.load(ROOT / "conf/sim/default.yaml")
        sim.scenarios, sim.batch_size = 24, 8
        scenarios, summary = stress_tables(
            problem.instance,
            np.stack([d.assignment for d in designs]),
            [d.label for d in designs],
            sim,
            0,
            InProcessRunner(),
        )
        run.write_table("scenarios", scenarios)
        run.write_table("summary", summary)
    run.save_config()
    return run


def sections_of(page: str) -> set[str]:
    return {name for name, heading in SECTIONS.items() if heading in page}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, problem) -> Path:
    run = write_run(tmp_path_factory.mktemp("full"), problem, with_frontier=True, with_stress=True)
    write_report(run.dir, problem)
    return run.dir


def test_full_run_shows_every_section_with_its_plots(full_run: Path):
    page = (full_run / "report.html").read_text(encoding="utf-8")
    assert sections_of(page) == SECTIONS.keys() - {"designs", "scenarios", "headcount"}
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == 3
    for name, data in zip(("frontier", "map", "stress"), images, strict=True):
        png = (full_run / f"{name}.png").read_bytes()
        assert png.startswith(PNG_SIGNATURE)
        assert base64.b64decode(data) == png
    assert "hypervolume" in page and "config.yaml of this run" in page


def test_report_loads_nothing_from_outside(full_run: Path):
    page = (full_run / "report.html").read_text(encoding="utf-8")
    assert "default-src 'none'" in page
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)
    assert not re.search(r"<(link|iframe|object|embed)\b", page)


def test_user_strings_are_escaped(tmp_path: Path, problem):
    run = write_run(tmp_path, problem, with_frontier=False, with_stress=True)
    page = write_report(run.dir, problem).read_text(encoding="utf-8")
    assert page.count("<script") == 1  # the report's own check, nothing injected
    assert HOSTILE_ACCOUNT not in page and "<2>" not in page and HOSTILE_REP_NAME not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the moved account
    assert "R&lt;2&gt;" in page
    assert "&quot;&amp;&#x27;" in page


def test_frontier_report_escapes_rep_ids(full_run: Path):
    page = (full_run / "report.html").read_text(encoding="utf-8")
    assert page.count("<script") == 1 and "<2>" not in page and "R&lt;2&gt;" in page


def test_same_run_twice_gives_the_same_bytes(tmp_path: Path, problem):
    folders = []
    for name in ("a", "b"):
        run = write_run(tmp_path / name, problem, with_frontier=False, with_stress=True)
        write_report(run.dir, problem)
        folders.append(run.dir)
    for name in ("report.html", "map.png", "stress.png"):
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes(), name


def test_an_optimize_run_shows_designs_and_no_frontier_or_stress(tmp_path: Path, problem):
    run = write_run(tmp_path, problem, with_frontier=False, with_stress=False)
    path = write_report(run.dir, problem)
    assert path == tmp_path / "report.html"
    page = path.read_text(encoding="utf-8")
    assert sections_of(page) == {
        "recommended",
        "map",
        "transitions",
        "moves",
        "farthest",
        "designs",
    }
    assert "Transition packages: optimized" in page
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["map.png"]


def test_an_empty_run_folder_gets_todays_map_only(tmp_path: Path, problem):
    page = write_report(tmp_path, problem).read_text(encoding="utf-8")
    assert sections_of(page) == {"map"}
    assert "no result files" in page


def test_a_stress_run_maps_the_design_it_is_given(tmp_path: Path, problem):
    run = write_run(tmp_path, problem, with_frontier=False, with_stress=True)
    for name in ("designs", "moves", "transitions"):
        (run.dir / f"{name}.arrow").unlink()
    moved = problem.instance.accounts.current_rep.copy()
    moved[1] = 2
    page = write_report(run.dir, problem, recommended=("optimized", moved)).read_text("utf-8")
    assert sections_of(page) == {"recommended", "map", "farthest", "stress"}
    assert "class='recommended'" in page  # its row of the stress summary


def plus_one_rep(problem):
    """The organisation with one rep added (new-1, in RI), and a design that gives it <Cyan>."""
    instance, _ = change_headcount(problem.instance, 1, seed=0)
    organisation = build_problem(instance, problem.objective)
    design = problem.instance.accounts.current_rep.copy()
    design[2] = instance.reps.ids.tolist().index("new-1")
    return organisation, NamedDesign("plus one", design, evaluate(organisation, design))


def section(page: str, heading: str) -> str:
    """The HTML of one section: from its heading to the next."""
    start = page.index(heading)
    end = page.find("<h2>", start + 1)
    return page[start : end if end >= 0 else None]


def test_a_design_for_other_reps_gets_its_own_packages_and_map(tmp_path: Path, problem):
    # A scenario library writes the packages of designs for different reps into one file.
    run = write_run(tmp_path, problem, with_frontier=False, with_stress=False)
    organisation, plus = plus_one_rep(problem)
    base = read_arrow(run.dir / "transitions.arrow")
    run.write_table("transitions", pa.concat_tables([base, transitions_table(organisation, plus)]))
    page = write_report(
        run.dir, problem, recommended=(plus.label, plus.assignment), organisation=organisation
    ).read_text(encoding="utf-8")
    packages = section(page, "<h2>Transition packages")
    assert "<h2>Transition packages: plus one</h2>" in packages
    assert packages.count("<tr><td class='text'>") == organisation.n_reps == problem.n_reps + 1
    assert ">new-1<" in packages
    assert "<h2>Recommended design: plus one</h2>" in page
    # The header counts today's reps; the other designs' packages stay in the file.
    assert f"{problem.n_reps:,} reps" in page
    page = write_report(run.dir, problem).read_text(encoding="utf-8")
    packages = section(page, "<h2>Transition packages")
    assert "Transition packages: optimized" in packages and "new-1" not in packages
    assert packages.count("<tr><td class='text'>") == problem.n_reps


def test_an_organisation_without_todays_reps_is_refused(tmp_path: Path, problem):
    reps = dataclasses.replace(problem.instance.reps, ids=np.array(["X1", "X2", "X3"]))
    stranger = dataclasses.replace(
        problem, instance=dataclasses.replace(problem.instance, reps=reps)
    )
    today = problem.accounts.current_rep
    with pytest.raises(InputError, match="lacks today's reps"):
        write_report(tmp_path, problem, recommended=("x", today), organisation=stranger)
    assert not list(tmp_path.iterdir())


def write_scenarios_run(run_dir: Path, problem) -> tuple[Run, list[ScenarioDesign]]:
    """A scenario library's run folder, from the engine functions `terrasim scenarios` uses."""
    run = Run(run_dir, OmegaConf.create({"seed": 0}))
    acc = problem.instance.accounts
    today = NamedDesign("today", acc.current_rep, evaluate(problem, acc.current_rep))
    moved = acc.current_rep.copy()
    moved[0], moved[7] = 1, 0
    organisation, plus = plus_one_rep(problem)
    scenarios = [
        ScenarioDesign(
            "full_reopt",
            NamedDesign("full_reopt", moved, evaluate(problem, moved)),
            problem,
            problem,
            "<b>no</b> disruption budget",
        ),
        ScenarioDesign(
            "headcount",
            NamedDesign("headcount", plus.assignment, plus.evaluation),
            organisation,
            organisation,
            "+1 rep",
        ),
    ]
    sim = OmegaConf.load(ROOT / "conf/sim/default.yaml")
    result, labels = stress_scenarios(
        problem, scenarios, sim_params_from_config(sim), 24, 0, 8, InProcessRunner()
    )
    rows, summary = labelled_tables(result, labels)
    run.write_table("designs", scenario_designs_table(today, problem, scenarios))
    run.write_table(
        "transitions",
        pa.concat_tables([transitions_table(s.organisation, s.design) for s in scenarios]),
    )
    run.write_table(
        "moves", pa.concat_tables([moves_table(s.organisation, s.design) for s in scenarios])
    )
    run.write_table("scenarios", rows)
    run.write_table("summary", summary)
    run.write_table("scenarios_summary", comparison_table(problem, today, scenarios, summary))
    return run, scenarios


def test_a_scenario_library_shows_its_comparison_and_the_recommended_design(
    tmp_path: Path, problem
):
    run, _ = write_scenarios_run(tmp_path, problem)
    page = write_report(run.dir, problem).read_text(encoding="utf-8")
    assert sections_of(page) == SECTIONS.keys() - {"frontier", "headcount"}
    # The feasible redesign for today's reps is recommended: its packages, its row marked.
    assert "<h2>Recommended design: full_reopt</h2>" in page
    assert "Transition packages: full_reopt" in page and "new-1" not in section(
        page, "<h2>Transition packages"
    )
    comparison = section(page, "<h2>Scenario comparison</h2>")
    assert "<tr class='recommended'><td class='text'>full_reopt</td>" in comparison
    assert "&lt;b&gt;no&lt;/b&gt; disruption budget" in comparison and "<b>no" not in page
    assert (tmp_path / "scenarios.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "src='data:image/png;base64," in comparison


def test_a_headcount_scenario_is_mapped_for_its_own_reps(tmp_path: Path, problem):
    run, scenarios = write_scenarios_run(tmp_path / "run", problem)
    chosen = scenarios[1]
    page = write_report(
        run.dir,
        problem,
        recommended=(chosen.name, chosen.design.assignment),
        organisation=chosen.organisation,
    ).read_text(encoding="utf-8")
    assert "<h2>Recommended design: headcount</h2>" in page
    assert ">new-1<" in section(page, "<h2>Transition packages: headcount</h2>")
    # Without its organisation the design cannot be read: an error that says why.
    run.write_table(
        "scenarios_summary",
        pa.table({"scenario": ["today", "headcount"], "recommended": [False, True]}),
    )
    with pytest.raises(InputError, match=r"names reps not in the input: \['new-1'\]"):
        write_report(run.dir, problem)


def headcount_curve(labels: list[str]) -> pa.Table:
    """headcount.arrow of a sweep over 2..4 reps: the columns the report reads."""
    return pa.table(
        {
            "headcount": [2, 3, 4],
            "delta": [-1, 0, 1],
            "design": labels,
            "feasible": [False, True, True],
            "expected_bookings": [1.2e6, 1.5e6, 1.6e6],
            "p5_bookings": [0.9e6, 1.2e6, 1.3e6],
            "p95_bookings": [1.5e6, 1.8e6, 1.9e6],
            "attainment_spread": [0.4, 0.5, 0.6],
            "capacity_utilisation": [1.1, 0.8, 0.6],
            "utilisation_max": [1.3, 0.95, 0.7],
            "over_capacity": [True, False, False],
        }
    )


def test_a_headcount_curve_is_plotted_with_its_table(tmp_path: Path, problem):
    run = Run(tmp_path, OmegaConf.create({"seed": 0}))
    labels = ["2 reps (-1)", "3 reps (+0)", "<b>4</b> reps (+1)"]
    run.write_table("headcount", headcount_curve(labels))
    page = write_report(run.dir, problem, recommended=(labels[2], problem.accounts.current_rep))
    page = page.read_text(encoding="utf-8")
    assert sections_of(page) == {"recommended", "headcount", "map", "farthest"}
    curve = section(page, "<h2>Headcount curve</h2>")
    assert "Over capacity at 2 reps" in curve
    assert "&lt;b&gt;4&lt;/b&gt; reps (+1)" in curve and "<b>4" not in page
    assert "<tr class='recommended'><td>4</td>" in curve
    png = (tmp_path / "headcount.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    assert base64.b64encode(png).decode() in curve
    # The same files give the same bytes.
    first = (tmp_path / "report.html").read_bytes()
    write_report(run.dir, problem, recommended=(labels[2], problem.accounts.current_rep))
    assert (tmp_path / "report.html").read_bytes() == first
    assert (tmp_path / "headcount.png").read_bytes() == png


def test_map_sample_is_fixed_sorted_and_bounded():
    a, b = sample_accounts(1_000_000, 20_000), sample_accounts(1_000_000, 20_000)
    assert a.shape == (20_000,) and np.array_equal(a, b)
    assert np.all(np.diff(a) > 0) and a[-1] < 1_000_000
    assert np.array_equal(sample_accounts(500, 20_000), np.arange(500))


def test_plot_labels_are_not_math_text():
    # With math text on, this label is a parse error.
    label = r"plan $\frac{$ 5"
    png = stress_figure(["today", label], np.ones((2, 10)), np.zeros((2, 10)), 1)
    assert png.startswith(PNG_SIGNATURE)
    lat, lon = np.array([40.0, 41.0]), np.array([-74.0, -73.0])
    png = territory_map(lat, lon, [(label, np.array([0, -1]))], lat[:1], lon[:1], rep_ids=[label])
    assert png.startswith(PNG_SIGNATURE)
    ones = np.ones(2)
    png = scenarios_figure(["today", label], ones, ones, ones, ones, ones > 0, 1)
    assert png.startswith(PNG_SIGNATURE)
