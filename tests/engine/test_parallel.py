"""Ray runs the same batches as the in-process runner, byte for byte, and survives dead workers."""

from __future__ import annotations

import io
import os
import socket

import numpy as np
import pytest

from engine.errors import TerrasimError
from engine.parallel import KILL_ONCE_ENV, InProcessRunner, Progress, RayRunner, start_ray
from engine.simulation import scenarios_table, simulate_designs
from tests.engine.conftest_sim import random_instance, shifted_design

ray = pytest.importorskip("ray")

N_SCENARIOS = 24


@pytest.fixture(scope="module")
def problem():
    instance = random_instance(300, 8, seed=21)
    designs = np.stack([instance.accounts.current_rep, shifted_design(instance, 0.3)])
    return instance, designs


@pytest.fixture(scope="module")
def in_process(problem):
    """The reference: every scenario in this process (also compiles the kernel for the workers)."""
    instance, designs = problem
    return simulate_designs(
        instance,
        designs,
        n_scenarios=N_SCENARIOS,
        seed=3,
        batch_size=N_SCENARIOS,
        runner=InProcessRunner(progress=False),
    )


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory, in_process):
    """One local Ray of 2 CPUs for the module; its workers may be told to die once."""
    marker = tmp_path_factory.mktemp("kill") / "kill-once"
    os.environ[KILL_ONCE_ENV] = str(marker)  # inherited by the workers Ray starts
    start_ray(num_cpus=2)  # ray.init(num_cpus=2, include_dashboard=False), quietly
    yield marker
    ray.shutdown()
    os.environ.pop(KILL_ONCE_ENV, None)


def assert_same(result, reference):
    assert result.month_bookings.tobytes() == reference.month_bookings.tobytes()
    assert result.metrics.tobytes() == reference.metrics.tobytes()
    assert scenarios_table(result).equals(scenarios_table(reference))


@pytest.mark.parametrize("workers", [1, 2])
def test_ray_gives_the_same_bytes_for_one_and_two_workers(local_ray, problem, in_process, workers):
    instance, designs = problem
    result = simulate_designs(
        instance,
        designs,
        n_scenarios=N_SCENARIOS,
        seed=3,
        batch_size=5,
        runner=RayRunner(max_in_flight=workers, progress=False),
    )
    assert_same(result, in_process)


def test_ray_gives_the_same_bytes_for_two_batch_sizes(local_ray, problem, in_process):
    instance, designs = problem
    for batch_size in (3, 10):
        result = simulate_designs(
            instance,
            designs,
            n_scenarios=N_SCENARIOS,
            seed=3,
            batch_size=batch_size,
            runner=RayRunner(progress=False),
        )
        assert_same(result, in_process)


def test_a_killed_worker_is_retried_and_nothing_is_lost_or_counted_twice(
    local_ray, problem, in_process, capsys
):
    instance, designs = problem
    local_ray.touch()  # armed: the first task to see it kills its worker
    result = simulate_designs(
        instance,
        designs,
        n_scenarios=N_SCENARIOS,
        seed=3,
        batch_size=4,
        runner=RayRunner(progress=True),
    )
    assert not local_ray.exists()  # a worker did die
    assert_same(result, in_process)
    assert f"{N_SCENARIOS}/{N_SCENARIOS}" in capsys.readouterr().err


def test_an_error_of_the_task_itself_propagates_as_it_is(local_ray):
    with pytest.raises(ValueError, match="invalid literal"):
        RayRunner(progress=False).run(lambda shared, batch: int(batch), None, ["1", "x"], [1, 1])


def test_start_ray_reports_a_cluster_it_cannot_reach():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(
        TerrasimError, match=f"cannot reach the Ray cluster at ray.address=127.0.0.1:{port}"
    ):
        start_ray(f"127.0.0.1:{port}", timeout_s=2.0)
    with pytest.raises(TerrasimError, match="HOST:PORT"):
        start_ray("nowhere", timeout_s=2.0)
    with pytest.raises(TerrasimError, match="num_cpus applies to a local Ray only"):
        start_ray("auto", num_cpus=2)


def test_progress_bar_writes_a_first_and_a_final_line_when_not_a_terminal():
    stream = io.StringIO()
    bar = Progress(10, "scenarios", stream=stream, every_s=3600.0)
    bar.update(2)  # the first batch: a log shows the phase has started
    bar.update(2)
    bar.update(6)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "2/10" in lines[0]
    assert "[" + "#" * 30 + "] 10/10" in lines[1]


def test_progress_bar_redraws_one_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = Progress(4, "scenarios", stream=stream)
    bar.update(1)
    bar.update(3)
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and "1/4" in text and "4/4" in text


def test_two_node_cluster_gives_the_same_bytes(problem, in_process):
    """Last in the module: it replaces the local Ray with a 2-node cluster."""
    from ray.cluster_utils import Cluster

    ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        start_ray(cluster.address)  # HOST:PORT: checked for reachability, then joined
        cluster.wait_for_nodes()
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        instance, designs = problem
        result = simulate_designs(
            instance,
            designs,
            n_scenarios=N_SCENARIOS,
            seed=3,
            batch_size=3,
            runner=RayRunner(progress=False),
        )
        assert_same(result, in_process)
    finally:
        ray.shutdown()
        cluster.shutdown()
