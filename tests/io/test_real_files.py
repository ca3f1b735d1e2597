"""Real exports in every shape the data model allows: each read, or refused by name.

Each test writes its file(s); the expected rows are worked out by hand: rows
loaded + rows rejected = data rows of the file, and a row number is the one a
spreadsheet shows less one (row 1 is spreadsheet row 2, blank lines counted).
"""

from __future__ import annotations

import gzip
import os
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import repkpi
from repkpi.cli import main
from repkpi.io.files import read_file

ACCOUNTS = "account_id,region,customer_since\nA1,EU,2024-01-15\nA2,NA,2024-02-01\nA3,US,2024-03-01\n"
"""Three valid accounts (``NA`` is North America, not empty)."""


def rejects(data) -> list[tuple]:
    """The rejects as (table, row, column, check) tuples, sorted."""
    return sorted((r.table, int(r.row), r.column, r.check)
                  for r in data.rejects.itertuples(index=False))


def row_numbers(frame: pd.DataFrame) -> list[int]:
    return [int(i) + 1 for i in frame.index]


# ---------------------------------------------------------------- formats


@pytest.mark.parametrize("name", ["accounts.csv.gz", "accounts.csv.zip", "accounts.tsv",
                                  "accounts.txt"])
def test_compressed_and_other_text_formats(tmp_path, name):
    text = ACCOUNTS.replace(",", "\t") if ".tsv" in name else ACCOUNTS
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    elif name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("accounts.csv", text)
    else:
        path.write_text(text, encoding="utf-8")
    data = repkpi.load(tmp_path)
    assert data.accounts["account_id"].tolist() == ["A1", "A2", "A3"]
    assert data.accounts["region"].tolist() == ["EU", "NA", "US"]
    assert data.summary()["delimiter"].tolist() == ["\t" if ".tsv" in name else ","]


def _xlsx(path: Path, rows: list[list], sheet: str | None = None, first: str | None = None) -> None:
    from openpyxl import Workbook

    book = Workbook()
    if first is not None:  # another sheet first
        book.active.title = first
        book.active.append(["nothing", "here"])
        book.create_sheet(sheet)
        target = book[sheet]
    else:
        target = book.active
    for row in rows:
        target.append(row)
    book.save(path)


def test_xlsx_is_read_with_spreadsheet_row_numbers(tmp_path):
    import datetime as dt

    # Spreadsheet rows: 1 header, 2 A1, 3 blank, 4 A2 (bad date), 5 an id stored as a number.
    _xlsx(tmp_path / "accounts.xlsx", [
        ["account_id", "customer_since", "region", None],
        ["A1", dt.datetime(2024, 1, 15), "EU", None],
        [None, None, None, None],
        ["A2", "someday", "US", None],
        [7.0, "2024-03-01", "NA", None],
    ], sheet="accounts", first="Summary")
    data = repkpi.load(tmp_path, errors="quarantine")
    assert data.accounts["account_id"].tolist() == ["A1", "7"]
    assert row_numbers(data.accounts) == [1, 4]
    assert data.accounts["customer_since"].tolist() == [pd.Timestamp("2024-01-15"),
                                                        pd.Timestamp("2024-03-01")]
    assert rejects(data) == [("accounts", 3, "customer_since", "type: a date YYYY-MM-DD")]
    assert data.summary()["rows"].tolist() == [3]


def test_parquet_integral_float_ids_are_the_ids(tmp_path):
    pd.DataFrame({"account_id": [1.0, 2.0, 2.5], "customer_since": ["2024-01-15"] * 3}).to_parquet(
        tmp_path / "accounts.parquet")
    data = repkpi.load(tmp_path)
    assert data.accounts["account_id"].tolist() == ["1", "2", "2.5"]


# ---------------------------------------------------------------- part files


def _parts(tmp_path: Path) -> Path:
    folder = tmp_path / "accounts"
    folder.mkdir()
    (folder / "part-0001.csv").write_text(ACCOUNTS, encoding="utf-8")
    # part 2: row 1 fine, row 2 blank, row 3 has a bad date, row 4 one field too many
    (folder / "part-0002.csv").write_text(
        "account_id,region,customer_since\nB1,EU,2024-04-01\n\nB2,EU,oops\nB3,EU,2024-05-01,x\n",
        encoding="utf-8")
    return tmp_path


def test_a_folder_of_part_files_is_one_table_numbered_within_each_file(tmp_path):
    data = repkpi.load(_parts(tmp_path), errors="quarantine")
    assert data.accounts["account_id"].tolist() == ["A1", "A2", "A3", "B1"]
    assert data.summary()[["rows", "loaded", "rejected"]].to_dict("records") == [
        {"rows": 6, "loaded": 4, "rejected": 2}]
    got = data.rejects[["file", "row", "column", "check"]].to_records(index=False).tolist()
    part = str(tmp_path / "accounts" / "part-0002.csv")
    assert got == [(part, 3, "customer_since", "type: a date YYYY-MM-DD"),
                   (part, 4, "<line>", "malformed line: 4 fields, expected 3")]
    with pytest.raises(repkpi.DataValidationError, match=r"part-0002\.csv, row 3"):
        repkpi.load(tmp_path)


# ---------------------------------------------------------------- text


def test_utf16_with_bom_and_utf8_with_bom(tmp_path):
    (tmp_path / "accounts.csv").write_bytes(ACCOUNTS.replace("A1", "Ä1").encode("utf-16"))
    assert repkpi.load(tmp_path).accounts["account_id"].tolist() == ["Ä1", "A2", "A3"]
    (tmp_path / "accounts.csv").write_bytes(b"\xef\xbb\xbf" + ACCOUNTS.encode())
    assert list(repkpi.load(tmp_path).accounts.columns)[:2] == ["account_id", "account_name"]


def test_another_encoding_is_an_error_unless_declared(tmp_path):
    text = ACCOUNTS.replace("A3,US", "A3,Société")
    (tmp_path / "accounts.csv").write_bytes(text.encode("cp1252"))
    with pytest.raises(repkpi.DataFileError,
                       match=r"(?s)accounts\.csv: the text is not UTF-8.*line 4.*Hint:.*cp1252"):
        repkpi.load(tmp_path)
    assert main(["validate", str(tmp_path)]) == 1
    frame = read_file(tmp_path / "accounts.csv", encoding="cp1252")
    assert frame["region"].tolist() == ["EU", "NA", "Société"]


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_the_delimiter_is_found_from_the_header_and_said_in_the_summary(tmp_path, delimiter):
    (tmp_path / "deals.csv").write_text(
        "deal_id;account_id;created_on;stage;amount;deal_type;channel\n"
        "D1;A1;2024-01-15;open;100.5;new_business;direct\n".replace(";", delimiter),
        encoding="utf-8")
    data = repkpi.load(tmp_path)
    assert data.deals["amount"].tolist() == [100.5]
    assert data.summary()["delimiter"].tolist() == [delimiter]


# ---------------------------------------------------------------- lines


def test_a_malformed_line_is_a_bad_row_and_the_rest_loads(tmp_path):
    # rows: 1 A1, 2 blank, 3 too many fields, 4 blank, 5 too few, 6 A4
    (tmp_path / "accounts.csv").write_text(
        "account_id,region,customer_since\nA1,EU,2024-01-15\n\nA2,EU,2024-01-16,extra\n\n"
        "A3,EU\nA4,US,2024-01-17\n", encoding="utf-8")
    data = repkpi.load(tmp_path, errors="quarantine")
    assert data.accounts["account_id"].tolist() == ["A1", "A4"]
    assert row_numbers(data.accounts) == [1, 6]
    assert rejects(data) == [("accounts", 3, "<line>", "malformed line: 4 fields, expected 3"),
                             ("accounts", 5, "<line>", "malformed line: 2 fields, expected 3")]
    assert data.rejects["value"].tolist() == ["A2,EU,2024-01-16,extra", "A3,EU"]
    summary = data.summary().iloc[0]
    assert (summary["rows"], summary["loaded"], summary["rejected"]) == (4, 2, 2)
    with pytest.raises(repkpi.DataValidationError, match=r"(?s)accounts: row 3.*accounts\.csv"):
        repkpi.load(tmp_path)
    assert main(["validate", str(tmp_path)]) == 1


def test_blank_lines_count_in_row_numbers(tmp_path):
    (tmp_path / "accounts.csv").write_text(
        "account_id,customer_since\n\nA1,2024-01-15\n\n\nA2,never\n", encoding="utf-8")
    data = repkpi.load(tmp_path, errors="quarantine")
    assert row_numbers(data.accounts) == [2]
    assert rejects(data) == [("accounts", 5, "customer_since", "type: a date YYYY-MM-DD")]


def test_excels_empty_trailing_columns_are_dropped(tmp_path):
    (tmp_path / "accounts.csv").write_text(
        "account_id,customer_since,,,\nA1,2024-01-15,,,\nA2,2024-01-16,,,\n", encoding="utf-8")
    data = repkpi.load(tmp_path)
    assert data.accounts["account_id"].tolist() == ["A1", "A2"]
    assert not any(c.startswith("<unnamed") or c == "" for c in data.accounts.columns)
    (tmp_path / "accounts.csv").write_text(
        "account_id,customer_since,\nA1,2024-01-15,surprise\n", encoding="utf-8")
    with pytest.raises(repkpi.DataFileError, match=r"accounts\.csv: column 3 has values but no header"):
        repkpi.load(tmp_path)


def test_a_salesforce_report_trailer_ends_the_data(tmp_path):
    (tmp_path / "accounts.csv").write_text(
        '"account_id","customer_since"\n"A1","2024-01-15"\n"A2","2024-01-16"\n\n'
        '"Accounts Report"\n"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved."\n'
        '"Confidential Information - Do Not Distribute"\n'
        '"Generated By:  Jane Doe  11/30/2026 10:15 AM"\n"Acme Corp"\n', encoding="utf-8")
    data = repkpi.load(tmp_path)
    assert data.accounts["account_id"].tolist() == ["A1", "A2"]
    assert data.summary()["rows"].tolist() == [2]


def test_a_salesforce_report_trailer_ends_an_excel_sheet(tmp_path):
    # The same report saved as .xlsx: two data rows, a blank row, then the trailer's rows.
    _xlsx(tmp_path / "accounts.xlsx", [
        ["account_id", "customer_since"], ["A1", "2024-01-15"], ["A2", "2024-01-16"], [None, None],
        ["Accounts Report", None], ["Confidential Information - Do Not Distribute", None],
        ["Generated By:  Jane Doe  11/30/2026 10:15 AM", None], ["Acme Corp", None]])
    data = repkpi.load(tmp_path)
    assert data.accounts["account_id"].tolist() == ["A1", "A2"]
    assert data.summary()["rows"].tolist() == [2]
    assert len(data.rejects) == 0


# ---------------------------------------------------------------- cells


def test_cells_are_trimmed_and_the_empty_tokens_are_empty(tmp_path):
    (tmp_path / "accounts.csv").write_text(
        "account_id,region,segment,customer_since\nA1 ,NA,NULL,2024-01-15\n"
        " A2,#N/A, smb ,2024-01-16\nA3,None,nan, 2024-01-17\n", encoding="utf-8")
    (tmp_path / "deals.csv").write_text(
        "deal_id,account_id,rep_id,created_on,stage,amount,deal_type,channel\n"
        "D1,A1 ,N/A,2024-02-01,open,100,new_business,direct\n", encoding="utf-8")
    data = repkpi.load(tmp_path)
    assert data.accounts["account_id"].tolist() == ["A1", "A2", "A3"]
    assert data.accounts["region"].tolist()[0] == "NA"
    assert data.accounts["region"].isna().tolist() == [False, True, True]
    assert data.accounts["segment"].tolist()[1] == "smb"
    assert data.accounts["segment"].isna().tolist() == [True, False, True]
    assert data.deals["account_id"].tolist() == ["A1"]  # found among the accounts once trimmed
    assert data.deals["rep_id"].isna().all()
    assert data.summary().set_index("table")["trimmed"].to_dict() == {"accounts": 4, "deals": 1}


@pytest.mark.parametrize(("table", "text", "column"), [
    ("deals", "deal_id,account_id,created_on,stage,amount,deal_type,channel\n"
              "D1,A1,2024-02-01,open,100,new_business,direct\n"
              "D2,A1,2024-02-01,open,inf,new_business,direct\n"
              "D3,A1,2024-02-01,open,1e309,new_business,direct\n", "amount"),
    ("surveys", "response_id,account_id,responded_at,csat,nps\n"
                "R1,A1,2024-02-01T10:00:00Z,5,9\n"
                "R2,A1,2024-02-01T10:00:00Z,inf,\n"
                "R3,A1,2024-02-01T10:00:00Z,,1e20\n", None),
])
def test_numbers_must_be_finite(tmp_path, table, text, column):
    (tmp_path / "accounts.csv").write_text(ACCOUNTS, encoding="utf-8")
    (tmp_path / f"{table}.csv").write_text(text, encoding="utf-8")
    data = repkpi.load(tmp_path, errors="quarantine")
    assert len(getattr(data, table)) == 1
    found = data.rejects[data.rejects["table"] == table]
    assert sorted(set(found["row"])) == [2, 3]
    bad = found[found["check"].str.startswith("type:")]
    assert bad["column"].tolist() == ([column] * 2 if column else ["csat", "nps"])
    assert main(["validate", str(tmp_path)]) == 1


def test_far_out_dates(tmp_path):
    (tmp_path / "accounts.csv").write_text(
        "account_id,customer_since,churned_on\nA1,2024-01-15,9999-12-31\n"
        "A2,2024-01-15,2200-01-01\nA3,1850-01-01,\nA4,2024-01-15,2199-12-31\n", encoding="utf-8")
    (tmp_path / "contracts.csv").write_text(
        "contract_id,account_id,start_date,end_date,annual_value\n"
        "C1,A1,2024-01-15,2025-01-14,1000\nC2,A1,2300-01-01,9999-12-31,1000\n", encoding="utf-8")
    data = repkpi.load(tmp_path, errors="quarantine")
    accounts = data.accounts.set_index("account_id")
    assert accounts["churned_on"].isna().tolist() == [True, True, False]  # A1, A2, A4
    assert data.contracts["contract_id"].tolist() == ["C1"]
    found = rejects(data)
    assert ("accounts", 3, "customer_since", "range: a date in the years 1900..2199") in found
    assert ("contracts", 2, "start_date", "range: a date in the years 1900..2199") in found
    assert not any(c == "end_date" and "range" in check for *_, c, check in found)
    assert data.summary().set_index("table")["never"].to_dict() == {"accounts": 2, "contracts": 1}


def test_recorded_dates_after_today_are_bad_cells(tmp_path):
    today = pd.Timestamp.now(tz="UTC").normalize().tz_localize(None)
    tomorrow = (today + pd.Timedelta(days=1)).date()
    later = (today + pd.Timedelta(days=40)).date()
    (tmp_path / "accounts.csv").write_text(
        f"account_id,customer_since\nA1,2024-01-15\nA2,{tomorrow}\nA3,{today.date()}\n",
        encoding="utf-8")
    (tmp_path / "deals.csv").write_text(
        "deal_id,account_id,created_on,closed_on,stage,amount,deal_type,channel\n"
        f"D1,A1,2024-02-01,{later},open,100,new_business,direct\n"
        f"D2,A1,2024-02-01,{later},won,100,new_business,direct\n", encoding="utf-8")
    (tmp_path / "tickets.csv").write_text(
        "ticket_id,account_id,opened_at,priority\n"
        f"T1,A1,{tomorrow}T00:30:00Z,high\nT2,A1,{today.date()}T23:59:00Z,high\n",
        encoding="utf-8")
    data = repkpi.load(tmp_path, errors="quarantine")
    assert data.accounts["account_id"].tolist() == ["A1", "A3"]
    assert data.deals["deal_id"].tolist() == ["D1"]  # an open deal's expected close may lie ahead
    assert data.tickets["ticket_id"].tolist() == ["T2"]
    assert [(t, r, c) for t, r, c, _ in rejects(data)] == [
        ("accounts", 2, "customer_since"), ("deals", 2, "closed_on"), ("tickets", 1, "opened_at")]
    assert data.as_of <= today + pd.Timedelta(days=1)


# ---------------------------------------------------------------- refused by name


def _unreadable_deals(folder: Path, make: str) -> str:
    """Accounts, and beside them a "deals" that cannot be read (its name)."""
    (folder / "accounts.csv").write_text(ACCOUNTS, encoding="utf-8")
    name = {"json": "deals.json", "dangling": "deals.csv", "broken-xlsx": "deals.xlsx",
            "empty-folder": "deals"}[make]
    if make == "json":
        (folder / name).write_text("[]", encoding="utf-8")
    elif make == "dangling":
        os.symlink(folder / "gone.csv", folder / name)
    elif make == "broken-xlsx":
        (folder / name).write_bytes(b"PK\x03\x04 not a workbook")
    else:
        (folder / name).mkdir()
    return name


@pytest.mark.parametrize("make", ["json", "dangling", "broken-xlsx"])
def test_anything_else_named_after_a_table_is_an_error_naming_it(tmp_path, make):
    name = _unreadable_deals(tmp_path, make)
    with pytest.raises(repkpi.DataFileError, match=re.escape(name)):
        repkpi.load(tmp_path)
    assert main(["validate", str(tmp_path)]) == 1


def test_a_folder_with_no_table_is_an_error(tmp_path, capsys):
    (tmp_path / "README.md").write_text("nothing", encoding="utf-8")
    with pytest.raises(repkpi.DataFileError, match="no table files found"):
        repkpi.load(tmp_path)
    assert main(["validate", str(tmp_path)]) == 1


def test_exit_codes_2_for_usage_only(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nowhere")]) == 2
    (tmp_path / "accounts.csv").write_text(ACCOUNTS, encoding="utf-8")
    (tmp_path / "mapping.toml").write_text("this is [not toml", encoding="utf-8")
    assert main(["validate", str(tmp_path), "--source", str(tmp_path / "mapping.toml")]) == 2
    (tmp_path / "deals.csv").write_text("deal_id\nD1\n", encoding="utf-8")
    assert main(["validate", str(tmp_path)]) == 1  # missing required columns


# ---------------------------------------------------------------- Dask


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as local, \
            distributed.Client(local) as client:
        yield client


@pytest.mark.dask
def test_dask_reads_part_files_compressed_and_excel_alike(tmp_path, cluster):
    _parts(tmp_path)
    (tmp_path / "deals.csv.gz").write_bytes(gzip.compress(
        b"deal_id;account_id;created_on;stage;amount;deal_type;channel\n"
        b"D1 ;A1;2024-02-01;open;100;new_business;direct\n"
        b"D2;A1;2024-02-01;open;inf;new_business;direct\n"))
    _xlsx(tmp_path / "reps.xlsx", [["rep_id", "hired_on", "left_on"], ["U1", "2023-01-02", None],
                                   [None, None, None], ["U2", "2023-01-03", "9999-12-31"]])
    data = repkpi.load(tmp_path, errors="quarantine", engine="dask")
    pandas = repkpi.load(tmp_path, errors="quarantine")
    assert data.accounts.compute()["account_id"].tolist() == ["A1", "A2", "A3", "B1"]
    assert data.deals.compute()["deal_id"].tolist() == ["D1"]
    reps = data.reps.compute()
    assert row_numbers(reps) == [1, 3]
    assert reps["left_on"].isna().all()
    got = sorted((Path(r.file).name, int(r.row), r.column, r.check)
                 for r in data.rejects.itertuples(index=False))
    assert got == [("deals.csv.gz", 2, "amount", "type: a number"),
                   ("part-0002.csv", 3, "customer_since", "type: a date YYYY-MM-DD"),
                   ("part-0002.csv", 4, "<line>", "malformed line: 4 fields, expected 3")]
    expected = sorted((Path(r.file).name, int(r.row), r.column, r.check)
                      for r in pandas.rejects.itertuples(index=False))
    assert got == expected
    summary = data.summary().set_index("table")
    assert (summary["rows"] == summary["loaded"] + summary["rejected"]).all()
    assert summary.loc["accounts", "rows"] == 6


@pytest.mark.dask
@pytest.mark.parametrize("make", ["json", "dangling", "empty-folder"])
def test_dask_refuses_by_name(tmp_path, make, cluster):
    name = _unreadable_deals(tmp_path, make)
    with pytest.raises(repkpi.DataFileError, match=re.escape(name)):
        repkpi.load(tmp_path, engine="dask")


@pytest.mark.dask
def test_dask_folder_with_no_table(tmp_path, cluster):
    (tmp_path / "README.md").write_text("nothing", encoding="utf-8")
    with pytest.raises(repkpi.DataFileError, match="no table files found"):
        repkpi.load(tmp_path, engine="dask")
