"""Capacity-constrained assignment benchmarks: capacitated p-median and generalised assignment.

- CPMP: Osman & Christofides (1994), OR-Library pmedcap1, 20 instances
  (`<shared>/benchmarks/cpmp_osman_christofides/cpmpKK.txt`), distances floor(Euclidean).
- GAP: OR-Library gap1–gap12 (60 problems, `<shared>/benchmarks/gap_orlib_small`) and types A–E
  (57, `<shared>/benchmarks/gap_yagiura_abcde`), all as MINIMISATION problems.

How they map onto the engine (see each runner):

- CPMP is expressed exactly. Accounts = customers, workload = demand, reps = the chosen medians
  with capacity Q and the capacity rule hard with slack 0, each median customer locked to its own
  rep, and the explicit distance matrix ``d(i, median_k) / demand_i`` under a travel-only
  objective: the engine's travel is Σ_i workload_i · matrix[i, rep(i)] (over a constant total
  workload), so the engine minimises exactly Σ_i d(i, median). Medians are chosen around it:
  `choose_centres` (uncapacitated p-median) starts, then locate–allocate (each cluster's best
  1-median among its members, re-assigned by the engine from the previous assignment) and
  shakes of the best median set while time remains.
- GAP is NOT expressible in general: the engine has one workload per account that counts
  against any rep's capacity, while a GAP job uses an agent-dependent resource a[i][j]. Only an
  instance whose resource rows are identical (a[i][j] = w_j > 0 for all agents) maps exactly
  (workload w_j, capacity b_i, matrix c[i][j] / w_j); `run_gap` solves those with the engine and
  reports every other instance with found = None and the reason. None of the 117 shipped
  instances has identical rows.
"""

from __future__ import annotations

import csv
import dataclasses
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from engine.benchmarks import shared_dir
from engine.errors import InputError, TerrasimError
from engine.greenfield import choose_centres
from engine.model import Instance
from engine.optimize import SolverSettings, optimize
from engine.problem import build_problem
from engine.rules import Objective, Rules
from engine.validate import instance_from_tables

CPMP_INSTANCES = tuple(f"cpmp{k:02d}" for k in range(1, 21))
GAP_ORLIB_INSTANCES = tuple(f"gap{f}-{k}" for f in range(1, 13) for k in range(1, 6))
NOT_EXPRESSIBLE = (
    "not expressible: GAP resource use a[i][j] depends on the agent; the engine has one "
    "workload per account"
)
_RULES = Rules(capacity=True, capacity_slack=0.0)
_OBJECTIVE = Objective(weights={"travel": 1.0}, circuity=1.0, rules=_RULES)
_ENGINE_CALL_SECONDS = 0.5  # most seconds one engine assignment may take inside a round


# --------------------------------------------------------------------------------------------
# Readers


def _folder(name: str) -> Path | None:
    shared = shared_dir()
    if shared is None or not (shared / "benchmarks" / name).is_dir():
        return None
    return shared / "benchmarks" / name


def cpmp_dir() -> Path | None:
    """`<shared>/benchmarks/cpmp_osman_christofides`, or None when absent."""
    return _folder("cpmp_osman_christofides")


def gap_orlib_dir() -> Path | None:
    """`<shared>/benchmarks/gap_orlib_small`, or None when absent."""
    return _folder("gap_orlib_small")


def gap_abcde_dir() -> Path | None:
    """`<shared>/benchmarks/gap_yagiura_abcde`, or None when absent."""
    return _folder("gap_yagiura_abcde")


def _integers(path: Path, kind: str) -> np.ndarray:
    try:
        return np.array(path.read_text().split(), dtype=np.int64)
    except ValueError as exc:
        raise InputError(str(path), None, f"not a {kind} file: {exc}") from None


def read_cpmp(path: str | Path) -> dict:
    """Read one Osman & Christofides capacitated p-median file.

    Returns
    -------
    dict
        ``optimum`` (int, the header value), ``p`` (int), ``capacity`` (float), ``xy``
        (float64[n, 2]), ``demand`` (float64[n]) and ``distance`` (float64[n, n],
        floor of the Euclidean distance, the convention that reproduces the optima).

    Raises
    ------
    InputError
        On a malformed file.
    """
    path = Path(path)
    numbers = _integers(path, "cpmp")
    if numbers.size < 5:
        raise InputError(str(path), None, "not a cpmp file: the header is missing")
    _, optimum, n, p, capacity = (int(v) for v in numbers[:5])
    if numbers.size != 5 + 4 * n or not 1 <= p <= n:
        raise InputError(str(path), None, f"header promises n={n}, p={p}; token count differs")
    rows = numbers[5:].reshape(n, 4)
    if not np.array_equal(rows[:, 0], np.arange(1, n + 1)):
        raise InputError(str(path), None, "customer ids are not 1..n in order")
    xy = rows[:, 1:3].astype(np.float64)
    diff = xy[:, None, :] - xy[None, :, :]
    distance = np.floor(np.sqrt((diff**2).sum(axis=2)))
    return {
        "optimum": optimum,
        "p": p,
        "capacity": float(capacity),
        "xy": xy,
        "demand": rows[:, 3].astype(np.float64),
        "distance": np.ascontiguousarray(distance),
    }


def read_gap(path: str | Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Read an OR-Library GAP file: several problems (``P`` first) or a single one (A–E files).

    A file whose token count fits ``P`` problems after a leading ``P`` is read as that; else as
    one problem ``m n c a b``.

    Returns
    -------
    list of (cost float64[m, n], resource float64[m, n], capacity float64[m])
        m agents, n jobs.

    Raises
    ------
    InputError
        When neither layout consumes the tokens exactly.
    """
    path = Path(path)
    numbers = _integers(path, "GAP")

    def parse(at: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], int] | None:
        if at + 2 > numbers.size:
            return None
        m, n = int(numbers[at]), int(numbers[at + 1])
        end = at + 2 + 2 * m * n + m
        if m < 1 or n < 1 or end > numbers.size:
            return None
        block = numbers[at + 2 : end].astype(np.float64)
        cost = block[: m * n].reshape(m, n)
        resource = block[m * n : 2 * m * n].reshape(m, n)
        return (cost, resource, block[2 * m * n :].copy()), end

    single = parse(0)
    if single is not None and single[1] == numbers.size:
        return [single[0]]
    if numbers.size:
        problems, at = [], 1
        for _ in range(int(numbers[0])):
            parsed = parse(at)
            if parsed is None:
                break
            problems.append(parsed[0])
            at = parsed[1]
        if len(problems) == int(numbers[0]) and at == numbers.size:
            return problems
    raise InputError(str(path), None, "not a GAP file: the token count fits no layout")


def gap_optima(csv_path: str | Path | None = None) -> dict[str, tuple[int, bool]]:
    """Minimisation optima / best knowns of all GAP instances from the Fontan data.csv.

    Parameters
    ----------
    csv_path : optional
        Default `<shared>/benchmarks/gap_yagiura_abcde/best_known_fontanf_data.csv`.

    Returns
    -------
    dict
        name → (value, proven). Names: ``gapF-K`` (file gapF, problem K = 1..5, i.e. csv
        ``cattrysse1994/gapF-(K-1)``) and the A–E file names (``a05100`` …). value is the
        Optimum column, or the best known solution value when no optimum is recorded
        (proven False).
    """
    if csv_path is None:
        folder = gap_abcde_dir()
        if folder is None:
            raise TerrasimError(
                "GAP benchmark: no benchmarks/gap_yagiura_abcde in the shared folder"
            )
        csv_path = folder / "best_known_fontanf_data.csv"
    out: dict[str, tuple[int, bool]] = {}
    with open(csv_path, newline="") as handle:
        for row in csv.DictReader(handle):
            stem = row["Path"].rsplit("/", 1)[-1]
            if row["Path"].startswith("cattrysse1994/"):
                file, k = stem.rsplit("-", 1)
                stem = f"{file}-{int(k) + 1}"
            optimum = row["Optimum"].strip()
            if optimum:
                out[stem] = (int(optimum), True)
            elif row["Best known solution value"].strip():
                out[stem] = (int(row["Best known solution value"]), False)
    return out


# --------------------------------------------------------------------------------------------
# The engine as a capacitated assignment solver


def assignment_instance(
    matrix: np.ndarray,
    workload: np.ndarray,
    capacity: np.ndarray,
    locked_rep: np.ndarray | None = None,
) -> Instance:
    """An engine Instance whose travel objective is Σ_i workload_i · matrix[i, rep(i)].

    One region, one segment, zero potential, dummy coordinates; capacity per rep; accounts
    with ``locked_rep[i] >= 0`` are locked to that rep.
    """
    n, m = matrix.shape
    locked_rep = np.full(n, -1, np.int64) if locked_rep is None else locked_rep
    rep_ids = [f"r{j}" for j in range(m)]
    accounts = pa.table(
        {
            "account_id": [f"a{i}" for i in range(n)],
            "lat": np.zeros(n),
            "lon": np.zeros(n),
            "region": ["all"] * n,
            "segment": ["all"] * n,
            "potential": np.zeros(n),
            "workload": np.asarray(workload, np.float64),
            "current_rep": [rep_ids[j] if j >= 0 else None for j in locked_rep],
            "locked": locked_rep >= 0,
        }
    )
    reps = pa.table(
        {
            "rep_id": rep_ids,
            "home_lat": np.zeros(m),
            "home_lon": np.zeros(m),
            "capacity": np.asarray(capacity, np.float64),
            "tenure_months": np.zeros(m),
        }
    )
    instance = instance_from_tables(accounts, reps, _RULES, source="assignment benchmark")
    return dataclasses.replace(instance, distance_matrix=np.ascontiguousarray(matrix, np.float64))


def engine_assign(
    instance: Instance, time_limit: float, seed: int, start: np.ndarray | None = None
) -> np.ndarray:
    """Optimise the assignment of `instance` (travel only, capacity hard); int64[n_accounts]."""
    problem = build_problem(instance, _OBJECTIVE)
    settings = SolverSettings(
        time_limit=max(time_limit, 1e-3),
        seed=seed,
        candidates=problem.n_reps,
        raise_infeasible=False,
    )
    return optimize(problem, settings, start=start).assignment


# --------------------------------------------------------------------------------------------
# CPMP


class _Cpmp:
    """One CPMP instance: assign to a median set with the engine, score and check the result."""

    def __init__(self, data: dict, seed: int) -> None:
        self.distance = data["distance"]
        self.demand = data["demand"]
        self.capacity = data["capacity"]
        self.p = data["p"]
        self.seed = seed
        self.calls = 0

    def assign(self, medians: np.ndarray, start: np.ndarray | None, deadline: float):
        """(cost, feasible, assignment as rep index into medians)."""
        locked = np.full(self.distance.shape[0], -1, np.int64)
        locked[medians] = np.arange(self.p)
        matrix = self.distance[:, medians] / self.demand[:, None]
        instance = assignment_instance(
            matrix, self.demand, np.full(self.p, self.capacity), locked_rep=locked
        )
        budget = min(_ENGINE_CALL_SECONDS, max(deadline - time.perf_counter(), 1e-3))
        self.calls += 1
        rep = engine_assign(instance, budget, self.seed + self.calls, start=start)
        return self.score(medians, rep), self.feasible(medians, rep), rep

    def score(self, medians: np.ndarray, rep: np.ndarray) -> float:
        return float(self.distance[np.arange(rep.size), medians[rep]].sum())

    def feasible(self, medians: np.ndarray, rep: np.ndarray) -> bool:
        if rep.min() < 0 or rep.max() >= self.p or len(set(medians.tolist())) != self.p:
            return False
        load = np.bincount(rep, weights=self.demand, minlength=self.p)
        self_served = np.array_equal(rep[medians], np.arange(self.p))
        return bool(self_served and (load <= self.capacity + 1e-9).all())

    def relocate(self, rep: np.ndarray) -> np.ndarray:
        """Each cluster's 1-median among its own members (capacity loads are unchanged)."""
        medians = np.empty(self.p, np.int64)
        for k in range(self.p):
            members = np.flatnonzero(rep == k)
            within = self.distance[np.ix_(members, members)].sum(axis=0)
            medians[k] = members[int(np.argmin(within))]
        return medians

    def locate_allocate(self, medians: np.ndarray, deadline: float):
        """Engine assignment and relocation in turn until no gain: (cost, ok, medians, rep)."""
        cost, ok, rep = self.assign(medians, None, deadline)
        while ok and time.perf_counter() < deadline:
            moved = self.relocate(rep)
            if np.array_equal(moved, medians):
                break
            new_cost, new_ok, new_rep = self.assign(moved, rep, deadline)
            if not new_ok or new_cost >= cost - 1e-9:
                break
            cost, medians, rep = new_cost, moved, new_rep
        return cost, ok, medians, rep


def solve_cpmp(data: dict, time_limit: float = 5.0, seed: int = 0) -> dict:
    """Best capacitated p-median found with the engine as the assignment step.

    Starts: the uncapacitated p-median (`choose_centres`), then the demand-weighted one; then,
    while time remains, the best median set shaken by k = 1, 2, 3, … random replacements
    (back to 1 on improvement). Every start goes through locate–allocate.

    Returns
    -------
    dict
        ``cost`` (float, inf when nothing feasible was found), ``feasible``, ``medians``
        (int64[p], customer indices), ``assignment`` (int64[n], customer index of each one's
        median), ``seconds``, ``rounds``.
    """
    started = time.perf_counter()
    deadline = started + time_limit
    solver = _Cpmp(data, seed)
    n, p = data["distance"].shape[0], data["p"]
    rng = np.random.default_rng(seed)
    centre_limit = min(1.0, time_limit / 10)
    starts = [
        choose_centres(data["distance"], p, seed=seed, time_limit=centre_limit).centres,
        choose_centres(
            data["distance"], p, data["demand"], seed=seed, time_limit=centre_limit
        ).centres,
    ]
    best = (np.inf, False, None, None)
    rounds, k = 0, 1
    while rounds < len(starts) or time.perf_counter() < deadline:
        if rounds < len(starts):
            medians = np.asarray(starts[rounds], np.int64)
        else:
            medians = best[2].copy() if best[2] is not None else rng.choice(n, p, replace=False)
            outside = np.setdiff1d(np.arange(n), medians)
            slots = rng.choice(p, min(k, p), replace=False)
            medians[slots] = rng.choice(outside, slots.size, replace=False)
        result = solver.locate_allocate(medians, deadline)
        rounds += 1
        if result[1] and result[0] < best[0] - 1e-9:
            best, k = result, 1
        elif rounds > len(starts):
            k = k % min(3, p) + 1
        if rounds >= len(starts) and time.perf_counter() >= deadline:
            break
    cost, ok, medians, rep = best
    return {
        "cost": cost,
        "feasible": bool(ok),
        "medians": medians,
        "assignment": None if rep is None else medians[rep],
        "seconds": time.perf_counter() - started,
        "rounds": rounds,
    }


def _warm_up() -> None:
    """Compile (or load from cache) the engine kernels on a tiny instance."""
    rng = np.random.default_rng(0)
    instance = assignment_instance(rng.random((6, 2)), np.ones(6), np.full(2, 4.0))
    engine_assign(instance, 0.2, 0)
    choose_centres(rng.random((8, 8)), 3, seed=0, time_limit=0.5, restarts=1)


def run_cpmp(
    time_limit: float = 5.0, seed: int = 0, instances: list[str] | None = None
) -> list[dict]:
    """Solve the Osman & Christofides CPMP instances; gap to the header optimum.

    Returns
    -------
    list of dict
        section ("capacitated p-median"), instance, n, p_or_m (p), optimum, found,
        gap_percent, seconds (search only, compilation excluded), feasible.
    """
    directory = cpmp_dir()
    if directory is None:
        raise TerrasimError(
            "CPMP benchmark: no benchmarks/cpmp_osman_christofides; set TERRASIM_SHARED"
        )
    names = list(CPMP_INSTANCES) if instances is None else list(instances)
    _warm_up()
    rows = []
    for name in names:
        data = read_cpmp(directory / f"{name}.txt")
        result = solve_cpmp(data, time_limit=time_limit, seed=seed)
        found = int(round(result["cost"])) if result["feasible"] else None
        optimum = data["optimum"]
        rows.append(
            {
                "section": "capacitated p-median",
                "instance": name,
                "n": data["distance"].shape[0],
                "p_or_m": data["p"],
                "optimum": optimum,
                "found": found,
                "gap_percent": None if found is None else 100.0 * (found - optimum) / optimum,
                "seconds": result["seconds"],
                "feasible": result["feasible"],
            }
        )
    return rows


# --------------------------------------------------------------------------------------------
# GAP


def gap_expressible(resource: np.ndarray) -> bool:
    """Whether a GAP maps exactly onto the engine: every agent uses w_j > 0 of job j."""
    return bool((resource == resource[0]).all() and (resource[0] > 0).all())


def solve_gap_engine(
    cost: np.ndarray, resource: np.ndarray, capacity: np.ndarray, time_limit: float, seed: int
) -> tuple[float, bool]:
    """Solve an expressible GAP with the engine: (cost, feasible)."""
    weight = resource[0]
    instance = assignment_instance((cost / weight).T, weight, capacity)
    agent = engine_assign(instance, time_limit, seed)
    jobs = np.arange(cost.shape[1])
    load = np.bincount(agent, weights=resource[agent, jobs], minlength=cost.shape[0])
    ok = bool(agent.min() >= 0 and (load <= capacity + 1e-9).all())
    return float(cost[agent, jobs].sum()), ok


def _gap_problems():
    orlib, abcde = gap_orlib_dir(), gap_abcde_dir()
    if orlib is not None:
        for f in range(1, 13):
            for k, problem in enumerate(read_gap(orlib / f"gap{f}.txt"), start=1):
                yield f"gap{f}-{k}", problem
    if abcde is not None:
        for path in sorted(abcde.iterdir()):
            if path.is_file() and not path.suffix and path.name[0] in "abcde":
                yield path.name, read_gap(path)[0]


def run_gap(time_limit: float = 5.0, seed: int = 0) -> list[dict]:
    """GAP rows (OR-Library gap1–12 as minimisation, then A–E).

    Instances the engine cannot express (agent-dependent resource use: all shipped ones) get
    found / gap_percent / seconds / feasible = None and a `note` saying why; an expressible one
    (identical resource rows) is solved with the engine.

    Returns
    -------
    list of dict
        section ("generalised assignment"), instance, n (jobs), p_or_m (agents), optimum (the
        minimisation optimum or best known), found, gap_percent, seconds, feasible, note.
    """
    if gap_orlib_dir() is None and gap_abcde_dir() is None:
        raise TerrasimError(
            "GAP benchmark: no GAP folders in the shared folder; set TERRASIM_SHARED"
        )
    optima = gap_optima() if gap_abcde_dir() is not None else {}
    rows = []
    for name, (cost, resource, capacity) in _gap_problems():
        m, n = cost.shape
        row = {
            "section": "generalised assignment",
            "instance": name,
            "n": n,
            "p_or_m": m,
            "optimum": optima.get(name, (None, False))[0],
            "found": None,
            "gap_percent": None,
            "seconds": None,
            "feasible": None,
            "note": NOT_EXPRESSIBLE,
        }
        if gap_expressible(resource):
            started = time.perf_counter()
            found, ok = solve_gap_engine(cost, resource, capacity, time_limit, seed)
            optimum = row["optimum"]
            row.update(
                found=int(round(found)) if ok else None,
                gap_percent=(100.0 * (found - optimum) / optimum if ok and optimum else None),
                seconds=time.perf_counter() - started,
                feasible=ok,
                note="identical resource rows: solved by the engine",
            )
        rows.append(row)
    return rows
