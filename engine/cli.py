"""Hydra entry points for every experiment, with one error policy.

An error a user can cause (TerrasimError, a bad override) prints one message and exits with 2,
leaving no run folder behind; a bug keeps its traceback and exits with 1; Ctrl-C (SIGINT)
stops Ray's tasks, prints one line and exits with 130. A run folder holds an INCOMPLETE marker
until its task returns (engine/runs.py); an interrupted or failed run keeps it, with the reason.
In a multirun (`-m`) each job is resumable and a user error fails only its job (engine/sweep.py).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig

from engine.errors import INTERRUPTED_EXIT, USER_ERROR, InputWarning, TerrasimError
from engine.parallel import stop_ray
from engine.runs import INTERRUPTED, RUNNING, Results, Run, check_seeds
from engine.sweep import register_resolvers, run_sweep_job

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")
# Before Hydra composes: conf/common.yaml names the sweep folder with it.
register_resolvers()

Task = Callable[[DictConfig, Run], Results | None]


def experiment(config_name: str) -> Callable[[Task], Callable[[], None]]:
    """Turn `task(cfg, run)` into a Hydra app reading conf/`config_name`.yaml.

    The returned function parses sys.argv as Hydra overrides (`key=value`, `-m` for a sweep).
    The task may return its key results (a dict of int, float or str); a multirun collects them
    into sweep.arrow.
    """

    def decorate(task: Task) -> Callable[[], None]:
        state = {"started": False}

        def checked_task(cfg: DictConfig, run: Run) -> Results | None:
            check_seeds(cfg)
            return task(cfg, run)

        def hydra_task(cfg: DictConfig) -> None:
            state["started"] = True
            hydra_cfg = HydraConfig.get()
            run = Run(hydra_cfg.runtime.output_dir, cfg)
            with _input_warnings(config_name):
                if hydra_cfg.mode == RunMode.MULTIRUN:
                    run_sweep_job(checked_task, run, config_name)
                    if _sigint.received:  # the job failed of the Ctrl-C (Ray stopped): stop here
                        run.mark_incomplete(INTERRUPTED)
                        raise KeyboardInterrupt
                    return
                run.mark_incomplete(RUNNING)
                try:
                    if hydra_cfg.sweeper.get("params"):
                        raise TerrasimError(
                            "a sweep (sweep= preset or hydra.sweeper.params) runs only with -m"
                        )
                    checked_task(cfg, run)
                except KeyboardInterrupt:
                    run.mark_incomplete(INTERRUPTED)
                    raise
                except TerrasimError as exc:
                    if _sigint.received:  # e.g. Ray's processes stopped by the same Ctrl-C
                        run.mark_incomplete(INTERRUPTED)
                        raise KeyboardInterrupt from None
                    print(f"terrasim {config_name}: error: {exc}", file=sys.stderr)
                    _close_failed(run, f"failed: {exc}")
                    sys.exit(USER_ERROR)
                except Exception as exc:
                    if _sigint.received:
                        run.mark_incomplete(INTERRUPTED)
                        raise KeyboardInterrupt from None
                    _close_failed(run, f"failed: {type(exc).__name__}: {exc}")
                    raise
                run.mark_complete()

        hydra_task.__module__ = task.__module__
        hydra_task.__qualname__ = task.__qualname__
        app = hydra.main(config_path=CONFIG_DIR, config_name=config_name, version_base="1.3")(
            hydra_task
        )

        @functools.wraps(task)
        def main() -> None:
            state["started"] = False
            refused = data_override_error(sys.argv[1:])
            if refused:
                print(f"terrasim {config_name}: error: {refused}", file=sys.stderr)
                sys.exit(USER_ERROR)
            _sigint.received = False
            previous = signal.signal(signal.SIGINT, _on_sigint)
            try:
                app()
            except KeyboardInterrupt:
                exit_interrupted(f"terrasim {config_name}")
            except SystemExit as exc:
                if _sigint.received and exc.code != 0:
                    exit_interrupted(f"terrasim {config_name}")
                # Hydra exits with 1 for a bad override or config before the task starts.
                if exc.code == 1 and not state["started"]:
                    sys.exit(USER_ERROR)
                raise
            finally:
                signal.signal(signal.SIGINT, previous)

        return main

    return decorate


def data_override_error(args: list[str]) -> str | None:
    """Why overrides that set an input file without `data=files` are refused, or None.

    The default `data` group is a preset, with no `accounts` or `reps` key: Hydra would reject
    `data.accounts=PATH` and suggest `+data.accounts=PATH`, which the preset then ignores.
    """
    try:
        overrides = OverridesParser.create().parse_overrides(
            [a for a in args if "=" in a and not a.startswith("-")]
        )
    except HydraException:
        return None  # Hydra reports a malformed override itself
    files = [o.key_or_group for o in overrides if o.key_or_group in ("data.accounts", "data.reps")]
    group = [o for o in overrides if o.key_or_group == "data"]
    if files and not (group and (group[-1].is_sweep_override() or group[-1].value() == "files")):
        return f"{files[0]} is read only with data=files: add data=files"
    return None


@contextlib.contextmanager
def _input_warnings(config_name: str) -> Iterator[None]:
    """Print each InputWarning as one line on stderr, every time it is raised."""
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, InputWarning):
            print(f"terrasim {config_name}: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always", InputWarning)
        warnings.showwarning = show
        yield


class _SigintState:
    received = False


_sigint = _SigintState()


def _on_sigint(signum: int, frame: object) -> None:
    # As Python's default handler, but remembered: a Ctrl-C also reaches Ray's processes (same
    # process group), and the error their end causes here is then reported as the interrupt.
    _sigint.received = True
    raise KeyboardInterrupt


def exit_interrupted(command: str) -> None:
    """Stop Ray's tasks, print one line and exit with 130; a second Ctrl-C exits at once."""
    signal.signal(signal.SIGINT, lambda signum, frame: os._exit(INTERRUPTED_EXIT))
    print(f"{command}: interrupted", file=sys.stderr, flush=True)
    try:
        stop_ray()
    finally:
        sys.stdout.flush()
        sys.exit(INTERRUPTED_EXIT)


def _close_failed(run: Run, reason: str) -> None:
    """A failed run that wrote nothing leaves nothing; one that wrote results stays marked."""
    if run.holds_results():
        run.mark_incomplete(reason)
        return
    run.mark_complete()
    try:
        run.dir.rmdir()
    except OSError:
        pass
