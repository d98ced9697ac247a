"""`terrasim optimize`: optimize today's territories and explain the redesign."""

from omegaconf import DictConfig

from engine.cli import experiment
from engine.console import format_farthest, format_table
from engine.data import load_problem
from engine.designs import (
    NamedDesign,
    assignment_table,
    designs_table,
    farthest_table,
    moves_table,
    transitions_table,
)
from engine.evaluate import evaluate
from engine.optimize import optimize, solver_settings_from_config
from engine.report import write_report
from engine.runs import Results, Run


@experiment("optimize")
def main(cfg: DictConfig, run: Run) -> Results:
    """Optimize, print before/after, write designs, moves, transitions and assignment.csv."""
    settings = solver_settings_from_config(cfg.solver)
    problem = load_problem(cfg)
    instance = problem.instance
    today = instance.accounts.current_rep
    design = optimize(problem, settings, progress=True)
    before = NamedDesign("today", today, evaluate(problem, today))
    after = NamedDesign(
        "optimized",
        design.assignment,
        design.evaluation,
        {"moves": design.moves, "seconds": design.seconds, "stopped": design.stopped},
    )
    rows = {
        name: {"today": before.evaluation.row()[name], "optimized": after.evaluation.row()[name]}
        for name in (*before.evaluation.objectives, *before.evaluation.metrics)
    }
    print(format_table(rows, title=instance.source))
    print(
        f"{'feasible' if design.feasible else 'INFEASIBLE'} design after {design.moves:,} moves "
        f"in {design.seconds:.1f} s ({design.stopped})"
    )
    print(format_farthest(farthest_table(problem, after.label, after.assignment, n=5)))
    run.write_table("designs", designs_table(problem, [before, after], recommended="optimized"))
    run.write_table("moves", moves_table(problem, after))
    run.write_table("transitions", transitions_table(problem, after))
    run.write_csv("assignment.csv", assignment_table(problem, design.assignment))
    run.save_config()
    print(f"wrote designs, moves, transitions and assignment.csv to {run.dir}")
    if cfg.report:
        print(f"report: {write_report(run.dir, problem)}")
    return {**after.evaluation.row(), "moves": design.moves, "stopped": design.stopped}


if __name__ == "__main__":
    main()
