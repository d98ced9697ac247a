"""Loading the instance a run works on, from the `data` config group (DESIGN §2)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from omegaconf.errors import MissingMandatoryValue

from engine.errors import InputError, TerrasimError
from engine.io import read_table, rows_where
from engine.model import Instance
from engine.problem import Problem, build_problem
from engine.rules import Rules, objective_from_config
from engine.validate import instance_from_tables, read_instance

FILE_KEYS = ("accounts", "reps")  # the keys of `data=files`


def load_instance(data_cfg: Any, rules: Rules, seed: int) -> Instance:
    """Read or generate the instance named by a `data` config.

    Parameters
    ----------
    data_cfg : DictConfig or dict
        `kind: synthetic` with `preset` (and optional `n_accounts`, `n_reps`), or
        `kind: files` with `accounts` and `reps` paths.
    rules : Rules
        Hard rules, for the checks that depend on them (locks, total capacity).
    seed : int
        Seed of the synthetic generator.
    """
    kind = data_cfg.get("kind")
    if kind == "synthetic":
        from engine.generator import PRESETS, generate_instance

        given = [k for k in FILE_KEYS if k in data_cfg]
        if given:
            # Without this a `+data.accounts=...` would be dropped and the preset used.
            raise TerrasimError(
                f"data.{given[0]} is read only with data=files: add data=files "
                "(data=files data.accounts=PATH data.reps=PATH)"
            )
        preset = data_cfg.get("preset")
        if preset not in PRESETS:
            raise TerrasimError(f"data.preset: unknown preset '{preset}'; one of {sorted(PRESETS)}")
        accounts, reps = generate_instance(
            preset, seed=seed, n_accounts=data_cfg.get("n_accounts"), n_reps=data_cfg.get("n_reps")
        )
        return instance_from_tables(
            accounts,
            reps,
            rules,
            f"{preset}:accounts",
            f"{preset}:reps",
            f"preset {preset}",
            check_rep_lists=False,
        )
    if kind == "files":
        accounts, reps = (_file_path(data_cfg, key) for key in FILE_KEYS)
        return read_instance(accounts, reps, rules)
    raise TerrasimError(f"data.kind must be 'synthetic' or 'files', got {kind!r}")


def _file_path(data_cfg: Any, key: str) -> str:
    """The path `data.KEY` of a files config, or a TerrasimError saying how to give it."""
    try:
        value = data_cfg.get(key)
    except MissingMandatoryValue:
        value = None
    if value is None or value == "???":
        raise TerrasimError(f"data=files needs data.{key}=PATH (the {key} file)")
    if not str(value).strip():
        raise TerrasimError(f"data.{key} is empty: give data.{key}=PATH (the {key} file)")
    return str(value)


def load_assignment(path: str, instance: Instance) -> np.ndarray:
    """Read an assignment file (account_id, rep_id) into rep indices per account.

    Every account must appear exactly once; an empty rep_id leaves the account unassigned.
    """
    table = read_table(path)
    for column in ("account_id", "rep_id"):
        if column not in table.column_names:
            raise InputError(path, column, f"missing column; found {table.column_names}")
    if table.num_rows == 0:
        raise InputError(path, None, "has a header but no rows")
    account_ids = _as_text(table.column("account_id"), path, "account_id")
    rep_ids = _as_text(table.column("rep_id"), path, "rep_id")
    account_index = {a: i for i, a in enumerate(instance.accounts.ids)}
    rep_index = {r: j for j, r in enumerate(instance.reps.ids)}

    rows = np.array([account_index.get(a, -1) for a in account_ids], dtype=np.int64)
    if (rows < 0).any():
        raise InputError(
            path, "account_id", "names an account not in the input", rows_where(rows < 0)
        )
    seen = np.zeros(instance.accounts.n_accounts, dtype=np.int64)
    np.add.at(seen, rows, 1)
    if (seen > 1).any():
        dup = np.isin(rows, np.flatnonzero(seen > 1))
        raise InputError(path, "account_id", "lists an account twice", rows_where(dup))
    if (seen == 0).any():
        missing = instance.accounts.ids[seen == 0]
        raise InputError(
            path,
            "account_id",
            f"misses {int((seen == 0).sum())} account(s), e.g. {list(missing[:10])}",
        )
    reps = np.array([rep_index.get(r, -2) if r else -1 for r in rep_ids], dtype=np.int64)
    if (reps == -2).any():
        raise InputError(path, "rep_id", "names a rep not in the input", rows_where(reps == -2))
    assignment = np.full(instance.accounts.n_accounts, -1, dtype=np.int64)
    assignment[rows] = reps
    return assignment


def _as_text(column: pa.ChunkedArray, path: str, name: str) -> list[str]:
    if pa.types.is_integer(column.type):
        column = column.cast(pa.string())
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise InputError(path, name, f"must be text, found {column.type}")
    return [str(v).strip() for v in column.fill_null("").to_pylist()]


def load_problem(cfg: Any) -> Problem:
    """The problem a run works on: its `objective` config applied to the `data` instance."""
    objective = objective_from_config(cfg.objective)
    return build_problem(load_instance(cfg.data, objective.rules, cfg.seed), objective)
