"""Quality benchmarks: objective values the engine reaches on literature instances vs known optima.

Each suite returns rows (dicts with a `section` key); `format_rows` (engine/benchmarks/tables.py)
prints any mix as Markdown.
`python -m engine.benchmarks.quality` runs every suite (or `--suite a,b`) and prints an
overview, one line per suite side by side, then each suite's table; it writes the Markdown and
the raw rows (JSON) to results/benchmarks/quality.md and quality.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.benchmarks.pmed import INSTANCES, pmed_dir, read_pmed, read_pmed_optima
from engine.benchmarks.tables import format_rows
from engine.errors import TerrasimError
from engine.greenfield import choose_centres
from engine.io import write_text_atomic

_REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = _REPO / "results" / "benchmarks" / "quality.md"


def run_pmed(
    instances: list[str] | None = None, time_limit: float = 10.0, seed: int = 0
) -> list[dict]:
    """Solve OR-Library pmed instances with `choose_centres` and compare with the optima.

    The kernels are compiled (or loaded from Numba's cache) on a tiny instance first, so no
    instance's time includes compilation. The solver never sees the optimum.

    Parameters
    ----------
    instances : list of str, optional
        Names such as "pmed36"; all 40 when omitted.
    time_limit : float
        Seconds per instance.
    seed : int

    Returns
    -------
    list of dict
        One row per instance: section ("pmed"), instance, n, p, optimum, found, gap_percent
        (100 · (found − optimum) / optimum), seconds (search only, not reading) and optimal
        (found equals the optimum).

    Raises
    ------
    TerrasimError
        When the shared folder with `benchmarks/pmed` is absent or an instance is unknown.
    """
    directory = pmed_dir()
    if directory is None:
        raise TerrasimError(
            "pmed benchmark: no benchmarks/pmed in the shared folder; set TERRASIM_SHARED"
        )
    optima = read_pmed_optima(directory / "pmedopt.txt")
    names = list(INSTANCES) if instances is None else list(instances)
    unknown = [name for name in names if name not in optima]
    if unknown:
        raise TerrasimError(f"pmed benchmark: unknown instances {unknown}")

    warm = np.random.default_rng(0).random((8, 8))
    choose_centres(warm, 3, seed=seed, time_limit=1.0, restarts=2)

    rows = []
    for name in names:
        distance, p = read_pmed(directory / f"{name}.txt")
        result = choose_centres(distance, p, seed=seed, time_limit=time_limit)
        found = int(round(result.objective))  # integer edge costs give integer sums
        optimum = optima[name]
        rows.append(
            {
                "section": "pmed",
                "instance": name,
                "n": distance.shape[0],
                "p": p,
                "optimum": optimum,
                "found": found,
                "gap_percent": 100.0 * (found - optimum) / optimum,
                "seconds": result.seconds,
                "optimal": found == optimum,
            }
        )
    return rows


# --------------------------------------------------------------------------------------------
# The suites, and one command that runs them all


@dataclass(frozen=True)
class Suite:
    """One quality suite: how to run it, its time limit, its quick subset, what it needs.

    `run(instances, time_limit, seed, options)` returns rows; `missing()` says why the suite
    cannot run here (absent shared data or library), or None when it can.
    """

    name: str
    reference: str  # what the engine is compared with
    run: Callable[[list[str] | None, float, int, dict], list[dict]]
    time_limit: float
    quick_time_limit: float
    quick: tuple[str, ...] | None  # instances of --quick (None: the whole suite, it is cheap)
    missing: Callable[[], str | None]


def _needs(folder: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        from engine.benchmarks import shared_dir

        shared = shared_dir()
        if shared is None:
            return "no shared folder (set TERRASIM_SHARED)"
        if not (shared / "benchmarks" / folder).is_dir():
            return f"no benchmarks/{folder} in {shared}"
        return None

    return missing


def _needs_gap() -> str | None:
    orlib, abcde = _needs("gap_orlib_small")(), _needs("gap_yagiura_abcde")()
    return orlib if orlib and abcde else None


def _needs_highspy() -> str | None:
    if importlib.util.find_spec("highspy") is None:
        return "highspy is not installed (pip install -e .[test])"
    return None


def _nothing() -> str | None:
    return None


def _suite_pmed(instances, time_limit: float, seed: int, options: dict) -> list[dict]:
    return run_pmed(instances, time_limit=time_limit, seed=seed)


def _suite_kmeans(instances, time_limit: float, seed: int, options: dict) -> list[dict]:
    from engine.benchmarks.kmeans import run_kmeans

    return run_kmeans(instances, time_limit=time_limit, seed=seed)


def _suite_cpmp(instances, time_limit: float, seed: int, options: dict) -> list[dict]:
    from engine.benchmarks.assignment import run_cpmp

    return run_cpmp(time_limit=time_limit, seed=seed, instances=instances)


def _suite_gap(instances, time_limit: float, seed: int, options: dict) -> list[dict]:
    from engine.benchmarks.assignment import run_gap

    rows = run_gap(time_limit=time_limit, seed=seed)
    if instances is not None:
        unknown = sorted(set(instances) - {row["instance"] for row in rows})
        if unknown:
            raise TerrasimError(f"GAP benchmark: unknown instances {unknown}")
        rows = [row for row in rows if row["instance"] in instances]
    return rows


def _suite_milp(instances, time_limit: float, seed: int, options: dict) -> list[dict]:
    from engine.benchmarks.milp import parse_case, run_milp

    cases = None if instances is None else [parse_case(name) for name in instances]
    return run_milp(
        cases, time_limit=time_limit, seed=seed, milp_time_limit=options["milp_time_limit"]
    )


def _suite_dtdp(instances, time_limit: float, seed: int, options: dict) -> list[dict]:
    from engine.benchmarks.dtdp import run_dtdp

    return run_dtdp(instances, time_limit=time_limit, seed=seed)


SUITES = {
    suite.name: suite
    for suite in (
        Suite(
            "pmed",
            "proven optima (OR-Library pmed1-40)",
            _suite_pmed,
            10.0,
            2.0,
            ("pmed1", "pmed6", "pmed21"),
            _needs("pmed"),
        ),
        Suite(
            "cpmp",
            "proven optima (Osman & Christofides CPMP)",
            _suite_cpmp,
            5.0,
            2.0,
            ("cpmp01", "cpmp11"),
            _needs("cpmp_osman_christofides"),
        ),
        Suite(
            "gap",
            "optima / best known (GAP, 117 instances)",
            _suite_gap,
            5.0,
            1.0,
            None,
            _needs_gap,
        ),
        Suite(
            "milp",
            "HiGHS MILP optimum of the same model",
            _suite_milp,
            10.0,
            2.0,
            ("200x10",),
            _needs_highspy,
        ),
        Suite(
            "dtdp",
            "best known (Aly et al. 2024, heuristic)",
            _suite_dtdp,
            10.0,
            3.0,
            ("planar500_G0", "Corners486_G0"),
            _needs("dtdp_aly2024"),
        ),
        Suite(
            "kmeans",
            "k-means territories (no optimum)",
            _suite_kmeans,
            10.0,
            2.0,
            ("southwest",),
            _nothing,
        ),
    )
}


def run_suites(
    names: list[str],
    quick: bool = False,
    time_limits: dict[str, float] | None = None,
    seed: int = 0,
    instances: list[str] | None = None,
    milp_time_limit: float | None = None,
    echo: Callable[[str], None] | None = None,
) -> dict[str, dict]:
    """Run suites one after another; a suite whose data is absent is skipped, not failed.

    Parameters
    ----------
    names : list of str
        Keys of `SUITES`, in the order to run.
    quick : bool
        A few instances per suite (`Suite.quick`) at `Suite.quick_time_limit`.
    time_limits : dict, optional
        Seconds per instance by suite name, overriding the suite's default.
    seed : int
    instances : list of str, optional
        Instances of the (single) suite to run instead of its default set.
    milp_time_limit : float, optional
        Seconds HiGHS may take per MILP instance (default 120, quick 30).
    echo : callable, optional
        Called with one progress line per suite.

    Returns
    -------
    dict
        name → {"status": "ok" | "skipped" | "error", "message": str, "time_limit": float,
        "wall_seconds": float, "rows": list of dict}.
    """
    time_limits = time_limits or {}
    options = {"milp_time_limit": milp_time_limit or (30.0 if quick else 120.0)}
    results = {}
    for name in names:
        suite = SUITES[name]
        limit = time_limits.get(name, suite.quick_time_limit if quick else suite.time_limit)
        entry = {"status": "ok", "message": "", "time_limit": limit, "wall_seconds": 0.0}
        entry["rows"] = []
        reason = suite.missing()
        if reason:
            entry.update(status="skipped", message=reason)
        else:
            chosen = instances if instances is not None else (suite.quick if quick else None)
            started = time.perf_counter()
            try:
                entry["rows"] = suite.run(
                    list(chosen) if chosen is not None else None, limit, seed, options
                )
            except TerrasimError as exc:
                entry.update(status="error", message=str(exc))
            entry["wall_seconds"] = time.perf_counter() - started
        results[name] = entry
        if echo is not None:
            echo(f"[quality] {name}: {entry['status']} {entry['message']}".rstrip())
    return results


def overview_rows(results: dict[str, dict]) -> list[dict]:
    """One row per suite: instances, feasible, gaps, optima reached, time, and notes."""
    rows = []
    for name, entry in results.items():
        members = entry["rows"]
        gaps = [r["gap_percent"] for r in members if r.get("gap_percent") is not None]
        feasible = [r["feasible"] for r in members if r.get("feasible") is not None]
        optimal = [r["optimal"] for r in members if r.get("optimal") is not None]
        seconds = [r["seconds"] for r in members if r.get("seconds") is not None]
        note = entry["message"]
        if name == "gap" and members and not gaps:
            note = "out of scope: " + str(members[0].get("note", ""))
        elif name == "kmeans" and members:
            note = "terrasim / k-means: " + ", ".join(_ratio_ranges(members))
        rows.append(
            {
                "section": "overview",
                "suite": name,
                "compared_with": SUITES[name].reference,
                "status": entry["status"],
                "instances": len({r["instance"] for r in members}),
                "feasible": f"{sum(map(bool, feasible))} of {len(feasible)}" if feasible else "",
                "mean_gap_percent": float(np.mean(gaps)) if gaps else None,
                "max_gap_percent": float(np.max(gaps)) if gaps else None,
                "optimal": f"{sum(map(bool, optimal))} of {len(optimal)}" if optimal else "",
                "time_limit_seconds": entry["time_limit"],
                "engine_seconds": float(np.sum(seconds)) if seconds else None,
                "note": note,
            }
        )
    return rows


def _ratio_ranges(rows: list[dict]) -> list[str]:
    """Range (min–max over instances) of terrasim_over_kmeans for each objective."""
    by_objective: dict[str, list[float]] = {}
    for r in rows:
        if r.get("terrasim_over_kmeans") is not None:
            by_objective.setdefault(r["objective"], []).append(r["terrasim_over_kmeans"])
    return [f"{k} {min(v):g}–{max(v):g}" for k, v in by_objective.items()]


def format_report(results: dict[str, dict], header: str = "") -> str:
    """Markdown: the overview (suites side by side), then each suite's own table.

    Beside other suites the GAP table is left out while no GAP instance is expressible (117 rows
    that would all say so); `--suite gap` alone prints it.
    """
    blocks = [header.rstrip()] if header else []
    overview = format_rows(overview_rows(results)).split("\n\n**Summary:**")[0]
    blocks.append(overview.replace("### overview", "## Overview", 1))
    for name, entry in results.items():
        rows = entry["rows"]
        unsolved_gap = name == "gap" and all(r.get("found") is None for r in rows)
        if not rows or (unsolved_gap and len(results) > 1):
            continue
        blocks.append(format_rows(rows).rstrip())
    return "\n\n".join(blocks) + "\n"


def _json_value(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _parse_time_limits(text: str | None, names: list[str]) -> dict[str, float]:
    """Seconds per suite from "5" (every suite) or "milp=20,dtdp=5" (those suites)."""
    if not text:
        return {}
    try:
        limits = {}
        if "=" not in text:
            limits = {name: float(text) for name in names}
        for part in text.split(",") if "=" in text else []:
            name, _, value = part.partition("=")
            if name.strip() not in SUITES:
                raise TerrasimError(f"--time-limit: unknown suite {name.strip()!r}")
            limits[name.strip()] = float(value)
    except ValueError as exc:
        raise TerrasimError(f"--time-limit: cannot read {text!r} ({exc})") from None
    if any(v <= 0 for v in limits.values()):
        raise TerrasimError("--time-limit: seconds must be > 0")
    return limits


def main(argv: list[str] | None = None) -> int:
    """Run the suites, print the report, write it; returns the exit code (2 on a user error)."""
    parser = argparse.ArgumentParser(
        prog="python -m engine.benchmarks.quality", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--suite",
        default="all",
        help=f"all (default) or comma-separated names: {', '.join(SUITES)}",
    )
    parser.add_argument("--quick", action="store_true", help="a few instances per suite")
    parser.add_argument(
        "--time-limit",
        default=None,
        help="seconds per instance: one number for every suite, or e.g. milp=20,dtdp=5 "
        "(defaults: " + ", ".join(f"{s.name} {s.time_limit:g}" for s in SUITES.values()) + ")",
    )
    parser.add_argument(
        "--milp-time-limit", type=float, default=None, help="HiGHS seconds (default 120)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--instances", default=None, help="comma-separated names (one suite only)")
    parser.add_argument(
        "--out",
        default=None,
        help="Markdown report path; default with every suite results/benchmarks/quality.md "
        "(quality_quick.md with --quick), else print only; raw rows go beside it as .json",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    try:
        names = list(SUITES) if args.suite == "all" else args.suite.split(",")
        unknown = [name for name in names if name not in SUITES]
        if unknown:
            raise TerrasimError(f"--suite: unknown {unknown}; known: {list(SUITES)}")
        if args.instances and len(names) != 1:
            raise TerrasimError("--instances needs exactly one --suite")
        time_limits = _parse_time_limits(args.time_limit, names)
    except TerrasimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    results = run_suites(
        names,
        quick=args.quick,
        time_limits=time_limits,
        seed=args.seed,
        instances=args.instances.split(",") if args.instances else None,
        milp_time_limit=args.milp_time_limit,
        echo=lambda line: print(line, file=sys.stderr, flush=True),
    )
    wall = time.perf_counter() - started
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    command = "python -m engine.benchmarks.quality " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    header = (
        "# Optimizer quality\n\n"
        f"Command: `{command.strip()}`; seed {args.seed}; wall {wall:.0f} s; "
        f"{os.cpu_count()} cores, load average at the end {load}.\n"
    )
    report = format_report(results, header)
    print(report)
    # Only a full run replaces the record by default; a part of one is printed unless --out.
    everything = names == list(SUITES) and not args.instances
    out = Path(args.out) if args.out else None
    if out is None and everything:
        out = DEFAULT_OUT.with_name("quality_quick.md") if args.quick else DEFAULT_OUT
    if out is not None and not args.no_write:
        raw = {
            "command": command.strip(),
            "seed": args.seed,
            "quick": args.quick,
            "wall_seconds": wall,
            "load_average": list(os.getloadavg()),
            "suites": {
                name: {
                    **{k: v for k, v in entry.items() if k != "rows"},
                    "rows": [{k: _json_value(v) for k, v in r.items()} for r in entry["rows"]],
                }
                for name, entry in results.items()
            },
        }
        write_text_atomic(out, report)
        write_text_atomic(out.with_suffix(".json"), json.dumps(raw, indent=1) + "\n")
        print(f"wrote {out} and {out.with_suffix('.json').name}", file=sys.stderr)
    errors = [name for name, entry in results.items() if entry["status"] == "error"]
    return 2 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
