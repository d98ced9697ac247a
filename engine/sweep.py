"""Multirun sweeps (DESIGN §6): a folder named by the sweep, resumable jobs, sweep.arrow.

Each job of a multirun writes result.arrow last (its status and key results), so a job folder
that has it finished. Rerunning the same command finds the same folder, skips those jobs and
runs the rest; at the end every job's row is collected into sweep.arrow.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict, read_write

from engine.errors import USER_ERROR, InputError, TerrasimError
from engine.io import read_arrow
from engine.runs import INTERRUPTED, RUNNING, Results, Run, provenance

RESULT_FILE = "result.arrow"
SWEEP_FILE = "sweep.arrow"
FINISHED = "finished"
FAILED = "failed"
# Columns of result.arrow and sweep.arrow that a task's results may not use.
JOB_COLUMNS = ("job", "status", "overrides", "message")
SWEEP_ID_RESOLVER = "terrasim.sweep_id"


def sweep_id(overrides: Any, params: Any) -> str:
    """A short stable name for a sweep: a hash of its command-line overrides and sweeper params.

    Parameters
    ----------
    overrides : list of str
        `hydra.overrides.task` of the multirun, as typed (`seed=1,2`).
    params : dict or None
        `hydra.sweeper.params` (set by a `sweep=` preset).
    """
    plain = [
        OmegaConf.to_container(x) if isinstance(x, DictConfig | ListConfig) else x
        for x in (overrides, params)
    ]
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()[:10]


def register_resolvers() -> None:
    """Register `${terrasim.sweep_id:...}`, which conf/common.yaml names the sweep folder with.

    Cached by its literal arguments: Hydra composes each job's config with the job's own
    overrides but copies the multirun's resolver cache into it, so every job resolves the
    sweep folder of the multirun, not one of its own.
    """
    if not OmegaConf.has_resolver(SWEEP_ID_RESOLVER):
        OmegaConf.register_new_resolver(SWEEP_ID_RESOLVER, sweep_id, use_cache=True)


def run_sweep_job(task: Callable[[DictConfig, Run], Results | None], run: Run, name: str) -> None:
    """Run one job of a multirun, or skip it when its folder says it finished earlier.

    A job that was interrupted, failed or ran under another config starts again from an empty
    folder. A user error (TerrasimError) is recorded as a failed job and the sweep goes on.
    """
    hydra_cfg = HydraConfig.get()
    job = int(hydra_cfg.job.num)
    overrides = [str(o) for o in hydra_cfg.overrides.task]
    if is_finished(run):
        print(f"job {job}: finished earlier, skipped")
        return
    sweep_dir = Path(hydra_cfg.sweep.dir)
    clear_job_folder(run.dir, sweep_dir)
    print(f"job {job}: {' '.join(overrides)}")
    run.mark_incomplete(RUNNING)
    try:
        results = task(run.cfg, run)
    except KeyboardInterrupt:
        run.mark_incomplete(INTERRUPTED)
        raise
    except TerrasimError as exc:
        print(f"terrasim {name}: job {job}: error: {exc}", file=sys.stderr)
        clear_job_folder(run.dir, sweep_dir)
        write_result(run, job, overrides, FAILED, str(exc), {})
        run.mark_complete()  # result.arrow (status failed) is the whole record of this job
        return
    write_result(run, job, overrides, FINISHED, "", checked_results(results))
    run.mark_complete()


def is_finished(run: Run) -> bool:
    """Whether the job folder holds a finished result computed under this same config."""
    path = run.dir / RESULT_FILE
    if not path.is_file() or not run.is_complete():
        return False
    try:
        table = read_arrow(path)
    except InputError:
        return False
    if table.num_rows != 1 or table.column("status")[0].as_py() != FINISHED:
        return False
    recorded = (table.schema.metadata or {}).get(b"terrasim.config")
    return recorded == provenance(run.cfg)[b"terrasim.config"]


def clear_job_folder(job_dir: Path, sweep_dir: Path) -> None:
    """Delete the files an earlier attempt left in a job folder inside the sweep folder.

    Only plain files at the top of a folder strictly inside the sweep folder: a
    `hydra.sweep.subdir` that points elsewhere is never emptied.
    """
    job_dir, sweep_dir = job_dir.resolve(), sweep_dir.resolve()
    if sweep_dir not in job_dir.parents or not job_dir.is_dir():
        return
    for entry in job_dir.iterdir():
        if entry.is_file() or entry.is_symlink():
            entry.unlink()


def checked_results(results: object) -> Results:
    """A task's key results as plain Python values; anything else is a bug in the task."""
    if results is None:
        return {}
    if not isinstance(results, Mapping):
        raise TypeError(f"an experiment returns a dict of key results or None, not {results!r}")
    checked: Results = {}
    for key, value in results.items():
        if not isinstance(key, str) or key in JOB_COLUMNS:
            raise TypeError(f"result name {key!r} is not a str or is one of {JOB_COLUMNS}")
        if isinstance(value, np.generic):
            value = value.item()
        if value is not None and not isinstance(value, bool | int | float | str):
            raise TypeError(f"result {key!r} is {type(value).__name__}, not int, float or str")
        checked[key] = value
    return checked


def write_result(
    run: Run, job: int, overrides: Sequence[str], status: str, message: str, results: Results
) -> Path:
    """Write result.arrow, the job's one row: written last, it marks the job finished."""
    columns = {
        "job": pa.array([job], pa.int64()),
        "status": pa.array([status], pa.string()),
        "overrides": pa.array([list(overrides)], pa.list_(pa.string())),
        "message": pa.array([message], pa.string()),
    }
    for key, value in results.items():
        columns[key] = typed_column([value])
    return run.write_table(Path(RESULT_FILE).stem, pa.table(columns))


def sweep_table(job_dirs: Sequence[Path]) -> pa.Table:
    """One row per job: number, status, overrides (a typed column per key), results, message.

    Parameters
    ----------
    job_dirs : sequence of Path
        Folders of the jobs, each holding result.arrow.
    """
    rows = sorted((read_arrow(d / RESULT_FILE).to_pylist()[0] for d in job_dirs), key=_job)
    parser = OverridesParser.create()
    override_values: list[dict[str, Any]] = []
    for row in rows:
        values = {}
        for override in parser.parse_overrides(row["overrides"]):
            key = override.key_or_group + (f"@{override.package}" if override.package else "")
            values[key] = None if override.is_delete() else override.value()
        override_values.append(values)
    result_values = [{k: v for k, v in row.items() if k not in JOB_COLUMNS} for row in rows]
    columns = {
        "job": pa.array([row["job"] for row in rows], pa.int64()),
        "status": pa.array([row["status"] for row in rows], pa.string()),
        "overrides": pa.array([row["overrides"] for row in rows], pa.list_(pa.string())),
    }
    for key in _keys(override_values):
        columns[key] = typed_column([values.get(key) for values in override_values])
    for key in _keys(result_values):
        # An override names the sweep's coordinates; a result of the same name steps aside.
        name = f"result.{key}" if key in columns else key
        columns[name] = typed_column([values.get(key) for values in result_values])
    columns["message"] = pa.array([row["message"] for row in rows], pa.string())
    return pa.table(columns)


def typed_column(values: Sequence[Any]) -> pa.Array:
    """Values of one key across jobs: bool, int64, float64, string for anything mixed, or null."""
    present = [v for v in values if v is not None]
    if not present:
        return pa.nulls(len(values))
    if all(isinstance(v, bool) for v in present):
        return pa.array(values, pa.bool_())
    if any(isinstance(v, bool) for v in present) or not all(
        isinstance(v, int | float) for v in present
    ):
        return pa.array([None if v is None else _text(v) for v in values], pa.string())
    if all(isinstance(v, int) for v in present):
        return pa.array(values, pa.int64())
    return pa.array([None if v is None else float(v) for v in values], pa.float64())


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _keys(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Keys in order of first appearance."""
    return list(dict.fromkeys(k for record in records for k in record))


def _job(row: Mapping[str, Any]) -> int:
    return int(row["job"])


def task_config(config: DictConfig) -> DictConfig:
    """The config without its hydra node, as a job's task sees it."""
    cfg = copy.deepcopy(config)
    with read_write(cfg), open_dict(cfg):
        del cfg["hydra"]
    return cfg


def write_sweep(config: DictConfig, job_dirs: Sequence[Path]) -> tuple[Path, pa.Table]:
    """Write sweep.arrow into the sweep folder, with the multirun's provenance."""
    sweep_dir = Path(config.hydra.sweep.dir)
    table = sweep_table(job_dirs)
    sweep = {
        "overrides": OmegaConf.to_container(config.hydra.overrides.task),
        "params": OmegaConf.to_container(config.hydra.sweeper.params)
        if config.hydra.sweeper.get("params")
        else {},
    }
    meta = {b"terrasim.sweep": json.dumps(sweep, sort_keys=True).encode()}
    table = table.replace_schema_metadata(meta)
    return Run(sweep_dir, task_config(config)).write_table(Path(SWEEP_FILE).stem, table), table


class SweepCallback(Callback):
    """Hydra callback (conf/common.yaml `hydra.callbacks`): names the folder, writes sweep.arrow."""

    def __init__(self) -> None:
        self.job_dirs: dict[int, Path] = {}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Say where the sweep writes (the same folder when the command is run again)."""
        self.job_dirs = {}
        print(f"sweep folder: {config.hydra.sweep.dir}")

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        """Note the folder of each job that ran or was skipped."""
        if config.hydra.mode == RunMode.MULTIRUN:  # called after a single run too
            self.job_dirs[int(config.hydra.job.num)] = Path(config.hydra.runtime.output_dir)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Write sweep.arrow; exit 2 when a job failed with a user error."""
        name = config.hydra.job.name
        try:
            path, table = write_sweep(config, [self.job_dirs[k] for k in sorted(self.job_dirs)])
        except Exception:
            # Hydra turns an exception in a callback into a warning; a bug must stop the run.
            traceback.print_exc()
            raise SystemExit(1) from None
        failed = table.column("status").to_pylist().count(FAILED)
        print(f"wrote {path} ({table.num_rows} jobs)")
        if failed:
            print(
                f"terrasim {name}: {failed} of {table.num_rows} jobs failed (see the message "
                f"column of {path}); rerunning the same command retries them",
                file=sys.stderr,
            )
            raise SystemExit(USER_ERROR)
