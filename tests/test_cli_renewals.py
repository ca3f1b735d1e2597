"""``repkpi renewals DATA_DIR``: the forecast printed, written with --out, and its exit codes.

In-process through :func:`repkpi.cli.main`; what is written must be what
:func:`repkpi.forecast.renewals` returns (as a CSV file reads it back).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import repkpi
from repkpi.cli import main
from repkpi.forecast import renewals

SMALL = Path(__file__).resolve().parent / "forecast" / "data" / "renewals_small"


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_out_csv_holds_the_forecast(tmp_path, capsys):
    out = tmp_path / "renewals.csv"
    code = main(["renewals", str(SMALL), "--as-of", "2026-06-30", "--periods", "2", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    want = renewals(repkpi.load(SMALL, as_of="2026-06-30"), periods=2)
    got = pd.read_csv(out)
    assert got["period"].tolist() == ["2026Q3", "2026Q4"]
    pd.testing.assert_frame_equal(got.drop(columns="period"), want.drop(columns="period"))
    printed = one_line(capsys.readouterr().out)
    # tests/forecast/data/renewals_small/README.md: 2 contracts due in each quarter, 2,700 and 2,250.
    assert "2026 Q3: 2 contracts due ($2,700 ARR); expected renewals 1 (80%: 0-2)" in printed
    assert "2026 Q4: 2 contracts due ($2,250 ARR)" in printed
    assert "Fit: 8 chains (4 lost, 4 running)" in printed
    assert "2025 Q3" in printed
    assert f"mean absolute error {want.attrs['backtest_mae']:.1f} points" in printed
    assert "2 row(s) written to" in printed


def test_a_bad_out_file_is_a_usage_error(tmp_path, capsys):
    assert main(["renewals", str(SMALL), "--as-of", "2026-06-30", "--out", str(tmp_path / "x.json")]) == 2
    assert "--out must end in .csv or .xlsx, got 'x.json'" in capsys.readouterr().err


def test_data_without_contracts_is_invalid(tmp_path, capsys):
    (tmp_path / "accounts.csv").write_text("account_id,customer_since\nA1,2024-01-15\n", encoding="utf-8")
    assert main(["renewals", str(tmp_path)]) == 1
    assert "renewals needs the contracts table" in capsys.readouterr().err


def test_chains_that_cannot_be_fitted_are_invalid_data(tmp_path, capsys):
    (tmp_path / "contracts.csv").write_text(
        "contract_id,account_id,start_date,end_date,annual_value,renewal_of\n"
        "C1,A1,2025-01-01,2025-12-31,10,\nC2,A2,2025-01-01,2025-12-31,10,\n", encoding="utf-8")
    assert main(["renewals", str(tmp_path), "--as-of", "2026-06-30"]) == 1
    assert "cannot fit the renewal chains of all contracts" in capsys.readouterr().err
