"""Charts of KPI results with matplotlib: trends against goals, dashboards, cohorts, leaderboards.

Functions draw on an Axes (a new one when ``ax`` is None) and return it, or
return a Figure; none calls ``plt.show``. A new Axes or Figure is a pyplot
one, which Jupyter and ``plt.show()`` display; an ``ax`` on a figure of your
own (``matplotlib.figure.Figure()``, as the report draws on) keeps pyplot out.

Values read as percents, money, hours or plain counts, by the KPI's unit
(:data:`repkpi.kpis.UNITS`), with as many decimals as the tick step needs;
ranks read with 1 at the top. Every chart is titled in words
(:func:`title`), and every text is drawn literally (a ``$`` is a dollar
sign, never mathtext).

A goal is drawn at its own frequency (a yearly goal by year) with its goal
line (:func:`goal_chart`). The charts of one review share one time range
(:func:`window`): by default the 12 quarters up to the one holding the
data's as-of date. Points are hollow where the value is not firm: the period
in progress ("to date") and the periods whose ratio rests on fewer than
:data:`repkpi.goals.LOW_DATA` observations ("low data"), as the scorecard
flags them.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, MaxNLocator, PercentFormatter
from PIL import Image

from repkpi.cohorts import Measure, cohorts
from repkpi.errors import ColumnNotFoundError, MissingTableError, OptionError
from repkpi.goals import (
    DEFAULT_GOALS,
    LOW_DATA,
    Goal,
    fiscal_start_of,
    goal_result,
)
from repkpi.io.loading import CrmData
from repkpi.kpis import KPIS, UNITS
from repkpi.kpis.units import format_value
from repkpi.outliers import LIMITS, control_limits
from repkpi.periods import (
    Calendar,
    Freq,
    PeriodLike,
    in_progress,
    period_label,
)

__all__ = ["UnitFormatter", "cohort_retention", "dashboard", "format_value", "funnel", "goal_chart",
           "goal_series", "leaderboard", "period_label", "png_bytes", "survival", "title", "trend",
           "window"]

MISSED = "#c0392b"
GOAL = "#555555"
_RESULT_COLUMNS = {"kpi", "period", "numerator", "denominator", "value", "lower", "upper"}

def title(kpi: str) -> str:
    """The human title of a KPI's charts: its spec's ``title``.

    A name that is no KPI reads as its words.

    Examples
    --------
    >>> title("first_response_hours"), title("nps")
    ('First response time (median hours)', 'NPS')
    """
    spec = KPIS.get(kpi)
    return spec.title if spec is not None else kpi.replace("_", " ").capitalize()


def _legend_name(kpi: str) -> str:
    """The short name of a KPI's value, as a legend shows it: its spec's ``label``."""
    spec = KPIS.get(kpi)
    return spec.label if spec is not None else title(kpi)


def _decimals(values: Sequence[float] | np.ndarray, most: int = 4) -> int:
    """The fewest decimals (up to ``most``) that write every one of ``values`` exactly.

    Ticks 10, 12.5, 15 need one decimal; 10, 11, 12 none.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return 0
    steps = np.diff(np.unique(values))
    scale = steps.min() if len(steps) else max(1.0, float(np.abs(values).max()))
    for decimals in range(most + 1):
        if np.all(np.abs(values - np.round(values, decimals)) <= scale * 1e-6):
            return decimals
    return most


_MONEY = ((1e9, "B"), (1e6, "M"), (1e3, "k"))


class UnitFormatter(Formatter):
    """Tick labels in a KPI's unit, with the decimals the tick step needs.

    Ticks 0.10, 0.125, 0.15 of a percent read 10.0%, 12.5%, 15.0%; ticks
    0.10, 0.12, 0.14 read 10%, 12%, 14%. Money takes the suffix of its
    largest tick ($0.5M, $1.0M, $1.5M), hours an ``h``. Called on one value
    without ticks (``formatter(0.9)``), it writes that value with the
    decimals it needs.

    Examples
    --------
    >>> UnitFormatter("percent").format_ticks([0.10, 0.125, 0.15])
    ['10.0%', '12.5%', '15.0%']
    >>> UnitFormatter("percent").format_ticks([0.10, 0.12, 0.14])
    ['10%', '12%', '14%']
    >>> UnitFormatter("money").format_ticks([0, 500_000, 1_000_000, 1_500_000])
    ['$0', '$0.5M', '$1.0M', '$1.5M']
    >>> UnitFormatter("hours")(24), UnitFormatter("percent")(0.9)
    ('24 h', '90%')
    >>> UnitFormatter("points").format_ticks([-0.01, 0, 0.01, 0.02])
    ['−1 pts', '0 pts', '+1 pts', '+2 pts']
    """

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self._ticks = np.array([], dtype=np.float64)

    def set_locs(self, locs: Sequence[float]) -> None:  # noqa: D102
        self._ticks = np.asarray(locs, dtype=np.float64)

    def __call__(self, x: float, pos: int | None = None) -> str:  # noqa: D102
        return self.fix_minus(self._text(float(x)))

    def _text(self, x: float) -> str:
        locs = self._ticks
        ticked = len(locs) > 1
        if self.unit in ("percent", "points"):
            decimals = _decimals(locs * 100 if ticked else [x * 100], 4 if ticked else 2)
            if self.unit == "percent":
                return f"{x * 100:.{decimals}f}%"
            return f"{x * 100:{'+' if x else ''}.{decimals}f} pts"
        if self.unit == "money":
            if not ticked:
                return format_value(x, "money")
            if x == 0:
                return "$0"
            top = float(np.abs(locs).max())
            size, suffix = next(((s, u) for s, u in _MONEY if top >= s), (1.0, ""))
            decimals = _decimals(locs / size)
            sign = "-" if x < 0 else ""
            return f"{sign}${abs(x) / size:,.{decimals}f}{suffix}"
        if self.unit in ("count", "rank"):
            return f"{x:,.0f}"
        decimals = _decimals(locs if ticked else [x], 4 if ticked else 2)
        return f"{x:.{decimals}f} h" if self.unit == "hours" else f"{x:.{decimals}f}"


def window(data: CrmData, *, freq: Freq = "Q", periods: int = 12, end: PeriodLike | None = None,
           fiscal_year_start: int = 1, at: Freq | None = None) -> pd.PeriodIndex:
    """The time range the charts of one review share: ``periods`` periods of ``freq`` to ``end``.

    Parameters
    ----------
    data : CrmData
    freq : {"M", "Q", "Y"}
        The periods that measure the range.
    periods : int
        How many of them (default 12 quarters).
    end : period-like, optional
        The last of them: default the one holding ``data.as_of`` (in progress
        included).
    fiscal_year_start : int
    at : {"M", "Q", "Y"}, optional
        Return the periods of this frequency that cover the range (default
        ``freq``): the years a yearly goal is drawn by.

    Raises
    ------
    OptionError
        ``periods`` is not a positive whole number, or there is no ``end``
        and no as-of date (empty data).

    Examples
    --------
    The example accounts' as-of date is 15 April 2024:

    >>> from repkpi.datasets import doctest_data as examples
    >>> window(examples.accounts(), periods=3)
    PeriodIndex(['2023Q4', '2024Q1', '2024Q2'], dtype='period[Q-DEC]')
    >>> window(examples.accounts(), at="Y")   # the years of 2021Q3 .. 2024Q2
    PeriodIndex(['2021', '2022', '2023', '2024'], dtype='period[Y-DEC]')
    """
    if isinstance(periods, bool) or not isinstance(periods, int) or periods < 1:
        raise OptionError(f"periods must be a whole number of periods, 1 or more, got {periods!r}.\n"
                          "Hint: periods=12 shows the last 12 periods.")
    calendar = Calendar(freq, fiscal_year_start)
    if end is not None:
        last = calendar.period(end, how="end")
    elif data.as_of is not None:
        last = calendar.holding(data.as_of)
    else:
        raise OptionError("The data has no as-of date to end the charts' time range on.\n"
                          "Hint: pass end='2026Q3', or load data with dated rows.")
    span = pd.period_range(end=last, periods=periods, freq=calendar.pfreq)
    return span if at is None else _cover(span, calendar.at(at).pfreq)


def _cover(span: pd.PeriodIndex, pfreq: object) -> pd.PeriodIndex:
    """The periods of ``pfreq`` that overlap ``span``."""
    if not len(span):
        return pd.PeriodIndex([], freq=pfreq)
    return pd.period_range(span[0].start_time.to_period(pfreq), span[-1].end_time.to_period(pfreq),
                           freq=pfreq)


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
    ax.yaxis.set_major_formatter(UnitFormatter(unit))
    if unit in ("count", "rank"):
        # One whole tick is enough: a flat line of 3s would otherwise get ticks 2.8, 2.9, ...,
        # each written "3".
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if unit == "rank" and not ax.yaxis_inverted():
        ax.invert_yaxis()  # rank 1, the best, at the top


def _misses(values: pd.Series, goal: Goal) -> pd.Series:
    """The values on the wrong side of the target; a value equal to it meets the goal."""
    if goal.direction == "at_least":
        return values < goal.target
    return values > goal.target


def _low_data(name: str, rows: pd.DataFrame) -> np.ndarray:
    """The scorecard's rule: a counted ratio on fewer than LOW_DATA observations (its denominator)."""
    spec = KPIS.get(name)
    if spec is None or not spec.counted or "denominator" not in rows.columns:
        return np.zeros(len(rows), dtype=bool)
    observations = rows["denominator"].astype(np.float64)
    return (observations.lt(LOW_DATA) & rows["value"].notna()).to_numpy()


def _chart_title(name: str, goal: Goal | None) -> str:
    """The goal's label, or the KPI's title (with the target when the label is the default one)."""
    if goal is None:
        return title(name)
    sign = ">=" if goal.direction == "at_least" else "<="
    if goal.label and goal.label != f"{goal.kpi} {sign} {goal.target:g}":
        return goal.label
    return f"{title(goal.kpi)} {sign} {format_value(goal.target, UNITS.get(goal.kpi, 'score'))}"


def _literal(ax: Axes) -> None:
    """Draw the legend's texts as written (no mathtext)."""
    legend = ax.get_legend()
    if legend is not None:
        for text in legend.get_texts():
            text.set_parse_math(False)


def _hollow(ax: Axes, x: np.ndarray, y: np.ndarray, color: str, label: str) -> None:
    ax.plot(x, y, linestyle="none", marker="o", markersize=7, markerfacecolor="white", zorder=4,
            markeredgecolor=color, markeredgewidth=1.5, label=label)


def trend(result: pd.DataFrame, *, goal: Goal | float | None = None,
          window: Sequence[pd.Period] | pd.PeriodIndex | None = None,
          ax: Axes | None = None) -> Axes:
    """Plot a KPI by period, with its goal line and the periods that miss it marked.

    Filled points are firm values. Hollow points are not: the period in
    progress ("to date", never a miss) and the periods whose ratio rests on
    fewer than :data:`repkpi.goals.LOW_DATA` observations ("low data"; a miss
    there is marked, hollow). A value equal to the target meets the goal.

    Parameters
    ----------
    result : DataFrame
        What a KPI function returns (or one KPI's rows of ``compute``). With
        ``by`` columns, one line per group.
    goal : Goal or float, optional
        The goal (a bare number is an ``at_least`` target). Its line is
        tagged ``gid="goal"`` and labelled ``goal <target>``.
    window : PeriodIndex, optional
        The time range to draw (see :func:`window`): the result is clipped to
        the periods of its own frequency that cover it, and the x axis spans
        all of them, with or without a value. Default: the result's periods.
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
    ['New customers', 'to date', 'goal 2']
    >>> ax.get_title()
    'New customers >= 2'
    """
    name = _kpi_name(result)
    unit = UNITS.get(name, "score")
    if isinstance(goal, int | float):
        goal = Goal(name, "Q", float(goal), "at_least")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
    if window is not None:
        periods = _cover(pd.PeriodIndex(window), result["period"].dtype.freq)
        result = result[result["period"].isin(periods)]
    else:
        periods = pd.Index(result["period"].unique()).sort_values()
    position = pd.Series(np.arange(len(periods)), index=periods)
    by = _by_columns(result)
    groups = result.groupby(by, dropna=False, sort=False) if by else [(name, result)]
    current = result.attrs.get("in_progress")
    shown = set()  # legend entries drawn once

    def once(label: str) -> str:
        if label in shown:
            return f"_{label}"
        shown.add(label)
        return label

    for key, rows in groups:
        label = _legend_name(name) if not by else ", ".join(
            "n/a" if pd.isna(k) else str(k) for k in (key if isinstance(key, tuple) else (key,)))
        x = position[rows["period"]].to_numpy()
        y = rows["value"].to_numpy(dtype=np.float64)
        line = ax.plot(x, y, marker="o", markersize=3, label=label)[0]
        if {"lower", "upper"} <= set(rows.columns) and not by:
            ax.fill_between(x, rows["lower"], rows["upper"], alpha=0.2, label="_interval")
        progress = (rows["period"] == current).to_numpy() if current is not None else \
            np.zeros(len(rows), dtype=bool)
        low = _low_data(name, rows) & ~progress
        if progress.any():  # the period in progress: hollow, "to date", never a miss
            _hollow(ax, x[progress], y[progress], line.get_color(),
                    "to date" if not by else "_to date")
        if low.any():  # too few observations: hollow, "low data" (one grey legend entry)
            _hollow(ax, x[low], y[low], line.get_color(), "_low data")
            if once("low data") == "low data":
                _hollow(ax, np.array([]), np.array([]), GOAL, "low data")
        if goal is not None:
            missed = _misses(rows["value"], goal).to_numpy() & ~progress
            if (missed & ~low).any():
                ax.scatter(x[missed & ~low], y[missed & ~low], color=MISSED, zorder=5, s=28,
                           label=once("missed goal") if not by else "_missed")
            if (missed & low).any():
                ax.scatter(x[missed & low], y[missed & low], facecolors="none", zorder=5, s=40,
                           edgecolors=MISSED, linewidths=1.5,
                           label=once("missed (low data)") if not by else "_missed low")
    if goal is not None:
        goal_line = ax.axhline(goal.target, color=GOAL, linestyle="--", linewidth=1.2,
                               label=f"goal {format_value(goal.target, unit)}")
        goal_line.set_gid("goal")
    ax.set_title(textwrap.fill(_chart_title(name, goal), 50), fontsize=10, parse_math=False)
    if len(periods):
        step = max(1, int(np.ceil(len(periods) / 10)))
        ticks = np.arange(len(periods) - 1, -1, -step)[::-1]  # the latest period always labelled
        ax.set_xticks(ticks)
        ax.set_xticklabels([period_label(periods[i]) for i in ticks], rotation=45, ha="right",
                           fontsize=8)
    if window is not None:
        ax.set_xlim(-0.5, len(periods) - 0.5)
    _format_axis(ax, unit)
    ax.grid(axis="y", alpha=0.3)
    if by or goal is not None or "low data" in shown:
        ax.legend(fontsize=7, loc="best")
        _literal(ax)
    return ax


def goal_chart(data: CrmData, goal: Goal, *, periods: int | None = 12, end: PeriodLike | None = None,
               freq: Freq = "Q", fiscal_year_start: int | None = None,
               ax: Axes | None = None) -> Axes:
    """Plot a goal's KPI at the goal's own frequency, restricted to its ``where``, with its goal line.

    A yearly goal is drawn by year, a quarterly one by quarter, over the
    time range of :func:`window` (``periods`` periods of ``freq`` to
    ``end``, default the 12 quarters to the one holding ``data.as_of``), so
    the charts of one review line up.

    Parameters
    ----------
    data : CrmData
    goal : Goal
    periods : int or None
        The length of the time range, in periods of ``freq``; None: every
        period of the data.
    end : period-like, optional
        The last period of the range; default the one holding ``data.as_of``.
    freq : {"M", "Q", "Y"}
        The periods that measure the range (not the goal's: those it is drawn by).
    fiscal_year_start : int, optional
        Default 1 (calendar years).
    ax : matplotlib Axes, optional

    Raises
    ------
    MissingTableError
        The goal's KPI needs a table that was not loaded.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from repkpi.datasets import doctest_data as examples
    >>> ax = goal_chart(examples.accounts(), Goal("active_customers", "Y", 2, "at_least"))
    >>> [t.get_text() for t in ax.get_xticklabels()]   # the years of 2021Q3 .. 2024Q2
    ['2021', '2022', '2023', '2024']
    >>> [line.get_label() for line in ax.get_lines() if line.get_gid() == "goal"]
    ['goal 2']
    """
    result, span = goal_series(data, goal, periods=periods, end=end, freq=freq,
                               fiscal_year_start=fiscal_year_start)
    return trend(result, goal=goal, window=span, ax=ax)


def goal_series(data: CrmData, goal: Goal, *, periods: int | None = 12,
                end: PeriodLike | None = None, freq: Freq = "Q",
                fiscal_year_start: int | None = None) -> tuple[pd.DataFrame, pd.PeriodIndex | None]:
    """What :func:`goal_chart` draws: the goal's KPI by period and the time range.

    ``trend(result, goal=goal, window=span)`` draws it: the numbers can be
    computed in one place and drawn in another (the report draws in worker
    processes). Parameters as :func:`goal_chart`.

    Examples
    --------
    >>> from repkpi.datasets import doctest_data as examples
    >>> result, span = goal_series(examples.accounts(), Goal("active_customers", "Y", 2, "at_least"))
    >>> [str(p) for p in result["period"]], len(span)   # the data's years; the range's 12 quarters
    (['2023', '2024'], 12)
    """
    fiscal = fiscal_year_start or 1
    span = _span(data, freq, periods, end, fiscal)
    last = None if span is None else _cover(span, Calendar(goal.freq, fiscal).pfreq)[-1]
    result = goal_result(data, goal, end=last, fiscal_year_start=fiscal)
    return result.drop(columns=list(goal.where)), span


def _span(data: CrmData, freq: Freq, periods: int | None, end: PeriodLike | None,
          fiscal: int) -> pd.PeriodIndex | None:
    """:func:`window`, or None (every period) without a length or without an end."""
    if periods is None or (end is None and data.as_of is None):
        return None
    return window(data, freq=freq, periods=periods, end=end, fiscal_year_start=fiscal)


def dashboard(data: CrmData, goals: Iterable[Goal] | None = None, *, freq: Freq = "Q",
              periods: int | None = 12, end: PeriodLike | None = None, ncols: int = 3,
              fiscal_year_start: int | None = None) -> Figure:
    """Small multiples: every goal's KPI at the goal's frequency, with its goal line.

    Every panel spans the same time range (:func:`window`: ``periods``
    periods of ``freq`` to ``end``, default the 12 quarters to the one
    holding ``data.as_of``, in progress included); a yearly goal is drawn by
    the years that cover it. Goals whose KPI cannot be computed from the
    loaded tables get a panel that says so.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import repkpi
    >>> fig = dashboard(repkpi.load_sample())
    >>> len(fig.axes)
    9
    """
    goals_in = DEFAULT_GOALS if goals is None else goals
    fiscal = fiscal_start_of(goals_in, fiscal_year_start)
    goals = list(goals_in)
    nrows = max(1, int(np.ceil(len(goals) / ncols)))
    # Fixed margins: a constrained layout of many panels costs seconds at every save.
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.2 * nrows), squeeze=False)
    height = 3.2 * nrows
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.55 / height, top=1 - 0.9 / height,
                        hspace=0.65, wspace=0.22)
    span = _span(data, freq, periods, end, fiscal)
    calendar = Calendar(freq, fiscal)
    last = span[-1] if span is not None else \
        None if data.as_of is None else calendar.holding(data.as_of)
    for ax, goal in zip(axes.flat, goals, strict=False):
        try:
            goal_chart(data, goal, periods=periods, end=end, freq=freq, fiscal_year_start=fiscal,
                       ax=ax)
        except (MissingTableError, ColumnNotFoundError, OptionError) as exc:
            ax.set_title(textwrap.fill(_chart_title(goal.kpi, goal), 50), fontsize=10,
                         parse_math=False)
            ax.text(0.5, 0.5, textwrap.fill(str(exc).splitlines()[0], 45), ha="center",
                    va="center", fontsize=8, parse_math=False)
            ax.set_axis_off()
    for ax in list(axes.flat)[len(goals):]:
        fig.delaxes(ax)
    to_date = " (to date)" if last is not None and in_progress(data.as_of, calendar.pfreq) == last else ""
    fig.suptitle("KPIs against goals" + (f", to {period_label(last)}{to_date}" if last is not None
                                         else ""), y=1 - 0.25 / height, fontsize=13,
                 parse_math=False)
    return fig


def png_bytes(fig: Figure, *, dpi: int = 80, colors: int = 64) -> bytes:
    r"""The figure as a compact PNG (a palette of ``colors`` colours), and close it.

    Charts are flat colours and antialiased edges: a palette keeps them
    sharp at a fraction of the size of a full-colour PNG. Drawn with Agg
    whatever the process's backend; a pyplot figure is closed, a figure of
    its own (``matplotlib.figure.Figure()``) never touches pyplot.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> png_bytes(Figure()).startswith(b"\x89PNG")
    True
    >>> fig, ax = plt.subplots()
    >>> png_bytes(fig).startswith(b"\x89PNG"), plt.fignum_exists(fig.number)
    (True, False)
    """
    try:  # drawn once, to pixels: no PNG written only to be read back
        fig.set_dpi(dpi)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(),
                                 "raw", "RGBA", 0, 1).convert("RGB")
    finally:
        plt.close(fig)
    palette = image.quantize(colors=colors, method=Image.Quantize.FASTOCTREE)
    out = io.BytesIO()
    # zlib's level 6: the same pixels as optimize=True (level 9), 6% larger, 6x faster to write.
    palette.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def cohort_retention(data: CrmData, *, freq: Freq = "Q", measure: Measure = "customers",
                     ax: Axes | None = None, fiscal_year_start: int = 1) -> Axes:
    """Heatmap of :func:`repkpi.cohorts`: each acquisition cohort's share kept n periods later.

    Row c, column n: the cell (c, n) of :func:`repkpi.cohorts` (the share of
    cohort c's customers active, or of its ARR kept, at the close of period
    c + n), its value printed in it. The cells of the period holding the
    as-of date are measured on it and marked with an asterisk; cells of
    periods after it, and cohorts with no customer won, are blank.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from repkpi.datasets import doctest_data as examples
    >>> ax = cohort_retention(examples.accounts(), freq="M")
    >>> ax.get_ylabel(), ax.texts[0].get_text()
    ('cohort (acquired in)', '100%')
    """
    table = cohorts(data, freq=freq, measure=measure, fiscal_year_start=fiscal_year_start)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 6), layout="constrained")
    pfreq = Calendar(freq, fiscal_year_start).pfreq
    periods = pd.period_range(table["cohort"].min(), table["cohort"].max(), freq=pfreq) \
        if len(table) else pd.PeriodIndex([], freq=pfreq)
    n = len(periods)
    row = (table["cohort"] - periods[0]).map(lambda offset: offset.n).to_numpy(dtype=np.int64) \
        if n else np.array([], dtype=np.int64)
    age = table["age"].to_numpy(dtype=np.int64)
    share = np.full((n, n), np.nan)
    share[row, age] = table["value"].to_numpy(dtype=np.float64)
    top = max(1.0, float(np.nanmax(share))) if np.isfinite(share).any() else 1.0
    image = ax.imshow(np.ma.masked_invalid(share), aspect="auto", cmap="viridis", vmin=0, vmax=top)
    ax.figure.colorbar(image, ax=ax, format=PercentFormatter(1.0, decimals=0),
                       label="still active" if measure == "customers" else "ARR kept")
    light = image.norm(np.nan_to_num(share)) > 0.5
    size = 7 if n <= 12 else 5
    for r, a, value, late in zip(row, age, table["value"], table["in_progress"], strict=True):
        if np.isnan(value):
            continue
        ax.text(a, r, f"{value:.0%}" + ("*" if late else ""), ha="center", va="center",
                fontsize=size, color="black" if light[r, a] else "white")
    ax.set_yticks(np.arange(n))
    ax.set_yticklabels([period_label(p) for p in periods], fontsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("periods since acquisition" + (" (* to the as-of date)"
                                                  if table["in_progress"].any() else ""))
    ax.set_ylabel("cohort (acquired in)")
    ax.set_title("Customer retention by acquisition cohort" if measure == "customers"
                 else "Net revenue retention by acquisition cohort")
    return ax


_DURATIONS = {"M": "month", "Q": "quarter", "Y": "year"}


def _group_label(key: object) -> str:
    """A group's values joined in words, an empty one as n/a."""
    return ", ".join("n/a" if pd.isna(k) else str(k) for k in (key if isinstance(key, tuple) else (key,)))


def survival(result: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Kaplan-Meier curves of :func:`repkpi.forecast.survival`: steps, 95% bands, medians marked.

    One step curve per group, from 100% at duration 0, with its 95% interval
    as a band of the same colour; the median lifetime (``attrs["median"]``)
    is a dotted line from the axis up to one half, tagged ``gid="median"``,
    and is written in the group's legend entry ("not reached" when the curve
    stays above one half).

    Parameters
    ----------
    result : DataFrame
        What :func:`repkpi.forecast.survival` returns (its rows, or some of
        its groups' rows, with its ``attrs``).
    ax : matplotlib Axes, optional

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import repkpi
    >>> from repkpi.datasets import doctest_data as examples
    >>> ax = survival(repkpi.forecast.survival(examples.accounts(), by="region"))
    >>> [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]
    ['north: median 2 months', 'south: median not reached']
    >>> ax.get_xlabel(), ax.get_title()
    ('months since won', 'How long customers stay, by region')
    """
    by = list(result.columns[:result.columns.get_loc("t")])
    unit = _DURATIONS.get(result.attrs.get("freq", "M"), "period")
    medians = result.attrs.get("median")
    if by:
        medians = {_group_label(key): value for key, value in (medians or {}).items()}
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    groups = result.groupby(by, dropna=False, sort=True) if by else [((), result)]
    for key, rows in groups:
        name = _group_label(key) if by else "all customers"
        median = medians.get(name) if by else medians
        said = "not reached" if median is None else f"{median} {unit}{'' if median == 1 else 's'}"
        t = np.r_[0, rows["t"].to_numpy(dtype=np.float64)]
        line = ax.step(t, np.r_[1.0, rows["survival"]], where="post",
                       label=f"{name}: median {said}")[0]
        ax.fill_between(t, np.r_[1.0, rows["lower"]], np.r_[1.0, rows["upper"]], step="post",
                        alpha=0.2, color=line.get_color(), linewidth=0, label="_95% interval")
        if median is not None:
            ax.plot([median, median], [0, 0.5], linestyle=":", color=line.get_color(),
                    gid="median", label="_median")
    ax.axhline(0.5, color=GOAL, linewidth=0.8, linestyle=":", label="_one half")
    ax.yaxis.set_major_formatter(UnitFormatter("percent"))
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_xlabel(f"{unit}s since won")
    ax.set_ylabel("still customers (95% band)")
    ax.set_title("How long customers stay" + (f", by {', '.join(by).replace('_', ' ')}" if by else ""),
                 parse_math=False)
    ax.legend(fontsize=8, loc="best")
    _literal(ax)
    ax.grid(alpha=0.3)
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
    positions = np.arange(len(labels))
    ax.barh(positions, rows["value"].fillna(0).to_numpy(), color="#2e86c1")
    ax.set_yticks(positions, labels=labels, parse_math=False)  # names drawn as written
    ax.xaxis.set_major_formatter(UnitFormatter(UNITS.get(name, "score")))
    ax.set_title(f"{title(name)} by {by[0].replace('_', ' ')}, {period_label(chosen)}",
                 fontsize=10, parse_math=False)
    ax.grid(axis="x", alpha=0.3)
    return ax


def funnel(table: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """A funnel plot of :func:`repkpi.outliers`: each group's value against its size.

    The groups are points at (n, value), hollow where they rest on too few
    observations to be flagged; the whole's value p0 is a horizontal line and
    the 95% and 99.8% control limits are curves that narrow as n grows; the
    groups flagged out of line are drawn in red and labelled with their name.

    Parameters
    ----------
    table : DataFrame
        The result of :func:`repkpi.outliers` (its ``attrs`` name the KPI,
        the period and the ``by`` columns).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import repkpi
    >>> table = repkpi.outliers(repkpi.load_sample(), "csat", period="2026Q2", by="team")
    >>> ax = funnel(table)
    >>> ax.get_xlabel()
    'observations (n)'
    """
    name = _kpi_name(table)
    by = table.attrs.get("by") or list(table.columns[:table.columns.get_loc("value")])
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    shown = table[(table["n"] > 0) & table["value"].notna()]
    p0 = float(table["p0"].iloc[0]) if len(table) else np.nan
    if len(shown):
        sizes = np.linspace(max(1.0, shown["n"].min() * 0.8), shown["n"].max() * 1.1, 200)
        for (z, level), style in zip(LIMITS.values(), ("--", "-"), strict=True):
            low, high = control_limits(p0, sizes, z)
            label = f"{level} limits"
            ax.plot(sizes, low, color=GOAL, linestyle=style, linewidth=1, label=label)
            ax.plot(sizes, high, color=GOAL, linestyle=style, linewidth=1, label="_" + label)
    ax.axhline(p0, color="#2e86c1", linewidth=1, label=f"whole: {format_value(p0, 'percent')}")
    firm = shown[~shown["low_data"].astype(bool)]
    flagged = firm[firm["flag"] != ""]
    steady = firm[firm["flag"] == ""]
    ax.plot(steady["n"], steady["value"], linestyle="none", marker="o", color="#2e86c1",
            label=f"{by[0].replace('_', ' ')}s")
    few = shown[shown["low_data"].astype(bool)]
    if len(few):
        _hollow(ax, few["n"].to_numpy(), few["value"].to_numpy(), "#7f8c8d",
                f"fewer than {LOW_DATA} observations")
    if len(flagged):
        ax.plot(flagged["n"], flagged["value"], linestyle="none", marker="o", color=MISSED,
                label=f"out of line ({LIMITS['998'][1]})")
    keys = flagged[by].astype(object)
    names = keys.where(keys.notna(), "n/a").astype(str).agg(" / ".join, axis=1) if len(keys) else []
    for group, n, value in zip(names, flagged["n"], flagged["value"], strict=True):  # a few, named
        ax.annotate(group, (n, value), xytext=(4, 4), textcoords="offset points", fontsize=8,
                    color=MISSED, parse_math=False)
    _format_axis(ax, UNITS.get(name, "percent"))
    ax.set_xlabel("observations (n)")
    period = table.attrs.get("period")
    when = f", {period_label(period)}" if isinstance(period, pd.Period) else ""
    ax.set_title(f"{title(name)} by {by[0].replace('_', ' ')}{when}", fontsize=10, parse_math=False)
    ax.legend(fontsize=8, loc="best")
    _literal(ax)
    ax.grid(alpha=0.3)
    return ax
