"""The one quality command: suites side by side, skips without data, reports written."""

from __future__ import annotations

import json

import pytest

from engine.benchmarks.quality import SUITES, _parse_time_limits, main, run_suites
from engine.errors import TerrasimError


def test_suites_without_shared_data_are_skipped_with_the_reason(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TERRASIM_SHARED", str(tmp_path / "absent"))
    out = tmp_path / "q.md"
    assert main(["--suite", "pmed,dtdp", "--out", str(out)]) == 0
    text = out.read_text()
    assert "## Overview" in text and "| pmed |" in text and "| dtdp |" in text
    assert text.count("skipped") == 2 and "TERRASIM_SHARED" in text
    raw = json.loads(out.with_suffix(".json").read_text())
    assert raw["suites"]["dtdp"]["status"] == "skipped" and raw["suites"]["dtdp"]["rows"] == []
    assert "## Overview" in capsys.readouterr().out


def test_an_unknown_suite_or_bad_limit_is_a_user_error(tmp_path):
    assert main(["--suite", "nope", "--no-write"]) == 2
    assert main(["--suite", "pmed,gap", "--instances", "pmed1", "--no-write"]) == 2
    assert main(["--time-limit", "pmed=x", "--no-write"]) == 2
    assert not list(tmp_path.iterdir())


def test_time_limits_apply_to_all_or_per_suite():
    assert _parse_time_limits("5", ["pmed", "milp"]) == {"pmed": 5.0, "milp": 5.0}
    assert _parse_time_limits("milp=20,dtdp=2.5", list(SUITES)) == {"milp": 20.0, "dtdp": 2.5}
    with pytest.raises(TerrasimError):
        _parse_time_limits("0", ["pmed"])
    with pytest.raises(TerrasimError):
        _parse_time_limits("nope=3", ["pmed"])


def test_quick_runs_a_few_instances_at_the_quick_limit():
    pytest.importorskip("highspy")
    results = run_suites(["milp"], quick=True, time_limits={"milp": 1.0}, milp_time_limit=5.0)
    entry = results["milp"]
    assert entry["status"] == "ok" and entry["time_limit"] == 1.0
    assert [row["instance"] for row in entry["rows"]] == ["northeast-200x10-s0"]
    assert entry["rows"][0]["feasible"]


def test_a_partial_run_prints_without_replacing_the_record(tmp_path, monkeypatch, capsys):
    import engine.benchmarks.quality as quality

    monkeypatch.setenv("TERRASIM_SHARED", str(tmp_path / "absent"))
    monkeypatch.setattr(quality, "DEFAULT_OUT", tmp_path / "quality.md")
    assert main(["--suite", "dtdp"]) == 0
    assert not (tmp_path / "quality.md").exists()
    assert "| dtdp |" in capsys.readouterr().out
