"""repkpi.outputs: formula-safe CSV and Excel cells, number formats by unit, whole-or-nothing writes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

import repkpi
from repkpi.cli import main
from repkpi.errors import ColumnNotFoundError, OptionError
from repkpi.kpis import UNITS
from repkpi.outputs import (
    MARKER,
    NUMBER_FORMATS,
    check_out_folder,
    formula_cells,
    formula_safe,
    sheet_name,
    staged_folder,
    write_csv,
    write_rows,
    write_xlsx,
)

ROOT = Path(__file__).resolve().parent.parent


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}."))


# -- which cells are formulas ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "risky"),
    [
        ("=SUM(A1:A2)", True), ("+A1", True), ("-A1", True), ("@SUM(1)", True), ("\t=1", True),
        ("\r=1", True), ("=", True), ("-", True), ("+44 20 7946 0000", True), ("-1,234", True),
        ("-inf", True), ("- 12", True),
        ("-12.5", False), ("+44", False), ("-1e3", False), ("+.5", False), ("-7.", False),
        ("A2", False), ("", False), (" =1", False), ("a=1", False), ("'=1", False),
    ],
)
def test_a_text_cell_is_a_formula_when_it_starts_like_one_and_is_no_plain_number(text, risky):
    assert formula_cells(pd.Series([text], dtype="str")).tolist() == [risky]
    assert formula_cells(pd.Series([text], dtype=object)).tolist() == [risky]


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([-1, 2]), pd.Series([-1.5, np.nan]), pd.Series([True, False]),
        pd.Series(pd.to_datetime(["2026-01-01", None])), pd.Series(pd.period_range("2026Q1", periods=2)),
        pd.Series([-1, -2], dtype=object), pd.Series([None, np.nan], dtype=object),
        pd.Series([], dtype="str"),
    ],
    ids=["int", "float", "bool", "datetime", "period", "object-int", "object-missing", "empty"],
)
def test_no_cell_of_a_column_without_text_is_a_formula(values):
    assert not formula_cells(values).any()


def test_mixed_and_categorical_columns_are_checked_on_their_text():
    mixed = pd.Series(["=a", -1, None, 2.5, "-x", "b"], dtype=object)
    assert formula_cells(mixed).tolist() == [True, False, False, False, True, False]
    category = pd.Series(pd.Categorical(["b", "=a", None, "=a"]))
    assert formula_cells(category).tolist() == [False, True, False, True]


# -- CSV ------------------------------------------------------------------------------------------


def test_csv_cells_that_read_as_formulas_get_an_apostrophe_and_numbers_stay(tmp_path):
    rows = pd.DataFrame({
        "=cmd": ["=HYPERLINK(\"http://x\")", "+A1", "-12.5", "@x", "\tA", "A2", None],
        "mixed": ["-x", 3, -4.5, "+44", None, "ok", "=1"],
        "category": pd.Categorical(["=a", "b", "=a", "b", None, "b", "-c"]),
        "amount": [1.0, -2.0, 3.0, -4.0, 5.0, 6.0, -7.0],
    })
    before = rows.copy()
    path = write_csv(rows, tmp_path / "rows.csv")

    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "'=cmd,mixed,category,amount"
    assert lines[1] == "\"'=HYPERLINK(\"\"http://x\"\")\",'-x,'=a,1.0"
    assert lines[2:4] == ["'+A1,3,b,-2.0", "-12.5,-4.5,'=a,3.0"]
    got = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(got["'=cmd"]) == ["'=HYPERLINK(\"http://x\")", "'+A1", "-12.5", "'@x", "'\tA", "A2", ""]
    assert list(got["mixed"]) == ["'-x", "3", "-4.5", "+44", "", "ok", "'=1"]
    assert list(got["category"]) == ["'=a", "b", "'=a", "b", "", "b", "'-c"]
    assert list(got["amount"]) == ["1.0", "-2.0", "3.0", "-4.0", "5.0", "6.0", "-7.0"]
    pd.testing.assert_frame_equal(rows, before)  # the input is not modified


def test_formula_safe_keeps_dtypes_and_covers_the_index():
    rows = pd.DataFrame({"text": pd.Series(["=a", "b"], dtype="str"), "n": [1, 2],
                         "category": pd.Categorical(["=a", "b"])},
                        index=pd.Index(["=i", "j"], name="@name"))
    safe = formula_safe(rows)
    assert safe["text"].dtype == rows["text"].dtype
    assert safe["n"].dtype == rows["n"].dtype
    assert isinstance(safe["category"].dtype, pd.CategoricalDtype)
    assert list(safe.index) == ["'=i", "j"]
    assert safe.index.name == "'@name"
    assert list(safe["category"].cat.categories) == ["'=a", "b"]
    assert list(formula_safe(rows, index=False).index) == ["=i", "j"]


def test_categories_that_would_collide_become_text():
    rows = pd.DataFrame({"category": pd.Categorical(["=a", "'=a", None])})
    assert formula_safe(rows)["category"].tolist()[:2] == ["'=a", "'=a"]


def test_a_multiindex_is_made_safe_level_by_level():
    rows = pd.DataFrame({"v": [1, 2]},
                        index=pd.MultiIndex.from_tuples([("=a", 1), ("b", 2)], names=["=l", "m"]))
    safe = formula_safe(rows)
    assert list(safe.index) == [("'=a", 1), ("b", 2)]
    assert list(safe.index.names) == ["'=l", "m"]


def test_write_csv_with_the_index(tmp_path):
    rows = pd.DataFrame({"v": [1]}, index=pd.Index(["=i"], name="id"))
    path = write_csv(rows, tmp_path / "sub" / "rows.csv", index=True)
    assert path.read_text(encoding="utf-8").splitlines() == ["id,v", "'=i,1"]
    assert leftovers(path) == []


# -- Excel ----------------------------------------------------------------------------------------


@pytest.fixture
def workbook(tmp_path):
    values = pd.DataFrame({
        "kpi": ["churn_rate", "revenue", "new_customers", "first_response_hours", "nps", "unknown"],
        "period": pd.period_range("2026Q1", periods=6, freq="Q"),
        "value": [0.0523, 1_234_567.891, 42.0, 3.25, 41.5, 7.0],
    })
    rows = pd.DataFrame({
        "=cmd": ["=1+1", "+A1", "-12.5", "@x", "A2"],
        "amount": [1.0, -2.0, 3.0, -4.0, 5.0],
        "category": pd.Categorical(["=a", "b", "=a", "b", None]),
        "closed_at": pd.to_datetime(["2026-01-01 10:30", None, "2026-07-01 00:00", "2026-01-02 00:00",
                                     "2026-01-03 00:00"]).tz_localize("Europe/Paris"),
        "closed_on": pd.to_datetime(["2026-01-01", None, "2026-07-01", "2026-01-02", "2026-01-03"]),
    })
    path = write_xlsx(
        {"values": values, "rows": rows}, tmp_path / "report.xlsx",
        units={"values": {"value": values["kpi"].map(UNITS)}, "rows": {"amount": "money"}})
    return openpyxl.load_workbook(path)


def test_xlsx_has_no_formula_cell_and_risky_text_is_a_text_cell(workbook):
    cells = [cell for sheet in workbook for row in sheet.iter_rows() for cell in row]
    assert [cell.coordinate for cell in cells if cell.data_type == "f"] == []
    rows = workbook["rows"]
    assert [rows.cell(row=r, column=1).value for r in range(1, 7)] == ["=cmd", "=1+1", "+A1", "-12.5",
                                                                       "@x", "A2"]
    assert {rows.cell(row=r, column=1).data_type for r in range(1, 7)} == {"s"}
    assert [rows.cell(row=r, column=1).quotePrefix for r in range(1, 7)] == [True, True, True, False,
                                                                            True, False]
    assert (rows["C2"].value, rows["C2"].data_type) == ("=a", "s")  # a category


def test_xlsx_numbers_carry_the_format_of_their_unit_row_by_row(workbook):
    values = workbook["values"]
    got = [(values.cell(row=r, column=3).value, values.cell(row=r, column=3).number_format)
           for r in range(2, 8)]
    assert got == [(0.0523, "0.0%"), (1_234_567.891, "#,##0.00"), (42, "#,##0"), (3.25, "0.0"),
                   (41.5, "0.00"), (7, "General")]  # a KPI without a unit: Excel's general format
    assert [values.cell(row=r, column=2).value for r in range(2, 4)] == ["2026Q1", "2026Q2"]
    assert {workbook["rows"].cell(row=r, column=2).number_format for r in range(2, 7)} == {"#,##0.00"}


def test_xlsx_timestamps_are_naive_utc_and_dates_stay_dates(workbook):
    rows = workbook["rows"]
    assert rows["D2"].value == pd.Timestamp("2026-01-01 09:30").to_pydatetime()  # 10:30 in Paris
    assert rows["D4"].value == pd.Timestamp("2026-06-30 22:00").to_pydatetime()
    assert rows["D3"].value is None
    assert rows["E2"].number_format == "yyyy-mm-dd"
    assert rows.freeze_panes == "A2"


def test_every_unit_of_the_registry_has_a_number_format():
    assert set(UNITS.values()) <= set(NUMBER_FORMATS)


@pytest.mark.parametrize(
    ("sheets", "units", "error", "match"),
    [
        ({"a/b": pd.DataFrame()}, None, OptionError, "Bad Excel sheet name"),
        ({"x" * 32: pd.DataFrame()}, None, OptionError, "Bad Excel sheet name"),
        ({"Data": pd.DataFrame(), "data": pd.DataFrame()}, None, OptionError, "Two sheets named"),
        ({"a": pd.DataFrame({"v": [1]})}, {"b": {"v": "count"}}, OptionError, "not written"),
        ({"a": pd.DataFrame({"v": [1]})}, {"a": {"v": "dollars"}}, OptionError, "Unknown unit"),
        ({"a": pd.DataFrame({"v": [1]})}, {"a": {"w": "count"}}, ColumnNotFoundError, "does not have"),
        ({"a": pd.DataFrame({"v": [1]})}, {"a": {"v": ["count", "count"]}}, OptionError, "2 units"),
    ],
    ids=["slash", "long", "same-name", "unknown-sheet", "unknown-unit", "unknown-column", "length"],
)
def test_write_xlsx_refuses_bad_sheets_and_units(tmp_path, sheets, units, error, match):
    path = tmp_path / "x.xlsx"
    with pytest.raises(error, match=match):
        write_xlsx(sheets, path, units=units)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("text", "taken", "name"), [
    ("Accounts churned in 2026 Q3", (), "Accounts churned in 2026 Q3"),
    # 40 characters: the words that fit in 30, then "…" (28 + 1 characters)
    ("Contracts due in 2026 Q1 not yet renewed", (), "Contracts due in 2026 Q1 not…"),
    # exactly 31 characters: kept whole
    ("Contracts due in FY2027 Q2 soon", (), "Contracts due in FY2027 Q2 soon"),
    ("Tickets [open]: a/b?", (), "Tickets open ab"),
    ("kpis", ("scorecard", "KPIs"), "kpis (2)"),
    ("kpis", ("kpis", "kpis (2)"), "kpis (3)"),
    ("Contracts due in 2026 Q1 not yet renewed", ("Contracts due in 2026 Q1 not…",),
     "Contracts due in 2026 Q1… (2)"),
    ("A" * 40, (), "A" * 30 + "…"),
    ("::", (), "sheet"),
])
def test_sheet_names_fit_31_characters_and_are_never_cut_mid_word(text, taken, name):
    got = sheet_name(text, taken=taken)
    assert got == name
    assert len(got) <= 31


def test_write_rows_chooses_by_suffix(tmp_path):
    rows = pd.DataFrame({"a": ["=1"]})
    assert write_rows(rows, tmp_path / "x.CSV").read_text(encoding="utf-8") == "a\n'=1\n"
    assert openpyxl.load_workbook(write_rows(rows, tmp_path / "x.xlsx", sheet="detail"))["detail"][
        "A2"].data_type == "s"
    with pytest.raises(OptionError, match=r"a \.csv or \.xlsx file, got 'x.txt'"):
        write_rows(rows, tmp_path / "x.txt")


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial_file(tmp_path, monkeypatch):
    def half_then_fail(self, path, **kwargs):
        Path(path).write_text("half", encoding="utf-8")
        raise OSError("disk full")

    path = tmp_path / "rows.csv"
    path.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_csv(pd.DataFrame({"a": [1]}), path)
    assert path.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]


# -- whole-or-nothing folders ---------------------------------------------------------------------


@pytest.fixture
def old_report(tmp_path):
    out = tmp_path / "out"
    with staged_folder(out) as folder:
        (folder / "scorecard.csv").write_text("old\n", encoding="utf-8")
        (folder / "old_chart.png").write_bytes(b"png")
    return out


def test_success_replaces_the_folder_whole(old_report):
    with staged_folder(old_report) as folder:
        assert folder.parent == old_report.parent
        assert folder.name.startswith(".out.partial-")
        (folder / "scorecard.csv").write_text("new\n", encoding="utf-8")
    assert snapshot(old_report) == {MARKER: (old_report / MARKER).read_bytes(), "scorecard.csv": b"new\n"}
    assert leftovers(old_report) == []


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_exception_mid_write_leaves_the_old_folder_intact(old_report, error):
    def half_a_report():
        with staged_folder(old_report) as folder:
            (folder / "scorecard.csv").write_text("half\n", encoding="utf-8")
            raise error("stop")

    before = snapshot(old_report)
    with pytest.raises(error):
        half_a_report()
    assert snapshot(old_report) == before
    assert leftovers(old_report) == []


KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    from repkpi.outputs import staged_folder
    with staged_folder(sys.argv[1]) as folder:
        (folder / "scorecard.csv").write_text("half\\n", encoding="utf-8")
        (folder / "chart.png").write_bytes(b"half")
        os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_killed_run_leaves_the_folder_as_it_was_and_the_next_run_cleans_up(old_report):
    before = snapshot(old_report)
    done = subprocess.run([sys.executable, "-c", KILLED_RUN, str(old_report)], cwd=ROOT, timeout=120,
                          capture_output=True, text=True)
    assert done.returncode == -9, done.stderr
    assert snapshot(old_report) == before
    stray = leftovers(old_report)
    assert len(stray) == 1
    assert stray[0].startswith(".out.partial-")

    with staged_folder(old_report) as folder:
        (folder / "scorecard.csv").write_text("new\n", encoding="utf-8")
    assert leftovers(old_report) == []
    assert (old_report / "scorecard.csv").read_text(encoding="utf-8") == "new\n"


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    return int(done.stdout)


@pytest.mark.skipif(os.name != "posix", reason="leftovers are told by their process on POSIX")
def test_a_folder_set_aside_by_a_run_killed_before_the_swap_is_put_back(old_report):
    before = snapshot(old_report)
    aside = old_report.with_name(f".out.old-{dead_pid()}-0a1b2c3d")
    old_report.rename(aside)  # as if killed between the two renames
    with pytest.raises(RuntimeError), staged_folder(old_report):
        raise RuntimeError("stop")
    assert snapshot(old_report) == before
    assert leftovers(old_report) == []


def test_a_leftover_of_a_running_process_is_left_alone(old_report):
    mine = old_report.with_name(f".out.partial-{os.getpid()}-0a1b2c3d")
    mine.mkdir()
    with staged_folder(old_report):
        pass
    assert mine.is_dir()


def test_an_empty_folder_is_taken_over_and_a_symlink_keeps_pointing_at_it(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    with staged_folder(link) as folder:
        (folder / "scorecard.csv").write_text("new\n", encoding="utf-8")
    assert link.is_symlink()
    assert (real / "scorecard.csv").read_text(encoding="utf-8") == "new\n"


def test_a_report_folder_written_before_the_marker_is_replaced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("scorecard.csv", "report.html", "churn_rate.png", "rejects.csv"):
        (out / name).write_text("old", encoding="utf-8")
    with staged_folder(out) as folder:
        (folder / "report.html").write_text("new", encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "report.html"]


@pytest.mark.parametrize(
    "files",
    [["notes.txt"], ["scorecard.csv", "notes.txt"], ["report.html", "chart.png"], ["scorecard.csv", "sub/"]],
    ids=["other", "report-and-other", "no-scorecard", "subfolder"],
)
def test_a_folder_with_files_repkpi_did_not_write_is_refused(tmp_path, files):
    out = tmp_path / "out"
    out.mkdir()
    for name in files:
        (out / name).mkdir() if name.endswith("/") else (out / name).write_text("mine", encoding="utf-8")
    before = snapshot(out)
    with pytest.raises(OptionError, match="holds files that repkpi did not write"), staged_folder(out):
        pytest.fail("the block must not run")
    assert snapshot(out) == before
    assert leftovers(out) == []


def test_a_file_is_no_output_folder(tmp_path):
    (tmp_path / "out").write_text("x", encoding="utf-8")
    with pytest.raises(OptionError, match="is a file"):
        check_out_folder(tmp_path / "out")


# -- where the output folder may be ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("out", "match"),
    [(".", "is the data folder"), ("sub", "is inside the data folder"),
     ("sub/deeper", "is inside the data folder"), ("..", "holds the data folder")],
)
def test_check_out_folder_refuses_the_data_folder_and_around(tmp_path, out, match):
    data = tmp_path / "data"
    data.mkdir()
    (data / "accounts.csv").write_text("account_id\n", encoding="utf-8")
    with pytest.raises(OptionError, match=match):
        check_out_folder(data / out, data)


def test_check_out_folder_follows_symlinks(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "alias").symlink_to(data, target_is_directory=True)
    with pytest.raises(OptionError, match="inside the data folder"):
        check_out_folder(tmp_path / "alias" / "report", data)
    assert check_out_folder(tmp_path / "report", data) == (tmp_path / "report").resolve()


@pytest.fixture
def sample(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(repkpi.sample_path(), data)
    return data


@pytest.mark.parametrize("out", ["sub", "."])
def test_report_into_the_data_folder_exits_2_and_writes_nothing(sample, capsys, out):
    before = snapshot(sample)
    assert main(["report", str(sample), "--out", str(sample / out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "repkpi report: The output folder" in err
    assert "data folder" in err
    assert snapshot(sample) == before


def test_report_into_a_folder_with_other_files_exits_2(sample, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["report", str(sample), "--out", str(out)]) == 2
    assert "holds files that repkpi did not write" in " ".join(capsys.readouterr().err.split())
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"


def _cells(path: Path, sheet: str) -> list[tuple[str, object, str, str]]:
    """Every cell of ``sheet``: coordinate, value, type and number format."""
    rows = openpyxl.load_workbook(path)[sheet].iter_rows()
    return [(c.coordinate, c.value, c.data_type, c.number_format) for row in rows for c in row]


def test_xlsx_cells_are_those_pandas_to_excel_writes(tmp_path):
    # The reference is pandas' own writer (DataFrame.to_excel, openpyxl's normal mode) on the
    # same frame: missing values as empty text, infinities as "inf"/"-inf", timestamps in
    # "YYYY-MM-DD HH:MM:SS", durations in days with format "0", other objects as their text.
    frame = pd.DataFrame({
        "float": [1.5, np.nan, np.inf, -np.inf],
        "int": [1, 2, 3, 4],
        "nullable": pd.array([1, None, 3, 4], dtype="Int64"),
        "flag": pd.array([True, None, False, True], dtype="boolean"),
        "text": pd.array(["a", None, "b c", ""], dtype="str"),
        "mixed": pd.Series([1, "x", 2.5, None], dtype=object),
        "stamp": pd.to_datetime(["2026-01-01 10:30", None, "2026-07-01 00:00", "2026-01-02 08:00"]),
        "took": pd.to_timedelta(["1 day", "12h", None, "36h"]),
    })
    ours = write_xlsx({"rows": frame}, tmp_path / "ours.xlsx")
    theirs = tmp_path / "theirs.xlsx"
    frame.to_excel(theirs, sheet_name="rows", index=False, engine="openpyxl")
    assert _cells(ours, "rows") == _cells(theirs, "rows")
    assert openpyxl.load_workbook(ours)["rows"]["A4"].value == "inf"  # the reference says so too


def test_xlsx_a_missing_number_is_empty_text_with_its_units_format(tmp_path):
    frame = pd.DataFrame({"kpi": ["churn_rate", "revenue"], "value": [np.nan, 5.0]})
    path = write_xlsx({"v": frame}, tmp_path / "v.xlsx",
                      units={"v": {"value": pd.Series(["percent", "money"])}})
    sheet = openpyxl.load_workbook(path)["v"]
    assert (sheet["B2"].value, sheet["B2"].number_format) == (None, "0.0%")
    assert (sheet["B3"].value, sheet["B3"].number_format) == (5, "#,##0.00")
