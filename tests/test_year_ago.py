"""The scorecard's and explain's comparison with a year earlier (analysis.md, "Comparisons").

The book, as of 15 February 2026 (2026Q1 in progress); churn_rate per quarter is
C / S with S the accounts active on the day before the quarter and C those of
them churned by its last day (or by the as-of date, in progress):

- A6 won 2023-06-01, churned 2024-02-01; A1..A5 won 2024-01-01;
- A1 churns 2025-02-10, A3 2025-03-20, A4 2026-02-01.

2024Q1: S = {A6} (A1..A5 are won in it), C = {A6}: 1/1.
2025Q1: S = A1..A5, C = {A1, A3}: 2/5 = 0.4; against 2024Q1: -0.6.
2024Q1 a year before 2025Q1 is there; 2023Q1 a year before 2024Q1 has no
opening book (no account before 2023-06): NA.
2026Q1 in progress on 2026-02-15: S = {A2, A4, A5}, C = {A4}: 1/3. A year
before, cut at 2025-02-15: S = A1..A5, C = {A1} (A3 churns after the cut):
1/5 = 0.2, not the whole quarter's 0.4. change_yoy = 1/3 - 1/5 = 2/15.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

import repkpi
from repkpi import CrmData, Goal

ACCOUNTS = """\
account_id,region,customer_since,churned_on
A1,north,2024-01-01,2025-02-10
A2,north,2024-01-01,
A3,south,2024-01-01,2025-03-20
A4,south,2024-01-01,2026-02-01
A5,south,2024-01-01,
A6,north,2023-06-01,2024-02-01
"""
CHURN = Goal("churn_rate", "Q", 0.1, "at_most")


@pytest.fixture
def book(folder, engine):
    return repkpi.load(folder(accounts=ACCOUNTS), engine=engine, as_of="2026-02-15")


def test_a_complete_period_against_the_same_period_a_year_earlier(book):
    card = repkpi.scorecard(book, [CHURN], period="2025Q1").iloc[0]
    assert card["value"] == pytest.approx(0.4)
    assert card["year_ago"] == pytest.approx(1.0)
    assert card["change_yoy"] == pytest.approx(-0.6)
    # Newcombe's interval of 2/5 against 1/1, by statsmodels as the reference.
    low, high = confint_proportions_2indep(2, 5, 1, 1, method="newcomb", compare="diff")
    assert card["change_yoy_low"] == pytest.approx(low)
    assert card["change_yoy_high"] == pytest.approx(high)
    assert bool(card["significant_yoy"]) == (low > 0 or high < 0)


def test_no_year_ago_when_the_data_does_not_reach_back(book):
    card = repkpi.scorecard(book, [CHURN], period="2024Q1").iloc[0]
    assert card["value"] == pytest.approx(1.0)
    assert np.isnan(card["year_ago"])
    assert np.isnan(card["change_yoy"])
    assert card["significant_yoy"] is pd.NA


def test_a_period_in_progress_against_the_same_span_cut_a_year_earlier(book):
    card = repkpi.scorecard(book, [CHURN], period="current").iloc[0]
    assert str(card["period"]) == "2026Q1"
    assert card["status"] == "in progress"
    assert card["value"] == pytest.approx(1 / 3)
    assert card["year_ago"] == pytest.approx(1 / 5)  # not 2/5: A3 churns after 2025-02-15
    assert card["change_yoy"] == pytest.approx(2 / 15)
    low, high = confint_proportions_2indep(1, 3, 1, 5, method="newcomb", compare="diff")
    assert (card["change_yoy_low"], card["change_yoy_high"]) == (pytest.approx(low),
                                                                pytest.approx(high))


def test_a_count_has_no_yoy_interval(book):
    card = repkpi.scorecard(book, [Goal("active_customers", "Q", 3, "at_least")],
                            period="2025Q1").iloc[0]
    # Active on 2025-03-31: A2, A4, A5 = 3; on 2024-03-31: A1..A5 = 5 (A6 left).
    assert (card["value"], card["year_ago"], card["change_yoy"]) == (3, 5, -2)
    assert np.isnan(card["change_yoy_low"])
    assert card["significant_yoy"] is pd.NA


def test_explain_splits_the_change_against_a_year_ago(book):
    why = repkpi.explain(book, "churn_rate", period="2026Q1", by="region", against="year_ago")
    total = why.iloc[-1]
    assert str(why.attrs["against"]) == "2025Q1"
    assert (total["value_previous"], total["value_current"]) == (pytest.approx(0.2),
                                                                  pytest.approx(1 / 3))
    # north: 1 of 2 (A1 of A1, A2) a year ago, 0 of 1 (A2) now; south: 0 of 3, then 1 of 2.
    north = why[why["region"] == "north"].iloc[0]
    south = why[why["region"] == "south"].iloc[0]
    assert (north["numerator_previous"], north["denominator_previous"]) == (1, 2)
    assert (south["numerator_current"], south["denominator_current"]) == (1, 2)
    assert why["contribution"].iloc[:-1].sum() == pytest.approx(2 / 15)


def test_explain_a_complete_period_against_a_year_ago(book):
    why = repkpi.explain(book, "churn_rate", period="2025Q1", by="region", against="year_ago")
    assert str(why.attrs["against"]) == "2024Q1"
    assert why.iloc[-1]["contribution"] == pytest.approx(-0.6)


def test_29_february_reads_as_28_february():
    data = CrmData(accounts=pd.DataFrame({
        "account_id": ["B1", "B2", "B3"],
        "customer_since": ["2022-01-01", "2022-01-01", "2022-01-01"],
        "churned_on": ["2023-02-28", "2023-03-01", "2024-02-10"]}), as_of="2024-02-29")
    card = repkpi.scorecard(data, [Goal("churn_rate", "Q", 0.1, "at_most")],
                            period="current").iloc[0]
    # 2024Q1 to 29 Feb: S = {B3}, C = {B3}. 2023Q1 cut at 28 Feb 2023: S = {B1, B2, B3},
    # C = {B1} (B2's 1 March is after the cut).
    assert card["value"] == pytest.approx(1.0)
    assert card["year_ago"] == pytest.approx(1 / 3)


# Windows (analysis.md, "Windows"): the year to date at a month, and its year ago.
# 2026-02 in progress: the year to 15 Feb 2026: S = {A2, A4, A5} on 2025-12-31, C = {A4}: 1/3.
# A year before, the year to 15 Feb 2025 (cut there): S = A1..A5, C = {A1}: 1/5.
# 2025-03 (complete): the year to 31 Mar 2025: S = A1..A5, C = {A1, A3}: 2/5; a year before,
# the year to 31 Mar 2024: S = {A6} (active on 2023-12-31), C = {A6}: 1.
MONTHLY = Goal("churn_rate", "M", 0.1, "at_most")


@pytest.mark.parametrize(("period", "value", "year_ago"), [
    ("current", 1 / 3, 1 / 5),
    ("2025-03", 2 / 5, 1.0),
])
def test_the_year_to_date_against_the_same_span_a_year_earlier(book, period, value, year_ago):
    card = repkpi.scorecard(book, [MONTHLY], period=period, window="ytd").iloc[0]
    assert card["value"] == pytest.approx(value)
    assert card["year_ago"] == pytest.approx(year_ago)
    assert card["change_yoy"] == pytest.approx(value - year_ago)


def test_the_quarter_to_date_against_the_same_span_a_year_earlier(book):
    # 2025-02's quarter to date, 1 Jan - 28 Feb 2025: S = A1..A5, C = {A1}: 1/5; a year before,
    # 1 Jan - 29 Feb 2024: S = {A6}, C = {A6}: 1.
    card = repkpi.scorecard(book, [MONTHLY], period="2025-02", window="qtd").iloc[0]
    assert card["value"] == pytest.approx(1 / 5)
    assert card["year_ago"] == pytest.approx(1.0)
    low, high = confint_proportions_2indep(1, 5, 1, 1, method="newcomb", compare="diff")
    assert (card["change_yoy_low"], card["change_yoy_high"]) == (pytest.approx(low),
                                                                pytest.approx(high))


def test_explain_a_year_to_date_in_progress_against_a_year_ago(book):
    why = repkpi.explain(book, "churn_rate", period="2026-02", by="region", against="year_ago",
                         window="ytd")
    assert str(why.attrs["against"]) == "2025-02"
    total = why.iloc[-1]
    assert (total["value_previous"], total["value_current"]) == (pytest.approx(1 / 5),
                                                                  pytest.approx(1 / 3))
