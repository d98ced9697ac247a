"""`terrasim generate` writes files that `terrasim validate` accepts, the same for a seed."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize("fmt", ["csv", "parquet", "arrow"])
def test_generated_files_validate(run_cli, tmp_path: Path, fmt: str):
    out = tmp_path / "data"
    code, stdout, err = run_cli(
        "generate",
        "data.preset=southwest",
        f"out={out}",
        f"format={fmt}",
        f"hydra.run.dir={tmp_path / 'gen'}",
    )
    assert code == 0, err
    assert "wrote 450 accounts" in stdout
    code, stdout, err = run_cli(
        "validate",
        "data=files",
        f"data.accounts={out / f'accounts.{fmt}'}",
        f"data.reps={out / f'reps.{fmt}'}",
        f"hydra.run.dir={tmp_path / 'val'}",
    )
    assert code == 0, err
    assert "3 specialists" in stdout


def test_same_seed_same_bytes_other_seed_differs(run_cli, tmp_path: Path):
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        code, _, err = run_cli(
            "generate",
            f"seed={seed}",
            f"out={tmp_path / name}",
            "format=csv",
            f"hydra.run.dir={tmp_path / ('run_' + name)}",
        )
        assert code == 0, err
    a, b, c = ((tmp_path / n / "accounts.csv").read_bytes() for n in "abc")
    assert a == b and a != c


def test_unknown_preset_and_format_exit_2(run_cli, tmp_path: Path):
    code, _, err = run_cli(
        "generate", "data.preset=mars", f"out={tmp_path}", f"hydra.run.dir={tmp_path / 'r'}"
    )
    assert code == 2 and "unknown preset 'mars'" in err
    code, _, err = run_cli(
        "generate", "format=xlsx", f"out={tmp_path}", f"hydra.run.dir={tmp_path / 'r'}"
    )
    assert code == 2 and "format must be one of" in err
