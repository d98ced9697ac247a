"""`terrasim scenarios`: the scenario library of DESIGN §4, optimised, stress-tested, compared."""

import sys

import numpy as np
import pyarrow as pa
from omegaconf import DictConfig

from engine.cli import experiment
from engine.console import format_table
from engine.data import load_problem
from engine.designs import NamedDesign, assignment_table, moves_table, transitions_table
from engine.evaluate import evaluate
from engine.optimize import solver_settings_from_config
from engine.parallel import runner_from_config
from engine.report import write_report
from engine.runs import Results, Run
from engine.scenarios import (
    REDESIGNS,
    comparison_table,
    design_scenarios,
    recommend,
    scenario_designs_table,
    scenario_settings_from_config,
    stress_scenarios,
)
from engine.simulation import sim_params_from_config
from engine.stress import labelled_tables

# Rows of the printed comparison: (column of scenarios_summary.arrow, label, scale).
_PRINTED = (
    ("potential_imbalance", "potential imbalance", 1.0),
    ("workload_imbalance", "workload imbalance", 1.0),
    ("travel", "travel (km)", 1.0),
    ("accounts_moved", "accounts moved", 1.0),
    ("expected_bookings", "expected bookings ($M)", 1e-6),
    ("p5_bookings", "p5 bookings ($M)", 1e-6),
    ("p_beats_today", "P(beats today)", 1.0),
    ("expected_departures", "expected departures", 1.0),
    ("feasible", "feasible", 1.0),
)


@experiment("scenarios")
def main(cfg: DictConfig, run: Run) -> Results:
    """Design each scenario, stress-test them with today's, print and write the comparison."""
    solver = solver_settings_from_config(cfg.solver)
    settings = scenario_settings_from_config(cfg.scenarios)
    params = sim_params_from_config(cfg.sim)
    problem = load_problem(cfg)
    instance = problem.instance
    current = instance.accounts.current_rep
    today = NamedDesign("today", current, evaluate(problem, current))

    scenarios = design_scenarios(problem, settings, solver, int(cfg.seed), progress=True)
    runner = runner_from_config(cfg.ray)
    n_scenarios = int(cfg.sim.scenarios)
    print(
        f"stress test: today + {sum(s.design is not None for s in scenarios)} scenario designs "
        f"x {n_scenarios:,} scenarios",
        file=sys.stderr,
    )
    result, labels = stress_scenarios(
        problem,
        scenarios,
        params,
        n_scenarios,
        int(cfg.seed),
        int(cfg.sim.get("batch_size", 50)),
        runner,
    )
    scenario_rows, summary = labelled_tables(result, labels)
    comparison = comparison_table(problem, today, scenarios, summary)

    _print_comparison(comparison, instance.source)
    picked = recommend(scenarios, summary)
    chosen = next((s for s in scenarios if s.name == picked), None)
    run.write_table("designs", scenario_designs_table(today, problem, scenarios, picked))
    designed = [s for s in scenarios if s.design is not None]
    if designed:
        run.write_table(
            "moves", pa.concat_tables([moves_table(s.organisation, s.design) for s in designed])
        )
        run.write_table(
            "transitions",
            pa.concat_tables([transitions_table(s.organisation, s.design) for s in designed]),
        )
    run.write_table("scenarios", scenario_rows)
    run.write_table("summary", summary)
    run.write_table("scenarios_summary", comparison)
    if chosen is not None:
        run.write_csv(
            "assignment.csv", assignment_table(chosen.organisation, chosen.design.assignment)
        )
        gain = {row["scenario"]: row["gain_vs_today"] for row in comparison.to_pylist()}
        beats = gain[chosen.name] or 0.0
        why = (
            "the feasible redesign for today's reps with the highest expected bookings"
            if chosen.name in REDESIGNS
            else "no redesign for today's reps is feasible: the feasible scenario with the "
            "highest expected bookings"
        )
        print(
            f"recommended: {chosen.name} ({why})"
            f"{'' if beats > 0 else '; it books less than today in expectation'}"
        )
    else:
        print("no feasible scenario: no assignment.csv written")
    run.save_config()
    print(f"wrote designs, moves, transitions, scenarios, summary, scenarios_summary to {run.dir}")
    if cfg.report:
        # The recommended design names its own organisation's reps (new ones for a headcount).
        shown = None if chosen is None else (chosen.name, chosen.design.assignment)
        organisation = None if chosen is None else chosen.organisation
        report = write_report(run.dir, problem, recommended=shown, organisation=organisation)
        print(f"report: {report}")
    return _results(comparison)


def _print_comparison(comparison: pa.Table, source: str) -> None:
    rows = comparison.to_pylist()
    table = {
        label: {
            row["scenario"]: np.nan if row[column] is None else float(row[column]) * scale
            for row in rows
        }
        for column, label, scale in _PRINTED
    }
    print(format_table(table, title=f"scenarios of {source}"))
    for row in rows[1:]:
        print(
            f"  {row['scenario']}: {row['description']}"
            + (f" [{row['note']}]" if row["note"] else "")
        )


def _results(comparison: pa.Table) -> Results:
    """Key results for a sweep: per scenario its expected bookings, P(beat) and feasibility."""
    out: Results = {"scenarios": comparison.num_rows - 1}
    for row in comparison.to_pylist():
        name = row["scenario"]
        if row["recommended"]:
            out["recommended"] = name
        for key in ("expected_bookings", "p_beats_today", "potential_imbalance"):
            if row[key] is not None:
                out[f"{name}_{key}"] = float(row[key])
        out[f"{name}_feasible"] = int(row["feasible"])
    return out


if __name__ == "__main__":
    main()
