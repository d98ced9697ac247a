"""`terrasim evaluate`: objectives and metrics of today's assignment, or of `assignment=PATH`."""

from omegaconf import DictConfig

from engine.cli import experiment
from engine.console import format_table
from engine.data import load_assignment, load_problem
from engine.evaluate import evaluate, evaluation_table
from engine.infeasibility import broken_rules_lines
from engine.runs import Results, Run


@experiment("evaluate")
def main(cfg: DictConfig, run: Run) -> Results:
    """Evaluate one assignment and write evaluation.arrow into the run folder."""
    problem = load_problem(cfg)
    instance = problem.instance
    if cfg.assignment:
        design, label = load_assignment(cfg.assignment, instance), str(cfg.assignment)
    else:
        design, label = instance.accounts.current_rep, "today"
    result = evaluate(problem, design)
    rows = {name: {label: value} for name, value in {**result.objectives, **result.metrics}.items()}
    print(format_table(rows, title=f"{instance.source}"))
    print("\n".join(broken_rules_lines(problem, design, result)) or "every hard rule holds")
    run.write_table("evaluation", evaluation_table(result, instance.reps.ids, label))
    run.save_config()
    print(f"wrote {run.dir / 'evaluation.arrow'}")
    return result.row()


if __name__ == "__main__":
    main()
