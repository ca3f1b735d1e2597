"""The morning check: what needs a look, most important first (analysis.md, "Checks to run on a schedule").

:func:`check` lists the plan goals missed, the goals in progress at risk,
the significant changes of the goals' KPIs (against the period before and
a year before), the groups out of line (reps and teams, at 99.8%) and, as
notes, stale tables and scheduled churn dates. ``repkpi check`` prints it
and exits 3 when there is a finding; the report opens with it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import pandas as pd

from repkpi.errors import ColumnNotFoundError, MissingTableError, OptionError, RepkpiError
from repkpi.goals import (
    DEFAULT_GOALS,
    Goal,
    check_goal_columns,
    fiscal_start_of,
    load_goals,
    plan_goals,
    scorecard,
    scorecard_calls,
)
from repkpi.io.asof import coverage_words
from repkpi.io.loading import CrmData
from repkpi.kpis import KPIS
from repkpi.kpis.registry import executor_for
from repkpi.kpis.shared import shared_results
from repkpi.kpis.units import format_change
from repkpi.outliers import outliers
from repkpi.periods import PeriodLike, period_label

__all__ = ["FINDING_COLUMNS", "KINDS", "NOTES", "check", "findings", "needs_a_look"]

KINDS = ("missed", "at_risk", "change", "change_yoy", "out_of_line", "stale", "scheduled_churn")
"""The kinds of findings, most important first."""
NOTES = ("stale", "scheduled_churn")
"""The kinds that are notes: said, but no finding (they do not make ``repkpi check`` exit 3)."""
FINDING_COLUMNS = ["kind", "kpi", "group", "period", "value", "target", "limit", "message"]
OUT_OF_LINE_BY = ("rep_id", "team")
"""The groups compared with the whole on the goals' shares of counts."""


def check(data: CrmData, goals: Iterable[Goal] | str | os.PathLike[str] | None = None, *,
          period: PeriodLike | None = None, fiscal_year_start: int | None = None) -> pd.DataFrame:
    """What needs a look in ``data``: findings, most important first, then notes.

    Parameters
    ----------
    data : CrmData
        Loaded data (or Dask data).
    goals : list of Goal, or a goals file path; default :data:`repkpi.DEFAULT_GOALS`
    period : period-like, optional
        The period checked (as :func:`repkpi.scorecard`'s); default each
        goal's latest complete period. The goals in progress are those of
        the periods that hold ``data.as_of``.
    fiscal_year_start : int, optional
        Default: the goals file's, else 1.

    Returns
    -------
    DataFrame
        One row per finding: ``kind`` (in the order of :data:`KINDS`:
        ``missed``, ``at_risk``, ``change``, ``change_yoy``,
        ``out_of_line``, then the notes ``stale`` and ``scheduled_churn``),
        ``kpi``, ``group`` (``"rep_id=R07"``, ``"rep_id=n/a"`` for the rows
        with no rep, a table's name, or empty),
        ``period`` (as printed), ``value``, ``target`` (a goal's), ``limit``
        (the 99.8% limit crossed, or the bound of the change's interval
        nearest 0) and ``message`` (a sentence). Plan goals come first
        within a kind. :func:`needs_a_look` says whether any row is a finding.

    Notes
    -----
    A change is significant when the 95% interval of the difference
    between the two proportions (Newcombe's, as in the scorecard) excludes
    0: only KPIs that are shares of counts have one. A group is out of line
    when :func:`repkpi.outliers` flags it (outside the 99.8% funnel limits,
    with at least 30 observations).

    Examples
    --------
    >>> import repkpi
    >>> found = repkpi.check(repkpi.load_sample(), period="2026Q2")
    >>> list(found.columns)
    ['kind', 'kpi', 'group', 'period', 'value', 'target', 'limit', 'message']
    >>> found["kind"].isin(KINDS).all()
    np.True_
    """
    if goals is None:
        goals = DEFAULT_GOALS
    elif isinstance(goals, str | os.PathLike):
        goals = load_goals(goals)
    fiscal = fiscal_start_of(goals, fiscal_year_start)
    plan, _, others = plan_goals(goals)
    ordered = [*plan, *others]
    data = shared_results(data)
    check_goal_columns(data, ordered)  # a misspelt where column is refused, never skipped
    asked = [period] if data.as_of is None or period == "current" else [period, "current"]
    executor_for(data).prefetch(data, [call for when in asked
                                       for call in scorecard_calls(data, ordered, when, fiscal)])
    card = _scored(data, ordered, period, fiscal)
    current = _scored(data, ordered, "current", fiscal) if data.as_of is not None \
        else card.iloc[:0]
    return findings(data, ordered, card, current, fiscal_year_start=fiscal)


def _scored(data: CrmData, goals: list[Goal], period: PeriodLike | None,
            fiscal: int) -> pd.DataFrame:
    """The scorecard of the goals whose KPI the data can give (a table or a column it lacks: none)."""
    cards = []
    for goal in goals:
        try:
            cards.append(scorecard(data, [goal], period=period, fiscal_year_start=fiscal))
        except (MissingTableError, ColumnNotFoundError):
            continue
    return pd.concat(cards, ignore_index=True) if cards else pd.DataFrame(
        columns=["goal", "kpi", "freq", "period", "period_label", "value", "target", "direction",
                 "status", "previous", "change", "year_ago", "change_yoy", "change_low",
                 "change_high", "significant", "change_yoy_low", "change_yoy_high",
                 "significant_yoy"])


def findings(data: CrmData, goals: list[Goal], card: pd.DataFrame, current: pd.DataFrame, *,
             fiscal_year_start: int = 1) -> pd.DataFrame:
    """:func:`check`'s table from scorecards already made (the report's, say).

    ``card`` scores ``goals`` (in order) on the period checked, ``current``
    on the periods in progress (its ``outlook`` says which are at risk).
    """
    frames = [_missed(card), _at_risk(current), *_changes(card),
              _out_of_line(data, goals, card, fiscal_year_start), _notes(data)]
    found = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(
        len(f) for f in frames) else pd.DataFrame(columns=FINDING_COLUMNS)
    found["rank"] = found["kind"].map({kind: at for at, kind in enumerate(KINDS)})
    found = found.sort_values("rank", kind="stable", ignore_index=True)
    return found[FINDING_COLUMNS].astype({"value": "float64", "target": "float64",
                                          "limit": "float64"})


def needs_a_look(found: pd.DataFrame) -> bool:
    """Whether :func:`check`'s table holds a finding (notes alone do not count).

    Examples
    --------
    >>> needs_a_look(pd.DataFrame({"kind": ["stale"]})), needs_a_look(pd.DataFrame({"kind": ["missed"]}))
    (False, True)
    """
    return bool((~found["kind"].isin(NOTES)).any())


def _shown(value: float, unit: str) -> str:
    """A value in a sentence: a percent with one decimal, money and counts whole."""
    if pd.isna(value):
        return "n/a"
    if unit == "percent":
        return f"{value:.1%}"
    if unit == "points":
        return f"{value * 100:+.1f} points"
    if unit == "money":
        return f"${value:,.0f}"
    if unit in ("count", "rank"):
        return f"{value:,.0f}"
    if unit == "hours":
        return f"{value:,.1f} h"
    return f"{value:,.2f}"


def _change_shown(value: float, unit: str) -> str:
    """A change, signed: percentage points for a percent."""
    if unit in ("percent", "points"):
        return format_change(value, unit, points="points")
    return ("+" if value >= 0 else "-") + _shown(abs(value), unit)


def _rows(card: pd.DataFrame, kind: str, value: str, message: pd.Series,
          limit: pd.Series | float = np.nan) -> pd.DataFrame:
    """Findings of ``kind`` from scorecard rows."""
    return pd.DataFrame({"kind": kind, "kpi": card["kpi"], "group": "",
                         "period": card["period_label"], "value": card[value].astype("float64"),
                         "target": card["target"], "limit": limit, "message": message})


def _direction(card: pd.DataFrame) -> pd.Series:
    return card["direction"].map({"at_least": "at least", "at_most": "at most"})


def _missed(card: pd.DataFrame) -> pd.DataFrame:
    """Goals missed in the period checked."""
    missed = card[card["status"] == "missed"]
    message = [f"{row.goal} missed in {row.period_label}: "
               f"{_shown(row.value, KPIS[row.kpi].unit)} against a target of {direction} "
               f"{_shown(row.target, KPIS[row.kpi].unit)}"
               for row, direction in zip(missed.itertuples(), _direction(missed), strict=True)]
    return _rows(missed, "missed", "value", pd.Series(message, index=missed.index, dtype="str"))


def _at_risk(current: pd.DataFrame) -> pd.DataFrame:
    """Goals in progress whose pace ends the period short of the target."""
    if "outlook" not in current.columns:
        return current.iloc[:0]
    risky = current[current["outlook"] == "at risk"]
    message = [f"{row.goal} at risk in {row.period_label}: "
               f"{_shown(row.value, KPIS[row.kpi].unit)} so far, on pace for "
               f"{_shown(row.pace, KPIS[row.kpi].unit)} against a target of {direction} "
               f"{_shown(row.target, KPIS[row.kpi].unit)} ({row.elapsed:.0%} of the period gone)"
               for row, direction in zip(risky.itertuples(), _direction(risky), strict=True)]
    return _rows(risky, "at_risk", "pace", pd.Series(message, index=risky.index, dtype="str"))


def _changes(card: pd.DataFrame) -> list[pd.DataFrame]:
    """Significant changes of the goals' KPIs, against the period before and a year before."""
    out = []
    for kind, suffix, against, compared in (("change", "", "the period before", "previous"),
                                            ("change_yoy", "_yoy", "a year before", "year_ago")):
        real = card[card[f"significant{suffix}"].fillna(False).astype(bool)].drop_duplicates(
            ["kpi", "period"])
        if suffix:  # a complete year's period before is the year before: said once
            real = real[(real["freq"] != "Y") | (real["status"] == "in progress")]
        change = real[f"change{suffix}"].astype("float64")
        low = real[f"change{suffix}_low"].astype("float64")
        high = real[f"change{suffix}_high"].astype("float64")
        nearest = low.where(change > 0, high)  # the bound nearest 0: how small it may be
        message = [f"{_title(row.kpi)} {_shown(getattr(row, compared), 'percent')} -> "
                   f"{_shown(row.value, 'percent')} in {row.period_label} against {against}: "
                   f"{_change_shown(c, 'percent')} (95% interval {_change_shown(lo, 'percent')} "
                   f"to {_change_shown(hi, 'percent')})"
                   for row, c, lo, hi in zip(real.itertuples(), change, low, high, strict=True)]
        out.append(_rows(real, kind, "value", pd.Series(message, index=real.index, dtype="str"),
                         limit=nearest).assign(value=change))
    return out


def _title(kpi: str) -> str:
    """A KPI's name as a sentence starts it: its declared title."""
    return KPIS[kpi].title


def _out_of_line(data: CrmData, goals: list[Goal], card: pd.DataFrame, fiscal: int) -> pd.DataFrame:
    """Reps and teams outside the 99.8% funnel limits on the goals' shares of counts."""
    frames = []
    seen = set()
    by_label = {goal.label: goal for goal in goals}
    for row in card.itertuples(index=False):
        goal = by_label[row.goal]
        key = (goal.kpi, row.period)
        if goal.where or key in seen or not isinstance(row.period, pd.Period) \
                or not KPIS[goal.kpi].share_of_counts(goal.options):
            continue
        seen.add(key)
        for by in OUT_OF_LINE_BY:
            try:
                table = outliers(data, goal.kpi, period=row.period, by=by,
                                 fiscal_year_start=fiscal, **goal.options)
            except (OptionError, ColumnNotFoundError, MissingTableError, RepkpiError):
                continue  # no such groups, or no value in the period: nothing to compare
            flagged = table[table["flag"] != ""]
            if flagged.empty:
                continue
            limit = flagged["high_998"].where(flagged["flag"] == "high", flagged["low_998"])
            group = by + "=" + flagged[by].astype("str").where(flagged[by].notna(), "n/a")
            message = [f"{g}: {_title(goal.kpi)} {_shown(v, 'percent')} on {n:,.0f} against the "
                       f"whole's {_shown(p0, 'percent')} in {period_label(row.period)}, "
                       f"{flag}er than the 99.8% limit {_shown(lim, 'percent')}"
                       for g, v, n, p0, flag, lim in zip(group, flagged["value"], flagged["n"],
                                                         flagged["p0"], flagged["flag"], limit,
                                                         strict=True)]
            frames.append(pd.DataFrame({
                "kind": "out_of_line", "kpi": goal.kpi, "group": group.to_numpy(),
                "period": period_label(row.period), "value": flagged["value"].to_numpy(),
                "target": float(goal.target), "limit": limit.to_numpy(), "message": message}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FINDING_COLUMNS)


def _notes(data: CrmData) -> pd.DataFrame:
    """Stale tables and churn dates after the as-of date, in words (kpis.md, "Coverage")."""
    as_of = data.as_of
    if as_of is None:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    table = data.coverage
    stale = table[table["stale"]]
    rows = [{"kind": "stale", "kpi": "", "group": name, "period": "", "value": np.nan,
             "target": np.nan, "limit": np.nan,
             "message": coverage_words(stale[stale["table"] == name], as_of, scheduled_churn=0,
                                       declared=False)[0]}
            for name in stale["table"]]
    if data.scheduled_churn:
        words = coverage_words(table.iloc[:0], as_of, scheduled_churn=data.scheduled_churn,
                               declared=False)[0]
        rows.append({"kind": "scheduled_churn", "kpi": "", "group": "accounts",
                     "period": "", "value": float(data.scheduled_churn), "target": np.nan,
                     "limit": np.nan, "message": words})
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)
