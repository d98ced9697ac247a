"""Hard rules and objective weights of DESIGN §3, read from the `objective` config group."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.errors import TerrasimError
from kernels.arrays import OBJECTIVE_NAMES

BUILTIN_MEASURES = ("potential", "workload", "accounts")


@dataclass(frozen=True)
class Rules:
    """Which hard rules hold, and their parameters. None switches a bounded rule off."""

    locked: bool = True
    regions: bool = True
    specialists: bool = True
    barred: bool = True
    leaving: bool = True
    capacity: bool = True
    capacity_slack: float = 0.10
    balance: dict[str, float] = field(default_factory=dict)  # measure -> tolerance; empty = off
    min_accounts: int | None = None
    max_accounts: int | None = None
    max_potential_change: float | None = None
    max_moved: int | None = None
    max_moved_potential_share: float | None = None
    protected_potential: float | None = None
    contiguity: bool = False
    contiguity_k: int = 6
    max_distance_km: float | None = None


@dataclass(frozen=True)
class Objective:
    """Weights of the normalised objectives, the circuity factor and the hard rules."""

    weights: dict[str, float]
    circuity: float
    rules: Rules


def objective_from_config(cfg: Any) -> Objective:
    """Build an Objective from the composed `objective` config (a DictConfig or dict).

    Raises
    ------
    TerrasimError
        A weight or a rule parameter out of range.
    """
    rules_cfg = cfg.get("rules", {}) or {}
    cap = rules_cfg.get("capacity", {}) or {}
    band = rules_cfg.get("balance", {}) or {}
    per_territory = rules_cfg.get("accounts_per_territory", {}) or {}
    budget = rules_cfg.get("disruption_budget", {}) or {}
    contiguity = rules_cfg.get("contiguity", {}) or {}
    balance = (
        {str(k): float(v) for k, v in (band.get("measures", {}) or {}).items()}
        if band.get("enabled", False)
        else {}
    )
    rules = Rules(
        locked=bool(rules_cfg.get("locked", True)),
        regions=bool(rules_cfg.get("regions", True)),
        specialists=bool(rules_cfg.get("specialists", True)),
        barred=bool(rules_cfg.get("barred", True)),
        leaving=bool(rules_cfg.get("leaving", True)),
        capacity=bool(cap.get("enabled", True)),
        capacity_slack=float(cap.get("slack", 0.10)),
        balance=balance,
        min_accounts=_optional(per_territory.get("min"), int),
        max_accounts=_optional(per_territory.get("max"), int),
        max_potential_change=_optional(rules_cfg.get("max_potential_change"), float),
        max_moved=_optional(budget.get("max_accounts"), int),
        max_moved_potential_share=_optional(budget.get("max_potential_share"), float),
        protected_potential=_optional(rules_cfg.get("protected_potential"), float),
        contiguity=bool(contiguity.get("enabled", False)),
        contiguity_k=int(contiguity.get("k", 6)),
        max_distance_km=_optional(rules_cfg.get("max_distance_km"), float),
    )
    weights = {str(k): float(v) for k, v in (cfg.get("weights", {}) or {}).items()}
    objective = Objective(weights=weights, circuity=float(cfg.get("circuity", 1.3)), rules=rules)
    check_objective(objective)
    return objective


def _optional(value: Any, kind: type) -> Any:
    return None if value is None else kind(value)


def check_objective(objective: Objective) -> None:
    """Raise TerrasimError for settings no run could use."""
    unknown = sorted(set(objective.weights) - set(OBJECTIVE_NAMES))
    if unknown:
        raise TerrasimError(
            f"objective.weights: unknown objective(s) {unknown}; known: {list(OBJECTIVE_NAMES)}"
        )
    if any(w < 0 for w in objective.weights.values()):
        raise TerrasimError("objective.weights: weights must be >= 0")
    if objective.circuity < 1.0:
        raise TerrasimError(f"objective.circuity must be >= 1.0, got {objective.circuity}")
    r = objective.rules
    checks = [
        (r.capacity_slack >= 0, "rules.capacity.slack must be >= 0"),
        (all(t >= 0 for t in r.balance.values()), "rules.balance tolerances must be >= 0"),
        (
            r.min_accounts is None or r.min_accounts >= 0,
            "rules.accounts_per_territory.min must be >= 0",
        ),
        (
            r.max_accounts is None or r.max_accounts >= 1,
            "rules.accounts_per_territory.max must be >= 1",
        ),
        (
            r.min_accounts is None or r.max_accounts is None or r.min_accounts <= r.max_accounts,
            "rules.accounts_per_territory: min exceeds max",
        ),
        (
            r.max_potential_change is None or r.max_potential_change >= 0,
            "rules.max_potential_change must be >= 0",
        ),
        (
            r.max_moved is None or r.max_moved >= 0,
            "rules.disruption_budget.max_accounts must be >= 0",
        ),
        (
            r.max_moved_potential_share is None or 0 <= r.max_moved_potential_share <= 1,
            "rules.disruption_budget.max_potential_share must be within 0..1",
        ),
        (r.contiguity_k >= 1, "rules.contiguity.k must be >= 1"),
        (
            r.max_distance_km is None or r.max_distance_km > 0,
            "rules.max_distance_km must be > 0",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise TerrasimError(f"objective.{message}")
