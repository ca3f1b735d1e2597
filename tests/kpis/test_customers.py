"""Customer KPIs (accounts), worked out by hand from spec/kpis.md.

An account is active on day d when customer_since <= d < churned_on (no
churned_on: never ends).

The book of accounts most tests use (quarterly):

    id  region  customer_since  churned_on
    A1  north   2023-11-01      -
    A2  north   2024-02-10      2024-03-20   acquired and lost inside 2024Q1
    A3  south   2023-12-01      2024-04-01   churns on 2024Q2.first
    A4  south   2024-05-15      2024-08-01
    A5  (none)  2024-01-20      -

Its dates span 2023-11-01 .. 2024-08-01, so the grid is 2023Q4 .. 2024Q3.

Who is active on each boundary day:

    2023-10-01 (Q4.first): nobody          2023-12-31 (Q4.last): A1 A3
    2024-01-01 (Q1.first): A1 A3           2024-03-31 (Q1.last): A1 A3 A5
    2024-04-01 (Q2.first): A1 A5           2024-06-30 (Q2.last): A1 A4 A5
    2024-07-01 (Q3.first): A1 A4 A5        2024-09-30 (Q3.last): A1 A5

New (customer_since in P): Q4 A1 A3; Q1 A2 A5; Q2 A4; Q3 nobody.
"""

from __future__ import annotations

import pytest

import repkpi
from repkpi import kpis

nan = float("nan")

BOOK = {
    "account_id": ["A1", "A2", "A3", "A4", "A5"],
    "region": ["north", "north", "south", "south", None],
    "customer_since": ["2023-11-01", "2024-02-10", "2023-12-01", "2024-05-15", "2024-01-20"],
    "churned_on": [None, "2024-03-20", "2024-04-01", "2024-08-01", None],
}


@pytest.fixture
def book(crm):
    return crm(accounts=BOOK)


@pytest.mark.parametrize(
    ("kpi", "options", "expected"),
    [
        pytest.param("new_customers", {}, [
            # Q4: A1, A3; Q1: A2, A5; Q2: A4; Q3: none (0, not a missing row).
            ("2023Q4", 2, 1, 2), ("2024Q1", 2, 1, 2), ("2024Q2", 1, 1, 1), ("2024Q3", 0, 1, 0),
        ], id="new_customers"),
        pytest.param("new_customer_growth", {}, [
            ("2023Q4", nan, nan, nan),      # first period of the grid: NaN throughout
            ("2024Q1", 0, 2, 0.0),          # (2 - 2) / 2
            ("2024Q2", -1, 2, -0.5),        # (1 - 2) / 2
            ("2024Q3", -1, 1, -1.0),        # (0 - 1) / 1
        ], id="new_customer_growth"),
        pytest.param("active_customers", {}, [
            # active on P.last: Q4 A1 A3; Q1 A1 A3 A5 (A2 gone 03-20, A3 still on until 04-01);
            # Q2 A1 A4 A5; Q3 A1 A5 (A4 gone 08-01).
            ("2023Q4", 2, 1, 2), ("2024Q1", 3, 1, 3), ("2024Q2", 3, 1, 3), ("2024Q3", 2, 1, 2),
        ], id="active_customers"),
        pytest.param("churn_rate", {}, [
            ("2023Q4", 0, 0, nan),          # S = nobody active on 2023-10-01: 0/0 is NaN
            ("2024Q1", 0, 2, 0.0),          # S = A1 A3; A3 churns on 04-01 > 03-31: not in C
            ("2024Q2", 0, 2, 0.0),          # S = A1 A5 (A3 left on 04-01 itself); A4 not in S
            ("2024Q3", 1, 3, 1 / 3),        # S = A1 A4 A5; A4 churned 08-01 <= 09-30
        ], id="churn_rate"),
        pytest.param("retention_rate", {}, [
            ("2023Q4", 0, 0, nan),          # E - N = 2 - 2, S = 0
            ("2024Q1", 1, 2, 0.5),          # E=3 (A1 A3 A5), N=2 (A2 A5), S=2: A2 came and went
            ("2024Q2", 2, 2, 1.0),          # E=3 (A1 A4 A5), N=1 (A4), S=2
            ("2024Q3", 2, 3, 2 / 3),        # E=2, N=0, S=3
        ], id="retention_standard"),
        pytest.param("retention_rate", {"method": "standard"}, [
            ("2023Q4", 0, 0, nan), ("2024Q1", 1, 2, 0.5), ("2024Q2", 2, 2, 1.0), ("2024Q3", 2, 3, 2 / 3),
        ], id="retention_standard_explicit"),
        pytest.param("retention_rate", {"method": "cohort"}, [
            ("2023Q4", 0, 0, nan),          # (S - C) / S = 0/0
            ("2024Q1", 2, 2, 1.0),          # (2 - 0) / 2: the cohort never sees A2
            ("2024Q2", 2, 2, 1.0),          # (2 - 0) / 2
            ("2024Q3", 2, 3, 2 / 3),        # (3 - 1) / 3
        ], id="retention_cohort"),
    ],
)
def test_customer_kpis_on_the_book(book, rows, expect, kpi, options, expected):
    result = repkpi.KPIS[kpi](book, **options)
    assert rows(result, ["period", "numerator", "denominator", "value"]) == expect(expected)


@pytest.mark.parametrize(
    ("kpi", "expected"),
    [
        pytest.param("new_customers", [
            # groups north, south, NA (sorted last); every period has all three rows.
            ("2023Q4", "north", 1, 1), ("2023Q4", "south", 1, 1), ("2023Q4", None, 0, 1),
            ("2024Q1", "north", 1, 1), ("2024Q1", "south", 0, 1), ("2024Q1", None, 1, 1),
            ("2024Q2", "north", 0, 1), ("2024Q2", "south", 1, 1), ("2024Q2", None, 0, 1),
            ("2024Q3", "north", 0, 1), ("2024Q3", "south", 0, 1), ("2024Q3", None, 0, 1),
        ], id="new_customers"),
        pytest.param("churn_rate", [
            ("2023Q4", "north", 0, 0), ("2023Q4", "south", 0, 0), ("2023Q4", None, 0, 0),
            ("2024Q1", "north", 0, 1),      # S = A1
            ("2024Q1", "south", 0, 1),      # S = A3
            ("2024Q1", None, 0, 0),         # A5 starts 01-20: S empty
            ("2024Q2", "north", 0, 1),      # S = A1
            ("2024Q2", "south", 0, 0),      # A3 gone on 04-01, A4 not yet: S empty
            ("2024Q2", None, 0, 1),         # S = A5
            ("2024Q3", "north", 0, 1),
            ("2024Q3", "south", 1, 1),      # S = A4, churns 08-01
            ("2024Q3", None, 0, 1),
        ], id="churn_rate"),
    ],
)
def test_by_region_keeps_every_group_in_every_period(book, rows, expect, kpi, expected):
    result = repkpi.KPIS[kpi](book, by="region")
    assert rows(result, ["period", "region", "numerator", "denominator"]) == expect(expected)


def test_by_region_ratio_is_nan_where_the_group_has_no_denominator(book):
    result = kpis.churn_rate(book, by="region")
    empty = result[result["denominator"] == 0]
    # (Q4, all three), (Q1, NA), (Q2, south): 5 rows, all NaN rather than 0.
    assert len(empty) == 5
    assert empty["value"].isna().all()


@pytest.mark.parametrize(
    ("freq", "churned_on", "expected"),
    [
        # X active from 2023-12-01, churns on 2024-04-01 = 2024Q2.first. Y keeps Q2's S non-empty.
        # Q1: S = X Y, X's churned_on 04-01 > 03-31: C = 0. Q2: X not active on 04-01: S = Y only.
        pytest.param("Q", "2024-04-01", [("2024Q1", 0, 2), ("2024Q2", 0, 1)], id="quarter"),
        # Monthly, X churns on 2024-03-01: in February's S but not churned by 02-29 (leap year),
        # and not in March's S: no month counts it.
        pytest.param("M", "2024-03-01", [("2024-02", 0, 2), ("2024-03", 0, 1)], id="month"),
        # One day later it is churn in the period it happens: Q2 S = X Y, C = X.
        pytest.param("Q", "2024-04-02", [("2024Q1", 0, 2), ("2024Q2", 1, 2)], id="second_day"),
    ],
)
def test_churn_on_the_first_day_of_a_period_is_never_counted(crm, rows, expect, freq, churned_on,
                                                              expected):
    data = crm(accounts={"account_id": ["X", "Y"], "customer_since": ["2023-12-01", "2023-12-01"],
                         "churned_on": [churned_on, None]})
    start, end = expected[0][0], expected[-1][0]
    result = kpis.churn_rate(data, freq=freq, start=start, end=end)
    assert rows(result, ["period", "numerator", "denominator"]) == expect(expected)


def test_cohort_retention_is_one_minus_churn(book):
    cohort = kpis.retention_rate(book, method="cohort")
    churn = kpis.churn_rate(book)
    defined = churn["denominator"] > 0
    # Q1: 1 - 0/2, Q2: 1 - 0/2, Q3: 1 - 1/3; Q4 has S = 0 on both sides.
    assert cohort["value"][defined].tolist() == pytest.approx([1.0, 1.0, 2 / 3])
    assert cohort["value"][defined].tolist() == pytest.approx((1 - churn["value"][defined]).tolist())
    assert cohort["value"][~defined].isna().all()


def test_acquired_and_churned_in_the_same_period_separates_the_methods(crm, rows, expect):
    # K active throughout 2024Q1; N acquired 2024-02-01 and churned 2024-03-01.
    # standard: E = 1 (K), N = 1 (N), S = 1 (K) -> (1 - 1) / 1 = 0.
    # cohort:   S = 1 (K), C = 0           -> (1 - 0) / 1 = 1, = 1 - churn_rate (0/1).
    data = crm(accounts={"account_id": ["K", "N"], "customer_since": ["2023-10-01", "2024-02-01"],
                         "churned_on": [None, "2024-03-01"]})
    q1 = {"start": "2024Q1", "end": "2024Q1"}
    assert rows(kpis.retention_rate(data, **q1)) == expect([("2024Q1", 0, 1, 0.0)])
    assert rows(kpis.retention_rate(data, method="cohort", **q1)) == expect([("2024Q1", 1, 1, 1.0)])
    assert rows(kpis.churn_rate(data, **q1)) == expect([("2024Q1", 0, 1, 0.0)])


def test_retention_counts_an_account_acquired_on_the_first_day_in_both_s_and_n(crm, rows, expect):
    # The literal definition: F's customer_since = 2024-01-01 = Q1.first, so F is active on
    # P.first (in S) and has customer_since in P (in N). With K kept all quarter:
    # E = 2 (K, F), N = 1 (F), S = 2 (K, F) -> (2 - 1) / 2 = 0.5, although nobody left.
    data = crm(accounts={"account_id": ["K", "F"], "customer_since": ["2023-10-01", "2024-01-01"]})
    result = kpis.retention_rate(data, start="2024Q1", end="2024Q1")
    assert rows(result) == expect([("2024Q1", 1, 2, 0.5)])


def test_retention_rejects_an_unknown_method(book):
    with pytest.raises(repkpi.OptionError, match=r"method must be 'standard' or 'cohort', got 'rolling'"):
        kpis.retention_rate(book, method="rolling")


# -- engagement --------------------------------------------------------------------------------
ACTIVITIES = {
    "account_id": ["A1", "A1", "A2"],
    # A1 twice in Q1 (counts once); A2 on 03-25, after it churned on 03-20: not active on Q1.last.
    "occurred_on": ["2024-02-01", "2024-02-15", "2024-03-25"],
}
SURVEYS = {
    "account_id": ["A5", "A3"],
    # 2024-06-30 23:30 at -02:00 is 2024-07-01 01:30 UTC: Q3.
    # 2024-04-01 00:30 at +02:00 is 2024-03-31 22:30 UTC: Q1.
    "responded_at": ["2024-06-30T23:30:00-02:00", "2024-04-01T00:30:00+02:00"],
    "csat": ["5", "4"],
}


@pytest.mark.parametrize(
    ("tables", "expected"),
    [
        pytest.param(("activities", "surveys"), [
            ("2023Q4", 0, 2, 0.0),          # active A1 A3, nobody engaged
            ("2024Q1", 2, 3, 2 / 3),        # active A1 A3 A5; A1 (activities), A3 (survey, UTC Q1)
            ("2024Q2", 0, 3, 0.0),          # active A1 A4 A5
            ("2024Q3", 1, 2, 0.5),          # active A1 A5; A5 (survey, UTC Q3)
        ], id="both"),
        pytest.param(("activities",), [
            ("2023Q4", 0, 2, 0.0), ("2024Q1", 1, 3, 1 / 3), ("2024Q2", 0, 3, 0.0), ("2024Q3", 0, 2, 0.0),
        ], id="activities_only"),
        pytest.param(("surveys",), [
            ("2023Q4", 0, 2, 0.0), ("2024Q1", 1, 3, 1 / 3), ("2024Q2", 0, 3, 0.0), ("2024Q3", 1, 2, 0.5),
        ], id="surveys_only"),
    ],
)
def test_engagement_rate(crm, rows, expect, tables, expected):
    given = {"activities": ACTIVITIES, "surveys": SURVEYS}
    data = crm(accounts=BOOK, **{t: given[t] for t in tables})
    assert rows(kpis.engagement_rate(data)) == expect(expected)


def test_engagement_grid_spans_the_activities_too(crm, rows, expect):
    # One account from 2024-01-10; an activity on 2024-07-05 stretches the grid to 2024Q3.
    data = crm(accounts={"account_id": ["A1"], "customer_since": ["2024-01-10"]},
               activities={"occurred_on": ["2024-07-05"]})
    assert rows(kpis.engagement_rate(data)) == expect([
        ("2024Q1", 0, 1, 0.0), ("2024Q2", 0, 1, 0.0), ("2024Q3", 1, 1, 1.0),
    ])


def test_engagement_needs_activities_or_surveys(book):
    with pytest.raises(repkpi.MissingTableError, match=r"engagement_rate needs the activities table"):
        kpis.engagement_rate(book)


# -- key accounts ------------------------------------------------------------------------------
KEY_ACCOUNTS = {
    "account_id": ["K1", "K2", "K3"],
    "customer_since": ["2022-01-01", "2022-01-01", "2022-01-01"],
    "churned_on": [None, None, "2024-06-30"],
}
KEY_DEALS = {
    "account_id": ["K1", "K1", "K2", "K3", "K2", "K1"],
    "created_on": ["2023-07-01", "2024-06-30", "2023-06-30", "2024-05-01", "2024-01-10", "2024-02-01"],
    "closed_on": ["2023-07-01", "2024-06-30", "2023-06-30", "2024-05-01", "2024-01-10", None],
    "stage": ["won", "won", "won", "won", "lost", "open"],
    "amount": ["60000", "40000", "100000", "150000", "500000", "999999"],
}


@pytest.mark.parametrize(
    ("freq", "start", "end", "threshold", "expected"),
    [
        pytest.param("Q", "2023Q2", "2024Q3", None, [
            ("2023Q2", 1),  # window (2022-06-30, 2023-06-30]: K2's 100 000 on 06-30 counts (>= is met)
            ("2023Q3", 1),  # (2022-09-30, 2023-09-30]: K1 60 000 no, K2 100 000 yes
            ("2023Q4", 1),  # same
            ("2024Q1", 1),  # (2023-03-31, 2024-03-31]: K1 60 000, K2 100 000; lost/open deals ignored
            # (2023-06-30, 2024-06-30]: K1 60 000 (07-01) + 40 000 (06-30, = P.last) = 100 000 yes;
            # K2's deal on 2023-06-30 = P.last - 12 months is out: 0; K3 150 000 but it churned on
            # 06-30 = P.last, so it is not active on P.last.
            ("2024Q2", 1),
            ("2024Q3", 0),  # (2023-09-30, 2024-09-30]: K1 40 000 only
        ], id="quarters"),
        pytest.param("M", "2024-06", "2024-07", None, [
            ("2024-06", 1),  # as 2024Q2
            ("2024-07", 0),  # (2023-07-31, 2024-07-31]: K1's 2023-07-01 deal has left the window
        ], id="months"),
        pytest.param("Q", "2024Q3", "2024Q3", 40_000, [
            ("2024Q3", 1),  # K1's 40 000 reaches a threshold of 40 000
        ], id="threshold"),
        pytest.param("Q", "2024Q3", "2024Q3", 40_000.01, [("2024Q3", 0)], id="threshold_above"),
    ],
)
def test_key_accounts_window(crm, rows, expect, freq, start, end, threshold, expected):
    data = crm(accounts=KEY_ACCOUNTS, deals=KEY_DEALS)
    options = {} if threshold is None else {"threshold": threshold}
    result = kpis.key_accounts(data, freq=freq, start=start, end=end, **options)
    assert rows(result, ["period", "value"]) == expect(expected)
    assert (result["denominator"] == 1).all()


def test_key_accounts_needs_deals(crm):
    data = crm(accounts=KEY_ACCOUNTS)
    with pytest.raises(repkpi.MissingTableError, match=r"key_accounts needs the deals table"):
        kpis.key_accounts(data)
