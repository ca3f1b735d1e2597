"""``repkpi detail DATA_DIR --kpi NAME --period P``: the rows behind a number, printed or written.

In-process through :func:`repkpi.cli.main`, on the shipped sample. Whatever
is written must be exactly what :func:`repkpi.detail` returns (as a CSV
file reads back); exit codes as api.md says: 0 success, 1 invalid data, 2 a
wrong command line (an unknown KPI or option included), never a traceback.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import pandas as pd
import pytest

import repkpi
from repkpi.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
MESSY = ROOT / "data" / "messy"
HAS_OPENPYXL = importlib.util.find_spec("openpyxl") is not None


@pytest.fixture(scope="module")
def sample():
    return repkpi.load(SAMPLE)


def one_line(text: str) -> str:
    """Console output with its line breaks removed (rich wraps long lines)."""
    return " ".join(text.split())


def as_written(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` as they read back from a CSV file."""
    return pd.read_csv(io.StringIO(rows.to_csv(index=False)))


def test_out_csv_holds_the_rows_of_detail(sample, tmp_path, capsys):
    out = tmp_path / "churn.csv"
    code = main(["detail", str(SAMPLE), "--kpi", "churn_rate", "--period", "2025Q3",
                 "--by", "rep_id", "--out", str(out)])

    assert code == 0, capsys.readouterr().err
    want = repkpi.detail(sample, "churn_rate", period="2025Q3", by="rep_id")
    got = pd.read_csv(out)
    pd.testing.assert_frame_equal(got, as_written(want))
    assert len(got) > 0
    assert f"{len(want):,} row(s) of churn_rate in 2025Q3 written to {out}" in one_line(
        capsys.readouterr().out)


def test_without_out_the_rows_are_printed_at_most_50(sample, capsys):
    assert main(["detail", str(SAMPLE), "--kpi", "sla_compliance", "--period", "2025Q3"]) == 0
    printed = one_line(capsys.readouterr().out)
    n = len(repkpi.detail(sample, "sla_compliance", period="2025Q3"))
    assert n > 50
    assert f"sla_compliance in 2025Q3: {n:,} row(s)" in printed
    assert "ticket_id" in printed
    assert "hours_late" in printed
    assert f"... and {n - 50:,} more row(s)" in printed


def test_a_kpi_option_reaches_the_kpi(sample, tmp_path):
    out = tmp_path / "large.csv"
    code = main(["detail", str(SAMPLE), "--kpi", "large_deals", "--period", "2025Q3",
                 "--option", "threshold=10000", "--out", str(out)])

    assert code == 0
    got = pd.read_csv(out)
    want = repkpi.detail(sample, "large_deals", period="2025Q3", threshold=10_000)
    pd.testing.assert_frame_equal(got, as_written(want))
    # 10 000 lists more deals than the default 50 000, and as many as the KPI counts.
    default = repkpi.detail(sample, "large_deals", period="2025Q3")
    assert got["in_numerator"].sum() > default["in_numerator"].sum()
    assert got["numerator_weight"].sum() == repkpi.kpis.large_deals(
        sample, start="2025Q3", end="2025Q3", threshold=10_000)["numerator"].iloc[0]


def test_fiscal_year_start_reads_the_period_as_a_fiscal_one(sample, tmp_path):
    # Fiscal years from April: FY2026 Q2 is July-September 2025.
    out = tmp_path / "new.csv"
    assert main(["detail", str(SAMPLE), "--kpi", "new_customers", "--period", "2026Q2",
                 "--fiscal-year-start", "4", "--out", str(out)]) == 0
    got = pd.read_csv(out)
    want = repkpi.detail(sample, "new_customers", period="2026Q2", fiscal_year_start=4)
    pd.testing.assert_frame_equal(got, as_written(want))
    calendar = repkpi.detail(sample, "new_customers", period="2025Q3")
    assert sorted(got["account_id"]) == sorted(calendar["account_id"])


@pytest.mark.skipif(not HAS_OPENPYXL, reason="writing .xlsx needs openpyxl")
def test_out_xlsx_holds_the_rows_of_detail(sample, tmp_path):
    out = tmp_path / "renewals.xlsx"
    assert main(["detail", str(SAMPLE), "--kpi", "renewal_rate", "--period", "2026Q4",
                 "--out", str(out)]) == 0
    got = pd.read_excel(out, sheet_name="detail", engine="openpyxl")
    want = repkpi.detail(sample, "renewal_rate", period="2026Q4")
    assert list(got.columns) == list(want.columns)
    assert sorted(got["contract_id"]) == sorted(want["contract_id"])


@pytest.mark.skipif(HAS_OPENPYXL, reason="openpyxl is installed")
def test_out_xlsx_without_openpyxl_exits_2_and_says_so(tmp_path, capsys):
    out = tmp_path / "renewals.xlsx"
    assert main(["detail", str(SAMPLE), "--kpi", "renewal_rate", "--period", "2026Q4",
                 "--out", str(out)]) == 2
    assert "Writing .xlsx needs openpyxl" in one_line(capsys.readouterr().err)
    assert not out.exists()


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--kpi", "no_such_kpi", "--period", "2025Q3"], "Unknown KPI 'no_such_kpi'",
                     id="unknown-kpi"),
        pytest.param(["--kpi", "churn_rate", "--period", "2025Q3", "--option", "threshold=5"],
                     "threshold", id="unknown-option"),
        pytest.param(["--kpi", "market_share", "--period", "2025Q3", "--by", "rep_id"],
                     "rep_id", id="market-by-rep"),
        pytest.param(["--kpi", "churn_rate", "--period", "2025Q3", "--by", "no_such_column"],
                     "no_such_column", id="unknown-by"),
        pytest.param(["--kpi", "churn_rate", "--period", "2025Q9"], "2025Q9", id="bad-period"),
        pytest.param(["--kpi", "churn_rate", "--period", "2025Q3", "--out", "rows.json"],
                     "--out must end in .csv or .xlsx", id="bad-out"),
    ],
)
def test_usage_errors_exit_2_without_a_traceback(args, message, tmp_path, capsys):
    args = [a if a != "rows.json" else str(tmp_path / a) for a in args]
    assert main(["detail", str(SAMPLE), *args]) == 2
    captured = capsys.readouterr()
    assert message in one_line(captured.err)
    assert "Traceback" not in captured.err + captured.out
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--period", "2025Q3"], "the following arguments are required: --kpi",
                     id="no-kpi"),
        pytest.param(["--kpi", "churn_rate"], "the following arguments are required: --period",
                     id="no-period"),
        pytest.param(["--kpi", "large_deals", "--period", "2025Q3", "--option", "threshold"],
                     "expected KEY=VALUE", id="option-without-value"),
        pytest.param(["--kpi", "churn_rate", "--period", "2025Q3", "--fiscal-year-start", "13"],
                     "a month number 1-12", id="bad-month"),
    ],
)
def test_bad_arguments_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["detail", str(SAMPLE), *args])
    assert exit_info.value.code == 2
    assert message in one_line(capsys.readouterr().err)


def test_missing_data_dir_exits_2(tmp_path, capsys):
    missing = tmp_path / "no-such-folder"
    assert main(["detail", str(missing), "--kpi", "churn_rate", "--period", "2025Q3"]) == 2
    assert "no such file or folder" in one_line(capsys.readouterr().err)


def test_invalid_data_exits_1(tmp_path, capsys):
    assert main(["detail", str(MESSY), "--kpi", "churn_rate", "--period", "2025Q3"]) == 1
    assert "validation failure(s)" in one_line(capsys.readouterr().err)


def test_a_table_the_kpi_needs_and_the_data_lacks_exits_1(folder, capsys):
    path = folder(accounts="""
        account_id,customer_since
        A1,2024-01-15
        """)
    assert main(["detail", str(path), "--kpi", "revenue", "--period", "2024Q1"]) == 1
    assert "deals" in one_line(capsys.readouterr().err)


def test_quarantine_lists_the_rows_of_the_valid_data(tmp_path, capsys):
    out = tmp_path / "churn.csv"
    assert main(["detail", str(MESSY), "--kpi", "churn_rate", "--period", "2025Q3",
                 "--errors", "quarantine", "--out", str(out)]) == 0
    # data/messy: quarantine sets 10 rows aside (see tests/test_cli_report.py).
    assert "10 invalid row(s) set aside" in one_line(capsys.readouterr().out)
    want = repkpi.detail(repkpi.load(MESSY, errors="quarantine"), "churn_rate", period="2025Q3")
    pd.testing.assert_frame_equal(pd.read_csv(out), as_written(want))


def test_option_values_read_as_numbers_when_they_are(monkeypatch, tmp_path):
    seen = {}

    def fake_detail(data, kpi, *, period, by=None, only=None, fiscal_year_start=1,
                    window="period", **options):
        seen.update(options, by=by, fiscal_year_start=fiscal_year_start)
        return pd.DataFrame({"period": [pd.Period(period, freq="Q")]})

    monkeypatch.setattr(repkpi.kpis, "detail", fake_detail)  # where the command finds it
    assert main(["detail", str(SAMPLE), "--kpi", "sla_compliance", "--period", "2025Q3",
                 "--option", "ci=0.9", "--option", "kinds=complaint", "--option", "years=3",
                 "--by", "region", "--by", "team", "--out", str(tmp_path / "x.csv")]) == 0
    assert seen == {"ci": 0.9, "kinds": "complaint", "years": 3, "by": ["region", "team"],
                    "fiscal_year_start": 1}
    assert isinstance(seen["years"], int)


def test_cells_that_read_as_formulas_are_written_as_text(monkeypatch, tmp_path):
    rows = pd.DataFrame({"account_id": ["=HYPERLINK(1)", "+A1", "-12.5", "@x", "A2"],
                         "amount": [1.0, -2.0, 3.0, 4.0, 5.0]})
    monkeypatch.setattr(repkpi.kpis, "detail", lambda *args, **kwargs: rows)
    out = tmp_path / "x.csv"
    assert main(["detail", str(SAMPLE), "--kpi", "revenue", "--period", "2025Q3",
                 "--out", str(out)]) == 0
    got = pd.read_csv(out, dtype=str)
    # Text that a spreadsheet would run gets an apostrophe; a plain number is left alone.
    assert list(got["account_id"]) == ["'=HYPERLINK(1)", "'+A1", "-12.5", "'@x", "A2"]
    assert list(got["amount"]) == ["1.0", "-2.0", "3.0", "4.0", "5.0"]
