"""What a benchmark case reports (a Row, judged against its Target) and the settings it reads."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from engine.data import load_instance
from engine.problem import Problem, build_problem
from engine.rules import Objective, Rules

# Bench sizes: `quick` runs every case on tiny instances (seconds; for tests), `full` at the
# sizes the issues set their targets for.
SIZES = ("quick", "full")
_COMPARE = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
_SYMBOL = {"<=": "≤", ">=": "≥", "<": "<", ">": ">"}


@dataclass(frozen=True)
class Target:
    """A target from the issues: ``terrasim_value op value`` (or ``ratio op value``)."""

    op: str
    value: float
    on: str = "value"

    def holds(self, value: float, ratio: float) -> bool:
        """Whether the measured value (or ratio) meets the target."""
        return bool(_COMPARE[self.op](ratio if self.on == "ratio" else value, self.value))

    def text(self, unit: str) -> str:
        """The target in words, e.g. '≤ 35 ms' or 'ratio ≥ 3'."""
        if self.on == "ratio":
            return f"ratio {_SYMBOL[self.op]} {self.value:g}"
        return f"{_SYMBOL[self.op]} {self.value:g} {unit}"


@dataclass(frozen=True)
class Row:
    """One case: terrasim and its baseline measured in the same run.

    `ratio` is how many times better terrasim did: baseline / terrasim for times and memory,
    terrasim / baseline for rates and hypervolume.
    """

    case: str
    size: str
    terrasim_value: float
    baseline_value: float
    unit: str
    ratio: float
    target: str
    met: bool | None
    notes: str


@dataclass(frozen=True)
class BenchSettings:
    """What every case reads.

    Attributes
    ----------
    size : str
        quick or full (`SIZES`).
    repeat : int
        Timed rounds of each measurement, terrasim and baseline alike; the best is reported.
        The frontier and the generator run once (after a warm-up), being seconds long.
    seed : int
        Seed of the generated instances.
    objective : Objective
        Weights and circuity (the `objective` config); each case sets its own rules.
    say : callable
        Prints a progress line (stderr).
    """

    size: str
    repeat: int
    seed: int
    objective: Objective
    say: Callable[[str], None]


def make_row(
    settings: BenchSettings,
    case: str,
    size: str,
    terrasim: float,
    baseline: float,
    unit: str,
    higher_is_better: bool,
    notes: str,
    targets: tuple[Target, ...] = (),
) -> Row:
    """A Row with its ratio; targets are judged at full size only (`met` is None otherwise)."""
    if higher_is_better:
        ratio = terrasim / baseline if baseline > 0 else math.inf
    else:
        ratio = baseline / terrasim if terrasim > 0 else math.inf
    met = None
    if targets and settings.size == "full":
        met = all(t.holds(terrasim, ratio) for t in targets)
    return Row(
        case=case,
        size=size,
        terrasim_value=float(terrasim),
        baseline_value=float(baseline),
        unit=unit,
        ratio=float(ratio),
        target="; ".join(t.text(unit) for t in targets),
        met=met,
        notes=notes,
    )


def preset_problem(
    settings: BenchSettings,
    preset: str,
    rules: Rules,
    n_accounts: int | None = None,
    n_reps: int | None = None,
) -> Problem:
    """A generated preset (optionally resized) as a Problem under `rules` and the weights."""
    data: dict[str, Any] = {
        "kind": "synthetic",
        "preset": preset,
        "n_accounts": n_accounts,
        "n_reps": n_reps,
    }
    instance = load_instance(data, rules, settings.seed)
    return build_problem(instance, replace(settings.objective, rules=rules))


def describe(problem: Problem, what: str = "") -> str:
    """'100,000 × 500 enterprise'-style size of a problem's instance."""
    text = f"{problem.n_accounts:,} × {problem.n_reps:,}"
    return f"{text} {what}".strip()
