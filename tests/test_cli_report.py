"""``repkpi report``: exit codes 0 (success), 1 (invalid data) and 2 (usage error), and what it writes.

Runs through the installed console script (a real process, a real exit code)
where the exit code is the point, and through :func:`repkpi.cli.main`
in-process where only the outcome matters. data/messy is described in its
README.md: strict loading fails with 8 failures in 8 rows; quarantine sets 10
rows aside (the two rows of the rejected account cascade).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import repkpi
from repkpi.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
MESSY = ROOT / "data" / "messy"
_SCRIPT = Path(sys.executable).with_name("repkpi")
REPKPI = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "repkpi"]


def repkpi_command(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([*REPKPI, *map(str, args)], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


def one_line(text: str) -> str:
    """Console output with its line breaks removed (rich wraps long paths)."""
    return " ".join(text.split())


# -- success -------------------------------------------------------------------


def test_report_on_the_sample_writes_charts_scorecard_and_page(tmp_path):
    out = tmp_path / "out"
    done = repkpi_command("report", SAMPLE, "--out", out, "--freq", "Y")

    assert done.returncode == 0, done.stderr
    # DATA_DIR/goals.toml is used when --goals is not given.
    assert f"Goals: {SAMPLE / 'goals.toml'}" in one_line(done.stdout)
    assert f"Report written to {out / 'report.html'}" in one_line(done.stdout)
    charts = {f"{name}.png" for name in repkpi.KPIS}
    assert charts <= {p.name for p in out.glob("*.png")} <= charts | {"dashboard.png"}
    assert sorted(p.name for p in out.iterdir() if p.suffix != ".png") == [
        ".repkpi", "report.html", "report.xlsx", "scorecard.csv"]  # no rejects.csv: clean data
    card = pd.read_csv(out / "scorecard.csv")
    assert list(card["goal"]) == [goal.label for goal in repkpi.load_goals(SAMPLE / "goals.toml")]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count('<tr class="goal">') == len(card) == len(repkpi.KPIS)
    assert "Period under review: <strong>2025</strong>" in page


def test_quarantine_report_on_messy_data_writes_rejects_and_exits_0(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["report", str(MESSY), "--out", str(out), "--errors", "quarantine", "--freq", "Y"])

    printed = one_line(capsys.readouterr().out)
    assert code == 0
    assert "Goals: the default goals" in printed  # data/messy has no goals.toml
    assert f"10 invalid row(s) set aside in {out / 'rejects.csv'}" in printed
    rejects = pd.read_csv(out / "rejects.csv")
    assert len(rejects) == 10
    assert rejects.groupby("table")["row"].nunique().to_dict() == {
        "accounts": 2, "activities": 1, "contracts": 1, "deals": 4, "surveys": 1, "tickets": 1}
    assert (out / "report.html").is_file()
    assert len(pd.read_csv(out / "scorecard.csv")) == len(repkpi.DEFAULT_GOALS)


# -- invalid data: 1 -------------------------------------------------------------


def test_strict_report_on_messy_data_exits_1_with_the_validation_summary(tmp_path):
    out = tmp_path / "out"
    done = repkpi_command("report", MESSY, "--out", out)

    assert done.returncode == 1
    message = done.stderr
    assert "8 validation failure(s) in 8 row(s) of 5 table(s)." in message
    for line in [
        "accounts: row 18, column 'account_id': unique: the value appears more than once "
        "(value: 'A001140')",
        "deals: row 11, column 'amount': range: a non-negative amount (value: '-2209.00')",
        "deals: row 16, column 'stage': allowed: one of open, won, lost (value: 'Closed Won')",
        "deals: row 41, column 'account_id': reference: account_id not in accounts "
        "(value: 'A000080')",
        "surveys: row 10, column 'csat': range: between 1 and 5 (value: '7')",
        "activities: row 30, column 'occurred_on': type: a date YYYY-MM-DD (value: '17/04/2026')",
    ]:
        assert line in one_line(message)
    assert "Hint:" in message
    assert done.stdout == ""
    assert not out.exists()  # nothing written


def test_strict_mode_in_process_returns_1(tmp_path, capsys):
    assert main(["report", str(MESSY), "--out", str(tmp_path / "out"), "--errors", "strict"]) == 1
    assert "tickets: row 6, column 'resolved_at': rule: resolved_at >= opened_at" in one_line(
        capsys.readouterr().err)


# -- usage errors: 2 -------------------------------------------------------------


def test_missing_out_exits_2_from_the_console_script():
    done = repkpi_command("report", SAMPLE)
    assert done.returncode == 2
    assert "the following arguments are required: --out" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["report", str(SAMPLE)], "the following arguments are required: --out",
                     id="missing-out"),
        pytest.param(["report", str(SAMPLE), "--out", "x", "--freq", "W"],
                     "argument --freq: invalid choice: 'W'", id="unknown-freq"),
        pytest.param(["report", str(SAMPLE), "--out", "x", "--errors", "lenient"],
                     "argument --errors: invalid choice: 'lenient'", id="unknown-errors"),
        pytest.param(["report"], "the following arguments are required: DATA_DIR, --out",
                     id="no-arguments"),
    ],
)
def test_bad_arguments_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_data_dir_exits_2(tmp_path, capsys):
    missing = tmp_path / "no-such-folder"
    assert main(["report", str(missing), "--out", str(tmp_path / "out")]) == 2
    err = one_line(capsys.readouterr().err)
    assert f"repkpi report: {missing}: no such file or folder." in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('[[goal]]\nkpi = "csat"\nfreq = "Q"\ntarget = "high"\ndirection = "at_least"\n',
                     "goal 1 (csat): target must be a number, got 'high'.", id="target-not-a-number"),
        pytest.param('[[goal]]\nkpi = "happiness"\nfreq = "Q"\ntarget = 1\ndirection = "at_least"\n',
                     "goal 1 (happiness): unknown kpi 'happiness'.", id="unknown-kpi"),
        pytest.param("[[goal]\nkpi = csat\n", "cannot read the goals file", id="not-toml"),
    ],
)
def test_bad_goals_file_exits_2(tmp_path, capsys, text, message):
    goals = tmp_path / "goals.toml"
    goals.write_text(text, encoding="utf-8")
    code = main(["report", str(MESSY), "--out", str(tmp_path / "out"), "--goals", str(goals)])
    assert code == 2
    assert message in one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_missing_goals_file_exits_2(tmp_path, capsys):
    missing = tmp_path / "goals.toml"
    assert main(["report", str(MESSY), "--out", str(tmp_path / "out"), "--goals", str(missing)]) == 2
    assert f"{missing}: cannot read the goals file" in one_line(capsys.readouterr().err)


def test_unreadable_period_exits_2(tmp_path, capsys):
    code = main(["report", str(MESSY), "--out", str(tmp_path / "out"), "--errors", "quarantine",
                 "--period", "2026Q9"])
    assert code == 2
    assert "Cannot read '2026Q9' as a period." in one_line(capsys.readouterr().err)
