"""``repkpi risk DATA_DIR [--out FILE]``: the accounts most at risk, printed or written.

In-process through :func:`repkpi.cli.main`, on the shipped sample. What is
written is exactly what :func:`repkpi.forecast.risk` returns (as a CSV file
reads back); exit codes as api.md says: 0 success, 1 invalid data (too
little history included), 2 a wrong command line, never a traceback.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

import repkpi
from repkpi.cli import main
from repkpi.forecast import risk
from repkpi.forecast.risk import backtest_line

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    return risk(repkpi.load(SAMPLE))


def one_line(text: str) -> str:
    """Console output with its line breaks removed (rich wraps long lines)."""
    return " ".join(text.split())


def test_out_csv_holds_every_score(scores, tmp_path, capsys):
    out = tmp_path / "risk.csv"
    assert main(["risk", str(SAMPLE), "--out", str(out)]) == 0, capsys.readouterr().err
    want = pd.read_csv(io.StringIO(scores.to_csv(index=False)))
    pd.testing.assert_frame_equal(pd.read_csv(out), want)
    printed = one_line(capsys.readouterr().out)
    assert f"Backtest: {backtest_line(scores)}" in printed
    assert f"ARR at risk ${scores['arr_at_risk'].sum():,.0f}" in printed


def test_printed_top_accounts(scores, capsys):
    assert main(["risk", str(SAMPLE)]) == 0
    printed = one_line(capsys.readouterr().out)
    first = scores.iloc[0]
    assert first["account_id"] in printed
    assert f"{first['probability']:.0%}" in printed
    assert f"${first['arr']:,.0f}" in printed  # money reads as money, as in every other table
    shown = 50  # as repkpi detail prints
    assert scores.iloc[shown - 1]["account_id"] in printed
    assert scores.iloc[shown]["account_id"] not in printed.split("... and")[0]
    assert f"... and {len(scores) - shown:,} more" in printed


def test_out_xlsx(scores, tmp_path, capsys):
    out = tmp_path / "risk.xlsx"
    assert main(["risk", str(SAMPLE), "--out", str(out), "--horizon", "2"]) == 0
    got = pd.read_excel(out, sheet_name="risk", engine="openpyxl")
    assert len(got) == len(scores)
    assert got["account_id"].tolist() == risk(repkpi.load(SAMPLE), horizon=2)["account_id"].tolist()


@pytest.mark.parametrize(("argv", "code", "says"), [
    (["--out", "risk.json"], 2, "--out must end in .csv or .xlsx"),
    (["--horizon", "0"], 2, "horizon must be a positive whole number"),
    (["--period", "2030Q1"], 2, "begins after the as-of date"),
    (["--as-of", "2022-02-15"], 1, "risk has no past to learn from"),
])
def test_errors(argv, code, says, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["risk", str(SAMPLE), *argv]) == code
    err = one_line(capsys.readouterr().err)
    assert says in err
    assert "Traceback" not in err
