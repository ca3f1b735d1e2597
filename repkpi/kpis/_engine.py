"""The machinery every KPI shares: scopes, dimensions, measures, results.

A KPI is a short declaration on a :class:`Scope`: the table it is about, the
dates that place its rows in periods, a filter, a numerator and a denominator.
The scope builds the period grid and the ``by`` groups once; measures return
a ``(periods, groups)`` array each.

Two kinds of measure cover every KPI:

* **event** measures (:meth:`Scope.events`): rows dated inside P, counted or
  summed: one :func:`numpy.bincount` over ``period * n_groups + group``;
* **state** measures (:meth:`Scope.active`): entities whose interval
  ``[begin, end)`` covers ``P.first`` or ``P.last`` (active customers, ARR):
  each entity adds +1 (or its weight) at the first boundary it covers and -1
  where it stops; a cumulative sum along the boundaries gives the state at
  every period at once.

Both are *additive*: the arrays computed on chunks of the rows add up to the
arrays of the whole table, so a KPI's numerator and denominator can be summed
across partitions (the Dask route) before the final division. The exceptions
are the medians (``first_response_hours``, ``resolution_hours``): a median
needs every value of its (period, group) at once, so a distributed version
must shuffle the rows by (period, group) first (or accept an approximate
quantile sketch). Distinct-entity counts (engagement, key accounts) are
additive over partitions by ``account_id``.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from repkpi._vector import to_arrow
from repkpi.errors import ColumnNotFoundError, MissingTableError, OptionError
from repkpi.intervals import PROPORTIONS, wilson_interval
from repkpi.loading import CrmData
from repkpi.periods import NAT, Freq, Grid, PeriodLike, day_numbers, pandas_freq, to_period
from repkpi.schemas import COLUMNS

__all__ = ["KPIS", "UNITS", "By", "Scope", "compact", "kpi", "positions", "shared", "sharing"]

By = str | Sequence[str] | None
KPIS: dict[str, Callable[..., pd.DataFrame]] = {}
UNITS: dict[str, str] = {
    **dict.fromkeys(["new_customers", "active_customers", "key_accounts", "cross_sell_wins",
                     "large_deals", "senior_reps"], "count"),
    **dict.fromkeys(["new_customer_growth", "churn_rate", "retention_rate", "engagement_rate",
                     "win_rate", "cross_sell_rate", "renewal_rate", "renewal_value_rate",
                     "net_revenue_retention", "gross_revenue_retention", "sla_compliance",
                     "csat", "market_share", "market_share_delta"], "percent"),
    **dict.fromkeys(["revenue", "average_deal_size"], "money"),
    **dict.fromkeys(["first_response_hours", "resolution_hours"], "hours"),
    "csat_mean": "score", "nps": "score", "market_rank": "rank",
}
"""How each KPI's value reads: a count, a percent, money, hours, a score or a rank."""
_FAR = np.iinfo(np.int64).max
_COMMON = ("freq", "by", "start", "end", "fiscal_year_start")


_SHARED: ContextVar[dict | None] = ContextVar("repkpi_shared", default=None)


@contextmanager
def sharing() -> Iterator[None]:
    """Let the KPIs computed inside the block share their intermediate results.

    :func:`repkpi.compute` computes all its KPIs inside one such block: the
    period grid, the ``by`` groups and the ARR matrix of NRR and GRR are then
    built once. The data cannot change in between, so nothing goes stale.
    """
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def shared(key: tuple, make: Callable[[], Any]) -> Any:
    """``make()``, computed once per ``key`` inside a :func:`sharing` block."""
    cache = _SHARED.get()
    if cache is None:
        return make()
    if key not in cache:
        cache[key] = make()
    return cache[key]


def kpi(func: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
    """Register a KPI function and give unknown options a clear error.

    The KPI's options are its keyword-only parameters; anything else raises
    :class:`~repkpi.errors.OptionError` naming the KPI and what it takes. A
    KPI that is a share of counted cases also takes ``ci=0.95`` to add the
    ``lower`` and ``upper`` bounds of its Wilson score interval.
    """
    options = [
        name for name, p in inspect.signature(func).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    proportion = func.__name__ in PROPORTIONS
    if proportion:
        options.append("ci")

    @functools.wraps(func)
    def checked(data: CrmData, /, **kwargs: Any) -> pd.DataFrame:
        ci = kwargs.pop("ci", None) if proportion else None
        unknown = sorted(set(kwargs) - set(options))
        if unknown:
            own = [o for o in options if o not in _COMMON]
            raise OptionError(
                f"{func.__name__} takes no option {', '.join(map(repr, unknown))}. "
                f"It takes {', '.join(options)}.\nHint: its own options are "
                f"{own or 'none'}; see help(repkpi.kpis.{func.__name__})."
            )
        result = func(data, **kwargs)
        if ci is not None:
            lower, upper = wilson_interval(result["numerator"], result["denominator"], ci)
            result = result.assign(lower=lower, upper=upper)
        result.attrs["kpi"] = func.__name__
        return result

    checked.options = tuple(options)  # type: ignore[attr-defined]
    KPIS[func.__name__] = checked
    # doctest looks for functions defined in their module; point it at this one.
    module = sys.modules[func.__module__]
    module.__dict__.setdefault("__test__", {})[func.__name__] = checked
    return checked


def _with_missing(labels: pd.Series) -> pd.Series:
    """``labels`` with a missing value appended, in a dtype that can hold it."""
    try:
        missing = pd.Series([None], dtype=labels.dtype)
    except (TypeError, ValueError):  # e.g. bool
        labels, missing = labels.astype(object), pd.Series([None], dtype=object)
    return pd.concat([labels, missing], ignore_index=True)


def _factorize(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes in sorted order of the values, with missing values last; and the labels."""
    codes, uniques = pd.factorize(values, sort=True)
    labels = pd.Series(uniques, dtype=values.dtype)
    if (codes < 0).any():
        codes = np.where(codes < 0, len(labels), codes)
        labels = _with_missing(labels)
    return codes.astype(np.int64), labels


def _through(ids: pd.Series, keys: pd.Series, column: pd.Series,
             memo: dict) -> tuple[np.ndarray, pd.Series]:
    """Codes and labels of ``column`` looked up for each of ``ids`` in ``keys`` (a unique id)."""
    codes, labels = _factorize(column)
    position = positions(ids, keys, memo=memo)
    if (position < 0).any():
        na = len(labels)
        if not labels.isna().any():
            labels = _with_missing(labels)
        else:
            na = len(labels) - 1
        return np.where(position >= 0, codes[np.maximum(position, 0)], na), labels
    return codes[position], labels


def _dimensions(data: CrmData, table: str, frame: pd.DataFrame, by: list[str],
                kpi_name: str) -> list[tuple[np.ndarray, pd.Series]]:
    """Codes and labels of each ``by`` column for the rows of ``frame``.

    A column is looked up in the table itself, then in accounts (by
    ``account_id``), then in reps (by ``rep_id``, or the account's ``rep_id``).
    """
    accounts, reps = data.accounts, data.reps
    memo = lookups(data)
    out = []
    for column in by:
        if column in frame.columns:
            out.append(_factorize(frame[column]))
            continue
        if accounts is not None and "account_id" in frame.columns and column in accounts.columns:
            out.append(_through(frame["account_id"], accounts["account_id"], accounts[column],
                                memo))
            continue
        if reps is not None and column in reps.columns:
            rep_ids = None
            if "rep_id" in frame.columns:
                rep_ids = frame["rep_id"]
            elif accounts is not None and "account_id" in frame.columns:
                where = positions(frame["account_id"], accounts["account_id"], memo=memo)
                rep_ids = accounts["rep_id"].reset_index(drop=True).reindex(where)
            if rep_ids is not None:
                out.append(_through(rep_ids, reps["rep_id"], reps[column], memo))
                continue
        available = set(frame.columns)
        if "account_id" in frame.columns and accounts is not None:
            available |= set(accounts.columns)
        if reps is not None and ("rep_id" in frame.columns or "account_id" in frame.columns):
            available |= set(reps.columns)
        raise ColumnNotFoundError(
            f"Unknown dimension {column!r} for {kpi_name}. Available: {sorted(available)}.\n"
            f"Hint: dimensions come from the KPI's table ({table}), then accounts, then reps "
            "(load those tables to use their columns)."
        )
    return out


def lookups(data: CrmData) -> dict:
    """The data's cache of id lookups (see :func:`positions`)."""
    return data.__dict__.setdefault("_lookups", {})


def compact(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct codes in order, and each code's rank among them (like ``np.unique``).

    Codes are small non-negative integers, so counting beats sorting.

    Examples
    --------
    >>> compact(np.array([7, 2, 7, 5]))
    (array([2, 5, 7]), array([2, 0, 2, 1]))
    """
    if len(codes) == 0:
        return codes.astype(np.int64), codes.astype(np.int64)
    top = int(codes.max()) + 1
    if top > 4 * len(codes) + 1_000_000:
        seen, rank = np.unique(codes, return_inverse=True)
        return seen, rank.astype(np.int64)
    present = np.bincount(codes, minlength=top) > 0
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[codes]


def _arrow_of(values: pd.Series) -> object:
    """The Arrow array behind a pyarrow-backed column (None for other columns).

    Arrow arrays are immutable: a column edited in place gets a new one, so
    the identity of this object tells whether a cached lookup is still good.
    """
    export = getattr(values.array, "__arrow_array__", None)
    return export() if export is not None else None


def positions(ids: pd.Series, keys: pd.Series, *, memo: dict | None = None) -> np.ndarray:
    """Position of each id among ``keys`` (unique), -1 where it is missing or unknown.

    With ``memo`` (a dict kept by the data), the answer for the same two
    Arrow arrays is computed once: every KPI by region looks up the same
    million ticket accounts.
    """
    source, target = _arrow_of(ids), _arrow_of(keys)
    key = (id(source), id(target))
    if memo is not None and source is not None and target is not None:
        hit = memo.get(key)
        if hit is not None and hit[0] is source and hit[1] is target:
            return hit[2]
    found = pc.index_in(to_arrow(ids.astype("str")), value_set=to_arrow(keys.astype("str")))
    result = np.asarray(pc.fill_null(found, -1), dtype=np.int64)
    if memo is not None and source is not None and target is not None:
        result.setflags(write=False)
        memo[key] = (source, target, result)
    return result


def _date_columns(table: str) -> list[str]:
    return [c.name for c in COLUMNS[table] if c.kind in ("date", "datetime")]


class Scope:
    """One KPI computation: its table, period grid and ``by`` groups.

    Parameters
    ----------
    data : CrmData
    name : str
        The KPI's name, for error messages.
    table : str
        The KPI's own table: its rows are what ``by`` groups.
    reads : sequence of str
        Every table the KPI reads. The period grid runs from the first to the
        last period that their date columns span (or ``start``..``end``).
    freq, by, start, end, fiscal_year_start
        As the KPI functions take them.
    optional : sequence of str
        Tables among ``reads`` that may be absent.
    grid_dates : sequence of pandas.Series, optional
        Instead of the date columns of ``reads``, the dates whose span gives
        the grid.
    """

    def __init__(self, data: CrmData, name: str, table: str, freq: Freq = "Q", by: By = None,
                 start: PeriodLike | None = None, end: PeriodLike | None = None,
                 fiscal_year_start: int = 1, *, reads: Sequence[str] = (),
                 optional: Sequence[str] = (), grid_dates: Sequence[pd.Series] | None = None,
                 groups: pd.DataFrame | None = None) -> None:
        reads = list(dict.fromkeys([table, *reads]))
        absent = [t for t in reads if getattr(data, t) is None and t not in optional]
        if absent:
            raise MissingTableError(
                f"{name} needs the {' and '.join(absent)} table(s), which were not loaded.\n"
                f"Hint: put {', '.join(f'{t}.csv' for t in absent)} in the data folder."
            )
        self.data, self.name, self.table = data, name, table
        self.frame: pd.DataFrame = getattr(data, table)
        self.pfreq = pandas_freq(freq, fiscal_year_start)
        self.by = [by] if isinstance(by, str) else list(by or [])
        self.key = (id(data), table, tuple(reads), self.pfreq, tuple(self.by), str(start),
                    str(end), grid_dates is None)
        if grid_dates is None:
            grid_dates = [getattr(data, t)[c] for t in reads if getattr(data, t) is not None
                          for c in _date_columns(t)]
            self.grid, self.keep = shared(("grid", *self.key),
                                          lambda: self._grid(grid_dates, start, end))
        else:
            self.grid, self.keep = self._grid(grid_dates, start, end)
        if groups is not None:
            self.keys, self.codes = groups, None
        else:
            self.keys, self.codes = shared(("groups", id(data), table, tuple(self.by)),
                                           lambda: self._groups(self.frame))

    # -- set-up ---------------------------------------------------------
    def _grid(self, dates: Sequence[pd.Series], start: PeriodLike | None,
              end: PeriodLike | None) -> tuple[Grid, slice]:
        lo, hi = _FAR, NAT
        for values in dates:
            if values.notna().any():
                ends = day_numbers(pd.Series([values.min(), values.max()], dtype=values.dtype))
                lo, hi = min(lo, ends[0]), max(hi, ends[1])
        first = start and to_period(start, self.pfreq)
        last = end and to_period(end, self.pfreq, how="end")
        if hi == NAT:  # no dates at all
            first, last = first or last, last or first
            if first is None:
                return Grid.between(pd.Period("2000-01", self.pfreq), pd.Period("1999-01",
                                                                                self.pfreq)), slice(0, 0)
            span_first, span_last = first, last
        else:
            span_first = pd.Timestamp(lo, unit="D").to_period(self.pfreq)
            span_last = pd.Timestamp(hi, unit="D").to_period(self.pfreq)
            first, last = first or span_first, last or span_last
        grid = Grid.between(min(first, span_first), max(last, span_last))
        begin = (first - grid.periods[0]).n if len(grid) else 0
        stop = (last - grid.periods[0]).n + 1 if len(grid) else 0
        return grid, slice(begin, max(begin, stop))

    def _groups(self, frame: pd.DataFrame) -> tuple[pd.DataFrame | None, np.ndarray]:
        """Group code of each row, and the groups seen, sorted with missing values last."""
        if not self.by:
            return None, np.zeros(len(frame), dtype=np.int64)
        dims = _dimensions(self.data, self.table, frame, self.by, self.name)
        combined = np.zeros(len(frame), dtype=np.int64)
        for codes, labels in dims:
            combined = combined * (len(labels) + 1) + codes
        seen, codes = compact(combined)
        keys = {}
        for column, (_, labels) in zip(reversed(self.by), reversed(dims), strict=True):
            keys[column] = labels.take(seen % (len(labels) + 1)).reset_index(drop=True)
            seen = seen // (len(labels) + 1)
        return pd.DataFrame({c: keys[c] for c in self.by}), codes.astype(np.int64)

    @property
    def n_groups(self) -> int:
        """Number of ``by`` groups (1 when ungrouped)."""
        return 1 if self.keys is None else len(self.keys)

    def period_first(self, dates: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Day numbers of ``dates`` and the first day of each one's period (NAT outside the grid)."""
        days = day_numbers(dates)
        pos = self.grid.locate(days)
        return days, np.where(pos >= 0, self.grid.first[np.maximum(pos, 0)], NAT)

    # -- measures -------------------------------------------------------
    def events(self, dates: pd.Series, *, where: np.ndarray | pd.Series | None = None,
               weights: np.ndarray | pd.Series | None = None,
               codes: np.ndarray | None = None) -> np.ndarray:
        """Count (or sum ``weights`` of) the rows dated in each period, per group."""
        return self.tally(self.grid.locate(day_numbers(dates)), where, weights, codes)

    def active(self, begin: pd.Series, end: pd.Series, *, at: str,
               end_inclusive: bool = False, where: np.ndarray | pd.Series | None = None,
               weights: np.ndarray | pd.Series | None = None, codes: np.ndarray | None = None,
               n_groups: int | None = None) -> np.ndarray:
        """Count (or sum ``weights`` of) entities active on each period's first or last day.

        An entity is active on day d when ``begin <= d < end`` (``<= end`` with
        ``end_inclusive``); a missing ``end`` never comes.
        """
        codes = self.codes if codes is None else codes
        n_groups = self.n_groups if n_groups is None else n_groups
        bounds = self.grid.first if at == "first" else self.grid.last
        b, e = day_numbers(begin), day_numbers(end)
        e = np.where(e == NAT, _FAR, e + 1 if end_inclusive else e)
        i0 = np.searchsorted(bounds, b, side="left")
        i1 = np.searchsorted(bounds, e, side="left")
        ok = (b != NAT) & (i0 < i1) & _mask(where, len(b))
        width = len(bounds) + 1
        w = None if weights is None else np.asarray(weights, dtype=np.float64)[ok]
        size = n_groups * width
        diff = (np.bincount(codes[ok] * width + i0[ok], w, minlength=size)
                - np.bincount(codes[ok] * width + i1[ok], w, minlength=size))
        return np.cumsum(diff.reshape(n_groups, width), axis=1)[:, :-1].T

    def medians(self, dates: pd.Series, values: pd.Series,
                where: np.ndarray | pd.Series | None = None) -> np.ndarray:
        """Median of ``values`` over the rows dated in each period, per group (NaN if none)."""
        pos = self.grid.locate(day_numbers(dates))
        vals = values.to_numpy(dtype=np.float64, na_value=np.nan)
        ok = (pos >= 0) & ~np.isnan(vals) & _mask(where, len(pos))
        key = pos[ok] * self.n_groups + self.codes[ok]
        med = pd.Series(vals[ok]).groupby(key).median()
        out = np.full(len(self.grid) * self.n_groups, np.nan)
        out[med.index.to_numpy()] = med.to_numpy()
        return out.reshape(len(self.grid), self.n_groups)

    def tally(self, pos: np.ndarray, where: Any = None, weights: Any = None,
              codes: np.ndarray | None = None) -> np.ndarray:
        """Count (or sum ``weights``) per (period position, group code); -1 positions are left out."""
        codes = self.codes if codes is None else codes
        ok = (pos >= 0) & _mask(where, len(pos))
        if codes.dtype.kind == "f":  # rows whose account is unknown to the scope
            ok &= ~np.isnan(codes)
        key = pos[ok] * self.n_groups + codes[ok].astype(np.int64)
        w = None if weights is None else np.asarray(weights, dtype=np.float64)[ok]
        counts = np.bincount(key, w, minlength=len(self.grid) * self.n_groups)
        return counts.reshape(len(self.grid), self.n_groups)

    # -- results --------------------------------------------------------
    def count(self, numerator: np.ndarray) -> pd.DataFrame:
        """A count or a sum: value = numerator, denominator = 1."""
        return self.result(numerator, np.ones_like(numerator, dtype=np.float64), numerator)

    def ratio(self, numerator: np.ndarray, denominator: np.ndarray, *,
              scale: float = 1.0) -> pd.DataFrame:
        """A ratio: value = scale x numerator / denominator, NaN where denominator is 0."""
        num = np.asarray(numerator, dtype=np.float64)
        den = np.asarray(denominator, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(den != 0, scale * num / np.where(den != 0, den, 1.0), np.nan)
        return self.result(num, den, value)

    def values_only(self, value: np.ndarray) -> pd.DataFrame:
        """A median or a difference: numerator and denominator NA."""
        nan = np.full(value.shape, np.nan)
        return self.result(nan, nan, value)

    def result(self, numerator: np.ndarray, denominator: np.ndarray,
               value: np.ndarray) -> pd.DataFrame:
        """The tidy result: period, by columns, numerator, denominator, value."""
        keep = self.keep
        periods = self.grid.periods[keep]
        n_groups = self.n_groups
        out = {"period": periods.repeat(n_groups)}
        if self.keys is not None:
            for column in self.keys.columns:
                out[column] = np.tile(self.keys[column].to_numpy(), len(periods))
        frame = pd.DataFrame(out)
        if self.keys is not None:
            for column in self.keys.columns:
                frame[column] = frame[column].astype(self.keys[column].dtype)
        for label, array in (("numerator", numerator), ("denominator", denominator),
                             ("value", value)):
            frame[label] = np.asarray(array, dtype=np.float64)[keep].reshape(-1)
        return frame


def _mask(where: np.ndarray | pd.Series | None, n: int) -> np.ndarray:
    if where is None:
        return np.ones(n, dtype=bool)
    if isinstance(where, pd.Series):
        return where.fillna(False).to_numpy(dtype=bool)
    return np.asarray(where, dtype=bool)


def shift(array: np.ndarray) -> np.ndarray:
    """The previous period's values (NaN for the first period)."""
    out = np.full(array.shape, np.nan)
    out[1:] = array[:-1]
    return out
