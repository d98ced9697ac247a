"""Same data, same seed, same "today": every command simulates today's design alike."""

from __future__ import annotations

from pathlib import Path

import pyarrow.feather as feather

DATA = ("data.n_accounts=150", "data.n_reps=6", "seed=4")
SIM = ("sim.scenarios=24", "sim.batch_size=5", "ray.enabled=false", "report=false")
QUICK = ("solver.time_limit=0.5",)


def today_row(run_dir: Path) -> dict:
    summary = feather.read_table(run_dir / "summary.arrow").to_pylist()
    return summary[0]  # row 0 is today's design in every command


def test_today_books_the_same_in_stress_frontier_scenarios_and_headcount(run_cli, tmp_path):
    commands = {
        "stress": ("stress",),
        "frontier": (
            "frontier",
            "frontier.time_limit=4",
            "frontier.population=8",
            "frontier.generations=1",
            "frontier.polish=0",
        ),
        # headcount adds reps, departure removes one: neither may change today's draws.
        "scenarios": (
            "scenarios",
            "scenarios.run=[headcount,departure]",
            "scenarios.time_limit=0.5",
        ),
        "headcount": ("headcount", "headcount.min=-1", "headcount.max=2", *QUICK),
    }
    today = {}
    for name, args in commands.items():
        code, _, err = run_cli(*args, *DATA, *SIM, f"hydra.run.dir={tmp_path / name}")
        assert code == 0, f"{name}: {err}"
        today[name] = today_row(tmp_path / name)
        assert str(today[name]["design"]).startswith("today")
    reference = today["stress"]
    for name, row in today.items():
        for column in ("mean", "p5", "p95", "expected_departures"):
            assert row[column] == reference[column], f"{name} {column}: {row} vs {reference}"
