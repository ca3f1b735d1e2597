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

The Dask route (:mod:`repkpi.kpis._dask`) runs a KPI on each partition of its
table inside a :class:`Partial` context: the grid comes from the dates of the
whole data, groups are coded against every label the data holds, and the KPI
returns a :class:`Piece` (numerator and denominator arrays) instead of a
frame. Pieces add up across partitions; :func:`finish` turns their sum into
the same frame the pandas route gives.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from repkpi._vector import to_arrow
from repkpi.errors import ColumnNotFoundError, MissingTableError, OptionError
from repkpi.intervals import PROPORTIONS, wilson_interval
from repkpi.io.loading import CrmData
from repkpi.periods import NAT, Freq, Grid, PeriodLike, day_numbers, pandas_freq, to_period
from repkpi.schemas import COLUMNS

__all__ = ["KPIS", "UNITS", "By", "Partial", "Piece", "Scope", "compact", "finish", "kpi",
           "partial_value", "positions", "shared", "sharing"]

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


@dataclass
class Partial:
    """What a KPI computed on part of the data must know of the whole.

    Attributes
    ----------
    spans : dict
        ``(table, column) -> (first, last)`` day numbers of the whole column
        (``NAT`` when it has no value): the period grid is built from these.
    labels : dict
        ``column -> Series``: every value a ``by`` column takes in the whole
        data, sorted, without missing values. Groups are coded against these,
        so codes mean the same in every partition.
    facts : dict
        Other facts of the whole data (see :func:`partial_value`).
    pieces : bool
        Whether the KPIs return :class:`Piece` objects; False when only the
        grid comes from the whole data and the KPI returns its frame.
    """

    spans: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    labels: dict[str, pd.Series] = field(default_factory=dict)
    facts: dict[tuple, Any] = field(default_factory=dict)
    pieces: bool = True


_PARTIAL: ContextVar[Partial | None] = ContextVar("repkpi_partial", default=None)


@contextmanager
def partial(context: Partial) -> Iterator[None]:
    """Compute the KPIs inside the block on part of the data, as ``context`` describes the whole."""
    token = _PARTIAL.set(context)
    try:
        yield
    finally:
        _PARTIAL.reset(token)


def partial_value(key: tuple, make: Callable[[], Any]) -> Any:
    """A fact of the whole data: from the :class:`Partial` context when there is one, else ``make()``."""
    context = _PARTIAL.get()
    if context is not None and key in context.facts:
        return context.facts[key]
    return make()


@dataclass
class Piece:
    """A KPI's additive arrays on part of the data, per (period, group code).

    ``kind`` is ``"count"`` (value = numerator), ``"ratio"`` (value = scale x
    numerator / denominator) or ``"median"`` (``rows``: group key and value of
    each row; not additive, the route computes the medians). ``seen`` counts
    the rows of each group: a group is in the result when some partition
    holds it.
    """

    kind: str
    numerator: np.ndarray
    denominator: np.ndarray
    seen: np.ndarray
    scale: float = 1.0
    rows: pd.DataFrame | None = None

    def __add__(self, other: Piece) -> Piece:
        return Piece(self.kind, self.numerator + other.numerator,
                     self.denominator + other.denominator, self.seen + other.seen, self.scale)


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
        if type(data).__name__ == "DaskCrmData":
            from repkpi.kpis._dask import cached_run

            (result,) = cached_run(data, [(func.__name__, kwargs)])
        else:
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
        self.context = _PARTIAL.get()
        if grid_dates is None:
            if self.context is not None:
                spans = [self.context.spans[(t, c)] for t in reads if getattr(data, t) is not None
                         for c in _date_columns(t)]
                grid_dates = [pd.Series(np.array(span, dtype="datetime64[D]")).astype(
                    "datetime64[s]") for span in spans]
            else:
                grid_dates = [getattr(data, t)[c] for t in reads if getattr(data, t) is not None
                              for c in _date_columns(t)]
            self.grid, self.keep = shared(("grid", *self.key),
                                          lambda: self._grid(grid_dates, start, end))
        else:
            self.grid, self.keep = self._grid(grid_dates, start, end)
        self.pieces = self.context is not None and self.context.pieces and groups is None
        if groups is not None:
            self.keys, self.codes = groups, None
        elif self.pieces:
            self.keys, self.codes = shared(("groups", id(data), table, tuple(self.by)),
                                           lambda: self._global_groups(self.frame))
        else:
            self.keys, self.codes = shared(("groups", id(data), table, tuple(self.by)),
                                           lambda: self._groups(self.frame))
        self._median_rows: pd.DataFrame | None = None

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

    def _global_groups(self, frame: pd.DataFrame) -> tuple[pd.DataFrame | None, np.ndarray]:
        """Group codes against the labels of the whole data: every combination is a group."""
        if not self.by:
            return None, np.zeros(len(frame), dtype=np.int64)
        dims = _dimensions(self.data, self.table, frame, self.by, self.name)
        combined = np.zeros(len(frame), dtype=np.int64)
        keys = []
        for column, (codes, labels) in zip(self.by, dims, strict=True):
            whole = self.context.labels[column]
            # Codes of this part's labels among the whole's, missing values last.
            where = pd.Index(whole).get_indexer(pd.Index(labels))
            where = np.append(np.where(labels.isna().to_numpy(), len(whole), where), len(whole))
            combined = combined * (len(whole) + 1) + where[codes]
            keys.append(_with_missing(whole.reset_index(drop=True)))
        product = pd.MultiIndex.from_product(keys, names=self.by).to_frame(index=False)
        return product, combined

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
        if self.pieces:  # a median needs all of its rows: the route gathers them
            self._median_rows = pd.DataFrame({"key": key, "value": vals[ok]})
            return np.full((len(self.grid), self.n_groups), np.nan)
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
    def _piece(self, kind: str, numerator: np.ndarray, denominator: np.ndarray,
               scale: float = 1.0) -> Piece:
        seen = np.bincount(self.codes, minlength=self.n_groups)
        return Piece(kind, np.asarray(numerator, dtype=np.float64),
                     np.asarray(denominator, dtype=np.float64), seen, scale, self._median_rows)

    def count(self, numerator: np.ndarray) -> pd.DataFrame:
        """A count or a sum: value = numerator, denominator = 1."""
        if self.pieces:
            return self._piece("count", numerator, np.ones_like(numerator, dtype=np.float64))
        return self.result(numerator, np.ones_like(numerator, dtype=np.float64), numerator)

    def ratio(self, numerator: np.ndarray, denominator: np.ndarray, *,
              scale: float = 1.0) -> pd.DataFrame:
        """A ratio: value = scale x numerator / denominator, NaN where denominator is 0."""
        if self.pieces:
            return self._piece("ratio", numerator, denominator, scale)
        num = np.asarray(numerator, dtype=np.float64)
        den = np.asarray(denominator, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(den != 0, scale * num / np.where(den != 0, den, 1.0), np.nan)
        return self.result(num, den, value)

    def values_only(self, value: np.ndarray) -> pd.DataFrame:
        """A median or a difference: numerator and denominator NA."""
        nan = np.full(value.shape, np.nan)
        if self.pieces:
            if self._median_rows is None:
                raise TypeError(f"{self.name} is not additive over parts of the data.")
            return self._piece("median", nan, nan)
        return self.result(nan, nan, value)

    def result(self, numerator: np.ndarray, denominator: np.ndarray,
               value: np.ndarray) -> pd.DataFrame:
        """The tidy result: period, by columns, numerator, denominator, value."""
        return _tidy(self.grid.periods[self.keep], self.keys,
                     *(np.asarray(a, dtype=np.float64)[self.keep]
                       for a in (numerator, denominator, value)))


def _tidy(periods: pd.PeriodIndex, keys: pd.DataFrame | None, numerator: np.ndarray,
          denominator: np.ndarray, value: np.ndarray) -> pd.DataFrame:
    """Period, the ``by`` columns, numerator, denominator and value, a row per (period, group)."""
    n_groups = 1 if keys is None else len(keys)
    out = {"period": periods.repeat(n_groups)}
    if keys is not None:
        for column in keys.columns:
            out[column] = np.tile(keys[column].to_numpy(), len(periods))
    frame = pd.DataFrame(out)
    if keys is not None:
        for column in keys.columns:
            frame[column] = frame[column].astype(keys[column].dtype)
    for label, array in (("numerator", numerator), ("denominator", denominator), ("value", value)):
        frame[label] = array.reshape(-1)
    return frame


def finish(scope: Scope, piece: Piece, medians: np.ndarray | None = None) -> pd.DataFrame:
    """The KPI's frame from the sum of its pieces, as the pandas route gives it.

    ``scope`` is the KPI's scope in the same :class:`Partial` context (built on
    any part of the data); ``medians`` the values of a ``"median"`` piece.
    """
    present = np.flatnonzero(piece.seen > 0) if scope.keys is not None else np.array([0])
    num, den = piece.numerator[:, present], piece.denominator[:, present]
    if piece.kind == "count":
        value, den = num, np.ones_like(num)
    elif piece.kind == "ratio":
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(den != 0, piece.scale * num / np.where(den != 0, den, 1.0), np.nan)
    else:
        value = medians[:, present]
    keys = None
    if scope.keys is not None:
        keys = scope.keys.take(present).reset_index(drop=True)
        for column in keys.columns:
            whole = scope.context.labels[column]
            if keys[column].notna().all() and keys[column].dtype != whole.dtype:
                keys[column] = keys[column].astype(whole.dtype)
    keep = scope.keep
    return _tidy(scope.grid.periods[keep], keys, num[keep], den[keep], value[keep])


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
