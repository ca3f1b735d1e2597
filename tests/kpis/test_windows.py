"""KPIs over a window (analysis.md, "Windows"), worked out by hand on a small book.

The value at P over a window is the KPI computed as if the window's span were
one period: events dated in the span, states at the span's opening (the day
before its first day) and at P.last, medians over the span's rows, growth
against the span compared with (the same length just before; for "ytd" and
"qtd" the same span a year earlier).

The book (accounts; as_of declared 2024-04-30, so 2024-04 is complete):

    id  customer_since  churned_on
    B0  2022-01-01      2023-09-15
    B6  2023-02-14      -
    B4  2023-06-01      2024-03-31
    B1  2023-11-15      -
    B2  2023-12-10      2024-02-01
    B3  2024-01-05      2024-03-10   acquired inside 2024: never in the year's opening book
    B5  2024-02-20      -

Who is active on the days that open the spans below (customer_since <= d < churned_on):

    2023-03-31 (FY2024 opens, fiscal year from April): B0 B6
    2023-12-31 (2024 opens):                           B6 B4 B1 B2
    2024-02-29 (March opens):                          B6 B4 B1 B3 B5
    2024-03-31 (FY2025 opens):                         B6 B1 B5   (B4 churns on the 31st)

New customers per month: 2023-02 B6, 2023-06 B4, 2023-11 B1, 2023-12 B2, 2024-01 B3,
2024-02 B5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import repkpi
from repkpi import kpis

nan = float("nan")

BOOK = {
    "account_id": ["B0", "B6", "B4", "B1", "B2", "B3", "B5"],
    "customer_since": ["2022-01-01", "2023-02-14", "2023-06-01", "2023-11-15", "2023-12-10",
                       "2024-01-05", "2024-02-20"],
    "churned_on": ["2023-09-15", None, "2024-03-31", None, "2024-02-01", "2024-03-10", None],
}


@pytest.fixture
def book(loaded):
    return loaded(accounts=BOOK, as_of="2024-04-30")


def values(result: pd.DataFrame, columns=("period", "numerator", "denominator", "value")) -> list:
    return [tuple(None if isinstance(v, float) and np.isnan(v) else (str(v) if isinstance(
        v, pd.Period) else round(float(v), 9))
        for v in row) for row in result[list(columns)].itertuples(index=False)]


# -- a count: rows dated in the span --------------------------------------------------------------
@pytest.mark.parametrize(("window", "expected"), [
    # Year to date: January holds B3; February on, B3 and B5.
    ("ytd", [("2024-01", 1.0), ("2024-02", 2.0), ("2024-03", 2.0), ("2024-04", 2.0)]),
    # Three months ending with P: Nov-Jan B1 B2 B3; Dec-Feb B2 B3 B5; Jan-Mar B3 B5; Feb-Apr B5.
    (3, [("2024-01", 3.0), ("2024-02", 3.0), ("2024-03", 2.0), ("2024-04", 1.0)]),
    ("period", [("2024-01", 1.0), ("2024-02", 1.0), ("2024-03", 0.0), ("2024-04", 0.0)]),
])
def test_a_count_counts_the_rows_of_the_span(book, window, expected):
    result = kpis.new_customers(book, freq="M", window=window, start="2024-01")
    assert values(result, ("period", "value")) == expected


# -- a state: churn and retention over the year to date -------------------------------------------
def test_churn_over_the_year_to_date_takes_the_book_the_year_opened_with(book):
    # S = active on 2023-12-31: B6 B4 B1 B2. Churned by P.last: B2 (Feb 1), then B4 (Mar 31).
    # B3 churns in March but joined in January: it is not in the year's opening book.
    result = kpis.churn_rate(book, freq="M", window="ytd", start="2024-01")
    assert values(result) == [("2024-01", 0.0, 4.0, 0.0), ("2024-02", 1.0, 4.0, 0.25),
                              ("2024-03", 2.0, 4.0, 0.5), ("2024-04", 2.0, 4.0, 0.5)]
    # March alone opens on 02-29 with B6 B4 B1 B3 B5 and loses B3 and B4: not a sum of months.
    month = kpis.churn_rate(book, freq="M", start="2024-03", end="2024-03")
    assert values(month) == [("2024-03", 2.0, 5.0, 0.4)]


def test_retention_over_the_year_to_date(book):
    # E = active on 03-31: B6 B1 B5; N = won in Jan-Mar: B3 B5; S = 4 (above): (3 - 2) / 4.
    result = kpis.retention_rate(book, freq="M", window="ytd", start="2024-03", end="2024-03")
    assert values(result) == [("2024-03", 1.0, 4.0, 0.25)]
    cohort = kpis.retention_rate(book, freq="M", window="ytd", start="2024-03", end="2024-03",
                                 method="cohort")  # (S - C) / S = (4 - 2) / 4
    assert values(cohort) == [("2024-03", 2.0, 4.0, 0.5)]


# -- across a fiscal year start -------------------------------------------------------------------
@pytest.mark.parametrize(("freq", "periods"), [("M", ["2024-03", "2024-04"]),
                                               ("Q", ["2024Q4", "2025Q1"])])
def test_the_year_to_date_restarts_with_the_fiscal_year(book, freq, periods):
    # fiscal_year_start=4: FY2024 runs 2023-04-01 .. 2024-03-31, FY2025 from 2024-04-01.
    # FY2024 to March: won B4 B1 B2 B3 B5 (5); opening book on 2023-03-31 B0 B6, of which B0
    # churned (2023-09-15): 1/2. FY2025 to April: won nobody; opening book on 2024-03-31
    # B6 B1 B5, none churned by April 30: 0/3. The same spans month by month or by quarter
    # (FY2024 Q4 is January-March 2024; FY2025 Q1 is April-June 2024, cut at 30 April).
    new = kpis.new_customers(book, freq=freq, window="ytd", fiscal_year_start=4,
                             start=periods[0], end=periods[1])
    churn = kpis.churn_rate(book, freq=freq, window="ytd", fiscal_year_start=4,
                            start=periods[0], end=periods[1])
    assert values(new, ("period", "value")) == [(periods[0], 5.0), (periods[1], 0.0)]
    assert values(churn) == [(periods[0], 1.0, 2.0, 0.5), (periods[1], 0.0, 3.0, 0.0)]


# -- growth: against the span compared with -------------------------------------------------------
@pytest.mark.parametrize(("freq", "window", "start", "expected"), [
    # Two months: Dec-Jan (B2 B3) against Oct-Nov (B1): (2 - 1) / 1; Jan-Feb (B3 B5) against
    # Nov-Dec (B1 B2): 0 / 2.
    ("M", 2, "2024-01", [("2024-01", 1.0, 1.0, 1.0), ("2024-02", 0.0, 2.0, 0.0)]),
    # Year to date against the same months a year earlier: Jan 2024 (B3) against Jan 2023
    # (nobody): no growth rate; Jan-Mar 2024 (B3 B5) against Jan-Mar 2023 (B6): (2 - 1) / 1.
    ("M", "ytd", "2024-01", [("2024-01", 1.0, 0.0, None), ("2024-02", 1.0, 1.0, 1.0),
                             ("2024-03", 1.0, 1.0, 1.0)]),
    # Two quarters: 2023Q4 + 2024Q1 (B1 B2 B3 B5) against 2023Q2 + Q3 (B4): (4 - 1) / 1.
    ("Q", 2, "2024Q1", [("2024Q1", 3.0, 1.0, 3.0)]),
])
def test_growth_compares_with_the_span_before(book, freq, window, start, expected):
    result = kpis.new_customer_growth(book, freq=freq, window=window, start=start,
                                      end=expected[-1][0])
    assert values(result) == expected


# -- a median: over the span's rows ---------------------------------------------------------------
TICKETS = {
    # Hours to resolve: T1 2, T2 10, T3 4, T4 6.
    "opened_at": ["2024-01-10T08:00:00Z", "2024-02-05T08:00:00Z", "2024-02-20T08:00:00Z",
                  "2024-03-01T08:00:00Z"],
    "resolved_at": ["2024-01-10T10:00:00Z", "2024-02-05T18:00:00Z", "2024-02-20T12:00:00Z",
                    "2024-03-01T14:00:00Z"],
}


@pytest.mark.parametrize(("window", "expected"), [
    ("period", [2.0, 7.0, 6.0]),   # {2}, {10, 4}, {6}
    (2, [2.0, 4.0, 6.0]),          # {2}, {2, 10, 4}, {10, 4, 6}: not the median of the medians
    ("ytd", [2.0, 4.0, 5.0]),      # {2}, {2, 10, 4}, {2, 10, 4, 6}
])
def test_a_median_is_taken_over_the_rows_of_the_span(loaded, window, expected):
    data = loaded(tickets=TICKETS)
    result = kpis.resolution_hours(data, freq="M", window=window)
    assert values(result, ("period", "value")) == list(zip(["2024-01", "2024-02", "2024-03"],
                                                           expected, strict=True))


def test_detail_of_a_median_lists_the_rows_of_the_span(loaded):
    rows = repkpi.detail(loaded(tickets=TICKETS), "resolution_hours", period="2024-03", window=2)
    assert sorted(rows["ticket_id"]) == ["T2", "T3", "T4"]
    assert rows["hours"].median() == 6.0


# -- the as-of date -------------------------------------------------------------------------------
def test_only_the_span_of_the_period_in_progress_is_cut_at_the_as_of_date(loaded):
    # As of 2024-03-15: B4's churn on 03-31 has not happened. The year to date of March is in
    # progress (opening book B6 B4 B1 B2, lost B2); April and May are not lived: NA.
    data = loaded(accounts=BOOK, as_of="2024-03-15")
    result = kpis.churn_rate(data, freq="M", window="ytd", start="2024-02", end="2024-05")
    assert values(result) == [("2024-02", 1.0, 4.0, 0.25), ("2024-03", 1.0, 4.0, 0.25),
                              ("2024-04", None, None, None), ("2024-05", None, None, None)]
    assert result.attrs["in_progress"] == pd.Period("2024-03", "M")
    assert result.attrs["after_as_of"] == [pd.Period("2024-04", "M"), pd.Period("2024-05", "M")]


# -- detail: the rows of the span add up to the windowed parts -----------------------------------
def test_detail_lists_the_opening_book_of_the_year_and_who_of_it_churned(book):
    rows = repkpi.detail(book, "churn_rate", period="2024-03", window="ytd")
    assert sorted(rows["account_id"]) == ["B1", "B2", "B4", "B6"]
    assert sorted(rows.loc[rows["in_numerator"], "account_id"]) == ["B2", "B4"]
    assert (rows["numerator_weight"].sum(), rows["denominator_weight"].sum()) == (2.0, 4.0)


@pytest.fixture(scope="module")
def sample():
    return repkpi.load_sample()


@pytest.mark.parametrize(("freq", "window", "period"), [("M", "ytd", "2026-06"),
                                                        ("Q", 4, "2026Q2"), ("M", "qtd", "2026-08")])
@pytest.mark.parametrize("name", sorted(repkpi.KPIS))
def test_detail_weights_add_up_to_the_windowed_value(sample, name, freq, window, period):
    spec = repkpi.KPIS[name]
    try:
        want = spec(sample, freq=freq, window=window, start=period, end=period)
    except repkpi.OptionError:  # a market KPI takes no month finer than its quarters
        with pytest.raises(repkpi.OptionError):
            repkpi.detail(sample, name, period=period, window=window)
        return
    rows = repkpi.detail(sample, name, period=period, window=window)
    (value,) = want["value"]
    if spec.kind == "median":
        assert np.isclose(rows["hours"].median(), value)
    elif spec.kind == "difference":  # share(span) - share(span compared with)
        assert set(rows["from_period"].astype(str)) <= {period, str(pd.Period(period, freq) - 4)}
    else:
        assert np.isclose(rows["numerator_weight"].sum(), want["numerator"].iloc[0])
        if spec.kind == "ratio":
            assert np.isclose(rows["denominator_weight"].sum(), want["denominator"].iloc[0])


# -- options --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("window", "freq", "match"), [
    ("qtd", "Q", "needs freq='M'"),
    ("qtd", "Y", "needs freq='M'"),
    (0, "M", "whole number of periods"),
    (True, "M", "whole number of periods"),
    ("ttm", "M", "whole number of periods"),
    (2.5, "M", "whole number of periods"),
])
def test_a_window_that_names_no_span_is_refused(book, window, freq, match):
    with pytest.raises(repkpi.OptionError, match=match):
        kpis.new_customers(book, freq=freq, window=window)
    with pytest.raises(repkpi.OptionError, match=match):  # not skipped KPI by KPI
        repkpi.compute(book, freq=freq, window=window)
    with pytest.raises(repkpi.OptionError, match=match):
        repkpi.detail(book, "new_customers", period="2024Q1", freq=freq, window=window)


def test_explain_compares_the_year_to_date_with_the_same_span_a_year_earlier(sample):
    why = repkpi.explain(sample, "win_rate", period="2026-06", by="region", window="ytd")
    assert (str(why.attrs["period"]), str(why.attrs["against"])) == ("2026-06", "2025-06")
    whole = kpis.win_rate(sample, freq="M", window="ytd", start="2025-06", end="2026-06")
    ends = whole.set_index(whole["period"].astype(str))["value"]
    total = why.iloc[-1]
    assert np.isclose(total["value_previous"], ends["2025-06"])
    assert np.isclose(total["value_current"], ends["2026-06"])
    assert np.isclose(why["contribution"].iloc[:-1].sum(), ends["2026-06"] - ends["2025-06"])


# -- against the periods' own values, on the sample -----------------------------------------------
def test_a_window_of_one_period_is_the_period(sample):
    for freq in ("Q", "M"):
        pd.testing.assert_frame_equal(repkpi.compute(sample, freq=freq, window=1),
                                      repkpi.compute(sample, freq=freq))


ADDITIVE = [name for name, spec in repkpi.KPIS.items()
            if spec.adds_over_time and spec.route != "market"]
"""The KPIs whose numerator and denominator are sums over the rows dated in the span."""


@pytest.mark.parametrize(("freq", "window"), [("M", 12), ("Q", 4), ("M", "ytd"), ("Q", "ytd"),
                                              ("M", "qtd")])
def test_sums_of_events_are_the_sums_of_the_periods_of_the_span(sample, freq, window):
    # An independent route: each period's own numerator and denominator, summed with pandas
    # over the periods of the span (a rolling sum, or a running sum within the year or quarter).
    periods = repkpi.compute(sample, ADDITIVE, freq=freq).sort_values(["kpi", "period"])
    spans = repkpi.compute(sample, ADDITIVE, freq=freq, window=window)
    parts = periods.groupby("kpi", sort=False)[["numerator", "denominator"]]
    if isinstance(window, int):
        summed = parts.rolling(window, min_periods=1).sum().reset_index(level=0, drop=True)
    else:
        start = pd.PeriodIndex(periods["period"]).asfreq("Y" if window == "ytd" else "Q")
        summed = periods.groupby(["kpi", start.astype(str)])[["numerator", "denominator"]].cumsum()
    expected = periods[["kpi", "period"]].join(summed)
    got = spans.merge(expected, on=["kpi", "period"], suffixes=("", "_summed"))
    assert len(got) == len(spans) == len(periods)
    assert np.allclose(got["numerator"], got["numerator_summed"], rtol=1e-9, atol=1e-6)
    ratio = got["kpi"].map(lambda name: repkpi.KPIS[name].kind == "ratio")
    assert np.allclose(got.loc[ratio, "denominator"], got.loc[ratio, "denominator_summed"],
                       rtol=1e-9, atol=1e-6)
    assert (got.loc[~ratio, "denominator"] == 1).all()  # a count's or a sum's, by convention
