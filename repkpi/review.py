"""The review of one period, section by section: the numbers :mod:`repkpi.report` writes.

:func:`review` gathers them from the library's own calls (:func:`~repkpi.scorecard`,
:func:`~repkpi.explain`, :func:`~repkpi.needs_attention`, the KPI functions),
each KPI computed once for the whole run
(:func:`~repkpi.kpis.shared.shared_results`), into a :class:`Review`: the
scorecard with the plan's goals first, the goals in progress, the quarter's
focus, the drivers of each missed or at-risk goal, the attention lists, the
teams and the reps' leaderboards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from repkpi.attention import AttentionList, needs_attention, sla_options
from repkpi.checks import findings
from repkpi.errors import (
    ColumnNotFoundError,
    HistoryError,
    MissingTableError,
    OptionError,
    RepkpiError,
)
from repkpi.explain import explain
from repkpi.forecast.risk import risk
from repkpi.goals import (
    DEFAULT_GOALS,
    Goal,
    check_goal_columns,
    fiscal_start_of,
    focus_of,
    latest_complete_period,
    low_data,
    plan_goals,
    refuse_unlived,
    scorecard,
    scorecard_calls,
)
from repkpi.io.loading import CrmData
from repkpi.kpis import KPIS, compute
from repkpi.kpis.business import clock_label
from repkpi.kpis.registry import executor_for
from repkpi.kpis.shared import shared_results
from repkpi.periods import Calendar, Freq, PeriodLike
from repkpi.whatif import TAKES_COLUMNS, what_it_takes

__all__ = ["LEADERBOARDS", "LISTED", "Progress", "Review", "chart_end", "clock_of", "definitions",
           "prefetch_review", "review", "reviewed_period"]

Progress = Callable[[str], None]

LEADERBOARDS = ("revenue", "win_rate", "csat", "sla_compliance")
"""The KPIs the reps are ranked on, each with its interval where it is a proportion."""

LISTED = 1000
"""Rows kept per attention list (the report's page shows the first ones, report.xlsx all)."""
_CARD_COLUMNS = ["goal", "kpi", "freq", "period", "period_label", "value", "target", "direction",
                 "attainment", "status", "previous", "change", "year_ago", "change_yoy",
                 "change_low", "change_high", "significant", "change_yoy_low", "change_yoy_high",
                 "significant_yoy", "observations", "low_data"]


@dataclass
class Review:
    """The review of one period: what :func:`~repkpi.report.write_report` writes, section by section.

    Attributes
    ----------
    period : Period or None
        The period under review (of ``freq``); None for data with no dates.
    freq : str
    fiscal_year_start : int
    as_of : Timestamp or None
        The data's as-of date.
    card : DataFrame
        :func:`repkpi.scorecard` of every goal for ``period``, the plan's
        goals first ("no data" for a goal whose table was not loaded).
    plan, left_out, others : list of Goal
        The plan's goals found among the goals (in the plan's order), the
        plan's goals the goals leave out, and the other goals
        (:func:`repkpi.goals.plan_goals`).
    in_progress : DataFrame
        The scorecard of the goals whose period is in progress on ``as_of``
        (status ``in progress``, with ``elapsed``, ``pace`` and ``outlook``).
    focus : tuple of str, or "all"
        The KPIs the review of ``period`` leads with (:func:`repkpi.goals.focus_of`).
    drivers : dict
        Goal label -> ``{"team": frame, "region": frame}``: :func:`repkpi.explain`
        of each missed or at-risk goal, or the reason it has none (a str).
    attention : dict of AttentionList
        :func:`repkpi.needs_attention` for ``period``: each list's first
        1,000 rows (the page shows 10 of them, ``report.xlsx`` all) and its total.
    teams : DataFrame
        The goals' KPIs by team, for the period each is scored on, with the
        whole team's value (``whole``) beside each team's.
    leaderboards : dict
        KPI -> its values by rep for ``period`` (with ``rep_name``, ``lower``,
        ``upper`` for proportions, ``low_data``), best first; ``attrs["whole"]``
        holds the whole team's ``value`` (and ``lower``, ``upper``,
        ``denominator``).
    kpi_values : DataFrame
        Every KPI by period, to ``chart_end``: :func:`repkpi.compute`, a KPI
        that has a goal computed with its goal's options (:func:`definitions`).
    options : dict
        KPI -> the options every figure of it is computed with (:func:`definitions`).
    skipped : dict
        KPI -> why it could not be computed on this data.
    chart_end : Period or None
        The last period of the charts: ``period`` when it was asked for,
        else the one holding ``as_of`` (None for data with no dates).
    coverage : list of str
        The data's coverage in words (``data.coverage_notes()``): stale
        tables, churn dates after ``as_of``, nothing recorded since a declared
        as-of date (kpis.md, "Coverage").
    findings : DataFrame
        What needs a look, most important first (:func:`repkpi.check`'s table).
    takes : DataFrame
        What each goal takes in the rest of its period in progress on
        ``as_of`` (the next one when ``as_of`` ends a period):
        :func:`repkpi.whatif.what_it_takes`, which opens the report's "In
        progress" part.
    risk : DataFrame or None
        :func:`repkpi.forecast.risk` of the data (quarters), or None with
        ``risk_reason`` (no accounts, or too little past to learn from).
    risk_reason : str or None
    """

    period: pd.Period | None
    freq: str
    fiscal_year_start: int
    as_of: pd.Timestamp | None
    card: pd.DataFrame
    plan: list[Goal]
    left_out: list[Goal]
    others: list[Goal]
    in_progress: pd.DataFrame
    focus: tuple[str, ...] | str
    drivers: dict[str, dict[str, pd.DataFrame] | str] = field(default_factory=dict)
    attention: dict[str, AttentionList] = field(default_factory=dict)
    teams: pd.DataFrame = field(default_factory=pd.DataFrame)
    leaderboards: dict[str, pd.DataFrame] = field(default_factory=dict)
    kpi_values: pd.DataFrame = field(default_factory=pd.DataFrame)
    skipped: dict[str, str] = field(default_factory=dict)
    chart_end: pd.Period | None = None
    options: dict[str, dict[str, object]] = field(default_factory=dict)
    coverage: list[str] = field(default_factory=list)
    findings: pd.DataFrame = field(default_factory=pd.DataFrame)
    takes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TAKES_COLUMNS))
    risk: pd.DataFrame | None = None
    risk_reason: str | None = None

    @property
    def plan_card(self) -> pd.DataFrame:
        """The scorecard rows of the plan's goals, in the plan's order."""
        return self.card.iloc[:len(self.plan)]

    @property
    def other_card(self) -> pd.DataFrame:
        """The scorecard rows of the other goals."""
        return self.card.iloc[len(self.plan):]


def review(data: CrmData, goals: Iterable[Goal] | None = None, *, freq: Freq = "Q",
           period: PeriodLike | None = None, fiscal_year_start: int | None = None,
           progress: Progress | None = None) -> Review:
    """The review of one period: scorecard, focus, drivers, attention lists, teams and reps.

    Parameters
    ----------
    data : CrmData
        Loaded data, or Dask data.
    goals : list of Goal, optional
        Default :data:`repkpi.DEFAULT_GOALS`; a goals file's
        :class:`~repkpi.goals.GoalSet` brings its fiscal year and focus. A
        goal whose ``where`` names a column the data does not have is refused
        (:class:`~repkpi.errors.GoalsError`) before any goal is scored.
    freq : {"M", "Q", "Y"}
        The length of the reviewed period and of the charts' periods.
    period : period-like or "current", optional
        The period under review; default the latest complete one.
        ``"current"``: the one in progress on ``data.as_of``. A period that
        begins after ``as_of`` is refused (:class:`~repkpi.errors.OptionError`).
    fiscal_year_start : int, optional
        Default: the goals file's, else 1 (calendar years).
    progress : callable, optional
        Called with a message before each step.

    Examples
    --------
    >>> import repkpi
    >>> from repkpi.review import review
    >>> seen = review(repkpi.load_sample(), period="2026Q2")
    >>> str(seen.period), len(seen.plan), seen.focus
    ('2026Q2', 9, ('csat', 'csat_mean', 'nps', 'sla_compliance', 'first_response_hours'))
    """
    say = progress or (lambda message: None)
    data = shared_results(data)
    goals = DEFAULT_GOALS if goals is None else goals
    fiscal = fiscal_start_of(goals, fiscal_year_start)
    plan, left_out, others = plan_goals(goals)
    ordered = [*plan, *others]
    check_goal_columns(data, ordered)  # before any goal is scored: never "no data" for a typo
    calendar = Calendar(freq, fiscal)
    end = reviewed_period(data, calendar, period)
    last = chart_end(data, calendar, period, end)

    options = definitions(ordered)
    say("Computing every KPI once")
    prefetch_review(data, ordered, freq, period, end, last, fiscal)
    values = _kpi_values(data, options, freq, last, fiscal)
    say("Scoring the goals")
    card = _scorecard(data, ordered, end, fiscal)
    in_progress = _in_progress(data, ordered, fiscal) if period != "current" \
        else card[card["status"] == "in progress"].reset_index(drop=True)
    seen = Review(period=end, freq=freq, fiscal_year_start=fiscal, as_of=data.as_of, card=card,
                  plan=plan, left_out=left_out, others=others, in_progress=in_progress,
                  focus=focus_of(goals, end) if end is not None else (), kpi_values=values,
                  chart_end=last, skipped=dict(values.attrs.get("skipped", {})),
                  options=options, coverage=data.coverage_notes())
    worrying = _worrying(ordered, card, in_progress)
    say("Explaining the goals missed or at risk")
    # The breakdowns by team, region and rep, in one run sharing grids and groups.
    executor_for(data).prefetch(data, [
        *[(goal.kpi, {**_call(goal.freq, column, fiscal), **goal.options})
          for goal, _ in worrying for column in ("team", "region") if not goal.where],
        *[(goal.kpi, {**_call(goal.freq, "team", fiscal), **goal.options})
          for goal in ordered if not goal.where],
        *([] if end is None else
          [(kpi, {**_call(freq, "rep_id", fiscal), **options.get(kpi, {})})
           for kpi in LEADERBOARDS]),
    ])
    seen.drivers = _drivers(data, worrying, fiscal)
    say("Checking what needs a look")
    seen.findings = findings(data, ordered, card, in_progress, fiscal_year_start=fiscal)
    if data.as_of is not None:
        say("Working out what each goal takes")
        seen.takes = what_it_takes(data, ordered, fiscal_year_start=fiscal)
    say("Scoring the accounts' churn risk")
    seen.risk, seen.risk_reason = _risk(data, fiscal)
    say("Listing what needs attention")
    seen.attention = needs_attention(data, end, limit=LISTED, fiscal_year_start=fiscal,
                                     scores=seen.risk, **sla_options(ordered)) \
        if end is not None else {}
    say("Breaking the goals down by team and rep")
    seen.teams = _teams(data, ordered, card, fiscal)
    seen.leaderboards = _leaderboards(data, end, fiscal, options)
    return seen


def _risk(data: CrmData, fiscal: int) -> tuple[pd.DataFrame | None, str | None]:
    """The accounts' churn risk over the next quarter, or why there is none."""
    try:
        return risk(data, fiscal_year_start=fiscal), None
    except (MissingTableError, HistoryError) as exc:  # an absent column is a MissingTableError
        return None, str(exc).splitlines()[0]


def definitions(goals: Iterable[Goal]) -> dict[str, dict[str, object]]:
    """The options each KPI is computed with throughout a report: its goal's.

    One report, one set of definitions (api.md): every figure of a KPI that
    has a goal is computed with the options of its first goal over every
    group (no ``where``); a KPI with no goal keeps its defaults (no entry).

    Examples
    --------
    >>> definitions([Goal("sla_compliance", "Q", 0.9, "at_least", options={"clock": "business"}),
    ...              Goal("csat", "Q", 0.9, "at_least")])
    {'sla_compliance': {'clock': 'business'}}
    """
    found: dict[str, dict[str, object]] = {}
    for goal in goals:
        if not goal.where and goal.kpi not in found:
            found[goal.kpi] = dict(goal.options)
    return {kpi: options for kpi, options in found.items() if options}


def clock_of(kpi: str, options: dict[str, object] | None = None) -> str | None:
    """The clock a service figure is counted on, as shown beside it; None for other KPIs.

    Examples
    --------
    >>> clock_of("sla_compliance"), clock_of("csat")
    ('calendar hours', None)
    >>> clock_of("resolution_hours", {"clock": "business",
    ...                               "calendar": {"timezone": "Europe/London", "hours": {}}})
    'business hours, Europe/London'
    """
    spec = KPIS.get(kpi)
    if spec is None or "clock" not in spec.options:
        return None
    options = options or {}
    return clock_label(str(options.get("clock", "calendar")), options.get("calendar"))


def reviewed_period(data: CrmData, calendar: Calendar, period: PeriodLike | None) -> pd.Period | None:
    """The period under review: ``period`` in ``calendar``, the one in progress, or the latest complete."""
    if period == "current":
        return None if data.as_of is None else calendar.holding(data.as_of)
    if period is not None:
        refuse_unlived(data, period, fiscal_year_start=calendar.fiscal_year_start, what="review")
        return calendar.period(period, how="end")
    return latest_complete_period(data, calendar.freq, fiscal_year_start=calendar.fiscal_year_start)


def prefetch_review(data: CrmData, goals: list[Goal], freq: Freq, period: PeriodLike | None,
                    end: pd.Period | None, last: pd.Period | None, fiscal: int) -> None:
    """Every KPI and every goal's KPI in one run (kept on ``data`` for the rest of the report)."""
    options = definitions(goals)
    executor_for(data).prefetch(data, [
        *[(name, {"freq": freq, "by": None, "start": None, "end": last,
                  "fiscal_year_start": fiscal}) for name in KPIS],
        *[(name, {"freq": freq, "by": None, "start": None, "end": last,
                  "fiscal_year_start": fiscal, **own}) for name, own in options.items()],
        *scorecard_calls(data, goals, end, fiscal),
        *([] if period == "current" else scorecard_calls(data, goals, "current", fiscal)),
    ])


def chart_end(data: CrmData, calendar: Calendar, period: PeriodLike | None,
              end: pd.Period | None) -> pd.Period | None:
    """The last period of the charts: the reviewed one when asked for, else the one in progress."""
    if period is not None and period != "current":
        return end
    return None if data.as_of is None else calendar.holding(data.as_of)


def _kpi_values(data: CrmData, options: dict[str, dict[str, object]], freq: Freq,
                last: pd.Period | None, fiscal: int) -> pd.DataFrame:
    """:func:`compute` of every KPI, those with a goal computed with its goal's options."""
    values = compute(data, freq=freq, end=last, fiscal_year_start=fiscal)
    skipped = dict(values.attrs.get("skipped", {}))
    own = {}
    for name, kwargs in options.items():
        if name in skipped or name not in KPIS:
            continue
        try:
            own[name] = KPIS[name](data, freq=freq, by=None, start=None, end=last,
                                   fiscal_year_start=fiscal, **kwargs).assign(kpi=name)
        except (OptionError, ColumnNotFoundError, MissingTableError) as exc:
            skipped[name] = str(exc).splitlines()[0]
    if not own and skipped == values.attrs.get("skipped", {}):  # no goal sets an option
        return values
    kept = values[~values["kpi"].isin([*own, *skipped])]
    frames = [kept, *(frame[kept.columns] for frame in own.values())]
    out = pd.concat(frames, ignore_index=True)
    order = {name: at for at, name in enumerate(KPIS)}
    out = out.sort_values("kpi", key=lambda names: names.map(order), kind="stable",
                          ignore_index=True)
    out.attrs.update(values.attrs, skipped=skipped)
    return out


def _scorecard(data: CrmData, goals: list[Goal], end: pd.Period | None, fiscal: int) -> pd.DataFrame:
    """:func:`scorecard`, with "no data" for a goal whose KPI the data cannot give.

    Such a goal's KPI needs a table that was not loaded, or a column the
    export does not have (``data.absent``): its card's ``reason`` says which.
    Every goal is scored in one call (its calls asked for together, the data
    cut a year back once); goal by goal only when some goal cannot be.
    """
    if goals:
        try:
            return scorecard(data, goals, period=end, fiscal_year_start=fiscal)
        except (MissingTableError, ColumnNotFoundError):
            pass  # the goals that can be scored are, one by one
    cards = []
    for goal in goals:
        try:
            cards.append(scorecard(data, [goal], period=end, fiscal_year_start=fiscal))
        except (MissingTableError, ColumnNotFoundError) as exc:
            cards.append(pd.DataFrame({
                "goal": [goal.label], "kpi": goal.kpi, "freq": goal.freq, "period": "",
                "period_label": "", "value": np.nan, "target": float(goal.target),
                "direction": goal.direction, "attainment": np.nan, "status": "no data",
                "previous": np.nan, "change": np.nan, "year_ago": np.nan, "change_yoy": np.nan,
                "change_low": np.nan, "change_high": np.nan,
                "significant": pd.array([pd.NA], dtype="boolean"), "change_yoy_low": np.nan,
                "change_yoy_high": np.nan, "significant_yoy": pd.array([pd.NA], dtype="boolean"),
                "observations": np.nan,
                "low_data": False, "reason": str(exc).splitlines()[0]}))
    if not cards:
        return pd.DataFrame(columns=_CARD_COLUMNS)
    return pd.concat(cards, ignore_index=True)


def _in_progress(data: CrmData, goals: list[Goal], fiscal: int) -> pd.DataFrame:
    """The goals whose period is in progress on the as-of date, with pace and outlook."""
    if data.as_of is None:
        return pd.DataFrame(columns=[*_CARD_COLUMNS, "elapsed", "pace", "outlook"])
    card = _scorecard(data, goals, "current", fiscal)  # type: ignore[arg-type]
    return card[card["status"] == "in progress"].reset_index(drop=True)


def _call(freq: str, by: str | None, fiscal: int) -> dict[str, object]:
    """A KPI call's keyword arguments, over the data's whole span."""
    return {"freq": freq, "by": by, "start": None, "end": None, "fiscal_year_start": fiscal}


def _worrying(goals: list[Goal], card: pd.DataFrame, pace: pd.DataFrame) -> list[tuple[Goal, object]]:
    """The goals missed in the review, then those at risk in the period in progress, with their rows."""
    worrying = [(goal, row) for goal, row in zip(goals, card.itertuples(index=False), strict=True)
                if row.status == "missed"]
    at_risk = pace[pace["outlook"] == "at risk"] if "outlook" in pace.columns else pace.iloc[:0]
    by_label = {goal.label: goal for goal in goals}
    return worrying + [(by_label[row.goal], row) for row in at_risk.itertuples(index=False)
                       if row.goal in by_label]


def _drivers(data: CrmData, worrying: list[tuple[Goal, object]],
             fiscal: int) -> dict[str, dict[str, pd.DataFrame] | str]:
    """Each missed or at-risk goal's change, split by team and by region (:func:`explain`)."""
    out: dict[str, dict[str, pd.DataFrame] | str] = {}
    for goal, row in worrying:
        key = goal.label if row.status != "in progress" else f"{goal.label} (to date)"
        if goal.where:
            out[key] = "a goal on some groups only (where): explain the KPI by hand with repkpi.explain"
            continue
        found: dict[str, pd.DataFrame] = {}
        reason = None
        for column in ("team", "region"):
            try:
                found[column] = explain(data, goal.kpi, period=row.period, by=column,
                                        fiscal_year_start=fiscal, **goal.options)
            except (OptionError, ColumnNotFoundError, MissingTableError) as exc:
                reason = str(exc).splitlines()[0]
            except RepkpiError as exc:  # e.g. no value in the period before
                reason = str(exc).splitlines()[0]
        out[key] = found if found else (reason or "no breakdown")
    return out


def _teams(data: CrmData, goals: list[Goal], card: pd.DataFrame, fiscal: int) -> pd.DataFrame:
    """The goals' KPIs by team, each for the period its goal is scored on, beside the whole team's."""
    frames = []
    for goal, row in zip(goals, card.itertuples(index=False), strict=False):
        if goal.where or not isinstance(row.period, pd.Period):
            continue
        call = {"freq": goal.freq, "end": row.period, "fiscal_year_start": fiscal, **goal.options}
        try:
            result = KPIS[goal.kpi](data, by="team", **call)
            whole = KPIS[goal.kpi](data, **call)
        except (OptionError, ColumnNotFoundError, MissingTableError):
            continue
        now = result[result["period"] == row.period]
        value = whole.loc[whole["period"] == row.period, "value"].astype(np.float64)
        frames.append(pd.DataFrame({
            "goal": goal.label, "kpi": goal.kpi, "period": row.period, "team": now["team"],
            "value": now["value"].astype(np.float64), "target": float(goal.target),
            "low_data": low_data(goal.kpi, now),
            "whole": value.iloc[0] if len(value) else np.nan}))
    if not frames:
        return pd.DataFrame(columns=["goal", "kpi", "period", "team", "value", "target", "low_data",
                                     "whole"])
    return pd.concat(frames, ignore_index=True)


def _rep_names(data: CrmData) -> pd.Series:
    reps = data.reps
    if reps is None or "name" not in reps.columns:
        return pd.Series(dtype="str")
    reps = executor_for(data).gather(data, {"reps": reps[["rep_id", "name"]]})["reps"]  # few
    return reps.drop_duplicates("rep_id").set_index("rep_id")["name"]


def _leaderboards(data: CrmData, end: pd.Period | None, fiscal: int,
                  options: dict[str, dict[str, object]]) -> dict[str, pd.DataFrame]:
    """:data:`LEADERBOARDS` by rep for the reviewed period, best first, with names and intervals.

    Each KPI is computed with its goal's options; ``attrs["whole"]`` holds the
    whole team's value (with its interval and denominator).
    """
    if end is None:
        return {}
    names = _rep_names(data)
    freq = end.freqstr[0]
    boards = {}
    for kpi in LEADERBOARDS:
        call = {"freq": freq, "end": end, "fiscal_year_start": fiscal, **options.get(kpi, {}),
                **({"ci": 0.95} if KPIS[kpi].proportion else {})}
        try:
            result = KPIS[kpi](data, by="rep_id", **call)
            whole = KPIS[kpi](data, **call)
        except (OptionError, ColumnNotFoundError, MissingTableError):
            continue
        now = result[result["period"] == end].copy()
        now = now[now["rep_id"].notna() & now["value"].notna()]
        now["rep_name"] = now["rep_id"].map(names).astype("str")
        now["low_data"] = low_data(kpi, now)
        # Firm values first: a rep on three surveys does not top the board.
        board = now.sort_values(["low_data", "value"], ascending=[True, False],
                                kind="stable").reset_index(drop=True)
        team = whole[whole["period"] == end]
        board.attrs["whole"] = {column: float(team[column].iloc[0]) if len(team) else np.nan
                                for column in ("value", "lower", "upper", "denominator")
                                if column in whole.columns}
        boards[kpi] = board
    return boards
