"""Runners of independent batches (scenarios, ε points): in-process or as Ray tasks.

The only module that knows Ray. Experiments call `start_ray`; library code takes a runner.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from engine.errors import TerrasimError

# Test hook: when this variable names a file that exists, the first task to see it removes it
# and kills its own worker process, to check that Ray retries it (tests/engine/test_parallel.py).
KILL_ONCE_ENV = "TERRASIM_TEST_KILL_ONCE"


def start_ray(
    address: str | None = None,
    num_cpus: int | None = None,
    dashboard: bool = False,
    timeout_s: float = 10.0,
) -> None:
    """Start a local Ray instance, or join a cluster; a no-op when Ray is already running.

    Parameters
    ----------
    address : str or None
        None (or "local") starts Ray on this machine; "auto" joins the cluster this machine
        belongs to (started with `ray start`); "HOST:PORT" or "ray://HOST:PORT" joins that one.
    num_cpus : int or None
        CPUs of a local instance (all when None); only for a local instance.
    dashboard : bool
        Start the dashboard of a local instance, bound to 127.0.0.1.
    timeout_s : float
        How long to try to reach the head node of a cluster.

    Raises
    ------
    TerrasimError
        The cluster cannot be reached, or num_cpus is set when joining a cluster.
    """
    import ray

    local = address in (None, "", "local")
    if not local and num_cpus is not None:
        raise TerrasimError(
            "ray.num_cpus applies to a local Ray only; leave it null with an address"
        )
    if not local and address != "auto":
        _check_reachable(address, timeout_s)
    if ray.is_initialized():
        return
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    if local:
        with _sigint_blocked_for_children():
            ray.init(
                # "local" starts a new instance; no address would join one `ray start` left.
                address="local",
                num_cpus=num_cpus,
                include_dashboard=dashboard,
                dashboard_host="127.0.0.1",
                **quiet,
            )
        return
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, TimeoutError, ValueError) as exc:
        raise TerrasimError(
            f"cannot join the Ray cluster at ray.address={address}: {_first_line(exc)} "
            "(start one with `ray start --head`, or set ray.address=null to run locally)"
        ) from None


@contextlib.contextmanager
def _sigint_blocked_for_children():
    """Start Ray's processes with SIGINT blocked (they inherit the mask), then unblock it here.

    Ctrl-C reaches the whole process group: a raylet or GCS stopped by it makes the driver abort
    with a C++ error before it can cancel its tasks. So only the driver takes Ctrl-C and stops
    Ray itself (ray.cancel, ray.shutdown); a Ctrl-C during ray.init waits, pending, until then.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _check_reachable(address: str, timeout_s: float) -> None:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise TerrasimError(f"ray.address must be auto, null or HOST:PORT, got '{address}'")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise TerrasimError(
            f"cannot reach the Ray cluster at ray.address={address} within {timeout_s:g} s: "
            f"{exc.strerror or exc} (is `ray start --head` running there?)"
        ) from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Progress:
    """A progress bar over items (scenarios) on stderr.

    On a terminal it redraws one line; elsewhere (logs, CI) it writes a line after the first
    batch (the phase has started), then at most every `every_s` seconds, and one at the end.
    """

    def __init__(
        self,
        total: int,
        label: str = "scenarios",
        stream=None,
        enabled: bool = True,
        every_s: float = 30.0,
    ) -> None:
        self.total, self.label, self.enabled, self.every_s = total, label, enabled, every_s
        self.stream = sys.stderr if stream is None else stream
        self.done = 0
        self.start = self.last = time.perf_counter()
        self.written = False
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, n: int) -> None:
        """Count n more items done."""
        self.done += n
        now = time.perf_counter()
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + self.line(now))
            self.stream.flush()
        elif self.done < self.total and (not self.written or now - self.last >= self.every_s):
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()
            self.last, self.written = now, True

    def close(self) -> None:
        """Finish the bar with a last line."""
        if self.enabled:
            self.stream.write(("\r" if self.tty else "") + self.line(time.perf_counter()) + "\n")
            self.stream.flush()

    def line(self, now: float) -> str:
        """The bar as text: `label [####----] done/total rate/s eta`."""
        elapsed = max(now - self.start, 1e-9)
        share = self.done / self.total if self.total else 1.0
        filled = int(round(30 * share))
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        tail = f"{elapsed:.1f} s" if self.done >= self.total else f"eta {eta:.0f} s"
        return (
            f"{self.label} [{'#' * filled}{'-' * (30 - filled)}] {self.done}/{self.total}"
            f"  {rate:.1f}/s  {tail}"
        )


class InProcessRunner:
    """Runs the batches one after the other in this process (`ray.enabled=false`)."""

    def __init__(self, progress: bool = True) -> None:
        self.progress = progress

    def run(
        self,
        fn: Callable[[Any, Any], Any],
        shared: Any,
        batches: Sequence[Any],
        sizes: Sequence[int],
        label: str = "scenarios",
    ) -> list:
        """Return ``[fn(shared, batch) for batch in batches]``; sizes count items per batch."""
        bar = Progress(sum(sizes), label, enabled=self.progress)
        results = []
        for batch, size in zip(batches, sizes, strict=True):
            results.append(fn(shared, batch))
            bar.update(size)
        bar.close()
        return results


class RayRunner:
    """Runs the batches as Ray tasks of one CPU each; same results as InProcessRunner.

    `shared` goes to the object store once; at most `max_in_flight` tasks are pending (twice
    the cluster's CPUs by default) and are collected with `ray.wait`. A task whose worker dies
    is retried up to `max_retries` times; results are kept by batch index, so a retried batch
    is counted once. On an error the pending tasks are cancelled; on KeyboardInterrupt none
    is submitted any more and the ones in flight end with their batch or with `stop_ray`.
    """

    def __init__(
        self, max_in_flight: int | None = None, max_retries: int = 3, progress: bool = True
    ) -> None:
        if max_in_flight is not None and max_in_flight < 1:
            raise TerrasimError(f"max_in_flight must be >= 1, got {max_in_flight}")
        self.max_in_flight, self.max_retries, self.progress = max_in_flight, max_retries, progress

    def run(
        self,
        fn: Callable[[Any, Any], Any],
        shared: Any,
        batches: Sequence[Any],
        sizes: Sequence[int],
        label: str = "scenarios",
    ) -> list:
        """Return ``[fn(shared, batch) for batch in batches]``, computed by Ray tasks.

        Raises
        ------
        TerrasimError
            Ray is not started (see `start_ray`), or a batch was lost after its retries (its
            workers or node died). An exception raised by fn itself propagates.
        """
        import ray

        if not ray.is_initialized():
            raise TerrasimError("Ray is not started: call engine.parallel.start_ray first")
        limit = self.max_in_flight or max(1, 2 * int(ray.cluster_resources().get("CPU", 1)))
        task = ray.remote(_run_task).options(num_cpus=1, max_retries=self.max_retries)
        shared_ref = ray.put(shared)
        bar = Progress(sum(sizes), label, enabled=self.progress)
        results: list = [None] * len(batches)
        pending: dict = {}
        next_batch = 0
        try:
            while next_batch < len(batches) or pending:
                while next_batch < len(batches) and len(pending) < limit:
                    ref = task.remote(fn, shared_ref, batches[next_batch])
                    pending[ref] = next_batch
                    next_batch += 1
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    index = pending.pop(ref)
                    results[index] = ray.get(ref)
                    bar.update(sizes[index])
        except BaseException as exc:
            # An error: stop the outstanding tasks. Ctrl-C: submit no more and leave the tasks
            # in flight (one batch each) to ray.shutdown, which the CLI calls: cancelling them
            # then raced Ray's own completion and aborted the driver in about 1 run in 6 (Ray
            # 2.60: "Check failed: ... Tried to complete task that was not pending").
            if not isinstance(exc, KeyboardInterrupt):
                _cancel(pending)
            # RayTaskError is an error of fn itself and propagates; other Ray errors lost workers.
            errors = ray.exceptions
            if isinstance(exc, errors.RayError) and not isinstance(exc, errors.RayTaskError):
                raise TerrasimError(
                    f"Ray lost a batch (after {self.max_retries} retries): {_first_line(exc)}"
                ) from None
            raise
        bar.close()
        return results


def _cancel(refs) -> None:
    import ray

    for ref in refs:
        try:
            ray.cancel(ref, force=True)
        except Exception:  # a task that finished, or whose worker died, meanwhile
            pass


def stop_ray() -> None:
    """Shut down this process's Ray (local instance or connection), if it started one."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


def _run_task(fn: Callable[[Any, Any], Any], shared: Any, batch: Any) -> Any:
    """Body of a Ray task: one thread for Numba (the task holds one CPU), then fn."""
    import numba

    marker = os.environ.get(KILL_ONCE_ENV)
    if marker:
        try:
            os.remove(marker)
        except FileNotFoundError:
            pass
        else:
            os._exit(1)
    numba.set_num_threads(1)
    return fn(shared, batch)


def runner_from_config(ray_cfg: Any, progress: bool = True) -> InProcessRunner | RayRunner:
    """The runner a `ray` config asks for; starts or joins Ray when it is enabled.

    Called by experiments only: library functions take a runner and never start Ray.
    """
    if not ray_cfg.get("enabled", True):
        return InProcessRunner(progress=progress)
    start_ray(
        address=ray_cfg.get("address"),
        num_cpus=ray_cfg.get("num_cpus"),
        dashboard=bool(ray_cfg.get("dashboard", False)),
    )
    return RayRunner(progress=progress)
