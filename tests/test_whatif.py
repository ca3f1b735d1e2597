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

def recurrence(start: float, churn: float, new: float, periods: int) -> list[float]:
    """A(t) = A(t-1) x (1 - churn) + new, one quarter at a time."""
    active, out = start, []
    for _ in range(periods):
        active = active * (1 - churn) + new
        out.append(active)
    return out


def test_project_customers_by_hand():
    # examples.accounts(): the latest event is on 2024-04-15, so the latest complete quarter is
    # 2024Q1; at its end A1 and A3 are active (A2 churned on 1 March, A4 starts in April): 2.
    # Churn 10%, 3 new a quarter: 2 x 0.9 + 3 = 4.8; 4.8 x 0.9 + 3 = 7.32; 7.32 x 0.9 + 3 = 9.588.
    got = project_customers(examples.accounts(), periods=3, churn_rate=0.1, new_per_period=3)
    assert list(got.columns) == ["scenario", "churn_rate", "new_per_period", "period", "start",
                                 "churned", "new", "active", "retention", "churn"]
    assert [str(p) for p in got["period"]] == ["2024Q2", "2024Q3", "2024Q4"]
    assert list(got["start"]) == pytest.approx([2.0, 4.8, 7.32])
    assert list(got["churned"]) == pytest.approx([0.2, 0.48, 0.732])
    assert list(got["new"]) == [3.0, 3.0, 3.0]
    assert list(got["active"]) == pytest.approx([4.8, 7.32, 9.588])
    assert list(got["retention"]) == pytest.approx([0.9] * 3)
    assert list(got["churn"]) == pytest.approx([0.1] * 3)
    assert set(got["scenario"]) == {0}


def test_project_customers_several_scenarios_at_once():
    # Every (churn, new) combination, churn first: (0.1, 3), (0.1, 1), (0, 3), (0, 1).
    got = project_customers(examples.accounts(), periods=4, churn_rate=[0.1, 0.0],
                            new_per_period=[3, 1])
    assert list(got["scenario"]) == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4
    assert list(got["churn_rate"]) == [0.1] * 8 + [0.0] * 8
    assert list(got["new_per_period"]) == [3.0] * 4 + [1.0] * 4 + [3.0] * 4 + [1.0] * 4
    expected = (recurrence(2, 0.1, 3, 4) + recurrence(2, 0.1, 1, 4)
                + [5.0, 8.0, 11.0, 14.0] + [3.0, 4.0, 5.0, 6.0])      # no churn: 2 + n t
    assert list(got["active"]) == pytest.approx(expected)
    # Each quarter starts where the one before ended.
    for _, one in got.groupby("scenario"):
        assert list(one["start"].iloc[1:]) == pytest.approx(list(one["active"].iloc[:-1]))
        assert list(one["active"]) == pytest.approx(list(one["start"] - one["churned"] + one["new"]))


@given(churn=st.floats(0, 1), new=st.floats(0, 500), periods=st.integers(1, 12))
@settings(max_examples=60, deadline=None)
def test_project_customers_closed_form_is_the_recurrence(churn, new, periods):
    got = project_customers(examples.accounts(), periods=periods, churn_rate=churn,
                            new_per_period=new)
    assert list(got["active"]) == pytest.approx(recurrence(2.0, churn, new, periods), rel=1e-9,
                                                abs=1e-9)


def test_project_customers_defaults_from_history():
    # Last four complete quarters 2023Q2..2024Q1 of examples.accounts():
    # churn rate: NaN, NaN, NaN (no customers on the first days), 2024Q1: A1 active on
    # 1 January and still there on 31 March -> 0 / 1 = 0.  Mean of the defined ones: 0.
    # new customers: 0, 0, 1 (A1), 2 (A2, A3) -> 0.75 a quarter.
    got = project_customers(examples.accounts(), periods=2)
    assert list(got["churn_rate"]) == [0.0, 0.0]
    assert list(got["new_per_period"]) == [0.75, 0.75]
    assert list(got["active"]) == pytest.approx([2.75, 3.5])


def test_project_customers_defaults_on_the_sample_are_finite(sample):
    got = project_customers(sample, periods=4)
    assert len(got) == 4
    assert [str(p) for p in got["period"]] == ["2026Q4", "2027Q1", "2027Q2", "2027Q3"]
    numbers = got[["churn_rate", "new_per_period", "start", "churned", "new", "active"]]
    assert np.isfinite(numbers.to_numpy()).all()
    assert 0 < got["churn_rate"].iloc[0] < 1
    assert (got["active"] > 0).all()


@pytest.mark.parametrize("periods", [0, -1, 2.5, "4"])
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
    # and May and June are drawn. CSAT = (1 + happy draws) / 3 >= 0.9 needs both: (2/3)^2.
    data = monthly_csat(*THREE_MONTHS, ("2024-04-30", 5))
    p = attainment_probability(data, "csat", target=0.9, draws=20_000)
    assert p == pytest.approx(4 / 9, abs=0.02)


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
        pytest.param({"goal": "churn_rate", "target": 0.05}, r"cannot simulate 'churn_rate'",
                     id="unsupported-kpi"),
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
    with pytest.raises(OptionError, match=r"The target 150000 is not bracketed"):
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
