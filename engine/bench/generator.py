"""Generator cases: time and peak memory of the largest preset, each in a fresh process.

The baseline of the time is linear scaling from a preset a tenth the size, generated the same
way in the same run; the baseline of the memory is the least a process holding the result
needs (its imports plus the generated tables).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from engine.bench.case import BenchSettings, Row, Target, make_row
from engine.bench.timing import load_average

ROOT = Path(__file__).resolve().parents[2]
CASES = ("generator_time", "generator_memory")
# (preset, n_accounts, n_reps) measured, then its baseline a tenth the size.
SIZES = {
    "quick": (("northeast", 2_000, None), ("northeast", 200, None)),
    "full": (("xl", None, None), ("enterprise", None, None)),
}
_TARGET_SECONDS = 60.0
_TARGET_MIB = 2048.0

# Peak resident memory of a fresh process is the honest measure: tracemalloc misses memory
# that NumPy, SciPy and Arrow allocate outside Python's allocator. VmHWM is the peak of this
# address space alone; ru_maxrss (KiB on Linux) can carry the parent's peak over the fork.
_CHILD = """
import json, resource, sys, time

def peak_rss_bytes():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

from engine.generator import generate_instance
after_imports = peak_rss_bytes()
preset, seed, n_accounts, n_reps = json.loads(sys.argv[1])
start = time.perf_counter()
accounts, reps = generate_instance(preset, seed, n_accounts, n_reps)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_rss_bytes": peak_rss_bytes(),
                  "after_imports_rss_bytes": after_imports,
                  "table_bytes": accounts.nbytes + reps.nbytes,
                  "n_accounts": accounts.num_rows, "n_reps": reps.num_rows}))
"""


def measure_in_fresh_process(
    preset: str, seed: int = 0, n_accounts: int | None = None, n_reps: int | None = None
) -> dict:
    """Generate a preset in a new Python process; its time, peak RSS and table sizes.

    Returns
    -------
    dict
        seconds, peak_rss_bytes, after_imports_rss_bytes, table_bytes, n_accounts, n_reps.
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps([preset, seed, n_accounts, n_reps])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(settings: BenchSettings, cases: set[str]) -> Iterator[Row]:
    """Rows of the selected generator cases (both from the same two processes)."""
    (preset, n_accounts, n_reps), (small_preset, small_accounts, small_reps) = SIZES[settings.size]
    settings.say(f"generator: {preset} in a fresh process")
    big = measure_in_fresh_process(preset, settings.seed, n_accounts, n_reps)
    settings.say(f"generator: {small_preset} in a fresh process")
    small = measure_in_fresh_process(small_preset, settings.seed, small_accounts, small_reps)
    scale = big["n_accounts"] / small["n_accounts"]
    label = f"{big['n_accounts']:,} × {big['n_reps']:,} {preset}"
    if "generator_time" in cases:
        notes = (
            f"one fresh process; vs {small['n_accounts']:,} × {small['n_reps']:,} "
            f"{small_preset} ({small['seconds']:.2f} s) × {scale:g}, linear scaling; "
            f"load {load_average()}"
        )
        yield make_row(
            settings,
            "generator_time",
            label,
            big["seconds"],
            small["seconds"] * scale,
            "s",
            higher_is_better=False,
            notes=notes,
            targets=(Target("<", _TARGET_SECONDS),),
        )
    if "generator_memory" in cases:
        mib = 2.0**20
        floor = big["after_imports_rss_bytes"] + big["table_bytes"]
        notes = (
            f"peak RSS (VmHWM) of the fresh process vs its imports "
            f"({big['after_imports_rss_bytes'] / mib:.0f} MiB) plus the generated tables "
            f"({big['table_bytes'] / mib:.0f} MiB); load {load_average()}"
        )
        yield make_row(
            settings,
            "generator_memory",
            label,
            big["peak_rss_bytes"] / mib,
            floor / mib,
            "MiB",
            higher_is_better=False,
            notes=notes,
            targets=(Target("<", _TARGET_MIB),),
        )
