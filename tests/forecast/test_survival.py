"""repkpi.forecast.survival and repkpi.plot.survival (forecast.md, "How long customers stay").

The book below, as of 30 June 2024 (declared), worked by hand. Durations in
months are Period(end) - Period(customer_since), the end being the month of
``churned_on`` (an event) or of the as-of date (censored):

    id   region  won         churned     t  (months)
    A1   north   2024-01-10  2024-03-05  2  event
    A2   north   2024-01-31  2024-03-01  2  event (a tie with A1)
    A3   north   2024-02-15  -           4  censored (Feb -> Jun)
    A4   south   2024-04-01  2024-06-30  2  event (churned on the as-of date)
    A5   south   2024-04-20  -           2  censored at the t of three events
    A6   south   2024-05-02  2024-05-30  0  event: lost in the month it was won
    A7   south   2024-06-03  -           0  censored: won in the as-of month
    A8   north   2023-12-01  2024-09-01  6  censored: the churn after the as-of date is blanked
    A9   west    2024-03-01  2024-06-15  3  event
    A10  east    2024-05-10  -           1  censored
    P1   north   -           -           -  a prospect: left out

All together (n at risk = accounts with t or more, d events, c censored):

    t  n   d  c  S                          Greenwood's sum G
    0  10  1  1  1 - 1/10 = 0.9             1/(10*9) = 1/90
    1  8   0  1  0.9                        1/90
    2  7   3  1  0.9 * 4/7 = 18/35          1/90 + 3/(7*4) = 1/90 + 3/28
    3  3   1  0  18/35 * 2/3 = 12/35        ... + 1/(3*2) = 1/90 + 3/28 + 1/6
    4  2   0  1  12/35
    6  1   0  1  12/35

Median: the smallest t with S <= 0.5: 18/35 = 0.514 > 0.5 at t=2, so 3.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

import repkpi  # noqa: E402

TELCO = Path(__file__).parent / "data" / "telco-customer-churn.csv.gz"

ACCOUNTS = """\
account_id,region,rep_id,customer_since,churned_on
A1,north,R1,2024-01-10,2024-03-05
A2,north,R1,2024-01-31,2024-03-01
A3,north,R2,2024-02-15,
A4,south,R2,2024-04-01,2024-06-30
A5,south,R2,2024-04-20,
A6,south,R1,2024-05-02,2024-05-30
A7,south,R3,2024-06-03,
A8,north,R3,2023-12-01,2024-09-01
A9,west,R3,2024-03-01,2024-06-15
A10,east,R3,2024-05-10,
P1,north,R1,,
"""
REPS = """\
rep_id,team,hired_on
R1,red,2020-01-01
R2,red,2020-01-01
R3,blue,2020-01-01
"""
COUNTS = ["t", "at_risk", "events", "censored"]


@pytest.fixture
def book(folder, engine):
    return repkpi.load(folder(accounts=ACCOUNTS, reps=REPS), engine=engine, as_of="2024-06-30")


def interval(s: float, greenwood: float) -> tuple[float, float]:
    """forecast.md's exponential-Greenwood bounds, written out from the spec's formula."""
    half = 1.96 * math.sqrt(greenwood / math.log(s) ** 2)
    centre = math.log(-math.log(s))
    return math.exp(-math.exp(centre + half)), math.exp(-math.exp(centre - half))


def test_the_book_by_hand(book):
    table = repkpi.forecast.survival(book)
    assert list(table.columns) == [*COUNTS, "survival", "std_err", "lower", "upper"]
    assert table[COUNTS].to_numpy().tolist() == [[0, 10, 1, 1], [1, 8, 0, 1], [2, 7, 3, 1],
                                             [3, 3, 1, 0], [4, 2, 0, 1], [6, 1, 0, 1]]
    s = [0.9, 0.9, 18 / 35, 12 / 35, 12 / 35, 12 / 35]
    g0, g2, g3 = 1 / 90, 1 / 90 + 3 / 28, 1 / 90 + 3 / 28 + 1 / 6
    greenwood = [g0, g0, g2, g3, g3, g3]
    np.testing.assert_allclose(table["survival"], s, rtol=1e-12)
    std_err = [a * math.sqrt(b) for a, b in zip(s, greenwood, strict=True)]
    np.testing.assert_allclose(table["std_err"], std_err, rtol=1e-12)
    bounds = np.array([interval(a, b) for a, b in zip(s, greenwood, strict=True)])
    np.testing.assert_allclose(table[["lower", "upper"]], bounds, rtol=1e-12)
    # t=0: log S = log 0.9 = -0.10536, V = (1/90) / 0.011101 = 1.00093, 1.96 sqrt(V) = 1.96091,
    # log(-log S) = -2.25037: lower = exp(-exp(-0.28946)) = exp(-0.74867) = 0.4730,
    # upper = exp(-exp(-4.21127)) = exp(-0.014827) = 0.9853
    assert table["lower"].iloc[0] == pytest.approx(0.4730, abs=1e-4)
    assert table["upper"].iloc[0] == pytest.approx(0.9853, abs=1e-4)
    assert table.attrs["median"] == 3
    assert table.attrs["as_of"] == pd.Timestamp("2024-06-30")


@pytest.mark.parametrize(("freq", "rows", "s", "median"), [
    # Quarters: A1 A2 A4 A6 lost in the quarter won (t=0), A5 A7 A10 censored there; A3 (Q1 ->
    # Q2) censored at 1, A9 (Q1 -> Q2) lost at 1; A8 (2023Q4 -> 2024Q2) censored at 2.
    # S(0) = 1 - 4/10 = 0.6; S(1) = 0.6 * (1 - 1/3) = 0.4: the median is 1.
    ("Q", [[0, 10, 4, 3], [1, 3, 1, 1], [2, 1, 0, 1]], [0.6, 0.4, 0.4], 1),
    # Years: everyone won in 2024 has t=0 (5 lost, 4 censored); A8 (2023 -> 2024) is censored at 1.
    # S(0) = 1 - 5/10 = 0.5 <= 0.5: the median is 0.
    ("Y", [[0, 10, 5, 4], [1, 1, 0, 1]], [0.5, 0.5], 0),
])
def test_quarters_and_years(folder, freq, rows, s, median):
    data = repkpi.load(folder(accounts=ACCOUNTS), as_of="2024-06-30")
    table = repkpi.forecast.survival(data, freq=freq)
    assert table[COUNTS].to_numpy().tolist() == rows
    np.testing.assert_allclose(table["survival"], s, rtol=1e-12)
    assert table.attrs["median"] == median
    assert table.attrs["freq"] == freq


def test_by_region_each_curve_and_median(book):
    # north: A1 A2 lost at 2 of 4 at risk: S(2) = 0.5, which is <= 0.5: median 2; A3 (4), A8 (6)
    # censored. south: A6 lost, A7 censored at 0 (S = 3/4); A4 lost, A5 censored at 2 of 2 at
    # risk: S = 3/4 * 1/2 = 3/8, median 2. west: A9 alone, lost at 3: S = 0, the interval is
    # the point and Greenwood's error undefined. east: A10 censored at 1: S = 1, no median.
    table = repkpi.forecast.survival(book, by="region")
    assert list(table.columns[:2]) == ["region", "t"]
    got = table[["region", *COUNTS, "survival"]].to_numpy().tolist()
    assert got == [["east", 1, 1, 0, 1, 1.0],
                   ["north", 2, 4, 2, 0, 0.5], ["north", 4, 2, 0, 1, 0.5], ["north", 6, 1, 0, 1, 0.5],
                   ["south", 0, 4, 1, 1, 0.75], ["south", 2, 2, 1, 1, 0.375],
                   ["west", 3, 1, 1, 0, 0.0]]
    east, west = table.iloc[0], table.iloc[-1]
    assert (east["lower"], east["upper"], east["std_err"]) == (1.0, 1.0, 0.0)
    assert (west["lower"], west["upper"]) == (0.0, 0.0)
    assert np.isnan(west["std_err"])
    assert table.attrs["median"] == {"east": None, "north": 2, "south": 2, "west": 3}


def test_by_the_reps_team(book):
    # red (R1, R2): A1 A2 A6 of R1, A3 A4 A5 of R2. t: A6 0 lost; A1 A2 A4 2 lost, A5 2
    # censored; A3 4 censored. S(0) = 5/6; S(2) = 5/6 * (1 - 3/5) = 1/3. blue (R3): A7 0 c,
    # A10 1 c, A9 3 lost (2 at risk: A9, A8), A8 6 c: S(3) = 1/2.
    table = repkpi.forecast.survival(book, by="team")
    got = table[["team", *COUNTS, "survival"]].to_numpy().tolist()
    np.testing.assert_allclose(np.array([r[-1] for r in got]),
                               [1, 1, 0.5, 0.5, 5 / 6, 1 / 3, 1 / 3], rtol=1e-12)
    assert [r[:-1] for r in got] == [["blue", 0, 4, 0, 1], ["blue", 1, 3, 0, 1],
                                     ["blue", 3, 2, 1, 0], ["blue", 6, 1, 0, 1],
                                     ["red", 0, 6, 1, 0], ["red", 2, 5, 3, 1], ["red", 4, 1, 0, 1]]
    assert table.attrs["median"] == {"blue": 3, "red": 2}


def test_an_empty_group_is_a_group_and_results_concatenate():
    # As of 2024-03-31. A1 (rep R1, team red) won in January, lost in February: t=1, the only
    # one of red at risk: S = 0, median 1. A2 has no rep and R2 no team: both in the empty
    # team. A3 (R2) won in February, lost in March: t=1 of 2 at risk (A2, A3): S = 1/2, median
    # 1; A2 (January) is censored at 2.
    data = repkpi.CrmData(
        accounts=pd.DataFrame({"account_id": ["A1", "A2", "A3"], "rep_id": ["R1", None, "R2"],
                               "customer_since": ["2024-01-01", "2024-01-01", "2024-02-01"],
                               "churned_on": ["2024-02-10", None, "2024-03-01"]}),
        reps=pd.DataFrame({"rep_id": ["R1", "R2"], "team": ["red", None],
                           "hired_on": ["2020-01-01", "2020-01-01"]}),
        as_of="2024-03-31")
    table = repkpi.forecast.survival(data, by="team")
    assert table["team"].isna().tolist() == [False, True, True]
    assert table[COUNTS].to_numpy().tolist() == [[1, 1, 1, 0], [1, 2, 1, 0], [2, 1, 0, 1]]
    assert table["survival"].tolist() == [0.0, 0.5, 0.5]
    assert table.attrs["median"] == {"red": 1, None: 1}
    # attrs hold plain values: pandas compares them when it joins results.
    joined = pd.concat([table, repkpi.forecast.survival(data)])
    assert len(joined) == 5
    ax = repkpi.plot.survival(table)
    assert [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")] \
        == ["red: median 1 month", "n/a: median 1 month"]
    plt.close(ax.figure)


def test_a_churn_date_after_an_undeclared_as_of_has_not_happened(folder):
    # No declared as-of: it is the latest customer_since, 2024-03-01. A1's churn on 2024-08-01
    # is after it: censored at Jan -> Mar = 2. A2 won on the as-of date: censored at 0.
    data = repkpi.load(folder(accounts="account_id,customer_since,churned_on\n"
                                       "A1,2024-01-01,2024-08-01\nA2,2024-03-01,\n"))
    table = repkpi.forecast.survival(data)
    assert table[COUNTS].to_numpy().tolist() == [[0, 2, 0, 1], [2, 1, 0, 1]]
    assert table["survival"].tolist() == [1.0, 1.0]
    assert table.attrs["median"] is None


def test_no_customer_gives_an_empty_table(folder):
    data = repkpi.load(folder(accounts="account_id,region,customer_since,churned_on\nP1,north,,\n"))
    table = repkpi.forecast.survival(data)
    assert table.empty
    assert list(table.columns) == [*COUNTS, "survival", "std_err", "lower", "upper"]
    assert table.attrs["median"] is None
    grouped = repkpi.forecast.survival(data, by="region")
    assert grouped.empty
    assert list(grouped.columns[:2]) == ["region", "t"]
    assert grouped.attrs["median"] == {}


def test_clear_errors(folder, book):
    with pytest.raises(repkpi.OptionError, match="freq must be 'M', 'Q' or 'Y', got 'W'"):
        repkpi.forecast.survival(book, freq="W")
    with pytest.raises(repkpi.ColumnNotFoundError,
                       match=r"Unknown group column\(s\) \['regoin'\] for survival"):
        repkpi.forecast.survival(book, by="regoin")
    clashing = repkpi.CrmData(accounts=pd.DataFrame({"account_id": ["A1"], "events": ["x"],
                                                     "customer_since": ["2024-01-01"],
                                                     "churned_on": [None]}))
    with pytest.raises(repkpi.OptionError, match=r"survival cannot group by \['events'\]"):
        repkpi.forecast.survival(clashing, by="events")
    with pytest.raises(repkpi.MissingTableError, match="survival needs the accounts table"):
        repkpi.forecast.survival(repkpi.CrmData(reps=pd.DataFrame({"rep_id": ["R1"],
                                                                    "hired_on": ["2020-01-01"]})))
    without_churn = repkpi.CrmData(accounts=pd.DataFrame({"account_id": ["A1"],
                                                          "customer_since": ["2024-01-01"]}))
    with pytest.raises(repkpi.AbsentColumnError, match="survival needs accounts.churned_on"):
        repkpi.forecast.survival(without_churn)


def generated(seed: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accounts with known monthly durations, and those durations with their event flags.

    Each account is won on a random day of a month in 2021..2025 and lives ``t`` months (a
    geometric number, faster in segment "b"); it churns on a random day of month won + t
    when that month is on or before December 2025 (the as-of month), else it is censored at
    December 2025. Many ties, by construction.
    """
    rng = np.random.default_rng(seed)
    segment = rng.choice(["a", "b"], size=n)
    won = rng.integers(2021 * 12, 2025 * 12 + 12, size=n)  # month ordinals: year * 12 + month - 1
    life = rng.geometric(np.where(segment == "a", 0.03, 0.08)) - 1
    end = won + life
    event = end <= 2025 * 12 + 11
    t = np.where(event, life, 2025 * 12 + 11 - won)

    def day(month: np.ndarray) -> pd.Series:
        first = pd.to_datetime(pd.DataFrame({"year": month // 12, "month": month % 12 + 1, "day": 1}))
        return first + pd.to_timedelta(rng.integers(0, 28, size=len(month)), unit="D")

    since, churn = day(won), day(end)
    later = (churn <= since).to_numpy()  # a churn must follow the win: a later day of the month
    churn = churn.where(~later, since + pd.Timedelta(days=1))
    accounts = pd.DataFrame({"account_id": [f"A{i}" for i in range(n)], "segment": segment,
                             "customer_since": since, "churned_on": churn.where(event)})
    return accounts, pd.DataFrame({"segment": segment, "t": t, "event": event})


def test_agrees_with_statsmodels_on_generated_data():
    from statsmodels.duration.survfunc import SurvfuncRight

    accounts, truth = generated(7, 2000)
    data = repkpi.CrmData(accounts=accounts, as_of="2025-12-31")
    table = repkpi.forecast.survival(data, by="segment")
    for segment in ("a", "b"):
        known = truth[truth["segment"] == segment]
        ref = SurvfuncRight(known["t"].to_numpy(), known["event"].to_numpy(dtype=int))
        mine = table[table["segment"] == segment].set_index("t")
        assert mine["events"].sum() == known["event"].sum()
        assert mine["at_risk"].iloc[0] == len(known)
        at = mine.loc[ref.surv_times]  # statsmodels gives the times with an event
        np.testing.assert_array_equal(at["at_risk"], ref.n_risk)
        np.testing.assert_array_equal(at["events"], ref.n_events)
        np.testing.assert_allclose(at["survival"], ref.surv_prob, rtol=1e-10)
        np.testing.assert_allclose(at["std_err"], ref.surv_prob_se, rtol=1e-10)
        # The log(-log) interval from statsmodels' S and standard error: V = se^2 / (S log S)^2,
        # where it is defined (0 < S < 1).
        inside = (ref.surv_prob > 0) & (ref.surv_prob < 1)
        at, s, se = at[inside], ref.surv_prob[inside], ref.surv_prob_se[inside]
        half = 1.96 * se / np.abs(s * np.log(s))
        np.testing.assert_allclose(at["lower"], np.exp(-np.exp(np.log(-np.log(s)) + half)), rtol=1e-9)
        np.testing.assert_allclose(at["upper"], np.exp(-np.exp(np.log(-np.log(s)) - half)), rtol=1e-9)
        assert (at["lower"] <= at["survival"]).all()
        assert (at["survival"] <= at["upper"]).all()
        reached = ref.surv_times[ref.surv_prob <= 0.5]
        assert table.attrs["median"][segment] == reached[0]


LIVES = st.lists(st.tuples(st.integers(0, 23), st.integers(0, 30), st.booleans()), min_size=1,
                 max_size=40)


@settings(max_examples=20, deadline=None)
@given(lives=LIVES)
def test_invariants_of_any_book(lives):
    # Each account: won on the 1st of month m of 2022-2023, lost on the 15th of month m + life
    # when it churns and that month is on or before the as-of month (December 2025), else
    # censored. Whatever the book: every customer is counted once, at t=0 all are at risk, S
    # never rises, the interval holds S, and the median is the first t at or below one half.
    won = np.array([m for m, _, _ in lives])
    life = np.array([n for _, n, _ in lives])
    churns = np.array([c for _, _, c in lives]) & (2022 * 12 + won + life <= 2025 * 12 + 11)

    def first_of(month: np.ndarray) -> pd.Series:
        month = 2022 * 12 + month
        return pd.to_datetime(pd.DataFrame({"year": month // 12, "month": month % 12 + 1, "day": 1}))

    accounts = pd.DataFrame({"account_id": [f"A{i}" for i in range(len(lives))],
                             "customer_since": first_of(won),
                             "churned_on": (first_of(won + life) + pd.Timedelta(days=14))
                             .where(churns)})
    table = repkpi.forecast.survival(repkpi.CrmData(accounts=accounts, as_of="2025-12-31"))
    assert table["events"].sum() == churns.sum()
    assert table["events"].sum() + table["censored"].sum() == len(lives)
    assert table["at_risk"].iloc[0] == len(lives)
    assert (np.diff(table["survival"]) <= 0).all()
    assert (table["lower"] <= table["survival"]).all()
    assert (table["survival"] <= table["upper"]).all()
    below = table.loc[table["survival"] <= 0.5, "t"]
    assert table.attrs["median"] == (int(below.iloc[0]) if len(below) else None)


def telco_accounts() -> pd.DataFrame:
    """forecast.md's construction for the data month M = December 2024.

    customer_since = the first day of M - tenure months, churned_on = the first day of M
    when Churn is "Yes", as_of = 31 December 2024: every duration is the tenure.
    """
    telco = pd.read_csv(TELCO)
    month = 2024 * 12 + 11 - telco["tenure"]  # month ordinals: year * 12 + month - 1
    since = pd.to_datetime(pd.DataFrame({"year": month // 12, "month": month % 12 + 1, "day": 1}))
    churned = telco["Churn"].eq("Yes")
    return pd.DataFrame({
        "account_id": telco["customerID"], "customer_since": since,
        "churned_on": pd.Series(pd.Timestamp("2024-12-01"), index=telco.index).where(churned),
        "contract": telco["Contract"],
        "internet": np.where(telco["InternetService"].eq("No"), "without", "with")})


def test_the_published_telco_check():
    accounts = telco_accounts()
    assert (len(accounts), int(accounts["churned_on"].notna().sum())) == (7043, 1869)  # the data set
    data = repkpi.CrmData(accounts=accounts, as_of="2024-12-31")
    table = repkpi.forecast.survival(data, by=["contract", "internet"])
    group = table[(table["contract"] == "Month-to-month") & (table["internet"] == "with")]
    assert (group["at_risk"].iloc[0], group["events"].sum()) == (3351, 1556)
    assert table.attrs["median"][("Month-to-month", "with")] == 34  # Databricks' figure
    # Each duration is the tenure: the table's counts are the data's own.
    telco = pd.read_csv(TELCO)
    chosen = telco[telco["Contract"].eq("Month-to-month") & telco["InternetService"].ne("No")]
    counts = chosen.groupby("tenure")["Churn"].agg(lambda c: int(c.eq("Yes").sum()))
    assert group.set_index("t")["events"].to_dict() == counts.to_dict()


def test_the_plot_draws_each_group_with_its_band_and_median(book):
    table = repkpi.forecast.survival(book, by="region")
    ax = repkpi.plot.survival(table)
    curves = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert [line.get_label() for line in curves] == [
        "east: median not reached", "north: median 2 months", "south: median 2 months",
        "west: median 3 months"]
    north = curves[1]
    # From 100% at 0, then the table's steps: S = 1 until t=2, 0.5 from there.
    assert north.get_drawstyle() == "steps-post"
    assert north.get_xdata().tolist() == [0, 2, 4, 6]
    assert north.get_ydata().tolist() == [1.0, 0.5, 0.5, 0.5]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 4
    medians = [line for line in ax.get_lines() if line.get_gid() == "median"]
    assert [line.get_xdata().tolist() for line in medians] == [[2, 2], [2, 2], [3, 3]]
    assert [line.get_color() for line in medians] == [c.get_color() for c in curves[1:]]
    assert ax.get_xlabel() == "months since won"
    assert ax.get_title() == "How long customers stay, by region"
    plt.close(ax.figure)


def test_the_plot_of_one_curve_in_quarters(book):
    ax = repkpi.plot.survival(repkpi.forecast.survival(book, freq="Q"))
    (curve,) = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert curve.get_label() == "all customers: median 1 quarter"
    assert ax.get_xlabel() == "quarters since won"
    plt.close(ax.figure)
