"""The file rules of data-model.md: one read of each file, sizes, long cells, line ends, Parquet types.

Each test writes its file(s); the expected rows are worked out by hand in a
comment beside them: rows loaded + rows rejected = data rows of the file,
and a row number is the line's position after the header, blank lines
counted (row 1 is spreadsheet row 2). The last part is the suite's
catalogue of bad files: every one loads (its rows all accounted for) or is
refused with a repkpi error that names it, never a traceback or a MemoryError.
"""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import repkpi
from repkpi.cli import main
from repkpi.errors import DataFileError, DataValidationError
from repkpi.io import delimited, files
from repkpi.io.files import read_file

ACCOUNTS = "account_id,region,customer_since\nA1,EU,2024-01-15\nA2,NA,2024-02-01\nA3,US,2024-03-01\n"
"""Three valid accounts."""
OTHER = "account_id,segment,customer_since\nB1,smb,2023-05-01\nB2,mid,2023-06-01\n"
"""Another version of accounts.csv: another header, two other rows."""
MIB = 1 << 20


def _swap_during_read(monkeypatch: pytest.MonkeyPatch, swap: Callable[[], None]) -> None:
    """Run ``swap`` after the header of a delimited file is read and before its rows are."""
    read_rows = delimited._read

    def swapped(*args, **kwargs):
        swap()
        return read_rows(*args, **kwargs)

    monkeypatch.setattr(delimited, "_read", swapped)


# ---------------------------------------------------------------- one read of each file


def test_a_file_replaced_while_read_gives_the_rows_of_the_version_opened(tmp_path, monkeypatch):
    path = tmp_path / "accounts.csv"
    path.write_text(ACCOUNTS, encoding="utf-8")
    new = tmp_path / "new.csv"
    new.write_text(OTHER, encoding="utf-8")
    # An export tool writes the new version under another name, then renames it over the old.
    _swap_during_read(monkeypatch, lambda: os.replace(new, path))
    frame = read_file(path)
    # One version: the header and the three rows of the file as it was opened.
    assert list(frame.columns) == ["account_id", "region", "customer_since"]
    assert frame["account_id"].tolist() == ["A1", "A2", "A3"]
    assert path.read_text(encoding="utf-8") == OTHER  # the swap did happen


def test_a_file_rewritten_in_place_while_read_is_an_error_naming_it(tmp_path, monkeypatch):
    path = tmp_path / "accounts.csv"
    path.write_text(ACCOUNTS, encoding="utf-8")

    def rewrite() -> None:
        with open(path, "r+b") as handle:  # same file, other bytes: truncated and written again
            handle.truncate(0)
            handle.write(OTHER.encode())

    _swap_during_read(monkeypatch, rewrite)
    # The reader's own open (with the cache, its one read is what is parsed: tests/io/test_cache.py).
    with pytest.raises(DataFileError, match=r"accounts\.csv: the file changed while the run read it"):
        repkpi.load(tmp_path, cache=False)


def _dask_load_then(tmp_path: Path, change: Callable[[Path], None]):
    path = tmp_path / "accounts.csv"
    path.write_text(ACCOUNTS, encoding="utf-8")
    data = repkpi.load(tmp_path, engine="dask")
    change(path)
    return data


def test_a_preset_reads_its_exports_from_one_open_too(tmp_path, monkeypatch):
    fixture = Path(__file__).parent / "fixtures" / "zendesk" / "tickets.csv"
    path = tmp_path / "tickets.csv"
    path.write_bytes(fixture.read_bytes())
    _swap_during_read(monkeypatch, lambda: path.write_bytes(fixture.read_bytes() + b"\n\n"))
    with pytest.raises(DataFileError, match=r"tickets\.csv: the file changed while the run read it"):
        repkpi.load(tmp_path, source="zendesk", cache=False)  # the reader's own open, as above


@pytest.mark.dask
def test_dask_reads_a_file_unchanged_since_load_again(tmp_path):
    data = _dask_load_then(tmp_path, lambda path: None)
    assert data.accounts.compute()["account_id"].tolist() == ["A1", "A2", "A3"]


@pytest.mark.dask
@pytest.mark.parametrize("change", ["other size", "same size, later time"])
def test_dask_stops_when_a_file_changed_after_load(tmp_path, change):
    def rewrite(path: Path) -> None:
        before = path.stat()
        if change == "other size":
            path.write_text(OTHER, encoding="utf-8")
        else:  # A3 -> A4: as many bytes, written a second later
            path.write_text(ACCOUNTS.replace("A3", "A4"), encoding="utf-8")
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))

    data = _dask_load_then(tmp_path, rewrite)
    with pytest.raises(DataFileError, match=r"accounts\.csv: the file changed since the run first "
                                            r"read it"):
        data.accounts.compute()


# ---------------------------------------------------------------- sizes


def _rows(n: int) -> str:
    """``n`` valid accounts after the header: line i is ``A<i>,EU,2024-01-15``."""
    return "account_id,region,customer_since\n" + "".join(
        f"A{i},EU,2024-01-15\n" for i in range(1, n + 1))


def _compressed(path: Path, text: str) -> None:
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode(), compresslevel=9))
    else:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("accounts.csv", text)


@pytest.mark.parametrize("name", ["accounts.csv.gz", "accounts.csv.zip"])
def test_a_compressed_file_that_expands_past_the_limit_is_refused_by_name(tmp_path, name):
    # The shape of a zip bomb: 4 MiB of blank lines after the header pack into a few KiB.
    text = "account_id,customer_since\n" + "\n" * (4 * MIB)
    _compressed(tmp_path / name, text)
    assert (tmp_path / name).stat().st_size * 200 < len(text)
    with pytest.raises(DataFileError, match=rf"{name} expands past 1 MiB"):
        repkpi.load(tmp_path, max_bytes=MIB)


@pytest.mark.parametrize("name", ["accounts.csv.gz", "accounts.csv.zip"])
def test_the_limit_is_on_the_content_to_the_byte(tmp_path, name):
    text = _rows(3)  # the header's 33 bytes, then 3 rows of 17: 84 bytes
    assert len(text) == 84
    _compressed(tmp_path / name, text)
    assert repkpi.load(tmp_path, max_bytes=84).accounts["account_id"].tolist() == ["A1", "A2", "A3"]
    with pytest.raises(DataFileError, match=rf"{name} expands past 83 bytes"):
        repkpi.load(tmp_path, max_bytes=83)


def test_the_default_limit_is_4_gib(tmp_path):
    assert files.MAX_BYTES == 4 * 1024 ** 3
    assert files.size_words(files.MAX_BYTES) == "4 GiB"


def test_a_zip_member_that_declares_more_than_the_limit_is_refused_before_reading(
        tmp_path, monkeypatch):
    # 33 + 9 * 17 + 90 * 18 + 900 * 19 + 20 = 18,926 bytes (rows A1..A1000), past 10 KiB.
    _compressed(tmp_path / "accounts.csv.zip", _rows(1000))

    def never(*args, **kwargs):
        raise AssertionError("read past its declared size")

    monkeypatch.setattr(files, "_bounded", never)
    with pytest.raises(DataFileError, match=r"accounts\.csv\.zip expands past 10 KiB"):
        repkpi.load(tmp_path, max_bytes=10 * 1024)


def test_an_xlsx_whose_sheets_expand_past_the_limit_is_refused(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["account_id", "customer_since"])
    for i in range(2000):
        book.active.append([f"A{i}", "2024-01-15"])
    book.save(tmp_path / "accounts.xlsx")
    with pytest.raises(DataFileError, match=r"accounts\.xlsx expands past 16 KiB"):
        repkpi.load(tmp_path, max_bytes=16 * 1024)
    assert len(repkpi.load(tmp_path).accounts) == 2000


def test_memory_running_out_is_an_error_naming_the_file(tmp_path, monkeypatch):
    _compressed(tmp_path / "accounts.csv.gz", ACCOUNTS)

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(files, "_bounded", out_of_memory)
    with pytest.raises(DataFileError, match=r"accounts\.csv\.gz: the file does not fit in memory"):
        repkpi.load(tmp_path)


def test_max_bytes_on_the_command_line(tmp_path, capsys):
    _compressed(tmp_path / "accounts.csv.gz", _rows(3))  # 84 bytes
    assert main(["validate", str(tmp_path), "--max-bytes", "83"]) == 1
    err = capsys.readouterr().err
    assert "accounts.csv.gz expands past 83 bytes" in err
    assert "Traceback" not in err
    assert main(["validate", str(tmp_path), "--max-bytes", "1KiB"]) == 0
    assert main(["kpis", str(tmp_path), "--max-bytes", "1KB", "--engine", "pandas"]) == 0


@pytest.mark.parametrize("text", ["0", "-5", "ten", "5 parsecs"])
def test_a_bad_max_bytes_is_a_usage_error(tmp_path, text, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["validate", str(tmp_path), "--max-bytes", text])
    assert stop.value.code == 2
    assert "a size in bytes" in capsys.readouterr().err


@pytest.mark.dask
def test_dask_refuses_a_file_past_the_limit(tmp_path):
    _compressed(tmp_path / "accounts.csv.gz", "account_id,customer_since\n" + "\n" * MIB)
    with pytest.raises(DataFileError, match=r"accounts\.csv\.gz expands past 512 KiB"):
        repkpi.load(tmp_path, engine="dask", max_bytes=MIB // 2)


# ---------------------------------------------------------------- cells of any length


def test_a_cell_longer_than_the_readers_block_is_a_cell(tmp_path):
    note = "x" * (3 * MIB)  # three times pyarrow's 1 MiB block
    lines = ["account_id,customer_since,note", "A1,2024-01-15,short",
             f"A2,2024-02-01,{note}",
             f'A3,2024-03-01,"{note[:MIB]}\nsecond line of a quoted note"',
             "A4,2024-13-01,after the long notes"]  # row 4: month 13
    (tmp_path / "accounts.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = repkpi.load(tmp_path, errors="quarantine")
    # Rows 1-3 load, row 4 is rejected by its number: 3 + 1 = the 4 data rows.
    assert data.accounts["account_id"].tolist() == ["A1", "A2", "A3"]
    assert data.accounts["note"].str.len().tolist() == [5, 3 * MIB, MIB + 1 + 28]
    assert data.rejects[["row", "column"]].to_numpy().tolist() == [[4, "customer_since"]]


def test_a_failed_threaded_read_cannot_move_where_the_next_read_starts(tmp_path, monkeypatch):
    # pyarrow's threaded reader may still read ahead after it raised on a long row. Simulated
    # here: the moment the second attempt starts, the first attempt's reader moves on to the
    # middle of the file. Each attempt must read from its own reader, so the rows stay whole.
    note = "x" * (2 * MIB)
    lines = ["account_id,customer_since,note", "A1,2024-01-15,short", f"A2,2024-02-01,{note}",
             "A3,2024-03-01,last"]
    (tmp_path / "accounts.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    real = delimited.pacsv.read_csv
    readers: list[object] = []

    def read_csv(source, **options):
        readers.append(source)
        if len(readers) > 1:
            readers[0].seek(source.size() // 2)  # the earlier attempt, still reading ahead
        return real(source, **options)

    monkeypatch.setattr(delimited.pacsv, "read_csv", read_csv)
    data = repkpi.load(tmp_path, cache=False)
    assert len(readers) >= 2  # the long row made the first attempt fail
    assert data.accounts["account_id"].tolist() == ["A1", "A2", "A3"]
    assert data.accounts["note"].str.len().tolist() == [5, 2 * MIB, 4]


# ---------------------------------------------------------------- line ends


@pytest.mark.parametrize("end", ["\r", "\r\n", "\n"])
def test_any_line_end_reads_as_lf_does(tmp_path, end):
    (tmp_path / "accounts.csv").write_bytes(ACCOUNTS.replace("\n", end).encode())
    data = repkpi.load(tmp_path)
    assert data.accounts["account_id"].tolist() == ["A1", "A2", "A3"]
    assert data.accounts["region"].tolist() == ["EU", "NA", "US"]


def test_mixed_line_ends_count_lines_as_pandas_does(tmp_path):
    raw = (b"account_id,region,customer_since\r"
           b"A1,EU,2024-01-15\r\n"      # row 1 (CRLF)
           b"\r"                        # row 2: a blank line (lone CR)
           b"A2,NA,2024-02-01\n"        # row 3 (LF)
           b"A3,US,2024-03-01,extra\r"  # row 4: four fields, three expected
           b"A4,EU,2024-13-01\r\n"      # row 5: month 13
           b"A5,EU,2024-05-01")         # row 6, no line end
    (tmp_path / "accounts.csv").write_bytes(raw)
    data = repkpi.load(tmp_path, errors="quarantine")
    # 6 lines after the header: 1 blank, 3 loaded (rows 1, 3, 6), 2 rejected (rows 4, 5).
    assert data.accounts["account_id"].tolist() == ["A1", "A2", "A5"]
    assert (data.accounts.index + 1).tolist() == [1, 3, 6]
    assert sorted(data.rejects["row"].astype(int).unique().tolist()) == [4, 5]
    # pandas, reading the same bytes on its own, finds the same lines.
    expected = pd.read_csv(io.BytesIO(raw), dtype=str, skip_blank_lines=False,
                           on_bad_lines="skip")
    assert expected["account_id"].tolist()[:3] == ["A1", np.nan, "A2"]
    assert expected["account_id"].dropna().tolist() == ["A1", "A2", "A4", "A5"]


def test_a_header_alone_with_a_lone_cr_is_an_empty_table(tmp_path):
    (tmp_path / "accounts.csv").write_bytes(b"account_id,region,customer_since\r")
    data = repkpi.load(tmp_path)
    assert data.accounts.columns[0] == "account_id"
    assert "region" in data.accounts.columns
    assert len(data.accounts) == 0


# ---------------------------------------------------------------- Parquet types


def _parquet_accounts(path: Path, since: pd.Series) -> None:
    pd.DataFrame({"account_id": [f"A{i + 1}" for i in range(len(since))],
                  "customer_since": since}).to_parquet(path / "accounts.parquet")


def test_a_time_zone_aware_date_is_its_local_day(tmp_path):
    since = pd.Series(pd.to_datetime(["2025-09-10 00:00", "2025-01-31 00:00"])
                      .tz_localize("America/New_York"))  # 04:00 and 05:00 UTC
    _parquet_accounts(tmp_path, since)
    data = repkpi.load(tmp_path)
    assert data.accounts["customer_since"].tolist() == [pd.Timestamp("2025-09-10"),
                                                        pd.Timestamp("2025-01-31")]
    # East of UTC the local midnight is the evening before in UTC: still its local day.
    _parquet_accounts(tmp_path, pd.Series(pd.to_datetime(["2025-09-10"]).tz_localize("Asia/Tokyo")))
    assert repkpi.load(tmp_path).accounts["customer_since"].tolist() == [pd.Timestamp("2025-09-10")]


def test_a_time_zone_aware_date_with_a_time_of_day_is_a_bad_cell_as_a_naive_one_is(tmp_path):
    since = pd.Series(pd.to_datetime(["2025-09-10 00:00", "2025-09-10 14:30", "2025-09-10 14:30"])
                      .tz_localize("America/New_York"))
    since = since.where([True, True, False], pd.NaT).astype(since.dtype)
    _parquet_accounts(tmp_path, since)
    naive = pd.DataFrame({"account_id": ["B1"], "customer_since": pd.to_datetime(["2025-09-10 14:30"])})
    data = repkpi.load(tmp_path, errors="quarantine")
    # Rows 1 and 3 load (row 3 with no date: customer_since is optional); row 2 is rejected.
    assert data.accounts["account_id"].tolist() == ["A1", "A3"]
    assert data.rejects[["row", "column"]].to_numpy().tolist() == [[2, "customer_since"]]
    naive.to_parquet(tmp_path / "accounts.parquet")
    assert repkpi.load(tmp_path, errors="quarantine").rejects["row"].tolist() == [1]


def test_a_time_zone_aware_timestamp_is_normalised_to_utc(tmp_path):
    pd.DataFrame({"account_id": ["A1"], "customer_since": ["2025-01-01"]}).to_parquet(
        tmp_path / "accounts.parquet")
    opened = pd.Series(pd.to_datetime(["2025-09-10 09:00"]).tz_localize("America/New_York")
                       ).astype("datetime64[ms, America/New_York]")
    pd.DataFrame({"ticket_id": ["T1"], "account_id": ["A1"], "opened_at": opened}).to_parquet(
        tmp_path / "tickets.parquet")
    # 09:00 in New York in September (UTC-4) is 13:00 UTC.
    assert repkpi.load(tmp_path).tickets["opened_at"].tolist() == [
        pd.Timestamp("2025-09-10 13:00", tz="UTC")]


@pytest.mark.parametrize("stored", [
    np.array([1757462400000000000, 1735689600000000000], dtype="int64"),  # ns since 1970
    np.array([20341.0, np.nan]),                                           # days, as floats
])
def test_dates_stored_as_numbers_are_a_bad_column_named_with_its_type(tmp_path, stored, capsys):
    _parquet_accounts(tmp_path, pd.Series(stored))
    with pytest.raises(DataFileError, match=rf"accounts\.parquet: column 'customer_since' of the "
                                            rf"accounts table is stored as {stored.dtype} numbers"):
        repkpi.load(tmp_path, errors="quarantine")
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "e+18" not in err
    assert "e+04" not in err
    assert "Traceback" not in err


# pyarrow decodes a malformed line's text itself, to hand it to the reader's handler, and
# reports the failure as "unraisable"; the load still ends in the error about the encoding.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_malformed_line_that_is_not_utf8_is_an_encoding_error(tmp_path):
    (tmp_path / "accounts.csv").write_bytes(
        b"account_id,customer_since\nA1,2024-01-15\nA2\n\xff\xfe\n")  # line 4: one field, 0xff
    with pytest.raises(DataFileError, match=r"accounts\.csv: the text is not UTF-8 \(or UTF-16 "
                                            r"with a BOM\): line 4 \(row 3\)"):
        repkpi.load(tmp_path, errors="quarantine")


# ---------------------------------------------------------------- the catalogue of bad files


def _gz_bomb(path: Path) -> None:
    path.write_bytes(gzip.compress(b"account_id,customer_since\n" + b"\n" * (2 * MIB)))


def _zip_of_two(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("accounts.csv", ACCOUNTS)
        archive.writestr("deals.csv", ACCOUNTS)


def _truncated_gz(path: Path) -> None:
    path.write_bytes(gzip.compress(_rows(500).encode())[:200])


def _lying_zip(path: Path) -> None:
    """A zip whose headers say its file is 90 bytes, while it holds 2 MiB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("accounts.csv", "account_id,customer_since\n" + "\n" * (2 * MIB))
    data = bytearray(buffer.getvalue())
    size = (2 * MIB + 26).to_bytes(4, "little")
    for at in (i for i in range(len(data) - 3) if data[i:i + 4] == size):
        data[at:at + 4] = (90).to_bytes(4, "little")
    path.write_bytes(bytes(data))


def _parquet_int_dates(path: Path) -> None:
    pd.DataFrame({"account_id": ["A1"], "customer_since": [1757462400000000000]}).to_parquet(path)


def _parquet_zoned_dates(path: Path) -> None:
    pd.DataFrame({"account_id": ["A1"], "customer_since": pd.to_datetime(["2025-09-10"])
                  .tz_localize("America/New_York")}).to_parquet(path)


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


# (file name, how it is written, what it gives: (rows in the file, rows loaded) or the refusal)
CATALOGUE = [
    ("accounts.csv", _bytes(b""), r"accounts\.csv: the file is empty \(zero bytes\)"),
    ("accounts.csv", _bytes(b"account_id,customer_since\n"), (0, 0)),
    ("accounts.csv", _bytes(b"\x00\x01\x02\xff\xfe\x00garbage"), r"accounts\.csv: "),
    ("accounts.csv", _bytes(b"account_id,customer_since\nA1,2024-01-15\nA2,\xff\xfe\n"),
     r"accounts\.csv: the text is not UTF-8"),
    ("accounts.csv", _bytes(ACCOUNTS.replace("\n", "\r").encode()), (3, 3)),
    ("accounts.csv", _bytes(b"account_id,customer_since\r\n\r\n\r\rA1,2024-01-15\r"), (1, 1)),
    # A quote left open runs to the end of the file: "2024-01-15" and its line end, trimmed.
    ("accounts.csv", _bytes(b'account_id,customer_since\nA1,"2024-01-15\n'), (1, 1)),
    ("accounts.csv", _bytes(b"account_id,account_id\nA1,A2\n"), r"repeats column"),
    ("accounts.csv", _bytes(b"account_id,customer_since\nA1,2024-01-15,x\n"), (1, 0)),
    ("accounts.csv", _bytes(b"account_id,,\nA1,2024-01-15,x\n"), r"has values but no header"),
    ("accounts.csv", _bytes(b"account_id,customer_since\nA1," + b"9" * 400 + b"\n"), (1, 0)),
    ("accounts.csv", _bytes(b"account_id,customer_since,note\nA1,2024-01-15," + b"n" * (2 * MIB)
                            + b"\n"), (1, 1)),
    ("accounts.csv", _bytes(b"\r"), r"lacks required column"),
    ("accounts.csv", _bytes("account_id,customer_since\nA1,2024-01-15\n".encode("utf-16")), (1, 1)),
    ("accounts.csv.gz", _gz_bomb, r"accounts\.csv\.gz expands past 1 MiB"),
    ("accounts.csv.gz", _truncated_gz, r"accounts\.csv\.gz: the file cannot be read"),
    ("accounts.csv.gz", _bytes(b"not gzip at all"), r"accounts\.csv\.gz: the file cannot be read"),
    ("accounts.csv.zip", _zip_of_two, r"holds one file; this one holds 2"),
    # Read no further than its headers say; then its checksum fails.
    ("accounts.csv.zip", _lying_zip, r"accounts\.csv\.zip: the file cannot be read: Bad CRC"),
    ("accounts.csv.zip", _bytes(b"PK\x03\x04broken"), r"accounts\.csv\.zip: the file cannot be read"),
    ("accounts.xlsx", _bytes(b"PK\x03\x04 not a workbook"), r"accounts\.xlsx: "),
    ("accounts.xlsx", _bytes(ACCOUNTS.encode()), r"accounts\.xlsx: "),
    ("accounts.parquet", _bytes(b"PAR1 not a parquet file PAR1"), r"accounts\.parquet: "),
    ("accounts.parquet", _parquet_int_dates, r"stored as int64 numbers"),
    ("accounts.parquet", _parquet_zoned_dates, (1, 1)),
    ("accounts.json", _bytes(b"{}"), r"accounts\.json: named after a table"),
]


@pytest.mark.parametrize(("name", "write", "expected"), CATALOGUE,
                         ids=[f"{i:02d}-{c[0]}" for i, c in enumerate(CATALOGUE)])
def test_every_bad_file_loads_or_is_refused_by_name(tmp_path, capsys, name, write, expected):
    write(tmp_path / name)
    if isinstance(expected, str):
        with pytest.raises((DataFileError, DataValidationError), match=expected):
            repkpi.load(tmp_path, errors="quarantine", max_bytes=MIB)
    else:
        rows, loaded = expected
        data = repkpi.load(tmp_path, errors="quarantine", max_bytes=MIB)
        summary = data.summary().set_index("table").loc["accounts"]
        assert (summary["rows"], summary["loaded"]) == (rows, loaded)
        assert summary["loaded"] + summary["rejected"] == summary["rows"]
    # The command line says the same, without a traceback.
    code = main(["validate", str(tmp_path), "--max-bytes", str(MIB)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "MemoryError" not in err
    assert code == (1 if isinstance(expected, str) or expected[0] != expected[1] else 0)
