"""The k-means baseline of the quality benchmark: complete designs; terrasim balances better."""

from __future__ import annotations

import numpy as np

from engine.benchmarks.kmeans import kmeans_design, run_kmeans
from engine.generator import generate_instance
from engine.problem import build_problem
from engine.rules import Objective, Rules
from engine.validate import instance_from_tables


def test_kmeans_gives_every_account_a_distinct_cluster_rep():
    accounts, reps = generate_instance("southwest", seed=0)
    rules = Rules()
    problem = build_problem(instance_from_tables(accounts, reps, rules), Objective({}, 1.3, rules))
    design = kmeans_design(problem, seed=0)
    assert design.shape == (450,) and (design >= 0).all()
    assert len(np.unique(design)) == 12


def test_terrasim_balances_far_better_than_kmeans():
    rows = run_kmeans(["southwest"], time_limit=2.0)
    imbalance = next(r for r in rows if r["objective"] == "potential_imbalance")
    assert imbalance["terrasim"] < 0.5 * imbalance["kmeans"]
