"""`repkpi sample`: the generator's churn mode on the command line."""

from __future__ import annotations

import pandas as pd

from repkpi.cli import main
from repkpi.datasets.generator import generate_sample


def test_churn_option_writes_the_mode_asked_for(tmp_path, capsys):
    for mode in ("hazard", "sbg"):
        assert main(["sample", str(tmp_path / mode), "--accounts", "300", "--seed", "4",
                     "--churn", mode]) == 0
        written = pd.read_csv(tmp_path / mode / "accounts.csv", dtype=str, keep_default_na=False)
        drawn = generate_sample(seed=4, accounts=300, churn=mode)["accounts"]
        # The file holds the accounts the generator draws in that mode: the same churn dates.
        expected = pd.to_datetime(drawn["churned_on"]).dt.strftime("%Y-%m-%d").fillna("")
        assert written["churned_on"].tolist() == expected.tolist()
    hazard = pd.read_csv(tmp_path / "hazard" / "accounts.csv")["churned_on"]
    sbg = pd.read_csv(tmp_path / "sbg" / "accounts.csv")["churned_on"]
    assert not hazard.equals(sbg)  # the two modes churn different accounts


def test_an_unknown_churn_mode_is_a_usage_error(tmp_path, capsys):
    try:
        code = main(["sample", str(tmp_path), "--churn", "weekly"])
    except SystemExit as exc:  # argparse's own exit for a bad choice
        code = exc.code
    assert code == 2
    assert "weekly" in capsys.readouterr().err
