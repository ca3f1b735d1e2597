"""Goals, their TOML files, and the scorecard that measures the KPIs against them.

A goal is a KPI, a frequency, a target and a direction (``at_least`` or
``at_most``), optionally restricted to one period or to some groups
(``where = { region = "north" }``).

Attainment is value / target for ``at_least`` and target / value for
``at_most`` (a value of 0 against ``at_most`` is met, with infinite
attainment). The status is ``met``, ``missed`` or ``no data``.

Examples
--------
>>> [goal.kpi for goal in DEFAULT_GOALS][:3]
['new_customer_growth', 'csat', 'large_deals']
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd

from repkpi.errors import GoalsError, OptionError
from repkpi.io.loading import CrmData
from repkpi.kpis import KPIS
from repkpi.kpis.business import read_calendar
from repkpi.kpis.detail import period_freq
from repkpi.kpis.groups import available_dimensions
from repkpi.kpis.intervals import change_interval, wilson_interval
from repkpi.kpis.registry import (
    By,
    Window,
    check_options,
    executor_for,
    normalise_by,
    refuse_after_as_of,
)
from repkpi.periods import (
    Calendar,
    Freq,
    PeriodLike,
    in_progress,
    period_label,
    to_period,
    year_before,
)

__all__ = [
    "DEFAULT_GOALS",
    "LOW_DATA",
    "PLAN_FOCUS",
    "Goal",
    "GoalSet",
    "check_goal_columns",
    "fiscal_start_of",
    "focus_of",
    "goal_result",
    "latest_complete_period",
    "load_goals",
    "low_data",
    "plan_goals",
    "refuse_unlived",
    "scorecard",
    "year_ago_rows",
]

Direction = Literal["at_least", "at_most"]
LOW_DATA = 30
"""A ratio whose denominator is below this rests on too few observations."""


@dataclass(frozen=True)
class Goal:
    """One goal of the work plan."""

    kpi: str
    freq: Freq
    target: float
    direction: Direction
    label: str = ""
    period: str | None = None
    where: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    """The KPI's own options (``{"clock": "business", "targets": {...}}``), read-only."""

    def __post_init__(self) -> None:
        name = _goal_name(self.kpi, self.label)
        if not isinstance(self.kpi, str) or self.kpi not in KPIS:
            raise GoalsError(f"Goal {name!r}: unknown kpi {self.kpi!r}.\n"
                             f"Hint: the KPIs are {sorted(KPIS)}.")
        if self.freq not in ("M", "Q", "Y"):
            raise GoalsError(f"Goal {name!r}: freq must be 'M', 'Q' or 'Y', got {self.freq!r}.")
        if self.direction not in ("at_least", "at_most"):
            raise GoalsError(f"Goal {name!r}: direction must be 'at_least' or 'at_most', "
                             f"got {self.direction!r}.")
        if isinstance(self.target, bool) or not isinstance(self.target, int | float) or \
                not math.isfinite(self.target):
            raise GoalsError(f"Goal {name!r}: target must be a number, got {self.target!r}.")
        if not isinstance(self.where, Mapping):
            raise GoalsError(f"Goal {name!r}: where must be a table of column = value, "
                             f"got {self.where!r}.")
        if not isinstance(self.label, str):
            raise GoalsError(f"Goal {name!r}: label must be text, got {self.label!r}.")
        if not isinstance(self.options, Mapping):
            raise GoalsError(f"Goal {name!r}: options must be a table of the KPI's own options, "
                             f"got {self.options!r}.")
        try:
            check_options(KPIS[self.kpi], self.options, allowed=())
        except OptionError as exc:
            raise GoalsError(f"Goal {name!r}: {exc}") from exc
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        if self.period is not None and not _readable_period(self.period, self.freq):
            raise GoalsError(f"Goal {name!r}: period must be a period of freq {self.freq!r} "
                             f"such as '2026Q3', '2026-07' or '2026', got {self.period!r}.")
        if not self.label:
            sign = ">=" if self.direction == "at_least" else "<="
            object.__setattr__(self, "label", f"{self.kpi} {sign} {self.target:g}")


def _goal_name(kpi: object, label: object) -> object:
    """Return the name a goal's errors use: its label, else its KPI."""
    return label if isinstance(label, str) and label else kpi


def _readable_period(period: object, freq: str) -> bool:
    """Tell whether ``period`` is text or a Period that reads as a period of ``freq``."""
    if not isinstance(period, str | pd.Period):
        return False
    try:
        Calendar(freq).period(period)
    except OptionError:
        return False
    return True


DEFAULT_GOALS: tuple[Goal, ...] = (
    Goal("new_customer_growth", "Q", 0.20, "at_least",
         "New customers grow at least 20% quarter on quarter"),
    Goal("csat", "Q", 0.90, "at_least", "Customer satisfaction stays at 90% or above"),
    Goal("large_deals", "Q", 2, "at_least", "At least two large deals ($50,000+) a quarter"),
    Goal("retention_rate", "Q", 0.95, "at_least", "Customer retention at 95% or above"),
    Goal("churn_rate", "Q", 0.05, "at_most", "Customer churn at 5% or below"),
    Goal("cross_sell_rate", "Y", 0.10, "at_least",
         "Cross-sell and upsell success rate at least 10% over the year"),
    Goal("key_accounts", "Y", 5, "at_least", "At least 5 loyal key accounts"),
    Goal("market_rank", "Y", 3, "at_most", "Market share among the top three"),
    Goal("senior_reps", "Y", 10, "at_least", "A team of 10 senior representatives"),
)
"""The team's goals from its work plan, used when no goals file is given."""

_KEYS = {"kpi", "freq", "target", "direction", "label", "period", "where", "options"}
_TOP = {"goal", "fiscal_year_start", "focus", "calendar"}

PLAN_FOCUS: dict[str, tuple[str, ...] | str] = {
    "Q1": ("new_customers", "new_customer_growth"),
    "Q2": ("csat", "csat_mean", "nps", "sla_compliance", "first_response_hours"),
    "Q3": ("renewal_rate", "renewal_value_rate", "net_revenue_retention", "retention_rate"),
    "Q4": "all",
}
"""The plan's focus per (fiscal) quarter: the KPIs its review leads with ("all": the year's review)."""


class GoalSet(list):
    """Goals read from a goals file: a list of :class:`Goal`, with the file's settings.

    Attributes
    ----------
    fiscal_year_start : int or None
        The file's ``fiscal_year_start`` (None when it sets none); an explicit
        ``fiscal_year_start=`` argument wins over it.
    focus : dict
        ``Q1``..``Q4`` -> the KPIs the review of that fiscal quarter leads
        with, or ``"all"`` (default :data:`PLAN_FOCUS`).
    calendar : dict or None
        The file's ``[calendar]`` table, as written: the opening hours of the
        goals whose ``options`` say ``clock = "business"`` without their own.
    """

    def __init__(self, goals: Iterable[Goal] = (), *, fiscal_year_start: int | None = None,
                 focus: Mapping[str, tuple[str, ...] | str] | None = None,
                 calendar: Mapping[str, Any] | None = None) -> None:
        super().__init__(goals)
        self.fiscal_year_start = fiscal_year_start
        self.focus = dict(PLAN_FOCUS if focus is None else focus)
        self.calendar = None if calendar is None else dict(calendar)


def fiscal_start_of(goals: object, explicit: int | None) -> int:
    """The fiscal year start to use: the explicit one, else the goals file's, else January."""
    if explicit is not None:
        return explicit
    return getattr(goals, "fiscal_year_start", None) or 1


def _focus(path: Path, table: object) -> dict[str, tuple[str, ...] | str]:
    if not isinstance(table, dict):
        raise GoalsError(f"{path}: [focus] must be a table of Q1..Q4 = [KPI names], got {table!r}.")
    focus = dict(PLAN_FOCUS)
    for quarter, names in table.items():
        if quarter not in PLAN_FOCUS:
            raise GoalsError(f"{path}: [focus] has {quarter!r}.\nHint: its keys are Q1, Q2, Q3, Q4.")
        if names == "all":
            focus[quarter] = "all"
            continue
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise GoalsError(f"{path}: [focus] {quarter} must be a list of KPI names or \"all\", "
                             f"got {names!r}.")
        unknown = [n for n in names if n not in KPIS]
        if unknown:
            raise GoalsError(f"{path}: [focus] {quarter} names unknown KPI(s) {unknown}.\n"
                             f"Hint: the KPIs are {sorted(KPIS)}.")
        focus[quarter] = tuple(names)
    return focus


def load_goals(path: str | os.PathLike[str]) -> GoalSet:
    """Read a goals file: a TOML list of ``[[goal]]`` tables, and optional settings.

    The file may also set ``fiscal_year_start`` (1..12) at its top, a
    ``[focus]`` table (``Q1`` .. ``Q4`` = KPI names or ``"all"``) and a
    ``[calendar]`` table; see goals.md.

    Raises
    ------
    GoalsError
        The file is not TOML, or a goal has an unknown KPI, key or direction,
        a missing field, or a target that is not a number. The message names
        the goal and the field.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "goals.toml"
    >>> _ = file.write_text(chr(10).join(['[[goal]]', 'kpi = "csat"', 'freq = "Q"',
    ...                                   'target = 0.9', 'direction = "at_least"']))
    >>> load_goals(file)[0].label
    'csat >= 0.9'
    >>> _ = file.write_text(chr(10).join(['[[goal]]', 'kpi = "csat"', 'freq = "Q"',
    ...                                   'target = "high"', 'direction = "at_least"']))
    >>> load_goals(file)
    Traceback (most recent call last):
    ...
    repkpi.errors.GoalsError: ...goal 1 (csat): target must be a number, got 'high'.
    """
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GoalsError(f"{path}: cannot read the goals file: {exc}.\n"
                         "Hint: a goals file is TOML with one [[goal]] table per goal.") from exc
    extra = sorted(set(document) - _TOP)
    entries = document.get("goal", [])
    if extra or not isinstance(entries, list):
        raise GoalsError(f"{path}: unexpected top-level key(s) {extra or ['goal']}.\n"
                         "Hint: write each goal as a [[goal]] table; the file may also set "
                         "fiscal_year_start, [focus] and [calendar].")
    fiscal = document.get("fiscal_year_start")
    if fiscal is not None and (isinstance(fiscal, bool) or not isinstance(fiscal, int)
                               or not 1 <= fiscal <= 12):
        raise GoalsError(f"{path}: fiscal_year_start must be a month number 1..12, got {fiscal!r}.\n"
                         "Hint: 4 for a fiscal year starting in April.")
    focus = _focus(path, document["focus"]) if "focus" in document else None
    calendar = document.get("calendar")
    if calendar is not None and not isinstance(calendar, dict):
        raise GoalsError(f"{path}: [calendar] must be a table, got {calendar!r}.")
    if calendar is not None:
        try:
            read_calendar(calendar)
        except OptionError as exc:
            raise GoalsError(f"{path}: {exc}") from exc
    goals = GoalSet(fiscal_year_start=fiscal, focus=focus, calendar=calendar)
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise GoalsError(f"{path}: goal {number} must be a table, got {entry!r}.\n"
                             "Hint: write each goal as a [[goal]] table.")
        name = f"{path}: goal {number} ({entry.get('kpi', '?')})"
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            raise GoalsError(f"{name}: unknown key(s) {unknown}.\nHint: the keys are "
                             f"{sorted(_KEYS)}.")
        missing = sorted({"kpi", "freq", "target", "direction"} - set(entry))
        if missing:
            raise GoalsError(f"{name}: missing {', '.join(missing)}.")
        if isinstance(entry["target"], bool) or not isinstance(entry["target"], int | float):
            raise GoalsError(f"{name}: target must be a number, got {entry['target']!r}.")
        options = entry.get("options")
        if isinstance(options, dict) and options.get("clock") == "business" and \
                "calendar" not in options:
            if calendar is None:
                raise GoalsError(f"{name}: options say clock = \"business\", but the file has "
                                 "no [calendar] table.\nHint: add the team's opening hours as "
                                 "[calendar] (timezone, hours, holidays), or give the goal's own "
                                 "options.calendar.")
            entry = {**entry, "options": {**options, "calendar": calendar}}  # the file's hours
        try:
            goals.append(Goal(**entry))
        except GoalsError as exc:
            own = f"Goal {_goal_name(entry['kpi'], entry.get('label'))!r}: "
            raise GoalsError(f"{name}: {str(exc).removeprefix(own)}") from exc
    return goals


def latest_complete_period(data: CrmData, freq: Freq = "Q", *,
                           fiscal_year_start: int = 1) -> pd.Period | None:
    """The last period the data covers in full: the one that ends on or before ``data.as_of``.

    The data's as-of date is the latest recorded event (a customer won, a
    deal created, won or lost, a ticket opened, answered or resolved, a
    survey response, an activity), or the cut-off declared with
    ``load(..., as_of=)``. The period holding it counts as complete only if
    it is its last day; otherwise the export was taken during it, and the
    period before is the latest complete one.

    Examples
    --------
    >>> from repkpi.datasets import doctest_data as examples
    >>> latest_complete_period(examples.accounts(), "M")   # last event on 2024-04-15
    Period('2024-03', 'M')
    """
    as_of = data.as_of
    if as_of is None:
        return None
    period = Calendar(freq, fiscal_year_start).holding(as_of)
    return period - 1 if in_progress(as_of, period.freqstr) is not None else period


def goal_result(data: CrmData, goal: Goal, *, freq: Freq | None = None, by: By = None,
                end: PeriodLike | None = None, fiscal_year_start: int = 1,
                window: Window = "period") -> pd.DataFrame:
    """The goal's KPI by period (at ``freq``, default the goal's), restricted to its ``where``.

    ``end`` extends (or cuts) the periods to that one, so that every goal's
    KPI reaches the period being reviewed; ``window`` is the KPI's
    (analysis.md, "Windows").

    Examples
    --------
    >>> from repkpi.datasets import doctest_data as examples
    >>> goal = Goal("active_customers", "Q", 2, "at_least", where={"region": "south"})
    >>> goal_result(examples.accounts(), goal)[["period", "region", "value"]]
      period region  value
    0 2023Q4  south    0.0
    1 2024Q1  south    1.0
    2 2024Q2  south    2.0
    """
    by_cols = normalise_by(by)
    dims = _dims(goal, by_cols)
    result = KPIS[goal.kpi](data, freq=freq or goal.freq, by=dims or None, end=end,
                            fiscal_year_start=fiscal_year_start, **_windowed(window),
                            **goal.options)
    for column, wanted in goal.where.items():
        result = result[result[column] == wanted]
    return result.reset_index(drop=True)


def refuse_unlived(data: CrmData, period: PeriodLike, *, fiscal_year_start: int = 1,
                   what: str = "scorecard") -> None:
    """Raise :class:`OptionError` when the period asked for begins after ``data.as_of``.

    ``period`` is read at its own length (``"2026Q3"`` a quarter, ``"2026"``
    a year, a date the day itself), with ``fiscal_year_start``: a period not
    yet lived is never scored, reviewed or reported.

    Examples
    --------
    >>> from repkpi.datasets import doctest_data as examples
    >>> data = examples.accounts()   # as of 15 April 2024
    >>> refuse_unlived(data, "2024Q2")
    >>> refuse_unlived(data, "2024-05", what="review")
    Traceback (most recent call last):
    ...
    repkpi.errors.OptionError: review cannot take May 2024: it begins after the as-of date (as_of)...
    """
    try:
        pfreq = Calendar(period_freq(period), fiscal_year_start).pfreq
    except OptionError:  # a date: the day itself (an unreadable one raises below)
        pfreq = "D"
    asked = to_period(period, pfreq, fiscal_year_start=fiscal_year_start)
    refuse_after_as_of(data, asked, what=what)


def _plan(data: CrmData, goals: Iterable[Goal], period: PeriodLike | None,
          fiscal_year_start: int) -> list[tuple[Goal, pd.Period | None]]:
    """Each goal with the period it is scored on."""
    if period is not None and period != "current":
        refuse_unlived(data, period, fiscal_year_start=fiscal_year_start)
    plan = []
    as_of = data.as_of if period == "current" else None
    for goal in goals:
        calendar = Calendar(goal.freq, fiscal_year_start)
        if goal.period is not None:
            chosen = calendar.period(goal.period)
        elif period == "current":  # the period in progress on the as-of date
            chosen = None if as_of is None else calendar.holding(as_of)
        elif period is not None:
            chosen = _reviewed(period, calendar)
        else:
            chosen = latest_complete_period(data, goal.freq, fiscal_year_start=fiscal_year_start)
        plan.append((goal, chosen))
    return plan


def goal_calls(plan: list[tuple[Goal, pd.Period | None]], by_cols: list[str],
               fiscal_year_start: int, window: Window = "period",
               ) -> list[tuple[str, dict[str, Any]]]:
    """The KPI calls that scoring ``plan`` makes: name and keyword arguments of each."""
    return [(goal.kpi, {"freq": goal.freq, "by": _dims(goal, by_cols) or None, "end": chosen,
                        "fiscal_year_start": fiscal_year_start, **_windowed(window),
                        **goal.options})
            for goal, chosen in plan]


def _windowed(window: Window) -> dict[str, Any]:
    """A KPI call's ``window=``, left out for the period itself (the calls then share results)."""
    return {} if window == "period" else {"window": window}


def scorecard_calls(data: CrmData, goals: Iterable[Goal], period: PeriodLike | None = None,
                    fiscal_year_start: int = 1) -> list[tuple[str, dict[str, Any]]]:
    """The KPI calls :func:`scorecard` makes for ``goals`` (to compute them in one pass)."""
    return goal_calls(_plan(data, goals, period, fiscal_year_start), [], fiscal_year_start)


def check_goal_columns(data: CrmData, goals: Iterable[Goal]) -> None:
    """Refuse goals whose ``where`` names a column the data cannot group their KPI by.

    A goal's ``where`` columns are looked up as a KPI's ``by`` is: in the
    KPI's table, then in accounts, then in reps (see
    :func:`repkpi.kpis.groups.available_dimensions`). Checked before any
    goal is scored, so that a misspelt column is never scored "no data". A
    goal whose KPI's table is not loaded is left to the KPI (it has no data).

    Raises
    ------
    GoalsError
        Naming each such goal, its unknown columns and the columns available.

    Examples
    --------
    >>> from repkpi.datasets import doctest_data as examples
    >>> check_goal_columns(examples.accounts(),
    ...                    [Goal("active_customers", "Q", 2, "at_least", where={"region": "south"})])
    >>> check_goal_columns(examples.accounts(),
    ...                    [Goal("active_customers", "Q", 2, "at_least", where={"regoin": "south"})])
    Traceback (most recent call last):
    ...
    repkpi.errors.GoalsError: Goal 'active_customers >= 2': where names 'regoin', a column...
    """
    problems = []
    for goal in goals:
        frame = getattr(data, KPIS[goal.kpi].table, None)
        if not goal.where or frame is None:
            continue
        available = available_dimensions(data, frame.columns)
        unknown = [column for column in goal.where if column not in available]
        if unknown:
            problems.append(
                f"Goal {goal.label!r}: where names {', '.join(map(repr, unknown))}, a column "
                f"the data does not have for {goal.kpi} (table {KPIS[goal.kpi].table}). "
                f"Available: {', '.join(sorted(available))}.")
    if problems:
        raise GoalsError("\n".join([*problems, "Hint: a goal's where takes the columns of its "
                                    "KPI's table, of accounts and of reps, as a KPI's by does; "
                                    "correct the goals file."]))


def _dims(goal: Goal, by_cols: list[str]) -> list[str]:
    """The columns a goal's KPI is grouped by: the scorecard's, then the goal's ``where``."""
    return list(dict.fromkeys([*by_cols, *goal.where]))


def _reviewed(period: PeriodLike, calendar: Calendar) -> pd.Period:
    """The period of ``calendar`` a review of ``period`` scores.

    A quarter reviews the monthly goals on its last month and the yearly ones
    on the (fiscal) year that contains it, in progress until its last day.
    """
    return calendar.period(period, how="end")


def _status(value: pd.Series, target: float, direction: str) -> tuple[pd.Series, pd.Series]:
    if direction == "at_least":
        met = value >= target
        with np.errstate(divide="ignore", invalid="ignore"):
            attainment = value / target
    else:
        met = value <= target
        with np.errstate(divide="ignore", invalid="ignore"):
            attainment = pd.Series(np.where(value == 0, np.inf, target / value), index=value.index)
    status = pd.Series(np.where(met, "met", "missed"), index=value.index).where(value.notna(),
                                                                                 "no data")
    return attainment.where(value.notna()), status


def scorecard(data: CrmData, goals: Iterable[Goal] | str | os.PathLike[str] | None = None, *,
              period: PeriodLike | None = None, by: By = None, ci: float | None = None,
              fiscal_year_start: int | None = None, window: Window = "period") -> pd.DataFrame:
    """Each goal against its KPI for one period: value, target, attainment and status.

    Parameters
    ----------
    data : CrmData
    goals : list of Goal, or a goals file path; default :data:`DEFAULT_GOALS`
    period : period-like or "current", optional
        The period under review. Each goal is scored on the period of its own
        freq that holds the last day of it: ``"2026Q3"`` scores the quarterly
        goals on 2026Q3, the monthly ones on 2026-09 and the yearly ones on
        2026 (in progress until its last day). ``"current"``: the periods in
        progress on ``data.as_of``. Default: for each goal its own ``period``
        if it has one, else the latest complete period of its freq
        (:func:`latest_complete_period`). With ``"current"``, a goal whose
        period ends on ``as_of`` is scored met or missed, with ``elapsed`` 1.0.
    by : str or list of str, optional
        One row per goal and group (rep, team, region, ...).
    ci : float, optional
        Add ``lower`` and ``upper``, the Wilson score interval of proportion
        KPIs at this confidence level.
    fiscal_year_start : int, optional
        Default: the goals file's, else 1 (calendar years).
    window : {"period", "ytd", "qtd"} or int
        The span each goal's KPI is computed over (analysis.md, "Windows"):
        ``"ytd"`` scores the (fiscal) year to date at each goal's period,
        its ``year_ago`` the same span a year earlier (to the same day when
        in progress).

    Raises
    ------
    GoalsError
        A goal's ``where`` names a column the data does not have
        (:func:`check_goal_columns`), before any goal is scored.

    Returns
    -------
    DataFrame
        One row per goal (and group), the plan's goals first in the plan's
        order (:func:`plan_goals`), then the others in the given order:
        ``goal``, ``kpi``, ``freq``, ``period``, ``period_label`` (the
        period as printed: ``2026 Q3``, ``FY2027 Q2``), the ``by`` columns,
        ``value``, ``target``, ``direction``,
        ``attainment``, ``status`` (met, missed, no data, in progress), ``previous``,
        ``change``, ``change_low`` and ``change_high`` (the 95% interval of
        the change by Newcombe's method, for a KPI that is a share of counts:
        :func:`repkpi.kpis.intervals.change_interval`; NA for the others),
        ``significant`` (that interval excludes 0); ``year_ago``,
        ``change_yoy``, ``change_yoy_low``, ``change_yoy_high`` and
        ``significant_yoy`` the same against the same period a year earlier
        (NA when the data does not reach back; for a period in progress, the
        same span cut at the same day a year earlier: :func:`year_ago_rows`),
        ``observations`` (the
        denominator of a ratio) and
        ``low_data`` (fewer than :data:`LOW_DATA` observations behind a ratio:
        the status is not firm). When a goal's period is in progress, its
        status is ``in progress`` and the card gains ``elapsed`` (the share
        of the period's days up to ``as_of``), ``pace`` (the value at the
        period's end if the rest goes like the elapsed part) and ``outlook``
        (``on track`` or ``at risk``).

    Examples
    --------
    The example book's as-of date is its latest recorded event, A4's
    ``customer_since`` on 15 April 2024 (A2's ``churned_on``, 1 March, is a
    scheduled date and does not count), so the latest complete quarter is
    2024Q1 and the latest complete month March 2024. On 31 March A1 and A3
    are active (A2 left on 1 March): 2 against 1 on 31 December. March opens
    with A1, A2 and A3 (on 29 February) and A2 churns on March's first day:
    1 of 3, against 0 of 2 in February:

    >>> from repkpi.datasets import doctest_data as examples
    >>> card = scorecard(examples.accounts(), [Goal("active_customers", "Q", 2, "at_least"),
    ...                                        Goal("churn_rate", "M", 0.05, "at_most")])
    >>> card[["kpi", "period", "value", "status", "previous", "low_data"]]
                    kpi   period     value  status  previous  low_data
    0  active_customers   2024Q1  2.000000     met       1.0     False
    1        churn_rate  2024-03  0.333333  missed       0.0      True
    """
    if goals is None:
        goals = DEFAULT_GOALS
    elif isinstance(goals, str | os.PathLike):
        goals = load_goals(goals)
    fiscal_year_start = fiscal_start_of(goals, fiscal_year_start)
    ours, _, others = plan_goals(goals)
    goals = [*ours, *others]  # the plan's goals first, in the plan's order
    check_goal_columns(data, goals)
    by_cols = normalise_by(by)
    plan = _plan(data, goals, period, fiscal_year_start)
    # On Dask data, every goal's KPI in one pass over the data.
    executor_for(data).prefetch(data, goal_calls(plan, by_cols, fiscal_year_start, window))
    rows = []
    then: dict[str, CrmData] = {}  # the data as it stood a year before as_of, cut once
    for goal, chosen in plan:
        result = goal_result(data, goal, by=by_cols, end=chosen,
                             fiscal_year_start=fiscal_year_start, window=window)
        ago = year_ago_rows(data, goal, result, chosen, by_cols, fiscal_year_start, then,
                            window=window)
        rows.append(_score(goal, result, chosen, by_cols, ci, data.as_of,
                           current=period == "current", ago=ago))
    card = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    if len(card):  # the period as a person reads it, beside the period
        labels = {p: period_label(p) for p in pd.unique(card["period"]) if isinstance(p, pd.Period)}
        card.insert(card.columns.get_loc("period") + 1, "period_label", card["period"].map(labels))
    if "elapsed" in card.columns:  # some goal is in progress: pace and outlook go last
        card = card[[c for c in card.columns if c not in _PACE] + _PACE]
    return card


_PACE = ["elapsed", "pace", "outlook"]


def year_ago_rows(data: CrmData, goal: Goal, result: pd.DataFrame, chosen: pd.Period | None,
                  by_cols: list[str], fiscal_year_start: int,
                  then: dict[str, CrmData] | None = None, *,
                  window: Window = "period") -> pd.DataFrame:
    """The goal's KPI rows for the same period a year before ``chosen`` (analysis.md, "Comparisons").

    A complete period is read from ``result``; a period in progress is read
    against the same span cut at the same day a year earlier: the data as
    it stood at the close of that day (:meth:`CrmData.cut_at`), kept in
    ``then`` for the other goals. No rows when the data does not reach back.
    """
    if chosen is None:
        return result.iloc[:0]
    ago = year_before(chosen)
    if in_progress(data.as_of, chosen.freqstr) != chosen:
        return result[result["period"] == ago]
    then = {} if then is None else then
    if "data" not in then:
        then["data"] = data.cut_at(year_before(data.as_of))
    earlier = goal_result(then["data"], goal, by=by_cols, end=ago,
                          fiscal_year_start=fiscal_year_start, window=window)
    return earlier[earlier["period"] == ago]


def _pace(goal: Goal, frame: pd.DataFrame, elapsed: float) -> pd.Series:
    """The value the period in progress ends with if the rest goes like the elapsed part."""
    num = frame["numerator"].astype(np.float64)
    den = frame["denominator"].astype(np.float64)
    value = frame["value"].astype(np.float64)
    rule = KPIS[goal.kpi].pace_rule
    with np.errstate(divide="ignore", invalid="ignore"):
        if rule == "scale":
            return value / elapsed
        if rule == "growth":  # new(P) = numerator + denominator, scaled; against new(P-1)
            return ((num + den) / elapsed - den).where(den > 0) / den
        if rule == "churn":  # churned count C scaled, against the opening book S
            return (num / elapsed / den).where(den > 0).clip(upper=1.0)
        if rule == "retention":  # the book's losses S - (E - N), scaled
            return (1 - (den - num) / elapsed / den).where(den > 0).clip(lower=0.0)
    return value


def low_data(kpi: str, result: pd.DataFrame) -> pd.Series:
    """Which rows of a KPI result rest on too few observations to be firm.

    A KPI that counts observations (a ratio of events, such as CSAT or win
    rate) with a denominator below :data:`LOW_DATA`; never a count, a sum or
    a missing value.

    Examples
    --------
    >>> result = pd.DataFrame({"numerator": [27, 3, 0], "denominator": [30, 4, 0],
    ...                        "value": [0.9, 0.75, float("nan")]})
    >>> low_data("csat", result).tolist(), low_data("revenue", result).tolist()
    ([False, True, False], [False, False, False])
    """
    if not KPIS[kpi].counted:
        return pd.Series(False, index=result.index)
    observations = result["denominator"].astype(np.float64)
    return observations.lt(LOW_DATA) & result["value"].notna()


def plan_goals(goals: Iterable[Goal]) -> tuple[list[Goal], list[Goal], list[Goal]]:
    """The work plan's goals among ``goals``, in the plan's order; the plan's left out; the others.

    A goal is the plan's when its KPI and freq match a row of the plan's
    table (:data:`DEFAULT_GOALS`), whatever its target; one without a
    ``where`` is preferred, and each plan row takes one goal.

    Examples
    --------
    >>> mine = [Goal("revenue", "Q", 1e6, "at_least"), Goal("csat", "Q", 0.85, "at_least")]
    >>> plan, left_out, others = plan_goals(mine)
    >>> [g.kpi for g in plan], len(left_out), [g.kpi for g in others]
    (['csat'], 8, ['revenue'])
    """
    goals = list(goals)
    taken: set[int] = set()
    plan, left_out = [], []
    for row in DEFAULT_GOALS:
        found = [i for i, g in enumerate(goals)
                 if i not in taken and (g.kpi, g.freq) == (row.kpi, row.freq)]
        found.sort(key=lambda i: bool(goals[i].where))
        if found:
            taken.add(found[0])
            plan.append(goals[found[0]])
        else:
            left_out.append(row)
    return plan, left_out, [g for i, g in enumerate(goals) if i not in taken]


def focus_of(goals: Iterable[Goal], period: pd.Period) -> tuple[str, ...] | str:
    """The KPIs the review of ``period`` leads with: its fiscal quarter's focus (goals.md).

    The goals file's ``[focus]``, else :data:`PLAN_FOCUS`. A month takes the
    focus of its quarter; a year is the year's review, Q4's. ``period``
    carries its fiscal year in its freq (``Q-MAR``: April).

    Examples
    --------
    >>> focus_of(DEFAULT_GOALS, pd.Period("2026Q3", "Q"))
    ('renewal_rate', 'renewal_value_rate', 'net_revenue_retention', 'retention_rate')
    >>> focus_of(DEFAULT_GOALS, pd.Period("2027Q1", "Q-MAR"))   # April-June 2026
    ('new_customers', 'new_customer_growth')
    """
    focus = getattr(goals, "focus", None) or PLAN_FOCUS
    code = period.freqstr.split("-")[0]
    if code.startswith("Y"):
        return focus["Q4"]
    if code.startswith("M"):
        fiscal = getattr(goals, "fiscal_year_start", None) or 1
        period = period.asfreq(Calendar("Q", fiscal).pfreq)
    return focus[f"Q{period.quarter}"]


def _score(goal: Goal, result: pd.DataFrame, chosen: pd.Period | None, by_cols: list[str],
           ci: float | None, as_of: pd.Timestamp | None, *, current: bool = False,
           ago: pd.DataFrame | None = None) -> pd.DataFrame:
    groups = result[by_cols].drop_duplicates() if by_cols else pd.DataFrame(index=[0])
    now = result[result["period"] == chosen] if chosen is not None else result.iloc[:0]
    before = result[result["period"] == chosen - 1] if chosen is not None else result.iloc[:0]
    ago = result.iloc[:0] if ago is None else ago
    cols = ["numerator", "denominator", "value"]
    compared = [(before, {"numerator": "numerator_previous", "denominator": "denominator_previous",
                          "value": "previous"}),
                (ago, {"numerator": "numerator_yoy", "denominator": "denominator_yoy",
                       "value": "year_ago"})]
    if by_cols:
        frame = groups.merge(now[[*by_cols, *cols]], on=by_cols, how="left")
        for rows, named in compared:
            frame = frame.merge(rows[[*by_cols, *cols]].rename(columns=named),
                                on=by_cols, how="left")
    else:  # one row, its columns gathered first: a frame grown column by column is slow
        first = {c: now[c].iloc[0] if len(now) else np.nan for c in cols}
        for rows, named in compared:
            first.update({column: rows[c].iloc[0] if len(rows) else np.nan
                          for c, column in named.items()})
        frame = pd.DataFrame({column: [value] for column, value in first.items()})
    value = frame["value"].astype(np.float64)
    attainment, status = _status(value, goal.target, goal.direction)
    observations = frame["denominator"].astype(np.float64) if KPIS[goal.kpi].counted else pd.Series(
        np.nan, index=frame.index)
    low = low_data(goal.kpi, frame.assign(value=value))
    previous = frame["previous"].astype(np.float64)
    year_ago = frame["year_ago"].astype(np.float64)
    out = pd.DataFrame({
        "goal": goal.label, "kpi": goal.kpi, "freq": goal.freq,
        "period": pd.Series([chosen] * len(frame), index=frame.index, dtype=object),
        **{column: frame[column] for column in by_cols},
        "value": value, "target": float(goal.target), "direction": goal.direction,
        "attainment": attainment, "status": status, "previous": previous,
        "change": value - previous, "year_ago": year_ago, "change_yoy": value - year_ago,
    })
    share = KPIS[goal.kpi].share_of_counts(goal.options)
    real = [change_interval(frame["numerator"], frame["denominator"], frame[f"numerator{suffix}"],
                            frame[f"denominator{suffix}"], share=share,
                            suffix=suffix.replace("_previous", "")).set_axis(out.index)
            for suffix in ("_previous", "_yoy")]
    out = pd.concat([out, *real], axis=1)
    out = out.assign(observations=observations, low_data=low)
    if chosen is not None and in_progress(as_of, chosen.freqstr) == chosen:
        days = (chosen.end_time.normalize() - chosen.start_time).days + 1
        elapsed = ((as_of - chosen.start_time).days + 1) / days
        pace = _pace(goal, frame, elapsed)
        _, outlook = _status(pace, goal.target, goal.direction)
        out["status"] = "in progress"
        out["elapsed"] = elapsed
        out["pace"] = pace
        out["outlook"] = outlook.map({"met": "on track", "missed": "at risk"})
    elif current and chosen is not None and as_of is not None \
            and chosen.end_time.normalize() <= as_of.normalize():
        # The current period ends on as_of: scored, all of it elapsed, its pace its value.
        out["elapsed"] = 1.0
        out["pace"] = value
        out["outlook"] = None
    if ci is not None:
        if KPIS[goal.kpi].proportion:
            lower, upper = wilson_interval(frame["numerator"], frame["denominator"], ci)
        else:
            lower = upper = np.full(len(frame), np.nan)
        out["lower"], out["upper"] = lower, upper
    return out
