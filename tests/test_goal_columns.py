"""A goal's ``where`` columns are checked against the loaded data before any goal is scored.

goals.md: ``where = { region = "north" }`` restricts a goal to some groups. A column
the data does not have is a bad goals file (api.md: exit 2), named with its goal
and the columns available, never scored "no data" (the report used to do so).

The data: three accounts (A1, A2 north; A3 south) of two reps (R1 team red, R2
team blue), and four survey responses in 2024Q1 (A1: csat 5 and 3, A2: csat 4, A3:
csat 2). CSAT (kpis.md: responses with csat 4 or 5 / responses with a csat) of the
north in 2024Q1: 5, 3, 4 -> 2 of 3; of team red (R1's responses: A1's two and
A3's): 5, 3, 2 -> 1 of 3. The data's as-of date is the latest response,
2024-03-31: 2024Q1 is complete.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import repkpi
from repkpi.cli import main
from repkpi.errors import GoalsError
from repkpi.goals import Goal, check_goal_columns, scorecard
from repkpi.report import write_report
from repkpi.review import review

ACCOUNTS = """\
account_id,account_name,rep_id,region,segment,customer_since,churned_on
A1,One,R1,north,smb,2023-01-01,
A2,Two,R2,north,smb,2023-01-01,
A3,Three,R1,south,smb,2023-01-01,
"""
REPS = """\
rep_id,name,team,region,hired_on,left_on
R1,Ann,red,north,2020-01-01,
R2,Bob,blue,north,2020-01-01,
"""
SURVEYS = """\
response_id,account_id,rep_id,responded_at,csat,nps
S1,A1,R1,2024-01-10T10:00:00Z,5,
S2,A1,R1,2024-02-10T10:00:00Z,3,
S3,A2,R2,2024-03-01T10:00:00Z,4,
S4,A3,R1,2024-03-31T10:00:00Z,2,
"""
# The columns a csat goal can be restricted by: those of surveys, of accounts, of reps.
AVAILABLE = ("account_id, account_name, churned_on, csat, customer_since, hired_on, left_on, "
             "name, nps, region, rep_id, responded_at, response_id, segment, team")
GOALS = """\
[[goal]]
kpi = "csat"
freq = "Q"
target = 0.9
direction = "at_least"
label = "North CSAT"
where = { regoin = "north" }
"""


@pytest.fixture
def book(folder) -> Path:
    return folder(accounts=ACCOUNTS, reps=REPS, surveys=SURVEYS)


def north(column: str = "region", label: str = "North CSAT") -> Goal:
    return Goal("csat", "Q", 0.9, "at_least", label=label, where={column: "north"})


def test_a_known_column_is_scored(book):
    data = repkpi.load(book)
    check_goal_columns(data, [north()])
    card = scorecard(data, [north(), Goal("csat", "Q", 0.5, "at_least", where={"team": "red"})])
    assert card["value"].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert card["status"].tolist() == ["missed", "missed"]


def test_an_unknown_column_is_a_goals_error_naming_goal_column_and_columns(book, engine):
    data = repkpi.load(book, engine=engine)
    with pytest.raises(GoalsError, match="where names 'regoin'") as caught:
        scorecard(data, [Goal("csat", "Q", 0.9, "at_least"), north("regoin")])
    assert not isinstance(caught.value, KeyError)
    message = str(caught.value)
    assert message.startswith("Goal 'North CSAT': where names 'regoin', a column the data does "
                              "not have for csat (table surveys). Available: " + AVAILABLE + ".")
    assert "csat >= 0.9" not in message  # the goal without a where is not named
    assert message.splitlines()[-1].startswith("Hint: ")


def test_every_bad_goal_is_named_before_any_is_scored(book):
    data = repkpi.load(book)
    goals = [north("regoin"), north("team"), north("segmnt", label="Other")]
    with pytest.raises(GoalsError) as caught:
        review(data, goals)
    lines = str(caught.value).splitlines()
    assert [line.split(": where names ")[0] for line in lines[:-1]] == [
        "Goal 'North CSAT'", "Goal 'Other'"]
    assert "'regoin'" in lines[0]
    assert "'segmnt'" in lines[1]


def test_the_columns_are_those_of_the_loaded_tables(folder):
    # Without reps, team is no column of the data: a goal on it is refused.
    data = repkpi.load(folder(accounts=ACCOUNTS, surveys=SURVEYS))
    with pytest.raises(GoalsError, match=r"where names 'team'.* Available: account_id, "
                                         r"account_name, churned_on, csat, customer_since, nps, "
                                         r"region, rep_id, responded_at, response_id, segment\."):
        scorecard(data, [north("team")])


def test_a_goal_whose_table_is_not_loaded_is_left_to_its_kpi(folder):
    # No surveys: the csat goal has no data (the KPI says so), whatever its where.
    data = repkpi.load(folder(accounts=ACCOUNTS))
    check_goal_columns(data, [north("regoin")])
    with pytest.raises(repkpi.errors.MissingTableError):
        scorecard(data, [north("regoin")])


def test_the_report_refuses_the_goals_and_writes_nothing(book, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    with pytest.raises(GoalsError, match="where names 'regoin'"):
        write_report(repkpi.load(book), out, goals=[north("regoin")])
    assert not out.exists()


def test_the_cli_exits_2_naming_the_goal_and_the_column(book, tmp_path_factory, capsys):
    beside = tmp_path_factory.mktemp("report")
    goals = beside / "goals.toml"
    goals.write_text(GOALS)
    out = beside / "out"
    code = main(["report", str(book), "--out", str(out), "--goals", str(goals)])
    captured = capsys.readouterr()
    assert code == 2
    assert not out.exists()
    message = " ".join(captured.err.split())
    assert message.startswith("repkpi report: Goal 'North CSAT': where names 'regoin', a column "
                              f"the data does not have for csat (table surveys). Available: "
                              f"{AVAILABLE}. Hint: ")
