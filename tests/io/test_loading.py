"""Loading files and frames: parsing, file errors, strict and quarantine modes.

Expected values are worked out by hand from spec/data-model.md and spec/api.md:
rows are 1-based data rows (header excluded); a loaded table's index is the
row's position in its file (row - 1); timestamps are normalised to UTC.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import repkpi
from repkpi.io.parsing import parse_table

REQUIRED = "required: a value must be present"
UNIQUE = "unique: the value appears more than once"
NON_NEGATIVE = "range: a non-negative amount"
CHANNEL = "allowed: one of direct, partner"
CHURNED_AFTER = "rule: churned_on > customer_since"
FIRST_RESPONSE_AFTER = "rule: first_response_at >= opened_at"
LEFT_AFTER = "rule: left_on > hired_on"
DATE = "type: a date YYYY-MM-DD"
NOT_IN_ACCOUNTS = "reference: account_id not in accounts"
ACCOUNT_REJECTED = "reference: the account was rejected"

HEADERS = {
    "accounts": "account_id,account_name,rep_id,region,segment,customer_since,churned_on",
    "contracts": "contract_id,account_id,start_date,end_date,annual_value,renewal_of",
    "deals": "deal_id,account_id,rep_id,created_on,closed_on,stage,amount,deal_type,channel",
    "tickets": "ticket_id,account_id,rep_id,opened_at,first_response_at,resolved_at,priority,kind",
    "surveys": "response_id,account_id,rep_id,responded_at,csat,nps",
    "activities": "activity_id,account_id,occurred_on,kind",
    "market": "period,region,company,revenue",
    "reps": "rep_id,name,team,region,hired_on,left_on",
}
# The typed columns of the data model; every other column is text.
DATES = {"customer_since", "churned_on", "start_date", "end_date", "created_on", "closed_on",
         "occurred_on", "hired_on", "left_on"}
TIMESTAMPS = {"opened_at", "first_response_at", "resolved_at", "responded_at"}
MONEY = {"annual_value", "amount", "revenue"}
SCORES = {"csat", "nps"}


TYPED = {
    **dict.fromkeys(DATES, np.dtype("datetime64[us]")),
    **dict.fromkeys(TIMESTAMPS, pd.DatetimeTZDtype("us", "UTC")),
    **dict.fromkeys(MONEY, np.dtype("float64")),
    **dict.fromkeys(SCORES, pd.Int64Dtype()),
}


def assert_model_dtypes(table: str, frame: pd.DataFrame) -> None:
    """The data model's columns come first, in its order, each with its type's dtype."""
    columns = HEADERS[table].split(",")
    assert list(frame.columns[: len(columns)]) == columns
    for column in columns:
        dtype = frame[column].dtype
        if column in TYPED:
            assert dtype == TYPED[column], (table, column, dtype)
        else:
            assert isinstance(dtype, pd.StringDtype), (table, column, dtype)


def rejected_rows(data: repkpi.CrmData, table: str) -> set[int]:
    rejects = data.rejects
    return {int(r) for r in rejects.loc[rejects["table"] == table, "row"]}


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize("table", list(HEADERS))
def test_header_only_file_is_a_valid_empty_table(folder, table):
    data = repkpi.load(folder(**{table: HEADERS[table] + "\n"}))
    frame = getattr(data, table)
    assert len(frame) == 0
    assert_model_dtypes(table, frame)
    assert len(data.rejects) == 0
    assert list(data.tables) == [table]


def test_header_without_newline_is_a_valid_empty_table(tmp_path):
    (tmp_path / "reps.csv").write_text("rep_id,hired_on", encoding="utf-8")
    assert len(repkpi.load(tmp_path).reps) == 0


def test_every_table_loads_with_typed_columns(folder):
    data = repkpi.load(folder(
        accounts="""
            account_id,account_name,rep_id,region,segment,customer_since,churned_on
            A1,Acme,U1,EU,smb,2024-01-15,2024-06-01
            A2,,,,,2024-02-29,
            """,
        contracts="""
            contract_id,account_id,start_date,end_date,annual_value,renewal_of
            C1,A1,2024-01-15,2025-01-14,1200.50,
            """,
        deals="""
            deal_id,account_id,rep_id,created_on,closed_on,stage,amount,deal_type,channel
            D1,A1,U1,2024-01-02,2024-01-10,won,1200,new_business,direct
            """,
        tickets="""
            ticket_id,account_id,rep_id,opened_at,first_response_at,resolved_at,priority,kind
            T1,A1,U1,2024-03-01T09:00:00Z,2024-03-01T09:30:00Z,,urgent,complaint
            """,
        surveys="""
            response_id,account_id,rep_id,responded_at,csat,nps
            R1,A1,U1,2024-03-02T12:00:00Z,4,
            R2,A2,,2024-03-02T12:00:00Z,,10
            """,
        activities="""
            activity_id,account_id,occurred_on,kind
            E1,A1,2024-02-10,webinar
            """,
        market="""
            period,region,company,revenue
            2024Q1,EU,Rival,1000
            """,
        reps="""
            rep_id,name,team,region,hired_on,left_on
            U1,Ann,North,EU,2023-01-02,
            """,
    ))
    assert list(data.tables) == list(HEADERS)
    for table, frame in data.tables.items():
        assert_model_dtypes(table, frame)
    accounts = data.accounts
    assert list(accounts["customer_since"]) == [pd.Timestamp("2024-01-15"), pd.Timestamp("2024-02-29")]
    assert accounts.loc[0, "churned_on"] == pd.Timestamp("2024-06-01")
    assert pd.isna(accounts.loc[1, "churned_on"])
    assert accounts.loc[0, "account_name"] == "Acme"
    assert pd.isna(accounts.loc[1, "account_name"])
    assert data.contracts.loc[0, "annual_value"] == 1200.5
    assert data.deals.loc[0, "amount"] == 1200.0
    assert data.tickets.loc[0, "first_response_at"] == pd.Timestamp("2024-03-01 09:30", tz="UTC")
    assert pd.isna(data.tickets.loc[0, "resolved_at"])
    assert data.surveys["csat"].tolist()[0] == 4
    assert data.surveys["csat"].isna().tolist() == [False, True]
    assert data.surveys.loc[1, "nps"] == 10
    assert data.market.loc[0, "period"] == "2024Q1"
    assert data.market.loc[0, "revenue"] == 1000.0


def test_timestamps_with_and_without_offsets_are_normalised_to_utc(folder):
    data = repkpi.load(folder(tickets="""
        ticket_id,account_id,opened_at,priority
        T1,A1,2024-03-31T23:30:00,normal
        T2,A1,2024-03-31T23:30:00Z,normal
        T3,A1,2024-03-31T23:30:00-02:00,normal
        T4,A1,2024-04-01T08:15:00+05:30,normal
        T5,A1,2024-04-01T00:00:00.250+01:00,normal
        T6,A1,2024-04-01 12:00:00,normal
        """))
    utc = [
        "2024-03-31 23:30",         # naive: taken as UTC
        "2024-03-31 23:30",         # Z
        "2024-04-01 01:30",         # 23:30 at UTC-2 is 01:30 the next day
        "2024-04-01 02:45",         # 08:15 at UTC+5:30
        "2024-03-31 23:00:00.250",  # midnight at UTC+1, with milliseconds
        "2024-04-01 12:00",         # space instead of T, naive
    ]
    opened = data.tickets["opened_at"]
    assert opened.dtype == pd.DatetimeTZDtype("us", "UTC")
    assert opened.tolist() == [pd.Timestamp(t, tz="UTC") for t in utc]


def test_a_bad_timestamp_in_one_zone_group_leaves_the_other_group_parsed(folder):
    # Zoned and naive values are cast apart; T2's month 13 fails its (zoned) group's cast,
    # which then goes through pandas; the naive group is cast by Arrow with the zoned
    # values hidden as missing. Worked out by hand: T1 23:30-02:00 is 01:30 UTC the next
    # day, T3 naive is UTC, T4 empty stays empty, T5 "Z" is UTC; T2 is a bad cell.
    data = repkpi.load(folder(tickets="""
        ticket_id,account_id,opened_at,first_response_at,priority
        T1,A1,2024-03-31T23:30:00-02:00,2024-04-01T02:00:00,normal
        T2,A1,2024-13-01T10:00:00Z,,normal
        T3,A1,2024-04-01 12:00:00,,normal
        T4,A1,2024-04-01T13:00:00Z,,normal
        T5,A1,2024-04-02T09:00:00Z,2024-04-02T09:30:00Z,normal
        """), errors="quarantine")
    opened = data.tickets.set_index("ticket_id")["opened_at"]
    assert opened.to_dict() == {
        "T1": pd.Timestamp("2024-04-01 01:30", tz="UTC"),
        "T3": pd.Timestamp("2024-04-01 12:00", tz="UTC"),
        "T4": pd.Timestamp("2024-04-01 13:00", tz="UTC"),
        "T5": pd.Timestamp("2024-04-02 09:00", tz="UTC")}
    responded = data.tickets.set_index("ticket_id")["first_response_at"]
    assert responded["T1"] == pd.Timestamp("2024-04-01 02:00", tz="UTC")
    assert responded.drop(["T1", "T5"]).isna().all()
    assert data.rejects[["row", "column", "check", "value"]].to_numpy().tolist() == [
        [2, "opened_at", "type: an ISO 8601 timestamp", "2024-13-01T10:00:00Z"]]


def test_the_zone_groups_of_a_sliced_column_are_its_own_values():
    # A column that is a slice of a longer Arrow array (an offset into its buffers): each
    # zone group is cast from the slice's own values. By hand: 10:00+01:00 is 09:00 UTC.
    text = pa.array(["junk", "2024-01-01T10:00:00+01:00", None, "2024-01-02 08:00:00"],
                    pa.large_string()).slice(1)
    raw = pd.DataFrame({"ticket_id": ["T1", "T2", "T3"],
                        "opened_at": pd.arrays.ArrowStringArray(pa.chunked_array([text]))})
    typed, failures = parse_table("tickets", raw, "memory")
    assert typed["opened_at"].tolist()[::2] == [pd.Timestamp("2024-01-01 09:00", tz="UTC"),
                                                pd.Timestamp("2024-01-02 08:00", tz="UTC")]
    assert pd.isna(typed["opened_at"].iloc[1])
    assert failures == []


@pytest.mark.parametrize(("table", "text", "absent"), [
    pytest.param("accounts", """
        account_id,customer_since
        A1,2024-01-15
        A2,2024-02-01
        """, ["account_name", "rep_id", "region", "segment", "churned_on"], id="accounts"),
    pytest.param("deals", """
        deal_id,account_id,created_on,stage,amount,deal_type,channel
        D1,A1,2024-01-10,open,500,new_business,direct
        """, ["rep_id", "closed_on"], id="deals"),
    pytest.param("tickets", """
        ticket_id,account_id,opened_at,priority
        T1,A1,2024-03-01T09:00:00Z,normal
        """, ["rep_id", "first_response_at", "resolved_at", "kind"], id="tickets"),
    pytest.param("surveys", """
        response_id,account_id,responded_at,csat
        R1,A1,2024-03-01T09:00:00Z,5
        """, ["rep_id", "nps"], id="surveys"),
    pytest.param("reps", """
        rep_id,hired_on
        U1,2023-01-02
        """, ["name", "team", "region", "left_on"], id="reps"),
])
def test_optional_column_absent_from_the_file_loads_all_missing(folder, table, text, absent):
    frame = getattr(repkpi.load(folder(**{table: text})), table)
    assert_model_dtypes(table, frame)
    for column in absent:
        assert frame[column].isna().all(), column


def test_extra_columns_are_kept_as_text(folder):
    data = repkpi.load(folder(accounts="""
        account_id,industry,customer_since,Owner Email,employees
        A1,retail,2024-01-15,ann@example.com,42
        A2,,2024-02-01,bob@example.com,
        """))
    accounts = data.accounts
    assert list(accounts.columns) == HEADERS["accounts"].split(",") + ["industry", "Owner Email", "employees"]
    assert accounts["industry"].tolist()[0] == "retail"
    assert pd.isna(accounts.loc[1, "industry"])
    assert accounts["Owner Email"].tolist() == ["ann@example.com", "bob@example.com"]
    assert accounts.loc[0, "employees"] == "42"


def test_quoted_values_keep_commas_and_quotes(folder):
    data = repkpi.load(folder(accounts="""
        account_id,account_name,customer_since
        A1,"Smith, Jones & Co",2024-01-15
        A2,"The ""Best"" Shop",2024-02-01
        """))
    assert data.accounts["account_name"].tolist() == ["Smith, Jones & Co", 'The "Best" Shop']


def test_utf8_bom_and_crlf_line_ends_are_read(tmp_path):
    (tmp_path / "accounts.csv").write_bytes(
        b"\xef\xbb\xbfaccount_id,account_name,customer_since\r\n"
        b"A1,Soci\xc3\xa9t\xc3\xa9 G\xc3\xa9n\xc3\xa9rale,2024-01-15\r\n"
    )
    accounts = repkpi.load(tmp_path).accounts
    assert accounts.columns[0] == "account_id"
    assert accounts["account_id"].tolist() == ["A1"]
    assert accounts["account_name"].tolist() == ["Société Générale"]
    assert accounts["customer_since"].tolist() == [pd.Timestamp("2024-01-15")]


def test_a_single_file_can_be_loaded(folder):
    path = folder(accounts="""
        account_id,customer_since
        A1,2024-01-15
        """, reps="""
        rep_id,hired_on
        U1,2023-01-02
        """)
    data = repkpi.load(path / "reps.csv")
    assert list(data.tables) == ["reps"]
    assert data.accounts is None


def test_other_files_in_the_folder_are_ignored(folder, tmp_path):
    (tmp_path / "goals.toml").write_text('[[goal]]\nkpi = "churn_rate"\n', encoding="utf-8")
    (tmp_path / "README.md").write_text("# Exports of 2024-10-01\n", encoding="utf-8")
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04 not a table")
    data = repkpi.load(folder(accounts="""
        account_id,customer_since
        A1,2024-01-15
        """))
    assert list(data.tables) == ["accounts"]


# ---------------------------------------------------------------- file errors

ERRORS = pytest.mark.parametrize("errors", ["strict", "quarantine"])


@ERRORS
def test_missing_required_column_names_the_file_and_column(folder, errors):
    path = folder(reps="""
        rep_id,region
        R1,EU
        """)
    with pytest.raises(repkpi.ColumnNotFoundError, match=r"reps\.csv.*\['hired_on'\]") as info:
        repkpi.load(path, errors=errors)
    assert isinstance(info.value, KeyError)
    assert "Hint:" in str(info.value)


@ERRORS
def test_missing_required_columns_are_all_named(folder, errors):
    path = folder(deals="""
        deal_id,account_id,amount
        D1,A1,100
        """)
    expected = "['created_on', 'stage']"  # amount, deal_type and channel may be missing
    with pytest.raises(repkpi.ColumnNotFoundError, match=r"deals\.csv.*" + re.escape(expected)):
        repkpi.load(path, errors=errors)


@ERRORS
def test_zero_byte_file(tmp_path, errors):
    (tmp_path / "accounts.csv").write_bytes(b"")
    with pytest.raises(repkpi.DataFileError, match=r"accounts\.csv.*empty \(zero bytes\)"):
        repkpi.load(tmp_path, errors=errors)


@ERRORS
def test_text_in_another_encoding_names_the_file_and_line(tmp_path, errors):
    # Was "the file cannot be read"; the data model now asks for the first bad line and the fix.
    (tmp_path / "accounts.csv").write_bytes(
        b"account_id,account_name,customer_since\nA1,Soci\xe9t\xe9,2024-01-15\n")
    with pytest.raises(repkpi.DataFileError, match=r"accounts\.csv: the text is not UTF-8.*line 2"):
        repkpi.load(tmp_path, errors=errors)


@pytest.mark.parametrize(("content", "check"), [
    pytest.param(b"account_id,customer_since\nA1,2024-01-15,extra\n",
                 "malformed line: 3 fields, expected 2", id="ragged-row"),
    pytest.param(b"account_id,customer_since\nA1,2024-01-15\nA2\n",
                 "malformed line: 1 fields, expected 2", id="short-row"),
])
def test_a_line_with_too_many_or_too_few_fields_is_a_bad_row(tmp_path, content, check):
    # Was an unreadable file; the data model now makes it a bad row (see tests/io/test_real_files.py).
    (tmp_path / "accounts.csv").write_bytes(content)
    with pytest.raises(repkpi.DataValidationError, match=re.escape(check)):
        repkpi.load(tmp_path)
    data = repkpi.load(tmp_path, errors="quarantine")
    assert data.rejects["column"].tolist() == ["<line>"]
    assert data.rejects["check"].tolist() == [check]


@ERRORS
def test_unreadable_parquet_file(tmp_path, errors):
    (tmp_path / "deals.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(repkpi.DataFileError, match=r"deals\.parquet: the file cannot be read"):
        repkpi.load(tmp_path, errors=errors)


@ERRORS
@pytest.mark.parametrize("name", ["Accounts (1).csv", "ACCOUNTS.csv", "account.parquet"])
def test_file_named_after_no_table_lists_the_table_names(folder, write, tmp_path, errors, name):
    write(tmp_path, name, "account_id,customer_since\nA1,2024-01-15\n")
    folder(reps="""
        rep_id,hired_on
        U1,2023-01-02
        """)
    with pytest.raises(repkpi.DataFileError, match=re.escape(name)) as info:
        repkpi.load(tmp_path, errors=errors)
    message = str(info.value)
    for table in repkpi.TABLES:
        assert f"{table}.csv" in message


@ERRORS
def test_path_that_does_not_exist(tmp_path, errors):
    with pytest.raises(repkpi.DataFileError, match=r"exports.*no such file or folder"):
        repkpi.load(tmp_path / "exports", errors=errors)


def test_header_repeating_a_column(folder):
    path = folder(accounts="""
        account_id,customer_since,account_id
        A1,2024-01-15,A2
        """)
    with pytest.raises(repkpi.DataFileError, match=r"accounts\.csv.*repeats column\(s\) \['account_id'\]"):
        repkpi.load(path)


def test_table_given_twice(folder, tmp_path):
    pd.DataFrame({"account_id": ["A1"], "customer_since": ["2024-01-15"]}).to_parquet(
        tmp_path / "accounts.parquet")
    path = folder(accounts="""
        account_id,customer_since
        A1,2024-01-15
        """)
    with pytest.raises(repkpi.DataFileError, match=r"'accounts' is given twice"):
        repkpi.load(path)


def test_unknown_errors_mode(folder):
    path = folder(reps="""
        rep_id,hired_on
        U1,2023-01-02
        """)
    with pytest.raises(repkpi.OptionError, match=r"errors must be 'strict' or 'quarantine', got 'lenient'"):
        repkpi.load(path, errors="lenient")


# ---------------------------------------------------------------- parquet


def test_parquet_files_load_like_csv(tmp_path):
    pd.DataFrame({
        "account_id": ["A1", "A2"],
        "customer_since": [pd.Timestamp("2024-01-15").date(), pd.Timestamp("2024-02-01").date()],
        "churned_on": pd.to_datetime([None, "2024-09-01"]),
        "segment": ["smb", None],
    }).to_parquet(tmp_path / "accounts.parquet")
    pd.DataFrame({
        "ticket_id": ["T1", "T2"],
        "account_id": ["A1", "A2"],
        # 09:00 and 10:30 in Paris in July (UTC+2) are 07:00 and 08:30 UTC.
        "opened_at": pd.to_datetime(["2024-07-01 09:00", "2024-07-01 10:30"]).tz_localize("Europe/Paris"),
        # Naive: taken as UTC, not as Paris time.
        "first_response_at": pd.to_datetime(["2024-07-01 07:30", "2024-07-01 09:00"]),
        "priority": ["high", "low"],
    }).to_parquet(tmp_path / "tickets.parquet")
    pd.DataFrame({
        "deal_id": ["D1"], "account_id": ["A1"], "created_on": ["2024-01-02"],
        "closed_on": [None], "stage": ["open"], "amount": [1200], "deal_type": ["upsell"],
        "channel": ["direct"],
    }).to_parquet(tmp_path / "deals.parquet")
    pd.DataFrame({
        "response_id": ["R1", "R2"], "account_id": ["A1", "A1"],
        "responded_at": pd.to_datetime(["2024-07-02T08:00:00Z", "2024-07-03T08:00:00Z"]),
        "csat": [5.0, np.nan], "nps": pd.array([None, 9], dtype="Int64"),
    }).to_parquet(tmp_path / "surveys.parquet")

    data = repkpi.load(tmp_path)
    for table, frame in data.tables.items():
        assert_model_dtypes(table, frame)
    assert data.accounts["customer_since"].tolist() == [pd.Timestamp("2024-01-15"),
                                                        pd.Timestamp("2024-02-01")]
    assert data.accounts.loc[1, "churned_on"] == pd.Timestamp("2024-09-01")
    assert data.tickets["opened_at"].tolist() == [pd.Timestamp("2024-07-01 07:00", tz="UTC"),
                                                  pd.Timestamp("2024-07-01 08:30", tz="UTC")]
    assert data.tickets["first_response_at"].tolist() == [pd.Timestamp("2024-07-01 07:30", tz="UTC"),
                                                          pd.Timestamp("2024-07-01 09:00", tz="UTC")]
    assert data.deals.loc[0, "amount"] == 1200.0
    assert data.surveys["csat"].tolist()[0] == 5
    assert data.surveys.loc[1, "nps"] == 9
    assert data.sources["tickets"] == str(tmp_path / "tickets.parquet")


def test_parquet_rows_are_validated_and_numbered_by_position(tmp_path, failures_of):
    tickets = pd.DataFrame({
        "ticket_id": ["T1", "T2", "T3"],
        "account_id": ["A1", "A1", "A1"],
        # 07:00, 08:30 and 08:30 UTC.
        "opened_at": pd.to_datetime(["2024-07-01 09:00", "2024-07-01 10:30", "2024-07-01 10:30"])
        .tz_localize("Europe/Paris"),
        # Row 2 answered at 08:00 UTC, half an hour before it was opened.
        "first_response_at": pd.to_datetime(["2024-07-01 07:30", "2024-07-01 08:00", "2024-07-01 08:30"]),
        "priority": ["high", "low", "normal"],
    }, index=[10, 20, 30])  # an index stored by pandas must not change the row numbers
    tickets.to_parquet(tmp_path / "tickets.parquet")

    data = repkpi.load(tmp_path, errors="quarantine")
    [(table, row, column, check, value)] = failures_of(data.rejects)
    assert (table, row, column, check) == ("tickets", 2, "first_response_at", FIRST_RESPONSE_AFTER)
    assert value.startswith("2024-07-01 08:00")
    assert data.tickets.index.tolist() == [0, 2]
    assert data.tickets["ticket_id"].tolist() == ["T1", "T3"]


def test_parquet_named_index_is_a_column(tmp_path):
    pd.DataFrame({"account_id": ["A1", "A2"], "customer_since": ["2024-01-15", "2024-02-01"]}).set_index(
        "account_id").to_parquet(tmp_path / "accounts.parquet")
    accounts = repkpi.load(tmp_path).accounts
    assert accounts["account_id"].tolist() == ["A1", "A2"]
    assert accounts.index.tolist() == [0, 1]


# ---------------------------------------------------------------- strict mode

INVALID = {
    "accounts": """
        account_id,customer_since,churned_on
        A1,2024-01-15,
        A2,2024-13-01,
        A3,2024-03-01,2024-03-01
        """,
    "deals": """
        deal_id,account_id,created_on,closed_on,stage,amount,deal_type,channel
        D1,A1,2024-02-01,2024-03-01,won,1000,new_business,direct
        D2,A9,2024-02-01,,open,-5,upsell,online
        D3,A2,2024-02-05,,open,250,upsell,partner
        """,
    "reps": """
        rep_id,hired_on,left_on
        U1,2023-01-02,
        U1,2023-02-01,2023-01-01
        """,
}
# Worked out from the rows above. D3 points to A2, whose own row is invalid, but
# D3 itself breaks no rule: strict mode reports what is wrong, not consequences.
INVALID_FAILURES = [
    ("accounts", 2, "customer_since", DATE, "2024-13-01"),
    ("accounts", 3, "churned_on", CHURNED_AFTER, "2024-03-01"),
    ("deals", 2, "account_id", NOT_IN_ACCOUNTS, "A9"),
    ("deals", 2, "amount", NON_NEGATIVE, "-5"),
    ("deals", 2, "channel", CHANNEL, "online"),
    ("reps", 1, "rep_id", UNIQUE, "U1"),
    ("reps", 2, "left_on", LEFT_AFTER, "2023-01-01"),
    ("reps", 2, "rep_id", UNIQUE, "U1"),
]


def test_strict_mode_collects_every_failure_of_every_table(folder, failures_of):
    with pytest.raises(repkpi.DataValidationError) as info:
        repkpi.load(folder(**INVALID))
    report = info.value.report
    assert failures_of(report) == INVALID_FAILURES
    # In file order: tables in the data model's order, then row number.
    order = {table: i for i, table in enumerate(repkpi.TABLES)}
    keys = [(order[t], r) for t, r in zip(report["table"], report["row"], strict=True)]
    assert keys == sorted(keys)


def test_strict_message_lists_failures_counts_and_a_hint(folder):
    counts = r"8 validation failure\(s\) in 5 row\(s\) of 3 table\(s\)"
    with pytest.raises(repkpi.DataValidationError, match=counts) as info:
        repkpi.load(folder(**INVALID), errors="strict")
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    for where in ["accounts: row 2, column 'customer_since'", "accounts: row 3, column 'churned_on'",
                  "deals: row 2, column 'channel'", "reps: row 1, column 'rep_id'",
                  "reps: row 2, column 'left_on'"]:
        assert where in message
    assert "'2024-13-01'" in message
    assert "'online'" in message
    assert f"reps.rep_id: {UNIQUE}: 2" in message
    assert f"deals.amount: {NON_NEGATIVE}: 1" in message
    assert "Hint:" in message


def test_strict_message_shows_the_first_ten_failures(folder):
    # Twelve reps, each hired on an impossible date: twelve failures.
    rows = "".join(f"U{i},2023-02-{30 + i % 2}\n" for i in range(1, 13))
    path = folder(reps="rep_id,hired_on\n" + rows)
    with pytest.raises(repkpi.DataValidationError, match=r"\.\.\. and 2 more") as info:
        repkpi.load(path)
    message = str(info.value)
    assert "reps: row 10, column 'hired_on'" in message
    assert "reps: row 11," not in message
    assert f"reps.hired_on: {DATE}: 12" in message
    assert len(info.value.report) == 12


# ---------------------------------------------------------------- quarantine mode


def test_quarantine_sets_invalid_rows_aside_with_reasons(folder, failures_of):
    data = repkpi.load(folder(**INVALID), errors="quarantine")
    # Strict failures, plus D3 which points to the rejected account A2.
    assert failures_of(data.rejects) == sorted(
        [*INVALID_FAILURES, ("deals", 3, "account_id", ACCOUNT_REJECTED, "A2")])
    assert data.accounts["account_id"].tolist() == ["A1"]
    assert data.accounts.index.tolist() == [0]
    assert data.deals["deal_id"].tolist() == ["D1"]
    assert data.deals.index.tolist() == [0]
    assert len(data.reps) == 0
    assert_model_dtypes("reps", data.reps)
    summary = data.summary().set_index("table")
    assert summary.loc[["accounts", "deals", "reps"], ["rows", "loaded", "rejected"]].to_dict("index") == {
        "accounts": {"rows": 3, "loaded": 1, "rejected": 2},
        "deals": {"rows": 3, "loaded": 1, "rejected": 2},
        "reps": {"rows": 2, "loaded": 0, "rejected": 2},
    }


def test_quarantine_keeps_the_valid_rows_at_their_file_position(folder):
    data = repkpi.load(folder(deals="""
        deal_id,account_id,created_on,closed_on,stage,amount,deal_type,channel
        D1,A1,2024-02-01,,open,100,upsell,direct
        D2,A1,2024-02-01,,won,100,upsell,direct
        D3,A1,2024-02-01,,open,100,upsell,direct
        D4,A1,2024-02-01,,open,-1,resale,direct
        D5,A1,2024-02-01,2024-02-01,lost,0,upsell,partner
        """), errors="quarantine")
    # D2 is won without closed_on; D4 has a negative amount and an unknown deal type.
    assert data.deals.index.tolist() == [0, 2, 4]
    assert data.deals["deal_id"].tolist() == ["D1", "D3", "D5"]
    assert rejected_rows(data, "deals") == {2, 4}
    assert len(data.rejects) == 3
    assert data.summary().to_dict("records") == [
        {"table": "deals", "source": str(data.sources["deals"]), "rows": 5, "loaded": 3, "rejected": 2,
         "after_as_of": 0, "deleted": 0, "trailer": 0, "changed": 0, "delimiter": ",",
         "trimmed": 0, "never": 0}]


def test_quarantine_of_a_clean_folder_has_an_empty_rejects_table(folder):
    data = repkpi.load(folder(reps="""
        rep_id,hired_on
        U1,2023-01-02
        """), errors="quarantine")
    assert list(data.rejects.columns) == ["table", "row", "column", "check", "value"]
    assert len(data.rejects) == 0
    assert data.reps.index.tolist() == [0]


CASCADE = {
    "accounts": """
        account_id,customer_since
        A1,2024-01-15
        A2,2024-02-01
        A1,2024-03-01
        """,
    "contracts": """
        contract_id,account_id,start_date,end_date,annual_value
        C1,A1,2024-01-15,2025-01-14,1200
        C2,A2,2024-02-01,2025-01-31,900
        """,
    "deals": """
        deal_id,account_id,created_on,stage,amount,deal_type,channel
        D1,A1,2024-01-10,open,500,new_business,direct
        D2,A2,2024-01-11,open,700,upsell,partner
        D3,A1,2024-01-12,open,300,cross_sell,direct
        """,
    "tickets": """
        ticket_id,account_id,opened_at,priority
        T1,A1,2024-03-01T09:00:00Z,normal
        """,
    "surveys": """
        response_id,account_id,responded_at,csat
        R1,A2,2024-03-01T09:00:00Z,5
        """,
    "activities": """
        activity_id,account_id,occurred_on
        E1,A1,2024-03-01
        E2,A9,2024-03-02
        """,
    "reps": """
        rep_id,hired_on
        U1,2023-01-02
        """,
}


def test_rows_of_a_rejected_account_are_rejected_too(folder, failures_of):
    data = repkpi.load(folder(**CASCADE), errors="quarantine")
    # A1 appears twice: both rows fail uniqueness, so no A1 account is loaded and
    # every row pointing to A1 goes to rejects, naming the account's rejection.
    assert failures_of(data.rejects) == sorted([
        ("accounts", 1, "account_id", UNIQUE, "A1"),
        ("accounts", 3, "account_id", UNIQUE, "A1"),
        ("contracts", 1, "account_id", ACCOUNT_REJECTED, "A1"),
        ("deals", 1, "account_id", ACCOUNT_REJECTED, "A1"),
        ("deals", 3, "account_id", ACCOUNT_REJECTED, "A1"),
        ("tickets", 1, "account_id", ACCOUNT_REJECTED, "A1"),
        ("activities", 1, "account_id", ACCOUNT_REJECTED, "A1"),
        ("activities", 2, "account_id", NOT_IN_ACCOUNTS, "A9"),
    ])
    assert data.accounts["account_id"].tolist() == ["A2"]
    assert data.contracts["contract_id"].tolist() == ["C2"]
    assert data.deals["deal_id"].tolist() == ["D2"]
    assert len(data.tickets) == 0
    assert data.surveys["response_id"].tolist() == ["R1"]
    assert len(data.activities) == 0
    assert data.reps["rep_id"].tolist() == ["U1"]
    assert data.rejects["check"].str.contains("account was rejected").sum() == 5


def test_strict_mode_does_not_report_the_cascade(folder, failures_of):
    with pytest.raises(repkpi.DataValidationError) as info:
        repkpi.load(folder(**CASCADE))
    assert failures_of(info.value.report) == [
        ("accounts", 1, "account_id", UNIQUE, "A1"),
        ("accounts", 3, "account_id", UNIQUE, "A1"),
        ("activities", 2, "account_id", NOT_IN_ACCOUNTS, "A9"),
    ]


def test_an_account_id_is_never_both_kept_and_rejected(folder):
    # A1's second row is the faulty one, but it shares its id with row 1: since a
    # duplicated id fails on every copy, both go, and so does the deal on A1. The
    # alternative (keep row 1, reject row 2) would leave D1 loaded against an
    # account row that is itself a duplicate.
    data = repkpi.load(folder(
        accounts="""
            account_id,customer_since
            A1,2024-01-15
            A1,soon
            A2,2024-02-01
            """,
        deals="""
            deal_id,account_id,created_on,stage,amount,deal_type,channel
            D1,A1,2024-01-10,open,500,new_business,direct
            D2,A2,2024-01-11,open,700,upsell,partner
            """,
    ), errors="quarantine")
    assert rejected_rows(data, "accounts") == {1, 2}
    assert rejected_rows(data, "deals") == {1}
    ids_in_file = {1: "A1", 2: "A1", 3: "A2"}
    kept = set(data.accounts["account_id"])
    rejected = {ids_in_file[row] for row in rejected_rows(data, "accounts")}
    assert kept == {"A2"}
    assert kept.isdisjoint(rejected)
    assert set(data.deals["account_id"]) <= kept


# ---------------------------------------------------------------- property test

# A small valid data set: every table, a few rows each.
VALID = {
    "accounts": (["account_id", "customer_since", "churned_on", "segment"], [
        ["A1", "2024-01-15", "", "smb"],
        ["A2", "2024-02-01", "2024-09-01", "enterprise"],
        ["A3", "2024-03-01", "", ""],
        ["A4", "2024-03-05", "", "smb"],
    ]),
    "contracts": (["contract_id", "account_id", "start_date", "end_date", "annual_value", "renewal_of"], [
        ["C1", "A1", "2024-01-15", "2025-01-14", "1200", ""],
        ["C2", "A2", "2024-02-01", "2025-01-31", "900.5", ""],
        ["C3", "A1", "2025-01-15", "2026-01-14", "1300", "C1"],
    ]),
    "deals": (["deal_id", "account_id", "created_on", "closed_on", "stage", "amount", "deal_type",
               "channel"], [
        ["D1", "A1", "2024-01-02", "2024-01-10", "won", "1200", "new_business", "direct"],
        ["D2", "A2", "2024-01-20", "2024-01-25", "lost", "500", "cross_sell", "partner"],
        ["D3", "A3", "2024-04-01", "", "open", "800", "upsell", "direct"],
        ["D4", "A4", "2024-04-02", "2024-05-01", "won", "300", "renewal", "partner"],
    ]),
    "tickets": (["ticket_id", "account_id", "opened_at", "first_response_at", "resolved_at", "priority"], [
        ["T1", "A1", "2024-03-01T09:00:00Z", "2024-03-01T09:30:00Z", "2024-03-02T10:00:00Z", "urgent"],
        ["T2", "A2", "2024-03-05T10:00:00+01:00", "", "", "high"],
        ["T3", "A3", "2024-03-06T08:00:00", "2024-03-06T08:00:00", "", "normal"],
    ]),
    "surveys": (["response_id", "account_id", "responded_at", "csat", "nps"], [
        ["R1", "A1", "2024-03-02T12:00:00Z", "5", "9"],
        ["R2", "A2", "2024-03-06T12:00:00Z", "3", ""],
        ["R3", "A3", "2024-03-07T12:00:00Z", "", "7"],
    ]),
    "activities": (["activity_id", "account_id", "occurred_on", "kind"], [
        ["E1", "A1", "2024-02-10", "webinar"],
        ["E2", "A4", "2024-03-11", "training"],
    ]),
    "market": (["period", "region", "company", "revenue"], [
        ["2024Q1", "EU", "Rival", "1000"],
        ["2024Q1", "US", "Rival", "800"],
        ["2024Q2", "EU", "Rival", "1100"],
    ]),
    "reps": (["rep_id", "name", "hired_on", "left_on"], [
        ["U1", "Ann", "2023-01-02", ""],
        ["U2", "Bob", "2023-05-01", "2024-06-30"],
    ]),
}
IDS = {"accounts": "account_id", "contracts": "contract_id", "deals": "deal_id", "tickets": "ticket_id",
       "surveys": "response_id", "activities": "activity_id", "reps": "rep_id"}
# Each corruption makes its cell invalid: (table, column, kind).
CORRUPTIONS = [
    # Blanks in the columns that must have a value (data-model.md: customer_since, end_date,
    # amount, deal_type, channel and a ticket's account_id and priority may be empty).
    *[(t, c, "blank") for t, cs in {
        "accounts": ["account_id"],
        "contracts": ["contract_id", "account_id", "start_date", "annual_value"],
        "deals": ["deal_id", "account_id", "created_on", "stage"],
        "tickets": ["ticket_id", "opened_at"],
        "surveys": ["response_id", "account_id", "responded_at"],
        "activities": ["activity_id", "account_id", "occurred_on"],
        "market": ["period", "region", "company", "revenue"],
        "reps": ["rep_id", "hired_on"],
    }.items() for c in cs],
    *[(t, c, "text") for t, cs in {
        "accounts": ["customer_since", "churned_on"],
        "contracts": ["start_date", "end_date", "annual_value"],
        "deals": ["created_on", "closed_on", "amount"],
        "tickets": ["opened_at", "first_response_at", "resolved_at"],
        "surveys": ["responded_at", "csat", "nps"],
        "activities": ["occurred_on"],
        "market": ["revenue"],
        "reps": ["hired_on", "left_on"],
    }.items() for c in cs],
    *[(t, c, "duplicate") for t, c in IDS.items()],
    ("surveys", "csat", "out of range"), ("surveys", "nps", "out of range"),
    ("contracts", "annual_value", "out of range"), ("deals", "amount", "out of range"),
    ("market", "revenue", "out of range"),
    ("deals", "stage", "bad value"), ("deals", "deal_type", "bad value"),
    ("deals", "channel", "bad value"), ("tickets", "priority", "bad value"),
    ("market", "period", "bad value"),
]
BAD = {"text": "oops", "blank": "", "bad value": "bogus",
       ("surveys", "csat"): "9", ("surveys", "nps"): "11"}


def corrupt(plan: list[tuple[tuple[str, str, str], int]]) -> tuple[dict, dict[str, set[int]]]:
    """Apply the corruptions; return the tables and, per table, the 1-based rows made invalid."""
    tables = {name: (header, [list(row) for row in rows]) for name, (header, rows) in VALID.items()}
    invalid: dict[str, set[int]] = {name: set() for name in tables}
    for (table, column, kind), n in plan:
        header, rows = tables[table]
        i, j = n % len(rows), header.index(column)
        if kind == "duplicate":
            rows[i][j] = rows[(i + 1) % len(rows)][j]  # rows that end up sharing an id: below
            continue
        if kind == "out of range":
            rows[i][j] = BAD.get((table, column), "-5")
        else:
            rows[i][j] = BAD[kind]
        invalid[table].add(i + 1)
    for table, column in IDS.items():
        header, rows = tables[table]
        ids = pd.Series([row[header.index(column)] for row in rows])
        bad = (ids == "") | ids.duplicated(keep=False)
        invalid[table] |= {i + 1 for i in np.flatnonzero(bad)}
    return tables, invalid


def write_tables(folder: Path, tables: dict) -> None:
    for name, (header, rows) in tables.items():
        with open(folder / f"{name}.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)


def test_the_valid_property_test_data_is_valid(tmp_path):
    write_tables(tmp_path, VALID)
    data = repkpi.load(tmp_path)
    assert {name: len(frame) for name, frame in data.tables.items()} == {
        name: len(rows) for name, (_, rows) in VALID.items()}


# Up to two corruptions per table, at random rows (taken modulo the table's length).
PLANS = st.tuples(*[
    st.lists(st.tuples(st.sampled_from([c for c in CORRUPTIONS if c[0] == table]), st.integers(0, 11)),
             max_size=2)
    for table in VALID
]).map(lambda parts: [corruption for part in parts for corruption in part])


@settings(max_examples=40, deadline=None)
@given(PLANS)
def test_every_row_is_loaded_or_rejected_and_corrupted_rows_are_rejected(plan):
    tables, invalid = corrupt(plan)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_tables(folder, tables)
        data = repkpi.load(folder, errors="quarantine")
    rejects = data.rejects
    assert (len(rejects) > 0) == bool(plan)
    for name, (_, rows) in tables.items():
        frame = getattr(data, name)
        rejected = rejected_rows(data, name)
        assert len(frame) + len(rejected) == len(rows), name
        assert {i + 1 for i in frame.index} | rejected == set(range(1, len(rows) + 1)), name
        assert invalid[name] <= rejected, name
        # A row nobody corrupted is only rejected through its account.
        others = rejects[(rejects["table"] == name) & ~rejects["row"].isin(invalid[name])]
        assert others["check"].str.startswith("reference:").all(), others
    summary = data.summary()
    assert (summary["rows"] == summary["loaded"] + summary["rejected"]).all()
    assert summary["rows"].tolist() == [len(rows) for _, rows in tables.values()]


# ---------------------------------------------------------------- CrmData from frames


def frames(texts: dict[str, str]) -> dict[str, pd.DataFrame]:
    """The tables as an export reads them: every value text, empty cells missing."""
    return {name: pd.read_csv(io.StringIO(textwrap.dedent(text).strip()), dtype="str",
                              keep_default_na=False, na_values=[""])
            for name, text in texts.items()}


def test_crmdata_from_text_frames_validates_like_files(failures_of):
    given_frames = frames(INVALID)
    with pytest.raises(repkpi.DataValidationError) as info:
        repkpi.CrmData(**given_frames)
    assert failures_of(info.value.report) == INVALID_FAILURES

    data = repkpi.CrmData(**given_frames, errors="quarantine")
    assert failures_of(data.rejects) == sorted(
        [*INVALID_FAILURES, ("deals", 3, "account_id", ACCOUNT_REJECTED, "A2")])
    assert data.accounts["account_id"].tolist() == ["A1"]
    assert data.sources == {"accounts": "<DataFrame>", "deals": "<DataFrame>", "reps": "<DataFrame>"}
    assert_model_dtypes("accounts", data.accounts)


def test_crmdata_from_typed_frames():
    accounts = pd.DataFrame({
        "account_id": ["A1", "A2"],
        "customer_since": pd.to_datetime(["2024-01-15", "2024-02-01"]),
        "churned_on": pd.to_datetime([None, "2024-09-01"]),
    })
    tickets = pd.DataFrame({
        "ticket_id": ["T1"],
        "account_id": ["A2"],
        # 09:00 in New York in March 2024 (after the DST switch, UTC-4) is 13:00 UTC.
        "opened_at": pd.to_datetime(["2024-03-15 09:00"]).tz_localize("America/New_York"),
        "first_response_at": pd.to_datetime(["2024-03-15 13:00"]),  # naive: UTC
        "priority": ["low"],
    })
    surveys = pd.DataFrame({
        "response_id": ["R1", "R2"], "account_id": ["A1", "A2"],
        "responded_at": pd.to_datetime(["2024-03-02T12:00:00Z", "2024-03-03T12:00:00Z"]),
        "csat": [4, 5], "nps": [np.nan, 10.0],
    })
    deals = pd.DataFrame({
        "deal_id": ["D1"], "account_id": ["A1"], "created_on": pd.to_datetime(["2024-01-20"]),
        "stage": ["open"], "amount": [250], "deal_type": ["upsell"], "channel": ["partner"],
    })
    data = repkpi.CrmData(accounts=accounts, tickets=tickets, surveys=surveys, deals=deals)
    for table, frame in data.tables.items():
        assert_model_dtypes(table, frame)
    assert data.tickets.loc[0, "opened_at"] == pd.Timestamp("2024-03-15 13:00", tz="UTC")
    assert data.tickets.loc[0, "first_response_at"] == pd.Timestamp("2024-03-15 13:00", tz="UTC")
    assert data.surveys["nps"].isna().tolist() == [True, False]
    assert data.surveys.loc[1, "nps"] == 10
    assert data.deals.loc[0, "amount"] == 250.0
    assert data.accounts.loc[1, "churned_on"] == pd.Timestamp("2024-09-01")


def test_crmdata_from_typed_frames_reports_by_position(failures_of):
    surveys = pd.DataFrame({
        "response_id": ["R1", "R2", "R3"], "account_id": ["A1", "A1", "A1"],
        "responded_at": pd.to_datetime(["2024-03-02T12:00:00Z"] * 3),
        "csat": [4.0, 4.5, 7.0], "nps": pd.array([None, None, None], dtype="Int64"),
    }, index=["x", "y", "z"])
    with pytest.raises(repkpi.DataValidationError) as info:
        repkpi.CrmData(surveys=surveys)
    assert [f[:4] for f in failures_of(info.value.report)] == [
        ("surveys", 2, "csat", "type: a whole number"),
        ("surveys", 3, "csat", "range: between 1 and 5"),
    ]


def test_crmdata_empty_text_id_is_missing():
    accounts = pd.DataFrame({"account_id": ["A1", ""], "customer_since": ["2024-01-15", "2024-02-01"]})
    data = repkpi.CrmData(accounts=accounts, errors="quarantine")
    assert data.rejects[["row", "column", "check"]].to_dict("records") == [
        {"row": 2, "column": "account_id", "check": REQUIRED}]


def test_crmdata_does_not_modify_the_frames_passed_in():
    accounts = pd.DataFrame({
        "account_id": ["A1", "A2", "A1"],
        "customer_since": ["2024-01-15", "2024-13-01", "2024-03-01"],
        "industry": ["retail", None, "media"],
    }, index=[7, 8, 9])
    deals = pd.DataFrame({
        "deal_id": ["D1", "D2"], "account_id": ["A1", "A3"],
        "created_on": pd.to_datetime(["2024-01-10", "2024-01-11"]),
        "stage": ["open", "won"], "amount": [100, -1], "deal_type": ["upsell", "upsell"],
        "channel": ["direct", "direct"],
    })
    before = {"accounts": accounts.copy(deep=True), "deals": deals.copy(deep=True)}
    data = repkpi.CrmData(accounts=accounts, deals=deals, errors="quarantine")
    pd.testing.assert_frame_equal(accounts, before["accounts"])
    pd.testing.assert_frame_equal(deals, before["deals"])
    assert len(data.accounts) + len(rejected_rows(data, "accounts")) == 3
    assert len(data.deals) == 0
    with pytest.raises(repkpi.DataValidationError):
        repkpi.CrmData(accounts=accounts, deals=deals)
    pd.testing.assert_frame_equal(accounts, before["accounts"])
    pd.testing.assert_frame_equal(deals, before["deals"])


def test_crmdata_rejects_what_is_not_a_frame():
    with pytest.raises(repkpi.OptionError, match=r"accounts must be a pandas DataFrame, got list"):
        repkpi.CrmData(accounts=[{"account_id": "A1", "customer_since": "2024-01-15"}])


def test_crmdata_with_no_tables_is_empty():
    data = repkpi.CrmData()
    assert data.tables == {}
    assert data.accounts is None
    assert len(data.rejects) == 0
    assert len(data.summary()) == 0
