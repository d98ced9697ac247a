"""Timing helpers: best of several rounds, Numba's thread count, and the load on the machine."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any


def best_seconds(function: Callable[[], Any], repeat: int, warmup: int = 0) -> float:
    """Fastest of `repeat` timed calls of `function`, after `warmup` untimed ones.

    The minimum is the run least disturbed by other work on a shared machine.
    """
    for _ in range(warmup):
        function()
    best = float("inf")
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


@contextlib.contextmanager
def numba_threads(threads: int) -> Iterator[int]:
    """Run the block on `threads` Numba threads (at most those Numba started); yields that."""
    import numba

    before = numba.get_num_threads()
    usable = max(1, min(threads, numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(usable)
    try:
        yield usable
    finally:
        numba.set_num_threads(before)


def load_average() -> float:
    """The 1-minute load average (0 where the system does not report one)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return 0.0
