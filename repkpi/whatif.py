"""What it takes to hit a target: pure, vectorised what-if functions.

Every function takes scalars or aligned arrays / Series (one value per rep,
say) and answers for each element. None modifies its input.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from repkpi._vector import isin, rows_among
from repkpi.errors import OptionError
from repkpi.goals import (
    DEFAULT_GOALS,
    Goal,
    check_goal_columns,
    fiscal_start_of,
    latest_complete_period,
    load_goals,
    plan_goals,
)
from repkpi.io.loading import CrmData
from repkpi.kpis import KPIS, customers
from repkpi.kpis.detail import detail
from repkpi.kpis.registry import EXPECTED, KpiSpec, SpecView, check_options, executor_for
from repkpi.kpis.units import format_value
from repkpi.periods import Calendar, Freq, PeriodLike, in_progress, period_label

__all__ = [
    "ADDITIVE_MONTHLY",
    "TAKES_COLUMNS",
    "attainment_probability",
    "current_period",
    "goal_seek",
    "project_customers",
    "required_new_customers",
    "required_successes",
    "revenue_grid",
    "what_it_takes",
]

_EPS = 1e-9

ADDITIVE_MONTHLY = SpecView("adds_over_time")
"""Whether a KPI's quarterly numerator and denominator are sums of the monthly ones."""

Rates = float | Sequence[float] | np.ndarray
"""A constant, or a path: one value per period."""


def _shaped(result: pd.api.extensions.ExtensionArray, *inputs: object) -> object:
    """Give ``result`` the form of the inputs: a Series, an array, or a scalar."""
    for given in inputs:
        if isinstance(given, pd.Series):
            return pd.Series(result, index=given.index, name=given.name)
    if all(np.ndim(given) == 0 for given in inputs):
        return pd.NA if result[0] is pd.NA else int(result[0])
    return result


def required_successes(numerator: object, denominator: object, target: float, *,
                       remaining: object) -> object:
    """The fewest successes among ``remaining`` further events that end at ``target`` or above.

    After the remaining events the ratio is (numerator + k) / (denominator +
    remaining); this returns the smallest k in 0..remaining that makes it at
    least ``target``: 0 when even k = 0 reaches it, and ``<NA>`` (impossible)
    when even k = remaining does not.

    Parameters
    ----------
    numerator, denominator : int, array or Series
        Successes and events so far (e.g. CSAT responses of 4 or 5, and all
        responses).
    target : float
        The ratio to reach, in [0, 1].
    remaining : int, array or Series
        Events still to come.

    Returns
    -------
    int, or pandas.NA when impossible; a nullable ``Int64`` Series (or array)
    for Series (array) input.

    Examples
    --------
    CSAT is 430 / 490 with 60 responses to come. Ending at 90% needs 495 of
    550, 65 more: more than the 60 that remain.

    >>> required_successes(430, 490, 0.90, remaining=60)
    <NA>
    >>> required_successes(430, 490, 0.85, remaining=60)   # 467.5 of 550 -> 38 more
    38
    >>> required_successes(pd.Series([430, 480], index=["R1", "R2"]), 490, 0.85, remaining=60)
    R1    38
    R2     0
    dtype: Int64
    """
    if not 0 <= target <= 1:
        raise OptionError(f"target must be a ratio in [0, 1], got {_given(target)}.\n"
                          "Hint: a share such as CSAT of 90% is target=0.9.")
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    rem = np.asarray(remaining, dtype=np.float64)
    if (rem < 0).any() or (num < 0).any() or (num > den).any():
        raise OptionError("Need 0 <= numerator <= denominator and remaining >= 0.\n"
                          "Hint: numerator counts successes among the denominator's events.")
    num, den, rem = np.broadcast_arrays(num, den, rem)
    need = np.maximum(np.ceil(target * (den + rem) - num - _EPS), 0).reshape(-1)
    result = pd.array(need, dtype="Int64")
    result[need > rem.reshape(-1)] = pd.NA
    return _shaped(result, numerator, denominator, remaining)


def required_new_customers(previous: object, *, growth: float) -> object:
    """New customers needed this period to grow by ``growth`` over ``previous``.

    The smallest whole n with (n - previous) / previous >= growth, i.e.
    ceil(previous x (1 + growth)); ``<NA>`` when previous is 0 (growth over
    nothing is undefined).

    Examples
    --------
    >>> required_new_customers(37, growth=0.20)   # 44.4 -> 45
    45
    >>> required_new_customers(pd.Series([10, 0]), growth=0.2)
    0      12
    1    <NA>
    dtype: Int64
    """
    prev = np.asarray(previous, dtype=np.float64)
    need = np.ceil(prev * (1 + growth) - _EPS).reshape(-1)
    result = pd.array(np.maximum(need, 0), dtype="Int64")
    result[prev.reshape(-1) <= 0] = pd.NA
    return _shaped(result, previous)


def project_customers(data: CrmData, *, periods: int,
                      churn_rate: Rates | Mapping[str, Rates] | None = None,
                      new_per_period: Rates | Mapping[str, Rates] | None = None,
                      new_growth: Rates | Mapping[str, Rates] | None = None,
                      fiscal_year_start: int = 1) -> pd.DataFrame:
    """Project active customers, retention and churn over the coming (fiscal) quarters.

    Quarter t loses ``churn[t]`` of the customers it starts with and gains
    ``new[t]`` new ones (who are assumed to stay through their first
    quarter): A(t) = A(t-1) x (1 - churn[t]) + new[t].

    Parameters
    ----------
    data : CrmData
        Needs accounts. The projection starts from the active customers at
        the end of the latest complete quarter.
    periods : int
        Quarters to project.
    churn_rate, new_per_period, new_growth : float, list of floats or dict, optional
        A float is the same every quarter. A **list is one path**: one value
        per quarter, ``periods`` of them (``churn_rate=[0.05, 0.04, 0.03]``
        is churn falling a point a quarter). A **dict is scenarios**: name ->
        float or path, one projection per name. ``new_growth`` is a growth
        path for new customers instead of ``new_per_period``: new customers
        grow by ``new_growth[t]`` a quarter from the latest complete
        quarter's count, new[t] = new[t-1] x (1 + new_growth[t]) (``0.2``: +20%
        a quarter). When two of them are dicts they name the same scenarios.
        Defaults: the mean quarterly churn rate and the mean new customers per
        quarter over the last four complete quarters, flat.
    fiscal_year_start : int
        Month the (fiscal) year starts in: it names the quarters.

    Returns
    -------
    DataFrame
        One row per scenario and quarter: ``scenario`` (the dict's name, else
        ``"base"``), ``period``, ``start``, ``churned``, ``new``, ``active``,
        ``retention``, ``churn`` (the quarter's rate).

    Raises
    ------
    OptionError
        A path whose length is not ``periods``, both ``new_per_period`` and
        ``new_growth``, dicts that name different scenarios.

    Examples
    --------
    ``examples.accounts()``: A1 and A3 are active at the end of 2024Q1, which
    won 2 new customers (A2, A3). One churn path, 2 new customers a quarter:
    2 x 1 + 2 = 4, 4 x 0.5 + 2 = 4, 4 x 1 + 2 = 6.

    >>> from repkpi.datasets import doctest_data as examples
    >>> data = examples.accounts()
    >>> project_customers(data, periods=3, churn_rate=[0.0, 0.5, 0.0], new_per_period=2)[
    ...     ["period", "start", "churned", "new", "active"]]
       period  start  churned  new  active
    0  2024Q2    2.0      0.0  2.0     4.0
    1  2024Q3    4.0      2.0  2.0     4.0
    2  2024Q4    4.0      0.0  2.0     6.0

    Two scenarios of new-customer growth from 2024Q1's 2, no churn:
    flat (2, 2: 4, 6) and +50% a quarter (3, 4.5: 5, 9.5).

    >>> project_customers(data, periods=2, churn_rate=0.0,
    ...                   new_growth={"flat": 0.0, "+50%": 0.5})[["scenario", "new", "active"]]
      scenario  new  active
    0     flat  2.0     4.0
    1     flat  2.0     6.0
    2     +50%  3.0     5.0
    3     +50%  4.5     9.5
    """
    if isinstance(periods, bool) or not isinstance(periods, int) or periods < 1:
        raise OptionError(f"periods must be a whole number >= 1, got {_given(periods)}.\n"
                          "Hint: the number of quarters to project, e.g. periods=4.")
    if new_per_period is not None and new_growth is not None:
        raise OptionError("Give new_per_period or new_growth, not both.\nHint: new_growth grows "
                          "the latest complete quarter's new customers; new_per_period sets them.")
    last = latest_complete_period(data, "Q", fiscal_year_start=fiscal_year_start)
    if last is None:
        raise OptionError("project_customers needs accounts with at least one date.\n"
                          "Hint: load the accounts table.")
    window = dict(start=last - 3, end=last, fiscal_year_start=fiscal_year_start)
    if churn_rate is None:
        churn_rate = float(np.nanmean(customers.churn_rate(data, **window)["value"]))
    if new_per_period is None and new_growth is None:
        new_per_period = float(customers.new_customers(data, **window)["value"].mean())
    names, churn = _paths(churn_rate, periods, "churn_rate", None)
    if new_growth is not None:
        names, growth = _paths(new_growth, periods, "new_growth", names)
        base = float(customers.new_customers(data, start=last, end=last,
                                             fiscal_year_start=fiscal_year_start)["value"].iloc[0])
        new = base * np.cumprod(1 + growth, axis=1)
    else:
        names, new = _paths(new_per_period, periods, "new_per_period", names)
    churn = np.broadcast_to(churn, new.shape) if len(churn) < len(new) else churn
    new = np.broadcast_to(new, churn.shape)
    names = names or ["base"]
    start = float(customers.active_customers(data, start=last, end=last,
                                             fiscal_year_start=fiscal_year_start)["value"].iloc[0])
    keep = 1 - churn
    # A(t) = A0 x keep[1..t] + sum over s <= t of new[s] x keep[s+1..t], for every scenario and
    # quarter at once, with products only (exact when a quarter loses everyone).
    t, s, u = np.ogrid[:periods, :periods, :periods]
    carried = np.where((s < u) & (u <= t), keep[:, None, None, :], 1.0).prod(axis=-1)
    active = start * np.cumprod(keep, axis=1) + (carried * (s <= t)[None, :, :, 0] *
                                                 new[:, None, :]).sum(axis=-1)
    n = len(names)
    begin = np.concatenate([np.full((n, 1), start), active[:, :-1]], axis=1)
    future = pd.period_range(last + 1, periods=periods, freq=last.freq)
    return pd.DataFrame({
        "scenario": np.repeat(np.asarray(names, dtype=object), periods),
        "period": np.tile(future, n),
        "start": begin.reshape(-1),
        "churned": (begin * churn).reshape(-1),
        "new": new.reshape(-1),
        "active": active.reshape(-1),
        "retention": keep.reshape(-1),
        "churn": churn.reshape(-1),
    })


def _paths(value: object, periods: int, what: str,
           names: list[str] | None) -> tuple[list[str] | None, np.ndarray]:
    """Scenario names (None: not a dict) and one row of ``periods`` values per scenario."""
    if not isinstance(value, Mapping):
        return names, _path(value, periods, what)[None, :]
    given = [str(name) for name in value]
    if names is not None and set(names) != set(given):
        raise OptionError(f"{what} names the scenarios {given}, another argument {names}.\n"
                          "Hint: give the dicts the same names, or only one argument as a dict.")
    names = names if names is not None else given
    by_name = {str(name): rates for name, rates in value.items()}
    return names, np.stack([_path(by_name[name], periods, f"{what}[{name!r}]") for name in names])


def _path(value: object, periods: int, what: str) -> np.ndarray:
    """A constant or a path of ``periods`` values, as an array of ``periods`` floats."""
    path = np.asarray(value, dtype=np.float64)
    if path.ndim == 0:
        return np.full(periods, float(path))
    if path.shape != (periods,):
        raise OptionError(f"{what} is a path of {path.size} values for {periods} periods.\n"
                          "Hint: a list is one path, one value per period; scenarios are a dict "
                          "name -> value or path.")
    return path


def revenue_grid(data: CrmData, *, win_rates: Sequence[float], deal_sizes: Sequence[float],
                 target: float, period: PeriodLike | None = None,
                 fiscal_year_start: int = 1) -> pd.DataFrame:
    """Projected quarter revenue from the open pipeline over a grid of win rates and deal sizes.

    projected = booked + open deals x win rate x average deal size, where
    booked is the revenue of the deals already won in the quarter.

    Parameters
    ----------
    win_rates, deal_sizes : sequences of float
        The grid's axes.
    target : float
        The quarter's revenue target.
    period : period-like, optional
        The (fiscal) quarter, read with ``fiscal_year_start`` (``"2027Q2"``
        with 4: July-September 2026). Default: the quarter in progress on
        ``data.as_of`` (the next one when ``as_of`` is a quarter's last day).
    fiscal_year_start : int
        Month the (fiscal) year starts in.

    Returns
    -------
    DataFrame
        One row per (win rate, deal size): ``period``, ``win_rate``,
        ``deal_size``, ``open_deals``, ``booked``, ``projected``, ``target``,
        ``attainment``, ``meets``.

    Examples
    --------
    >>> from repkpi.datasets import doctest_data as examples
    >>> data = examples.deals()   # D5 is open; D4 (10 000) won in 2024Q2
    >>> revenue_grid(data, win_rates=[0.2, 0.5], deal_sizes=[40_000], target=25_000)[
    ...     ["win_rate", "open_deals", "booked", "projected", "meets"]]
       win_rate  open_deals   booked  projected  meets
    0       0.2           1  10000.0    18000.0  False
    1       0.5           1  10000.0    30000.0   True
    """
    deals = data.deals
    if deals is None:
        raise OptionError("revenue_grid needs the deals table.\nHint: load the deals export.")
    calendar = Calendar("Q", fiscal_year_start)
    if period is not None:
        quarter = calendar.period(period)
    elif data.as_of is not None:
        quarter = _current(data.as_of, calendar)
    else:
        raise OptionError("revenue_grid needs a period when the data has no as-of date.\n"
                          "Hint: give period='2026Q3'.")
    closed = deals["closed_on"].dt.to_period(calendar.pfreq) == quarter
    booked = float(deals.loc[closed & (deals["stage"] == "won"), "amount"].sum())
    open_deals = int((deals["stage"] == "open").sum())
    rate, size = np.meshgrid(np.asarray(win_rates, float), np.asarray(deal_sizes, float),
                             indexing="ij")
    projected = booked + open_deals * rate.reshape(-1) * size.reshape(-1)
    return pd.DataFrame({
        "period": quarter, "win_rate": rate.reshape(-1), "deal_size": size.reshape(-1),
        "open_deals": open_deals, "booked": booked, "projected": projected,
        "target": float(target), "attainment": projected / target, "meets": projected >= target,
    })


def attainment_probability(data: CrmData, goal: Goal | str, *, target: float | None = None,
                           direction: str = "at_least", period: PeriodLike | None = None,
                           freq: Freq | None = None, draws: int = 10_000, history: int = 12,
                           seed: int = 0, fiscal_year_start: int = 1,
                           options: Mapping[str, Any] | None = None) -> float:
    """Monte Carlo probability that a goal's KPI meets its target in a period.

    The period is the goal's (``freq``: monthly, quarterly or a (fiscal)
    year). What is recorded up to ``data.as_of`` is kept; the time still to
    come is simulated ``draws`` times at once, by a method that follows how
    the KPI is built (its spec's ``kind``, ``timing`` and ``pace_rule``).
    Steps are months (quarters for the market KPIs, whose table is
    quarterly); a step in progress on ``as_of`` keeps what it has recorded
    and adds a drawn step weighted by the share of its days still to come.
    Draws are made, with replacement, from the last ``history`` complete
    steps up to ``as_of`` (the period's own complete steps included; for
    states, the last ``history`` changes between complete steps).

    - **Events that add up** (counts, sums and ratios of events dated in
      the period: CSAT, large deals, cross-sell rate, revenue, NPS...): each
      remaining step's numerator and denominator are a past step's; the
      value is the summed numerator (a count or a sum) or
      ``scale`` x numerator / denominator (a ratio).
    - **Growth** (new-customer growth): the count of each step (numerator +
      denominator of the monthly growth) is simulated that way for the
      period and the one before (known when complete); the value is
      (new(P) - new(P-1)) / new(P-1).
    - **Churn and retention**: the opening book S and the losses so far
      are the KPI's (measured on ``as_of``; for a period not begun, the book
      the data gives it); each remaining step draws a past monthly loss rate
      r, and the book still at risk loses a binomial count with probability
      1 - prod (1 - r): churn = (C + losses) / S, retention = (E - N -
      losses) / S.
    - **Market rank**: every company's revenue (ours and each competitor's)
      in a remaining quarter is a past quarter's, all together; the rank
      is 1 + the competitors whose period total beats ours.
    - **States measured on a day** (key accounts, senior reps, active
      customers, engagement, NRR...): the value at ``as_of`` plus a drawn
      month-to-month change of the KPI's monthly series for each remaining
      step up to the period's last day (bootstrap of changes), at least 0
      (ranks at least 1).
    - A period already over is decided: 1.0 when its value meets the
      target, 0.0 when not (NaN when it has no value). A simulated value
      that is NaN (no events, growth over nothing) does not meet it.

    Medians and differences of ratios (response hours, market-share change)
    cannot be simulated this way: they raise.

    Parameters
    ----------
    data : CrmData
    goal : Goal or str
        A goal (its kpi, freq, target, direction, period and ``where``), or
        a KPI name with ``target`` and ``direction``.
    target : float, optional
        Overrides the goal's.
    direction : {"at_least", "at_most"}
    period : period-like, optional
        A period of the goal's freq, read with ``fiscal_year_start``
        (``"2027Q2"`` with 4: July-September 2026). Default: the goal's
        ``period``, else the one in progress on ``data.as_of`` (the next one
        when ``as_of`` is the last day of a period).
    freq : {"M", "Q", "Y"}, optional
        For a KPI name; default ``"Q"``. A goal brings its own.
    draws : int
        Simulated periods.
    history : int
        Complete steps to draw from.
    seed : int
        Seed of the random draws: the same seed gives the same answer.
    fiscal_year_start : int
        Month the (fiscal) year starts in.
    options : mapping, optional
        The KPI's own options (``{"clock": "business", "calendar": ...}``),
        for a KPI name; a goal brings its own ``options``, which these
        update.

    Returns
    -------
    float
        The share of draws in which the goal is met.

    Raises
    ------
    OptionError
        An unknown KPI or one that cannot be simulated, no target or a bad
        direction, no as-of date, no history to draw from.

    Examples
    --------
    The sample runs to 30 September 2026, so the quarter to play is 2026Q4
    and the (calendar) year in progress 2026:

    >>> import repkpi
    >>> data = repkpi.load_sample()
    >>> p = attainment_probability(data, "csat", target=0.90, draws=2_000)
    >>> 0.0 <= p <= 1.0
    True
    >>> senior = Goal("senior_reps", "Y", 10, "at_least")
    >>> attainment_probability(data, senior, draws=2_000) >= attainment_probability(
    ...     data, senior, target=13, draws=2_000)
    True

    A quarter already over is decided: 2026Q3 (FY2027 Q2 for a year starting
    in April) ended on the as-of date.

    >>> attainment_probability(data, "csat", target=0.0, period="2027Q2", fiscal_year_start=4)
    1.0
    """
    name, target, direction, freq, period, where = _goal_parts(goal, target, direction, freq,
                                                               period)
    own = {**(goal.options if isinstance(goal, Goal) else {}), **(options or {})}
    spec = KPIS[name]
    check_options(spec, own, allowed=())
    if spec.kind in ("median", "difference"):
        raise OptionError(f"attainment_probability cannot simulate {name!r}: a {spec.kind} "
                          "does not build from its months' parts.\nHint: it simulates counts, "
                          "sums, ratios, growth, churn and retention, states and market rank.")
    as_of = data.as_of
    if as_of is None:
        raise OptionError("attainment_probability needs data with an as-of date.\n"
                          "Hint: load data with recorded events, or load(..., as_of=...).")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise OptionError(f"draws must be a whole number >= 1, got {_given(draws)}.\n"
                          "Hint: 10 000 draws give about +-0.01.")
    calendar = Calendar(freq, fiscal_year_start)
    chosen = calendar.period(period, how="end") if period is not None else _current(as_of, calendar)
    _refuse_later(chosen, as_of, calendar)
    kpi = _Kpi(data, name, where, fiscal_year_start, own)

    def meets(value: np.ndarray) -> np.ndarray:
        return value >= target if direction == "at_least" else value <= target

    if chosen.end_time.normalize() <= as_of.normalize():  # decided
        row = kpi(freq, chosen)
        value = row.loc[row["period"] == chosen, "value"].astype(np.float64)
        if value.empty or np.isnan(value.iloc[0]):
            return float("nan")
        return float(meets(value.to_numpy())[0])
    steps = _Steps(kpi, spec, chosen, as_of, history)
    rng = np.random.default_rng(seed)
    if spec.kind == "rank" and spec.table == "market":
        value = _market_rank(data, steps, where, draws, rng)
    elif spec.pace_rule == "growth":
        value = _growth(steps, draws, rng)
    elif spec.pace_rule in ("churn", "retention"):
        row = _opening(kpi, freq, chosen, as_of, spec.pace_rule)
        value = _book(steps, row, spec.pace_rule, draws, rng)
    elif spec.adds_over_time:
        value = _additive(steps, spec, draws, rng)
    else:
        value = _changes(steps, spec, draws, rng)
    with np.errstate(invalid="ignore"):
        return float(np.mean(meets(value)))


def current_period(data: CrmData, freq: Freq = "Q", *, fiscal_year_start: int = 1) -> pd.Period:
    """The period of ``freq`` in progress on ``data.as_of``; the next one when ``as_of`` ends a period.

    Examples
    --------
    >>> from repkpi.datasets import doctest_data as examples
    >>> data = examples.accounts()      # as of 15 April 2024
    >>> current_period(data, "Q"), current_period(data, "Y", fiscal_year_start=4)
    (Period('2024Q2', 'Q-DEC'), Period('2025', 'Y-MAR'))
    """
    if data.as_of is None:
        raise OptionError("The data has no as-of date, so no period is in progress.\n"
                          "Hint: load data with recorded events, or load(..., as_of=...).")
    return _current(data.as_of, Calendar(freq, fiscal_year_start))


def _current(as_of: pd.Timestamp, calendar: Calendar) -> pd.Period:
    """The period of ``calendar`` holding ``as_of``, or the next one when ``as_of`` is its last day."""
    period = calendar.holding(as_of)
    return period if in_progress(as_of, calendar.pfreq) is not None else period + 1


def _refuse_later(chosen: pd.Period, as_of: pd.Timestamp, calendar: Calendar) -> None:
    """:class:`OptionError` for a period later than :func:`_current`'s: nothing to play from."""
    current = _current(as_of, calendar)
    if chosen > current:
        raise OptionError(
            f"attainment_probability plays the period in progress on the as-of date (as_of) "
            f"{as_of:%Y-%m-%d}, or the next one when as_of ends a period: "
            f"{period_label(current)}, not {period_label(chosen)}, which begins later.\nHint: a "
            "later period has no recorded start to play from; if the data is newer than that, "
            "declare its date with load(..., as_of=...) or --as-of."
        )


def _opening(kpi: _Kpi, freq: str, chosen: pd.Period, as_of: pd.Timestamp,
             rule: str) -> pd.DataFrame:
    """The churn or retention row the draws start from: the KPI's own, or the opening book.

    In a period in progress, the KPI's numerator and opening book S so far. A period
    that begins the day after ``as_of`` is not observed (its row is NA), but its opening
    book is: the customers active on ``as_of`` (the previous period's last day), of whom
    none has left yet (churn's C = 0; retention's E - N = S).
    """
    if chosen.start_time <= as_of.normalize():
        row = kpi(freq, chosen)
        return row[row["period"] == chosen]
    active = _Kpi(kpi.data, "active_customers", kpi.where, kpi.fiscal)(freq, chosen - 1)
    book = active.loc[active["period"] == chosen - 1, "value"].astype(np.float64)
    return pd.DataFrame({"numerator": 0.0 if rule == "churn" else book, "denominator": book})


def _goal_parts(goal: Goal | str, target: float | None, direction: str, freq: str | None,
                period: PeriodLike | None) -> tuple:
    """The KPI name, target, direction, freq, period and ``where`` of a goal or a KPI name."""
    if isinstance(goal, Goal):
        name, where = goal.kpi, dict(goal.where)
        target = goal.target if target is None else target
        direction, freq = goal.direction, goal.freq
        period = goal.period if period is None else period
    else:
        name, where, freq = goal, {}, freq or "Q"
    if name not in KPIS:
        raise OptionError(f"Unknown KPI {name!r}.\nHint: the KPIs are {sorted(KPIS)}.")
    if target is None or direction not in ("at_least", "at_most"):
        raise OptionError("Give a target and direction='at_least' or 'at_most' (or a Goal).\n"
                          "Hint: attainment_probability(data, 'csat', target=0.9).")
    return name, float(target), direction, freq, period, where


class _Kpi:
    """The KPI's results restricted to a goal's ``where``, by freq and end."""

    def __init__(self, data: CrmData, name: str, where: Mapping[str, object],
                 fiscal_year_start: int, options: Mapping[str, Any] | None = None) -> None:
        self.data, self.name, self.where, self.fiscal = data, name, where, fiscal_year_start
        self.options = dict(options or {})

    def __call__(self, freq: str, end: pd.Period) -> pd.DataFrame:
        result = KPIS[self.name](self.data, freq=freq, by=list(self.where) or None, end=end,
                                 fiscal_year_start=self.fiscal, **self.options)
        for column, wanted in self.where.items():
            result = result[result[column] == wanted]
        return result.reset_index(drop=True)


class _Steps:
    """The KPI by step (month; quarter for market KPIs) and what of each is still to come.

    ``todo`` is the weight of the step still to simulate: 0 for a step
    recorded in full, the share of days after ``as_of`` for the step in
    progress, 1 for later steps (and for market quarters the table lacks).
    """

    def __init__(self, kpi: _Kpi, spec: KpiSpec, chosen: pd.Period, as_of: pd.Timestamp,
                 history: int) -> None:
        self.step = "Q" if spec.table == "market" else "M"
        spfreq = Calendar(self.step, kpi.fiscal).pfreq
        self.first, self.last = chosen.asfreq(spfreq, "start"), chosen.asfreq(spfreq, "end")
        self.span = self.last.ordinal - self.first.ordinal + 1
        now = as_of.to_period(spfreq)
        frame = kpi(self.step, max(now, self.last))
        periods = pd.PeriodIndex(frame["period"])
        starts, ends = periods.start_time, periods.end_time.normalize()
        days = (ends - starts).days + 1
        done = np.clip(((as_of.normalize() - starts).days + 1) / days, 0.0, 1.0)
        if spec.table == "market":  # a quarter is known when the market table has it
            done = np.where(frame["value"].notna(), 1.0, 0.0)
        self.frame = frame.assign(todo=1.0 - np.asarray(done, dtype=np.float64))
        self.ordinal = periods.asi8 - self.first.ordinal   # 0 = the period's first step
        complete = (self.frame["todo"] == 0) & (periods <= now)
        self.pool = self.frame[complete.to_numpy()].tail(history)
        self.history, self.name, self.fiscal = history, kpi.name, kpi.fiscal

    def window(self, offset: int = 0) -> pd.DataFrame:
        """The steps of the period ``offset`` periods away (-1: the one before)."""
        lo = offset * self.span
        return self.frame[(self.ordinal >= lo) & (self.ordinal < lo + self.span)]

    def draw(self, values: np.ndarray, weights: np.ndarray, draws: int,
             rng: np.random.Generator) -> np.ndarray:
        """``draws`` x steps picks of past ``values``, times each step's weight still to come."""
        values = values[~np.isnan(values)] if values.ndim == 1 else values
        if len(weights) and not len(values):
            kind = "monthly" if self.step == "M" else "quarterly"
            raise OptionError(f"No {kind} history of {self.name} to draw the remaining steps "
                              f"from.\nHint: the last {self.history} complete steps up to the as-of "
                              "date have no data; raise history= or check the data.")
        pick = rng.integers(0, max(len(values), 1), size=(draws, len(weights)))
        taken = values[pick] if len(values) else np.zeros(pick.shape + values.shape[1:])
        return taken * (weights if taken.ndim == 2 else weights[:, None])


def _additive(steps: _Steps, spec: KpiSpec, draws: int, rng: np.random.Generator) -> np.ndarray:
    inside = steps.window()
    weights = inside["todo"].to_numpy()
    todo = weights > 0
    pool = steps.pool
    if spec.kind == "ratio":
        pool = pool[pool["denominator"] > 0]
    both = pool[["numerator", "denominator"]].to_numpy(np.float64)
    drawn = steps.draw(both, weights[todo], draws, rng).sum(axis=1)   # draws x 2
    seen = inside.loc[inside["todo"] < 1, ["numerator", "denominator"]].astype(np.float64)
    num = seen["numerator"].sum() + drawn[:, 0]
    den = seen["denominator"].sum() + drawn[:, 1]
    if spec.kind != "ratio":
        return num
    with np.errstate(divide="ignore", invalid="ignore"):
        return spec.scale * num / den


def _counts(frame: pd.DataFrame) -> np.ndarray:
    """Each step's count in a growth KPI: numerator + denominator (new(M) - new(M-1) + new(M-1))."""
    return (frame["numerator"].astype(np.float64) + frame["denominator"].astype(np.float64)).to_numpy()


def _growth(steps: _Steps, draws: int, rng: np.random.Generator) -> np.ndarray:
    pool = _counts(steps.pool)
    totals = []
    for offset in (-1, 0):   # the period before and the period: two windows
        inside = steps.window(offset)
        weights = inside["todo"].to_numpy()
        seen = np.nansum(np.where(weights < 1, _counts(inside), 0.0))
        totals.append(seen + steps.draw(pool, weights[weights > 0], draws, rng).sum(axis=1))
    before, now = totals
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(before > 0, (now - before) / before, np.nan)


def _book(steps: _Steps, row: pd.DataFrame, rule: str, draws: int,
          rng: np.random.Generator) -> np.ndarray:
    num, book = (float(row[c].iloc[0]) if len(row) else np.nan
                 for c in ("numerator", "denominator"))
    pool = steps.pool[steps.pool["denominator"] > 0]
    num_p, den_p = (pool[c].to_numpy(np.float64) for c in ("numerator", "denominator"))
    rate = num_p / den_p if rule == "churn" else (den_p - num_p) / den_p
    weights = steps.window()["todo"].to_numpy()
    weights = weights[weights > 0]
    rates = steps.draw(rate, np.ones_like(weights), draws, rng)        # draws x steps
    keep = np.clip(np.prod((1.0 - rates) ** weights, axis=1), 0.0, 1.0)
    at_risk = 0 if np.isnan(book) else max(round(book - num if rule == "churn" else num), 0)
    lost = at_risk - rng.binomial(at_risk, keep)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (num + lost) / book if rule == "churn" else (num - lost) / book


def _market_rank(data: CrmData, steps: _Steps, where: Mapping[str, object], draws: int,
                 rng: np.random.Generator) -> np.ndarray:
    periods = steps.frame["period"]
    ours = _Kpi(data, "market_share", where, steps.fiscal)("Q", periods.iloc[-1])
    market = data.market
    for column, wanted in where.items():
        market = market[market[column] == wanted]
    quarter = pd.PeriodIndex(market["period"], freq="Q").start_time.to_period(steps.first.freqstr)
    rivals = (market.assign(period=quarter)
              .pivot_table(index="period", columns="company", values="revenue", aggfunc="sum")
              .reindex(pd.PeriodIndex(periods)).fillna(0.0))
    mine = ours.set_index("period")["numerator"].reindex(pd.PeriodIndex(periods)).fillna(0.0)
    revenue = np.column_stack([mine.to_numpy(np.float64), rivals.to_numpy(np.float64)])
    inside = steps.window()
    weights = inside["todo"].to_numpy()
    seen = revenue[inside.index[weights == 0]].sum(axis=0)
    total = seen + steps.draw(revenue[steps.pool.index], weights[weights > 0], draws,
                              rng).sum(axis=1)                          # draws x companies
    return 1.0 + (total[:, 1:] > total[:, :1]).sum(axis=1)


def _changes(steps: _Steps, spec: KpiSpec, draws: int, rng: np.random.Generator) -> np.ndarray:
    frame = steps.frame
    known = frame[frame["todo"] < 1]
    start = float(known["value"].iloc[-1]) if len(known) else np.nan
    complete = frame[frame["todo"] == 0]["value"].astype(np.float64)
    changes = complete.diff().to_numpy()[1:]
    changes = changes[~np.isnan(changes)][-steps.history:]
    ahead = frame[(frame["todo"] > 0) & (steps.ordinal < steps.span)]["todo"].to_numpy()
    value = start + steps.draw(changes, ahead, draws, rng).sum(axis=1)
    return np.maximum(value, 1.0 if spec.kind == "rank" else 0.0)


def _given(value: object) -> str:
    """A value given to a what-if function, as a person reads it: numbers plain, other things quoted.

    Examples
    --------
    >>> _given(np.float64(40_000.0)), _given(0.1), _given(np.int64(3)), _given(1.5e-7), _given("x")
    ('40,000', '0.1', '3', '0.00000015', "'x'")
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        return repr(value)
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    if number == round(number) and abs(number) < 1e15:
        return f"{number:,.0f}"
    return np.format_float_positional(number, precision=8, unique=True, trim="-")


def goal_seek(func: Callable[[float], float], target: float, *, lo: float, hi: float,
              tol: float = 1e-9, max_iter: int = 200, unit: str | None = None) -> float:
    """The x in [lo, hi] where a monotone ``func(x)`` reaches ``target``, by bisection.

    Parameters
    ----------
    func : callable
        Monotone on [lo, hi].
    target : float
        The value to reach.
    lo, hi : float
        The bracket.
    tol : float
        Half the width of the last bracket.
    max_iter : int
        Bisections at most.
    unit : {"count", "percent", "points", "money", "hours", "score", "rank"}, optional
        How ``func``'s values read in the error message (plain numbers
        otherwise).

    Raises
    ------
    OptionError
        When func(lo) and func(hi) are on the same side of the target: the
        target is not bracketed. Its numbers are written as they read, by
        ``unit`` (never as ``np.float64(...)``).

    Examples
    --------
    What win rate brings 10 open deals of 40 000 to 150 000?

    >>> round(goal_seek(lambda rate: 10 * rate * 40_000, 150_000, lo=0.0, hi=1.0), 6)
    0.375
    >>> goal_seek(lambda rate: 10 * rate * 40_000, 150_000, lo=0.0, hi=0.1, unit="money")
    Traceback (most recent call last):
    ...
    repkpi.errors.OptionError: The target $150,000 is not bracketed: the function gives $0 at 0 ...
    """
    f_lo, f_hi = func(lo) - target, func(hi) - target
    if f_lo == 0:
        return lo
    if f_hi == 0:
        return hi
    if np.sign(f_lo) == np.sign(f_hi):
        show = (lambda v: format_value(float(v), unit, compact=False)) if unit else _given
        raise OptionError(f"The target {show(target)} is not bracketed: the function gives "
                          f"{show(f_lo + target)} at {_given(lo)} and {show(f_hi + target)} at "
                          f"{_given(hi)}, both on the same side of it.\nHint: widen lo and hi "
                          "to values on either side of the target, or check that the function "
                          "rises or falls throughout.")
    for _ in range(max_iter):
        mid = (lo + hi) / 2
        f_mid = func(mid) - target
        if f_mid == 0 or abs(hi - lo) / 2 < tol:
            return mid
        if np.sign(f_mid) == np.sign(f_lo):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return (lo + hi) / 2


# -- what it takes: per goal, what must happen in the rest of the period ------------------------
TAKES_COLUMNS = ["goal", "kpi", "freq", "period", "period_label", "unit", "direction", "target",
                 "so_far", "needed", "allowed", "status", "lever", "previous", "count_target",
                 "pipeline_deals", "pipeline_amount", "undated_deals", "needed_win_rate",
                 "current_win_rate", "expected_more", "book", "due", "needed_renewals",
                 "candidates"]
"""The columns of :func:`what_it_takes`, in order."""

_HISTORY = 4          # complete periods behind a current rate
_NEAR = 0.2           # a key-account candidate is within 20% of the threshold
_SOON = pd.DateOffset(months=6)  # a seniority candidate crosses within six months
_NAMED = 5            # candidates named in a sentence
_PLURAL = {"M": "months", "Q": "quarters", "Y": "years"}
_OBSERVED_AS = {"tickets": "tickets", "surveys": "responses", "deals": "closed deals",
                "contracts": "contracts due", "accounts": "accounts"}
"""What a share's observations are, by the KPI's table."""
_MISSES = {"csat": "responses below 4", "sla_compliance": "SLA breaches",
           "first_response_sla": "late first responses", "win_rate": "lost deals",
           "cross_sell_rate": "lost cross-sell and upsell deals",
           "renewal_rate": "contracts not renewed", "engagement_rate": "accounts not engaged"}
"""A share's failures in words; another KPI's read as "misses"."""


def what_it_takes(data: CrmData, goals: Iterable[Goal] | str | os.PathLike[str] | None = None, *,
                  period: PeriodLike | None = None,
                  fiscal_year_start: int | None = None) -> pd.DataFrame:
    """For each goal, what must happen in the rest of its period: in deals, renewals, tickets and names.

    The period of each goal is the one of its freq in progress on
    ``data.as_of`` or, when ``as_of`` is a period's last day, the next one
    (:func:`current_period`). What remains is said in the data's own units,
    with the lever that moves it, by the kind of the goal's KPI:

    - **Counts and sums of events** (new customers, large deals, revenue,
      cross-sell wins): ``needed``, the successes still needed; the open
      deals whose expected close date (an open deal's ``closed_on``) falls
      in the period and that would count if won (``pipeline_deals``,
      ``pipeline_amount``; for new customers the deals of accounts that are
      no customer yet); ``needed_win_rate`` = needed / what that pipeline
      would add if all won (NA when it is empty) and ``current_win_rate``,
      the ``win_rate`` of the last four complete periods pooled (for
      cross-sell wins, ``cross_sell_rate``: the same kind of deals). For a
      growth goal the count to reach (``count_target``) is the previous
      period's new customers x (1 + target), rounded up.
    - **Shares of counts** (CSAT, SLA, first-response SLA, win rate,
      cross-sell, renewal rate): the period's expected observations at the
      last four complete periods' daily rate, less those so far
      (``expected_more``); ``needed``, the successes among them that end at
      the target, and ``allowed``, the failures still allowed. For the
      renewal rate the observations are the contracts due in the rest of
      the period, which are known.
    - **Churn and retention**: ``book``, the accounts on the books at the
      period's open; ``allowed``, the churns still allowed from it; ``due``,
      the contracts of accounts still active that are due in the rest of the
      period and not yet renewed, and ``needed_renewals``, how many of them
      must renew if each one not renewed loses its account.
    - **States** (key accounts, senior reps, market rank, active customers,
      ...): the value on ``as_of``, the gap (``needed``) and, for key
      accounts, senior reps and market rank, the ``candidates`` closest to
      crossing, by name: accounts within 20% of the key-account threshold,
      reps within six months of seniority, the competitors just ahead.
    - Other KPIs (medians, NPS, means, NRR, market share): the value so far
      against the target.

    A goal already met says so, and one out of reach says so (``status``).

    Parameters
    ----------
    data : CrmData
        Loaded data, or Dask data (only the rows the sentences list are
        gathered).
    goals : list of Goal, or a goals file path; default :data:`repkpi.DEFAULT_GOALS`
    period : period-like or "current", optional
        ``None`` or ``"current"``: each goal's period in progress on
        ``as_of`` (the next one when ``as_of`` ends a period). A period
        (``"2026Q4"``) is read as the scorecard reads it (the quarterly goals
        on it, the yearly ones on the year that holds it); a period already
        over is decided (met or missed); a later one is refused. A goal's own
        ``period`` wins.
    fiscal_year_start : int, optional
        Default: the goals file's, else 1.

    Returns
    -------
    DataFrame
        One row per goal, the plan's first (:data:`TAKES_COLUMNS`):
        ``goal``, ``kpi``, ``freq``, ``period``, ``period_label``, ``unit``,
        ``direction``, ``target``, ``so_far`` (the value so far; NA when the
        period has not begun and the KPI has no value yet), ``needed``,
        ``allowed``, ``status`` (``met``, ``missed``, ``open``, ``out of
        reach`` or ``no data``), ``lever`` (the sentence) and the numbers
        behind it (NA where they do not apply).

    Raises
    ------
    OptionError
        No as-of date, or a period that begins after the one in progress.
    GoalsError
        A goal's ``where`` names a column the data does not have.

    Notes
    -----
    Each number can be found again: ``so_far`` with the KPI itself,
    ``pipeline_deals`` among the open deals (``data.deals``, stage ``open``,
    ``closed_on`` in the period), ``current_win_rate`` with
    ``repkpi.kpis.win_rate`` (``cross_sell_rate`` for cross-sell wins) over
    the four periods, ``book`` as the
    denominator of ``churn_rate``, ``due`` with ``repkpi.detail(data,
    "renewal_rate", period=..., only="rest")``, the key-account candidates
    with ``repkpi.detail(data, "key_accounts", period=..., threshold=0.8 x
    threshold)``, the competitors with ``repkpi.detail(data, "market_rank",
    period=...)``.

    Examples
    --------
    >>> import repkpi
    >>> data = repkpi.load_sample()          # as of 30 September 2026: 2026Q4 is next
    >>> takes = what_it_takes(data)
    >>> churn = takes.set_index("kpi").loc["churn_rate"]
    >>> churn["period_label"], churn["status"]
    ('2026 Q4', 'open')
    >>> book = repkpi.kpis.active_customers(data, start="2026Q3", end="2026Q3")["value"].iloc[0]
    >>> bool(churn["book"] == book), bool(churn["allowed"] == int(0.05 * book))
    (True, True)
    >>> churn["lever"].startswith(f"At most {churn['allowed']:.0f} more churns in 2026 Q4: 0 of the")
    True
    """
    goals = _goal_list(goals)
    fiscal = fiscal_start_of(goals, fiscal_year_start)
    ours, _, others = plan_goals(goals)
    goals = [*ours, *others]
    check_goal_columns(data, goals)
    as_of = data.as_of
    if as_of is None:
        raise OptionError("what_it_takes needs data with an as-of date.\n"
                          "Hint: load data with recorded events, or load(..., as_of=...).")
    plan = [(goal, _takes_period(goal, period, as_of, fiscal)) for goal in goals]
    # Every goal's KPI in one run (on Dask, one pass over the data); then goal by goal.
    executor_for(data).prefetch(data, [
        (goal.kpi, {"freq": goal.freq, "by": list(goal.where) or None, "end": chosen,
                    "fiscal_year_start": fiscal, **goal.options}) for goal, chosen in plan])
    shared: dict[tuple, float] = {}  # what goals of the same period and scope have in common
    rows = [_takes(data, goal, chosen, fiscal, shared) for goal, chosen in plan]
    frame = pd.DataFrame(rows, columns=TAKES_COLUMNS)
    for column in TAKES_COLUMNS[TAKES_COLUMNS.index("previous"):-1]:
        frame[column] = frame[column].astype("Float64")
    for column in ("target", "so_far", "needed", "allowed"):
        frame[column] = frame[column].astype("Float64")
    return frame


def _goal_list(goals: Iterable[Goal] | str | os.PathLike[str] | None) -> list[Goal]:
    """The goals given, a goals file read, or the plan's (a :class:`GoalSet` keeps its settings)."""
    if goals is None:
        return DEFAULT_GOALS
    if isinstance(goals, str | os.PathLike):
        return load_goals(goals)
    return goals


def _takes_period(goal: Goal, period: PeriodLike | None, as_of: pd.Timestamp,
                  fiscal: int) -> pd.Period:
    """The period a goal plays: its own, the one asked for, or the one in progress (the next)."""
    calendar = Calendar(goal.freq, fiscal)
    if goal.period is not None:
        chosen = calendar.period(goal.period)
    elif period is None or period == "current":
        return _current(as_of, calendar)
    else:
        chosen = calendar.period(period, how="end")
    current = _current(as_of, calendar)
    if chosen > current:
        raise OptionError(
            f"what_it_takes plays the period in progress on the as-of date (as_of) "
            f"{as_of:%Y-%m-%d}, or the next one when as_of ends a period: "
            f"{period_label(current)}, not {period_label(chosen)}, which begins later.\nHint: "
            "nothing of a later period can be counted yet; if the data is newer than that, "
            "declare its date with load(..., as_of=...) or --as-of.")
    return chosen


class _Play:
    """One goal in its period: the KPI's row, the days done and to come, and the sentence's words.

    ``shared`` holds what the goals of one :func:`what_it_takes` call have in
    common (the renewals due, for a churn goal and a retention goal of the
    same period and scope), by what it depends on.
    """

    def __init__(self, data: CrmData, goal: Goal, chosen: pd.Period, fiscal: int,
                 shared: dict[tuple, float]) -> None:
        self.data, self.goal, self.chosen, self.fiscal = data, goal, chosen, fiscal
        self.shared = shared
        self.spec = KPIS[goal.kpi]
        self.as_of = data.as_of.normalize()
        self.first = chosen.start_time.normalize()
        self.last = chosen.end_time.normalize()
        self.days = (self.last - self.first).days + 1
        self.done = int(np.clip((self.as_of - self.first).days + 1, 0, self.days))
        self.kpi = _Kpi(data, goal.kpi, goal.where, fiscal, goal.options)
        frame = self.kpi(goal.freq, chosen)
        self.history = frame[frame["period"] < chosen]
        found = frame[frame["period"] == chosen]
        self.row = found.iloc[0] if len(found) else None
        self.label = period_label(chosen)
        self.unit = self.spec.unit

    @property
    def begun(self) -> bool:
        return self.done > 0

    @property
    def over(self) -> bool:
        return self.done == self.days

    def value(self, column: str = "value") -> float:
        """The KPI's ``column`` in the period so far (NaN when it has none)."""
        return np.nan if self.row is None else _float(self.row[column])

    def show(self, value: float, unit: str | None = None) -> str:
        """A number as its unit reads (money with separators, counts whole, percents)."""
        return format_value(value, unit or self.unit, compact=False)

    def recent(self, name: str, options: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """KPI ``name``'s rows of the last four complete periods of the goal's freq."""
        last = latest_complete_period(self.data, self.goal.freq, fiscal_year_start=self.fiscal)
        if last is None:
            return pd.DataFrame(columns=["period", "numerator", "denominator", "value"])
        frame = _Kpi(self.data, name, self.goal.where, self.fiscal, options)(self.goal.freq, last)
        return frame[frame["period"] > last - _HISTORY]

    def row_out(self, **numbers: Any) -> dict[str, Any]:
        """The goal's row of :func:`what_it_takes`: its identity and ``numbers``."""
        goal = self.goal
        return {"goal": goal.label, "kpi": goal.kpi, "freq": goal.freq, "period": self.chosen,
                "period_label": self.label, "unit": self.unit, "direction": goal.direction,
                "target": float(goal.target), **numbers}


def _float(value: object) -> float:
    return np.nan if value is None or pd.isna(value) else float(value)


def _takes(data: CrmData, goal: Goal, chosen: pd.Period, fiscal: int,
           shared: dict[tuple, float]) -> dict[str, Any]:
    """One goal's row: the rule of its KPI's kind (see :func:`what_it_takes`).

    A goal whose KPI the data cannot support (a table or column it lacks) has
    no data, and its sentence says why, as the scorecard scores it.
    """
    try:
        return _by_kind(_Play(data, goal, chosen, fiscal, shared))
    except EXPECTED as exc:
        reason = str(exc).split("\n")[0]
        return {"goal": goal.label, "kpi": goal.kpi, "freq": goal.freq, "period": chosen,
                "period_label": period_label(chosen), "unit": KPIS[goal.kpi].unit,
                "direction": goal.direction, "target": float(goal.target), "status": "no data",
                "lever": f"No data: {reason}"}


def _by_kind(play: _Play) -> dict[str, Any]:
    """The row of a goal in play, by the kind of its KPI."""
    goal = play.goal
    spec = play.spec
    if play.over:
        return _decided(play)
    if spec.pace_rule in ("churn", "retention") and \
            (spec.pace_rule == "churn") == (goal.direction == "at_most"):
        return _book_goal(play)
    if spec.kind == "rank" and spec.table == "market":
        return _rank_goal(play)
    if spec.pace_rule == "growth" and goal.direction == "at_least":
        return _growth_goal(play)
    if spec.pace_rule == "scale" and goal.direction == "at_least":
        return _count_goal(play)
    if spec.share_of_counts(goal.options) and spec.adds_over_time:
        return _share_goal(play)
    if spec.timing in ("state", "window") and spec.kind == "count":
        return _state_goal(play)
    return _as_it_stands(play)


def _meets(value: float, goal: Goal) -> bool:
    return value >= goal.target if goal.direction == "at_least" else value <= goal.target


def _against(play: _Play) -> str:
    word = "at least" if play.goal.direction == "at_least" else "at most"
    return f"a target of {word} {play.show(play.goal.target)}"


def _decided(play: _Play) -> dict[str, Any]:
    """A period already over: its value met the target or did not."""
    value = play.value()
    if np.isnan(value):
        return play.row_out(so_far=value, status="no data",
                            lever=f"{play.label} is over with no {play.spec.label} to measure.")
    status = "met" if _meets(value, play.goal) else "missed"
    return play.row_out(so_far=value, status=status,
                        lever=f"{play.label} is over: {play.spec.label} "
                              f"{play.show(value)} against {_against(play)}, {status}.")


def _as_it_stands(play: _Play) -> dict[str, Any]:
    """A KPI with no count to reach (median, mean, NPS, NRR, share): the value so far, the gap."""
    value = play.value()
    if np.isnan(value):
        return play.row_out(so_far=value, status="open",
                            lever=f"{play.spec.label}: nothing recorded in {play.label} yet, "
                                  f"against {_against(play)}.")
    gap = play.goal.target - value if play.goal.direction == "at_least" else value - play.goal.target
    status = "met" if gap <= 0 else "open"
    tail = "met so far" if gap <= 0 else f"{_gap(play, abs(gap))} to go"
    return play.row_out(so_far=value, status=status,
                        lever=f"{play.spec.label} {play.show(value)} so far in {play.label} "
                              f"against {_against(play)}: {tail}.")


def _gap(play: _Play, gap: float) -> str:
    return f"{gap * 100:.1f} points" if play.unit in ("percent", "points") else play.show(gap)


def _counted(count: float, noun: str) -> str:
    """``noun`` (plural, "SLA breaches") in the singular for a count of one ("SLA breach").

    The last word ending in s carries the number ("responses below 4").

    Examples
    --------
    >>> _counted(1, "SLA breaches"), _counted(1, "contracts not renewed"), _counted(2, "deals")
    ('SLA breach', 'contract not renewed', 'deals')
    """
    words = noun.split(" ")
    plural = [i for i, word in enumerate(words) if word.endswith("s")]
    if count != 1 or not plural:
        return noun
    word = words[plural[-1]]
    words[plural[-1]] = word[:-2] if word.endswith(("ches", "shes", "xes")) else word[:-1]
    return " ".join(words)


_RATE_OF = {"cross_sell_wins": ("cross_sell_rate", "cross-sell and upsell deals")}
"""The win rate of the same kind of deals as a count's pipeline, where a KPI declares one: the
cross-sell pipeline is set against the cross-sell deals' own win rate, not every deal's."""


def _won_rate(play: _Play, counted: str) -> float:
    """The win rate of the last four complete periods of the goal's freq, pooled.

    ``win_rate``, or the KPI of :data:`_RATE_OF` for a count of one kind of deal.
    """
    rows = play.recent(_RATE_OF.get(counted, ("win_rate",))[0])
    num, den = rows["numerator"].astype(np.float64).sum(), rows["denominator"].astype(np.float64).sum()
    return num / den if den > 0 else np.nan


def _pipeline(play: _Play, counted: str) -> dict[str, float]:
    """The open deals expected to close in the period that ``counted`` would count if won.

    Each open deal dated in the period is taken as won on its expected close
    date (an account that is no customer yet becoming one on its first such
    date), and :func:`repkpi.detail` of ``counted`` on those deals alone says
    what they would add: ``weight`` (deals, accounts, or an amount). Only
    those deals, their accounts (and the reps when a goal is grouped) are
    gathered.
    """
    data, goal = play.data, play.goal
    deals = data.deals
    if deals is None:
        return {"weight": np.nan}
    is_open = deals["stage"] == "open"
    dated = is_open & (deals["closed_on"] >= play.first) & (deals["closed_on"] <= play.last)
    found = executor_for(data).gather(data, {"open": deals.loc[dated],
                                             "undated": (is_open & deals["closed_on"].isna()).sum()})
    rows, undated = found["open"], float(found["undated"])
    empty = {"pipeline_deals": 0.0, "pipeline_amount": 0.0, "weight": 0.0, "undated_deals": undated}
    if rows.empty:
        return empty
    wanted: dict[str, Any] = {}
    if data.accounts is not None:
        accounts = data.accounts
        wanted["accounts"] = accounts.loc[rows_among(accounts["account_id"],
                                                     rows["account_id"].dropna().unique())]
    if goal.where and data.reps is not None:
        wanted["reps"] = data.reps
    tables = executor_for(data).gather(data, wanted)
    won = rows.assign(stage="won")
    if "accounts" in tables:
        accounts = tables["accounts"]
        since = accounts["customer_since"]
        prospect = since.isna() | (since > play.as_of)
        first_won = won.groupby("account_id")["closed_on"].min()
        tables["accounts"] = accounts.assign(customer_since=since.mask(
            prospect, accounts["account_id"].map(first_won)))
    would = CrmData.trusted(deals=won, **tables)
    behind = detail(would, counted, period=play.chosen, freq=goal.freq,
                    by=list(goal.where) or None, fiscal_year_start=play.fiscal, **goal.options)
    for column, value in goal.where.items():
        behind = behind[behind[column] == value]
    behind = behind[behind["in_numerator"]]
    if behind.empty:
        return empty
    ids = behind["deal_id"] if "deal_id" in behind.columns else \
        won.loc[won["account_id"].isin(behind["account_id"]), "deal_id"]
    taken = won[won["deal_id"].isin(ids)]
    return {"pipeline_deals": float(len(taken)),
            "pipeline_amount": float(taken["amount"].astype(np.float64).sum()),
            "weight": float(behind["numerator_weight"].astype(np.float64).sum()),
            "undated_deals": undated}


def _count_goal(play: _Play, counted: str | None = None, so_far: float | None = None,
                aim: float | None = None, lead: str = "", shown_so_far: float | None = None,
                **numbers: Any) -> dict[str, Any]:
    """A count or sum of events to reach: what is needed, from which open deals, at what win rate."""
    goal, spec = play.goal, KPIS[counted or play.goal.kpi]
    so_far = (_float(play.value("numerator")) if play.begun else 0.0) if so_far is None else so_far
    so_far = 0.0 if np.isnan(so_far) else so_far
    aim = float(goal.target) if aim is None else aim
    money = spec.unit == "money"
    needed = max(aim - so_far, 0.0) if money else float(max(math.ceil(aim - so_far - _EPS), 0))
    noun = spec.label[0].lower() + spec.label[1:] if spec.label[1:2].islower() else spec.label
    shown = format_value(so_far, spec.unit, compact=False)
    numbers["so_far"] = so_far if shown_so_far is None else shown_so_far
    if needed == 0:
        return play.row_out(needed=0.0, status="met",
                            lever=f"{lead}Met: {shown} {_counted(so_far, noun)} so far in "
                                  f"{play.label}, against "
                                  f"{format_value(aim, spec.unit, compact=False)}.", **numbers)
    pipe = _pipeline(play, spec.name)
    weight = pipe.pop("weight")
    rate = _won_rate(play, spec.name)
    need_rate = needed / weight if weight > 0 else np.nan
    kind = f" for {_RATE_OF[spec.name][1]}" if spec.name in _RATE_OF else ""
    history = f"{format_value(rate, 'percent')}{kind} over the last four {_PLURAL[goal.freq]}"
    more = (f"{format_value(needed, 'money', compact=False)} more {noun}" if money
            else f"{needed:,.0f} more {_counted(needed, noun)}")
    by_value = " by value" if money else ""
    status = "open"
    if np.isnan(weight):
        text = f"{more} needed in {play.label}; no deals table to find a pipeline in."
    elif weight == 0:
        undated = pipe.get("undated_deals", 0.0)
        aside = (f" ({undated:,.0f} open deals have no expected close date)" if undated else "")
        text = (f"{more} needed in {play.label}; no open deal that would count is expected to "
                f"close in it{aside}: new deals must be found; the win rate was {history}.")
    else:
        deals_words = (f"{pipe['pipeline_deals']:,.0f} open "
                       f"{_counted(pipe['pipeline_deals'], 'deals')} expected to close "
                       f"({format_value(pipe['pipeline_amount'], 'money', compact=False)})")
        if need_rate > 1:
            status = "out of reach"
            text = (f"Out of reach of the pipeline: {more} needed in {play.label} from "
                    f"{deals_words}, which needs {format_value(need_rate, 'percent')} of the "
                    f"open pipeline{by_value}; the win rate was {history}.")
        else:
            text = (f"{more} from {deals_words}: a {format_value(need_rate, 'percent')} win "
                    f"rate{by_value}, against {history}.")
    return play.row_out(needed=needed, status=status,
                        lever=lead + text[0].upper() + text[1:], needed_win_rate=need_rate,
                        current_win_rate=rate, **pipe, **numbers)


def _growth_goal(play: _Play) -> dict[str, Any]:
    """A growth of new customers: the count to reach is the previous period's x (1 + target)."""
    counts = _Kpi(play.data, "new_customers", play.goal.where, play.fiscal)(play.goal.freq,
                                                                            play.chosen)
    by_period = counts.set_index("period")["numerator"].astype(np.float64)
    previous = _float(by_period.get(play.chosen - 1, np.nan))
    now = _float(by_period.get(play.chosen, np.nan)) if play.begun else 0.0
    now = 0.0 if np.isnan(now) else now
    growth = (now - previous) / previous if previous > 0 and play.begun else np.nan
    if not previous > 0:
        return play.row_out(so_far=growth, previous=previous, status="no data",
                            lever=f"{period_label(play.chosen - 1)} won no new customers: growth "
                                  f"over nothing is undefined.")
    aim = float(required_new_customers(previous, growth=play.goal.target))
    lead = (f"{aim:,.0f} new customers make {format_value(play.goal.target, 'percent')} on "
            f"{period_label(play.chosen - 1)}'s {previous:,.0f}. ")
    return _count_goal(play, "new_customers", so_far=now, aim=aim, lead=lead, shown_so_far=growth,
                       previous=previous, count_target=aim)


def _goal_detail(play: _Play, name: str, period: pd.Period, **options: Any) -> pd.DataFrame:
    """:func:`repkpi.detail` of ``name`` in ``period``, restricted to the goal's ``where``."""
    goal = play.goal
    rows = detail(play.data, name, period=period, freq=goal.freq, by=list(goal.where) or None,
                  fiscal_year_start=play.fiscal, **options)
    for column, value in goal.where.items():
        rows = rows[rows[column] == value]
    return rows


def _expected_more(play: _Play, den: float) -> float:
    """Observations still to come: the period's count at the last four periods' daily rate, less ``den``."""
    rows = play.recent(play.goal.kpi, play.goal.options)
    rows = rows[rows["denominator"].notna()]
    periods = pd.PeriodIndex(rows["period"])
    days = float(np.sum((periods.end_time.normalize() - periods.start_time).days + 1))
    if days == 0:
        return np.nan
    per_day = rows["denominator"].astype(np.float64).sum() / days
    return float(max(round(per_day * play.days - den), 0))


def _share_goal(play: _Play) -> dict[str, Any]:
    """A share of counts: the successes needed, the failures allowed, among those still to come."""
    goal, spec = play.goal, play.spec
    observed = _OBSERVED_AS.get(spec.table, "observations")
    misses = _MISSES.get(goal.kpi, "misses")
    if spec.forward:  # the observations to come are scheduled: the contracts due
        rows = _goal_detail(play, goal.kpi, play.chosen, **goal.options)
        ends = pd.to_datetime(rows["end_date"])
        decided = rows["in_numerator"] | (ends <= play.as_of)
        num = float(rows["in_numerator"].sum())
        den, more = float(decided.sum()), float((~decided).sum())
        about = ""
    else:
        num, den = (0.0, 0.0) if not play.begun else (
            np.nan_to_num(play.value("numerator")), np.nan_to_num(play.value("denominator")))
        more = _expected_more(play, den)
        about = "about "
    now = num / den if den > 0 else np.nan
    head = (f"{spec.label} {play.show(now)} so far ({num:,.0f} of {den:,.0f})" if den > 0
            else f"{spec.label}, nothing recorded in {play.label} yet")
    if np.isnan(more):
        return play.row_out(so_far=now, status="open",
                            lever=f"{head}: no past {observed} to expect more from.")
    target = float(goal.target)
    if goal.direction == "at_least":
        needed = required_successes(num, den, target, remaining=int(more))
        needed = np.nan if needed is pd.NA else float(needed)
        allowed = more - needed if not np.isnan(needed) else np.nan
    else:
        allowed = float(math.floor(target * (den + more) - num + _EPS))
        needed = np.nan
    numbers = dict(so_far=now, needed=needed, allowed=allowed, expected_more=more)
    if np.isnan(allowed) or allowed < 0:
        return play.row_out(**numbers, status="out of reach",
                            lever=f"Out of reach: {head}; even if all of {about}{more:,.0f} more "
                                  f"{observed} go well, {play.label} ends short of "
                                  f"{_against(play)}.")
    if more == 0:
        return play.row_out(**numbers, status="met" if _meets(now, goal) else "out of reach",
                            lever=f"{head}, against {_against(play)}; at the last four "
                                  f"{_PLURAL[goal.freq]}' daily rate no more {observed} are "
                                  f"expected in {play.label}.")
    if allowed >= more:
        return play.row_out(**numbers, status="met",
                            lever=f"Met: {head}; even with {about}{more:,.0f} more {observed}, all "
                                  f"of them {misses}, {play.label} keeps to {_against(play)}.")
    if goal.direction == "at_least":
        text = (f"{head}: at most {allowed:,.0f} more {_counted(allowed, misses)} in "
                f"{about}{more:,.0f} more {_counted(more, observed)} ({needed:,.0f} must go "
                f"well) to end {play.label} at {play.show(target)} or above.")
    else:
        text = (f"{head}: at most {allowed:,.0f} more of {about}{more:,.0f} more {observed} may "
                f"count, to end {play.label} at {play.show(target)} or below.")
    return play.row_out(**numbers, status="open", lever=text)


def _book_goal(play: _Play) -> dict[str, Any]:
    """Churn or retention: the churns still allowed from the opening book, and the renewals due."""
    goal, rule = play.goal, play.spec.pace_rule
    row = _opening(play.kpi, goal.freq, play.chosen, play.data.as_of, rule)
    num = _float(row["numerator"].iloc[0]) if len(row) else np.nan
    book = _float(row["denominator"].iloc[0]) if len(row) else np.nan
    if np.isnan(book) or book == 0:
        return play.row_out(status="no data", book=book,
                            lever=f"No accounts on the books at the open of {play.label}.")
    target = float(goal.target)
    lost = num if rule == "churn" else book - num
    if rule == "churn":
        allowed_all = float(math.floor(target * book + _EPS))
    else:
        allowed_all = book - float(math.ceil(target * book - _EPS))
    allowed = allowed_all - lost
    due = _due(play)
    must = float(max(due - max(allowed, 0.0), 0.0))
    so_far = num / book
    end = f"{play.last:%d %B %Y}".lstrip("0")
    renewals = (f"{due:,.0f} contracts of active accounts are due by {end} and not yet renewed"
                if due else f"no contract of an active account is due by {end}")
    numbers = dict(so_far=so_far, allowed=allowed, book=book, due=due, needed_renewals=must)
    losses = "churns" if rule == "churn" else "accounts lost"
    start = (f"{lost:,.0f} of the {book:,.0f} accounts on the books at the open of {play.label} "
             f"lost so far, {allowed_all:,.0f} allowed for {_against(play)}")
    if allowed < 0:
        return play.row_out(**numbers, status="out of reach",
                            lever=f"Out of reach: {start}, {-allowed:,.0f} too many already.")
    if allowed >= book - lost:
        return play.row_out(**numbers, status="met",
                            lever=f"Met: {start}; the rest of the book can all leave.")
    tail = (f"; at least {must:,.0f} of them must renew" if must else
            "; the goal holds even if none of them renews" if due else "")
    return play.row_out(**numbers, status="open",
                        lever=f"At most {allowed:,.0f} more {_counted(allowed, losses)} in "
                              f"{play.label}: {start}; "
                              f"{renewals}{tail}.")


def _due(play: _Play) -> float:
    """Contracts due in the rest of the period, not yet renewed, of accounts on the books and active.

    The forward view of ``renewal_rate``'s drill-down (``only="rest"``) with
    an end date after ``as_of``; the accounts of those contracts alone are
    gathered, to keep those on the books at the period's open and still
    active on ``as_of``.
    """
    key = ("due", play.goal.freq, repr(sorted(play.goal.where.items())), play.chosen, play.fiscal)
    if key not in play.shared:
        play.shared[key] = _due_now(play)
    return play.shared[key]


def _due_now(play: _Play) -> float:
    """:func:`_due`, computed."""
    data = play.data
    if data.contracts is None or data.accounts is None:
        return np.nan
    rows = _goal_detail(play, "renewal_rate", play.chosen, only="rest")
    rows = rows[pd.to_datetime(rows["end_date"]) > play.as_of]
    if rows.empty:
        return 0.0
    accounts = data.accounts
    # Ids looked up in Arrow: pandas' isin on Arrow text makes one Python object per value.
    found = executor_for(data).gather(data, {"accounts": accounts.loc[rows_among(
        accounts["account_id"], rows["account_id"].dropna().unique()),
        ["account_id", "customer_since", "churned_on"]]})["accounts"]
    opening = play.first - pd.Timedelta(days=1)
    on_books = found.loc[(found["customer_since"] <= opening)
                         & (found["churned_on"].isna() | (found["churned_on"] > play.as_of)),
                         "account_id"]
    return float(isin(rows["account_id"], on_books).sum())


def _state_now(play: _Play) -> tuple[float, pd.Period]:
    """A state's value on ``as_of`` and the period whose close measures it."""
    if play.begun:
        return play.value(), play.chosen
    before = play.history[play.history["period"] == play.chosen - 1]
    return (_float(before["value"].iloc[0]) if len(before) else np.nan), play.chosen - 1


def _state_goal(play: _Play) -> dict[str, Any]:
    """A state (key accounts, senior reps, active customers): the gap and who is closest to crossing."""
    goal, spec = play.goal, play.spec
    value, measured = _state_now(play)
    if np.isnan(value):
        return play.row_out(status="no data", lever=f"No {spec.label} to measure on the as-of date.")
    gap = goal.target - value if goal.direction == "at_least" else value - goal.target
    needed = float(max(math.ceil(gap - _EPS), 0))
    near = _CANDIDATES.get(goal.kpi)
    names, words = near(play, measured) if near is not None and needed > 0 else ("", "")
    on = f"{play.as_of:%d %B %Y}".lstrip("0")
    head = f"{play.show(value)} {spec.label.lower()} on {on}, against {_against(play)}"
    if needed == 0:
        return play.row_out(so_far=value, needed=0.0, status="met", lever=f"Met so far: {head}.")
    return play.row_out(so_far=value, needed=needed, status="open", candidates=names or pd.NA,
                        lever=f"{needed:,.0f} more needed by the end of {play.label}: {head}"
                              f"{words}.")


def _listed(names: pd.Series, notes: pd.Series) -> str:
    """The first few names with their notes, and how many more."""
    shown = (names + " (" + notes + ")").head(_NAMED).tolist()
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f" and {rest:,} more" if rest > 0 else "")


def _near_key(play: _Play, measured: pd.Period) -> tuple[str, str]:
    """Accounts within 20% of the key-account threshold: key accounts at 80% of it, not at 100%."""
    threshold = float(play.goal.options.get("threshold", _default(play.spec, "threshold")))
    rows = _goal_detail(play, "key_accounts", measured,
                        **{**play.goal.options, "threshold": (1 - _NEAR) * threshold})
    rows = rows[rows["in_numerator"] & (rows["won_12m"].astype(np.float64) < threshold)]
    rows = rows.sort_values(["won_12m", "account_id"], ascending=[False, True], kind="stable")
    if rows.empty:
        return "", f"; no account is within {_NEAR:.0%} of the {play.show(threshold, 'money')} threshold"
    to_go = (threshold - rows["won_12m"].astype(np.float64)).map(
        lambda v: format_value(v, "money", compact=False) + " to go")
    names = rows["account_name"].fillna(rows["account_id"]).astype("str")
    return ("; ".join(names), f"; within {_NEAR:.0%} of the {play.show(threshold, 'money')} "
            f"threshold over 12 months: {_listed(names, to_go)}")


def _near_senior(play: _Play, measured: pd.Period) -> tuple[str, str]:
    """Reps employed on ``as_of`` who reach seniority within six months after it."""
    data, as_of = play.data, play.as_of
    years = int(play.goal.options.get("years", _default(play.spec, "years")))
    reps = data.reps
    employed = (reps["hired_on"] <= as_of) & (reps["left_on"].isna() | (reps["left_on"] > as_of))
    recent = reps["hired_on"] > as_of - pd.DateOffset(years=years + 1)
    rows = executor_for(data).gather(data, {"reps": reps.loc[employed & recent]})["reps"]
    for column, value in play.goal.where.items():
        if column in rows.columns:
            rows = rows[rows[column] == value]
    senior_on = rows["hired_on"] + pd.DateOffset(years=years)
    rows = rows.assign(senior_on=senior_on)
    rows = rows[(senior_on > as_of) & (senior_on <= as_of + _SOON)].sort_values(
        ["senior_on", "rep_id"], kind="stable")
    if rows.empty:
        return "", "; no rep reaches seniority within six months"
    names = rows["name"].fillna(rows["rep_id"]).astype("str")
    dates = rows["senior_on"].dt.strftime("senior on %Y-%m-%d")
    by_end = int((rows["senior_on"] <= play.last).sum())
    return ("; ".join(names), f"; within six months of seniority: {_listed(names, dates)} "
            f"({by_end:,} of them by the end of {play.label})")


_CANDIDATES = {"key_accounts": _near_key, "senior_reps": _near_senior}
"""The states whose candidates closest to crossing are listed by name."""


def _default(spec: KpiSpec, option: str) -> Any:
    """The default of a KPI's own option, as its declaration gives it."""
    return inspect.signature(spec.declare).parameters[option].default


def _rank_goal(play: _Play) -> dict[str, Any]:
    """Market rank: the rank so far and the competitors to pass, by name, with the revenue gap."""
    goal = play.goal
    value = play.value()
    if not play.begun or np.isnan(value):
        return play.row_out(status="open", lever=f"{play.spec.label}: nothing recorded in "
                                                 f"{play.label} yet, against {_against(play)}.")
    head = f"rank {value:,.0f} in {play.label} to date, against {_against(play)}"
    climb = value - goal.target if goal.direction == "at_most" else np.nan
    if not climb > 0:
        return play.row_out(so_far=value, needed=0.0, status="met", lever=f"Met so far: {head}.")
    ours = _Kpi(play.data, "market_share", goal.where, play.fiscal)(goal.freq, play.chosen)
    mine = _float(ours.loc[ours["period"] == play.chosen, "numerator"].iloc[0])
    rows = _goal_detail(play, "market_rank", play.chosen)
    ahead = rows[rows["in_numerator"] & (rows["revenue"].astype(np.float64) > mine)]
    ahead = ahead.sort_values(["revenue", "company"], kind="stable").head(int(climb))
    gaps = (ahead["revenue"].astype(np.float64) - mine).map(
        lambda v: format_value(v, "money", compact=False) + " ahead")
    names = ahead["company"].astype("str")
    return play.row_out(so_far=value, needed=climb, status="open", candidates="; ".join(names),
                        lever=f"{climb:,.0f} places to climb: {head}; pass "
                              f"{_listed(names, gaps)} in revenue.")
