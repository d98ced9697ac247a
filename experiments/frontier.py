"""`terrasim frontier`: the Pareto frontier of a redesign, stress-tested, with a recommendation."""

import sys
from collections import Counter

import numpy as np
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
from engine.frontier import frontier, frontier_settings_from_config, frontier_table
from engine.infeasibility import broken_rules
from engine.optimize import solver_settings_from_config
from engine.parallel import InProcessRunner, runner_from_config
from engine.report import write_report
from engine.runs import Results, Run
from engine.stress import print_summary, stress_tables


def _call(function, item):
    return function(item)


@experiment("frontier")
def main(cfg: DictConfig, run: Run) -> Results:
    """Find the frontier, write it with the recommended design, then stress-test it.

    Returns the key results for a sweep: the number of designs, the hypervolume, the
    recommended design's label, objectives and accounts moved and, after a stress test, its
    expected bookings and probability of beating today's design.
    """
    solver = solver_settings_from_config(cfg.solver)
    settings = frontier_settings_from_config(cfg.frontier)
    problem = load_problem(cfg)
    instance = problem.instance
    runner = runner_from_config(cfg.ray) if cfg.ray.enabled else InProcessRunner()

    def map_points(function, items):
        items = list(items)
        return runner.run(_call, function, items, [1] * len(items), label="frontier points")

    result = frontier(problem, solver, settings, map_fn=map_points, progress=True)
    today = NamedDesign(
        "today", instance.accounts.current_rep, evaluate(problem, instance.accounts.current_rep)
    )
    recommended = result.recommended
    shown = {"today": today, **{d.label: d for d in result.designs}}
    rows = {
        name: {label: d.evaluation.objectives[name] for label, d in list(shown.items())[:6]}
        for name in result.objectives
    }
    print(format_table(rows, title=f"frontier of {instance.source} (first designs)"))
    print(
        f"{len(result.designs)} designs on the frontier ({result.n_evaluated:,} evaluated, "
        f"{result.seconds:.1f} s); hypervolume {result.hypervolume:.4f} against reference "
        f"{result.reference_point}"
    )
    infeasible = [d for d in result.designs if not d.evaluation.feasible]
    if infeasible:
        breaking = Counter(r for d in infeasible for r in broken_rules(d.evaluation.violations))
        print(
            f"{len(infeasible)} of {len(result.designs)} frontier designs break hard rules "
            f"({', '.join(f'{rule}: {n}' for rule, n in breaking.most_common())}); "
            "the recommendation is among the feasible ones"
        )
    print(
        f"recommended (knee of the feasible frontier): {recommended.label}, "
        f"{int(recommended.evaluation.metrics['accounts_moved']):,} accounts moved"
    )
    print(format_farthest(farthest_table(problem, recommended.label, recommended.assignment, n=5)))
    run.write_table("frontier", frontier_table(problem, result))
    run.write_table("designs", designs_table(problem, [today, *result.designs], recommended.label))
    run.write_table("moves", moves_table(problem, recommended))
    run.write_table("transitions", transitions_table(problem, recommended))
    run.write_csv("assignment.csv", assignment_table(problem, recommended.assignment))
    results: Results = {
        "designs": len(result.designs),
        "hypervolume": float(result.hypervolume),
        "recommended": recommended.label,
        **{name: float(v) for name, v in recommended.evaluation.objectives.items()},
        "accounts_moved": int(recommended.evaluation.metrics["accounts_moved"]),
    }
    if cfg.stress:
        labels = ["today", *(d.label for d in result.designs)]
        designs = np.stack([today.assignment, *(d.assignment for d in result.designs)])
        print(
            f"stress test: {len(labels)} designs x {cfg.sim.scenarios:,} scenarios", file=sys.stderr
        )
        scenarios, summary = stress_tables(instance, designs, labels, cfg.sim, cfg.seed, runner)
        run.write_table("scenarios", scenarios)
        run.write_table("summary", summary)
        print_summary(summary)
        row = summary.to_pylist()[labels.index(recommended.label)]
        results["expected_bookings"] = row["mean"]
        results["prob_beat_today"] = row["prob_beat_today"]
    run.save_config()
    print(f"wrote frontier, designs, moves, transitions, assignment.csv to {run.dir}")
    if cfg.report:
        print(f"report: {write_report(run.dir, problem)}")
    return results


if __name__ == "__main__":
    main()
