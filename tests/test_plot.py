"""Charts, tested under Agg by inspecting what was drawn: lines, goal lines, markers, labels, ticks.

Expected values are worked out by hand from the tiny data sets of
:mod:`repkpi.datasets.doctest_data` (restated here) or from frames written in the test.

examples.accounts()::

    id  region  customer_since  churned_on
    A1  north   2023-11-01      -
    A2  north   2024-01-10      2024-03-01
    A3  south   2024-02-01      -
    A4  south   2024-04-15      -

New by month: Nov 2023 A1; Dec none; Jan 2024 A2; Feb A3; Mar none; Apr A4.
Active on each quarter's last day: 2023Q4 A1; 2024Q1 A1 A3 (A2 gone on
03-01); 2024Q2 A1 A3 A4. The latest event is 2024-04-15, so the latest
complete quarter is 2024Q1.

examples.deals() (won deals by close date): D1 60 000 new_business direct
2024-02-01; D2 20 000 upsell partner 2024-03-15; D4 10 000 cross_sell direct
2024-04-02. D3 (cross_sell, direct) lost 2024-03-20; D5 open.
"""

from __future__ import annotations

import io
from pathlib import Path
from statistics import NormalDist

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402

import repkpi  # noqa: E402
from repkpi import Goal, periods, plot  # noqa: E402
from repkpi.datasets import doctest_data as examples  # noqa: E402
from repkpi.plot import (  # noqa: E402
    UnitFormatter,
    cohort_retention,
    dashboard,
    format_value,
    goal_chart,
    leaderboard,
    period_label,
    png_bytes,
    title,
    trend,
    window,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


HOLLOW = ("to date", "_to date", "low data", "_low data")


def data_lines(ax):
    """The KPI lines (not the goal line, not the hollow marks), by label."""
    return {line.get_label(): line for line in ax.get_lines()
            if line.get_gid() != "goal" and line.get_label() not in HOLLOW}


def to_date_points(ax):
    """(x, y) of every hollow 'to date' mark of a period in progress, sorted."""
    return sorted((float(x), float(y)) for line in ax.get_lines() if "to date" in line.get_label()
                  for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True))


def goal_lines(ax):
    return [line for line in ax.get_lines() if line.get_gid() == "goal"]


def low_data_points(ax):
    """(x, y) of every hollow 'low data' mark, sorted."""
    return sorted((float(x), float(y)) for line in ax.get_lines() if "low data" in line.get_label()
                  for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True))


def missed_points(ax):
    """(x, y) of every 'missed goal' marker, sorted."""
    points = [tuple(p) for c in ax.collections if isinstance(c, PathCollection)
              for p in np.asarray(c.get_offsets())]
    return sorted((float(x), float(y)) for x, y in points)


def tick_labels(axis):
    return [t.get_text() for t in axis.get_ticklabels()]


# -- trend -----------------------------------------------------------------


def test_trend_one_line_per_group_with_goal_and_misses_per_group():
    result = repkpi.kpis.active_customers(examples.accounts(), freq="Q", by="region")
    ax = trend(result, goal=Goal("active_customers", "Q", 2, "at_least"))

    lines = data_lines(ax)
    assert sorted(lines) == ["north", "south"]
    assert list(lines["north"].get_xdata()) == [0, 1, 2]
    assert list(lines["north"].get_ydata()) == [1, 1, 1]
    assert list(lines["south"].get_ydata()) == [0, 1, 2]
    [goal] = goal_lines(ax)
    assert list(goal.get_ydata()) == [2, 2]
    assert goal.get_label() == "goal 2"
    # at least 2: north misses 2023Q4 and 2024Q1; south misses 2023Q4 (0) and 2024Q1 (1).
    # 2024Q2 is in progress (the latest event is on 2024-04-15): measured on that day, hollow
    # ("to date"), never a miss: north 1 (A1; A2 left on 03-01), south 2 (A3, A4 since 04-15).
    assert missed_points(ax) == [(0, 0), (0, 1), (1, 1), (1, 1)]
    assert to_date_points(ax) == [(2, 1), (2, 2)]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["north", "south", "goal 2"]
    # The goal's label is the default one (snake_case): the title says it in words.
    assert ax.get_title() == "Active customers >= 2"


def test_trend_marks_exactly_the_months_below_an_at_least_goal():
    result = repkpi.kpis.new_customers(examples.accounts(), freq="M")
    ax = trend(result, goal=1)  # a bare number is an at_least target

    [line] = data_lines(ax).values()
    assert line.get_label() == "New customers"
    assert list(line.get_ydata()) == [1, 0, 1, 1, 0, 1]
    assert list(goal_lines(ax)[0].get_ydata()) == [1, 1]
    # New customers: none in Dec 2023 (x=1) and none in Mar 2024 (x=4).
    assert missed_points(ax) == [(1, 0), (4, 0)]
    assert "missed goal" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_trend_marks_exactly_the_months_above_an_at_most_goal():
    # examples.tickets(): March resolutions take 3 h (T1) and 96 h (T2): median 49.5 h;
    # April: T4 takes 25 h (T3, opened 2024-04-01 02:00 UTC, is unresolved).
    result = repkpi.kpis.resolution_hours(examples.tickets(), freq="M")
    ax = trend(result, goal=Goal("resolution_hours", "M", 30, "at_most", "Resolved within 30 h"))

    assert list(data_lines(ax)["Resolution (h)"].get_ydata()) == [49.5, 25.0]  # its label
    assert missed_points(ax) == [(0, 49.5)]
    assert goal_lines(ax)[0].get_label() == "goal 30.0 h"
    assert ax.get_title() == "Resolved within 30 h"
    assert ax.yaxis.get_major_formatter()(24, 0) == "24 h"


def test_trend_without_a_goal_draws_no_goal_line_and_no_marks():
    ax = trend(repkpi.kpis.new_customers(examples.accounts(), freq="M"))
    assert goal_lines(ax) == []
    assert missed_points(ax) == []
    assert ax.get_legend() is None
    assert ax.get_title() == "New customers"


def test_trend_draws_on_the_axes_it_is_given():
    fig, ax = plt.subplots()
    assert trend(repkpi.kpis.new_customers(examples.accounts()), ax=ax) is ax
    assert fig.axes == [ax]


def test_trend_reads_the_kpi_name_from_a_compute_result():
    result = repkpi.compute(examples.accounts(), kpis=["new_customers"], freq="Q")
    ax = trend(result, goal=2)
    assert list(data_lines(ax)) == ["New customers"]
    # 2023Q4: 1 (A1), 2024Q1: 2 (A2, A3), 2024Q2: 1 (A4) so far: in progress, not a miss
    assert missed_points(ax) == [(0, 1)]
    assert to_date_points(ax) == [(2, 1)]


def test_trend_without_a_kpi_name_raises():
    frame = pd.DataFrame({"period": pd.period_range("2024Q1", periods=2, freq="Q"), "value": [1.0, 2.0]})
    with pytest.raises(repkpi.OptionError, match="Cannot tell which KPI"):
        trend(frame)


@pytest.mark.parametrize(
    ("result", "tick", "expected"),
    [
        pytest.param(lambda: repkpi.kpis.csat(examples.surveys(), freq="M"), 0.9, "90%", id="ratio"),
        pytest.param(lambda: repkpi.kpis.revenue(examples.deals()), 50_000, "$50k", id="revenue"),
        pytest.param(lambda: repkpi.kpis.revenue(examples.deals()), 1_500_000, "$1.5M", id="revenue-M"),
        pytest.param(lambda: repkpi.kpis.new_customers(examples.accounts()), 3, "3", id="count"),
    ],
)
def test_trend_tick_formatter_follows_the_unit(result, tick, expected):
    ax = trend(result())
    assert ax.yaxis.get_major_formatter()(tick, 0) == expected


def test_trend_percent_axis_reads_in_percent():
    ax = trend(repkpi.kpis.churn_rate(examples.accounts(), freq="M"))
    assert ax.yaxis.get_major_formatter().format_ticks([0, 0.25, 0.5]) == ["0%", "25%", "50%"]


def test_trend_counts_get_whole_number_ticks():
    ax = trend(repkpi.kpis.new_customers(examples.accounts(), freq="M"))  # values 0 and 1
    ax.figure.canvas.draw()
    ticks = ax.get_yticks()
    assert np.array_equal(ticks, np.round(ticks))
    labels = [t for t in tick_labels(ax.yaxis) if t]
    assert labels
    assert all(t.lstrip("-\N{MINUS SIGN}").isdigit() for t in labels)


@pytest.mark.parametrize("kpi", ["new_customers", "market_rank"])
def test_a_flat_count_or_rank_gets_distinct_whole_ticks(kpi):
    """Rank 3 in every year: the ticks are whole numbers, each written once (ticks 2.8, 2.9, ...
    each written "3" would show one value as many)."""
    result = pd.DataFrame({"period": pd.period_range("2023", periods=4, freq="Y"),
                           "numerator": 3.0, "denominator": 1.0, "value": 3.0})
    result.attrs["kpi"] = kpi
    ax = trend(result)
    ax.figure.canvas.draw()
    ticks = ax.get_yticks()
    low, high = ax.get_ylim()
    shown = [t for t, label in zip(ticks, tick_labels(ax.yaxis), strict=True)
             if min(low, high) <= t <= max(low, high) and label]
    assert np.array_equal(shown, np.round(shown))
    assert 3 in shown
    labels = [label for label in tick_labels(ax.yaxis) if label]
    assert len(labels) == len(set(labels))


def test_trend_money_goal_line_label_reads_as_money():
    ax = trend(repkpi.kpis.revenue(examples.deals()), goal=75_000)
    assert goal_lines(ax)[0].get_label() == "goal $75k"
    # 2024Q1: 60 000 + 20 000 = 80 000 (met); 2024Q2: 10 000 so far (D4, won on 2024-04-02,
    # the latest event): in progress, so marked "to date", not missed.
    assert missed_points(ax) == []
    assert to_date_points(ax) == [(1, 10_000)]


@pytest.mark.parametrize(
    ("freq", "expected"),
    [
        ("Q", ["2023 Q4", "2024 Q1", "2024 Q2"]),
        ("M", ["Nov 2023", "Dec 2023", "Jan 2024", "Feb 2024", "Mar 2024", "Apr 2024"]),
        ("Y", ["2023", "2024"]),
    ],
)
def test_trend_labels_periods_readably(freq, expected):
    ax = trend(repkpi.kpis.new_customers(examples.accounts(), freq=freq))
    assert tick_labels(ax.xaxis) == expected
    assert list(ax.get_xticks()) == list(range(len(expected)))


def test_trend_thins_period_labels_beyond_ten_periods():
    result = repkpi.kpis.new_customers(examples.accounts(), freq="M", start="2023-01", end="2024-12")
    ax = trend(result)
    # 24 months: a label every ceil(24 / 10) = 3 months, counted back from the latest (23).
    assert list(ax.get_xticks()) == [2, 5, 8, 11, 14, 17, 20, 23]
    assert tick_labels(ax.xaxis) == ["Mar 2023", "Jun 2023", "Sep 2023", "Dec 2023",
                                     "Mar 2024", "Jun 2024", "Sep 2024", "Dec 2024"]


def test_trend_draws_the_interval_band_when_the_result_has_one():
    # csat by month (examples.surveys()): Jan 1/1, Feb 0/1 (S2 scores 3; S4 has no csat),
    # Mar 1/1 (S5), Apr 1/1 (S3, 2024-03-31 23:30 -02:00 is 1 April UTC).
    result = repkpi.kpis.csat(examples.surveys(), freq="M", ci=0.95)
    ax = trend(result)
    [band] = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert band.get_label() == "_interval"
    # Wilson at 95%: 1 of 1 -> [1 / (1 + z^2), 1]; 0 of 1 -> [0, z^2 / (1 + z^2)].
    z2 = NormalDist().inv_cdf(0.975) ** 2
    vertices = band.get_paths()[0].vertices
    at_jan = vertices[np.isclose(vertices[:, 0], 0), 1]
    at_feb = vertices[np.isclose(vertices[:, 0], 1), 1]
    assert at_jan.min() == pytest.approx(1 / (1 + z2))
    assert at_jan.max() == pytest.approx(1.0)
    assert at_feb.min() == pytest.approx(0.0)
    assert at_feb.max() == pytest.approx(z2 / (1 + z2))


def test_trend_draws_no_band_without_interval_columns():
    ax = trend(repkpi.kpis.csat(examples.surveys(), freq="M"))
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]


# -- dashboard -------------------------------------------------------------


@pytest.fixture
def accounts_and_deals():
    """examples.accounts() with examples.deals(): latest event 2024-04-15, so up to 2024Q1."""
    return repkpi.CrmData(accounts=examples.accounts().accounts, deals=examples.deals().deals)


def test_dashboard_has_one_panel_per_goal_with_its_goal_line(accounts_and_deals):
    goals = [Goal("active_customers", "Q", 2, "at_least", "Two customers"),
             Goal("revenue", "Q", 50_000, "at_least", "Revenue 50k"),
             Goal("churn_rate", "Q", 0.05, "at_most", "Churn 5%")]
    fig = dashboard(accounts_and_deals, goals, periods=3)  # 2023Q4 .. 2024Q2

    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["Two customers", "Revenue 50k", "Churn 5%"]
    assert [list(goal_lines(ax)[0].get_ydata()) for ax in fig.axes] == [[2, 2], [50_000, 50_000],
                                                                      [0.05, 0.05]]
    assert fig.get_suptitle() == "KPIs against goals, to 2024 Q2 (to date)"
    customers, revenue, churn = fig.axes
    # Periods run to 2024Q2, in progress on the as-of date 2024-04-15 (A4's start): its
    # point is hollow, "to date", and never a miss. Active on 04-15: A1, A3, A4.
    for ax in fig.axes:
        assert tick_labels(ax.xaxis) == ["2023 Q4", "2024 Q1", "2024 Q2"]
        assert ax.get_xlim() == (-0.5, 2.5)
    assert list(data_lines(customers)["Active customers"].get_ydata()) == [1, 2, 3]
    assert missed_points(customers) == [(0, 1)]
    assert to_date_points(customers) == [(2, 3)]
    # Revenue: no deal closed in 2023Q4 (x = 0); 2024Q1 80 000; 2024Q2 to date 10 000 (D4),
    # below 50k but not missed.
    assert list(data_lines(revenue)["Revenue"].get_xdata()) == [1, 2]
    assert list(data_lines(revenue)["Revenue"].get_ydata()) == [80_000, 10_000]
    assert missed_points(revenue) == []
    assert to_date_points(revenue) == [(2, 10_000)]
    assert churn.yaxis.get_major_formatter().format_ticks([0.05, 0.1]) == ["5%", "10%"]


def test_dashboard_panel_for_a_goal_whose_table_is_missing_says_so(accounts_and_deals):
    goals = [Goal("active_customers", "Q", 2, "at_least"), Goal("csat", "Q", 0.9, "at_least"),
             Goal("revenue", "Q", 50_000, "at_least"), Goal("win_rate", "Q", 0.5, "at_least")]
    fig = dashboard(accounts_and_deals, goals, ncols=3, periods=3)

    assert len(fig.axes) == 4  # a 2 x 3 grid with its two spare cells removed
    missing = fig.axes[1]
    assert not missing.axison
    assert missing.get_lines() == []
    [text] = missing.texts
    assert " ".join(text.get_text().split()) == \
        "csat needs the surveys table(s), which were not loaded."
    assert missing.get_title() == "CSAT >= 90.0%"
    assert [list(goal_lines(ax)[0].get_ydata()) for ax in (fig.axes[0], *fig.axes[2:])] == [
        [2, 2], [50_000, 50_000], [0.5, 0.5]]


def test_dashboard_plots_a_goal_restricted_to_a_group(accounts_and_deals):
    goal = Goal("active_customers", "Q", 1, "at_least", "South", where={"region": "south"})
    [ax] = dashboard(accounts_and_deals, [goal], ncols=1, periods=3).axes
    # south: 2023Q4 none active, 2024Q1 A3, 2024Q2 to 04-15 A3 and A4.
    assert list(data_lines(ax)) == ["Active customers"]
    assert list(data_lines(ax)["Active customers"].get_ydata()) == [0, 1, 2]
    assert missed_points(ax) == [(0, 0)]


# -- cohort_retention ------------------------------------------------------

# Quarterly cohorts (repkpi.cohorts, analysis.md). The latest event is 2024-10-01 (B7's
# start; B6's churn is scheduled): 2024Q4 is in progress, its cells measured on 2024-10-01.
#
#   id  customer_since  churned_on   active on 03-31 / 06-30 / 09-30 / 10-01 (as of)
#   B1  2024-01-15      -            yes / yes / yes / yes
#   B2  2024-02-01      2024-05-10   yes / no  / no  / no
#   B3  2024-03-01      2024-03-20   no  / no  / no  / no
#   B4  2024-04-05      2024-09-30   -   / yes / no  / no  (gone on 09-30 itself)
#   B5  2024-05-01      -            -   / yes / yes / yes
#   B6  2024-08-01      2024-10-01   -   / -   / yes / no
#   B7  2024-10-01      -            -   / -   / -   / yes
COHORT_BOOK = {
    "account_id": ["B1", "B2", "B3", "B4", "B5", "B6", "B7"],
    "customer_since": ["2024-01-15", "2024-02-01", "2024-03-01", "2024-04-05", "2024-05-01",
                       "2024-08-01", "2024-10-01"],
    "churned_on": [None, "2024-05-10", "2024-03-20", "2024-09-30", None, "2024-10-01", None],
}
M = np.nan  # a blank cell: a period after the as-of date
COHORT_SHARES = [
    [2 / 3, 1 / 3, 1 / 3, 1 / 3],  # 2024Q1: B1 B2 B3 -> B1 B2; B1; B1; B1
    [2 / 2, 1 / 2, 1 / 2, M],      # 2024Q2: B4 B5 -> both; B5; B5
    [1 / 1, 0, M, M],              # 2024Q3: B6 -> B6; gone on 10-01
    [1 / 1, M, M, M],              # 2024Q4: B7, on the as-of date
]


def test_cohort_retention_matrix_holds_the_hand_worked_shares():
    ax = cohort_retention(repkpi.CrmData(accounts=pd.DataFrame(COHORT_BOOK)))
    shares = ax.images[0].get_array()
    expected = np.array(COHORT_SHARES)
    assert shares.shape == (4, 4)
    np.testing.assert_array_equal(np.ma.getmaskarray(shares), np.isnan(expected))
    np.testing.assert_allclose(shares.filled(np.nan), expected)
    assert tick_labels(ax.yaxis) == ["2024 Q1", "2024 Q2", "2024 Q3", "2024 Q4"]
    # Each cell printed with its value; those of the quarter in progress marked.
    printed = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
               for t in ax.texts}
    assert printed == {(0, 0): "67%", (0, 1): "33%", (0, 2): "33%", (0, 3): "33%*",
                       (1, 0): "100%", (1, 1): "50%", (1, 2): "50%*",
                       (2, 0): "100%", (2, 1): "0%*", (3, 0): "100%*"}
    assert ax.get_xlabel() == "periods since acquisition (* to the as-of date)"
    assert ax.get_ylabel() == "cohort (acquired in)"
    assert ax.images[0].get_clim() == (0, 1)


def test_cohort_retention_by_month_blanks_cells_after_the_as_of_date():
    # examples.accounts(): latest event 2024-04-15, so months Nov 2023 .. Apr 2024 (6), April
    # measured on the 15th. Cohorts: Nov A1, Jan A2 (gone 03-01), Feb A3, Apr A4; Dec and Mar empty.
    ax = cohort_retention(examples.accounts(), freq="M")
    shares = ax.images[0].get_array()
    expected = np.array([
        [1, 1, 1, 1, 1, 1],      # A1, active at the end of Nov .. Mar and on 15 April
        [M, M, M, M, M, M],      # no one acquired in December
        [1, 1, 0, 0, M, M],      # A2: active on 31 Jan and 29 Feb; churned 1 March
        [1, 1, 1, M, M, M],      # A3
        [M, M, M, M, M, M],      # no one acquired in March
        [1, M, M, M, M, M],      # A4, won on the as-of date
    ])
    np.testing.assert_array_equal(np.ma.getmaskarray(shares), np.isnan(expected))
    np.testing.assert_allclose(shares.filled(np.nan), expected)
    assert tick_labels(ax.yaxis) == ["Nov 2023", "Dec 2023", "Jan 2024", "Feb 2024", "Mar 2024",
                                     "Apr 2024"]


def test_cohort_retention_counts_periods_in_whole_numbers():
    ax = cohort_retention(repkpi.load_sample(), freq="Q")  # 19 quarterly cohorts
    ax.figure.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert len(ticks) > 2
    assert all(float(t).is_integer() for t in ticks)


def test_cohort_retention_of_revenue_prints_every_cell_of_the_table():
    data = repkpi.load_sample()
    table = repkpi.cohorts(data, measure="revenue")
    ax = cohort_retention(data, measure="revenue")
    assert ax.get_title() == "Net revenue retention by acquisition cohort"
    assert len(ax.texts) == table["value"].notna().sum()
    first = table.iloc[1]  # the first cohort one period on, as printed
    assert f"{first['value']:.0%}" in {t.get_text() for t in ax.texts}
    assert ax.images[0].get_clim()[1] >= table["value"].max()  # NRR may exceed 100%


def test_cohort_retention_needs_accounts():
    with pytest.raises(repkpi.MissingTableError, match="needs the accounts table"):
        cohort_retention(examples.deals())


# -- leaderboard -----------------------------------------------------------


def bars(ax):
    return tick_labels(ax.yaxis), [patch.get_width() for patch in ax.patches]


def test_leaderboard_sorts_the_bars_of_the_chosen_period():
    # 2024Q1 revenue by deal type: new_business 60 000 (D1), upsell 20 000 (D2), cross_sell 0.
    result = repkpi.kpis.revenue(examples.deals(), by="deal_type")
    ax = leaderboard(result, period="2024Q1")
    assert bars(ax) == (["cross_sell", "upsell", "new_business"], [0, 20_000, 60_000])
    assert ax.get_title() == "Revenue by deal type, 2024 Q1"
    assert ax.xaxis.get_major_formatter()(20_000, 0) == "$20k"


def test_leaderboard_defaults_to_the_latest_period():
    # 2024Q2: only cross_sell (D4, 10 000) has revenue, so it tops the board.
    ax = leaderboard(repkpi.kpis.revenue(examples.deals(), by="deal_type"))
    labels, widths = bars(ax)
    assert labels[-1] == "cross_sell"
    assert widths == sorted(widths) == [0, 0, 10_000]
    assert ax.get_title() == "Revenue by deal type, 2024 Q2"


def test_leaderboard_accepts_a_period_object():
    result = repkpi.kpis.revenue(examples.deals(), by="channel")
    ax = leaderboard(result, period=pd.Period("2024Q1", "Q"))
    # direct 60 000 (D1), partner 20 000 (D2)
    assert bars(ax) == (["partner", "direct"], [20_000, 60_000])


def test_leaderboard_puts_groups_without_a_value_at_the_bottom():
    # 2024Q2 win rate by channel: direct 1/1 (D4 won); partner closed nothing: NaN, drawn as 0.
    ax = leaderboard(repkpi.kpis.win_rate(examples.deals(), by="channel"), period="2024Q2")
    assert bars(ax) == (["partner", "direct"], [0, 1.0])
    assert ax.xaxis.get_major_formatter().format_ticks([0, 0.5, 1]) == ["0%", "50%", "100%"]


@pytest.mark.parametrize(
    "by", [pytest.param(None, id="no-by"), pytest.param(["channel", "deal_type"], id="two-by")]
)
def test_leaderboard_needs_exactly_one_by_column(by):
    result = repkpi.kpis.revenue(examples.deals(), by=by)
    with pytest.raises(repkpi.OptionError, match="leaderboard needs a result with one by column"):
        leaderboard(result)


# -- value and period formats ----------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (0.9123, "percent", "91.2%"),
        (0.125, "percent", "12.5%"),
        (0.0042, "percent", "0.42%"),  # below 1%: two significant digits, never "0.4%"
        (0.00005, "percent", "0.0050%"),
        (0, "percent", "0.0%"),
        (2_500_000, "money", "$2.5M"),
        (3_200_000_000, "money", "$3.2B"),
        (8_000, "money", "$8k"),
        (950, "money", "$950"),
        (3.456, "hours", "3.5 h"),
        (12_345, "count", "12,345"),
        (2, "rank", "2"),
        (4.4, "score", "4.40"),
        (float("nan"), "percent", "n/a"),
        (None, "money", "n/a"),
    ],
)
def test_format_value(value, unit, expected):
    assert format_value(value, unit) == expected


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        (pd.Period("2026Q3", "Q"), "2026 Q3"),
        (pd.Period("2026-07", "M"), "Jul 2026"),
        (pd.Period("2026", "Y"), "2026"),
        (pd.Period("2027", "Y-MAR"), "FY2027"),  # fiscal year April 2026 .. March 2027
        (pd.Period("2027Q2", "Q-MAR"), "FY2027 Q2"),  # July .. September 2026
    ],
)
def test_period_label(period, expected):
    assert period_label(period) == expected


def test_charts_print_periods_with_the_one_period_label():
    assert plot.period_label is periods.period_label


def test_public_names():
    assert sorted(plot.__all__) == ["UnitFormatter", "cohort_retention", "dashboard",
                                    "format_value", "funnel", "goal_chart", "goal_series",
                                    "leaderboard", "period_label", "png_bytes", "survival", "title",
                                    "trend", "window"]


def test_cohort_retention_leaves_prospects_out_and_reads_fiscal_quarters():
    # A1 is a customer from 2024-04-01, P1 a prospect (no customer_since); the latest event is
    # 2024-09-30. Fiscal years from April: one cohort, FY2025 Q1, still whole in FY2025 Q2.
    data = repkpi.CrmData(accounts=pd.DataFrame({
        "account_id": ["A1", "P1", "A2"], "customer_since": ["2024-04-01", None, "2024-09-30"],
        "churned_on": [None, None, None]}))  # present, empty: no churn (an absent one refuses)
    ax = cohort_retention(data, fiscal_year_start=4)
    assert tick_labels(ax.yaxis) == ["FY2025 Q1", "FY2025 Q2"]
    share = ax.get_images()[0].get_array()
    assert share[0, 0] == 1.0   # A1, still active on 06-30
    assert share[0, 1] == 1.0   # and on 09-30
    assert share[1, 0] == 1.0                           # A2, active on 09-30


# -- goals at their own frequency, one time range --------------------------

def _sample_goals_file():
    return Path(__file__).resolve().parents[1] / "data" / "sample" / "goals.toml"


@pytest.fixture(scope="module")
def sample():
    return repkpi.load_sample()


# The sample's as-of date is 2026-09-30, the last day of 2026Q3: the 12 quarters of the
# default range are 2023Q4 .. 2026Q3, and the years that cover them 2023 .. 2026 (2026 in
# progress). Ticks go every ceil(12 / 10) = 2 quarters back from the latest.
SAMPLE_QUARTER_TICKS = ["2024 Q1", "2024 Q3", "2025 Q1", "2025 Q3", "2026 Q1", "2026 Q3"]
SAMPLE_YEARS = ["2023", "2024", "2025", "2026"]
ALL_GOALS = [pytest.param(goal, id=f"default-{goal.kpi}") for goal in repkpi.DEFAULT_GOALS] + [
    pytest.param(goal, id=f"sample-{goal.kpi}") for goal in repkpi.load_goals(_sample_goals_file())]


def test_the_sample_has_a_goals_file_with_goals():
    assert len(repkpi.load_goals(_sample_goals_file())) >= len(repkpi.DEFAULT_GOALS)


@pytest.mark.parametrize("goal", ALL_GOALS)
def test_every_goal_is_drawn_at_its_freq_with_its_goal_line(sample, goal):
    ax = goal_chart(sample, goal)
    [line] = goal_lines(ax)
    assert list(line.get_ydata()) == [goal.target, goal.target]
    assert line.get_label().startswith("goal ")
    # Every one of these goals has a label in words (long ones wrap).
    assert " ".join(ax.get_title().split()) == goal.label
    if goal.freq == "Y":
        assert tick_labels(ax.xaxis) == SAMPLE_YEARS
        assert ax.get_xlim() == (-0.5, 3.5)
    else:
        assert tick_labels(ax.xaxis) == SAMPLE_QUARTER_TICKS
        assert ax.get_xlim() == (-0.5, 11.5)
    for kpi_line in data_lines(ax).values():  # nothing drawn outside the range
        assert all(0 <= x <= ax.get_xlim()[1] for x in kpi_line.get_xdata())


def test_dashboard_panels_share_one_time_range(sample):
    fig = dashboard(sample)  # the default goals: five quarterly, four yearly
    assert len(fig.axes) == len(repkpi.DEFAULT_GOALS)
    for ax, goal in zip(fig.axes, repkpi.DEFAULT_GOALS, strict=True):
        assert " ".join(ax.get_title().split()) == goal.label
        assert len(goal_lines(ax)) == 1
        if goal.freq == "Y":
            assert tick_labels(ax.xaxis) == SAMPLE_YEARS
            assert ax.get_xlim() == (-0.5, 3.5)
        else:
            assert tick_labels(ax.xaxis) == SAMPLE_QUARTER_TICKS
            assert ax.get_xlim() == (-0.5, 11.5)
    # Senior reps start in 2018 in the sample; the panel shows 2023 .. 2026 only.
    senior = fig.axes[[g.kpi for g in repkpi.DEFAULT_GOALS].index("senior_reps")]
    assert list(data_lines(senior)["Senior representatives"].get_xdata()) == [0, 1, 2, 3]
    assert fig.get_suptitle() == "KPIs against goals, to 2026 Q3"


def test_a_yearly_goal_in_the_dashboard_is_drawn_by_year(accounts_and_deals):
    # As of 2024-04-15: 2023Q4 .. 2024Q2 are covered by the years 2023 and 2024 (in progress).
    # Active customers on 2023-12-31: A1; on 2024-04-15: A1, A3, A4.
    goal = Goal("active_customers", "Y", 2, "at_least", "Two customers a year")
    [ax] = dashboard(accounts_and_deals, [goal], periods=3).axes
    assert tick_labels(ax.xaxis) == ["2023", "2024"]
    assert list(data_lines(ax)["Active customers"].get_ydata()) == [1, 3]
    assert missed_points(ax) == [(0, 1)]
    assert to_date_points(ax) == [(1, 3)]
    assert list(goal_lines(ax)[0].get_ydata()) == [2, 2]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # examples.accounts(): as of 2024-04-15, in 2024Q2
        ({"periods": 3}, pd.period_range("2023Q4", "2024Q2", freq="Q")),
        ({"periods": 2, "end": "2024Q1"}, pd.period_range("2023Q4", "2024Q1", freq="Q")),
        ({"periods": 5, "at": "Y"}, pd.period_range("2023", "2024", freq="Y")),  # 2023Q2..2024Q2
        ({"periods": 2, "at": "M"}, pd.period_range("2024-01", "2024-06", freq="M")),
        ({"freq": "M", "periods": 2}, pd.period_range("2024-03", "2024-04", freq="M")),
        ({"periods": 2, "fiscal_year_start": 4}, pd.period_range("2024Q4", "2025Q1", freq="Q-MAR")),
    ],
)
def test_window(kwargs, expected):
    assert list(window(examples.accounts(), **kwargs)) == list(expected)


def test_window_needs_a_positive_length():
    with pytest.raises(repkpi.OptionError, match="periods must be a whole number"):
        window(examples.accounts(), periods=0)


def test_window_needs_an_end_without_an_as_of_date():
    with pytest.raises(repkpi.OptionError, match="no as-of date"):
        window(repkpi.CrmData())


def test_trend_clips_to_a_window_and_spans_all_of_it():
    # New customers by quarter: 2023Q4 1 (A1), 2024Q1 2, 2024Q2 1 (to date). The window
    # 2023Q3 .. 2024Q1 keeps 2023Q4 (x = 1) and 2024Q1 (x = 2); 2023Q3 has no row.
    result = repkpi.kpis.new_customers(examples.accounts(), freq="Q")
    ax = trend(result, window=pd.period_range("2023Q3", "2024Q1", freq="Q"))
    [line] = data_lines(ax).values()
    assert list(line.get_xdata()) == [1, 2]
    assert list(line.get_ydata()) == [1, 2]
    assert ax.get_xlim() == (-0.5, 2.5)
    assert tick_labels(ax.xaxis) == ["2023 Q3", "2023 Q4", "2024 Q1"]


# -- hand-made results ------------------------------------------------------


def frame(kpi, values, start="2024Q1", **columns):
    return pd.DataFrame({"kpi": kpi, "period": pd.period_range(start, periods=len(values), freq="Q"),
                         **columns, "value": values})


@pytest.mark.parametrize(
    ("direction", "missed"),
    [
        ("at_least", [(0, 1)]),  # 1 < 2 misses; 2 on the target is met
        ("at_most", [(2, 3)]),   # 3 > 2 misses; 2 on the target is met
    ],
)
def test_a_value_on_the_target_meets_the_goal(direction, missed):
    ax = trend(frame("new_customers", [1.0, 2.0, 3.0]), goal=Goal("new_customers", "Q", 2, direction))
    assert missed_points(ax) == missed


def test_rank_axis_has_rank_one_on_top_and_whole_ticks():
    # Ranks 4, 3, 2 against "top three" (at most 3): only 4 misses.
    goal = Goal("market_rank", "Y", 3, "at_most", "Top three")
    ax = trend(frame("market_rank", [4.0, 3.0, 2.0]), goal=goal)
    ax.figure.canvas.draw()
    assert ax.yaxis_inverted()
    bottom, top = ax.get_ylim()
    assert bottom > top
    ticks = [t for t in ax.get_yticks() if top <= t <= bottom]
    assert ticks
    assert all(float(t).is_integer() for t in ticks)
    assert missed_points(ax) == [(0, 4)]


def test_an_axis_from_10_to_15_percent_labels_its_ticks_exactly():
    ax = trend(frame("market_share", [0.10, 0.125, 0.15]))
    ax.set_yticks([0.10, 0.125, 0.15])
    ax.figure.canvas.draw()
    assert tick_labels(ax.yaxis) == ["10.0%", "12.5%", "15.0%"]
    ax.set_yticks([0.10, 0.12, 0.14])
    ax.figure.canvas.draw()
    assert tick_labels(ax.yaxis) == ["10%", "12%", "14%"]


@pytest.mark.parametrize(
    ("kpi", "values", "unit"),
    [
        ("market_share", [0.10, 0.125, 0.15], "percent"),
        ("market_share", [0.1, 0.1004, 0.1008], "percent"),
        ("average_deal_size", [7_000, 7_250, 7_600], "money"),
        ("first_response_hours", [3.0, 3.25, 3.4], "hours"),
        ("csat_mean", [4.2, 4.25, 4.31], "score"),
    ],
)
def test_drawn_tick_labels_say_each_tick_exactly(kpi, values, unit):
    ax = trend(frame(kpi, values))
    ax.figure.canvas.draw()
    ticks = ax.get_yticks()
    labels = tick_labels(ax.yaxis)
    assert len(set(labels)) == len(labels)  # no two ticks read the same
    for tick, label in zip(ticks, labels, strict=True):
        number = label.replace("\N{MINUS SIGN}", "-").strip("$%h ")
        scale = {"k": 1e3, "M": 1e6}.get(number[-1:], 1)
        number = float(number.rstrip("kM")) * scale
        shown = number / 100 if unit == "percent" else number
        assert shown == pytest.approx(tick, abs=1e-9)


def test_low_data_periods_are_hollow_and_a_miss_there_is_hollow_too():
    # Renewal rate (counted): 2024Q1 24 of 30 = 0.8 (30 observations: firm, on the target: met);
    # 2024Q2 0 of 4 (low data, missed); 2024Q3 26 of 29 (low data, met); 2024Q4 35 of 50 = 0.7
    # (firm, missed).
    result = frame("renewal_rate", [0.8, 0.0, 26 / 29, 0.7], numerator=[24, 0, 26, 35],
                   denominator=[30, 4, 29, 50])
    ax = trend(result, goal=Goal("renewal_rate", "Q", 0.8, "at_least", "Renewals >= 80%"))
    assert low_data_points(ax) == [(1, 0.0), (2, pytest.approx(26 / 29))]
    marks = [line for line in ax.get_lines() if "low data" in line.get_label()]
    assert marks
    assert all(line.get_markerfacecolor() == "white" for line in marks)
    assert missed_points(ax) == [(1, 0.0), (3, 0.7)]
    marks = {c.get_label(): c for c in ax.collections if isinstance(c, PathCollection)}
    firm, low = marks["missed goal"], marks["missed (low data)"]
    assert [tuple(p) for p in firm.get_offsets()] == [(3, 0.7)]
    assert firm.get_facecolors()[0][3] == 1  # filled
    assert [tuple(p) for p in low.get_offsets()] == [(1, 0.0)]
    assert len(low.get_facecolors()) == 0 or low.get_facecolors()[0][3] == 0  # hollow
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "low data" in legend


def test_low_data_is_not_flagged_for_kpis_that_count_no_observations():
    # Revenue's denominator is not a count of observations: never low data.
    result = frame("revenue", [10.0, 20.0], numerator=[10.0, 20.0], denominator=[1, 1])
    assert low_data_points(trend(result)) == []


# -- literal text ------------------------------------------------------------


@pytest.mark.parametrize("label", ["$2M and $3M", "Revenue >= $2^^M and $3M", r"Costs $\frac and $"])
def test_a_goal_label_with_dollars_is_drawn_as_written(label):
    goal = Goal("revenue", "Q", 50_000, "at_least", label)
    ax = trend(repkpi.kpis.revenue(examples.deals()), goal=goal)
    ax.figure.savefig(io.BytesIO(), format="png")
    assert ax.get_title() == label
    assert not ax.title.get_parse_math()
    assert not any(t.get_parse_math() for t in ax.get_legend().get_texts())


def test_the_dashboard_draws_dollar_labels_as_written(accounts_and_deals):
    goals = [Goal("revenue", "Q", 50_000, "at_least", "Revenue >= $2^^M and $3M"),
             Goal("csat", "Q", 0.9, "at_least", "CSAT $^^ $")]  # no surveys: a text panel
    fig = dashboard(accounts_and_deals, goals, periods=3)
    fig.savefig(io.BytesIO(), format="png")
    assert [ax.get_title() for ax in fig.axes] == [g.label for g in goals]


def test_group_names_with_dollars_are_drawn_as_written():
    result = pd.DataFrame({"kpi": "revenue", "period": pd.Period("2024Q1", "Q"),
                           "team": ["$^^a$", "$b"], "value": [1.0, 2.0]})
    ax = leaderboard(result)
    ax.figure.savefig(io.BytesIO(), format="png")
    assert tick_labels(ax.yaxis) == ["$^^a$", "$b"]
    by_team = trend(result)
    by_team.figure.savefig(io.BytesIO(), format="png")
    assert [t.get_text() for t in by_team.get_legend().get_texts()] == ["$^^a$", "$b"]


# -- titles -------------------------------------------------------------------


@pytest.mark.parametrize("name", list(repkpi.KPIS))
def test_every_kpi_has_a_title_and_a_label_in_words(name):
    spec = repkpi.KPIS[name]
    assert title(name) == spec.title
    for words in (spec.title, spec.label):
        assert "_" not in words
        assert words[0].isupper()
    assert len(spec.label) <= len(spec.title)


def test_an_ungrouped_line_is_named_by_the_kpi_label():
    ax = trend(repkpi.kpis.net_revenue_retention(examples.contracts()))
    assert list(data_lines(ax)) == ["NRR"]
    assert ax.get_title() == "Net revenue retention (NRR)"


def test_chart_titles_are_in_words():
    assert title("first_response_hours") == "First response time (median hours)"
    assert title("made_up_kpi") == "Made up kpi"  # a name that is no KPI still reads in words
    ax = trend(repkpi.kpis.churn_rate(examples.accounts()), goal=Goal("churn_rate", "Q", 0.05,
                                                                      "at_most"))
    assert ax.get_title() == "Churn rate <= 5.0%"


# -- PNG ----------------------------------------------------------------------


def test_png_bytes_is_a_small_palette_png_and_closes_the_figure():
    from PIL import Image

    ax = trend(repkpi.kpis.revenue(examples.deals()), goal=50_000)
    fig = ax.figure
    plain = io.BytesIO()
    fig.savefig(plain, format="png", dpi=80)
    png = png_bytes(fig, dpi=80)
    assert not plt.fignum_exists(fig.number)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.mode == "P"
    assert len(png) < len(plain.getvalue()) / 2


def test_unit_formatter_without_ticks_writes_the_value():
    assert UnitFormatter("percent")(0.125) == "12.5%"
    assert UnitFormatter("money")(1_500_000) == "$1.5M"
    assert UnitFormatter("rank")(2) == "2"
