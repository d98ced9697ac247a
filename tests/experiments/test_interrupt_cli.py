"""Ctrl-C stops a run within seconds (exit 130, one line) and its folder says it is incomplete.

The runs are real subprocesses in their own session, and SIGINT goes to the whole process
group, as a terminal's Ctrl-C does (Ray's processes included).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.runs import INCOMPLETE_FILE

REPO = Path(__file__).resolve().parents[2]
# A cold Numba cache compiles the kernels first (a minute or more on a loaded 2-core machine).
START_TIMEOUT_S = 400.0
# Generous on a noisy machine: the stress runs below would take minutes to finish.
EXIT_AFTER_SIGINT_S = 10.0
FIRST_BATCH = re.compile(r"^scenarios \[")
# ~100 s of in-process simulation on 2 cores (northeast: ~2,000-3,000 scenarios a second).
LONG_STRESS = ("stress", "sim.scenarios=300000", "report=false", "solver.time_limit=2")


class Command:
    """A terrasim subprocess whose stderr is read line by line as it comes."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "experiments.cli", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.err: list[str] = []
        self.out: list[str] = []
        self.started = threading.Event()
        self.readers = [
            threading.Thread(target=self._read, args=(self.process.stderr, self.err), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stdout, self.out), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))
            if FIRST_BATCH.match(line):
                self.started.set()

    def wait_for_first_batch(self) -> None:
        if not self.started.wait(START_TIMEOUT_S) or self.process.poll() is not None:
            self.kill()
            pytest.fail("the run did not start simulating:\n" + "\n".join(self.err[-20:]))

    def interrupt(self) -> float:
        """SIGINT to the process group; returns the seconds until the process exited."""
        sent = time.perf_counter()
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("the run ignored SIGINT for a minute:\n" + "\n".join(self.err[-20:]))
        took = time.perf_counter() - sent
        self.join()
        return took

    def join(self) -> None:
        for reader in self.readers:
            reader.join(timeout=10)

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


def assert_stopped_by_sigint(
    command: Command, took: float, run_dir: Path, name: str = "stress"
) -> None:
    stderr = "\n".join(command.err)
    assert command.process.returncode == 130, stderr
    assert took < EXIT_AFTER_SIGINT_S, f"exited {took:.1f} s after SIGINT"
    assert "Traceback" not in stderr
    assert command.err[-1] == f"terrasim {name}: interrupted"
    marker = run_dir / INCOMPLETE_FILE
    assert marker.read_text().startswith("interrupted")
    # Nothing half-written: only whole files (atomic writes), no temporary ones left.
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_ctrl_c_stops_an_in_process_stress_run_within_seconds_with_exit_130(tmp_path: Path):
    run_dir = tmp_path / "run"
    command = Command(*LONG_STRESS, "ray.enabled=false", f"hydra.run.dir={run_dir}")
    command.wait_for_first_batch()
    time.sleep(1.0)
    took = command.interrupt()
    assert_stopped_by_sigint(command, took, run_dir)
    assert not (run_dir / "scenarios.arrow").exists()


def test_ctrl_c_stops_a_ray_stress_run_and_ray_within_seconds_with_exit_130(tmp_path: Path):
    run_dir = tmp_path / "run"
    command = Command(
        *LONG_STRESS, "ray.enabled=true", "ray.num_cpus=2", f"hydra.run.dir={run_dir}"
    )
    command.wait_for_first_batch()
    time.sleep(1.0)
    took = command.interrupt()
    assert_stopped_by_sigint(command, took, run_dir)
    # ray.shutdown ran: no raylet of this run's session is left behind.
    leftover = subprocess.run(
        ["pgrep", "-g", str(command.process.pid)], capture_output=True, text=True
    ).stdout.split()
    assert not leftover, f"processes left in the run's group: {leftover}"


def test_a_frontier_interrupted_in_its_stress_test_is_marked_incomplete(tmp_path: Path):
    # The frontier's files are written before the stress test starts; the folder must say
    # that the run did not finish (no config.yaml, no summary).
    run_dir = tmp_path / "run"
    command = Command(
        "frontier",
        "data.preset=southwest",
        "frontier.time_limit=6",
        "frontier.population=12",
        "frontier.generations=2",
        "frontier.polish=1",
        "sim.scenarios=300000",
        "ray.enabled=false",
        "report=false",
        f"hydra.run.dir={run_dir}",
    )
    command.wait_for_first_batch()
    took = command.interrupt()
    assert_stopped_by_sigint(command, took, run_dir, name="frontier")
    written = {p.name for p in run_dir.iterdir()}
    assert {"frontier.arrow", "assignment.csv", "INCOMPLETE"} <= written
    assert not {"config.yaml", "summary.arrow"} & written


def test_a_running_run_is_marked_incomplete_and_a_finished_one_is_not(tmp_path: Path):
    run_dir = tmp_path / "run"
    command = Command(
        "stress",
        "sim.scenarios=4000",
        "report=false",
        "solver.time_limit=2",
        "ray.enabled=false",
        f"hydra.run.dir={run_dir}",
    )
    command.wait_for_first_batch()
    assert (run_dir / INCOMPLETE_FILE).read_text().startswith("running")
    assert command.process.wait(timeout=300) == 0, "\n".join(command.err[-20:])
    command.join()
    assert not (run_dir / INCOMPLETE_FILE).exists()
    assert {"config.yaml", "scenarios.arrow", "summary.arrow"} <= {
        p.name for p in run_dir.iterdir()
    }


def test_a_run_failing_after_writing_results_is_marked_with_the_error(run_cli, tmp_path: Path):
    # The frontier's files are written before its stress test finds the deal size too small.
    run_dir = tmp_path / "run"
    code, _, err = run_cli(
        "frontier",
        "data.preset=southwest",
        "frontier.time_limit=6",
        "frontier.population=12",
        "frontier.generations=2",
        "frontier.polish=1",
        "sim.scenarios=10",
        "sim.deal_size=1",
        "ray.enabled=false",
        "report=false",
        f"hydra.run.dir={run_dir}",
    )
    assert code == 2 and "deal_size=1 is too small" in err
    assert (run_dir / "frontier.arrow").exists() and not (run_dir / "config.yaml").exists()
    reason = (run_dir / INCOMPLETE_FILE).read_text()
    assert reason.startswith("failed: ") and "deal_size=1 is too small" in reason
    assert reason.count("\n") == 1


def test_a_run_refused_for_bad_input_leaves_no_folder(run_cli, tmp_path: Path):
    run_dir = tmp_path / "run"
    code, _, err = run_cli(
        "stress",
        "data=files",
        f"data.accounts={tmp_path / 'missing.csv'}",
        f"data.reps={tmp_path / 'missing_reps.csv'}",
        f"hydra.run.dir={run_dir}",
    )
    assert code == 2 and "Traceback" not in err
    assert not run_dir.exists()
