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

Its dates span 2023-11-01 .. 2024-08-01. Of them only customer_since records what has
happened; churned_on is scheduled (spec "Complete periods"), so left to itself the book's
as_of would be 2024-05-15 (A4's customer_since) and default results would stop at 2024Q2,
a quarter in progress. The `book` fixture declares as_of = 2024-09-30, the export taken at the
close of 2024Q3: the grid is 2023Q4 .. 2024Q3, every quarter is complete, and every state "at
the end of P" is measured on P.last. (Quarters in progress: tests/kpis/test_time.py.)

The state at the start of P is the state on P.open, the day before P.first (spec "Opening
and closing state"), so P's opening book is exactly P-1's closing one, and a churn dated
P.first (A3 on 2024-04-01) falls inside P. Who is active on each boundary day:

    2023-09-30 (Q4.open): nobody
    2023-12-31 (Q4.last = Q1.open): A1 A3
    2024-03-31 (Q1.last = Q2.open): A1 A3 A5   (A2 gone 03-20; A3 still on until 04-01)
    2024-06-30 (Q2.last = Q3.open): A1 A4 A5
    2024-09-30 (Q3.last):           A1 A5

New (customer_since in P): Q4 A1 A3; Q1 A2 A5; Q2 A4; Q3 nobody.
"""

from __future__ import annotations

import pandas as pd
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
def book(loaded):
    # as_of declared at 2024Q3's last day: 2024Q3 is complete (see the module docstring).
    return loaded(accounts=BOOK, as_of="2024-09-30")


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
            ("2023Q4", 0, 0, nan),          # S = nobody active on 2023-09-30: 0/0 is NaN
            ("2024Q1", 0, 2, 0.0),          # S = A1 A3 (on 12-31); A3 churns on 04-01 > 03-31: not in C
            ("2024Q2", 1, 3, 1 / 3),        # S = A1 A3 A5 (on 03-31); A3 churns 04-01 = Q2.first: in C
            ("2024Q3", 1, 3, 1 / 3),        # S = A1 A4 A5 (on 06-30); A4 churned 08-01 <= 09-30
        ], id="churn_rate"),
        pytest.param("retention_rate", {}, [
            ("2023Q4", 0, 0, nan),          # E - N = 2 - 2, S = 0
            ("2024Q1", 1, 2, 0.5),          # E=3 (A1 A3 A5), N=2 (A2 A5), S=2 (A1 A3): A2 came and went
            ("2024Q2", 2, 3, 2 / 3),        # E=3 (A1 A4 A5), N=1 (A4), S=3 (A1 A3 A5): A3 lost
            ("2024Q3", 2, 3, 2 / 3),        # E=2 (A1 A5), N=0, S=3 (A1 A4 A5): A4 lost
        ], id="retention_standard"),
        pytest.param("retention_rate", {"method": "standard"}, [
            ("2023Q4", 0, 0, nan), ("2024Q1", 1, 2, 0.5), ("2024Q2", 2, 3, 2 / 3), ("2024Q3", 2, 3, 2 / 3),
        ], id="retention_standard_explicit"),
        pytest.param("retention_rate", {"method": "cohort"}, [
            ("2023Q4", 0, 0, nan),          # (S - C) / S = 0/0
            ("2024Q1", 2, 2, 1.0),          # (2 - 0) / 2: the cohort never sees A2
            ("2024Q2", 2, 3, 2 / 3),        # (3 - 1) / 3: A3 (churned 04-01)
            ("2024Q3", 2, 3, 2 / 3),        # (3 - 1) / 3: A4
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
            ("2024Q1", "north", 0, 1),      # S = A1 (on 12-31; A2 comes 02-10)
            ("2024Q1", "south", 0, 1),      # S = A3, churns 04-01: after Q1.last
            ("2024Q1", None, 0, 0),         # A5 starts 01-20: S empty
            ("2024Q2", "north", 0, 1),      # S = A1 (on 03-31; A2 gone 03-20)
            ("2024Q2", "south", 1, 1),      # S = A3 (still on 03-31), churns 04-01 = Q2.first
            ("2024Q2", None, 0, 1),         # S = A5
            ("2024Q3", "north", 0, 1),      # S = A1
            ("2024Q3", "south", 1, 1),      # S = A4 (on 06-30), churns 08-01
            ("2024Q3", None, 0, 1),         # S = A5
        ], id="churn_rate"),
    ],
)
def test_by_region_keeps_every_group_in_every_period(book, rows, expect, kpi, expected):
    result = repkpi.KPIS[kpi](book, by="region")
    assert rows(result, ["period", "region", "numerator", "denominator"]) == expect(expected)


def test_by_region_ratio_is_nan_where_the_group_has_no_denominator(book):
    result = kpis.churn_rate(book, by="region")
    empty = result[result["denominator"] == 0]
    # (Q4, all three), (Q1, NA): 4 rows, all NaN rather than 0. (Q2, south) has S = A3 on 03-31.
    assert len(empty) == 4
    assert empty["value"].isna().all()


@pytest.mark.parametrize(
    ("freq", "churned_on", "expected"),
    [
        # X and Y customers from 2023-12-01; X churns on the date given, Y stays.
        # X churns on 2024-04-01 = 2024Q2.first. Q1: S = X Y (on 12-31), X's churned_on 04-01 > 03-31:
        # C = 0. Q2: X is still a customer on Q2.open 03-31 (03-31 < churned_on): S = X Y, C = X.
        pytest.param("Q", "2024-04-01", [("2024Q1", 0, 2), ("2024Q2", 1, 2)], id="quarter"),
        # Monthly, X churns on 2024-03-01: February S = X Y (on 01-31), 03-01 > 02-29: C = 0.
        # March opens on 2024-02-29 (leap year), X still on: S = X Y, C = X.
        pytest.param("M", "2024-03-01", [("2024-02", 0, 2), ("2024-03", 1, 2)], id="month"),
        # Not a leap year: March 2025 opens on 2025-02-28, X still on: S = X Y, C = X.
        pytest.param("M", "2025-03-01", [("2025-02", 0, 2), ("2025-03", 1, 2)], id="month_not_leap"),
        # Monthly, 1 April (a quarter's first day too): March S = X Y, C = 0; April S = X Y, C = X.
        pytest.param("M", "2024-04-01", [("2024-03", 0, 2), ("2024-04", 1, 2)], id="month_april"),
        # Yearly, 1 January: 2024 S = X Y (on 2023-12-31), C = 0 (2025-01-01 > 2024-12-31);
        # 2025 opens on 2024-12-31, X still on: S = X Y, C = X.
        pytest.param("Y", "2025-01-01", [("2024", 0, 2), ("2025", 1, 2)], id="year"),
        # One day later it is churn in the same period: Q2 S = X Y, C = X.
        pytest.param("Q", "2024-04-02", [("2024Q1", 0, 2), ("2024Q2", 1, 2)], id="second_day"),
    ],
)
def test_churn_on_the_first_day_of_a_period_counts_in_that_period(loaded, rows, expect, freq, churned_on,
                                                                   expected):
    start, end = expected[0][0], expected[-1][0]
    # Declared as of the last period's last day: every period shown is lived.
    as_of = str(pd.Period(end, freq=freq).end_time.date())
    data = loaded(accounts={"account_id": ["X", "Y"], "customer_since": ["2023-12-01", "2023-12-01"],
                         "churned_on": [churned_on, None]}, as_of=as_of)
    result = kpis.churn_rate(data, freq=freq, start=start, end=end)
    assert rows(result, ["period", "numerator", "denominator"]) == expect(expected)


def test_a_churn_on_1_march_is_in_marchs_numerator_and_denominator(loaded):
    # The rows behind the month case above: March opens on 2024-02-29, X (churned_on 03-01) is still
    # a customer then, so it is in March's S (denominator) and in C (numerator); Y is only in S.
    # February: both in S (on 01-31), nobody in C. Declared as of 03-31: March is lived.
    data = loaded(accounts={"account_id": ["X", "Y"], "customer_since": ["2023-12-01", "2023-12-01"],
                         "churned_on": ["2024-03-01", None]}, as_of="2024-03-31")
    columns = ["account_id", "in_numerator", "in_denominator"]
    march = repkpi.detail(data, "churn_rate", period="2024-03").sort_values("account_id")
    assert march[columns].to_numpy().tolist() == [["X", True, True], ["Y", False, True]]
    february = repkpi.detail(data, "churn_rate", period="2024-02").sort_values("account_id")
    assert february[columns].to_numpy().tolist() == [["X", False, True], ["Y", False, True]]


def test_cohort_retention_is_one_minus_churn(book):
    cohort = kpis.retention_rate(book, method="cohort")
    churn = kpis.churn_rate(book)
    defined = churn["denominator"] > 0
    # Q1: 1 - 0/2, Q2: 1 - 1/3 (A3, churned 04-01), Q3: 1 - 1/3 (A4); Q4 has S = 0 on both sides.
    assert cohort["value"][defined].tolist() == pytest.approx([1.0, 2 / 3, 2 / 3])
    assert cohort["value"][defined].tolist() == pytest.approx((1 - churn["value"][defined]).tolist())
    assert cohort["value"][~defined].isna().all()


def test_acquired_and_churned_in_the_same_period_separates_the_methods(loaded, rows, expect):
    # K active throughout 2024Q1; N acquired 2024-02-01 and churned 2024-03-01.
    # standard: E = 1 (K), N = 1 (N), S = 1 (K) -> (1 - 1) / 1 = 0.
    # cohort:   S = 1 (K), C = 0           -> (1 - 0) / 1 = 1, = 1 - churn_rate (0/1).
    # The recorded as_of would be 2024-02-01 (N's customer_since; churned_on is scheduled): Q1 in
    # progress, E measured on 02-01 with N still a customer, and the methods would agree. The export
    # is declared as of 2024-03-31, so Q1 is complete and E is measured on 03-31.
    data = loaded(accounts={"account_id": ["K", "N"], "customer_since": ["2023-10-01", "2024-02-01"],
                         "churned_on": [None, "2024-03-01"]}, as_of="2024-03-31")
    q1 = {"start": "2024Q1", "end": "2024Q1"}
    assert rows(kpis.retention_rate(data, **q1)) == expect([("2024Q1", 0, 1, 0.0)])
    assert rows(kpis.retention_rate(data, method="cohort", **q1)) == expect([("2024Q1", 1, 1, 1.0)])
    assert rows(kpis.churn_rate(data, **q1)) == expect([("2024Q1", 0, 1, 0.0)])


def test_an_account_acquired_on_the_first_day_is_new_in_p_and_in_the_opening_book_of_p_plus_1(
        loaded, rows, expect):
    # F's customer_since = 2024-01-01 = Q1.first: F is not active on Q1.open (2023-12-31), so it is
    # not in Q1's S; it is in Q1's N. K is a customer from 2023-10-01, kept throughout.
    # Q1: S = 1 (K), E = 2 (K F on 03-31), N = 1 (F) -> retention (2 - 1) / 1 = 1; churn 0 / 1.
    # Q2: S = 2 (K F on 03-31), E = 2, N = 0 -> retention 2 / 2 = 1; churn 0 / 2.
    # Declared as of 2024-06-30: Q2 is lived (the recorded as_of, 2024-01-01, would leave it NA).
    data = loaded(accounts={"account_id": ["K", "F"], "customer_since": ["2023-10-01", "2024-01-01"],
                            "churned_on": [None, None]},
               as_of="2024-06-30")
    q1_q2 = {"start": "2024Q1", "end": "2024Q2"}
    assert rows(kpis.retention_rate(data, **q1_q2)) == expect([("2024Q1", 1, 1, 1.0), ("2024Q2", 2, 2, 1.0)])
    assert rows(kpis.churn_rate(data, **q1_q2)) == expect([("2024Q1", 0, 1, 0.0), ("2024Q2", 0, 2, 0.0)])
    assert rows(kpis.new_customers(data, **q1_q2)) == expect([("2024Q1", 1, 1, 1), ("2024Q2", 0, 1, 0)])


# Nobody leaves: K before the data's first quarter, then F on 2024-01-01 (Q1.first and January's
# first), G on 2024-02-15, M on 2024-03-01 (March's first day). churned_on empty on every row.
NOBODY_LEAVES = {"account_id": ["K", "F", "G", "M"],
                 "customer_since": ["2023-11-15", "2024-01-01", "2024-02-15", "2024-03-01"],
                 "churned_on": [None, None, None, None]}


@pytest.mark.parametrize(
    ("freq", "start", "end", "expected"),
    [
        pytest.param("Q", "2024Q1", "2024Q2", [
            ("2024Q1", 1, 1, 1.0),   # S = K (on 12-31); E = K F G M = 4; N = F G M = 3: (4 - 3) / 1
            ("2024Q2", 4, 4, 1.0),   # S = K F G M (on 03-31); E = 4; N = 0: 4 / 4
        ], id="quarter"),
        pytest.param("M", "2024-01", "2024-03", [
            ("2024-01", 1, 1, 1.0),  # S = K (on 12-31); E = K F = 2; N = F: (2 - 1) / 1
            ("2024-02", 2, 2, 1.0),  # S = K F (on 01-31); E = K F G = 3; N = G: (3 - 1) / 2
            ("2024-03", 3, 3, 1.0),  # S = K F G (on 02-29); E = K F G M = 4; N = M: (4 - 1) / 3
        ], id="month"),
    ],
)
def test_standard_retention_is_exactly_one_when_nobody_leaves(loaded, rows, expect, freq, start, end,
                                                              expected):
    data = loaded(accounts=NOBODY_LEAVES, as_of=str(pd.Period(end, freq=freq).end_time.date()))
    window = {"freq": freq, "start": start, "end": end}
    assert rows(kpis.retention_rate(data, **window)) == expect(expected)
    # With no churn, E - N = S: the cohort method gives the same, and churn is 0 / S.
    assert rows(kpis.retention_rate(data, method="cohort", **window)) == expect(expected)
    assert rows(kpis.churn_rate(data, **window), ["numerator", "denominator"]) == expect(
        [(0, s) for (_, _, s, _) in expected])


# Churns dated on the first day of a month (and of a quarter):
#     P1  since 2023-12-01  churned 2024-01-01
#     P2  since 2023-12-15  churned 2024-02-01
#     P3  since 2024-01-01  churned 2024-03-01   (acquired on Q1.first, lost inside Q1)
#     P4  since 2023-11-01  -
#     P5  since 2024-02-01  churned 2024-04-01   (lost on Q2.first)
FIRST_DAY_CHURNS = {"account_id": ["P1", "P2", "P3", "P4", "P5"],
                    "customer_since": ["2023-12-01", "2023-12-15", "2024-01-01", "2023-11-01", "2024-02-01"],
                    "churned_on": ["2024-01-01", "2024-02-01", "2024-03-01", None, "2024-04-01"]}


@pytest.mark.parametrize(
    ("freq", "start", "end", "churn", "cohort", "standard"),
    [
        pytest.param("M", "2024-01", "2024-04", [
            ("2024-01", 1, 3),       # S = P1 P2 P4 (on 12-31); C = P1 (01-01)
            ("2024-02", 1, 3),       # S = P2 P3 P4 (on 01-31); C = P2 (02-01)
            ("2024-03", 1, 3),       # S = P3 P4 P5 (on 02-29); C = P3 (03-01)
            ("2024-04", 1, 2),       # S = P4 P5 (on 03-31); C = P5 (04-01)
        ], [
            ("2024-01", 2, 3), ("2024-02", 2, 3), ("2024-03", 2, 3), ("2024-04", 1, 2),   # S - C, S
        ], [
            # E - N, S: nobody is acquired and lost in the same month, so it equals the cohort's.
            ("2024-01", 2, 3),       # E = P2 P3 P4 (on 01-31), N = P3
            ("2024-02", 2, 3),       # E = P3 P4 P5 (on 02-29), N = P5
            ("2024-03", 2, 3),       # E = P4 P5 (on 03-31), N = none
            ("2024-04", 1, 2),       # E = P4 (on 04-30), N = none
        ], id="month"),
        pytest.param("Q", "2024Q1", "2024Q2", [
            ("2024Q1", 2, 3),        # S = P1 P2 P4 (on 12-31); C = P1 (01-01), P2 (02-01); P3 not in S
            ("2024Q2", 1, 2),        # S = P4 P5 (on 03-31); C = P5 (04-01)
        ], [
            ("2024Q1", 1, 3), ("2024Q2", 1, 2),
        ], [
            ("2024Q1", 0, 3),        # E = P4 P5 (on 03-31), N = P3 P5: P3 came and went inside Q1
            ("2024Q2", 1, 2),        # E = P4 (on 06-30), N = none
        ], id="quarter"),
    ],
)
def test_cohort_retention_is_one_minus_churn_with_churns_on_first_days(loaded, rows, expect, freq, start,
                                                                       end, churn, cohort, standard):
    # The recorded as_of would be 2024-02-01 (P5's customer_since; churned_on is scheduled), leaving
    # 2024Q1 in progress with E measured on 02-01, when P3 is still a customer. The export is
    # declared as of 2024-06-30: every month and quarter above is complete, E is on P.last.
    data = loaded(accounts=FIRST_DAY_CHURNS, as_of="2024-06-30")
    window = {"freq": freq, "start": start, "end": end}
    churned = kpis.churn_rate(data, **window)
    kept = kpis.retention_rate(data, method="cohort", **window)
    assert rows(churned, ["period", "numerator", "denominator"]) == expect(churn)
    assert rows(kept, ["period", "numerator", "denominator"]) == expect(cohort)
    assert kept["value"].tolist() == pytest.approx((1 - churned["value"]).tolist())
    kept_standard = kpis.retention_rate(data, **window)
    assert rows(kept_standard, ["period", "numerator", "denominator"]) == expect(standard)


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
def test_engagement_rate(loaded, rows, expect, tables, expected):
    # Recorded, as_of would be 2024-07-01 (A5's survey, 01:30 UTC) with the surveys, 2024-05-15
    # (A4's customer_since) without: 2024Q3 in progress or not shown. The export is declared as of
    # 2024-09-30, like the book's, so the four quarters are complete and "active" is on P.last.
    # (engagement in a quarter in progress: tests/kpis/test_time.py.)
    given = {"activities": ACTIVITIES, "surveys": SURVEYS}
    data = loaded(accounts=BOOK, as_of="2024-09-30", **{t: given[t] for t in tables})
    assert rows(kpis.engagement_rate(data)) == expect(expected)


def test_engagement_grid_spans_the_activities_too(loaded, rows, expect):
    # One account from 2024-01-10; an activity on 2024-07-05 stretches the grid to 2024Q3.
    data = loaded(accounts={"account_id": ["A1"], "customer_since": ["2024-01-10"],
                            "churned_on": [None]},
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
def test_key_accounts_window(loaded, rows, expect, freq, start, end, threshold, expected):
    # Declared as of 2024-09-30: 2024Q3 is lived (the recorded as_of is the last deal, 06-30).
    data = loaded(accounts=KEY_ACCOUNTS, deals=KEY_DEALS, as_of="2024-09-30")
    options = {} if threshold is None else {"threshold": threshold}
    result = kpis.key_accounts(data, freq=freq, start=start, end=end, **options)
    assert rows(result, ["period", "value"]) == expect(expected)
    assert (result["denominator"] == 1).all()


def test_key_accounts_needs_deals(loaded):
    data = loaded(accounts=KEY_ACCOUNTS)
    with pytest.raises(repkpi.MissingTableError, match=r"key_accounts needs the deals table"):
        kpis.key_accounts(data)


@pytest.mark.parametrize("name", ["churn_rate", "retention_rate", "new_customers",
                                  "active_customers", "new_customer_growth"])
def test_a_book_without_any_date_has_no_period_and_no_error(name: str) -> None:
    # Two prospects: no customer_since, no churned_on, so no date places a row in any
    # period and the period grid is empty; each KPI gives no row, not an IndexError.
    from repkpi import CrmData

    book = CrmData(accounts=pd.DataFrame({"account_id": ["A1", "A2"], "customer_since": [None, None],
                                          "churned_on": [None, None]}))
    result = getattr(repkpi.kpis, name)(book)
    assert len(result) == 0
    assert {"period", "value"} <= set(result.columns)
