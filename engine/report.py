"""The run report (DESIGN §6): one self-contained report.html, PNG plots beside it.

Built from the Arrow files a run wrote; a section appears only when its file is there. The page
loads nothing from the network (images are data URIs, a content policy forbids the rest) and
every string from the data is escaped: account and rep names are user data.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather

from engine.designs import design_from_table, farthest_table
from engine.errors import InputError
from engine.evaluate import evaluate
from engine.io import read_arrow, write_atomic, write_text_atomic
from engine.model import LEAVING
from engine.plots import (
    frontier_figure,
    headcount_figure,
    sample_accounts,
    scenarios_figure,
    stress_figure,
    territory_map,
)
from engine.problem import Problem

REPORT_NAME = "report.html"
MAX_MAP_POINTS = 20_000  # accounts drawn on the map; a fixed sample of larger instances
MAX_TABLE_ROWS = 200
MAX_MOVES_SHOWN = 25
OBJECTIVES = ("potential_imbalance", "workload_imbalance", "travel", "disruption", "skill_mismatch")
# Arrow files a section reads, when the run wrote them.
RUN_FILES = (
    "frontier",
    "designs",
    "transitions",
    "moves",
    "summary",
    "scenarios",
    "scenarios_summary",
    "headcount",
)
SCENARIO_COLUMNS = ("design_index", "scenario", "total_bookings", "departures")
SUMMARY_COLUMNS = (
    "design",
    "mean",
    "p5",
    "p50",
    "p95",
    "cvar5",
    "prob_beat_today",
    "gain_vs_today",
    "break_even_month",
    "expected_departures",
    "expected_churned_accounts",
    "mean_disruption_cost",
)
HEADCOUNT_CURVE = (
    "expected_bookings",
    "p5_bookings",
    "p95_bookings",
    "attainment_spread",
    "capacity_utilisation",
    "utilisation_max",
)

# Records on <body> whether every image loaded and whether any script error, blocked resource
# or dialog happened: a headless browser reads the verdict from the DOM.
SCRIPT = """(function () {
  var problems = [];
  function note(what) { problems.push(String(what)); }
  window.addEventListener("error", function (e) {
    note(e.message || ("failed to load " + (e.target && e.target.tagName)));
  }, true);
  document.addEventListener("securitypolicyviolation", function (e) {
    note("blocked " + e.blockedURI);
  });
  window.alert = window.confirm = window.prompt = function (m) { note("dialog " + m); };
  window.addEventListener("load", function () {
    var images = Array.prototype.slice.call(document.images);
    var broken = images.filter(function (img) { return !(img.complete && img.naturalWidth > 0); });
    var body = document.body;
    body.dataset.images = String(images.length);
    body.dataset.broken = String(broken.length);
    body.dataset.errors = problems.join(" | ");
    body.dataset.status = (broken.length || problems.length) ? "failed" : "ok";
  });
})();"""

STYLE = """body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1150px;
  padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
.meta { color: #666; } figure { margin: 1em 0; } img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9em; }
.scroll { overflow-x: auto; max-height: 34em; overflow-y: auto; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #e4e4e4; text-align: right; }
th { background: #f4f4f4; position: sticky; top: 0; }
td.text, th.text { text-align: left; }
tr.recommended td { background: #fdecea; font-weight: 600; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.85em; }"""


@dataclass(frozen=True)
class _Report:
    """What every section reads: the run's tables, its problems and the recommended design."""

    tables: dict[str, pa.Table]
    problem: Problem  # the run's input: today's reps
    organisation: Problem  # the reps the recommended design names
    recommended: tuple[str, np.ndarray] | None
    figures: dict[str, bytes]  # PNG name -> bytes, filled by the sections


def write_report(
    run_dir: str | Path,
    problem: Problem,
    recommended: tuple[str, np.ndarray] | None = None,
    title: str | None = None,
    organisation: Problem | None = None,
) -> Path:
    """Write report.html and its PNG plots into a run folder; return the report's path.

    Parameters
    ----------
    run_dir : the run folder; the Arrow files of RUN_FILES are read when present.
    problem : the problem the run solved: today's reps, coordinates and homes for the map.
    recommended : (label, int64[n_accounts] rep indices of `organisation`) of the design to
        map against today's. By default the recommended row of frontier.arrow, else that of
        scenarios_summary.arrow, else the design of transitions.arrow (read from designs.arrow).
        Transition packages and moves are shown for this design only.
    title : heading of the page; by default the instance's source.
    organisation : the problem whose reps the recommended design names when they are not
        today's (reps added or leaving: a headcount plan); by default `problem`. Today's reps
        are matched to its reps by id.

    The same files and problems give the same bytes: nothing depends on the clock.
    """
    run_dir = Path(run_dir)
    tables = _read_tables(run_dir)
    organisation = problem if organisation is None else organisation
    if recommended is None:
        recommended = _recommended_design(tables, run_dir, organisation)
    run = _Report(tables, problem, organisation, recommended, {})
    body = [_header(problem, tables, title)]
    for section in (
        _headline_section,
        _frontier_section,
        _scenarios_section,
        _headcount_section,
        _map_section,
        _transitions_section,
        _moves_section,
        _farthest_section,
        _stress_section,
        _designs_section,
    ):
        body.append(section(run))
    body.append(_config_section(run_dir))
    for name, png in run.figures.items():
        write_atomic(run_dir / f"{name}.png", lambda tmp, png=png: Path(tmp).write_bytes(png))
    page = _page(title or f"terrasim report: {problem.instance.source}", body)
    return write_text_atomic(run_dir / REPORT_NAME, page)


def _read_tables(run_dir: Path) -> dict[str, pa.Table]:
    tables = {}
    for name in RUN_FILES:
        path = run_dir / f"{name}.arrow"
        if not path.is_file():
            continue
        if name == "scenarios":
            # Monthly bookings are most of the file and no plot needs them: not decompressed.
            tables[name] = feather.read_table(path, columns=list(SCENARIO_COLUMNS))
        else:
            tables[name] = read_arrow(path)
    return tables


def _recommended_design(
    tables: dict[str, pa.Table], run_dir: Path, problem: Problem
) -> tuple[str, np.ndarray] | None:
    """The frontier's recommended design, the scenario library's, or the transitions' one."""
    if "frontier" in tables and "recommended" in tables["frontier"].column_names:
        flags = tables["frontier"].column("recommended").to_pylist()
        if True in flags:
            return design_from_table(
                tables["frontier"], str(run_dir / "frontier.arrow"), str(flags.index(True)), problem
            )
    label = None
    if "scenarios_summary" in tables:
        rows = tables["scenarios_summary"].to_pylist()
        label = next((row["scenario"] for row in rows if row["recommended"]), None)
    elif "transitions" in tables and tables["transitions"].num_rows:
        label = tables["transitions"].column("design")[0].as_py()
    if label is not None and "designs" in tables:
        if label in tables["designs"].column("design").to_pylist():
            return design_from_table(
                tables["designs"], str(run_dir / "designs.arrow"), label, problem
            )
    return None


def _header(problem: Problem, tables: dict[str, pa.Table], title: str | None) -> str:
    instance = problem.instance
    meta = next((t.schema.metadata for t in tables.values() if t.schema.metadata), None) or {}
    facts = [
        f"{instance.accounts.n_accounts:,} accounts",
        f"{instance.reps.n_reps:,} reps",
        f"seed {meta.get(b'terrasim.seed', b'?').decode()}",
        f"terrasim {meta.get(b'terrasim.version', b'?').decode()}",
        f"commit {meta.get(b'terrasim.git_commit', b'?').decode()[:12]}",
    ]
    heading = title or f"terrasim report: {instance.source}"
    files = ", ".join(f"{name}.arrow" for name in tables) or "no result files"
    return (
        f"<h1>{_e(heading)}</h1>\n<p class='meta'>{_e(' · '.join(facts))}</p>\n"
        f"<p class='meta'>From {_e(files)} of this run folder.</p>"
    )


def _headline_section(run: _Report) -> str:
    """Today against the recommended design: objectives, moves and the stress test's verdict."""
    if run.recommended is None:
        return ""
    label, assignment = run.recommended
    rows: dict[str, dict[str, object]] = {}
    # Each design is evaluated for its own reps, as the scenario comparison does.
    for name, problem, design in (
        ("today", run.problem, run.problem.instance.accounts.current_rep),
        (label, run.organisation, assignment),
    ):
        record = evaluate(problem, design).row()
        for key in (*OBJECTIVES, "accounts_moved", "potential_moved", "feasible"):
            rows.setdefault(key, {})[name] = record[key]
    summary = run.tables.get("summary")
    if summary is not None:
        # Row 0 of a stress test is today's design, whatever its label ("today (20 reps)").
        for k, row in enumerate(summary.to_pylist()):
            if k == 0 or row["design"] == label:
                for key in ("mean", "p5", "prob_beat_today", "break_even_month"):
                    rows.setdefault(f"bookings {key}", {})["today" if k == 0 else label] = row[key]
    columns = ["today", label]
    body = "".join(
        f"<tr><td class='text'>{_e(key.replace('_', ' '))}</td>"
        + "".join(f"<td>{_cell(values.get(c))}</td>" for c in columns)
        + "</tr>\n"
        for key, values in rows.items()
    )
    head = "<tr><th class='text'>measure</th>" + "".join(f"<th>{_e(c)}</th>" for c in columns)
    return (
        f"<h2>Recommended design: {_e(label)}</h2>\n"
        f"<div class='scroll'><table>\n{head}</tr>\n{body}</table></div>"
    )


def _frontier_section(run: _Report) -> str:
    tables = run.tables
    if "frontier" not in tables:
        return ""
    frontier = tables["frontier"]
    meta = frontier.schema.metadata or {}
    details = json.loads(meta.get(b"terrasim.frontier", b"{}"))
    names = [n for n in details.get("objectives", OBJECTIVES) if n in frontier.column_names]
    plotted = [n for n in names if n != "disruption"] or names
    moved = _floats(frontier, "accounts_moved")
    flags = (
        frontier.column("recommended").to_pylist() if "recommended" in frontier.column_names else []
    )
    knee = flags.index(True) if True in flags else None
    today = None
    if "designs" in tables and "today" in tables["designs"].column("design").to_pylist():
        row = tables["designs"].column("design").to_pylist().index("today")
        today = {n: tables["designs"].column(n)[row].as_py() for n in plotted}
    run.figures["frontier"] = frontier_figure(
        moved,
        {n: _floats(frontier, n) for n in plotted},
        np.asarray(frontier.column("feasible").to_pylist(), dtype=bool),
        knee,
        today,
    )
    hypervolume = meta.get(b"terrasim.hypervolume")
    reference = meta.get(b"terrasim.reference_point")
    facts = f"{frontier.num_rows} designs on the frontier"
    if hypervolume is not None:
        facts += f"; hypervolume {float(json.loads(hypervolume)):.4f}"
    if reference is not None:
        ref = json.loads(reference)
        facts += " against the reference point " + ", ".join(
            f"{k} {_number(float(v))}" for k, v in ref.items()
        )
    order = np.argsort(moved, kind="stable")
    columns = ["design", "source", "accounts_moved", *names]
    columns += [c for c in ("workload_imbalance", "feasible", "recommended") if c not in columns]
    shown = frontier.take(pa.array(order)).select(
        [c for c in columns if c in frontier.column_names]
    )
    return (
        "<h2>Frontier</h2>\n"
        f"<p>{_e(facts)}. Each point is a design; the star is the recommended one (the knee), "
        "the square today's design.</p>\n"
        + _figure("frontier", "Objectives against accounts moved.", run.figures)
        + _html_table(shown, highlight=_highlight(shown, run.recommended))
    )


def _scenarios_section(run: _Report) -> str:
    """The scenario library side by side: a plot of the stress test and the comparison table."""
    if "scenarios_summary" not in run.tables:
        return ""
    comparison = run.tables["scenarios_summary"]
    flags = comparison.column("recommended").to_pylist()
    chosen = flags.index(True) if True in flags else None
    # Scenarios without a design were not simulated: no bookings to plot.
    simulated = [
        k for k, v in enumerate(comparison.column("expected_bookings").to_pylist()) if v is not None
    ]
    text = ""
    if simulated:
        rows = comparison.take(pa.array(simulated, type=pa.int64()))
        run.figures["scenarios"] = scenarios_figure(
            [str(v) for v in rows.column("scenario").to_pylist()],
            _floats(rows, "expected_bookings"),
            _floats(rows, "p5_bookings"),
            _floats(rows, "p95_bookings"),
            np.nan_to_num(_floats(rows, "p_beats_today")),
            np.asarray(rows.column("feasible").to_pylist(), dtype=bool),
            simulated.index(chosen) if chosen in simulated else None,
        )
        text = _figure(
            "scenarios",
            "Expected bookings per scenario with the p5-p95 range of the stress test (hollow: "
            "breaks a hard rule; star: recommended), and the share of scenarios in which each "
            "design books more than today's.",
            run.figures,
        )
    return (
        "<h2>Scenario comparison</h2>\n"
        + text
        + "<p>Each scenario's design evaluated for its own reps; the recommended one is the "
        "feasible redesign for today's reps with the highest expected bookings.</p>\n"
        + _html_table(comparison, highlight=chosen)
    )


def _headcount_section(run: _Report) -> str:
    """The headcount curve: bookings, attainment and utilisation per headcount, and its table."""
    if "headcount" not in run.tables:
        return ""
    curve = run.tables["headcount"]
    headcount = np.asarray(curve.column("headcount").to_pylist(), dtype=np.int64)
    over = np.asarray(curve.column("over_capacity").to_pylist(), dtype=bool)
    best = _highlight(curve, run.recommended)
    today = None
    summary = run.tables.get("summary")
    if summary is not None and summary.num_rows and curve.num_rows:
        # Today's headcount is any plan's headcount less its change; its bookings summary row 0.
        today = (
            int(headcount[0] - curve.column("delta")[0].as_py()),
            float(summary.column("mean")[0].as_py()),
        )
    run.figures["headcount"] = headcount_figure(
        headcount, {name: _floats(curve, name) for name in HEADCOUNT_CURVE}, over, best, today
    )
    # The over-capacity headcount: the largest whose design leaves a territory over capacity.
    verdict = (
        f"Over capacity at {int(headcount[over].max())} reps: with that many, the optimised "
        "design leaves some territory's workload above its rep's capacity."
        if over.any()
        else "No headcount of the sweep leaves a territory over capacity."
    )
    return (
        "<h2>Headcount curve</h2>\n"
        + _figure(
            "headcount",
            "Per headcount: expected bookings with the p5-p95 band of the stress test (star: "
            "the most bookings, square: today's design), mean attainment spread, and capacity "
            "utilisation (total workload over staying capacity, and the busiest territory); "
            "dashed red: the over-capacity headcount.",
            run.figures,
        )
        + f"<p>{_e(verdict)}</p>\n"
        + _html_table(curve, highlight=best)
    )


def _map_section(run: _Report) -> str:
    acc = run.problem.instance.accounts
    reps = run.organisation.instance.reps
    sample = sample_accounts(acc.n_accounts, MAX_MAP_POINTS)
    today = _today_for(run.problem, run.organisation)
    designs = [("today", today[sample])]
    homes = [_homes_shown(run.problem, run.organisation, today)]
    if run.recommended is not None:
        label, assignment = run.recommended
        designs.append((f"recommended: {label}", assignment[sample]))
        homes.append(_homes_shown(run.organisation, run.organisation, assignment))
    run.figures["map"] = territory_map(
        acc.lat[sample],
        acc.lon[sample],
        designs,
        reps.home_lat,
        reps.home_lon,
        list(reps.ids),
        homes,
    )
    shown = (
        f"{sample.shape[0]:,} of {acc.n_accounts:,} accounts, a fixed sample"
        if sample.shape[0] < acc.n_accounts
        else f"all {acc.n_accounts:,} accounts"
    )
    caption = (
        f"Accounts coloured by rep ({shown}); stars are the homes of the reps of each design; "
        "grey crosses are unassigned."
    )
    return "<h2>Territories before and after</h2>\n" + _figure("map", caption, run.figures)


def _today_for(problem: Problem, organisation: Problem) -> np.ndarray:
    """Today's assignment as rep indices of `organisation`, matched by rep id."""
    today = problem.instance.accounts.current_rep
    if organisation is problem:
        return today
    index = {r: j for j, r in enumerate(organisation.instance.reps.ids)}
    ids = problem.instance.reps.ids
    missing = sorted({str(r) for r in ids if r not in index})
    if missing:
        raise InputError(
            "report", "organisation", f"lacks today's reps {missing[:10]}: another instance?"
        )
    lookup = np.array([index[r] for r in ids], dtype=np.int64)
    return np.where(today >= 0, lookup[np.maximum(today, 0)], -1)


def _homes_shown(problem: Problem, organisation: Problem, assignment: np.ndarray) -> np.ndarray:
    """bool[organisation's reps]: the reps of `problem` who stay or hold an account."""
    reps = problem.instance.reps
    present = set(reps.ids[(reps.status != LEAVING)].tolist())
    ids = organisation.instance.reps.ids
    shown = np.array([r in present for r in ids], dtype=bool)
    shown[np.unique(assignment[assignment >= 0])] = True
    return shown


def _of_design(table: pa.Table, recommended: tuple[str, np.ndarray] | None) -> pa.Table:
    """The rows of the recommended design, else of the first design, of a per-design table.

    A scenario library writes every scenario's moves and transition packages to one file.
    """
    if table.num_rows == 0 or "design" not in table.column_names:
        return table
    labels = table.column("design").to_pylist()
    label = recommended[0] if recommended is not None and recommended[0] in labels else labels[0]
    return table.filter(pc.equal(table.column("design"), label))


def _transitions_section(run: _Report) -> str:
    if "transitions" not in run.tables:
        return ""
    rows = _of_design(run.tables["transitions"], run.recommended).to_pylist()
    label = rows[0]["design"] if rows else ""
    head = (
        "<tr><th class='text'>rep</th><th class='text'>name</th><th>accounts before</th>"
        "<th>after</th><th>gained</th><th>lost</th><th>potential before</th><th>after</th>"
        "<th>change</th><th>workload before</th><th>after</th>"
        "<th>relationship years given up</th></tr>\n"
    )
    body = []
    for r in rows:
        before, after = r["potential_before"], r["potential_after"]
        change = (after - before) / before if before else None
        body.append(
            f"<tr><td class='text'>{_e(r['rep_id'])}</td><td class='text'>{_e(r['rep_name'])}</td>"
            f"<td>{_cell(r['accounts_before'])}</td><td>{_cell(r['accounts_after'])}</td>"
            f"<td>{_cell(r['accounts_gained'])}</td><td>{_cell(r['accounts_lost'])}</td>"
            f"<td>{_cell(before)}</td><td>{_cell(after)}</td>"
            f"<td>{'' if change is None else f'{change:+.1%}'}</td>"
            f"<td>{_cell(r['workload_before'])}</td><td>{_cell(r['workload_after'])}</td>"
            f"<td>{_cell(r['relationship_years_given_up'])}</td></tr>\n"
        )
    return (
        f"<h2>Transition packages: {_e(label)}</h2>\n"
        "<p>What each rep gains and loses: accounts, potential and workload before and after, "
        "and the years of relationships handed over.</p>\n"
        f"<div class='scroll'><table>\n{head}{''.join(body)}</table></div>"
    )


def _moves_section(run: _Report) -> str:
    if "moves" not in run.tables:
        return ""
    moves = _of_design(run.tables["moves"], run.recommended)
    if moves.num_rows == 0:
        return ""
    order = np.argsort(-_floats(moves, "potential"), kind="stable")[:MAX_MOVES_SHOWN]
    columns = [
        "account_id",
        "account_name",
        "from_rep",
        "to_rep",
        "change",
        "potential",
        "relationship_years",
        "delta_potential_imbalance",
        "delta_travel",
    ]
    shown = moves.take(pa.array(order)).select([c for c in columns if c in moves.column_names])
    return (
        f"<h2>Largest changes of owner ({min(moves.num_rows, MAX_MOVES_SHOWN)} of "
        f"{moves.num_rows:,})</h2>\n<p>{_owner_changes(moves)} By potential, with what changing "
        "each alone does to the objectives (all of them in moves.arrow).</p>\n" + _html_table(shown)
    )


def _owner_changes(moves: pa.Table) -> str:
    """The one definition of a move the report uses: `accounts moved` is moved + uncovered."""
    if "change" not in moves.column_names:
        return f"{moves.num_rows:,} accounts change owner."
    kinds = moves.column("change").to_pylist()
    taken = kinds.count("moved") + kinds.count("uncovered")
    return (
        f"{moves.num_rows:,} accounts change owner: {taken:,} moved (taken from today's rep, "
        f"{kinds.count('uncovered'):,} of them left without one; the 'accounts moved' figure) "
        f"and {kinds.count('newly_covered'):,} newly covered (no rep today)."
    )


def _farthest_section(run: _Report) -> str:
    if run.recommended is None:
        return ""
    label, assignment = run.recommended
    farthest = farthest_table(run.organisation, label, assignment)
    if farthest.num_rows == 0:
        return ""
    return (
        f"<h2>Farthest assignments: {_e(label)}</h2>\n"
        "<p>The accounts farthest from their rep (road km), beside the nearest rep the rules "
        "allow them; <code>objective.rules.max_distance_km</code> bounds the distance.</p>\n"
        + _html_table(farthest.drop_columns(["design"]))
    )


def _stress_section(run: _Report) -> str:
    tables, recommended = run.tables, run.recommended
    if "summary" not in tables:
        return ""
    summary = tables["summary"]
    labels = [str(s) for s in summary.column("design").to_pylist()]
    text = ""
    if "scenarios" in tables:
        scenarios = tables["scenarios"]
        rows = np.asarray(scenarios.column("design_index").to_numpy(), dtype=np.int64)
        n_designs = len(labels)
        n_scenarios = rows.shape[0] // max(n_designs, 1)
        order = np.lexsort((scenarios.column("scenario").to_numpy(), rows))

        def grid(name: str) -> np.ndarray:
            values = np.asarray(scenarios.column(name).to_numpy(), dtype=np.float64)[order]
            return values.reshape(n_designs, n_scenarios)

        knee = labels.index(recommended[0]) if recommended and recommended[0] in labels else None
        run.figures["stress"] = stress_figure(
            labels, grid("total_bookings"), grid("departures"), knee
        )
        text = _figure(
            "stress",
            f"Monte Carlo stress test: {n_scenarios:,} scenarios per design under common random "
            "numbers.",
            run.figures,
        )
    shown = summary.select([c for c in SUMMARY_COLUMNS if c in summary.column_names])
    return (
        "<h2>Stress test</h2>\n"
        + text
        + "<p>Total bookings over the horizon per design; P(beat) is the share of scenarios "
        "in which the design books more than today's.</p>\n"
        + _html_table(shown, highlight=_highlight(shown, recommended))
    )


def _designs_section(run: _Report) -> str:
    """All designs of an optimize, scenarios or headcount run; a frontier run shows them above."""
    if "designs" not in run.tables or "frontier" in run.tables:
        return ""
    designs = run.tables["designs"]
    return "<h2>Designs</h2>\n" + _html_table(
        designs, highlight=_highlight(designs, run.recommended)
    )


def _config_section(run_dir: Path) -> str:
    path = run_dir / "config.yaml"
    if not path.is_file():
        return ""
    return (
        "<h2>Configuration</h2>\n<details><summary>config.yaml of this run</summary>\n"
        f"<pre>{_e(path.read_text(encoding='utf-8'))}</pre></details>"
    )


def _highlight(table: pa.Table, recommended: tuple[str, np.ndarray] | None) -> int | None:
    if recommended is None or "design" not in table.column_names:
        return None
    labels = table.column("design").to_pylist()
    return labels.index(recommended[0]) if recommended[0] in labels else None


def _html_table(table: pa.Table, highlight: int | None = None) -> str:
    """An escaped HTML table of the scalar columns, at most MAX_TABLE_ROWS rows."""
    columns = [
        f.name
        for f in table.schema
        if not (pa.types.is_nested(f.type) or pa.types.is_binary(f.type))
    ]
    table = table.select(columns)
    text = {
        name: pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        for name, f in zip(columns, table.schema, strict=True)
    }
    head = "".join(
        f"<th class='{'text' if text[c] else 'num'}'>{_e(c.replace('_', ' '))}</th>"
        for c in columns
    )
    rows = []
    for k, row in enumerate(table.slice(0, MAX_TABLE_ROWS).to_pylist()):
        cells = "".join(
            f"<td class='text'>{_e(row[c])}</td>" if text[c] else f"<td>{_cell(row[c])}</td>"
            for c in columns
        )
        marked = " class='recommended'" if k == highlight else ""
        rows.append(f"<tr{marked}>{cells}</tr>\n")
    more = (
        f"<p class='meta'>First {MAX_TABLE_ROWS} of {table.num_rows:,} rows.</p>\n"
        if table.num_rows > MAX_TABLE_ROWS
        else ""
    )
    return f"<div class='scroll'><table>\n<tr>{head}</tr>\n{''.join(rows)}</table></div>\n{more}"


def _figure(name: str, caption: str, figures: dict[str, bytes]) -> str:
    data = base64.b64encode(figures[name]).decode("ascii")
    return (
        f"<figure><img src='data:image/png;base64,{data}' alt='{_e(name)} plot'>"
        f"<figcaption>{_e(caption)} <a href='{name}.png'>{name}.png</a></figcaption></figure>\n"
    )


def _page(title: str, body: Sequence[str]) -> str:
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode("ascii")
    # Only inline styles, data-URI images and this one script may load: the page stays offline.
    policy = (
        f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'"
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<meta http-equiv='Content-Security-Policy' content=\"{policy}\">\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        f"<title>{_e(title)}</title>\n<style>\n{STYLE}\n</style>\n"
        f"<script>{SCRIPT}</script>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body>\n</html>\n"
    )


def _floats(table: pa.Table, column: str) -> np.ndarray:
    return np.asarray(
        [math.nan if v is None else v for v in table.column(column).to_pylist()], dtype=np.float64
    )


def _e(value: object) -> str:
    return "" if value is None else html.escape(str(value), quote=True)


def _number(value: float) -> str:
    if not math.isfinite(value):
        return "" if math.isnan(value) else str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _number(value)
    return _e(value)
