"""Quality benchmarks: objective values the engine reaches on literature instances vs known optima.

Each suite returns rows (dicts with a `section` key); `format_rows` prints any mix as Markdown.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from engine.benchmarks.pmed import INSTANCES, pmed_dir, read_pmed, read_pmed_optima
from engine.errors import TerrasimError
from engine.greenfield import choose_centres

_GAP_DECIMALS = 3
_SECONDS_DECIMALS = 2


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


def format_rows(rows: list[dict]) -> str:
    """Markdown: one table per section, each followed by a summary line.

    The columns are the row keys in order of first appearance (section aside). The summary gives
    the mean gap, the number solved to optimality, and the max and total time, for whichever of
    `gap_percent`, `optimal` and `seconds` the section has.
    """
    sections: dict[str, list[dict]] = {}
    for row in rows:
        sections.setdefault(str(row.get("section", "")), []).append(row)
    blocks = []
    for section, members in sections.items():
        columns: list[str] = []
        for row in members:
            columns += [key for key in row if key != "section" and key not in columns]
        lines = [f"### {section}", ""] if section else []
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "|".join("---" for _ in columns) + "|")
        for row in members:
            lines.append("| " + " | ".join(_cell(key, row.get(key)) for key in columns) + " |")
        lines += ["", _summary(members)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _cell(key: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        if key == "gap_percent":
            return f"{value:.{_GAP_DECIMALS}f}"
        if key == "seconds":
            return f"{value:.{_SECONDS_DECIMALS}f}"
        return f"{value:g}"
    return str(value)


def _summary(rows: list[dict]) -> str:
    parts = [f"{len(rows)} instances"]
    gaps = [row["gap_percent"] for row in rows if row.get("gap_percent") is not None]
    if gaps:
        parts.append(f"mean gap {np.mean(gaps):.{_GAP_DECIMALS}f}%")
        parts.append(f"max gap {np.max(gaps):.{_GAP_DECIMALS}f}%")
    solved = [row["optimal"] for row in rows if row.get("optimal") is not None]
    if solved:
        parts.append(f"{sum(bool(s) for s in solved)} of {len(solved)} solved to optimality")
    seconds = [row["seconds"] for row in rows if row.get("seconds") is not None]
    if seconds:
        parts.append(f"max time {max(seconds):.{_SECONDS_DECIMALS}f} s")
        parts.append(f"total time {sum(seconds):.{_SECONDS_DECIMALS}f} s")
    return "**Summary:** " + ", ".join(parts) + "."


def _run_kmeans(instances, time_limit: float, seed: int) -> list[dict]:
    from engine.benchmarks.kmeans import run_kmeans

    return run_kmeans(instances, time_limit=time_limit, seed=seed)


def _run_cpmp(instances, time_limit: float, seed: int) -> list[dict]:
    from engine.benchmarks.assignment import run_cpmp

    return run_cpmp(time_limit=time_limit, seed=seed, instances=instances)


def _run_gap(instances, time_limit: float, seed: int) -> list[dict]:
    from engine.benchmarks.assignment import run_gap

    return run_gap(time_limit=time_limit, seed=seed)


SUITES = {"pmed": run_pmed, "kmeans": _run_kmeans, "cpmp": _run_cpmp, "gap": _run_gap}


def main(argv: list[str] | None = None) -> int:
    """Run a suite and print its Markdown table; returns the exit code (2 on a user error)."""
    parser = argparse.ArgumentParser(
        prog="python -m engine.benchmarks.quality", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--suite", choices=sorted(SUITES), default="pmed")
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per instance")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--instances", default=None, help="comma-separated names (default: the whole suite)"
    )
    args = parser.parse_args(argv)
    instances = args.instances.split(",") if args.instances else None
    started = time.perf_counter()
    try:
        rows = SUITES[args.suite](instances, time_limit=args.time_limit, seed=args.seed)
    except TerrasimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_rows(rows))
    print(
        f"suite {args.suite}, time limit {args.time_limit:g} s per instance, seed {args.seed}, "
        f"wall {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
