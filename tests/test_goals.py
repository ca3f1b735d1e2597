"""Goals files, the default goals and the scorecard, worked out by hand from spec/goals.md.

Most scorecard tests use one tiny book of CSAT responses (a response of 4 or
5 is a success) for two accounts, A1 in the north and A2 in the south:

    quarter  A1 (north)        A2 (south)        total
    2023Q4   5 3 2   -> 1/3    4       -> 1/1    2/4 = 0.5
    2024Q1   5 4 4 2 -> 3/4    5 1     -> 1/2    4/6
    2024Q2   5 5     -> 2/2    3 4 4   -> 2/3    4/5 = 0.8

    years: 2023 -> 2/4 = 0.5; 2024 -> 8/11.
    months: 2024-03 -> 0/2 (A1's 2, A2's 1); 2024-05 -> 2/2; 2024-06 -> 1/1.

The latest response is on 2024-06-30, the last day of 2024Q2 and of June: the
latest complete quarter is 2024Q2, month 2024-06, year 2023.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import repkpi
from repkpi import CrmData, Goal, GoalsError, OptionError, load_goals, scorecard
from repkpi.datasets import doctest_data as examples
from repkpi.goals import (
    DEFAULT_GOALS,
    LOW_DATA,
    PLAN_FOCUS,
    GoalSet,
    focus_of,
    goal_result,
    latest_complete_period,
    plan_goals,
)
from repkpi.kpis.intervals import wilson_interval
from repkpi.periods import pandas_freq, to_period

nan = float("nan")

ACCOUNTS = pd.DataFrame({"account_id": ["A1", "A2"], "region": ["north", "south"],
                         "customer_since": ["2023-01-01", "2023-01-01"]})
RESPONSES = [
    ("A1", "2023-11-15", 5), ("A2", "2023-12-01", 4), ("A1", "2023-12-20", 3), ("A1", "2023-12-28", 2),
    ("A1", "2024-01-10", 5), ("A1", "2024-02-10", 4), ("A1", "2024-02-20", 4), ("A1", "2024-03-01", 2),
    ("A2", "2024-01-15", 5), ("A2", "2024-03-15", 1),
    ("A1", "2024-04-10", 5), ("A1", "2024-05-10", 5),
    ("A2", "2024-04-20", 3), ("A2", "2024-05-20", 4), ("A2", "2024-06-30", 4),
]


def surveys(responses: list[tuple[str, str, int | None]]) -> pd.DataFrame:
    """A surveys table from (account, day, csat) triples, each response at noon UTC."""
    account, day, score = zip(*responses, strict=True)
    return pd.DataFrame({"response_id": [f"S{i}" for i in range(1, len(account) + 1)],
                         "account_id": list(account),
                         "responded_at": [f"{d}T12:00:00Z" for d in day],
                         "csat": pd.array(score, dtype="Int64")})


@pytest.fixture(scope="module")
def book() -> CrmData:
    return CrmData(accounts=ACCOUNTS, surveys=surveys(RESPONSES))


@pytest.fixture(scope="module")
def sample() -> CrmData:
    return repkpi.load_sample()


def csat_goal(freq: str = "Q", target: float = 0.9, direction: str = "at_least", **kw: object) -> Goal:
    return Goal("csat", freq, target, direction, **kw)


def assert_row(card: pd.DataFrame, i: int, expected: dict[str, object]) -> None:
    """Check the columns named in ``expected`` of row ``i`` (numbers to 1e-9, NaN equals NaN)."""
    for column, want in expected.items():
        got = card[column].iloc[i]
        if column == "period":
            assert str(got) == want, column
        elif isinstance(want, float):
            assert got == pytest.approx(want, abs=1e-9, nan_ok=True), column
        else:
            assert got == want, column


# --- goals files -----------------------------------------------------------------------------

def write_goals(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "goals.toml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


CSAT = """
[[goal]]
kpi = "csat"
freq = "Q"
target = 0.9
direction = "at_least"
"""


def test_load_goals_valid_file_with_and_without_the_optional_keys(tmp_path):
    path = write_goals(tmp_path, CSAT + """
        [[goal]]
        kpi = "churn_rate"
        freq = "M"
        target = 0.05
        direction = "at_most"
        label = "Churn in the north <= 5% in July"
        period = "2026-07"
        where = { region = "north" }

        [[goal]]
        kpi = "large_deals"
        freq = "Y"
        target = 2
        direction = "at_least"
    """)
    goals = load_goals(path)
    assert goals == [
        # No label: one is made from the kpi, the direction and the target.
        Goal("csat", "Q", 0.9, "at_least", "csat >= 0.9"),
        Goal("churn_rate", "M", 0.05, "at_most", "Churn in the north <= 5% in July", "2026-07",
             {"region": "north"}),
        Goal("large_deals", "Y", 2, "at_least", "large_deals >= 2"),   # a whole-number target
    ]
    assert goals[0].period is None
    assert goals[0].where == {}


def test_load_goals_of_an_empty_file_is_no_goals(tmp_path):
    assert load_goals(write_goals(tmp_path, "# nothing yet\n")) == []


def test_the_sample_goals_file_loads_and_starts_with_the_default_goals():
    goals = load_goals(repkpi.sample_path() / "goals.toml")
    assert [(g.kpi, g.freq, g.target, g.direction) for g in goals[:9]] == [
        (g.kpi, g.freq, g.target, g.direction) for g in DEFAULT_GOALS]
    assert len({g.kpi for g in goals}) == len(goals)


GOAL = 'kpi = "csat"\nfreq = "Q"\ntarget = 0.9\ndirection = "at_least"\n'


@pytest.mark.parametrize(
    ("body", "match"),
    [
        pytest.param(GOAL.replace('"csat"', '"happiness"'),
                     r"goal 1 \(happiness\): unknown kpi 'happiness'", id="unknown-kpi"),
        pytest.param(GOAL.replace('"csat"', "3"), r"goal 1 \(3\): unknown kpi 3", id="kpi-number"),
        pytest.param(GOAL.replace('"csat"', '["csat"]'),
                     r"goal 1 \(\['csat'\]\): unknown kpi \['csat'\]", id="kpi-list"),
        pytest.param(GOAL.replace('"at_least"', '"above"'),
                     r"goal 1 \(csat\): direction must be 'at_least' or 'at_most', got 'above'",
                     id="bad-direction"),
        pytest.param(GOAL.replace("0.9", '"high"'),
                     r"goal 1 \(csat\): target must be a number, got 'high'", id="target-string"),
        pytest.param(GOAL.replace("0.9", "true"),
                     r"goal 1 \(csat\): target must be a number, got True", id="target-boolean"),
        pytest.param(GOAL.replace("0.9", "inf"),
                     r"goal 1 \(csat\): target must be a number, got inf", id="target-infinite"),
        pytest.param(GOAL.replace("0.9", "nan"),
                     r"goal 1 \(csat\): target must be a number, got nan", id="target-nan"),
        pytest.param(GOAL + 'colour = "red"\n',
                     r"goal 1 \(csat\): unknown key\(s\) \['colour'\]", id="unknown-key"),
        pytest.param(GOAL.replace('direction = "at_least"\n', ""),
                     r"goal 1 \(csat\): missing direction", id="missing-direction"),
        pytest.param(GOAL.replace('freq = "Q"\n', "").replace("target = 0.9\n", ""),
                     r"goal 1 \(csat\): missing freq, target", id="missing-two"),
        pytest.param(GOAL.replace('kpi = "csat"\n', ""), r"goal 1 \(\?\): missing kpi",
                     id="missing-kpi"),
        pytest.param(GOAL.replace('"Q"', '"W"'),
                     r"goal 1 \(csat\): freq must be 'M', 'Q' or 'Y', got 'W'", id="bad-freq"),
        pytest.param(GOAL + "label = 5\n", r"goal 1 \(csat\): label must be text, got 5",
                     id="label-not-text"),
        pytest.param(GOAL + 'period = "soon"\n',
                     r"goal 1 \(csat\): period must be a period of freq 'Q' .* got 'soon'",
                     id="period-unreadable"),
        pytest.param(GOAL + "period = 2026\n",
                     r"goal 1 \(csat\): period must be a period of freq 'Q' .* got 2026",
                     id="period-not-text"),
        pytest.param(GOAL + 'where = "north"\n',
                     r"goal 1 \(csat\): where must be a table of column = value, got 'north'",
                     id="where-not-table"),
        # A label holding ': ' must not garble the message.
        pytest.param(GOAL + 'label = "CSAT: 90%"\nwhere = 3\n',
                     r"goal 1 \(csat\): where must be a table of column = value, got 3",
                     id="label-with-colon"),
    ],
)
def test_load_goals_bad_goal_names_the_goal_and_the_field(tmp_path, body, match):
    with pytest.raises(GoalsError, match=match):
        load_goals(write_goals(tmp_path, "[[goal]]\n" + body))


def test_load_goals_counts_goals_from_one(tmp_path):
    path = write_goals(tmp_path, CSAT + "\n[[goal]]\n" + GOAL.replace('"Q"', '"D"'))
    with pytest.raises(GoalsError, match=r"goal 2 \(csat\): freq must be"):
        load_goals(path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param('[[goal]\nkpi = "csat"\n', r"cannot read the goals file", id="not-toml"),
        pytest.param('[goals]\nkpi = "csat"\n', r"unexpected top-level key\(s\) \['goals'\]",
                     id="top-level-key"),
        pytest.param('goal = "csat"\n', r"unexpected top-level key\(s\) \['goal'\]",
                     id="goal-not-a-list"),
        pytest.param("goal = [1, 2]\n", r"goal 1 must be a table, got 1", id="goal-not-a-table"),
    ],
)
def test_load_goals_bad_file(tmp_path, text, match):
    with pytest.raises(GoalsError, match=match):
        load_goals(write_goals(tmp_path, text))


def test_load_goals_missing_file(tmp_path):
    with pytest.raises(GoalsError, match=r"missing\.toml: cannot read the goals file"):
        load_goals(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"kpi": "nope"}, r"Goal 'nope': unknown kpi 'nope'", id="kpi"),
        pytest.param({"label": "Happy", "freq": "W"}, r"Goal 'Happy': freq must be", id="freq"),
        pytest.param({"where": ["north"]}, r"Goal 'csat': where must be a table", id="where"),
        pytest.param({"freq": "M", "period": "2026Q9"}, r"Goal 'csat': period must be", id="period"),
    ],
)
def test_goal_checks_itself(kwargs, match):
    fields = {"kpi": "csat", "freq": "Q", "target": 0.9, "direction": "at_least"} | kwargs
    with pytest.raises(GoalsError, match=match):
        Goal(**fields)


def test_default_goals_are_the_table_of_the_work_plan():
    # spec/goals.md, "Goals the user set": kpi, freq, target, direction.
    assert [(g.kpi, g.freq, g.target, g.direction) for g in DEFAULT_GOALS] == [
        ("new_customer_growth", "Q", 0.20, "at_least"),
        ("csat", "Q", 0.90, "at_least"),
        ("large_deals", "Q", 2, "at_least"),
        ("retention_rate", "Q", 0.95, "at_least"),
        ("churn_rate", "Q", 0.05, "at_most"),
        ("cross_sell_rate", "Y", 0.10, "at_least"),
        ("key_accounts", "Y", 5, "at_least"),
        ("market_rank", "Y", 3, "at_most"),
        ("senior_reps", "Y", 10, "at_least"),
    ]
    assert all(g.label and g.period is None and not g.where for g in DEFAULT_GOALS)
    assert repkpi.DEFAULT_GOALS is DEFAULT_GOALS


# --- latest complete period --------------------------------------------------------------------

@pytest.mark.parametrize(
    ("last_day", "freq", "expected"),
    [
        ("2024-03-31", "Q", "2024Q1"),     # the last day of 2024Q1: it is complete
        ("2024-03-30", "Q", "2023Q4"),     # one day short: the export was taken during 2024Q1
        ("2024-04-01", "Q", "2024Q1"),
        ("2024-03-31", "M", "2024-03"),
        ("2024-03-30", "M", "2024-02"),
        ("2024-02-29", "M", "2024-02"),    # leap day
        ("2024-03-31", "Y", "2023"),
        ("2024-12-31", "Y", "2024"),
    ],
)
def test_latest_complete_period(last_day, freq, expected):
    data = CrmData(accounts=pd.DataFrame({"account_id": ["A1", "A2"],
                                          "customer_since": ["2023-05-02", last_day]}))
    assert str(latest_complete_period(data, freq)) == expected


def test_latest_complete_period_takes_the_latest_event_of_any_table_but_not_scheduled_dates():
    # data.as_of is the latest recorded date of any table (kpis.md, "Complete periods"): the
    # accounts' latest customer_since is 2024-03-31, but D1 was won on 2024-04-30, later, in
    # another table: as_of = 2024-04-30, the last day of April but not of 2024Q2.
    # Scheduled dates do not count: A1's churned_on 2024-05-20, the open deal D2's expected close
    # on 2024-09-30, the contract's end in 2026, the rep hired in 2025.
    # So April is complete (latest complete month 2024-04) and 2024Q2 in progress (quarter 2024Q1).
    data = CrmData(
        accounts=pd.DataFrame({"account_id": ["A1", "A2"],
                               "customer_since": ["2023-05-02", "2024-03-31"],
                               "churned_on": ["2024-05-20", None]}),
        deals=pd.DataFrame({"deal_id": ["D1", "D2"], "account_id": ["A1", "A2"],
                            "created_on": ["2024-03-01", "2024-03-15"],
                            "closed_on": ["2024-04-30", "2024-09-30"], "stage": ["won", "open"],
                            "amount": [1000.0, 2000.0], "deal_type": "new_business",
                            "channel": "direct"}),
        contracts=pd.DataFrame({"contract_id": ["C1"], "account_id": ["A1"],
                                "start_date": ["2024-01-01"], "end_date": ["2026-12-31"],
                                "annual_value": [100.0]}),
        reps=pd.DataFrame({"rep_id": ["R1"], "hired_on": ["2025-01-01"]}))
    assert data.as_of == pd.Timestamp("2024-04-30")
    assert str(latest_complete_period(data, "Q")) == "2024Q1"
    assert str(latest_complete_period(data, "M")) == "2024-04"
    # Without the won deal the latest recorded date is 2024-03-31 (A2's customer_since), whatever
    # the churn in May says: March and 2024Q1 are complete.
    data = CrmData(accounts=data.accounts, contracts=data.contracts, reps=data.reps)
    assert data.as_of == pd.Timestamp("2024-03-31")
    assert str(latest_complete_period(data, "Q")) == "2024Q1"
    assert str(latest_complete_period(data, "M")) == "2024-03"
    # A declared as_of wins over the data's: 2024-05-20 is in May and in 2024Q2.
    declared = CrmData(accounts=data.accounts, as_of="2024-05-20")
    assert str(latest_complete_period(declared, "Q")) == "2024Q1"
    assert str(latest_complete_period(declared, "M")) == "2024-04"
    assert str(latest_complete_period(CrmData(accounts=data.accounts, as_of="2024-06-30"), "Q")) == "2024Q2"


def test_latest_complete_period_reads_timestamps_as_utc_dates():
    # 01:00 on 30 June at +03:00 is 22:00 on 29 June UTC: June (and 2024Q2) is not complete.
    data = CrmData(tickets=pd.DataFrame({
        "ticket_id": ["T1"], "account_id": ["A1"], "opened_at": ["2024-06-30T01:00:00+03:00"],
        "priority": ["normal"]}))
    assert str(latest_complete_period(data, "Q")) == "2024Q1"
    assert str(latest_complete_period(data, "M")) == "2024-05"


def test_latest_complete_period_without_events_is_none():
    data = CrmData(reps=pd.DataFrame({"rep_id": ["R1"], "hired_on": ["2020-01-01"]}))
    assert latest_complete_period(data, "Q") is None


def test_latest_complete_period_of_the_book(book):
    assert [str(latest_complete_period(book, f)) for f in ("M", "Q", "Y")] == [
        "2024-06", "2024Q2", "2023"]


# --- scorecard: values, attainment, status ---------------------------------------------------

# analysis.md, "Is the change real?": change_low, change_high and significant beside change;
# "Comparisons": year_ago and change_yoy, with their interval.
SCORED_COLUMNS = ["goal", "kpi", "freq", "period", "period_label", "value", "target", "direction",
                  "attainment", "status", "previous", "change", "year_ago", "change_yoy",
                  "change_low", "change_high", "significant", "change_yoy_low",
                  "change_yoy_high", "significant_yoy", "observations", "low_data"]


def test_scorecard_columns(book):
    card = scorecard(book, [csat_goal()])
    assert list(card.columns) == SCORED_COLUMNS
    assert len(card) == 1


@pytest.mark.parametrize(
    ("goal", "expected"),
    [
        pytest.param(csat_goal(), {
            "period": "2024Q2", "value": 0.8, "target": 0.9,
            "attainment": 0.8 / 0.9,                       # at_least: value / target
            "status": "missed", "previous": 4 / 6, "change": 0.8 - 4 / 6,
            "observations": 5.0, "low_data": True}, id="at_least-missed"),
        pytest.param(csat_goal(direction="at_most"), {
            "value": 0.8, "attainment": 0.9 / 0.8,           # at_most: target / value
            "status": "met"}, id="at_most-met"),
        pytest.param(csat_goal(target=0.8), {
            "value": 0.8, "attainment": 1.0, "status": "met"}, id="exactly-on-target"),
        pytest.param(csat_goal("Y", 0.6), {
            # The latest complete year is 2023 (2024 is not over): 2/4; no 2022 before it.
            "period": "2023", "value": 0.5, "attainment": 0.5 / 0.6, "status": "missed",
            "previous": nan, "change": nan, "observations": 4.0}, id="yearly"),
        pytest.param(csat_goal("M", 0.5), {
            # June 2024: A2's 4 on the 30th -> 1/1; May: 2/2.
            "period": "2024-06", "value": 1.0, "attainment": 2.0, "status": "met",
            "previous": 1.0, "change": 0.0, "observations": 1.0}, id="monthly"),
        pytest.param(csat_goal("M", 0.1, "at_most", period="2024-03"), {
            # March 2024: A1's 2 and A2's 1 -> 0/2 = 0. At most 10%: met, infinitely so.
            "period": "2024-03", "value": 0.0, "attainment": math.inf, "status": "met",
            "previous": 1.0, "change": -1.0}, id="zero-at_most-met"),
        pytest.param(csat_goal("M", 0.1, period="2024-03"), {
            "value": 0.0, "attainment": 0.0, "status": "missed"}, id="zero-at_least-missed"),
        pytest.param(csat_goal(period="2024Q4"), {
            # After the data: no responses, no value.
            "period": "2024Q4", "value": nan, "attainment": nan, "status": "no data",
            "previous": nan, "change": nan, "low_data": False}, id="no-data"),
        pytest.param(csat_goal(where={"region": "north"}), {
            # North only: A1 in 2024Q2 -> 2/2, in 2024Q1 -> 3/4.
            "value": 1.0, "attainment": 1 / 0.9, "status": "met", "previous": 0.75,
            "change": 0.25, "observations": 2.0}, id="where"),
        pytest.param(csat_goal(where={"region": "west"}), {
            "value": nan, "status": "no data"}, id="where-no-such-group"),
    ],
)
def test_scorecard_hand_worked(book, goal, expected):
    card = scorecard(book, [goal])
    assert len(card) == 1
    assert card["kpi"].iloc[0] == "csat"
    assert card["goal"].iloc[0] == goal.label
    assert card["direction"].iloc[0] == goal.direction
    assert_row(card, 0, expected)


def test_scorecard_by_gives_one_row_per_group(book):
    card = scorecard(book, [csat_goal()], by="region")
    assert list(card.columns) == [*SCORED_COLUMNS[:5], "region", *SCORED_COLUMNS[5:]]
    assert list(card["region"]) == ["north", "south"]
    # 2024Q2: north 2/2, south 2/3; 2024Q1: north 3/4, south 1/2.
    assert_row(card, 0, {"period": "2024Q2", "value": 1.0, "attainment": 1 / 0.9, "status": "met",
                         "previous": 0.75, "change": 0.25, "observations": 2.0})
    assert_row(card, 1, {"period": "2024Q2", "value": 2 / 3, "attainment": (2 / 3) / 0.9,
                         "status": "missed", "previous": 0.5, "change": 2 / 3 - 0.5,
                         "observations": 3.0})


def test_scorecard_by_with_where_keeps_the_groups_of_the_where(book):
    card = scorecard(book, [csat_goal(where={"region": "south"})], by="region")
    assert list(card["region"]) == ["south"]
    assert card["value"].iloc[0] == pytest.approx(2 / 3)


IP = "in progress"


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        # Each goal is scored on the period of its own freq that holds the last day of the
        # period under review: a yearly goal reviewed at 2024Q1 is scored on 2024, which is in
        # progress on the as-of date (2024-06-30, the last response): 8 of its 11 responses
        # so far are 4 or 5. Quarters and months ending by 06-30 are complete.
        ("2024Q1", [("2024Q1", 4 / 6, "missed"), ("2024", 8 / 11, IP), ("2024-03", 0.0, "missed")]),
        ("2024Q2", [("2024Q2", 0.8, "missed"), ("2024", 8 / 11, IP), ("2024-06", 1.0, "met")]),
        # The year holds as_of: in progress; its last quarter and month are not lived (NA).
        ("2024", [("2024Q4", nan, "no data"), ("2024", 8 / 11, IP), ("2024-12", nan, "no data")]),
        # May is in 2024Q2 (04-10 5, 05-10 5, 04-20 3, 05-20 4, 06-30 4: 4 of 5).
        ("2024-05", [("2024Q2", 0.8, "missed"), ("2024", 8 / 11, IP), ("2024-05", 1.0, "met")]),
        (pd.Period("2024Q2", "Q"), [("2024Q2", 0.8, "missed"), ("2024", 8 / 11, IP),
                                    ("2024-06", 1.0, "met")]),
        ("2022Q3", [("2022Q3", nan, "no data"), ("2022", nan, "no data"),   # before the data
                    ("2022-09", nan, "no data")]),
    ],
)
def test_scorecard_explicit_period(book, period, expected):
    goals = [csat_goal("Q"), csat_goal("Y"), csat_goal("M")]
    card = scorecard(book, goals, period=period)
    got = [(str(p), v) for p, v in zip(card["period"], card["value"], strict=True)]
    assert [p for p, _ in got] == [p for p, _, _ in expected]
    assert [v for _, v in got] == pytest.approx([v for _, v, _ in expected], nan_ok=True)
    assert list(card["status"]) == [s for _, _, s in expected]


@pytest.mark.parametrize("period", ["2024Q3", "2024-07", "2025", "2024-07-01",
                                    pd.Period("2024Q3", "Q")])
def test_scorecard_refuses_a_period_after_as_of(book, period):
    # The book's as-of date is 2024-06-30 (the last response): July is not lived yet.
    goals = [csat_goal("Q"), csat_goal("Y"), csat_goal("M")]
    with pytest.raises(OptionError, match=r"(?s)scorecard cannot take .*as_of\) 2024-06-30.*--as-of"):
        scorecard(book, goals, period=period)


def test_scorecard_current_on_a_periods_last_day_is_scored(book):
    # as_of 2024-06-30 is the last day of 2024Q2 and of June: both are scored met or missed with
    # elapsed 1.0 (Q2: 04-10 5, 04-20 3, 05-10 5, 05-20 4, 06-30 4: 4 of 5 = 0.8 < 0.9, missed;
    # June: 06-30 4, 1 of 1, met). The year 2024 is in progress (182 of 366 days): 8 of 11 so far.
    goals = [csat_goal("Q"), csat_goal("Y"), csat_goal("M")]
    card = scorecard(book, goals, period="current")
    assert [str(p) for p in card["period"]] == ["2024Q2", "2024", "2024-06"]
    assert list(card["status"]) == ["missed", IP, "met"]
    assert card["value"].tolist() == pytest.approx([0.8, 8 / 11, 1.0])
    assert card["elapsed"].tolist() == pytest.approx([1.0, 182 / 366, 1.0])
    assert card["pace"].tolist() == pytest.approx([0.8, 8 / 11, 1.0])   # ratios as they stand
    assert card["outlook"].tolist() == [None, "at risk", None]


def test_scorecard_goal_period_wins_over_the_review_period(book):
    card = scorecard(book, [csat_goal(period="2024Q1"), csat_goal()], period="2024Q2")
    assert [str(p) for p in card["period"]] == ["2024Q1", "2024Q2"]
    assert list(card["value"]) == pytest.approx([4 / 6, 0.8])
    # The previous quarter of 2024Q1 is 2023Q4 (2/4).
    assert card["previous"].iloc[0] == pytest.approx(0.5)


def test_scorecard_reads_a_goals_file(book, tmp_path):
    path = write_goals(tmp_path, CSAT)
    from_file = scorecard(book, path)
    from_str = scorecard(book, str(path))
    pd.testing.assert_frame_equal(from_file, scorecard(book, [csat_goal()]))
    pd.testing.assert_frame_equal(from_str, from_file)


def test_scorecard_bad_goals_file_raises(book, tmp_path):
    with pytest.raises(GoalsError, match="cannot read the goals file"):
        scorecard(book, tmp_path / "nowhere.toml")


def test_scorecard_does_not_modify_its_input(book):
    before = book.surveys.copy()
    scorecard(book, [csat_goal()], by="region", ci=0.9)
    pd.testing.assert_frame_equal(book.surveys, before)


def test_scorecard_of_a_count_goal_has_no_observations():
    # examples.deals(): D1 (60 000, won 2024-02-01) is 2024Q1's only large deal; the latest
    # event is D4's close on 2024-04-02, so 2024Q1 is the latest complete quarter.
    card = scorecard(examples.deals(), [Goal("large_deals", "Q", 2, "at_least")])
    assert_row(card, 0, {"period": "2024Q1", "value": 1.0, "attainment": 0.5, "status": "missed",
                         "previous": nan, "observations": nan, "low_data": False})


# --- scorecard: low data and confidence intervals -------------------------------------------

def all_happy(n: int) -> CrmData:
    """``n`` responses of 5 in 2024Q1, the last on 31 March."""
    days = pd.date_range(end="2024-03-31", periods=n, freq="D").strftime("%Y-%m-%d")
    return CrmData(surveys=surveys([("A1", day, 5) for day in days]))


@pytest.mark.parametrize(("n", "low"), [(1, True), (LOW_DATA - 1, True), (LOW_DATA, False), (45, False)])
def test_low_data_below_thirty_observations(n, low):
    assert LOW_DATA == 30
    card = scorecard(all_happy(n), [csat_goal()])
    assert_row(card, 0, {"period": "2024Q1", "value": 1.0, "observations": float(n), "low_data": low})


def test_wilson_interval_by_hand():
    # 8 of 10 at 95%: z = 1.959964, p = 0.8, n = 10.
    z, p, n = 1.959963984540054, 0.8, 10
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert (round(centre - half, 4), round(centre + half, 4)) == (0.4902, 0.9433)
    lower, upper = wilson_interval(np.array([8, 0, 10, 0]), np.array([10, 10, 10, 0]), 0.95)
    assert lower[0] == pytest.approx(centre - half)
    assert upper[0] == pytest.approx(centre + half)
    # 0 of 10 starts at 0 and 10 of 10 ends at 1, exactly (the formula gives 3.47e-18 for the
    # first: clipped to the value's range); no trials, no interval.
    assert lower[1] == 0.0
    assert upper[2] == 1.0
    assert np.isnan(lower[3])
    assert np.isnan(upper[3])


@pytest.mark.parametrize("trials", [1, 3, 7, 10, 49, 1000])
def test_wilson_bounds_are_exact_at_the_ends(trials):
    lower, upper = wilson_interval(np.array([0, trials]), np.array([trials, trials]), 0.95)
    assert (lower[0], upper[1]) == (0.0, 1.0)
    assert 0.0 < upper[0] < 1.0
    assert 0.0 < lower[1] < 1.0


@pytest.mark.parametrize("ci", [0, 1, 1.5, -0.1])
def test_wilson_interval_bad_level(ci):
    with pytest.raises(OptionError, match=r"ci must be between 0 and 1"):
        wilson_interval(np.array([8]), np.array([10]), ci)


@given(st.integers(0, 500), st.integers(1, 500), st.floats(0.5, 0.999))
@settings(max_examples=200, deadline=None)
def test_wilson_interval_holds_the_share(successes, trials, ci):
    successes = min(successes, trials)
    lower, upper = wilson_interval(np.array([successes]), np.array([trials]), ci)
    assert 0.0 <= lower[0] <= successes / trials + 1e-12
    assert successes / trials - 1e-12 <= upper[0] <= 1.0


def test_scorecard_ci_adds_the_wilson_interval():
    # 10 responses in 2024Q1, 8 of them 4 or 5: [0.4902, 0.9433] at 95%.
    scores = [5, 4, 5, 4, 5, 4, 5, 4, 1, 2]
    days = pd.date_range("2024-01-01", "2024-03-31", periods=10).strftime("%Y-%m-%d")
    data = CrmData(surveys=surveys(list(zip(["A1"] * 10, days, scores, strict=True))))
    card = scorecard(data, [csat_goal(), Goal("csat_mean", "Q", 4.0, "at_least")], ci=0.95)
    assert list(card.columns) == [*SCORED_COLUMNS, "lower", "upper"]
    assert card["value"].iloc[0] == pytest.approx(0.8)
    assert (round(card["lower"].iloc[0], 4), round(card["upper"].iloc[0], 4)) == (0.4902, 0.9433)
    # csat_mean (39 / 10) is not a share of counted cases: no interval.
    assert not repkpi.KPIS["csat_mean"].proportion
    assert card["value"].iloc[1] == pytest.approx(3.9)
    assert np.isnan(card["lower"].iloc[1])
    assert np.isnan(card["upper"].iloc[1])


def test_scorecard_ci_by_group(book):
    card = scorecard(book, [csat_goal()], by="region", ci=0.95)
    lower, upper = wilson_interval(np.array([2, 2]), np.array([2, 3]), 0.95)
    assert list(card["lower"]) == pytest.approx(list(lower))
    assert list(card["upper"]) == pytest.approx(list(upper))


def test_scorecard_bad_ci_raises(book):
    with pytest.raises(OptionError, match=r"ci must be between 0 and 1, got 95"):
        scorecard(book, [csat_goal()], ci=95)


# --- scorecard: properties and the sample ----------------------------------------------------

@given(target=st.floats(0.05, 2.0), direction=st.sampled_from(["at_least", "at_most"]))
@settings(max_examples=40, deadline=None)
def test_status_agrees_with_attainment(book, target, direction):
    # 2024Q2's CSAT is 0.8 whatever the target.
    row = scorecard(book, [csat_goal(target=target, direction=direction)]).iloc[0]
    assert row["value"] == pytest.approx(0.8)
    met = 0.8 >= target if direction == "at_least" else 0.8 <= target
    assert row["status"] == ("met" if met else "missed")
    expected = 0.8 / target if direction == "at_least" else target / 0.8
    assert row["attainment"] == pytest.approx(expected)


def test_goal_result_restricts_to_where(book):
    result = goal_result(book, csat_goal(where={"region": "south"}))
    assert [str(p) for p in result["period"]] == ["2023Q4", "2024Q1", "2024Q2"]
    assert list(result["region"]) == ["south"] * 3
    assert list(result["value"]) == pytest.approx([1.0, 0.5, 2 / 3])


def test_scorecard_of_the_sample_scores_every_default_goal(sample):
    card = scorecard(sample)
    assert list(card["kpi"]) == [g.kpi for g in DEFAULT_GOALS]
    assert set(card["status"]) <= {"met", "missed"}
    assert card["value"].notna().all()
    # The sample ends on 2026-09-30: quarterly goals on 2026Q3, yearly ones on 2025.
    periods = dict(zip(card["kpi"], card["period"].astype(str), strict=True))
    assert periods["csat"] == "2026Q3"
    assert periods["senior_reps"] == "2025"


# ---------------------------------------------------------------- the pace of a period in progress


def test_the_pace_of_a_growth_scales_the_count_then_takes_the_growth(folder, engine):
    # As of 2024-08-15 (the latest customer_since), 2024Q3 (92 days) is in progress: 46 days
    # elapsed, 0.5. New customers: 2024Q2 four, 2024Q3 three so far (growth -1 / 4 = -0.25).
    # The pace of a count scales it by the days: 3 / 0.5 = 6. The pace of the growth scales
    # new(P) then takes the growth (api.md, "Goals and scorecard"): (6 - 4) / 4 = 0.5, on track
    # for +20%. (Scaling the difference instead would give -1 / 0.5 / 4 = -0.5, at risk.)
    data = repkpi.load(folder(accounts="""
        account_id,customer_since
        A1,2024-04-10
        A2,2024-05-01
        A3,2024-05-20
        A4,2024-06-30
        A5,2024-07-01
        A6,2024-07-31
        A7,2024-08-15
        """), engine=engine)
    goals = [Goal("new_customer_growth", "Q", 0.20, "at_least"), Goal("new_customers", "Q", 5, "at_least")]
    card = scorecard(data, goals, period="current")
    assert [str(p) for p in card["period"]] == ["2024Q3", "2024Q3"]
    assert list(card["status"]) == ["in progress", "in progress"]
    assert list(card["elapsed"]) == pytest.approx([0.5, 0.5])
    assert list(card["value"]) == pytest.approx([-0.25, 3.0])
    assert list(card["pace"]) == pytest.approx([0.5, 6.0])
    assert list(card["outlook"]) == ["on track", "on track"]


# ---------------------------------------------------------------- the plan's goals and focus


def test_the_plans_goals_come_first_in_the_plans_order():
    # A file that lists an extra goal first and the plan's goals in reverse, one left out.
    extra = Goal("revenue", "Q", 1_000_000, "at_least", "Revenue")
    plan = list(DEFAULT_GOALS)
    file_goals = [extra, *reversed(plan[1:])]
    ours, left_out, others = plan_goals(file_goals)
    assert [g.kpi for g in ours] == [g.kpi for g in plan[1:]]
    assert left_out == [plan[0]]
    assert others == [extra]
    card = scorecard(repkpi.load_sample(), file_goals, period="2025Q4")
    assert card["kpi"].tolist() == [*[g.kpi for g in plan[1:]], "revenue"]


def test_a_goal_matches_the_plan_by_kpi_and_freq():
    # csat by year is not the plan's quarterly CSAT goal; a where-less one wins over a regional one.
    north = Goal("csat", "Q", 0.9, "at_least", where={"region": "north"})
    whole = Goal("csat", "Q", 0.8, "at_least")
    yearly = Goal("csat", "Y", 0.9, "at_least")
    ours, _, others = plan_goals([yearly, north, whole])
    assert ours == [whole]
    assert others == [yearly, north]


@pytest.mark.parametrize(("period", "fiscal", "expected"), [
    ("2026Q1", 1, ("new_customers", "new_customer_growth")),
    ("2026-05", 1, PLAN_FOCUS["Q2"]),            # May is in Q2
    ("2026Q4", 1, "all"),
    ("2026", 1, "all"),                           # a year is the year's review
    ("2026-05", 4, ("new_customers", "new_customer_growth")),  # May is FY Q1 from April
])
def test_the_focus_of_a_period_is_its_fiscal_quarters(period, fiscal, expected):
    goals = GoalSet(DEFAULT_GOALS, fiscal_year_start=fiscal)
    freq = {7: "M", 6: "Q", 4: "Y"}[len(period)]
    pfreq = pandas_freq(freq, fiscal)
    assert focus_of(goals, to_period(period, pfreq, fiscal_year_start=fiscal)) == expected


def test_a_goals_files_focus_replaces_the_plans(tmp_path):
    path = tmp_path / "goals.toml"
    path.write_text('[focus]\nQ3 = ["csat"]\n\n[[goal]]\nkpi = "csat"\nfreq = "Q"\n'
                    'target = 0.9\ndirection = "at_least"\n', encoding="utf-8")
    goals = load_goals(path)
    assert focus_of(goals, pd.Period("2026Q3", "Q")) == ("csat",)
    assert focus_of(goals, pd.Period("2026Q1", "Q")) == PLAN_FOCUS["Q1"]
