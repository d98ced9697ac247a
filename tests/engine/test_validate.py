"""Every kind of bad input of DESIGN §2 gets a clear InputError: file, column, rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.data import load_instance
from engine.errors import InputError, InputWarning, TerrasimError
from engine.rules import Rules
from engine.validate import instance_from_tables, read_instance
from tests.conftest import account_columns, rep_columns, write_csv

RULES = Rules()


def check(accounts: dict, reps: dict, rules: Rules = RULES):
    return instance_from_tables(
        pa.table(accounts), pa.table(reps), rules, "accounts.csv", "reps.csv"
    )


def test_small_instance_is_valid():
    instance = check(account_columns(), rep_columns())
    acc, reps = instance.accounts, instance.reps
    assert acc.n_accounts == 8 and reps.n_reps == 3
    assert acc.current_rep.tolist() == [0, 0, 0, 1, 2, 2, 2, -1]
    assert acc.barred_rep.tolist() == [2] and acc.barred_ptr[2] - acc.barred_ptr[1] == 1
    assert reps.region_ok[1].all()  # no regions listed: any region
    assert reps.region_ok[0, acc.region_names.index("NY")] == np.False_
    assert reps.skill[2, acc.segment_names.index("tech")]


def bad(mutate_accounts=None, mutate_reps=None):
    accounts, reps = account_columns(), rep_columns()
    if mutate_accounts:
        mutate_accounts(accounts)
    if mutate_reps:
        mutate_reps(reps)
    return accounts, reps


def set_value(column, row, value):
    def mutate(columns):
        columns[column][row] = value

    return mutate


def drop(column):
    return lambda columns: columns.pop(column)


BAD_INPUTS = {
    "missing account column": (bad(drop("potential")), "accounts.csv", "potential", None),
    "missing rep column": (bad(None, drop("capacity")), "reps.csv", "capacity", None),
    "negative potential": (bad(set_value("potential", 2, -5.0)), "accounts.csv", "potential", "3"),
    "NaN workload": (bad(set_value("workload", 4, float("nan"))), "accounts.csv", "workload", "5"),
    "missing value": (bad(set_value("workload", 1, None)), "accounts.csv", "workload", "2"),
    "latitude out of range": (bad(set_value("lat", 0, 95.0)), "accounts.csv", "lat", "1"),
    "longitude out of range": (bad(set_value("lon", 6, -200.0)), "accounts.csv", "lon", "7"),
    "rep home out of range": (
        bad(None, set_value("home_lat", 1, -91.0)),
        "reps.csv",
        "home_lat",
        "2",
    ),
    "duplicate account": (bad(set_value("account_id", 5, "A1")), "accounts.csv", "account_id", "6"),
    "duplicate rep": (bad(None, set_value("rep_id", 2, "R1")), "reps.csv", "rep_id", "3"),
    "empty account id": (bad(set_value("account_id", 3, "")), "accounts.csv", "account_id", "4"),
    "unknown current rep": (
        bad(set_value("current_rep", 4, "R9")),
        "accounts.csv",
        "current_rep",
        "5",
    ),
    "unknown barred rep": (
        bad(set_value("barred_reps", 0, "R9")),
        "accounts.csv",
        "barred_reps",
        "1",
    ),
    "zero capacity": (bad(None, set_value("capacity", 0, 0.0)), "reps.csv", "capacity", "1"),
    "negative tenure": (
        bad(None, set_value("tenure_months", 2, -1.0)),
        "reps.csv",
        "tenure_months",
        "3",
    ),
    "unknown status": (bad(None, set_value("status", 1, "retired")), "reps.csv", "status", "2"),
    "specialist without skills": (
        bad(None, set_value("specialist", 0, True)),
        "reps.csv",
        "specialist",
        "1",
    ),
    "text in a numeric column": (
        bad(lambda c: c.update(potential=[str(v) for v in c["potential"]])),
        "accounts.csv",
        "potential",
        None,
    ),
    "locked without current rep": (
        bad(set_value("locked", 7, True)),
        "accounts.csv",
        "locked",
        "8",
    ),
    "lock outside the rep's regions": (
        bad(lambda c: (c["locked"].__setitem__(4, True), c["current_rep"].__setitem__(4, "R1"))),
        "accounts.csv",
        "locked",
        "5",
    ),
    "lock on a specialist outside its skills": (
        bad(lambda c: (c["locked"].__setitem__(1, True), c["current_rep"].__setitem__(1, "R2"))),
        "accounts.csv",
        "locked",
        "2",
    ),
    "lock on a barred rep": (
        bad(lambda c: (c["locked"].__setitem__(1, True), c["barred_reps"].__setitem__(1, "R1"))),
        "accounts.csv",
        "locked",
        "2",
    ),
    "lock on a leaving rep": (
        bad(set_value("locked", 0, True), set_value("status", 0, "leaving")),
        "accounts.csv",
        "locked",
        "1",
    ),
    "capacity far below workload": (
        bad(None, lambda c: c.update(capacity=[10.0, 10.0, 10.0])),
        "reps.csv",
        "capacity",
        None,
    ),
    "bad boolean": (
        bad(lambda c: c.update(locked=["no"] * 7 + ["maybe"])),
        "accounts.csv",
        "locked",
        "8",
    ),
    "rep regions that match no account region": (
        bad(None, set_value("regions", 2, "New York;Connecticut")),
        "reps.csv",
        "regions",
        "3",
    ),
    "rep region that differs in case": (
        bad(None, set_value("regions", 0, "MA;ri;CT")),
        "reps.csv",
        "regions",
        "1",
    ),
    "specialist skills that match no segment": (
        bad(None, set_value("skills", 1, "health")),
        "reps.csv",
        "skills",
        "2",
    ),
    "specialist skill that differs in case": (
        bad(None, set_value("skills", 1, "Healthcare")),
        "reps.csv",
        "skills",
        "2",
    ),
    "potential whose total overflows": (
        bad(lambda c: c.update(potential=[1e308, 1.0, 1.0, 1e308, 1.0, 1.0, 1.0, 1.0])),
        "accounts.csv",
        "potential",
        "1, 4",
    ),
    "potential too large to square": (
        bad(set_value("potential", 6, 1e200)),
        "accounts.csv",
        "potential",
        "7",
    ),
    "workload whose total overflows": (
        bad(lambda c: c.update(workload=[1.7e308] * 8)),
        "accounts.csv",
        "workload",
        "1, 2, 3, 4, 5, 6, 7, 8",
    ),
    "capacity whose total overflows": (
        bad(None, lambda c: c.update(capacity=[400.0, 1.7e308, 1.7e308])),
        "reps.csv",
        "capacity",
        "2, 3",
    ),
    "extra measure whose total overflows": (
        bad(lambda c: c.update(visits=[1e308] * 8)),
        "accounts.csv",
        "visits",
        "1, 2, 3",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_names_file_column_and_rows(case):
    (accounts, reps), source, column, row = BAD_INPUTS[case]
    with pytest.raises(InputError) as info:
        check(accounts, reps)
    message = str(info.value)
    assert message.startswith(source), message
    assert column in message, message
    if row is not None:
        assert f"rows {row}" in message, message


def test_at_most_ten_rows_are_listed():
    accounts = account_columns()
    accounts = {k: v * 3 for k, v in accounts.items()}
    accounts["account_id"] = [f"A{i}" for i in range(24)]
    accounts["potential"] = [-1.0] * 24
    with pytest.raises(InputError) as info:
        check(accounts, rep_columns())
    assert "rows 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 (and 14 more)" in str(info.value)


def test_capacity_check_is_off_when_capacity_is_soft():
    reps = rep_columns()
    reps["capacity"] = [10.0, 10.0, 10.0]
    assert check(account_columns(), reps, Rules(capacity=False)).reps.n_reps == 3


def test_lock_rules_apply_only_when_switched_on():
    accounts = account_columns()
    accounts["locked"][4], accounts["current_rep"][4] = True, "R1"
    assert check(accounts, rep_columns(), Rules(regions=False)).accounts.locked[4]


def test_numeric_ids_match_text_ids(tmp_path: Path):
    accounts, reps = account_columns(), rep_columns()
    reps["rep_id"] = [101, 102, 103]
    accounts["current_rep"] = ["101", "101", "101", "102", "103", "103", "103", ""]
    accounts["barred_reps"] = ["", "103", "", "", "", "", "", ""]
    pq.write_table(pa.table(reps), tmp_path / "reps.parquet")  # rep_id stored as int64
    write_csv(tmp_path / "accounts.csv", accounts)
    instance = read_instance(tmp_path / "accounts.csv", tmp_path / "reps.parquet", RULES)
    assert instance.reps.ids.tolist() == ["101", "102", "103"]
    assert instance.accounts.current_rep.tolist() == [0, 0, 0, 1, 2, 2, 2, -1]


def test_account_ids_that_look_like_numbers_stay_text(tmp_path: Path):
    accounts = account_columns()
    accounts["account_id"] = ["007", "7", "8", "9", "10", "11", "12", "13"]
    write_csv(tmp_path / "accounts.csv", accounts)
    write_csv(tmp_path / "reps.csv", rep_columns())
    instance = read_instance(tmp_path / "accounts.csv", tmp_path / "reps.csv", RULES)
    assert instance.accounts.ids[:2].tolist() == ["007", "7"]


def test_parquet_column_of_the_wrong_type(tmp_path: Path):
    accounts = account_columns()
    accounts["workload"] = [str(w) for w in accounts["workload"]]
    pq.write_table(pa.table(accounts), tmp_path / "accounts.parquet")
    write_csv(tmp_path / "reps.csv", rep_columns())
    with pytest.raises(InputError, match=r"accounts.parquet, column 'workload': must be numeric"):
        read_instance(tmp_path / "accounts.parquet", tmp_path / "reps.csv", RULES)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "file is empty"),
        (b"account_id,lat,lon,region,segment,potential,workload\n", "header but no rows"),
        (
            b"account_id;lat;lon;region;segment;potential;workload\nA1;1;1;MA;x;1;1\n",
            "another delimiter",
        ),
        (
            b"account_id,lat,lon,region,segment,potential,workload\nA1,1,1,M\xe9A,x,1,1\n",
            "could not be read as csv",
        ),
        (b"account_id,lat,lon\n1,2\n3,4,5,6\n", "could not be read as csv"),
    ],
    ids=["empty file", "header only", "wrong delimiter", "non-UTF-8 bytes", "ragged rows"],
)
def test_malformed_files(tmp_path: Path, content: bytes, expected: str):
    (tmp_path / "accounts.csv").write_bytes(content)
    write_csv(tmp_path / "reps.csv", rep_columns())
    with pytest.raises(InputError, match=expected) as info:
        read_instance(tmp_path / "accounts.csv", tmp_path / "reps.csv", RULES)
    assert str(info.value).startswith(str(tmp_path / "accounts.csv"))


def test_missing_file_and_unknown_extension(tmp_path: Path):
    write_csv(tmp_path / "reps.csv", rep_columns())
    with pytest.raises(InputError, match="file not found"):
        read_instance(tmp_path / "nope.csv", tmp_path / "reps.csv", RULES)
    (tmp_path / "accounts.xlsx").write_bytes(b"x")
    with pytest.raises(InputError, match="unknown file type"):
        read_instance(tmp_path / "accounts.xlsx", tmp_path / "reps.csv", RULES)


def test_not_a_parquet_file(tmp_path: Path):
    (tmp_path / "accounts.parquet").write_bytes(b"this is not parquet at all")
    write_csv(tmp_path / "reps.csv", rep_columns())
    with pytest.raises(InputError, match="could not be read as parquet"):
        read_instance(tmp_path / "accounts.parquet", tmp_path / "reps.csv", RULES)


def test_extra_numeric_columns_are_kept_for_balance_rules():
    accounts = account_columns()
    accounts["visits"] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    instance = check(accounts, rep_columns(), Rules(balance={"visits": 0.1}))
    assert instance.accounts.extra["visits"].sum() == 36.0
    with pytest.raises(InputError, match="'calls'"):
        check(account_columns(), rep_columns(), Rules(balance={"calls": 0.1}))


def test_unmatched_rep_lists_name_the_values_in_the_data():
    reps = rep_columns()
    reps["regions"][2] = "Ohio"
    with pytest.raises(InputError) as info:
        check(account_columns(), reps)
    assert (
        "rep R3 regions 'Ohio' match no account region, so it could hold no account; "
        "regions in the data: CT, MA, NY, RI"
    ) in str(info.value)
    reps = rep_columns()
    reps["skills"][1] = "Healthcare"
    with pytest.raises(InputError, match=r"did you mean 'healthcare'\?") as info:
        check(account_columns(), reps)
    assert "segments in the data: healthcare, retail, tech" in str(info.value)


def test_unmatched_values_that_take_nothing_away_are_warnings():
    reps = rep_columns()
    reps["regions"][2] = "NY;CT;Ohio"  # R3 still covers NY and CT
    reps["skills"][2] = "Tech;retail"  # R3 is no specialist: skills only score mismatch
    with pytest.warns(InputWarning) as record:
        instance = check(account_columns(), reps)
    messages = [str(w.message) for w in record]
    assert any("rep R3 regions 'Ohio' match no account region, ignored" in m for m in messages)
    assert any(
        "rep R3 skills 'Tech' match no account segment (did you mean 'tech'? names are "
        "case-sensitive), so no account counts as within it" in m
        for m in messages
    )
    acc = instance.accounts
    assert instance.reps.region_ok[2, acc.region_names.index("NY")]
    assert not instance.reps.skill[2, acc.segment_names.index("tech")]


def test_rep_lists_bind_only_under_their_rules():
    reps = rep_columns()
    reps["regions"][2] = "Ohio"
    assert check(account_columns(), reps, Rules(regions=False)).reps.n_reps == 3
    reps = rep_columns()
    reps["skills"][1] = "health"  # R2 is a specialist, but the rule is off
    with pytest.warns(InputWarning, match="rep R2 skills 'health'"):
        check(account_columns(), reps, Rules(specialists=False))


def test_duplicate_column_names_are_refused():
    columns = account_columns()
    names = [*columns, "potential"]
    arrays = [pa.array(v) for v in columns.values()] + [pa.array(columns["potential"])]
    with pytest.raises(InputError, match=r"repeats column name\(s\) 'potential' \(2 times\)"):
        instance_from_tables(
            pa.Table.from_arrays(arrays, names=names), pa.table(rep_columns()), RULES
        )


def test_generated_tables_may_skip_the_rep_list_check():
    # A small draw of a preset can leave a rep's only state without accounts.
    reps = rep_columns()
    reps["regions"][2] = "Ohio"
    instance = instance_from_tables(
        pa.table(account_columns()), pa.table(reps), RULES, check_rep_lists=False
    )
    assert not instance.reps.region_ok[2, list(instance.accounts.region_names).index("NY")]


def test_a_preset_config_with_input_files_is_refused():
    data = {"kind": "synthetic", "preset": "northeast", "accounts": "A.csv"}
    with pytest.raises(TerrasimError, match="data.accounts is read only with data=files"):
        load_instance(data, RULES, seed=0)
    with pytest.raises(TerrasimError, match=r"data=files needs data.reps=PATH"):
        load_instance({"kind": "files", "accounts": "A.csv"}, RULES, seed=0)
