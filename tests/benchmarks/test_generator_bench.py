"""Benchmark of the generator (DESIGN §2): `xl` within a minute and 2 GiB of peak memory.

Run with `pytest tests/benchmarks/test_generator_bench.py -m slow --benchmark-enable -s`.
"""

from __future__ import annotations

import time

import pytest

from engine.bench.generator import measure_in_fresh_process
from engine.generator import PRESETS, generate_instance

XL_SECONDS = 60.0
XL_PEAK_BYTES = 2 * 2**30


@pytest.mark.slow
def test_xl_generates_within_a_minute_and_2_gib(benchmark):
    baseline_start = time.perf_counter()
    generate_instance("enterprise")  # baseline in the same run: a tenth of the accounts
    baseline_seconds = time.perf_counter() - baseline_start

    timings = []

    def generate_xl():
        start = time.perf_counter()
        tables = generate_instance("xl")
        timings.append(time.perf_counter() - start)
        return tables

    # No warm-up round: nothing compiles, and a second xl run would only double the wait.
    accounts, reps = benchmark.pedantic(generate_xl, rounds=1, iterations=1)
    assert (accounts.num_rows, reps.num_rows) == (PRESETS["xl"].n_accounts, PRESETS["xl"].n_reps)

    child = measure_in_fresh_process("xl")
    benchmark.extra_info.update(
        {
            "n_accounts": accounts.num_rows,
            "n_reps": reps.num_rows,
            "seconds_in_process": timings[0],
            "seconds_fresh_process": child["seconds"],
            "peak_rss_mib": child["peak_rss_bytes"] / 2**20,
            "rss_after_imports_mib": child["after_imports_rss_bytes"] / 2**20,
            "table_mib": child["table_bytes"] / 2**20,
            "enterprise_baseline_seconds": baseline_seconds,
        }
    )
    print(
        f"\nxl: {timings[0]:.2f} s in process, {child['seconds']:.2f} s in a fresh process; "
        f"peak RSS {child['peak_rss_bytes'] / 2**20:.0f} MiB "
        f"({child['after_imports_rss_bytes'] / 2**20:.0f} MiB after imports); "
        f"enterprise baseline {baseline_seconds:.2f} s"
    )
    assert max(timings[0], child["seconds"]) < XL_SECONDS
    assert child["peak_rss_bytes"] < XL_PEAK_BYTES
