"""Charts of KPI results with matplotlib: trends against goals, dashboards, cohorts, leaderboards.

Functions draw on an Axes (a new one when ``ax`` is None) and return it, or
return a Figure; none calls ``plt.show``. Values read as percents, money,
hours or plain counts, by the KPI's unit (:data:`repkpi.kpis.UNITS`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from repkpi.errors import MissingTableError, OptionError
from repkpi.goals import DEFAULT_GOALS, Goal, fiscal_start_of, goal_result, latest_complete_period
from repkpi.io.loading import CrmData
from repkpi.kpis import UNITS
from repkpi.periods import Freq, day_numbers, in_progress, pandas_freq

__all__ = ["cohort_retention", "dashboard", "format_value", "leaderboard", "period_label", "trend"]

MISSED = "#c0392b"
GOAL = "#555555"
_RESULT_COLUMNS = {"kpi", "period", "numerator", "denominator", "value", "lower", "upper"}


def format_value(value: float, unit: str) -> str:
    """Write a KPI value the way its unit reads.

    Examples
    --------
    >>> format_value(0.9123, "percent"), format_value(1_234_567, "money"), format_value(3, "count")
    ('91.2%', '$1.23M', '3')
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    if unit == "percent":
        return f"{value:.1%}"
    if unit == "money":
        for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= size:
                return f"${value / size:.3g}{suffix}"
        return f"${value:,.0f}"
    if unit == "hours":
        return f"{value:.1f} h"
    if unit in ("count", "rank"):
        return f"{value:,.0f}"
    return f"{value:.2f}"


def period_label(period: pd.Period) -> str:
    """A short readable label: ``2026 Q3``, ``Jul 2026``, ``2026``; fiscal ``FY2027 Q2``, ``FY2027``.

    Examples
    --------
    >>> period_label(pd.Period("2026Q3", "Q")), period_label(pd.Period("2026-07", "M"))
    ('2026 Q3', 'Jul 2026')
    >>> period_label(pd.Period("2027Q2", "Q-MAR")), period_label(pd.Period("2027", "Y-MAR"))
    ('FY2027 Q2', 'FY2027')
    """
    code = period.freqstr[0]
    fiscal = period.freqstr not in ("Q-DEC", "Y-DEC", "Y", "Q", "M")
    if code == "Q":
        return f"FY{period.qyear} Q{period.quarter}" if fiscal else f"{period.qyear} Q{period.quarter}"
    if code == "M":
        return period.strftime("%b %Y")
    return f"FY{period.qyear}" if fiscal else str(period.year)


def _kpi_name(result: pd.DataFrame) -> str:
    if "kpi" in result.columns and len(result) and (result["kpi"] == result["kpi"].iloc[0]).all():
        return str(result["kpi"].iloc[0])
    name = result.attrs.get("kpi")
    if name is None:
        raise OptionError("Cannot tell which KPI this result holds.\nHint: pass the frame a KPI "
                          "function returned, or one KPI's rows of repkpi.compute(...).")
    return name


def _by_columns(result: pd.DataFrame) -> list[str]:
    return [c for c in result.columns if c not in _RESULT_COLUMNS]


def _format_axis(ax: Axes, unit: str) -> None:
    if unit == "percent":
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    elif unit == "money":
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v, "money")))
    elif unit in ("count", "rank"):
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    elif unit == "hours":
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} h"))


def _misses(values: pd.Series, goal: Goal) -> pd.Series:
    if goal.direction == "at_least":
        return values < goal.target
    return values > goal.target


def trend(result: pd.DataFrame, *, goal: Goal | float | None = None,
          ax: Axes | None = None) -> Axes:
    """Plot a KPI by period, with its goal line and the periods that miss it marked.

    Parameters
    ----------
    result : DataFrame
        What a KPI function returns (or one KPI's rows of ``compute``). With
        ``by`` columns, one line per group.
    goal : Goal or float, optional
        The goal (a bare number is an ``at_least`` target).
    ax : matplotlib Axes, optional

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import repkpi
    >>> from repkpi.datasets import doctest_data as examples
    >>> result = repkpi.kpis.new_customers(examples.accounts(), freq="Q")
    >>> ax = trend(result, goal=2)
    >>> [line.get_label() for line in ax.get_lines()]   # 2024Q2 is in progress: "to date"
    ['new_customers', 'to date', 'goal 2']
    """
    name = _kpi_name(result)
    unit = UNITS.get(name, "score")
    if isinstance(goal, int | float):
        goal = Goal(name, "Q", float(goal), "at_least")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
    periods = pd.Index(result["period"].unique()).sort_values()
    position = pd.Series(np.arange(len(periods)), index=periods)
    by = _by_columns(result)
    groups = result.groupby(by, dropna=False, sort=False) if by else [(name, result)]
    current = result.attrs.get("in_progress")
    for key, rows in groups:
        label = name if not by else ", ".join(
            "n/a" if pd.isna(k) else str(k) for k in (key if isinstance(key, tuple) else (key,)))
        x = position[rows["period"]].to_numpy()
        line = ax.plot(x, rows["value"].to_numpy(), marker="o", markersize=3, label=label)[0]
        if {"lower", "upper"} <= set(rows.columns) and not by:
            ax.fill_between(x, rows["lower"], rows["upper"], alpha=0.2, label="_interval")
        progress = (rows["period"] == current).to_numpy() if current is not None else \
            np.zeros(len(rows), dtype=bool)
        if progress.any():  # the period in progress: hollow, "to date", never a miss
            ax.plot(x[progress], rows["value"].to_numpy()[progress], linestyle="none",
                    marker="o", markersize=7, markerfacecolor="white", zorder=4,
                    markeredgecolor=line.get_color(), markeredgewidth=1.5,
                    label="to date" if not by else "_to date")
        if goal is not None:
            missed = _misses(rows["value"], goal).to_numpy() & ~progress
            if missed.any():
                ax.scatter(x[missed], rows["value"].to_numpy()[missed], color=MISSED, zorder=3,
                           s=28, label="missed goal" if not by else "_missed")
    if goal is not None:
        ax.axhline(goal.target, color=GOAL, linestyle="--", linewidth=1.2,
                   label=f"goal {format_value(goal.target, unit)}")
    ax.set_title(textwrap.fill(goal.label if goal is not None and goal.label else name, 50),
                 fontsize=10)
    step = max(1, int(np.ceil(len(periods) / 10)))
    ax.set_xticks(np.arange(0, len(periods), step))
    ax.set_xticklabels([period_label(p) for p in periods[::step]], rotation=45, ha="right",
                       fontsize=8)
    _format_axis(ax, unit)
    ax.grid(axis="y", alpha=0.3)
    if by or goal is not None:
        ax.legend(fontsize=7, loc="best")
    return ax


def dashboard(data: CrmData, goals: Iterable[Goal] | None = None, *, freq: Freq = "Q",
              ncols: int = 3, fiscal_year_start: int | None = None) -> Figure:
    """Small multiples: every goal's KPI by period, with its goal line.

    Goals whose KPI cannot be computed from the loaded tables get a panel
    that says so. The periods run up to the as-of date's, the one in progress marked "to date".

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import repkpi
    >>> fig = dashboard(repkpi.load_sample())
    >>> len(fig.axes)
    9
    """
    goals = list(DEFAULT_GOALS if goals is None else goals)
    nrows = max(1, int(np.ceil(len(goals) / ncols)))
    # Fixed margins: a constrained layout of many panels costs seconds at every save.
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.2 * nrows), squeeze=False)
    height = 3.2 * nrows
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.55 / height, top=1 - 0.9 / height,
                        hspace=0.65, wspace=0.22)
    fiscal = fiscal_start_of(goals, fiscal_year_start)
    pfreq = pandas_freq(freq, fiscal)
    end = None if data.as_of is None else data.as_of.to_period(pfreq)  # to date, in progress
    for ax, goal in zip(axes.flat, goals, strict=False):
        try:
            result = goal_result(data, goal, freq=freq, fiscal_year_start=fiscal)
        except (MissingTableError, OptionError) as exc:
            ax.text(0.5, 0.5, f"{goal.kpi}\n{str(exc).splitlines()[0]}", ha="center",
                    va="center", wrap=True, fontsize=8)
            ax.set_axis_off()
            continue
        trend(result.drop(columns=list(goal.where)), goal=goal, ax=ax)
    for ax in list(axes.flat)[len(goals):]:
        fig.delaxes(ax)
    to_date = " (to date)" if end is not None and in_progress(data.as_of, pfreq) == end else ""
    fig.suptitle("KPIs against goals" + (f", to {period_label(end)}{to_date}" if end is not None
                                         else ""), y=1 - 0.25 / height, fontsize=13)
    return fig


def cohort_retention(data: CrmData, *, freq: Freq = "Q", ax: Axes | None = None,
                     fiscal_year_start: int = 1) -> Axes:
    """Heatmap: the share of each acquisition cohort still active n periods later.

    Row c, column n: of the accounts acquired in period c, the share active on
    the last day of period c + n. Cells past the latest complete period are
    blank.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from repkpi.datasets import doctest_data as examples
    >>> ax = cohort_retention(examples.accounts(), freq="M")
    >>> ax.get_ylabel()
    'cohort (acquired in)'
    """
    accounts = data.accounts
    if accounts is None:
        raise MissingTableError("cohort_retention needs the accounts table, which was not loaded.")
    accounts = accounts[accounts["customer_since"].notna()]  # prospects are in no cohort
    pfreq = pandas_freq(freq, fiscal_year_start)
    end = latest_complete_period(data, freq, fiscal_year_start=fiscal_year_start)
    since = accounts["customer_since"].dt.to_period(pfreq)
    periods = pd.period_range(since.min(), max(end, since.min()), freq=pfreq)
    last = day_numbers(pd.Series(periods.end_time))
    cohort = (since - periods[0]).map(lambda offset: offset.n).to_numpy(dtype=np.int64) \
        if len(since) else np.array([], dtype=np.int64)
    churn = day_numbers(accounts["churned_on"])
    churn = np.where(churn == np.iinfo(np.int64).min, np.iinfo(np.int64).max, churn)
    stops = np.searchsorted(last, churn, side="left")  # first period end on or after churn
    keep = cohort < len(periods)
    n = len(periods)
    lasting = np.clip(stops[keep] - cohort[keep], 0, n)
    counts = np.bincount(cohort[keep] * (n + 1) + lasting, minlength=n * (n + 1)).reshape(n, n + 1)
    survivors = counts[:, ::-1].cumsum(axis=1)[:, ::-1][:, 1:]  # accounts lasting > offset
    size = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(size > 0, survivors / np.where(size > 0, size, 1), np.nan)
    offsets = np.arange(n)
    share[(np.arange(n)[:, None] + offsets[None, :]) >= n] = np.nan
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 6), layout="constrained")
    image = ax.imshow(share, aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.figure.colorbar(image, ax=ax, format=PercentFormatter(1.0, decimals=0),
                       label="still active")
    ax.set_yticks(np.arange(n))
    ax.set_yticklabels([period_label(p) for p in periods], fontsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("periods since acquisition")
    ax.set_ylabel("cohort (acquired in)")
    ax.set_title("Customer retention by acquisition cohort")
    return ax


def leaderboard(result: pd.DataFrame, *, period: object = None, ax: Axes | None = None) -> Axes:
    """Ranked horizontal bars, one per group (rep, team, ...), for one period.

    Parameters
    ----------
    result : DataFrame
        A KPI result with one ``by`` column.
    period : period-like, optional
        Default: the latest period in the result.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import repkpi
    >>> from repkpi.datasets import doctest_data as examples
    >>> ax = leaderboard(repkpi.kpis.revenue(examples.deals(), by="channel"), period="2024Q1")
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['partner', 'direct']
    """
    name = _kpi_name(result)
    by = _by_columns(result)
    if len(by) != 1:
        raise OptionError(f"leaderboard needs a result with one by column, got {by}.\n"
                          "Hint: compute the KPI with by='rep_id' or by='team'.")
    chosen = result["period"].max() if period is None else pd.Period(period,
                                                                     freq=result["period"].dt.freq)
    rows = result[result["period"] == chosen].sort_values("value", na_position="first")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, max(2.5, 0.3 * len(rows) + 1)), layout="constrained")
    labels = ["n/a" if pd.isna(v) else str(v) for v in rows[by[0]]]
    ax.barh(labels, rows["value"].fillna(0).to_numpy(), color="#2e86c1")
    unit = UNITS.get(name, "score")
    if unit == "percent":
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    elif unit == "money":
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v, "money")))
    ax.set_title(f"{name} by {by[0]}, {period_label(chosen)}", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return ax
