"""`terrasim EXPERIMENT [overrides]`: the same as `python -m experiments.EXPERIMENT [overrides]`."""

from __future__ import annotations

import importlib
import sys

EXPERIMENTS = {
    "generate": "write a synthetic instance (data.preset=NAME out=DIR)",
    "validate": "check input files and print a summary of them",
    "evaluate": "evaluate today's (or a given) assignment: objectives and metrics",
    "optimize": "optimize the territories; designs, moves, transitions, assignment.csv",
    "export": "write one design of a designs or frontier file as assignment.csv",
    "frontier": "Pareto frontier of the redesign, stress-tested, with a recommended design",
    "stress": "Monte Carlo stress test of designs against today's (Ray)",
    "bench": "every speed benchmark, terrasim beside its baselines, in one table",
    "scenarios": "scenario library (status quo plus, ..., departure) optimised, compared",
    "headcount": "sweep headcount: add or remove reps, optimise, stress-test; the curve",
}
USAGE = "usage: terrasim EXPERIMENT [key=value ...]   (terrasim EXPERIMENT --help for its config)"


def main() -> None:
    """Dispatch to the experiment named by the first argument."""
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(USAGE)
        print("\nexperiments:")
        for name, what in EXPERIMENTS.items():
            print(f"  {name:<10} {what}")
        sys.exit(0 if len(sys.argv) >= 2 else 2)
    name = sys.argv[1]
    if name not in EXPERIMENTS:
        print(
            f"terrasim: unknown experiment '{name}'; one of: {', '.join(EXPERIMENTS)}",
            file=sys.stderr,
        )
        sys.exit(2)
    sys.argv = [f"terrasim {name}", *sys.argv[2:]]
    try:
        module = importlib.import_module(f"experiments.{name}")
    except KeyboardInterrupt:  # Ctrl-C while the libraries load; the run handles its own
        print(f"terrasim {name}: interrupted", file=sys.stderr)
        sys.exit(130)
    module.main()


if __name__ == "__main__":
    main()
