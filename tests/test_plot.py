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

from statistics import NormalDist

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

import repkpi  # noqa: E402
from repkpi import Goal, plot  # noqa: E402
from repkpi.datasets import doctest_data as examples  # noqa: E402
from repkpi.plot import cohort_retention, dashboard, format_value, leaderboard, period_label, trend  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def data_lines(ax):
    """The KPI lines (not the goal line, not the marks of a period in progress), by label."""
    return {line.get_label(): line for line in ax.get_lines()
            if not line.get_label().startswith("goal") and "to date" not in line.get_label()}


def to_date_points(ax):
    """(x, y) of every hollow 'to date' mark of a period in progress, sorted."""
    return sorted((float(x), float(y)) for line in ax.get_lines() if "to date" in line.get_label()
                  for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True))


def goal_lines(ax):
    return [line for line in ax.get_lines() if line.get_label().startswith("goal")]


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
    assert ax.get_title() == "active_customers >= 2"


def test_trend_marks_exactly_the_months_below_an_at_least_goal():
    result = repkpi.kpis.new_customers(examples.accounts(), freq="M")
    ax = trend(result, goal=1)  # a bare number is an at_least target

    [line] = data_lines(ax).values()
    assert line.get_label() == "new_customers"
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

    assert list(data_lines(ax)["resolution_hours"].get_ydata()) == [49.5, 25.0]
    assert missed_points(ax) == [(0, 49.5)]
    assert goal_lines(ax)[0].get_label() == "goal 30.0 h"
    assert ax.get_title() == "Resolved within 30 h"
    assert ax.yaxis.get_major_formatter()(24, 0) == "24 h"


def test_trend_without_a_goal_draws_no_goal_line_and_no_marks():
    ax = trend(repkpi.kpis.new_customers(examples.accounts(), freq="M"))
    assert goal_lines(ax) == []
    assert missed_points(ax) == []
    assert ax.get_legend() is None
    assert ax.get_title() == "new_customers"


def test_trend_draws_on_the_axes_it_is_given():
    fig, ax = plt.subplots()
    assert trend(repkpi.kpis.new_customers(examples.accounts()), ax=ax) is ax
    assert fig.axes == [ax]


def test_trend_reads_the_kpi_name_from_a_compute_result():
    result = repkpi.compute(examples.accounts(), kpis=["new_customers"], freq="Q")
    ax = trend(result, goal=2)
    assert list(data_lines(ax)) == ["new_customers"]
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


def test_trend_percent_axis_uses_a_percent_formatter():
    ax = trend(repkpi.kpis.churn_rate(examples.accounts(), freq="M"))
    assert isinstance(ax.yaxis.get_major_formatter(), PercentFormatter)


def test_trend_counts_get_whole_number_ticks():
    ax = trend(repkpi.kpis.new_customers(examples.accounts(), freq="M"))  # values 0 and 1
    ax.figure.canvas.draw()
    ticks = ax.get_yticks()
    assert np.array_equal(ticks, np.round(ticks))
    labels = [t for t in tick_labels(ax.yaxis) if t]
    assert labels
    assert all(t.lstrip("-").isdigit() for t in labels)


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
    # 24 months: a label every ceil(24 / 10) = 3 months.
    assert list(ax.get_xticks()) == [0, 3, 6, 9, 12, 15, 18, 21]
    assert tick_labels(ax.xaxis) == ["Jan 2023", "Apr 2023", "Jul 2023", "Oct 2023",
                                     "Jan 2024", "Apr 2024", "Jul 2024", "Oct 2024"]


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
    fig = dashboard(accounts_and_deals, goals)

    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["Two customers", "Revenue 50k", "Churn 5%"]
    assert [list(goal_lines(ax)[0].get_ydata()) for ax in fig.axes] == [[2, 2], [50_000, 50_000],
                                                                      [0.05, 0.05]]
    assert fig.get_suptitle() == "KPIs against goals, to 2024 Q2 (to date)"
    customers, revenue, churn = fig.axes
    # Periods run to 2024Q2, in progress on the as-of date 2024-04-15 (A4's start): its
    # point is hollow, "to date", and never a miss. Active on 04-15: A1, A3, A4.
    assert tick_labels(customers.xaxis) == ["2023 Q4", "2024 Q1", "2024 Q2"]
    assert list(data_lines(customers)["active_customers"].get_ydata()) == [1, 2, 3]
    assert missed_points(customers) == [(0, 1)]
    assert to_date_points(customers) == [(2, 3)]
    # Revenue: 2024Q1 80 000; 2024Q2 to date 10 000 (D4), below 50k but not missed.
    assert list(data_lines(revenue)["revenue"].get_ydata()) == [80_000, 10_000]
    assert missed_points(revenue) == []
    assert to_date_points(revenue) == [(1, 10_000)]
    assert isinstance(churn.yaxis.get_major_formatter(), PercentFormatter)


def test_dashboard_panel_for_a_goal_whose_table_is_missing_says_so(accounts_and_deals):
    goals = [Goal("active_customers", "Q", 2, "at_least"), Goal("csat", "Q", 0.9, "at_least"),
             Goal("revenue", "Q", 50_000, "at_least"), Goal("win_rate", "Q", 0.5, "at_least")]
    fig = dashboard(accounts_and_deals, goals, ncols=3)

    assert len(fig.axes) == 4  # a 2 x 3 grid with its two spare cells removed
    missing = fig.axes[1]
    assert not missing.axison
    assert missing.get_lines() == []
    [text] = missing.texts
    assert text.get_text() == "csat\ncsat needs the surveys table(s), which were not loaded."
    assert [list(goal_lines(ax)[0].get_ydata()) for ax in (fig.axes[0], *fig.axes[2:])] == [
        [2, 2], [50_000, 50_000], [0.5, 0.5]]


def test_dashboard_plots_a_goal_restricted_to_a_group(accounts_and_deals):
    goal = Goal("active_customers", "Q", 1, "at_least", "South", where={"region": "south"})
    [ax] = dashboard(accounts_and_deals, [goal], ncols=1).axes
    # south: 2023Q4 none active, 2024Q1 A3, 2024Q2 to 04-15 A3 and A4.
    assert list(data_lines(ax)) == ["active_customers"]
    assert list(data_lines(ax)["active_customers"].get_ydata()) == [0, 1, 2]
    assert missed_points(ax) == [(0, 0)]


# -- cohort_retention ------------------------------------------------------

# Quarterly cohorts. The latest event is 2024-10-01 (B6's churn, B7's start): 2024Q4 is
# incomplete, so the periods run 2024Q1..2024Q3 and B7 (a 2024Q4 cohort) is left out.
#
#   id  customer_since  churned_on   active on 03-31 / 06-30 / 09-30
#   B1  2024-01-15      -            yes / yes / yes
#   B2  2024-02-01      2024-05-10   yes / no  / no
#   B3  2024-03-01      2024-03-20   no  / no  / no
#   B4  2024-04-05      2024-09-30   -   / yes / no   (gone on 09-30 itself)
#   B5  2024-05-01      -            -   / yes / yes
#   B6  2024-08-01      2024-10-01   -   / -   / yes
#   B7  2024-10-01      -            -
COHORT_BOOK = {
    "account_id": ["B1", "B2", "B3", "B4", "B5", "B6", "B7"],
    "customer_since": ["2024-01-15", "2024-02-01", "2024-03-01", "2024-04-05", "2024-05-01",
                       "2024-08-01", "2024-10-01"],
    "churned_on": [None, "2024-05-10", "2024-03-20", "2024-09-30", None, "2024-10-01", None],
}
M = np.nan  # a masked cell: past the latest complete quarter
COHORT_SHARES = [
    [2 / 3, 1 / 3, 1 / 3],  # 2024Q1: B1 B2 B3 -> B1 B2; B1; B1
    [2 / 2, 1 / 2, M],      # 2024Q2: B4 B5 -> both; B5
    [1 / 1, M, M],          # 2024Q3: B6 -> B6
]


def test_cohort_retention_matrix_holds_the_hand_worked_shares():
    ax = cohort_retention(repkpi.CrmData(accounts=pd.DataFrame(COHORT_BOOK)))
    shares = ax.images[0].get_array()
    expected = np.array(COHORT_SHARES)
    assert shares.shape == (3, 3)
    np.testing.assert_array_equal(np.ma.getmaskarray(shares), np.isnan(expected))
    np.testing.assert_allclose(shares.filled(np.nan), expected)
    assert tick_labels(ax.yaxis) == ["2024 Q1", "2024 Q2", "2024 Q3"]
    assert ax.get_xlabel() == "periods since acquisition"
    assert ax.get_ylabel() == "cohort (acquired in)"
    assert ax.images[0].get_clim() == (0, 1)


def test_cohort_retention_by_month_masks_cells_past_the_last_complete_month():
    # examples.accounts(): latest event 2024-04-15, so months Nov 2023 .. Mar 2024 (5);
    # A4 (April) is left out. Cohorts: Nov A1, Jan A2 (gone 03-01), Feb A3; Dec and Mar empty.
    ax = cohort_retention(examples.accounts(), freq="M")
    shares = ax.images[0].get_array()
    expected = np.array([
        [1, 1, 1, 1, 1],      # A1, active at the end of Nov .. Mar
        [M, M, M, M, M],      # no one acquired in December
        [1, 1, 0, M, M],      # A2: active on 31 Jan and 29 Feb; churned 1 March
        [1, 1, M, M, M],      # A3
        [M, M, M, M, M],      # no one acquired in March
    ])
    np.testing.assert_array_equal(np.ma.getmaskarray(shares), np.isnan(expected))
    np.testing.assert_allclose(shares.filled(np.nan), expected)
    assert tick_labels(ax.yaxis) == ["Nov 2023", "Dec 2023", "Jan 2024", "Feb 2024", "Mar 2024"]


def test_cohort_retention_counts_periods_in_whole_numbers():
    ax = cohort_retention(repkpi.load_sample(), freq="Q")  # 19 quarterly cohorts
    ax.figure.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert len(ticks) > 2
    assert all(float(t).is_integer() for t in ticks)


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
    assert ax.get_title() == "revenue by deal_type, 2024 Q1"
    assert ax.xaxis.get_major_formatter()(20_000, 0) == "$20k"


def test_leaderboard_defaults_to_the_latest_period():
    # 2024Q2: only cross_sell (D4, 10 000) has revenue, so it tops the board.
    ax = leaderboard(repkpi.kpis.revenue(examples.deals(), by="deal_type"))
    labels, widths = bars(ax)
    assert labels[-1] == "cross_sell"
    assert widths == sorted(widths) == [0, 0, 10_000]
    assert ax.get_title() == "revenue by deal_type, 2024 Q2"


def test_leaderboard_accepts_a_period_object():
    result = repkpi.kpis.revenue(examples.deals(), by="channel")
    ax = leaderboard(result, period=pd.Period("2024Q1", "Q"))
    # direct 60 000 (D1), partner 20 000 (D2)
    assert bars(ax) == (["partner", "direct"], [20_000, 60_000])


def test_leaderboard_puts_groups_without_a_value_at_the_bottom():
    # 2024Q2 win rate by channel: direct 1/1 (D4 won); partner closed nothing: NaN, drawn as 0.
    ax = leaderboard(repkpi.kpis.win_rate(examples.deals(), by="channel"), period="2024Q2")
    assert bars(ax) == (["partner", "direct"], [0, 1.0])
    assert isinstance(ax.xaxis.get_major_formatter(), PercentFormatter)


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


def test_public_names():
    assert sorted(plot.__all__) == ["cohort_retention", "dashboard", "format_value", "leaderboard",
                                    "period_label", "trend"]


def test_cohort_retention_leaves_prospects_out_and_reads_fiscal_quarters():
    # A1 is a customer from 2024-04-01, P1 a prospect (no customer_since); the latest event is
    # 2024-09-30. Fiscal years from April: one cohort, FY2025 Q1, still whole in FY2025 Q2.
    data = repkpi.CrmData(accounts=pd.DataFrame({
        "account_id": ["A1", "P1", "A2"], "customer_since": ["2024-04-01", None, "2024-09-30"]}))
    ax = cohort_retention(data, fiscal_year_start=4)
    assert tick_labels(ax.yaxis) == ["FY2025 Q1", "FY2025 Q2"]
    share = ax.get_images()[0].get_array()
    assert share[0, 0] == 1.0   # A1, still active on 06-30
    assert share[0, 1] == 1.0   # and on 09-30
    assert share[1, 0] == 1.0                           # A2, active on 09-30
