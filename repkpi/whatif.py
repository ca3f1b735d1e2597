"""What it takes to hit a target: pure, vectorised what-if functions.

Every function takes scalars or aligned arrays / Series (one value per rep,
say) and answers for each element. None modifies its input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from repkpi.errors import OptionError
from repkpi.goals import Goal, latest_complete_period
from repkpi.io.loading import CrmData
from repkpi.kpis import KPIS, customers
from repkpi.kpis.registry import KpiSpec, SpecView, check_options
from repkpi.periods import Calendar, Freq, PeriodLike, in_progress, period_label

__all__ = [
    "ADDITIVE_MONTHLY",
    "attainment_probability",
    "current_period",
    "goal_seek",
    "project_customers",
    "required_new_customers",
    "required_successes",
    "revenue_grid",
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
        raise OptionError(f"target must be a ratio in [0, 1], got {target!r}.")
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
        raise OptionError(f"periods must be a whole number >= 1, got {periods!r}.\n"
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
        raise OptionError(f"draws must be a whole number >= 1, got {draws!r}.\n"
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


def goal_seek(func: Callable[[float], float], target: float, *, lo: float, hi: float,
              tol: float = 1e-9, max_iter: int = 200) -> float:
    """The x in [lo, hi] where a monotone ``func(x)`` reaches ``target``, by bisection.

    Raises
    ------
    OptionError
        When func(lo) and func(hi) are on the same side of the target: the
        target is not bracketed.

    Examples
    --------
    What win rate brings 10 open deals of 40 000 to 150 000?

    >>> round(goal_seek(lambda rate: 10 * rate * 40_000, 150_000, lo=0.0, hi=1.0), 6)
    0.375
    """
    f_lo, f_hi = func(lo) - target, func(hi) - target
    if f_lo == 0:
        return lo
    if f_hi == 0:
        return hi
    if np.sign(f_lo) == np.sign(f_hi):
        raise OptionError(f"The target {target!r} is not bracketed: func({lo!r}) = "
                          f"{f_lo + target!r} and func({hi!r}) = {f_hi + target!r} are on the "
                          "same side.\nHint: widen lo and hi, or check that func is monotone.")
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
