"""What it takes to hit a target: pure, vectorised what-if functions.

Every function takes scalars or aligned arrays / Series (one value per rep,
say) and answers for each element. None modifies its input.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from repkpi.errors import OptionError
from repkpi.goals import Goal, latest_complete_period
from repkpi.io.loading import CrmData
from repkpi.kpis import KPIS, customers
from repkpi.kpis.registry import SpecView
from repkpi.periods import PeriodLike, to_period

__all__ = [
    "ADDITIVE_MONTHLY",
    "attainment_probability",
    "goal_seek",
    "project_customers",
    "required_new_customers",
    "required_successes",
    "revenue_grid",
]

_EPS = 1e-9

ADDITIVE_MONTHLY = SpecView("adds_over_time")
"""Whether a KPI's quarterly numerator and denominator are sums of the monthly ones."""


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
                      churn_rate: float | Sequence[float] | None = None,
                      new_per_period: float | Sequence[float] | None = None) -> pd.DataFrame:
    """Project active customers, retention and churn over the coming quarters.

    Each quarter loses ``churn_rate`` of the customers it starts with and
    gains ``new_per_period`` new ones (who are assumed to stay through their
    first quarter): A(t) = A(t-1) x (1 - churn) + new.

    Parameters
    ----------
    data : CrmData
        Needs accounts. The projection starts from the active customers at
        the end of the latest complete quarter.
    periods : int
        Quarters to project.
    churn_rate, new_per_period : float or list of floats, optional
        Defaults: the mean quarterly churn rate and the mean new customers
        per quarter over the last four complete quarters. Lists give one
        scenario per combination.

    Returns
    -------
    DataFrame
        One row per scenario and quarter: ``scenario``, ``churn_rate``,
        ``new_per_period``, ``period``, ``start``, ``churned``, ``new``,
        ``active``, ``retention``, ``churn``.

    Examples
    --------
    >>> from repkpi.datasets import doctest_data as examples
    >>> data = examples.accounts()   # A1 and A3 are active at the end of 2024Q1
    >>> project_customers(data, periods=2, churn_rate=[0.0, 0.5], new_per_period=2)[
    ...     ["churn_rate", "period", "start", "active"]]
       churn_rate  period  start  active
    0         0.0  2024Q2    2.0     4.0
    1         0.0  2024Q3    4.0     6.0
    2         0.5  2024Q2    2.0     3.0
    3         0.5  2024Q3    3.0     3.5
    """
    if not isinstance(periods, int) or periods < 1:
        raise OptionError(f"periods must be a whole number >= 1, got {periods!r}.")
    last = latest_complete_period(data, "Q")
    if last is None:
        raise OptionError("project_customers needs accounts with at least one date.")
    window = dict(start=last - 3, end=last)
    if churn_rate is None:
        churn_rate = float(np.nanmean(customers.churn_rate(data, **window)["value"]))
    if new_per_period is None:
        new_per_period = float(customers.new_customers(data, **window)["value"].mean())
    start = float(customers.active_customers(data, start=last, end=last)["value"].iloc[0])
    combos = list(itertools.product(np.atleast_1d(churn_rate), np.atleast_1d(new_per_period)))
    churn = np.array([c for c, _ in combos], dtype=np.float64)[:, None]
    new = np.array([n for _, n in combos], dtype=np.float64)[:, None]
    t = np.arange(1, periods + 1, dtype=np.float64)[None, :]
    keep = 1 - churn
    # Closed form of A(t) = A(t-1) * keep + new, for every scenario and quarter at once:
    # new x (1 - keep^t) / churn, or new x t without churn (expm1/log1p: exact for tiny churn).
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(churn == 0, t, -np.expm1(t * np.log1p(-churn)) / churn)
    active = start * keep ** t + new * growth
    begin = np.concatenate([np.full((len(combos), 1), start), active[:, :-1]], axis=1)
    lost = begin * churn
    future = pd.period_range(last + 1, periods=periods, freq=last.freq)
    n = len(combos)
    return pd.DataFrame({
        "scenario": np.repeat(np.arange(n), periods),
        "churn_rate": np.repeat(churn[:, 0], periods),
        "new_per_period": np.repeat(new[:, 0], periods),
        "period": np.tile(future, n),
        "start": begin.reshape(-1),
        "churned": lost.reshape(-1),
        "new": np.broadcast_to(new, active.shape).reshape(-1),
        "active": active.reshape(-1),
        "retention": (1 - churn * np.ones_like(active)).reshape(-1),
        "churn": (churn * np.ones_like(active)).reshape(-1),
    })



def revenue_grid(data: CrmData, *, win_rates: Sequence[float], deal_sizes: Sequence[float],
                 target: float, period: PeriodLike | None = None) -> pd.DataFrame:
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
        The quarter; default: the one holding the data's latest event.

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
        raise OptionError("revenue_grid needs the deals table.")
    if period is None:
        latest = pd.concat([deals["created_on"], deals["closed_on"]]).max()
        quarter = latest.to_period("Q")
    else:
        quarter = to_period(period, "Q-DEC")
    closed = deals["closed_on"].dt.to_period("Q") == quarter
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
                           draws: int = 10_000, history: int = 12, seed: int = 0) -> float:
    """Monte Carlo probability that a quarter's KPI meets its goal.

    The quarter's months already observed are kept; each month still to come
    is drawn (with replacement) from the last ``history`` complete months'
    numerators and denominators, ``draws`` times at once. The quarter's value
    is the ratio of the summed numerator and denominator (or the sum, for a
    count).

    Parameters
    ----------
    goal : Goal or str
        A goal, or a KPI name with ``target`` and ``direction``.
    period : period-like, optional
        The quarter; default: the one after the latest complete quarter.
    seed : int
        Seed of the random draws: the same seed gives the same answer.

    Returns
    -------
    float
        The share of draws in which the goal is met.

    Examples
    --------
    >>> import repkpi
    >>> data = repkpi.load_sample()
    >>> p = attainment_probability(data, "csat", target=0.90, period="2026Q3")
    >>> 0.0 <= p <= 1.0
    True
    """
    if isinstance(goal, Goal):
        name, target, direction = goal.kpi, goal.target, goal.direction
    else:
        name = goal
    if name not in KPIS or not ADDITIVE_MONTHLY[name]:
        raise OptionError(f"attainment_probability cannot simulate {name!r}: its quarterly value "
                          "is not built from monthly sums.\nHint: it works for "
                          f"{sorted(n for n, adds in ADDITIVE_MONTHLY.items() if adds)}.")
    if target is None or direction not in ("at_least", "at_most"):
        raise OptionError("Give a target and direction='at_least' or 'at_most' (or a Goal).")
    quarter = (to_period(period, "Q-DEC") if period is not None
               else latest_complete_period(data, "Q") + 1)
    last_month = latest_complete_period(data, "M")
    monthly = KPIS[name](data, freq="M", end=max(last_month, quarter.asfreq("M", "end")))
    months = monthly["period"]
    inside = (months >= quarter.asfreq("M", "start")) & (months <= quarter.asfreq("M", "end"))
    seen = monthly[inside & (months <= last_month)]
    past = monthly[(months <= last_month) & ~inside].tail(history)
    past = past[past["denominator"] > 0]
    todo = 3 - len(seen)
    if todo > 0 and past.empty:
        raise OptionError(f"No monthly history of {name} to draw the remaining months from.")
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, max(len(past), 1), size=(draws, max(todo, 0)))
    num = seen["numerator"].sum() + past["numerator"].to_numpy()[pick].sum(axis=1) if todo > 0 \
        else np.full(draws, seen["numerator"].sum())
    den = seen["denominator"].sum() + past["denominator"].to_numpy()[pick].sum(axis=1) \
        if todo > 0 else np.full(draws, seen["denominator"].sum())
    spec = KPIS[name].spec
    is_count = spec.kind in ("count", "sum")
    scale = spec.scale
    with np.errstate(divide="ignore", invalid="ignore"):
        value = num if is_count else scale * num / den
    met = value >= target if direction == "at_least" else value <= target
    return float(np.mean(met))


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
