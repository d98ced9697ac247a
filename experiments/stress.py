"""`terrasim stress`: simulate designs against today's under common random numbers (DESIGN §5)."""

import numpy as np
from omegaconf import DictConfig

from engine.cli import experiment
from engine.data import load_problem
from engine.designs import design_from_table
from engine.io import read_arrow
from engine.optimize import optimize, solver_settings_from_config
from engine.parallel import runner_from_config
from engine.report import write_report
from engine.runs import Results, Run
from engine.stress import print_summary, stress_tables


@experiment("stress")
def main(cfg: DictConfig, run: Run) -> Results:
    """Stress-test today's design and the chosen ones; write scenarios.arrow and summary.arrow."""
    problem = load_problem(cfg)
    instance = problem.instance
    labels, designs = ["today"], [instance.accounts.current_rep]
    mapped = 1  # the design the report maps against today's: a frontier's recommended one
    if cfg.designs:
        table = read_arrow(cfg.designs)
        flags = (
            table.column("recommended").to_pylist() if "recommended" in table.schema.names else []
        )
        for row, label in enumerate(table.column("design").to_pylist()):
            if label == "today":
                continue
            if flags and flags[row]:
                mapped = len(labels)
            _, assignment = design_from_table(table, str(cfg.designs), str(row), problem)
            labels.append(label)
            designs.append(assignment)
    else:
        design = optimize(problem, solver_settings_from_config(cfg.solver), progress=True)
        labels.append("optimized")
        designs.append(design.assignment)
    runner = runner_from_config(cfg.ray)
    scenarios, summary = stress_tables(
        instance, np.stack(designs), labels, cfg.sim, cfg.seed, runner
    )
    run.write_table("scenarios", scenarios)
    run.write_table("summary", summary)
    run.save_config()
    print_summary(summary)
    print(f"wrote scenarios.arrow and summary.arrow to {run.dir}")
    if cfg.report:
        shown = (labels[mapped], designs[mapped]) if len(labels) > 1 else None
        print(f"report: {write_report(run.dir, problem, recommended=shown)}")
    rows = summary.to_pylist()
    best = max(rows[1:] or rows, key=lambda row: row["mean"])  # the best challenger of today
    return {"today_mean": rows[0]["mean"], **{f"best_{k}": v for k, v in best.items()}}


if __name__ == "__main__":
    main()
