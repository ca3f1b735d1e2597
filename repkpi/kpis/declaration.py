"""How a KPI is declared: its scope, the terms of its numerator and denominator, its formula.

A KPI's declaration (see :mod:`repkpi.kpis.registry`) receives a
:class:`Scope` (its table, the period grid and the ``by`` groups of one
:class:`Request`) and returns a :class:`Formula`: its numerator and
denominator as sums of *terms*, each term the rows of a table that add a
weight to a (period, group) cell:

* :class:`Events`: rows dated inside P (counted, or their ``weights`` summed);
* :class:`Active`: entities whose interval ``[begin, end)`` covers one day of
  P (active customers, ARR);
* :class:`Pairs`: rows already placed in periods (an account engaged in P);
* :class:`Shifted`: another term's rows of the previous period (growth);
* :class:`Matrix`: a value per entity and period of the grid (ARR).

Every term can say two things: its ``(periods, groups)`` array (one
:func:`numpy.bincount` or cumulative sum, for the value), and its rows in
one period (for :func:`repkpi.detail`). Both come from the same masks, so the
value and the rows behind it cannot disagree.

This module says *what* a KPI is; :mod:`repkpi.kpis.pandas_engine` runs it
(as pandera keeps its ``api`` apart from its ``backends``). Arrays are
*additive*: computed on a unit of the rows (a Dask partition, told the
:class:`WholeFacts` of the whole data), they add up to the arrays of the
whole table. Medians are not: they need all rows of a (period, group) at once.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from repkpi.errors import MissingTableError
from repkpi.io.loading import CrmData
from repkpi.kpis.groups import compact, dimensions, with_missing
from repkpi.kpis.registry import COMMON_DEFAULTS, Window, check_window, normalise_by, window_lag
from repkpi.periods import NAT, Calendar, Freq, Grid, PeriodLike, day_numbers
from repkpi.schemas import COLUMNS

__all__ = ["Active", "At", "Events", "Formula", "Matrix", "Pairs", "Request", "Scope", "Shifted", "Spans",
           "Term", "WholeFacts", "as_of_day", "as_weights", "date_columns", "running", "shift"]

_FAR = np.iinfo(np.int64).max
At = Literal["open", "last"]
"""A day of each period: the close of ``P.open`` (the day before ``P.first``) or of ``P.last``."""


@dataclass(frozen=True)
class Request:
    """What one KPI call asks for, in the options every KPI takes.

    Attributes
    ----------
    freq : {"M", "Q", "Y"}
        Period length.
    by : tuple of str
        The columns to group by (``by="team"`` is ``("team",)``).
    start, end : period-like, optional
        First and last period of the result.
    fiscal_year_start : int
        Month the (fiscal) year starts in.
    window : {"period", "ytd", "qtd"} or int
        The span of each value (see :class:`Spans`): the period, the (fiscal)
        year or quarter to date, or the N periods ending with it.

    Examples
    --------
    >>> request = Request.of({"freq": "Q", "by": "team", "fiscal_year_start": 4, "ci": 0.9})
    >>> request.by, request.start, request.calendar, request.pfreq, request.window
    (('team',), None, Calendar(freq='Q', fiscal_year_start=4), 'Q-MAR', 'period')
    >>> Request.of({"freq": "Q", "window": "qtd"})
    Traceback (most recent call last):
    ...
    repkpi.errors.OptionError: window='qtd' (quarter to date) needs freq='M', got freq='Q'...
    """

    freq: Freq = COMMON_DEFAULTS["freq"]
    by: tuple[str, ...] = ()
    start: PeriodLike | None = COMMON_DEFAULTS["start"]
    end: PeriodLike | None = COMMON_DEFAULTS["end"]
    fiscal_year_start: int = COMMON_DEFAULTS["fiscal_year_start"]
    window: Window = COMMON_DEFAULTS["window"]

    def __post_init__(self) -> None:
        """Refuse a window that names no span of the request's periods."""
        check_window(self.window, self.freq)

    @classmethod
    def of(cls, kwargs: Mapping[str, Any]) -> Request:
        """The request in a call's keyword arguments (the KPI's own options left out)."""
        found = {**COMMON_DEFAULTS, **{k: v for k, v in kwargs.items() if k in COMMON_DEFAULTS}}
        return cls(**{**found, "by": tuple(normalise_by(found["by"]))})

    @property
    def calendar(self) -> Calendar:
        """The request's period length in its (fiscal) year."""
        return Calendar(self.freq, self.fiscal_year_start)

    @property
    def pfreq(self) -> str:
        """The pandas frequency of the periods (``"Q-MAR"`` for quarters of a year from April)."""
        return self.calendar.pfreq


@dataclass(frozen=True)
class Spans:
    """What the value at each period P of a grid covers under a window: P's *span*.

    ``window="period"``: P itself; ``"ytd"``: from the first day of P's
    (fiscal) year to ``P.last``; ``"qtd"``: from the first day of P's quarter
    (monthly periods); N: the N periods ending with P. A span is read as one
    period: events dated in it, states at its opening (the day before its
    first day) and at ``P.last``.

    Attributes
    ----------
    back : ndarray of int
        Periods of each span before P (0 for ``"period"``).
    first : ndarray of int
        Day number of each span's first day.
    lag : int
        How many periods back the span a value is compared with ends (growth,
        deltas): the span of the same length just before, or for ``"ytd"`` and
        ``"qtd"`` the same span a year earlier.

    Examples
    --------
    >>> grid = Grid.between(pd.Period("2024-02", "M"), pd.Period("2024-05", "M"))
    >>> spans = Spans.of(grid, "ytd", Calendar("M", 4))
    >>> spans.back.tolist(), spans.lag
    ([10, 11, 0, 1], 12)
    >>> pd.to_datetime(spans.first, unit="D").strftime("%Y-%m-%d").tolist()
    ['2023-04-01', '2023-04-01', '2024-04-01', '2024-04-01']
    """

    back: np.ndarray
    first: np.ndarray
    lag: int

    @classmethod
    def of(cls, grid: Grid, window: Window, calendar: Calendar) -> Spans:
        """The spans of ``grid``'s periods under ``window``, in ``calendar``'s (fiscal) year."""
        periods = grid.periods
        lag = window_lag(window, calendar.freq)
        if window == "period":
            return cls(np.zeros(len(grid), dtype=np.int64), grid.first, lag)
        if isinstance(window, str):  # the (fiscal) year or quarter to date
            if calendar.freq == "M":
                back = (np.asarray(periods.month) - calendar.fiscal_year_start) % 12
                back = back % 3 if window == "qtd" else back
            else:  # pandas numbers a fiscal year's quarters from its first
                back = np.asarray(periods.quarter) - 1 if calendar.freq == "Q" else np.zeros(
                    len(grid), dtype=np.int64)
        else:
            back = np.full(len(grid), int(window) - 1, dtype=np.int64)
        back = np.asarray(back, dtype=np.int64)
        if not len(grid):
            return cls(back, grid.first, lag)
        reach = int(back.max())
        wider = Grid.between(periods[0] - reach, periods[-1])
        return cls(back, wider.first[np.arange(len(grid)) + reach - back], lag)

    @property
    def single(self) -> bool:
        """Whether every span is its period alone."""
        return not self.back.any()

    @property
    def start(self) -> np.ndarray:
        """Grid position of each span's first period (negative: before the grid)."""
        return np.arange(len(self.back)) - self.back


@dataclass
class WholeFacts:
    """What a KPI computed on a unit of the data (part of its rows) must know of the whole data.

    Attributes
    ----------
    spans : dict
        ``(table, column) -> (first, last)`` day numbers of the whole column
        (NaT when it has no value): the period grid is built from these.
    labels : dict
        ``column -> Series``: every value a ``by`` column takes in the whole
        data, sorted, without missing values. Groups are coded against these,
        so codes mean the same in every unit.
    known : dict
        Other facts of the whole data, by key (see :meth:`Scope.fact`).
    subtotals : bool
        Whether the KPI gives its :class:`~repkpi.kpis.pandas_engine.Subtotal`
        (additive arrays); False when only the grid comes from the whole data.
    """

    spans: dict[tuple[str, str], tuple[Any, Any]] = field(default_factory=dict)
    labels: dict[str, pd.Series] = field(default_factory=dict)
    known: dict[tuple, Any] = field(default_factory=dict)
    subtotals: bool = True


def as_of_day(data: Any) -> int:
    """The day number of the data's as-of date (``NAT`` when it has none)."""
    as_of = getattr(data, "as_of", None)
    return NAT if as_of is None else int(day_numbers(pd.Series([as_of]))[0])


def date_columns(table: str) -> list[str]:
    """The date and timestamp columns of a table."""
    return [c.name for c in COLUMNS[table] if c.kind in ("date", "datetime")]


def _as_mask(where: np.ndarray | pd.Series | None, n: int) -> np.ndarray:
    """``where`` as ``n`` booleans: all True for None, a missing value False."""
    if where is None:
        return np.ones(n, dtype=bool)
    if isinstance(where, pd.Series):
        return where.fillna(False).to_numpy(dtype=bool)
    return np.asarray(where, dtype=bool)


def as_weights(weights: np.ndarray | pd.Series | None, n: int) -> np.ndarray:
    """``weights`` as ``n`` floats: all 1 for None, a missing value NaN."""
    if weights is None:
        return np.ones(n, dtype=np.float64)
    if isinstance(weights, pd.Series):
        return weights.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(weights, dtype=np.float64)


def shift(array: np.ndarray, lag: int = 1) -> np.ndarray:
    """The values ``lag`` periods back (NaN for the first ``lag`` periods)."""
    out = np.full(array.shape, np.nan)
    if lag < len(array):
        out[lag:] = array[:len(array) - lag]
    return out


# -- the scope ----------------------------------------------------------------------------------
_GUARD = threading.Lock()
_LOCKS = "locks"
"""The key, in a shared cache, of the locks of the keys being made (see :meth:`Scope.shared`)."""


def _making(cache: dict, key: tuple) -> threading.Lock:
    """The lock held while ``cache[key]`` is made: one per key of each cache."""
    with _GUARD:
        return cache.setdefault((_LOCKS,), {}).setdefault(key, threading.Lock())


class Scope:
    """One KPI computation: its table, period grid and ``by`` groups.

    Parameters
    ----------
    data : CrmData
    name : str
        The KPI's name, for error messages.
    table : str
        The KPI's own table: its rows are what ``by`` groups.
    request : Request
        The call's period length, groups and window.
    reads : sequence of str
        Other tables the KPI reads. The period grid runs from the first to
        the last period that the date columns of all of them span (or
        ``start``..``end``).
    grid_dates : sequence of pandas.Series, optional
        Instead of the date columns of ``reads``, the dates whose span gives
        the grid.
    whole : WholeFacts, optional
        Set when ``data`` is a unit of a larger data set (a Dask partition).
    cache : dict, optional
        Shared by the KPIs of one call of ``compute``: grids, groups and the
        ARR sums are then built once.
    """

    def __init__(self, data: CrmData, name: str, table: str, request: Request = Request(), *,
                 reads: Sequence[str] = (), grid_dates: Sequence[pd.Series] | None = None,
                 whole: WholeFacts | None = None, cache: dict | None = None) -> None:
        reads = list(dict.fromkeys([table, *reads]))
        absent = [t for t in reads if getattr(data, t) is None]
        if absent:
            raise MissingTableError(
                f"{name} needs the {' and '.join(absent)} table(s), which were not loaded.\n"
                f"Hint: put {', '.join(f'{t}.csv' for t in absent)} in the data folder."
            )
        self.data, self.name, self.table, self.request = data, name, table, request
        self.frame: pd.DataFrame = getattr(data, table)
        self.pfreq = request.pfreq
        self.by = list(request.by)
        self.whole = whole
        self.cache = {} if cache is None else cache
        self.key = (id(data), table, tuple(reads), self.pfreq, request.by, str(request.start),
                    str(request.end), grid_dates is None, request.window)
        self.as_of: int = self.fact(("as_of",), lambda: as_of_day(data))
        if grid_dates is None:
            if whole is not None:
                spans = [whole.spans[(t, c)] for t in reads if getattr(data, t) is not None
                         for c in date_columns(t)]
                grid_dates = [pd.Series(np.array(span, dtype="datetime64[D]")).astype(
                    "datetime64[s]") for span in spans]
            else:
                grid_dates = [getattr(data, t)[c] for t in reads if getattr(data, t) is not None
                              for c in date_columns(t)]
            self.grid, self.keep = self.shared(("grid", *self.key),
                                               lambda: self._grid(grid_dates))
        else:
            self.grid, self.keep = self._grid(grid_dates)
        self.spans = Spans.of(self.grid, request.window, request.calendar)
        self.subtotals = whole is not None and whole.subtotals
        groups = self._global_groups if self.subtotals else self._groups
        self.keys, self.codes = self.shared(("groups", id(data), table, request.by),
                                            lambda: groups(self.frame))

    def shared(self, key: tuple, make: Callable[[], Any]) -> Any:
        """``make()``, computed once per ``key`` among the KPIs sharing this scope's cache.

        The KPIs of one batch may run on several threads
        (:meth:`~repkpi.kpis.pandas_engine.PandasExecutor.run`): a key being
        made by one thread is waited for by the others, not made again.
        """
        if key not in self.cache:
            with _making(self.cache, key):
                if key not in self.cache:
                    self.cache[key] = make()
        return self.cache[key]

    def fact(self, key: tuple, make: Callable[[], Any]) -> Any:
        """A fact of the whole data: from :class:`WholeFacts` when given, else ``make()``."""
        if self.whole is not None and key in self.whole.known:
            return self.whole.known[key]
        return self.shared(("fact", id(self.data), *key), make)

    def _grid(self, dates: Sequence[pd.Series]) -> tuple[Grid, slice]:
        lo, hi = _FAR, NAT
        for values in dates:
            if values.notna().any():
                ends = day_numbers(pd.Series([values.min(), values.max()], dtype=values.dtype))
                lo, hi = min(lo, ends[0]), max(hi, ends[1])
        start, end, calendar = self.request.start, self.request.end, self.request.calendar
        first = start and calendar.period(start)
        last = end and calendar.period(end, how="end")
        if hi == NAT:  # no dates at all
            first, last = first or last, last or first
            if first is None:
                empty = Grid.between(pd.Period("2000-01", self.pfreq),
                                     pd.Period("1999-01", self.pfreq))
                return empty, slice(0, 0)
            span_first, span_last = first, last
        else:
            span_first = pd.Timestamp(lo, unit="D").to_period(self.pfreq)
            span_last = pd.Timestamp(hi, unit="D").to_period(self.pfreq)
            if self.as_of != NAT:  # by default, results end at the as-of date's period
                span_last = pd.Timestamp(self.as_of, unit="D").to_period(self.pfreq)
                span_first = min(span_first, span_last)
            first, last = first or span_first, last or span_last
        grid = Grid.between(min(first, span_first), max(last, span_last))
        begin = (first - grid.periods[0]).n if len(grid) else 0
        stop = (last - grid.periods[0]).n + 1 if len(grid) else 0
        return grid, slice(begin, max(begin, stop))

    def _groups(self, frame: pd.DataFrame) -> tuple[pd.DataFrame | None, np.ndarray]:
        """Group code of each row, and the groups seen, sorted with missing values last."""
        if not self.by:
            return None, np.zeros(len(frame), dtype=np.int64)
        dims = dimensions(self.data, self.table, frame, self.by, self.name)
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
        dims = dimensions(self.data, self.table, frame, self.by, self.name)
        combined = np.zeros(len(frame), dtype=np.int64)
        keys = []
        for column, (codes, labels) in zip(self.by, dims, strict=True):
            whole = self.whole.labels[column]
            # Codes of this part's labels among the whole's, missing values last.
            where = pd.Index(whole).get_indexer(pd.Index(labels))
            where = np.append(np.where(labels.isna().to_numpy(), len(whole), where), len(whole))
            combined = combined * (len(whole) + 1) + where[codes]
            keys.append(with_missing(whole.reset_index(drop=True)))
        product = pd.MultiIndex.from_product(keys, names=self.by).to_frame(index=False)
        return product, combined

    @property
    def n_groups(self) -> int:
        """Number of ``by`` groups (1 when ungrouped)."""
        return 1 if self.keys is None else len(self.keys)

    def bounds(self, at: At) -> np.ndarray:
        """Day numbers of each span's opening (``at="open"``) or of ``P.last`` (``"last"``).

        A span's opening is the day before its first day (``P.open`` when the
        span is P alone). Both are non-decreasing along the grid.
        """
        if at == "open":
            return self.spans.first - 1
        if at == "last":  # in a period in progress, the end is the as-of date
            last = self.grid.last
            return np.where((self.grid.first <= self.as_of) & (self.as_of < last), self.as_of, last)
        raise ValueError(f"at must be 'open' or 'last', got {at!r}")

    def locate(self, dates: pd.Series) -> np.ndarray:
        """Position in the grid of each date's period; -1 outside it or missing."""
        return self.grid.locate(day_numbers(dates))

    def tally(self, pos: np.ndarray, where: Any = None, weights: Any = None,
              codes: np.ndarray | None = None) -> np.ndarray:
        """Count (or sum ``weights``) per (period position, group code); -1 positions are left out."""
        codes = self.codes if codes is None else codes
        ok = (pos >= 0) & _as_mask(where, len(pos))
        if codes.dtype.kind == "f":  # rows whose group is unknown to the scope
            ok &= ~np.isnan(codes)
        key = pos[ok] * self.n_groups + codes[ok].astype(np.int64)
        w = None if weights is None else as_weights(weights, len(pos))[ok]
        counts = np.bincount(key, w, minlength=len(self.grid) * self.n_groups)
        return counts.reshape(len(self.grid), self.n_groups)

    def over_spans(self, array: np.ndarray) -> np.ndarray:
        """Per-period sums ``(periods, groups)`` added up over each period's span.

        Added a period at a time, in order (at most a year of periods): an
        empty span sums to exactly 0, where the differences of a cumulative
        sum would leave a rounding residue that a ratio then divides by.
        """
        spans = self.spans
        if spans.single:
            return array
        out = np.zeros(array.shape, dtype=np.float64)
        k = np.arange(len(array))
        for j in range(int(spans.back.max()) + 1):
            ok = (j <= spans.back) & (k >= j)
            out[ok] += array[k[ok] - j]
        return out

    def throughout(self, flags: np.ndarray) -> np.ndarray:
        """Where per-period ``flags`` ``(periods, groups)`` hold in every period of each span."""
        if self.spans.single:
            return flags
        return self.over_spans(flags.astype(np.float64)) == (self.spans.back + 1)[:, None]

    def place(self, pos: np.ndarray, opening: np.ndarray | None = None,
              ) -> tuple[np.ndarray, np.ndarray]:
        """Each row in every span that holds its period: ``(row, span)`` position pairs.

        ``pos`` is each row's period in the grid (-1: none). With ``opening``
        (day numbers), a row goes only in the spans that begin after it: the
        row's entity was there at the span's opening. Under
        ``window="period"`` a row has one span, its period's.
        """
        spans = self.spans
        inside = pos >= 0
        if spans.single:  # each row in its own period's span, if anywhere
            if opening is not None and spans.first.size:  # an empty grid holds no row
                inside &= opening < spans.first[np.maximum(pos, 0)]
            row = np.flatnonzero(inside)
            return row, pos[row]
        lo = pos
        if opening is not None:
            lo = np.maximum(pos, np.searchsorted(spans.first, opening, side="right"))
        hi = np.searchsorted(spans.start, pos, side="right")  # spans k with start <= pos
        counts = np.where(inside, np.maximum(hi - lo, 0), 0)
        row = np.repeat(np.arange(len(pos)), counts)
        offset = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
        return row, np.repeat(lo, counts) + offset

    def spread(self, keys: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distinct ``(key, period)`` pairs as distinct ``(key, span)`` pairs.

        A key (an account) is once in each span that holds one of its
        periods: what a distinct count over the span counts.
        """
        if self.spans.single:
            return keys, pos
        row, span = self.place(pos)
        width = len(self.grid)
        pairs = compact(keys[row] * width + span)[0]
        return pairs // width, pairs % width

    # -- declarations' vocabulary -------------------------------------------
    def events(self, dates: pd.Series, *, where: Any = None, weights: Any = None,
               codes: np.ndarray | None = None, frame: pd.DataFrame | None = None,
               table: str | None = None, columns: dict[str, Any] | None = None,
               opening: pd.Series | None = None) -> Events:
        """Rows of the KPI's table (or ``frame`` of ``table``) dated inside P's span.

        With ``opening`` (a date per row), a row counts only where that date
        is on or before the span's opening: its entity belongs to the span's
        opening state (the accounts of the opening book that churned).
        """
        return Events(self, dates, where, weights, codes, frame, table, columns, opening)

    def active(self, begin: pd.Series, end: pd.Series, *, at: At, end_inclusive: bool = False,
               where: Any = None, weights: Any = None) -> Active:
        """Rows of the KPI's table active at the start (``at="open"``) or the end of P.

        The start of P is the close of ``P.open``, the day before ``P.first``
        (P's opening state is P-1's closing state); the end is the close of
        ``P.last``. A row is active on day d when ``begin <= d < end``
        (``<= end`` with ``end_inclusive``); a missing ``end`` never comes.
        """
        return Active(self, begin, end, at, end_inclusive, where, weights)

    def formula(self, kind: str, numerator: Term | Sequence[Term],
                denominator: Term | Sequence[Term] | None = None, *, scale: float = 1.0,
                defined: np.ndarray | None = None, show: Sequence[str] = ()) -> Formula:
        """The KPI's :class:`Formula` (see there): what a declaration returns."""
        return Formula(self, kind, _terms(numerator), _terms(denominator), scale, defined,
                       tuple(show))


# -- terms --------------------------------------------------------------------------------------
def _terms(value: Term | Sequence[Term] | None) -> list[Term]:
    if value is None:
        return []
    if isinstance(value, Term):
        return value.flat()
    return [t for term in value for t in term.flat()]


class Term(ABC):
    """Rows of one frame that add a weight to the (period, group) cells of a scope."""

    sign: float = 1.0
    s: Scope
    table: str
    frame: pd.DataFrame
    back: int = 0

    @abstractmethod
    def array(self) -> np.ndarray:
        """Sum of the rows' weights per (period, group): shape ``(periods, groups)``."""

    def rows(self, k: int) -> pd.DataFrame:
        """The rows in the period at grid position ``k`` (none for ``k < 0``).

        Columns ``row`` (position in :attr:`frame`), ``code`` (group),
        ``weight``, and any columns the term adds.
        """
        if k < 0:
            return pd.DataFrame({"row": np.array([], dtype=np.int64),
                                 "code": np.array([], dtype=np.int64),
                                 "weight": np.array([], dtype=np.float64)})
        return self.rows_at(k)

    @abstractmethod
    def rows_at(self, k: int) -> pd.DataFrame:
        """:meth:`rows` for a position inside the grid."""

    def flat(self) -> list[Term]:
        """The term as a list of signed terms (a single term is a list of one)."""
        return [self]

    def __neg__(self) -> Term:
        return _Signed(self, -self.sign)

    def __sub__(self, other: Term) -> _Sum:
        return _Sum([*self.flat(), *(-other).flat()])

    def __add__(self, other: Term) -> _Sum:
        return _Sum([*self.flat(), *other.flat()])

    def cached_array(self) -> np.ndarray:
        """:meth:`array`, computed once: a term may stand on both sides (market share)."""
        if "_array" not in self.__dict__:
            self.__dict__["_array"] = self.array()
        return self.__dict__["_array"]

    def signed_array(self) -> np.ndarray:
        """:meth:`array` times the term's sign."""
        return self.sign * self.cached_array()


class _Sum(Term):
    """Signed terms added up (``a - b``); :class:`Formula` holds their flat list."""

    def __init__(self, terms: list[Term]) -> None:
        self.terms, self.s = terms, terms[0].s

    def array(self) -> np.ndarray:
        """See :meth:`Term.array`."""
        return sum(t.signed_array() for t in self.terms)

    def rows_at(self, k: int) -> pd.DataFrame:
        """See :meth:`Term.rows`: every term's rows, their weights signed."""
        return pd.concat([t.rows(k).assign(weight=lambda r, t=t: t.sign * r["weight"])
                          for t in self.terms], ignore_index=True)

    def flat(self) -> list[Term]:
        """See :meth:`Term.flat`."""
        return list(self.terms)

    def __neg__(self) -> _Sum:
        return _Sum([-t for t in self.terms])


class _Signed(Term):
    """Another term with its sign flipped."""

    def __init__(self, term: Term, sign: float) -> None:
        self.term, self.sign, self.s = term, sign, term.s
        self.table, self.frame, self.back = term.table, term.frame, term.back

    def array(self) -> np.ndarray:
        """See :meth:`Term.array`."""
        return self.term.cached_array()

    def rows_at(self, k: int) -> pd.DataFrame:
        """See :meth:`Term.rows`."""
        return self.term.rows(k)

    def __neg__(self) -> Term:
        return self.term if self.sign == -1.0 else _Signed(self.term, -self.sign)


def _rows(index: np.ndarray, codes: np.ndarray, weights: np.ndarray,
          columns: dict[str, Any] | None) -> pd.DataFrame:
    out = pd.DataFrame({"row": index, "code": codes[index].astype(np.int64),
                        "weight": weights[index]})
    for name, values in (columns or {}).items():
        array = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
        out[name] = array[index]
    return out


class Events(Term):
    """Rows dated inside P's span: counted, or their ``weights`` summed."""

    def __init__(self, s: Scope, dates: pd.Series, where: Any, weights: Any,
                 codes: np.ndarray | None, frame: pd.DataFrame | None, table: str | None,
                 columns: dict[str, Any] | None, opening: pd.Series | None = None) -> None:
        self.s, self.table = s, table or s.table
        self.frame = s.frame if frame is None else frame
        self.pos = s.locate(dates)
        self.where = _as_mask(where, len(self.pos))
        self.weights = None if weights is None else as_weights(weights, len(self.pos))
        self.codes = s.codes if codes is None else codes
        self.columns = columns
        self.opening = None if opening is None else day_numbers(opening)

    def per_period(self) -> np.ndarray:
        """Count (or sum of weights) of the rows dated inside each period, per group."""
        return self.s.tally(self.pos, self.where, self.weights, self.codes)

    def placed(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows that count, each with every span it counts in: ``(row, span)`` pairs."""
        if "_placed" not in self.__dict__:
            counted = self.where.copy()
            if self.codes.dtype.kind == "f":  # rows whose group is unknown to the scope
                counted &= ~np.isnan(self.codes)
            pos = np.where(counted, self.pos, -1)
            self.__dict__["_placed"] = self.s.place(pos, self.opening)
        return self.__dict__["_placed"]

    def array(self) -> np.ndarray:
        """See :meth:`Term.array`: per-period sums added over the spans, or the rows placed in them."""
        if self.opening is None:
            return self.s.over_spans(self.per_period())
        row, k = self.placed()
        weights = None if self.weights is None else self.weights[row]
        return self.s.tally(k, None, weights, self.codes[row])

    def rows_at(self, k: int) -> pd.DataFrame:
        """See :meth:`Term.rows`."""
        row, span = self.placed()
        weights = as_weights(self.weights, len(self.pos))
        return _rows(row[span == k], self.codes, weights, self.columns)


class Active(Term):
    """Entities whose interval ``[begin, end)`` covers P's first or last day."""

    def __init__(self, s: Scope, begin: pd.Series, end: pd.Series, at: At, end_inclusive: bool,
                 where: Any, weights: Any) -> None:
        self.s, self.table, self.frame = s, s.table, s.frame
        self.bounds = s.bounds(at)
        self.b = day_numbers(begin)
        e = day_numbers(end)
        self.e = np.where(e == NAT, _FAR, e + 1 if end_inclusive else e)
        self.where = _as_mask(where, len(self.b)) & (self.b != NAT)
        self.weights = None if weights is None else as_weights(weights, len(self.b))

    def array(self) -> np.ndarray:
        """See :meth:`Term.array`."""
        return running(self.bounds, self.b, self.e, self.where, self.s.codes, self.s.n_groups,
                       self.weights)

    def rows_at(self, k: int) -> pd.DataFrame:
        """See :meth:`Term.rows`."""
        day = self.bounds[k]
        ok = self.where & (self.b <= day) & (day < self.e)
        return _rows(np.flatnonzero(ok), self.s.codes, as_weights(self.weights, len(self.b)), None)


def running(bounds: np.ndarray, begin: np.ndarray, end: np.ndarray, where: np.ndarray,
            codes: np.ndarray, n_groups: int, weights: np.ndarray | None) -> np.ndarray:
    """Sum of the weights of the rows with ``begin <= bound < end``, per bound and group.

    Each row adds its weight at the first bound it covers and takes it away
    where it stops; a cumulative sum along the bounds gives every bound at once.
    """
    i0 = np.searchsorted(bounds, begin, side="left")
    i1 = np.searchsorted(bounds, end, side="left")
    ok = where & (i0 < i1)
    width = len(bounds) + 1
    w = None if weights is None else weights[ok]
    size = n_groups * width
    # Laid out bound by bound, so that the sums along the bounds come out as (bounds, groups).
    starts, stops = i0[ok] * n_groups + codes[ok], i1[ok] * n_groups + codes[ok]
    if w is None:
        diff = np.bincount(starts, minlength=size) - np.bincount(stops, minlength=size)
    else:  # one pass: each row's weight in, and out again
        diff = np.bincount(np.concatenate([starts, stops]), np.concatenate([w, -w]), minlength=size)
    diff = diff.reshape(width, n_groups)
    np.cumsum(diff, axis=0, out=diff)
    return diff[:-1]


class Pairs(Term):
    """Rows of ``frame`` already placed in periods: ``row`` positions, ``pos`` periods."""

    def __init__(self, s: Scope, row: np.ndarray, pos: np.ndarray, *, codes: np.ndarray,
                 weights: Any = None, frame: pd.DataFrame | None = None,
                 table: str | None = None, columns: dict[str, Any] | None = None) -> None:
        self.s, self.table = s, table or s.table
        self.frame = s.frame if frame is None else frame
        self.row, self.pos, self.codes = row, pos, codes
        self.weights = None if weights is None else as_weights(weights, len(pos))
        self.columns = columns

    def array(self) -> np.ndarray:
        """See :meth:`Term.array`."""
        return self.s.tally(self.pos, None, self.weights, self.codes)

    def rows_at(self, k: int) -> pd.DataFrame:
        """See :meth:`Term.rows`."""
        at = np.flatnonzero(self.pos == k)
        out = _rows(at, self.codes, as_weights(self.weights, len(self.pos)), self.columns)
        out["row"] = self.row[at]
        return out


class Matrix(Term):
    """A weight per entity (a row of ``frame``) and period: ``values[period, entity]``."""

    def __init__(self, s: Scope, values: np.ndarray, *, codes: np.ndarray,
                 frame: pd.DataFrame, table: str | None = None) -> None:
        self.s, self.table, self.frame = s, table or s.table, frame
        self.values, self.codes = values, codes

    def array(self) -> np.ndarray:
        """See :meth:`Term.array`."""
        s = self.s
        out = np.empty((len(s.grid), s.n_groups))
        for k, values in enumerate(self.values):  # a period at a time: no entities x periods index
            out[k] = np.bincount(self.codes, values, minlength=s.n_groups)
        return out

    def rows_at(self, k: int) -> pd.DataFrame:
        """See :meth:`Term.rows`."""
        values = self.values[k]
        return _rows(np.flatnonzero(values != 0), self.codes, values, None)


class Shifted(Term):
    """Another term's rows of the span P is compared with, counted in P.

    That span ends ``lag`` periods back (:attr:`Spans.lag`: the previous
    period, the span of the same length just before, or a year earlier for
    the year and quarter to date); ``back`` says how many.
    """

    def __init__(self, term: Term) -> None:
        self.term, self.sign, self.s = term, term.sign, term.s
        self.lag = term.s.spans.lag
        self.table, self.frame, self.back = term.table, term.frame, term.back + self.lag

    def array(self) -> np.ndarray:
        """See :meth:`Term.array`."""
        return shift(self.term.cached_array(), self.lag)

    def rows_at(self, k: int) -> pd.DataFrame:
        """See :meth:`Term.rows`."""
        return self.term.rows(k - self.lag)



# -- the formula ------------------------------------------------------------------------------
@dataclass
class Formula:
    """What a KPI declaration returns: how its value comes from the rows of its terms.

    Attributes
    ----------
    scope : Scope
    kind : {"count", "sum", "rank", "ratio", "median", "difference"}
        count, sum, rank: value = numerator (denominator 1); ratio: value =
        ``scale`` x numerator / denominator; median: the median of the
        numerator rows' weights (their hours); difference: the ratio's change
        over the previous period.
    numerator, denominator : list of Term
    scale : float
    defined : ndarray of bool, optional
        ``(periods, groups)``: where the value is defined (NaN elsewhere).
    show : tuple of str
        Columns of the KPI's table that decide its rows, for ``detail``.
    """

    scope: Scope
    kind: str
    numerator: list[Term]
    denominator: list[Term]
    scale: float = 1.0
    defined: np.ndarray | None = None
    show: tuple[str, ...] = ()

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Numerator and denominator per (period, group)."""
        shape = (len(self.scope.grid), self.scope.n_groups)
        num = sum((t.signed_array() for t in self.numerator), np.zeros(shape))
        den = sum((t.signed_array() for t in self.denominator), np.zeros(shape))
        return np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
