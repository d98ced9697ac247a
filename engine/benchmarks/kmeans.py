"""What a "cluster my accounts" button gives (k-means territories) against terrasim.

k-means on account locations with one cluster per staying rep, clusters matched to reps by
home distance (Hungarian), evaluated under the same objective as terrasim's design.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.optimize import linear_sum_assignment

from engine.evaluate import evaluate
from engine.generator import generate_instance
from engine.optimize import SolverSettings, optimize
from engine.problem import Problem, build_problem
from engine.rules import Objective, Rules
from engine.validate import instance_from_tables
from kernels.geo import unit_vectors

COMPARED = ("potential_imbalance", "workload_imbalance", "travel")


def kmeans_design(problem: Problem, seed: int = 0) -> np.ndarray:
    """k-means territories: cluster accounts, give each cluster the rep whose home is nearest."""
    acc, reps = problem.instance.accounts, problem.instance.reps
    staying = np.flatnonzero(reps.status != 2)
    xyz = unit_vectors(acc.lat, acc.lon)
    centroids, label = kmeans2(xyz, len(staying), seed=seed, minit="++")
    homes = unit_vectors(reps.home_lat[staying], reps.home_lon[staying])
    cost = np.linalg.norm(centroids[:, None, :] - homes[None, :, :], axis=2)
    cluster, rep = linear_sum_assignment(cost)
    rep_of_cluster = np.empty(len(staying), dtype=np.int64)
    rep_of_cluster[cluster] = staying[rep]
    return rep_of_cluster[label]


def run_kmeans(
    presets: list[str] | None = None, time_limit: float = 10.0, seed: int = 0
) -> list[dict]:
    """Rows: k-means against terrasim (greenfield, soft rules) on imbalance and travel.

    Both designs are judged with every hard rule off, since k-means knows none of them:
    this compares the geometry and balance a territory engine produces.
    """
    rules = Rules(
        locked=False, regions=False, specialists=False, barred=False, leaving=False, capacity=False
    )
    weights = {"potential_imbalance": 1.0, "workload_imbalance": 0.5, "travel": 0.2}
    rows = []
    for preset in presets or ("northeast", "southwest"):
        accounts, reps = generate_instance(preset, seed=seed)
        instance = instance_from_tables(accounts, reps, rules)
        problem = build_problem(instance, Objective(weights=weights, circuity=1.3, rules=rules))
        started = time.perf_counter()
        clustered = evaluate(problem, kmeans_design(problem, seed))
        kmeans_seconds = time.perf_counter() - started
        design = optimize(
            problem,
            SolverSettings(time_limit=time_limit, seed=seed, construction="greenfield"),
        )
        for name in COMPARED:
            ours, theirs = design.evaluation.objectives[name], clustered.objectives[name]
            rows.append(
                {
                    "section": "k-means territories against terrasim (greenfield)",
                    "instance": preset,
                    "objective": name,
                    "kmeans": round(theirs, 4),
                    "terrasim": round(ours, 4),
                    "terrasim_over_kmeans": round(ours / theirs, 3) if theirs else None,
                    "kmeans_seconds": round(kmeans_seconds, 2),
                    "terrasim_seconds": round(design.seconds, 2),
                }
            )
    return rows
