"""repkpi.check and `repkpi check` (analysis.md, "Checks to run on a schedule"), worked by hand.

The book: reps R1 and R2 each hold 30 accounts won on 2023-01-02. Twenty of R1's churn on
2025-02-01; B01 (R2) has a churn date 2025-06-01, after the as-of date: scheduled. N1 (R2) is
won on 2025-03-31, the latest recorded date: the as-of date, the last day of 2025Q1 (so no
quarter is in progress). One survey, on 2024-01-10: the surveys table is stale.

churn_rate (C / S, S the book on the day before the quarter):
- 2025Q1: S = 60, C = 20: 1/3, missed against "at most 0.3";
- 2024Q4 (the period before) and 2024Q1 (a year before): S = 60, C = 0: 0.
  Both changes are 1/3 with Newcombe's interval from statsmodels below: significant.
- by rep in 2025Q1: R1 20/30, R2 0/30, p0 = 1/3; the 99.8% limits for n = 30 are
  1/3 -+ 3.09 x sqrt(1/3 x 2/3 / 30) = 1/3 -+ 0.26596 = 0.06738 and 0.59929:
  R1 is high, R2 low (30 observations: not low data).
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

import repkpi
from repkpi import Goal
from repkpi.checks import FINDING_COLUMNS, needs_a_look
from repkpi.cli import main

GOALS = """\
[[goal]]
kpi = "churn_rate"
freq = "Q"
target = 0.3
direction = "at_most"
"""
LIMIT = 3.09 * math.sqrt(1 / 3 * 2 / 3 / 30)


@pytest.fixture
def book(tmp_path):
    r1 = pd.DataFrame({"account_id": [f"A{i:02d}" for i in range(1, 31)], "rep_id": "R1",
                       "customer_since": "2023-01-02",
                       "churned_on": ["2025-02-01"] * 20 + [""] * 10})
    r2 = pd.DataFrame({"account_id": [f"B{i:02d}" for i in range(1, 31)], "rep_id": "R2",
                       "customer_since": "2023-01-02", "churned_on": ["2025-06-01"] + [""] * 29})
    new = pd.DataFrame({"account_id": ["N1"], "rep_id": ["R2"], "customer_since": ["2025-03-31"],
                        "churned_on": [""]})
    pd.concat([r1, r2, new]).to_csv(tmp_path / "accounts.csv", index=False)
    (tmp_path / "surveys.csv").write_text("response_id,account_id,responded_at,csat\n"
                                          "S1,A21,2024-01-10T10:00:00Z,5\n")
    (tmp_path / "goals.toml").write_text(GOALS)
    return tmp_path


def test_the_findings_most_important_first(book):
    found = repkpi.check(repkpi.load(book), [Goal("churn_rate", "Q", 0.3, "at_most")],
                         period="2025Q1")
    assert list(found.columns) == FINDING_COLUMNS
    assert found["kind"].tolist() == ["missed", "change", "change_yoy", "out_of_line",
                                      "out_of_line", "stale", "scheduled_churn"]
    missed = found.iloc[0]
    assert (missed["kpi"], missed["period"], missed["target"]) == ("churn_rate", "2025 Q1", 0.3)
    assert missed["value"] == pytest.approx(1 / 3)
    low, _ = confint_proportions_2indep(20, 60, 0, 60, method="newcomb", compare="diff")
    for change in (found.iloc[1], found.iloc[2]):
        assert change["value"] == pytest.approx(1 / 3)
        assert change["limit"] == pytest.approx(low)  # the bound nearest 0
    lines = found[found["kind"] == "out_of_line"]
    assert lines["group"].tolist() == ["rep_id=R1", "rep_id=R2"]
    assert lines["value"].tolist() == pytest.approx([2 / 3, 0])
    assert lines["limit"].tolist() == pytest.approx([1 / 3 + LIMIT, 1 / 3 - LIMIT])
    assert "higher than the 99.8% limit 59.9%" in lines["message"].iloc[0]
    assert found.iloc[5]["group"] == "surveys"
    assert found.iloc[6]["value"] == 1
    assert needs_a_look(found)


def test_notes_alone_are_no_finding(book):
    # 2024Q4: 0 churn of 60, as in 2024Q3 and 2023Q4; every rep at 0 (p0 = 0): nothing to flag.
    found = repkpi.check(repkpi.load(book), [Goal("churn_rate", "Q", 0.5, "at_most")],
                         period="2024Q4")
    assert found["kind"].tolist() == ["stale", "scheduled_churn"]
    assert not needs_a_look(found)


def test_the_command_exits_3_and_writes_json(book, tmp_path_factory, capsys):
    out = tmp_path_factory.mktemp("out") / "findings.json"
    code = main(["check", str(book), "--period", "2025Q1", "--json", str(out)])
    assert code == 3
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith("missed: ")
    assert "note: surveys end on 2024-01-10" in printed
    records = json.loads(out.read_text(encoding="utf-8"))
    assert [r["kind"] for r in records][:2] == ["missed", "change"]
    assert set(records[0]) == set(FINDING_COLUMNS)
    assert records[0]["limit"] is None
    assert records[0]["target"] == 0.3


def test_the_command_exits_0_with_notes_only(book, tmp_path):
    goals = tmp_path / "easy.toml"
    goals.write_text(GOALS.replace("0.3", "0.5"))
    assert main(["check", str(book), "--goals", str(goals), "--period", "2024Q4"]) == 0


def test_the_command_keeps_exit_codes_1_and_2(book, tmp_path):
    assert main(["check", str(tmp_path / "nowhere")]) == 2
    (book / "accounts.csv").write_text("account_id,customer_since\nA1,not a date\n")
    assert main(["check", str(book)]) == 1


def test_the_rows_with_no_rep_are_a_group_named_n_a(book):
    # A01..A30 lose their rep: the 20 churns of 2025Q1 are the no-rep group's (20/30), R2's none.
    accounts = pd.read_csv(book / "accounts.csv", dtype="str", keep_default_na=False)
    accounts.loc[accounts["rep_id"] == "R1", "rep_id"] = ""
    accounts.to_csv(book / "accounts.csv", index=False)
    found = repkpi.check(repkpi.load(book), [Goal("churn_rate", "Q", 0.3, "at_most")],
                         period="2025Q1")
    lines = found[found["kind"] == "out_of_line"]
    assert sorted(lines["group"]) == ["rep_id=R2", "rep_id=n/a"]
    assert lines["message"].str.startswith(tuple(lines["group"] + ": ")).all()


def test_a_goal_the_data_cannot_give_is_left_out(book):
    # Without a churned_on column churn_rate cannot be scored (data.absent); new_customers
    # can: 1 account won in 2025Q1 (N1) against at least 10.
    accounts = pd.read_csv(book / "accounts.csv", dtype="str", keep_default_na=False)
    accounts.drop(columns="churned_on").to_csv(book / "accounts.csv", index=False)
    found = repkpi.check(repkpi.load(book), [Goal("churn_rate", "Q", 0.3, "at_most"),
                                            Goal("new_customers", "Q", 10, "at_least")],
                         period="2025Q1")
    assert found["kind"].tolist() == ["missed", "stale"]
    assert (found["kpi"].iloc[0], found["value"].iloc[0]) == ("new_customers", 1)


def test_no_goal_scored_leaves_the_notes(book):
    accounts = pd.read_csv(book / "accounts.csv", dtype="str", keep_default_na=False)
    accounts.drop(columns="churned_on").to_csv(book / "accounts.csv", index=False)
    found = repkpi.check(repkpi.load(book), [Goal("churn_rate", "Q", 0.3, "at_most")],
                         period="2025Q1")
    assert found["kind"].tolist() == ["stale"]
