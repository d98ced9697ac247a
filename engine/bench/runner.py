"""The bench run: which cases, in which order, with progress lines and the machine's state."""

from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from collections.abc import Sequence
from typing import Any

from engine.bench import frontier, generator, kernels, optimizer, stress
from engine.bench.case import SIZES, BenchSettings, Row
from engine.bench.timing import load_average
from engine.errors import TerrasimError
from engine.rules import objective_from_config
from engine.runs import git_commit, library_versions, package_version

GROUPS = (kernels, optimizer, frontier, stress, generator)
CASES = tuple(case for group in GROUPS for case in group.CASES)


def bench_settings_from_config(cfg: Any) -> tuple[BenchSettings, tuple[str, ...]]:
    """Settings and selected cases from the composed config (`bench` and `objective`).

    Raises
    ------
    TerrasimError
        An unknown size or case, or a repeat below 1.
    """
    bench = cfg.bench
    size = str(bench.size)
    if size not in SIZES:
        raise TerrasimError(f"bench.size must be one of {list(SIZES)}, got '{size}'")
    try:
        repeat = int(bench.repeat)
    except (TypeError, ValueError):
        raise TerrasimError(f"bench.repeat must be an integer, got {bench.repeat!r}") from None
    if repeat < 1:
        raise TerrasimError(f"bench.repeat must be >= 1, got {repeat}")
    only = bench.only
    chosen = select_cases([only] if isinstance(only, str) else list(only or ()))
    settings = BenchSettings(
        size=size,
        repeat=repeat,
        seed=int(cfg.seed),
        objective=objective_from_config(cfg.objective),
        say=_Clock().say,
    )
    return settings, chosen


def select_cases(only: Sequence[str]) -> tuple[str, ...]:
    """The cases named in `only` (all when empty), in the bench's order.

    Raises
    ------
    TerrasimError
        A name that is not a case.
    """
    unknown = [name for name in only if name not in CASES]
    if unknown:
        raise TerrasimError(
            f"bench.only: unknown case(s) {unknown}; the cases are: {', '.join(CASES)}"
        )
    return tuple(case for case in CASES if not only or case in only)


def run_bench(settings: BenchSettings, cases: Sequence[str]) -> tuple[list[Row], dict]:
    """Run the chosen cases group by group; each row is printed to stderr as it comes.

    Returns
    -------
    rows : list of Row
        In `CASES` order.
    environment : dict
        Size, repeat, start time, wall time, load averages before and after, CPUs, Numba
        threads, Python, platform, terrasim version, git commit, library versions.
    """
    import numba

    started = time.perf_counter()
    environment: dict[str, Any] = {
        "size": settings.size,
        "repeat": settings.repeat,
        "started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load_average_start": _load_averages(),
        "cpu_count": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "terrasim_version": package_version(),
        "git_commit": git_commit(),
        "libraries": library_versions(),
    }
    chosen = set(cases)
    rows: list[Row] = []
    for group in GROUPS:
        wanted = chosen & set(group.CASES)
        if not wanted:
            continue
        for row in group.run(settings, wanted):
            settings.say(_progress_line(row))
            rows.append(row)
    environment["wall_seconds"] = round(time.perf_counter() - started, 1)
    environment["load_average_end"] = _load_averages()
    return rows, environment


class _Clock:
    """Progress lines on stderr, stamped with the seconds since the bench started."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def say(self, message: str) -> None:
        elapsed = time.perf_counter() - self.started
        print(f"[bench {elapsed:7.1f} s] {message}", file=sys.stderr, flush=True)


def _progress_line(row: Row) -> str:
    met = {True: ": met", False: ": MISSED", None: ""}[row.met]
    target = f"  (target {row.target}{met})" if row.target else ""
    return (
        f"{row.case}: {row.terrasim_value:.4g} vs {row.baseline_value:.4g} {row.unit}, "
        f"ratio {row.ratio:.2f}{target}  load {load_average()}"
    )


def _load_averages() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []
