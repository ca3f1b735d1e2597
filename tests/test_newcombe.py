"""Is the change real? Newcombe's interval of a change, and where it shows (analysis.md).

The interval is method 10 of Newcombe (1998), "Interval estimation for the
difference between independent proportions: comparison of eleven methods",
Statistics in Medicine 17:873-890: the hybrid score interval built on the
Wilson intervals of the two proportions. It is checked

- against the paper's own worked examples (its Table II, method 10, 95%
  limits to four decimals). Examples (a) and (b) are also reproduced by the
  tests of the R package propint (m-Py/propint,
  tests/testthat/test_Two_Independent_Props_CI.R), example (d) by those of
  ratesci (petelaud/ratesci, tests/testthat/test3.R);
- against Fagerland, Lydersen & Laake (2015)'s example 7/34 against 1/34,
  as statsmodels' own test suite quotes it (statsmodels/stats/tests/
  test_proportion.py, ``test_confint_2indep``: 0.019 to 0.340);
- against statsmodels' ``confint_proportions_2indep(..., method="newcomb",
  compare="diff")`` on many random pairs, 0 and n successes and tiny n
  included (statsmodels is a test dependency only: the dev extra).

Then the scorecard and ``explain``'s total row carry it for the KPIs that are
shares of counts, read from their declarations, and NA for the others.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

import repkpi
from repkpi.kpis.intervals import change_interval, newcombe_interval

# Newcombe (1998), Table II, method 10 (95%): (x1, n1, x0, n0) -> (lower, upper) of x1/n1 - x0/n0.
PAPER = {
    "a": ((56, 70, 48, 80), (0.0524, 0.3339)),
    "b": ((9, 10, 3, 10), (0.1705, 0.8090)),
    "c": ((6, 7, 2, 7), (0.0582, 0.8062)),
    "d": ((5, 56, 0, 29), (-0.0381, 0.1926)),
    "e": ((0, 10, 0, 20), (-0.1611, 0.2775)),
    "f": ((10, 10, 0, 20), (0.6791, 1.0000)),
}


@pytest.mark.parametrize("example", sorted(PAPER))
def test_newcombes_worked_examples(example):
    (x1, n1, x0, n0), expected = PAPER[example]
    lower, upper = newcombe_interval([x1], [n1], [x0], [n0])
    assert [round(float(lower[0]), 4), round(float(upper[0]), 4)] == list(expected)


def test_all_examples_at_once():
    counts = np.array([pair for pair, _ in PAPER.values()], dtype=float)
    lower, upper = newcombe_interval(*counts.T)
    assert np.round(np.column_stack([lower, upper]), 4).tolist() == \
        [list(limits) for _, limits in PAPER.values()]


def test_fagerland_example_quoted_by_statsmodels():
    lower, upper = newcombe_interval([7], [34], [1], [34])
    assert [round(float(lower[0]), 3), round(float(upper[0]), 3)] == [0.019, 0.340]


@pytest.mark.parametrize("ci", [0.95, 0.9, 0.99])
def test_agrees_with_statsmodels_on_many_random_pairs(ci):
    rng = np.random.default_rng(24)
    size = 5000
    n1 = rng.integers(1, 300, size)
    n0 = rng.integers(1, 300, size)
    n1[:500], n0[:500] = rng.integers(1, 6, 500), rng.integers(1, 6, 500)  # tiny n
    x1 = rng.binomial(n1, rng.uniform(0, 1, size))
    x0 = rng.binomial(n0, rng.uniform(0, 1, size))
    x1[500:700], x0[600:800] = 0, n0[600:800]  # no success; every trial a success
    x1[800:900] = n1[800:900]
    lower, upper = newcombe_interval(x1, n1, x0, n0, ci)
    ref_lower, ref_upper = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb",
                                                      compare="diff", alpha=1 - ci)
    np.testing.assert_allclose(lower, ref_lower, rtol=0, atol=1e-12)
    np.testing.assert_allclose(upper, ref_upper, rtol=0, atol=1e-12)


def test_a_side_without_trials_has_no_interval():
    lower, upper = newcombe_interval([1, 0, 3], [4, 0, 5], [0, 2, 3], [0, 5, 5])
    assert np.isnan(lower[:2]).all()
    assert np.isnan(upper[:2]).all()
    assert not np.isnan(lower[2])


def test_missing_counts_read_as_no_interval():
    lower, _ = newcombe_interval(pd.Series([1.0, np.nan]), pd.Series([4.0, np.nan]),
                                 pd.array([1, pd.NA], dtype="Int64"), [4, 4])
    assert not np.isnan(lower[0])
    assert np.isnan(lower[1])


def test_the_interval_holds_the_change():
    rng = np.random.default_rng(7)
    n1, n0 = rng.integers(1, 50, 1000), rng.integers(1, 50, 1000)
    x1, x0 = rng.binomial(n1, 0.4), rng.binomial(n0, 0.6)
    lower, upper = newcombe_interval(x1, n1, x0, n0)
    change = x1 / n1 - x0 / n0
    assert (lower <= change + 1e-12).all()
    assert (change <= upper + 1e-12).all()
    assert (lower >= -1).all()
    assert (upper <= 1).all()


def test_refuses_a_confidence_level_outside_0_and_1():
    with pytest.raises(repkpi.OptionError, match="ci must be between 0 and 1"):
        newcombe_interval([1], [2], [1], [2], ci=95)


# -- significant -----------------------------------------------------------------------------------
def test_significant_when_the_interval_excludes_0():
    # Newcombe's (b) excludes 0 (0.1705 to 0.8090); (e) holds it; its mirror image -(b) excludes it
    # from below; a side with no trials has no interval, so no verdict.
    real = change_interval([9, 0, 3, 1], [10, 10, 10, 1], [3, 0, 9, 0], [10, 20, 10, 0], share=True)
    assert list(real.columns) == ["change_low", "change_high", "significant"]
    assert real["significant"].tolist() == [True, False, True, pd.NA]
    assert real["change_high"].iloc[2] == pytest.approx(-0.1705, abs=5e-5)


def test_a_kpi_that_is_no_share_of_counts_has_na_there():
    real = change_interval([9], [10], [3], [10], share=False, suffix="_yoy")
    assert list(real.columns) == ["change_yoy_low", "change_yoy_high", "significant_yoy"]
    assert real.isna().all(axis=None)


# -- which KPIs: read from the declarations --------------------------------------------------------
def test_shares_of_counts_are_the_kpis_declared_with_a_wilson_interval():
    wilson = {name for name, spec in repkpi.KPIS.items() if spec.interval == "wilson"}
    shares = {name for name, spec in repkpi.KPIS.items() if spec.share_of_counts()}
    # analysis.md: retention_rate only with method="cohort" (the default's E - N is no subset count)
    assert shares == wilson - {"retention_rate"}
    assert repkpi.KPIS["retention_rate"].share_of_counts({"method": "cohort"})
    assert not repkpi.KPIS["retention_rate"].share_of_counts({"method": "standard"})
    assert {"churn_rate", "win_rate", "csat", "sla_compliance", "first_response_sla",
            "engagement_rate", "cross_sell_rate"} <= shares
    assert not shares & {"nps", "csat_mean", "net_revenue_retention", "revenue", "new_customers"}


# -- where it shows: the scorecard and explain ---------------------------------------------------
def survey_data(rows: list[tuple[str, int, int]]) -> repkpi.CrmData:
    """One account; ``(day, satisfied, total)``: ``total`` responses on ``day``, the satisfied a 5."""
    days = [day for day, _, total in rows for _ in range(total)]
    scores = [5 if i < satisfied else 2 for _, satisfied, total in rows for i in range(total)]
    return repkpi.CrmData(
        accounts=pd.DataFrame({"account_id": ["A1"], "region": ["north"],
                               "customer_since": ["2023-01-01"]}),
        surveys=pd.DataFrame({"response_id": [f"S{i}" for i in range(len(days))],
                              "account_id": "A1", "responded_at": days,
                              "csat": [str(s) for s in scores]}))


def test_scorecard_carries_the_interval_of_a_share_and_na_for_others():
    # CSAT 3 of 10 in 2024Q1, 9 of 10 in 2024Q2 (as of 30 June: complete): Newcombe's example (b),
    # 0.1705 to 0.8090, excludes 0. The mean score (no share of counts) changes too, with no
    # interval: 3 x 5 + 7 x 2 = 29 / 10 = 2.9, then 9 x 5 + 2 = 47 / 10 = 4.7.
    data = survey_data([("2024-02-01", 3, 10), ("2024-05-01", 9, 9), ("2024-06-30", 0, 1)])
    goals = [repkpi.Goal("csat", "Q", 0.8, "at_least"), repkpi.Goal("csat_mean", "Q", 4, "at_least")]
    card = scorecard_of(data, goals)
    csat, mean = card.iloc[0], card.iloc[1]
    assert csat["change"] == pytest.approx(0.6)
    assert [csat["change_low"], csat["change_high"]] == pytest.approx([0.1705, 0.8090], abs=5e-5)
    assert csat["significant"] is not pd.NA
    assert csat["significant"]
    assert mean["change"] == pytest.approx(4.7 - 2.9)
    assert np.isnan(mean["change_low"])
    assert np.isnan(mean["change_high"])
    assert mean["significant"] is pd.NA


def scorecard_of(data: repkpi.CrmData, goals: list[repkpi.Goal]) -> pd.DataFrame:
    return repkpi.scorecard(data, goals, period="2024Q2").set_index("kpi", drop=False).loc[
        [g.kpi for g in goals]]


def test_scorecard_by_group_gives_each_group_its_interval():
    # One region, so by="region" gives the same interval as the whole.
    data = survey_data([("2024-02-01", 8, 10), ("2024-05-01", 7, 9), ("2024-06-30", 0, 1)])
    card = repkpi.scorecard(data, [repkpi.Goal("csat", "Q", 0.8, "at_least")], period="2024Q2",
                            by="region")
    # 7/10 against 8/10, worked by hand in tests/test_explain.py: -0.435389 to 0.264614.
    assert card["region"].tolist() == ["north"]
    assert [card["change_low"].iloc[0], card["change_high"].iloc[0]] == \
        pytest.approx([-0.435389, 0.264614], abs=1e-5)
    assert card["significant"].tolist() == [False]


def test_explain_total_row_carries_it_and_a_mean_has_na():
    data = survey_data([("2024-02-01", 3, 10), ("2024-05-01", 9, 9), ("2024-06-30", 0, 1)])
    why = repkpi.explain(data, "csat", period="2024Q2", by="region")
    assert why.iloc[-1][["change_low", "change_high"]].tolist() == \
        pytest.approx([0.1705, 0.8090], abs=5e-5)
    assert bool(why.iloc[-1]["significant"])
    mean = repkpi.explain(data, "csat_mean", period="2024Q2", by="region")  # a mean score
    assert mean.iloc[-1][["change_low", "change_high"]].isna().all()
    assert mean.iloc[-1]["significant"] is pd.NA
