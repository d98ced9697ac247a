"""All 40 OR-Library pmed instances: gap to the optimum and time, recorded, not asserted."""

from __future__ import annotations

import pytest

from engine.benchmarks.pmed import pmed_dir
from engine.benchmarks.quality import format_rows, run_pmed


@pytest.mark.slow
def test_pmed_quality_on_all_40_instances(benchmark):
    if pmed_dir() is None:
        pytest.skip("shared folder with benchmarks/pmed is absent (set TERRASIM_SHARED)")
    rows = benchmark.pedantic(
        run_pmed, kwargs={"instances": None, "time_limit": 10.0, "seed": 0}, rounds=1
    )
    benchmark.extra_info["rows"] = rows
    benchmark.extra_info["solved"] = sum(row["optimal"] for row in rows)
    benchmark.extra_info["mean_gap_percent"] = sum(r["gap_percent"] for r in rows) / len(rows)
    print(format_rows(rows))
    assert len(rows) == 40
    assert all(row["found"] >= row["optimum"] for row in rows)  # never below a proven optimum
