"""Hydra entry points for every experiment, with one error policy.

An error a user can cause (TerrasimError, a bad override) prints one message and exits with 2,
leaving no run folder behind; a bug keeps its traceback and exits with 1.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from engine.errors import TerrasimError
from engine.runs import Run

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")
USER_ERROR = 2


def experiment(
    config_name: str,
) -> Callable[[Callable[[DictConfig, Run], None]], Callable[[], None]]:
    """Turn `task(cfg, run)` into a Hydra app reading conf/`config_name`.yaml.

    The returned function parses sys.argv as Hydra overrides (`key=value`, `-m` for a sweep).
    """

    def decorate(task: Callable[[DictConfig, Run], None]) -> Callable[[], None]:
        state = {"started": False}

        def hydra_task(cfg: DictConfig) -> None:
            state["started"] = True
            run = Run(HydraConfig.get().runtime.output_dir, cfg)
            try:
                task(cfg, run)
            except TerrasimError as exc:
                print(f"terrasim {config_name}: error: {exc}", file=sys.stderr)
                _remove_if_empty(run.dir)
                sys.exit(USER_ERROR)

        hydra_task.__module__ = task.__module__
        hydra_task.__qualname__ = task.__qualname__
        app = hydra.main(config_path=CONFIG_DIR, config_name=config_name, version_base="1.3")(
            hydra_task
        )

        @functools.wraps(task)
        def main() -> None:
            state["started"] = False
            try:
                app()
            except SystemExit as exc:
                # Hydra exits with 1 for a bad override or config before the task starts.
                if exc.code == 1 and not state["started"]:
                    sys.exit(USER_ERROR)
                raise

        return main

    return decorate


def _remove_if_empty(directory: Path) -> None:
    """Leave nothing behind for a run that wrote nothing."""
    try:
        directory.rmdir()
    except OSError:
        pass
