"""``repkpi.outliers`` and ``repkpi.plot.funnel``: groups out of line (analysis.md).

A funnel plot's reading (Spiegelhalter 2005, Statistics in Medicine 24:1185):
each group's value against the whole's p0 and the limits for its size n,
p0 +- z sqrt(p0 (1 - p0) / n), z = 1.96 (95%) and 3.09 (99.8%), clipped to
[0, 1]. A group outside the 99.8% limits is flagged "high" or "low"; one
with fewer than 30 observations is marked ``low_data`` and never flagged.

The fixture: deals closed in 2024Q1 by region (each region one account), so the win rate's whole is
p0 = 100 won / 200 closed = 0.5, p0 (1 - p0) = 0.25:

    region     won / closed   value    n = 40: sqrt(0.25 / 40) = 0.07905694
    north      38 / 40        0.95       95%:   +- 1.96 x 0.07905694 = 0.15495161
    south      12 / 40        0.30                -> [0.34504839, 0.65495161]
    east        8 / 40        0.20       99.8%: +- 3.09 x 0.07905694 = 0.24428595
    west       23 / 60        0.38333             -> [0.25571405, 0.74428595]
    central    19 / 20        0.95
                                         n = 60: sqrt(0.25 / 60) = 0.06454972
                                         95%:   +- 0.12651745 -> [0.37348255, 0.62651745]
                                         99.8%: +- 0.19945864 -> [0.30054136, 0.69945864]
                                         n = 20: sqrt(0.25 / 20) = 0.11180340
                                         95%:   +- 0.21913466 -> [0.28086534, 0.71913466]
                                         99.8%: +- 0.34547250 -> [0.15452750, 0.84547250]

north (0.95 > 0.7443) is "high", east (0.20 < 0.2557) "low"; south (0.30) is
outside the 95% limits but inside the 99.8% ones: not flagged; west lies
inside both; central (0.95 > 0.8455) is outside, but on 20 deals: low data,
not flagged.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import repkpi  # noqa: E402
from repkpi.outliers import COLUMNS, control_limits  # noqa: E402

REGIONS = {"north": (38, 40), "south": (12, 40), "east": (8, 40), "west": (23, 60),
           "central": (19, 20)}


def region_deals() -> repkpi.CrmData:
    """Deals closed in 2024Q1 (the last on 31 March, so 2024Q1 is complete), won as REGIONS says."""
    region = np.repeat(list(REGIONS), [closed for _, closed in REGIONS.values()])
    won = np.concatenate([np.arange(closed) < wins for wins, closed in REGIONS.values()])
    count = len(region)
    closed_on = np.where(np.arange(count) == count - 1, "2024-03-31", "2024-02-15")
    accounts = pd.DataFrame({"account_id": [f"A-{r}" for r in REGIONS], "region": list(REGIONS),
                             "customer_since": "2023-01-01"})
    return repkpi.CrmData(accounts=accounts, deals=pd.DataFrame({
        "deal_id": [f"D{i}" for i in range(count)], "account_id": [f"A-{r}" for r in region],
        "created_on": "2024-01-05", "closed_on": closed_on,
        "stage": np.where(won, "won", "lost"), "amount": 1000.0, "deal_type": "new_business",
        "channel": "direct"}))


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return repkpi.outliers(region_deals(), "win_rate", period="2024Q1", by="region") \
        .set_index("region")


def test_columns_and_one_row_per_group(table):
    assert list(table.columns) == list(COLUMNS)
    assert sorted(table.index) == sorted(REGIONS)
    assert table.attrs["kpi"] == "win_rate"
    assert table.attrs["period"] == pd.Period("2024Q1", "Q")


def test_values_n_and_the_whole(table):
    assert table["value"].to_dict() == pytest.approx(
        {"north": 0.95, "south": 0.30, "east": 0.20, "west": 23 / 60, "central": 0.95})
    assert table["n"].to_dict() == {"north": 40, "south": 40, "east": 40, "west": 60,
                                    "central": 20}
    assert (table["p0"] == 0.5).all()


@pytest.mark.parametrize(("channel", "limits"), [
    ("north", [0.34504839, 0.65495161, 0.25571405, 0.74428595]),
    ("west", [0.37348255, 0.62651745, 0.30054136, 0.69945864]),
    ("central", [0.28086534, 0.71913466, 0.15452750, 0.84547250]),
])
def test_limits_worked_by_hand(table, channel, limits):
    got = table.loc[channel, ["low_95", "high_95", "low_998", "high_998"]].tolist()
    assert got == pytest.approx(limits, abs=1e-8)  # to the 8 decimals worked above


def test_flags_outside_the_998_limits_only_with_enough_data(table):
    assert table["flag"].to_dict() == {"north": "high", "south": "", "east": "low",
                                       "west": "", "central": ""}
    assert table["low_data"].to_dict() == {"north": False, "south": False, "east": False,
                                           "west": False, "central": True}


def test_limits_are_clipped_to_0_and_1():
    # p0 = 0.05, n = 10: sqrt(0.0475 / 10) = 0.06892024; 99.8%: 0.05 +- 3.09 x 0.06892024
    # = 0.05 +- 0.21296355 -> [0, 0.26296355] (the lower bound clipped from -0.16296355);
    # p0 = 0.95: the mirror image, [0.73703645, 1].
    low, high = control_limits(0.05, np.array([10.0]), 3.09)
    assert [low[0], high[0]] == pytest.approx([0.0, 0.26296355], abs=1e-8)
    low, high = control_limits(0.95, np.array([10.0]), 3.09)
    assert [low[0], high[0]] == pytest.approx([0.73703645, 1.0], abs=1e-8)


def test_a_group_with_no_observation_has_no_limits_and_no_flag():
    low, high = control_limits(0.5, np.array([0.0]), 1.96)
    assert np.isnan(low[0])
    assert np.isnan(high[0])


def test_on_the_sample_flags_agree_with_the_limits():
    table = repkpi.outliers(repkpi.load_sample(), "sla_compliance", period="2026Q2", by="rep_id")
    firm = ~table["low_data"] & table["value"].notna()
    assert (table.loc[table["low_data"], "flag"] == "").all()
    assert ((table["flag"] == "high") == (firm & (table["value"] > table["high_998"]))).all()
    assert ((table["flag"] == "low") == (firm & (table["value"] < table["low_998"]))).all()
    seen = table[table["n"] > 0]
    assert (seen["low_998"] <= seen["low_95"]).all()
    assert (seen["high_95"] <= seen["high_998"]).all()
    assert table.loc[table["n"] == 0, ["low_95", "high_998"]].isna().all(axis=None)
    whole = repkpi.kpis.sla_compliance(repkpi.load_sample(), start="2026Q2", end="2026Q2")
    assert table["p0"].iloc[0] == pytest.approx(whole["value"].iloc[0])


def test_retention_with_the_cohort_method_is_taken():
    table = repkpi.outliers(repkpi.load_sample(), "retention_rate", period="2026Q2", by="team",
                            method="cohort")
    churn = repkpi.outliers(repkpi.load_sample(), "churn_rate", period="2026Q2", by="team")
    # cohort retention = 1 - churn, over the same opening book: the same n and mirrored limits
    assert table["n"].tolist() == churn["n"].tolist()
    assert table["low_998"].to_numpy() == pytest.approx(1 - churn["high_998"].to_numpy())


# -- refusals ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kpi", ["nps", "csat_mean", "revenue", "new_customers",
                                 "net_revenue_retention", "first_response_hours"])
def test_refuses_kpis_that_are_no_share_of_counts(kpi):
    with pytest.raises(repkpi.OptionError, match=f"(?s)outliers cannot take {kpi}: its value is not "
                                                 "a share of counted cases.*Hint: outliers takes"):
        repkpi.outliers(repkpi.load_sample(), kpi, period="2026Q2", by="team")


def test_refuses_retention_with_the_standard_method():
    with pytest.raises(repkpi.OptionError, match=r"(?s)retention_rate: with method='standard'.*cohort"):
        repkpi.outliers(repkpi.load_sample(), "retention_rate", period="2026Q2", by="team")


def test_refuses_an_unknown_kpi():
    with pytest.raises(repkpi.OptionError, match="Unknown KPI 'win_rates'"):
        repkpi.outliers(region_deals(), "win_rates", period="2024Q1", by="region")


def test_needs_by():
    with pytest.raises(repkpi.OptionError, match="outliers needs by= for win_rate"):
        repkpi.outliers(region_deals(), "win_rate", period="2024Q1", by=None)


def test_refuses_an_option_the_kpi_does_not_take():
    with pytest.raises(repkpi.OptionError, match="win_rate takes no option 'method'"):
        repkpi.outliers(region_deals(), "win_rate", period="2024Q1", by="region", method="cohort")


def test_refuses_ci():
    with pytest.raises(repkpi.OptionError, match="outliers takes no ci= for win_rate"):
        repkpi.outliers(region_deals(), "win_rate", period="2024Q1", by="region", ci=0.9)


def test_refuses_a_period_after_as_of():
    with pytest.raises(repkpi.OptionError, match="outliers cannot take 2024 Q2: it begins after "
                                                 "the as-of date"):
        repkpi.outliers(region_deals(), "win_rate", period="2024Q2", by="region")


def test_a_period_without_a_value_is_an_error():
    with pytest.raises(repkpi.RepkpiError, match="win_rate has no value in 2023 Q4"):
        repkpi.outliers(region_deals(), "win_rate", period="2023Q4", by="region")


def test_fiscal_periods():
    # With the fiscal year starting in April, FY2024 Q4 is January-March 2024: the same deals.
    table = repkpi.outliers(region_deals(), "win_rate", period="2024Q4", by="region",
                            fiscal_year_start=4).set_index("region")
    assert table["flag"].to_dict()["north"] == "high"
    assert table.attrs["period"] == pd.Period("2024Q4", "Q-MAR")


# -- the funnel plot -----------------------------------------------------------------------------
def test_funnel_draws_points_limits_and_labels_the_flagged():
    outliers = repkpi.outliers(region_deals(), "win_rate", period="2024Q1", by="region")
    ax = repkpi.plot.funnel(outliers)
    try:
        assert ax.get_title() == "Win rate by region, 2024 Q1"
        assert ax.get_xlabel() == "observations (n)"
        labels = sorted(text.get_text() for text in ax.texts)
        assert labels == ["east", "north"]  # the flagged groups, named
        legend = [text.get_text() for text in ax.get_legend().get_texts()]
        assert legend[:3] == ["95% limits", "99.8% limits", "whole: 50.0%"]
        # four limit curves (low and high at 95% and 99.8%), the whole's line, then the points
        curves = [line for line in ax.get_lines() if len(line.get_xdata()) == 200]
        assert len(curves) == 4
        upper_998 = max(curves, key=lambda line: line.get_ydata()[-1])
        n = upper_998.get_xdata()
        np.testing.assert_allclose(upper_998.get_ydata(),
                                   np.minimum(0.5 + 3.09 * np.sqrt(0.25 / n), 1.0))
        points = {line.get_label(): sorted(zip(line.get_xdata(), line.get_ydata(), strict=True))
                  for line in ax.get_lines() if line.get_linestyle() == "None"}
        assert np.array(points["out of line (99.8%)"]) == pytest.approx(np.array([[40, 0.2],
                                                                                   [40, 0.95]]))
        assert np.array(points["fewer than 30 observations"]) == pytest.approx(np.array([[20, 0.95]]))
        assert np.array(points["regions"]) == pytest.approx(np.array([[40, 0.3], [60, 23 / 60]]))
    finally:
        plt.close(ax.figure)


def test_funnel_draws_on_a_given_axes():
    outliers = repkpi.outliers(region_deals(), "win_rate", period="2024Q1", by="region")
    fig, ax = plt.subplots()
    try:
        assert repkpi.plot.funnel(outliers, ax=ax) is ax
    finally:
        plt.close(fig)


def test_every_engine_gives_the_same_table(engine):
    table = repkpi.outliers(repkpi.load(repkpi.sample_path(), engine=engine), "churn_rate",
                            period="2026Q2", by="team")
    expected = repkpi.outliers(repkpi.load_sample(), "churn_rate", period="2026Q2", by="team")
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
