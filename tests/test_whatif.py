"""What-if functions, worked out by hand: required successes and customers, projections,
the revenue grid, the Monte Carlo attainment probability and goal seeking.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import repkpi
from repkpi import CrmData, Goal, OptionError
from repkpi.datasets import doctest_data as examples
from repkpi.whatif import (
    attainment_probability,
    current_period,
    goal_seek,
    project_customers,
    required_new_customers,
    required_successes,
    revenue_grid,
)

NA = pd.NA


@pytest.fixture(scope="module")
def sample() -> CrmData:
    return repkpi.load_sample()


# --- required_successes ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("numerator", "denominator", "target", "remaining", "expected"),
    [
        # 90% of 550 is 495: 65 more, but only 60 remain.
        pytest.param(430, 490, 0.90, 60, NA, id="impossible"),
        # 85% of 550 is 467.5 -> 468: 38 more.
        pytest.param(430, 490, 0.85, 60, 38, id="csat-85"),
        # 100 / 110 = 90.9% even if all 10 remaining fail.
        pytest.param(100, 100, 0.90, 10, 0, id="already-met"),
        # 99 / 110 is exactly 90%.
        pytest.param(99, 100, 0.90, 10, 0, id="met-exactly-at-the-end"),
        pytest.param(98, 100, 0.90, 10, 1, id="one-more"),
        # Nothing left to come: the ratio is final.
        pytest.param(90, 100, 0.90, 0, 0, id="zero-remaining-met"),
        pytest.param(89, 100, 0.90, 0, NA, id="zero-remaining-missed"),
        # 70% of 10 is 7 (7.000000000000001 in floating point: still 7).
        pytest.param(0, 0, 0.70, 10, 7, id="float-on-the-boundary"),
        pytest.param(0, 0, 1.0, 10, 10, id="all-must-succeed"),
        pytest.param(3, 10, 1.0, 5, NA, id="100-percent-after-a-failure"),
        pytest.param(5, 10, 0.0, 5, 0, id="target-zero"),
    ],
)
def test_required_successes_scalar(numerator, denominator, target, remaining, expected):
    got = required_successes(numerator, denominator, target, remaining=remaining)
    if expected is NA:
        assert got is NA
    else:
        assert got == expected
        assert type(got) is int


def test_required_successes_per_rep_keeps_the_index():
    # R1: 85% of 550 = 467.5 -> 468 - 430 = 38.  R2: 468 - 480 < 0 -> 0.
    # R3: 85% of 450 = 382.5 -> 383 - 300 = 83 > 50 remaining -> impossible.
    reps = ["R1", "R2", "R3"]
    good = pd.Series([430, 480, 300], index=reps, name="csat")
    responses = pd.Series([490, 490, 400], index=reps)
    remaining = pd.Series([60, 60, 50], index=reps)
    before = good.copy()
    got = required_successes(good, responses, 0.85, remaining=remaining)
    expected = pd.Series([38, 0, NA], index=reps, name="csat", dtype="Int64")
    pd.testing.assert_series_equal(got, expected)
    pd.testing.assert_series_equal(good, before)


def test_required_successes_series_with_scalars():
    # 50% of 10 is 5 (R1 has it); of 20 is 10, 5 short with nothing to come.
    got = required_successes(5, pd.Series([10, 20], index=["R1", "R2"]), 0.5, remaining=0)
    pd.testing.assert_series_equal(got, pd.Series([0, NA], index=["R1", "R2"], dtype="Int64"))


def test_required_successes_array():
    got = required_successes(np.array([430, 480]), 490, 0.85, remaining=60)
    assert got.dtype == "Int64"
    assert list(got) == [38, 0]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        pytest.param((430, 490, 1.5, 60), r"target must be a ratio in \[0, 1\], got 1\.5",
                     id="target-above-1"),
        pytest.param((430, 490, -0.1, 60), r"target must be a ratio in \[0, 1\], got -0\.1",
                     id="target-negative"),
        pytest.param((430, 490, 0.9, -1), r"Need 0 <= numerator <= denominator and remaining >= 0",
                     id="remaining-negative"),
        pytest.param((11, 10, 0.9, 5), r"Need 0 <= numerator <= denominator", id="num-above-den"),
        pytest.param((-1, 10, 0.9, 5), r"Need 0 <= numerator <= denominator", id="num-negative"),
        pytest.param((pd.Series([1, 12]), 10, 0.9, 5), r"Need 0 <= numerator <= denominator",
                     id="one-bad-rep"),
    ],
)
def test_required_successes_invalid(args, match):
    numerator, denominator, target, remaining = args
    with pytest.raises(OptionError, match=match):
        required_successes(numerator, denominator, target, remaining=remaining)


@st.composite
def ratio_problems(draw):
    denominator = draw(st.integers(0, 2_000))
    numerator = draw(st.integers(0, denominator))
    remaining = draw(st.integers(0, 2_000))
    assume(denominator + remaining > 0)
    q = draw(st.integers(1, 100))
    target = Fraction(draw(st.integers(0, q)), q)
    return numerator, denominator, remaining, target


@given(ratio_problems())
@settings(max_examples=300, deadline=None)
def test_required_successes_is_the_minimum(problem):
    numerator, denominator, remaining, target = problem
    k = required_successes(numerator, denominator, float(target), remaining=remaining)
    total = denominator + remaining
    if k is NA:
        # Impossible: even if every remaining event succeeds, the ratio ends below target.
        assert Fraction(numerator + remaining, total) < target
    else:
        assert 0 <= k <= remaining
        assert Fraction(numerator + k, total) >= target                    # k reaches it
        if k > 0:
            assert Fraction(numerator + k - 1, total) < target             # k - 1 does not


@given(st.lists(ratio_problems(), min_size=1, max_size=5), st.integers(1, 20))
@settings(max_examples=50, deadline=None)
def test_required_successes_vectorised_matches_scalars(problems, q):
    target = 1 - 1 / (q + 1)
    num, den, rem = (pd.Series([p[i] for p in problems]) for i in range(3))
    got = required_successes(num, den, target, remaining=rem)
    expected = [required_successes(n, d, target, remaining=r) for n, d, r in zip(num, den, rem,
                                                                                  strict=True)]
    assert [None if v is NA else int(v) for v in got] == [None if v is NA else v for v in expected]


# --- required_new_customers -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("previous", "growth", "expected"),
    [
        (37, 0.20, 45),     # 44.4 -> 45
        (10, 0.20, 12),     # exactly 12 (12.000000000000002 in floating point)
        (25, 0.20, 30),
        (121, 0.20, 146),   # 145.2 -> 146
        (10, 0.0, 10),      # no growth: as many as before
        (10, -0.5, 5),      # a planned halving
        (0, 0.20, NA),      # growth over nothing is undefined
    ],
)
def test_required_new_customers(previous, growth, expected):
    got = required_new_customers(previous, growth=growth)
    if expected is NA:
        assert got is NA
    else:
        assert got == expected


def test_required_new_customers_series():
    previous = pd.Series([10, 0, 5], index=["north", "south", "east"])
    got = required_new_customers(previous, growth=0.2)
    pd.testing.assert_series_equal(
        got, pd.Series([12, NA, 6], index=["north", "south", "east"], dtype="Int64"))


@given(st.integers(1, 10_000), st.integers(0, 300))
@settings(max_examples=200, deadline=None)
def test_required_new_customers_is_the_minimum(previous, percent):
    growth = Fraction(percent, 100)
    n = required_new_customers(previous, growth=float(growth))
    assert Fraction(n - previous, previous) >= growth
    assert Fraction(n - 1 - previous, previous) < growth


# --- project_customers ----------------------------------------------------------------------

def recurrence(start: float, churn, new, periods: int) -> list[float]:
    """A(t) = A(t-1) x (1 - churn[t]) + new[t], one quarter at a time (constants or paths)."""
    churn = churn if isinstance(churn, list) else [churn] * periods
    new = new if isinstance(new, list) else [new] * periods
    active, out = start, []
    for c, n in zip(churn, new, strict=True):
        active = active * (1 - c) + n
        out.append(active)
    return out


COLUMNS = ["scenario", "period", "start", "churned", "new", "active", "retention", "churn"]


def test_project_customers_by_hand():
    # examples.accounts(): the latest event is on 2024-04-15, so the latest complete quarter is
    # 2024Q1; at its end A1 and A3 are active (A2 churned on 1 March, A4 starts in April): 2.
    # Churn 10%, 3 new a quarter: 2 x 0.9 + 3 = 4.8; 4.8 x 0.9 + 3 = 7.32; 7.32 x 0.9 + 3 = 9.588.
    got = project_customers(examples.accounts(), periods=3, churn_rate=0.1, new_per_period=3)
    assert list(got.columns) == COLUMNS
    assert [str(p) for p in got["period"]] == ["2024Q2", "2024Q3", "2024Q4"]
    assert list(got["start"]) == pytest.approx([2.0, 4.8, 7.32])
    assert list(got["churned"]) == pytest.approx([0.2, 0.48, 0.732])
    assert list(got["new"]) == [3.0, 3.0, 3.0]
    assert list(got["active"]) == pytest.approx([4.8, 7.32, 9.588])
    assert list(got["retention"]) == pytest.approx([0.9] * 3)
    assert list(got["churn"]) == pytest.approx([0.1] * 3)
    assert set(got["scenario"]) == {"base"}


def test_project_customers_a_list_is_one_path():
    # churn 10%, then none, then half; 1 new a quarter:
    # 2 x 0.9 + 1 = 2.8; 2.8 + 1 = 3.8; 3.8 x 0.5 + 1 = 2.9.
    got = project_customers(examples.accounts(), periods=3, churn_rate=[0.1, 0.0, 0.5],
                            new_per_period=1)
    assert set(got["scenario"]) == {"base"}
    assert list(got["churn"]) == pytest.approx([0.1, 0.0, 0.5])
    assert list(got["churned"]) == pytest.approx([0.2, 0.0, 1.9])
    assert list(got["active"]) == pytest.approx([2.8, 3.8, 2.9])
    # A path of new customers too: 2 + 5 = 7; 7 + 0 = 7; 7 x 0.5 + 2 = 5.5.
    got = project_customers(examples.accounts(), periods=3, churn_rate=[0.0, 0.0, 0.5],
                            new_per_period=[5, 0, 2])
    assert list(got["active"]) == pytest.approx([7.0, 7.0, 5.5])


def test_project_customers_a_quarter_that_loses_everyone():
    # Churn 100% in the first quarter: 2 x 0 + 3 = 3; then 3 + 3 = 6.
    got = project_customers(examples.accounts(), periods=2, churn_rate=[1.0, 0.0], new_per_period=3)
    assert list(got["active"]) == pytest.approx([3.0, 6.0])


def ten_new_customers() -> CrmData:
    """Ten customers won in 2024Q1 (none before), as of its last day."""
    return CrmData(accounts=pd.DataFrame({
        "account_id": [f"A{i}" for i in range(10)], "region": "north",
        "customer_since": [f"2024-{1 + i % 3:02d}-1{i % 3}" for i in range(10)],
        "churned_on": None}), as_of="2024-03-31")


def test_project_customers_growth_path_by_hand():
    # 10 new customers in 2024Q1, +20% a quarter: 12, 14.4, 17.28. No churn: the 10 active at
    # the end of 2024Q1 become 10 + 12 = 22, + 14.4 = 36.4, + 17.28 = 53.68.
    got = project_customers(ten_new_customers(), periods=3, churn_rate=0.0, new_growth=0.2)
    assert list(got["new"]) == pytest.approx([12.0, 14.4, 17.28])
    assert list(got["active"]) == pytest.approx([22.0, 36.4, 53.68])
    # A path of growth: +20%, flat, halved: 12, 12, 6.
    got = project_customers(ten_new_customers(), periods=3, churn_rate=0.0,
                            new_growth=[0.2, 0.0, -0.5])
    assert list(got["new"]) == pytest.approx([12.0, 12.0, 6.0])


def test_project_customers_dicts_are_named_scenarios():
    # Same names in both dicts pair up; a constant applies to every scenario.
    got = project_customers(examples.accounts(), periods=2,
                            churn_rate={"calm": 0.0, "rough": [0.5, 0.1]},
                            new_per_period={"rough": 1, "calm": 3})
    assert list(got["scenario"]) == ["calm", "calm", "rough", "rough"]
    # calm: 2 + 3 = 5, 5 + 3 = 8.  rough: 2 x 0.5 + 1 = 2, 2 x 0.9 + 1 = 2.8.
    assert list(got["active"]) == pytest.approx([5.0, 8.0, 2.0, 2.8])
    assert list(got["churn"]) == pytest.approx([0.0, 0.0, 0.5, 0.1])
    got = project_customers(ten_new_customers(), periods=2, churn_rate=0.1,
                            new_growth={"flat": 0.0, "+20%": 0.2})
    # flat: 10 x 0.9 + 10 = 19, 19 x 0.9 + 10 = 27.1.  +20%: 9 + 12 = 21, 18.9 + 14.4 = 33.3.
    assert list(got["scenario"]) == ["flat", "flat", "+20%", "+20%"]
    assert list(got["new"]) == pytest.approx([10.0, 10.0, 12.0, 14.4])
    assert list(got["active"]) == pytest.approx([19.0, 27.1, 21.0, 33.3])
    # Each quarter starts where the one before ended.
    for _, one in got.groupby("scenario"):
        assert list(one["start"].iloc[1:]) == pytest.approx(list(one["active"].iloc[:-1]))
        assert list(one["active"]) == pytest.approx(list(one["start"] - one["churned"] + one["new"]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"churn_rate": [0.1, 0.2]}, r"churn_rate is a path of 2 values for 3 periods",
                     id="path-too-short"),
        pytest.param({"new_per_period": {"a": [1, 2, 3, 4]}},
                     r"new_per_period\['a'\] is a path of 4 values for 3 periods", id="dict-path"),
        pytest.param({"churn_rate": {"a": 0.1}, "new_per_period": {"b": 2}},
                     r"names the scenarios \['b'\], another argument \['a'\]", id="other-names"),
        pytest.param({"new_per_period": 2, "new_growth": 0.2},
                     r"Give new_per_period or new_growth, not both", id="both"),
    ],
)
def test_project_customers_bad_paths(kwargs, match):
    with pytest.raises(OptionError, match=match):
        project_customers(examples.accounts(), periods=3, **kwargs)


@given(churn=st.lists(st.floats(0, 1), min_size=1, max_size=12), new=st.floats(0, 500))
@settings(max_examples=60, deadline=None)
def test_project_customers_closed_form_is_the_recurrence(churn, new):
    got = project_customers(examples.accounts(), periods=len(churn), churn_rate=churn,
                            new_per_period=new)
    assert list(got["active"]) == pytest.approx(recurrence(2.0, churn, new, len(churn)),
                                                rel=1e-9, abs=1e-9)


def test_project_customers_defaults_from_history():
    # Last four complete quarters 2023Q2..2024Q1 of examples.accounts():
    # churn rate: NaN, NaN, NaN (no customers on the first days), 2024Q1: A1 active on
    # 1 January and still there on 31 March -> 0 / 1 = 0.  Mean of the defined ones: 0.
    # new customers: 0, 0, 1 (A1), 2 (A2, A3) -> 0.75 a quarter.
    got = project_customers(examples.accounts(), periods=2)
    assert list(got["churn"]) == [0.0, 0.0]
    assert list(got["new"]) == [0.75, 0.75]
    assert list(got["active"]) == pytest.approx([2.75, 3.5])


def test_project_customers_fiscal_quarters():
    # A year starting in April: 2024Q1 (January-March) is FY2024 Q4; the next is FY2025 Q1.
    got = project_customers(examples.accounts(), periods=2, churn_rate=0.0, new_per_period=1,
                            fiscal_year_start=4)
    assert [str(p) for p in got["period"]] == ["2025Q1", "2025Q2"]
    assert got["period"].iloc[0].freqstr == "Q-MAR"
    assert list(got["active"]) == pytest.approx([3.0, 4.0])


def test_project_customers_defaults_on_the_sample_are_finite(sample):
    got = project_customers(sample, periods=4)
    assert len(got) == 4
    assert [str(p) for p in got["period"]] == ["2026Q4", "2027Q1", "2027Q2", "2027Q3"]
    numbers = got[["start", "churned", "new", "active", "retention", "churn"]]
    assert np.isfinite(numbers.to_numpy()).all()
    assert 0 < got["churn"].iloc[0] < 1
    assert (got["active"] > 0).all()


@pytest.mark.parametrize("periods", [0, -1, 2.5, "4", True])
def test_project_customers_bad_periods(periods):
    with pytest.raises(OptionError, match=r"periods must be a whole number >= 1"):
        project_customers(examples.accounts(), periods=periods)


def test_project_customers_without_dates():
    data = CrmData(reps=pd.DataFrame({"rep_id": ["R1"], "hired_on": ["2020-01-01"]}))
    with pytest.raises(OptionError, match=r"project_customers needs accounts with at least one date"):
        project_customers(data, periods=2)


# --- revenue_grid ---------------------------------------------------------------------------

def test_revenue_grid_by_hand():
    # examples.deals(): the latest event is D4's close on 2024-04-02, so the quarter is 2024Q2;
    # D4 (10 000) is already won in it; D5 is the one open deal.
    # projected = 10 000 + 1 x rate x size.
    got = revenue_grid(examples.deals(), win_rates=[0.2, 0.5], deal_sizes=[40_000, 10_000],
                       target=25_000)
    assert list(got.columns) == ["period", "win_rate", "deal_size", "open_deals", "booked",
                                 "projected", "target", "attainment", "meets"]
    assert set(got["period"].astype(str)) == {"2024Q2"}
    assert list(got["win_rate"]) == [0.2, 0.2, 0.5, 0.5]
    assert list(got["deal_size"]) == [40_000, 10_000, 40_000, 10_000]
    assert list(got["open_deals"]) == [1] * 4
    assert list(got["booked"]) == [10_000] * 4
    # 10 000 + 0.2 x 40 000; + 0.2 x 10 000; + 0.5 x 40 000; + 0.5 x 10 000
    assert list(got["projected"]) == pytest.approx([18_000, 12_000, 30_000, 15_000])
    assert list(got["attainment"]) == pytest.approx([0.72, 0.48, 1.2, 0.6])
    assert list(got["meets"]) == [False, False, True, False]


def test_revenue_grid_given_quarter_and_a_target_hit_exactly():
    # 2024Q1: D1 (60 000) and D2 (20 000) won, D3 lost: booked 80 000.
    got = revenue_grid(examples.deals(), win_rates=[0.25, 0.5], deal_sizes=[40_000],
                       target=100_000, period="2024Q1")
    assert list(got["booked"]) == [80_000, 80_000]
    assert list(got["projected"]) == pytest.approx([90_000, 100_000])
    assert list(got["meets"]) == [False, True]        # 100 000 is the target: met


def test_revenue_grid_fiscal_quarters():
    # A year starting in April: "2024Q4" is FY2024 Q4 = January-March 2024, booked 80 000;
    # by default the quarter in progress on 2 April 2024 is FY2025 Q1 (April-June), booked 10 000.
    got = revenue_grid(examples.deals(), win_rates=[0.5], deal_sizes=[40_000], target=1,
                       period="2024Q4", fiscal_year_start=4)
    assert list(got["booked"]) == [80_000]
    got = revenue_grid(examples.deals(), win_rates=[0.5], deal_sizes=[40_000], target=1,
                       fiscal_year_start=4)
    assert got["period"].iloc[0] == pd.Period("2025Q1", "Q-MAR")
    assert list(got["booked"]) == [10_000]


def test_revenue_grid_after_a_quarter_ends():
    # Declared as of 30 June 2024, the end of 2024Q2: the grid plays 2024Q3, nothing booked yet.
    data = CrmData(deals=examples.deals().deals, as_of="2024-06-30")
    got = revenue_grid(data, win_rates=[0.5], deal_sizes=[40_000], target=1)
    assert str(got["period"].iloc[0]) == "2024Q3"
    assert list(got["booked"]) == [0.0]


def test_revenue_grid_needs_deals():
    with pytest.raises(OptionError, match=r"revenue_grid needs the deals table"):
        revenue_grid(examples.accounts(), win_rates=[0.5], deal_sizes=[1_000], target=1)


# --- attainment_probability -----------------------------------------------------------------

def monthly_csat(*responses: tuple[str, int]) -> CrmData:
    """One CSAT response per (day, score), at noon UTC."""
    return CrmData(surveys=pd.DataFrame({
        "response_id": [f"S{i}" for i in range(1, len(responses) + 1)], "account_id": "A1",
        "responded_at": [f"{day}T12:00:00Z" for day, _ in responses],
        "csat": pd.array([score for _, score in responses], dtype="Int64")}))


# January: 1/1 happy, February 0/1, March 1/1; the data ends on 31 March, so 2024Q1 is complete
# and the quarter simulated is 2024Q2: each of its three months is drawn from January, February
# and March, a happy month with probability 2/3. The quarter's CSAT is (happy months) / 3.
THREE_MONTHS = [("2024-01-10", 5), ("2024-02-10", 1), ("2024-03-31", 5)]


@pytest.mark.parametrize(
    ("target", "direction", "expected"),
    [
        (0.9, "at_least", Fraction(8, 27)),     # all three happy: (2/3)^3
        (0.6, "at_least", Fraction(20, 27)),    # two or three: 3 (2/3)^2 (1/3) + 8/27
        (0.34, "at_most", Fraction(7, 27)),     # none or one: 1/27 + 3 (2/3)(1/3)^2
        (0.0, "at_least", Fraction(1)),         # certain
        (1.01, "at_least", Fraction(0)),        # impossible
    ],
)
def test_attainment_probability_by_hand(target, direction, expected):
    data = monthly_csat(*THREE_MONTHS)
    p = attainment_probability(data, "csat", target=target, direction=direction, draws=20_000)
    # 20 000 draws: the standard error is at most 0.0035.
    assert p == pytest.approx(float(expected), abs=0.02)


def test_attainment_probability_keeps_the_months_already_seen():
    # A happy response on 30 April: April is complete (2024Q2 is not), so April's 1/1 is kept
    # and May and June are drawn from January-April, a happy month with probability 3/4.
    # CSAT = (1 + happy draws) / 3 >= 0.9 needs both: (3/4)^2.
    data = monthly_csat(*THREE_MONTHS, ("2024-04-30", 5))
    p = attainment_probability(data, "csat", target=0.9, draws=20_000)
    assert p == pytest.approx(9 / 16, abs=0.02)


@pytest.mark.parametrize(
    ("target", "direction", "expected"),
    [(0.9, "at_least", 0.0), (0.6, "at_least", 1.0), (0.7, "at_most", 1.0), (0.6, "at_most", 0.0)],
)
def test_attainment_probability_of_a_quarter_already_over(target, direction, expected):
    # 2024Q1 is fully observed: its CSAT is 2/3 (a ratio, though every month has one response).
    data = monthly_csat(*THREE_MONTHS)
    p = attainment_probability(data, "csat", target=target, direction=direction, period="2024Q1")
    assert p == expected


def won_deals() -> CrmData:
    """Won deals of 100, 200 and 300 in January, February and March 2024 (the last on 31 March)."""
    closed = ["2024-01-15", "2024-02-15", "2024-03-31"]
    return CrmData(deals=pd.DataFrame({
        "deal_id": ["D1", "D2", "D3"], "account_id": "A1", "created_on": closed,
        "closed_on": closed, "stage": "won", "amount": [100.0, 200.0, 300.0],
        "deal_type": "new_business", "channel": "direct"}))


@pytest.mark.parametrize(
    ("target", "direction", "expected"),
    [
        (900, "at_least", Fraction(1, 27)),     # three months of 300
        (301, "at_least", Fraction(26, 27)),    # anything but three of 100
        (300, "at_least", Fraction(1)),         # the least a quarter can make
        (300, "at_most", Fraction(1, 27)),
    ],
)
def test_attainment_probability_of_a_sum(target, direction, expected):
    # Revenue is a sum: the quarter's value is the sum of its three drawn months.
    p = attainment_probability(won_deals(), "revenue", target=target, direction=direction,
                               draws=20_000)
    assert p == pytest.approx(float(expected), abs=0.01)


def test_attainment_probability_takes_a_goal():
    data = monthly_csat(*THREE_MONTHS)
    goal = Goal("csat", "Q", 0.6, "at_least")
    assert attainment_probability(data, goal, seed=3) == attainment_probability(
        data, "csat", target=0.6, seed=3)


def test_attainment_probability_same_seed_same_answer(sample):
    first = attainment_probability(sample, "csat", target=0.9, seed=7, draws=2_000)
    again = attainment_probability(sample, "csat", target=0.9, seed=7, draws=2_000)
    assert first == again
    assert 0.0 < first < 1.0


@pytest.mark.parametrize(
    ("kpi", "target", "expected"),
    [("csat", 0.0, 1.0), ("csat", 1.01, 0.0), ("revenue", 0.0, 1.0), ("revenue", 1e12, 0.0)],
)
def test_attainment_probability_certain_and_impossible_on_the_sample(sample, kpi, target, expected):
    assert attainment_probability(sample, kpi, target=target, draws=500) == expected


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"goal": "first_response_hours", "target": 4},
                     r"cannot simulate 'first_response_hours': a median", id="median"),
        pytest.param({"goal": "market_share_delta", "target": 0.01},
                     r"cannot simulate 'market_share_delta': a difference", id="difference"),
        pytest.param({"goal": "sales", "target": 1}, r"Unknown KPI 'sales'", id="unknown-kpi"),
        pytest.param({"goal": "csat", "target": 0.9, "draws": 0}, r"draws must be a whole number",
                     id="no-draws"),
        pytest.param({"goal": "csat"}, r"Give a target and direction", id="no-target"),
        pytest.param({"goal": "csat", "target": 0.9, "direction": "above"},
                     r"Give a target and direction='at_least' or 'at_most'", id="bad-direction"),
    ],
)
def test_attainment_probability_bad_options(kwargs, match):
    with pytest.raises(OptionError, match=match):
        attainment_probability(monthly_csat(*THREE_MONTHS), **kwargs)


def test_attainment_probability_without_history():
    # Responses only in April, up to the 15th: the latest complete month is March, which has
    # no responses, and 2024Q2 has no complete month yet: nothing to draw from.
    data = monthly_csat(("2024-04-02", 5), ("2024-04-15", 4))
    with pytest.raises(OptionError, match=r"No monthly history of csat"):
        attainment_probability(data, "csat", target=0.9)


def test_attainment_probability_without_as_of():
    data = CrmData(reps=pd.DataFrame({"rep_id": ["R1"], "hired_on": ["2020-01-01"]}))
    with pytest.raises(OptionError, match=r"needs data with an as-of date"):
        attainment_probability(data, "senior_reps", target=1)


def test_attainment_probability_month_in_progress():
    # As of 15 April (15 of April's 30 days): April keeps its happy response (1 of 1) and adds
    # half a drawn month; May and June are drawn whole, from January (1/1), February (0/1) and
    # March (1/1). With a, b, c the happy draws: CSAT = (1 + a/2 + b + c) / 3.5.
    # >= 0.9 needs 3.15: all three (8/27).  >= 0.8 needs 2.8: also a = 0, b = c = 1 (4/27).
    data = monthly_csat(*THREE_MONTHS, ("2024-04-15", 5))
    assert data.as_of == pd.Timestamp("2024-04-15")
    p = attainment_probability(data, "csat", target=0.9, draws=20_000)
    assert p == pytest.approx(8 / 27, abs=0.02)
    p = attainment_probability(data, "csat", target=0.8, draws=20_000)
    assert p == pytest.approx(12 / 27, abs=0.02)


def test_attainment_probability_fiscal_label():
    # Responses April-June 2026 (happy, unhappy, happy) and a happy one on 31 July 2026, the
    # as-of date. With a year starting in April, "2027Q2" is FY2027 Q2 = July-September 2026:
    # July's 1/1 is kept and August and September are drawn from April-July (3 happy of 4):
    # >= 90% needs both happy, (3/4)^2.
    data = monthly_csat(("2026-04-10", 5), ("2026-05-10", 1), ("2026-06-30", 5), ("2026-07-31", 5))
    p = attainment_probability(data, "csat", target=0.9, period="2027Q2", fiscal_year_start=4,
                               draws=20_000)
    assert p == pytest.approx(9 / 16, abs=0.02)
    # The calendar 2026Q3 is the same quarter; "2027Q2" in calendar years is April-June 2027,
    # which begins after the quarter in progress on as_of: refused.
    same = attainment_probability(data, "csat", target=0.9, period="2026Q3", draws=20_000)
    assert same == p
    with pytest.raises(repkpi.OptionError, match=r"as_of\) 2026-07-31.*2026 Q3, not 2027 Q2"):
        attainment_probability(data, "csat", target=0.9, period="2027Q2", draws=20_000)
    # FY2027 Q1 = April-June 2026 is over: its CSAT is 2/3.
    assert attainment_probability(data, "csat", target=0.6, period="2027Q1",
                                  fiscal_year_start=4) == 1.0
    assert attainment_probability(data, "csat", target=0.7, period="2027Q1",
                                  fiscal_year_start=4) == 0.0


def test_attainment_probability_of_a_year():
    # As of 31 March 2024. The calendar year 2024 keeps January-March (2 happy of 3) and draws
    # April-December: >= 90% of 12 needs all 9 happy, (2/3)^9 = 0.026. A fiscal year from April:
    # FY2025 (April 2024 - March 2025) starts next, 12 months drawn: >= 10.8 happy of 12 needs 11
    # or 12: (2/3)^12 + 12 (2/3)^11 (1/3) = 0.054.
    data = monthly_csat(*THREE_MONTHS)
    goal = Goal("csat", "Y", 0.9, "at_least")
    p = attainment_probability(data, goal, draws=40_000)
    assert p == pytest.approx((2 / 3) ** 9, abs=0.006)
    p = attainment_probability(data, goal, draws=40_000, fiscal_year_start=4)
    assert p == pytest.approx((2 / 3) ** 12 + 4 * (2 / 3) ** 11, abs=0.008)


def monthly_new_customers(*counts: tuple[str, int]) -> CrmData:
    """``count`` customers won on each day, the first of them 1 in December 2023."""
    days = [day for day, n in counts for _ in range(n)]
    return CrmData(accounts=pd.DataFrame({
        "account_id": [f"A{i}" for i in range(len(days))], "region": "north",
        "customer_since": days, "churned_on": None}))


@pytest.mark.parametrize(
    ("target", "direction", "expected"),
    [
        # 2024Q1 won 1 + 2 + 3 = 6. Each month of 2024Q2 is drawn from January (1), February (2)
        # and March (3) (December, the first month, has no growth to read its count from).
        (0.2, "at_least", Fraction(4, 27)),    # >= 7.2: 9 (3,3,3) or 8 (3,3,2 in 3 orders)
        (0.0, "at_least", Fraction(17, 27)),   # >= 6: 1 + 3 + (3 + 3) + (1 + 6) orders
        (-0.5, "at_most", Fraction(1, 27)),    # <= 3: (1,1,1)
    ],
)
def test_attainment_probability_of_growth(target, direction, expected):
    data = monthly_new_customers(("2023-12-01", 1), ("2024-01-10", 1), ("2024-02-10", 2),
                                 ("2024-03-31", 3))
    goal = Goal("new_customer_growth", "Q", target, direction)
    assert attainment_probability(data, goal, draws=20_000) == pytest.approx(float(expected),
                                                                             abs=0.02)


def churning_book() -> CrmData:
    """X1 (since December 2023) leaves on 1 January 2024; X2, X3, X4 join in January-March.

    Monthly churn: January 1 of 1 (rate 1), February 0 of 1, March 0 of 2. As of 31 March,
    2024Q2 opens with X2, X3, X4.
    """
    return CrmData(accounts=pd.DataFrame({
        "account_id": ["X1", "X2", "X3", "X4"], "region": "north",
        "customer_since": ["2023-12-01", "2024-01-15", "2024-02-10", "2024-03-31"],
        "churned_on": ["2024-01-01", None, None, None]}))


@pytest.mark.parametrize(
    ("goal", "expected"),
    [
        # Each month of 2024Q2 draws January's rate 1 or a rate 0: one January loses the whole
        # book (churn 1, retention 0); three zeros keep it (churn 0, retention 1): (2/3)^3.
        (Goal("churn_rate", "Q", 0.05, "at_most"), Fraction(8, 27)),
        (Goal("churn_rate", "Q", 1.0, "at_least"), Fraction(19, 27)),
        (Goal("retention_rate", "Q", 0.95, "at_least"), Fraction(8, 27)),
        (Goal("retention_rate", "Q", 0.0, "at_most"), Fraction(19, 27)),
    ],
)
def test_attainment_probability_of_churn_and_retention(goal, expected):
    assert attainment_probability(churning_book(), goal, draws=20_000) == pytest.approx(
        float(expected), abs=0.02)


@pytest.mark.parametrize(
    ("goal", "period", "expected"),
    [
        # 2024Q1 opens with X1 alone, who leaves on 1 January: churn 1, retention 0 (decided).
        (Goal("churn_rate", "Q", 0.05, "at_most"), "2024Q1", 0.0),
        (Goal("churn_rate", "Q", 0.5, "at_least"), "2024Q1", 1.0),
        (Goal("retention_rate", "Q", 0.95, "at_least"), "2024Q1", 0.0),
        (Goal("new_customers", "Q", 3, "at_least"), "2024Q1", 1.0),    # X2, X3, X4
        (Goal("new_customer_growth", "Q", 2.0, "at_least"), "2024Q1", 1.0),   # 3 after 1: +200%
        (Goal("new_customer_growth", "Q", 2.01, "at_least"), "2024Q1", 0.0),
    ],
)
def test_attainment_probability_decided(goal, period, expected):
    assert attainment_probability(churning_book(), goal, period=period) == expected


def senior_team() -> CrmData:
    """Three reps: senior (3 years in) from January 2023, 15 July 2024 and 10 September 2024."""
    return CrmData(reps=pd.DataFrame({
        "rep_id": ["R1", "R2", "R3"], "hired_on": ["2020-01-01", "2021-07-15", "2021-09-10"],
        "left_on": None}), as_of="2024-09-30")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        # 3 seniors at the end of September; the last three changes are July +1, August 0,
        # September +1. October-December each draw +1 (2/3) or 0 (1/3).
        (6, Fraction(8, 27)),                   # three +1
        (5, Fraction(20, 27)),                  # two or three: 12/27 + 8/27
        (3, Fraction(1)),                       # no change can go down
        (7, Fraction(0)),
    ],
)
def test_attainment_probability_of_a_state(target, expected):
    goal = Goal("senior_reps", "Y", target, "at_least")
    p = attainment_probability(senior_team(), goal, history=3, draws=20_000)
    assert p == pytest.approx(float(expected), abs=0.02)


def test_attainment_probability_of_a_state_already_over():
    # 2023 ended with R1 alone senior (R2 becomes senior in July 2024).
    goal = Goal("senior_reps", "Y", 1, "at_least")
    assert attainment_probability(senior_team(), goal, period="2023") == 1.0
    assert attainment_probability(senior_team(), goal, target=2, period="2023") == 0.0


def test_attainment_probability_of_the_market_rank():
    # examples.market(), by quarter: 2024Q1 ours 400 against X 550 and Y 250 (rank 2); 2024Q2
    # ours 200 against X 550 and Y 350 (rank 3). Declared as of 30 June 2024, 2024Q2 is over and
    # 2024Q3, the next quarter, draws one of them whole: 1/2 each.
    goal = Goal("market_rank", "Q", 2, "at_most")
    book = examples.market()
    june = CrmData(accounts=book.accounts, deals=book.deals, market=book.market, as_of="2024-06-30")
    p = attainment_probability(june, goal, period="2024Q3", draws=20_000)
    assert p == pytest.approx(0.5, abs=0.02)
    assert attainment_probability(june, goal, period="2024Q1") == 1.0
    assert attainment_probability(june, goal, period="2024Q2") == 0.0
    # As recorded (as of 1 May, the last deal), 2024Q2 is in progress and 2024Q3 not playable.
    with pytest.raises(repkpi.OptionError, match=r"(?s)2024 Q2, not 2024 Q3.*--as-of"):
        attainment_probability(book, goal, period="2024Q3")


PLAN_TARGETS = {
    "new_customer_growth": [-0.5, 0.0, 0.2, 0.5], "csat": [0.8, 0.86, 0.9, 0.95],
    "large_deals": [0, 2, 4, 8], "retention_rate": [0.9, 0.95, 0.97, 1.0],
    "churn_rate": [0.02, 0.04, 0.05, 0.1], "cross_sell_rate": [0.05, 0.1, 0.2, 0.5],
    "key_accounts": [3, 5, 6, 9], "market_rank": [1, 2, 3, 4], "senior_reps": [8, 10, 12, 14],
}


@pytest.mark.parametrize("goal", repkpi.DEFAULT_GOALS, ids=[g.kpi for g in repkpi.DEFAULT_GOALS])
def test_attainment_probability_of_every_plan_goal(sample, goal):
    # The sample runs to 30 September 2026: the quarterly goals play 2026Q4, the yearly ones 2026.
    # Same seed, same draws: a harder target is never likelier.
    assert set(PLAN_TARGETS) == {g.kpi for g in repkpi.DEFAULT_GOALS}
    targets = PLAN_TARGETS[goal.kpi]
    p = [attainment_probability(sample, goal, target=t, draws=2_000, seed=1) for t in targets]
    assert all(0.0 <= x <= 1.0 for x in p)
    if goal.direction == "at_least":
        assert p == sorted(p, reverse=True)
    else:
        assert p == sorted(p)
    assert attainment_probability(sample, goal, draws=2_000, seed=1) == p[targets.index(goal.target)]


@pytest.mark.parametrize("goal", repkpi.DEFAULT_GOALS, ids=[g.kpi for g in repkpi.DEFAULT_GOALS])
def test_attainment_probability_of_every_plan_goal_is_decided_when_over(sample, goal):
    # 2026Q3 ended on the as-of date; so did FY2027's first half, not a fiscal year: use 2025.
    period = "2026Q3" if goal.freq == "Q" else "2025"
    p = attainment_probability(sample, goal, period=period)
    card = repkpi.scorecard(sample, [goal], period=period)
    assert p == (1.0 if card["status"].iloc[0] == "met" else 0.0)


def test_current_period():
    # examples.accounts() runs to 15 April 2024; the sample to 30 September 2026, a quarter's end.
    assert current_period(examples.accounts(), "Q") == pd.Period("2024Q2", "Q-DEC")
    assert current_period(examples.accounts(), "Y", fiscal_year_start=4) == pd.Period("2025", "Y-MAR")
    assert current_period(repkpi.load_sample(), "Q") == pd.Period("2026Q4", "Q-DEC")
    assert current_period(repkpi.load_sample(), "M") == pd.Period("2026-10", "M")


# --- goal_seek ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("func", "target", "lo", "hi", "expected"),
    [
        # 10 open deals of 40 000: a win rate of 37.5% makes 150 000.
        pytest.param(lambda r: 10 * r * 40_000, 150_000, 0.0, 1.0, 0.375, id="increasing"),
        pytest.param(lambda x: 100 - 50 * x, 25, 0.0, 3.0, 1.5, id="decreasing"),
        pytest.param(lambda x: x**3, 8, 0.0, 10.0, 2.0, id="cubic"),
        pytest.param(lambda x: 2 * x, 0, 0.0, 5.0, 0.0, id="at-lo"),
        pytest.param(lambda x: 2 * x, 10, 0.0, 5.0, 5.0, id="at-hi"),
        pytest.param(lambda r: 10 * r * 40_000, 150_000, 1.0, 0.0, 0.375, id="reversed-bounds"),
    ],
)
def test_goal_seek_by_hand(func, target, lo, hi, expected):
    assert goal_seek(func, target, lo=lo, hi=hi) == pytest.approx(expected, abs=1e-8)


def test_goal_seek_tolerance():
    x = goal_seek(lambda x: 3 * x + 1, 2, lo=0.0, hi=1.0, tol=1e-3)   # root 1/3
    assert abs(x - 1 / 3) < 1e-3


@pytest.mark.parametrize(("lo", "hi"), [(0.0, 0.3), (0.5, 1.0)])
def test_goal_seek_not_bracketed(lo, hi):
    with pytest.raises(OptionError, match=r"The target 150,000 is not bracketed"):
        goal_seek(lambda r: 10 * r * 40_000, 150_000, lo=lo, hi=hi)


@given(
    slope=st.one_of(st.floats(-100, -0.01), st.floats(0.01, 100)),
    intercept=st.floats(-1_000, 1_000),
    lo=st.floats(-100, 100),
    width=st.floats(0.1, 100),
    where=st.floats(0, 1),
)
@settings(max_examples=300, deadline=None)
def test_goal_seek_hits_the_target_of_monotone_affine_functions(slope, intercept, lo, width, where):
    hi = lo + width
    root = lo + where * width

    def func(x: float) -> float:
        return slope * x + intercept

    target = func(root)
    x = goal_seek(func, target, lo=lo, hi=hi, tol=1e-9)
    assert lo <= x <= hi
    assert math.isclose(func(x), target, abs_tol=1e-6)


# --- a goal's options: the business clock ------------------------------------------------------
LONDON = {"timezone": "Europe/London",
          "hours": {d: "08:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")}}


def test_attainment_probability_reads_the_goals_options(sample):
    # 2026Q3 is decided on 30 September 2026: the sample's SLA then is 88.5% on the calendar
    # clock and 96.5% in London business hours; a 95% goal is missed on one, met on the other.
    business = Goal("sla_compliance", "Q", 0.95, "at_least",
                    options={"clock": "business", "calendar": LONDON})
    plain = Goal("sla_compliance", "Q", 0.95, "at_least")
    assert attainment_probability(sample, plain, period="2026Q3") == 0.0
    assert attainment_probability(sample, business, period="2026Q3") == 1.0
    assert attainment_probability(sample, "sla_compliance", target=0.95, period="2026Q3",
                                  options={"clock": "business", "calendar": LONDON}) == 1.0
    # The quarter to come is simulated on the goal's clock too: likelier met in business hours.
    later = [attainment_probability(sample, goal, draws=2_000) for goal in (plain, business)]
    assert later[0] < 0.5 < later[1]
    with pytest.raises(OptionError, match="takes no option 'colour'"):
        attainment_probability(sample, "sla_compliance", target=0.95, options={"colour": 1})
