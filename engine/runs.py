"""A run folder: the composed config, result files with provenance, all written atomically.

DESIGN §6: every Arrow file records the config, the seed, the package version, the git commit
and the library versions in its schema metadata, so a result can be traced and re-run. A run
that has not finished (running, interrupted, failed) holds an INCOMPLETE file saying why.
"""

from __future__ import annotations

import functools
import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from omegaconf import DictConfig, OmegaConf

from engine.errors import TerrasimError
from engine.io import write_atomic, write_table_atomic, write_text_atomic

LIBRARIES = ("numba", "numpy", "ray", "pyarrow", "pymoo", "hydra-core", "scipy")
# Keys that choose how a run executes, never what it computes: left out of the recorded config
# so that the same job on 1 or 16 workers writes the same bytes.
EXECUTION_KEYS = ("ray", "report")
EXECUTION_SUBKEYS = (("sim", "batch_size"),)
# What an experiment may return: its key results by name, collected into sweep.arrow.
Results = dict[str, int | float | str]
# Seeds reach numpy and the Numba kernels as 64-bit integers.
MAX_SEED = 2**63 - 1
# Present while a run is not complete: written when it starts, removed once config.yaml and
# every result are written; an interrupted or failed run keeps it, with the reason.
INCOMPLETE_FILE = "INCOMPLETE"
RUNNING = "running: started and not finished (or its process was killed)"
INTERRUPTED = "interrupted (SIGINT, Ctrl-C) before the run finished"


def recorded_config(cfg: DictConfig) -> dict[str, Any]:
    """The config as it is recorded in results: resolved, without execution-only keys."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    recorded = {k: v for k, v in plain.items() if k not in EXECUTION_KEYS and k != "hydra"}
    for group, key in EXECUTION_SUBKEYS:
        if isinstance(recorded.get(group), dict):
            recorded[group] = {k: v for k, v in recorded[group].items() if k != key}
    return recorded


def check_seeds(cfg: DictConfig) -> None:
    """Refuse any `seed` of the config (`seed`, `solver.seed`, ...) that is not an integer.

    Checked once, before a run starts: a seed read as text or a float would otherwise fail
    deep inside one command and be taken silently by another.

    Raises
    ------
    TerrasimError
        Naming the key and the value given.
    """
    plain = OmegaConf.to_container(cfg, resolve=True)
    for key, value in _seeds(plain, ""):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
            raise TerrasimError(
                f"{key} must be an integer from 0 to 2**63-1, got {value!r} "
                f"({type(value).__name__})"
            )


def _seeds(node: Any, prefix: str):
    """(dotted key, value) of every key named `seed` in a plain config."""
    if isinstance(node, dict):
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if key == "seed":
                yield dotted, value
            else:
                yield from _seeds(value, f"{dotted}.")


@functools.cache
def package_version() -> str:
    """Installed version of terrasim, or 'unknown' when run from an uninstalled tree."""
    try:
        return metadata.version("terrasim")
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def git_commit() -> str:
    """Commit of the source tree terrasim runs from, 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


@functools.cache
def library_versions() -> dict[str, str]:
    """Versions of the libraries that can change a number."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def provenance(cfg: DictConfig) -> dict[bytes, bytes]:
    """Schema metadata for a result file (DESIGN §6)."""
    config = recorded_config(cfg)
    return {
        b"terrasim.config": json.dumps(config, sort_keys=True).encode(),
        b"terrasim.seed": str(config.get("seed", "")).encode(),
        b"terrasim.version": package_version().encode(),
        b"terrasim.git_commit": git_commit().encode(),
        b"terrasim.libraries": json.dumps(library_versions(), sort_keys=True).encode(),
    }


class Run:
    """The folder one job writes into, and the composed config it ran with."""

    def __init__(self, directory: str | Path, cfg: DictConfig) -> None:
        self.dir = Path(directory)
        self.cfg = cfg

    def write_table(self, name: str, table: pa.Table) -> Path:
        """Write `name`.arrow (zstd-compressed Arrow IPC) with provenance metadata."""
        meta = dict(table.schema.metadata or {})
        meta.update(provenance(self.cfg))
        return write_table_atomic(table.replace_schema_metadata(meta), self.dir / f"{name}.arrow")

    def write_csv(self, name: str | Path, table: pa.Table) -> Path:
        """Write a CSV file (for CRM import) atomically; an absolute `name` may be elsewhere."""
        return write_atomic(self.dir / name, lambda tmp: pacsv.write_csv(table, tmp))

    def save_config(self) -> Path:
        """Write the composed config as config.yaml beside the results."""
        text = OmegaConf.to_yaml(OmegaConf.create(recorded_config(self.cfg)))
        return write_text_atomic(self.dir / "config.yaml", text)

    @property
    def marker(self) -> Path:
        """The INCOMPLETE file: present while the run is not complete."""
        return self.dir / INCOMPLETE_FILE

    def mark_incomplete(self, reason: str) -> Path:
        """Write (or rewrite) the INCOMPLETE marker with `reason` on one line."""
        return write_text_atomic(self.marker, " ".join(reason.split()) + "\n")

    def mark_complete(self) -> None:
        """Remove the marker: config.yaml and every result are written."""
        self.marker.unlink(missing_ok=True)

    def is_complete(self) -> bool:
        """Whether the folder carries no INCOMPLETE marker."""
        return not self.marker.exists()

    def holds_results(self) -> bool:
        """Whether the folder holds anything besides the marker."""
        if not self.dir.is_dir():
            return False
        return any(entry.name != INCOMPLETE_FILE for entry in self.dir.iterdir())
