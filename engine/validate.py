"""Validation of the input tables of DESIGN §2 into an Instance.

Every check names the file, the column and up to 10 offending rows; nothing is repaired silently.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import InputError, InputWarning
from engine.io import check_unique_columns, read_table, rows_where
from engine.model import LEAVING, REP_STATUSES, Accounts, Instance, Reps
from engine.rules import BUILTIN_MEASURES, Rules

ACCOUNT_REQUIRED = ("account_id", "lat", "lon", "region", "segment", "potential", "workload")
ACCOUNT_OPTIONAL = ("name", "current_rep", "relationship_years", "locked", "barred_reps")
REP_REQUIRED = ("rep_id", "home_lat", "home_lon", "capacity", "tenure_months")
REP_OPTIONAL = ("name", "skills", "specialist", "regions", "status")
TRUE_WORDS = {"true", "t", "yes", "y", "1"}
FALSE_WORDS = {"false", "f", "no", "n", "0", ""}
# Largest column total of a summed column (potential, workload, capacity, extra measures).
TOTAL_LIMIT = float(np.sqrt(np.finfo(np.float64).max))


def read_instance(accounts_path: str | Path, reps_path: str | Path, rules: Rules) -> Instance:
    """Read and validate two input files (CSV, Parquet or Arrow IPC by extension)."""
    accounts = read_table(accounts_path)
    reps = read_table(reps_path)
    source = f"{accounts_path} + {reps_path}"
    return instance_from_tables(accounts, reps, rules, str(accounts_path), str(reps_path), source)


def instance_from_tables(
    accounts: pa.Table,
    reps: pa.Table,
    rules: Rules,
    accounts_source: str = "accounts",
    reps_source: str = "reps",
    source: str = "tables",
    check_rep_lists: bool = True,
) -> Instance:
    """Validate two tables against DESIGN §2 and build the Instance.

    `check_rep_lists` compares the reps' `regions` and `skills` with the accounts' (a value
    that matches nothing is refused or warned about); generated tables skip it, since their
    lists come from the generator's own names and a small draw may leave a state empty.

    Raises
    ------
    InputError
        The first problem found, with file, column and up to 10 rows.
    """
    rep_table = _Table(reps, reps_source)
    rep_table.require(REP_REQUIRED)
    rep_ids = rep_table.ids("rep_id")
    rep_index = {rid: j for j, rid in enumerate(rep_ids)}

    acc = _Table(accounts, accounts_source)
    acc.require(ACCOUNT_REQUIRED)
    account_ids = acc.ids("account_id")

    region_names, segment_names = _vocabularies(acc, rep_table)
    if check_rep_lists:
        _check_rep_lists(acc, rep_table, rules)
    reps_model = _build_reps(rep_table, rep_ids, region_names, segment_names)
    accounts_model = _build_accounts(
        acc, account_ids, rep_index, region_names, segment_names, rules
    )
    _check_locks(acc, accounts_model, reps_model, rules)
    _check_capacity(rep_table, accounts_model, reps_model, rules)
    return Instance(accounts=accounts_model, reps=reps_model, source=source)


class _Table:
    """A table with the file it came from, and typed column getters that raise InputError."""

    def __init__(self, table: pa.Table, source: str) -> None:
        check_unique_columns(table, source)
        self.table, self.source = table, source
        self.n = table.num_rows

    def has(self, column: str) -> bool:
        return column in self.table.column_names

    def fail(self, column: str | None, problem: str, rows=()) -> None:
        raise InputError(self.source, column, problem, rows)

    def require(self, columns: tuple[str, ...]) -> None:
        missing = [c for c in columns if not self.has(c)]
        if missing:
            found = self.table.column_names
            hint = ""
            if len(found) == 1 and any(sep in found[0] for sep in ";\t|"):
                hint = " (the file seems to use another delimiter than ',')"
            self.fail(None, f"missing column(s) {missing}; found {found}{hint}")
        if self.n == 0:
            self.fail(None, "has a header but no rows")

    def column(self, name: str) -> pa.ChunkedArray:
        return self.table.column(name)

    def text(self, name: str, required: bool = False) -> np.ndarray:
        """Text column as an object array of str; integer columns (ids as numbers) become text."""
        if not self.has(name):
            return np.full(self.n, "", dtype=object)
        col = self.column(name)
        if pa.types.is_integer(col.type):
            col = pc.cast(col, pa.string())
        elif pa.types.is_null(col.type):
            col = pa.chunked_array([pa.nulls(self.n, pa.string())])
        elif pa.types.is_dictionary(col.type):
            col = pc.cast(col, pa.string())
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            self.fail(name, f"must be text, found {col.type}")
        nulls = col.is_null().to_numpy(zero_copy_only=False)
        values = col.fill_null("").to_numpy(zero_copy_only=False).astype(object)
        if required:
            empty = nulls | (np.array([len(v.strip()) for v in values]) == 0)
            if empty.any():
                self.fail(name, "has empty values", rows_where(empty))
        return np.array([v.strip() for v in values], dtype=object)

    def ids(self, name: str) -> np.ndarray:
        values = self.text(name, required=True)
        order = np.argsort(values, kind="stable")
        sorted_values = values[order]
        dup = np.zeros(self.n, dtype=bool)
        same = sorted_values[1:] == sorted_values[:-1]
        dup[order[1:][same]] = True
        if dup.any():
            self.fail(name, "has duplicate ids", rows_where(dup))
        return values

    def number(
        self,
        name: str,
        minimum: float | None = None,
        strict: bool = False,
        default: float | None = None,
        low: float | None = None,
        high: float | None = None,
        summed: bool = False,
    ) -> np.ndarray:
        """Numeric column as float64, checked for type, nulls, NaN and range.

        `summed` columns (added up per territory) must also have a finite total.
        """
        if not self.has(name):
            return np.full(self.n, default, dtype=np.float64)
        col = self.column(name)
        if not (
            pa.types.is_integer(col.type)
            or pa.types.is_floating(col.type)
            or pa.types.is_null(col.type)
        ):
            self.fail(name, f"must be numeric, found {col.type}")
        nulls = col.is_null().to_numpy(zero_copy_only=False)
        if nulls.any():
            if default is None:
                self.fail(name, "has missing values", rows_where(nulls))
        values = col.cast(pa.float64()).fill_null(default if default is not None else 0.0)
        values = np.ascontiguousarray(values.to_numpy(), dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            self.fail(name, "has NaN or infinite values", rows_where(bad))
        if minimum is not None:
            bad = values <= minimum if strict else values < minimum
            if bad.any():
                word = "> " if strict else ">= "
                self.fail(name, f"must be {word}{minimum:g}", rows_where(bad))
        if low is not None:
            bad = (values < low) | (values > high)
            if bad.any():
                self.fail(name, f"out of range {low:g}..{high:g}", rows_where(bad))
        if summed:
            self._check_total(name, values)
        return values

    def _check_total(self, name: str, values: np.ndarray) -> None:
        """Refuse values whose column total is too large to sum and square in float64.

        Territory sums and the spreads of them (a variance squares them) stay finite when the
        column total stays below the square root of the largest float. The rows named hold at
        least 1/n of that limit each: one always does when the total is over it.
        """
        with np.errstate(over="ignore"):
            total = values.sum()
        if not total < TOTAL_LIMIT:
            huge = np.abs(values) >= TOTAL_LIMIT / self.n
            self.fail(
                name,
                "values so large that sums over them overflow (the column total must stay "
                f"below {TOTAL_LIMIT:.2g}; largest value {values.max():.3g}): check the "
                "column's unit",
                rows_where(huge),
            )

    def flag(self, name: str) -> np.ndarray:
        """Boolean column; accepts booleans, 0/1 and true/false/yes/no text. Empty = false."""
        if not self.has(name):
            return np.zeros(self.n, dtype=bool)
        col = self.column(name)
        if pa.types.is_boolean(col.type):
            return col.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        if pa.types.is_integer(col.type):
            values = col.fill_null(0).to_numpy(zero_copy_only=False)
            bad = (values != 0) & (values != 1)
            if bad.any():
                self.fail(name, "must be true/false (or 0/1)", rows_where(bad))
            return values.astype(bool)
        if pa.types.is_null(col.type):
            return np.zeros(self.n, dtype=bool)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            words = np.array(
                [w.strip().lower() for w in col.fill_null("").to_pylist()], dtype=object
            )
            is_true = np.isin(words, list(TRUE_WORDS))
            bad = ~is_true & ~np.isin(words, list(FALSE_WORDS))
            if bad.any():
                self.fail(name, "must be true/false (or 0/1)", rows_where(bad))
            return is_true
        self.fail(name, f"must be true/false, found {col.type}")
        raise AssertionError  # unreachable: fail raises


def _split_lists(values: np.ndarray) -> list[list[str]]:
    return [[p.strip() for p in v.split(";") if p.strip()] if v else [] for v in values]


def _vocabularies(acc: _Table, reps: _Table) -> tuple[tuple[str, ...], tuple[str, ...]]:
    regions = set(acc.text("region", required=True).tolist())
    segments = set(acc.text("segment", required=True).tolist())
    for listed in _split_lists(reps.text("regions")):
        regions.update(listed)
    for listed in _split_lists(reps.text("skills")):
        segments.update(listed)
    return tuple(sorted(regions)), tuple(sorted(segments))


def _check_rep_lists(acc: _Table, reps: _Table, rules: Rules) -> None:
    """Compare each rep's `regions` and `skills` with the accounts' regions and segments.

    A listed value that no account has matches nothing. Refused: a rep whose every region
    matches nothing (it could hold no account), a specialist whose every skill does (likewise),
    and, for those same lists, a value that differs from the data's only in case (a typo that
    silently narrows the territory). Regions are checked under the regions rule only, and
    skills are binding for specialists under the specialists rule only. Any other unmatched
    value is legal and gets a warning: a region with no accounts today beside regions that
    match (it adds nothing), or a skill that is not binding (no account counts as within it
    for skill mismatch).
    """
    rep_ids = reps.text("rep_id")
    specialist = reps.flag("specialist") & rules.specialists
    if rules.regions:
        binding = np.ones(reps.n, dtype=bool)
        _check_rep_list(reps, rep_ids, "regions", "region", acc.text("region"), binding)
    _check_rep_list(reps, rep_ids, "skills", "segment", acc.text("segment"), specialist)


def _check_rep_list(
    reps: _Table,
    rep_ids: np.ndarray,
    column: str,
    word: str,
    data_values: np.ndarray,
    binding: np.ndarray,
) -> None:
    """One list column of the reps against the values in the data (see _check_rep_lists)."""
    known = set(data_values.tolist())
    folded = {v.casefold(): v for v in known}
    refused: list[tuple[int, str]] = []
    for j, listed in enumerate(_split_lists(reps.text(column))):
        unmatched = [v for v in listed if v not in known]
        if not unmatched:
            continue
        guesses = [folded[v.casefold()] for v in unmatched if v.casefold() in folded]
        names = ", ".join(f"'{v}'" for v in unmatched)
        who = "specialist" if column == "skills" and binding[j] else "rep"
        head = f"{who} {rep_ids[j]} {column} {names} match no account {word}"
        if guesses:
            head += " (did you mean " + ", ".join(f"'{g}'" for g in guesses)
            head += "? names are case-sensitive)"
        tail = f"; {word}s in the data: {_listing(known)}"
        if binding[j] and (guesses or len(unmatched) == len(listed)):
            refused.append((j, head + ("" if guesses else ", so it could hold no account") + tail))
        else:
            effect = (
                "ignored"
                if column == "regions"
                else f"so no account counts as within {'it' if len(unmatched) == 1 else 'them'}"
            )
            message = f"{reps.source}, column '{column}': {head}, {effect}{tail}"
            warnings.warn(message, InputWarning, stacklevel=4)
    if refused:
        reps.fail(column, refused[0][1], [j + 1 for j, _ in refused])


def _listing(values: set[str], limit: int = 20) -> str:
    """Sorted values, comma-separated, the first `limit` of them."""
    ordered = sorted(values)
    more = f" ... ({len(ordered)} in all)" if len(ordered) > limit else ""
    return ", ".join(ordered[:limit]) + more


def _build_reps(t: _Table, ids: np.ndarray, region_names, segment_names) -> Reps:
    region_code = {r: k for k, r in enumerate(region_names)}
    segment_code = {s: k for k, s in enumerate(segment_names)}
    n = t.n
    skill = np.zeros((n, len(segment_names)), dtype=bool)
    for j, listed in enumerate(_split_lists(t.text("skills"))):
        skill[j, [segment_code[s] for s in listed]] = True
    region_ok = np.ones((n, len(region_names)), dtype=bool)
    for j, listed in enumerate(_split_lists(t.text("regions"))):
        if listed:
            region_ok[j] = False
            region_ok[j, [region_code[r] for r in listed]] = True
    specialist = t.flag("specialist")
    bad = specialist & ~skill.any(axis=1)
    if bad.any():
        t.fail("specialist", "a specialist must list its skills", rows_where(bad))
    status_text = np.array([s.lower() or "active" for s in t.text("status")], dtype=object)
    bad = ~np.isin(status_text, list(REP_STATUSES))
    if bad.any():
        t.fail("status", f"must be one of {list(REP_STATUSES)}", rows_where(bad))
    status = np.array([REP_STATUSES.index(s) for s in status_text], dtype=np.int8)
    return Reps(
        ids=ids,
        names=t.text("name"),
        home_lat=t.number("home_lat", low=-90, high=90),
        home_lon=t.number("home_lon", low=-180, high=180),
        capacity=t.number("capacity", minimum=0.0, strict=True, summed=True),
        tenure_months=t.number("tenure_months", minimum=0.0),
        skill=skill,
        specialist=specialist,
        region_ok=region_ok,
        status=status,
    )


def _build_accounts(
    t: _Table, ids, rep_index, region_names, segment_names, rules: Rules
) -> Accounts:
    region_code = {r: k for k, r in enumerate(region_names)}
    segment_code = {s: k for k, s in enumerate(segment_names)}
    region = np.array([region_code[r] for r in t.text("region", required=True)], dtype=np.int64)
    segment = np.array([segment_code[s] for s in t.text("segment", required=True)], dtype=np.int64)

    current_text = t.text("current_rep")
    unknown = np.array([bool(r) and r not in rep_index for r in current_text])
    if unknown.any():
        t.fail("current_rep", "names a rep that is not in the reps file", rows_where(unknown))
    current_rep = np.array([rep_index.get(r, -1) for r in current_text], dtype=np.int64)

    barred_lists = _split_lists(t.text("barred_reps"))
    unknown = np.array([any(r not in rep_index for r in listed) for listed in barred_lists])
    if unknown.any():
        t.fail("barred_reps", "names a rep that is not in the reps file", rows_where(unknown))
    counts = np.array([len(listed) for listed in barred_lists], dtype=np.int64)
    barred_ptr = np.zeros(t.n + 1, dtype=np.int64)
    np.cumsum(counts, out=barred_ptr[1:])
    barred_rep = np.array([rep_index[r] for listed in barred_lists for r in listed], dtype=np.int64)

    locked = t.flag("locked")
    bad = locked & (current_rep < 0)
    if bad.any():
        t.fail("locked", "a locked account needs a current_rep", rows_where(bad))

    known = set(ACCOUNT_REQUIRED) | set(ACCOUNT_OPTIONAL)
    extra = {}
    for name in t.table.column_names:
        col_type = t.column(name).type
        if name not in known and (pa.types.is_integer(col_type) or pa.types.is_floating(col_type)):
            extra[name] = t.number(name, minimum=0.0, summed=True)
    for measure in rules.balance:
        if measure not in BUILTIN_MEASURES and measure not in extra:
            t.fail(measure, "is named by objective.rules.balance but is not a numeric column")

    relationship = t.number("relationship_years", minimum=0.0, default=0.0)
    return Accounts(
        ids=ids,
        names=t.text("name"),
        lat=t.number("lat", low=-90, high=90),
        lon=t.number("lon", low=-180, high=180),
        region=region,
        segment=segment,
        potential=t.number("potential", minimum=0.0, summed=True),
        workload=t.number("workload", minimum=0.0, summed=True),
        current_rep=current_rep,
        relationship_years=np.where(current_rep >= 0, relationship, 0.0),
        locked=locked,
        barred_ptr=barred_ptr,
        barred_rep=barred_rep,
        region_names=region_names,
        segment_names=segment_names,
        extra=extra,
    )


def _check_locks(t: _Table, accounts: Accounts, reps: Reps, rules: Rules) -> None:
    """Reject locks and protections that break another hard rule: no design could meet both.

    A locked account, or one `protected_potential` keeps with its rep, on a rep who is leaving
    or may not hold it (regions, specialists, barred) must stay and must move at once.
    """
    holds = []
    if rules.locked:
        holds.append(("locked", "the lock", accounts.locked))
    if rules.protected_potential is not None:
        protected = accounts.protected_by(rules.protected_potential)
        holds.append(("potential", "objective.rules.protected_potential", protected))
    for column, hold, held in holds:
        held_rows = np.flatnonzero(held)
        for rule, bad, why in _rules_broken_in_place(accounts, reps, rules, held_rows):
            t.fail(column, f"{hold} breaks the '{rule}' rule: {why}", (held_rows[bad] + 1).tolist())


def _rules_broken_in_place(
    accounts: Accounts, reps: Reps, rules: Rules, rows: np.ndarray
) -> list[tuple[str, np.ndarray, str]]:
    """Each unary rule that forbids accounts `rows` (which must stay) their rep today.

    Returns (rule, bool[len(rows)] of the accounts it forbids, why) per such rule.
    """
    owner = accounts.current_rep[rows]
    checks = []
    if rules.regions:
        checks.append(("regions", ~reps.region_ok[owner, accounts.region[rows]]))
    if rules.specialists:
        outside = reps.specialist[owner] & ~reps.skill[owner, accounts.segment[rows]]
        checks.append(("specialists", outside))
    if rules.leaving:
        checks.append(("leaving", reps.status[owner] == LEAVING))
    if rules.barred:
        barred = np.array(
            [
                o in accounts.barred_rep[accounts.barred_ptr[i] : accounts.barred_ptr[i + 1]]
                for i, o in zip(rows, owner, strict=True)
            ],
            dtype=bool,
        )
        checks.append(("barred", barred))
    words = {
        "regions": "its current_rep does not cover its region",
        "specialists": "its current_rep is a specialist without its segment",
        "leaving": "its current_rep is leaving",
        "barred": "its current_rep is in its barred_reps",
    }
    return [(rule, bad, words[rule]) for rule, bad in checks if len(bad) and bad.any()]


def _check_capacity(t: _Table, accounts: Accounts, reps: Reps, rules: Rules) -> None:
    if not rules.capacity:
        return
    usable = reps.capacity[reps.status != LEAVING].sum() * (1.0 + rules.capacity_slack)
    need = accounts.workload.sum()
    if usable < need:
        t.fail(
            "capacity",
            f"total capacity of the staying reps ({usable:,.0f} h with "
            f"{rules.capacity_slack:.0%} slack) "
            f"is below the total workload ({need:,.0f} h) while capacity is a hard rule "
            "(add reps, or set objective.rules.capacity.enabled=false)",
        )
