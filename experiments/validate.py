"""`terrasim validate`: check the inputs against DESIGN §2 and print a summary, or exit 2.

Also refuses, at once, what every optimisation would: an account no rep may hold, locked
workload over its rep's capacity, forced moves beyond the disruption budget.
"""

from omegaconf import DictConfig

from engine.cli import experiment
from engine.console import describe_instance
from engine.data import load_instance
from engine.infeasibility import check_before_search
from engine.problem import build_problem
from engine.rules import objective_from_config
from engine.runs import Run


@experiment("validate")
def main(cfg: DictConfig, run: Run) -> None:
    """Validate the instance of `data` under the rules of `objective`."""
    objective = objective_from_config(cfg.objective)
    instance = load_instance(cfg.data, objective.rules, cfg.seed)
    check_before_search(build_problem(instance, objective))
    print(describe_instance(instance))
    print("valid: the inputs meet the schema and the hard rules' preconditions")
    run.save_config()


if __name__ == "__main__":
    main()
