"""The machinery every KPI shares: scopes, terms, parts, and the pandas executor.

A KPI's declaration (see :mod:`repkpi.kpis.registry`) receives a
:class:`Scope` (its table, the period grid and the ``by`` groups) and returns
:class:`Parts`: its numerator and denominator as sums of *terms*, each term
the rows of a table that add a weight to a (period, group) cell:

* :class:`Events`: rows dated inside P (counted, or their ``weights`` summed);
* :class:`Active`: entities whose interval ``[begin, end)`` covers one day of
  P (active customers, ARR);
* :class:`Pairs`: rows already placed in periods (an account engaged in P);
* :class:`Shifted`: another term's rows of the previous period (growth);
* :class:`Grid`-sized :class:`Matrix`: a value per entity and period (ARR).

Every term can say two things: its ``(periods, groups)`` array (one
:func:`numpy.bincount` or cumulative sum, for the value), and its rows in
one period (for :func:`repkpi.detail`). Both come from the same masks, so the
value and the rows behind it cannot disagree.

Arrays are *additive*: computed on chunks of the rows, they add up to the
arrays of the whole table, which is how the Dask executor sums numerators
and denominators across partitions before the division. Medians are not:
they need all rows of a (period, group) at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from repkpi._vector import to_arrow
from repkpi.errors import ColumnNotFoundError, MissingTableError, RepkpiError
from repkpi.io.loading import CrmData
from repkpi.kpis.registry import (
    COMMON,
    EXPECTED,
    KPIS,
    Call,
    KpiSpec,
    check_by,
    normalise_by,
    register_executor,
)
from repkpi.periods import NAT, Grid, PeriodLike, day_numbers, pandas_freq, to_period
from repkpi.schemas import COLUMNS

__all__ = ["Active", "By", "Events", "Matrix", "Pairs", "Parts", "PandasExecutor", "Piece",
           "Scope", "Shifted", "Term", "Whole", "as_of_day", "compact", "date_columns", "dimension",
           "evaluate", "lookups", "period_rows", "positions", "run_spec", "running", "shift",
           "tidy", "with_missing"]

By = str | Sequence[str] | None
_FAR = np.iinfo(np.int64).max


@dataclass
class Whole:
    """What a KPI computed on part of the data must know of the whole.

    Attributes
    ----------
    spans : dict
        ``(table, column) -> (first, last)`` day numbers of the whole column
        (NaT when it has no value): the period grid is built from these.
    labels : dict
        ``column -> Series``: every value a ``by`` column takes in the whole
        data, sorted, without missing values. Groups are coded against these,
        so codes mean the same in every partition.
    facts : dict
        Other facts of the whole data (see :meth:`Scope.fact`).
    pieces : bool
        Whether the KPI returns a :class:`Piece` (additive arrays); False when
        only the grid comes from the whole data.
    """

    spans: dict[tuple[str, str], tuple[Any, Any]] = field(default_factory=dict)
    labels: dict[str, pd.Series] = field(default_factory=dict)
    facts: dict[tuple, Any] = field(default_factory=dict)
    pieces: bool = True


@dataclass
class Piece:
    """A KPI's additive arrays on part of the data, per (period, group code).

    ``kind`` is ``"count"`` (value = numerator), ``"ratio"`` (value = scale x
    numerator / denominator) or ``"median"`` (``rows``: group key and value of
    each row; not additive, the executor computes the medians). ``seen``
    counts the rows of each group: a group is in the result when some
    partition holds it.
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


# -- groups -------------------------------------------------------------------------------------
def with_missing(labels: pd.Series) -> pd.Series:
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
        labels = with_missing(labels)
    return codes.astype(np.int64), labels


def _through(ids: pd.Series, keys: pd.Series, column: pd.Series,
             memo: dict) -> tuple[np.ndarray, pd.Series]:
    """Codes and labels of ``column`` looked up for each of ``ids`` in ``keys`` (a unique id)."""
    codes, labels = _factorize(column)
    position = positions(ids, keys, memo=memo)
    if (position < 0).any():
        na = len(labels)
        if not labels.isna().any():
            labels = with_missing(labels)
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


def dimension(data: CrmData, table: str, frame: pd.DataFrame, column: str,
              kpi_name: str) -> tuple[np.ndarray, pd.Series]:
    """The dimension ``column`` of each row of ``frame``: codes, and the labels they index.

    Looked up as ``by`` looks it up: in the table, then in accounts, then in
    reps; a row with none has the code of a missing label.
    """
    ((codes, labels),) = _dimensions(data, table, frame, [column], kpi_name)
    return codes, labels.reset_index(drop=True)


def lookups(data: CrmData) -> dict:
    """The data's cache of id lookups (see :func:`positions`)."""
    return data.__dict__.setdefault("lookups_cache", {})


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


def as_of_day(data: Any) -> int:
    """The day number of the data's as-of date (``NAT`` when it has none)."""
    as_of = getattr(data, "as_of", None)
    return NAT if as_of is None else int(day_numbers(pd.Series([as_of]))[0])


def date_columns(table: str) -> list[str]:
    """The date and timestamp columns of a table."""
    return [c.name for c in COLUMNS[table] if c.kind in ("date", "datetime")]


def _mask(where: np.ndarray | pd.Series | None, n: int) -> np.ndarray:
    if where is None:
        return np.ones(n, dtype=bool)
    if isinstance(where, pd.Series):
        return where.fillna(False).to_numpy(dtype=bool)
    return np.asarray(where, dtype=bool)


def _weights(weights: np.ndarray | pd.Series | None, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n, dtype=np.float64)
    if isinstance(weights, pd.Series):
        return weights.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(weights, dtype=np.float64)


def shift(array: np.ndarray) -> np.ndarray:
    """The previous period's values (NaN for the first period)."""
    out = np.full(array.shape, np.nan)
    out[1:] = array[:-1]
    return out


# -- the scope ----------------------------------------------------------------------------------
class Scope:
    """One KPI computation: its table, period grid and ``by`` groups.

    Parameters
    ----------
    data : CrmData
    name : str
        The KPI's name, for error messages.
    table : str
        The KPI's own table: its rows are what ``by`` groups.
    freq, by, start, end, fiscal_year_start
        As the KPI functions take them.
    reads : sequence of str
        Other tables the KPI reads. The period grid runs from the first to
        the last period that the date columns of all of them span (or
        ``start``..``end``).
    grid_dates : sequence of pandas.Series, optional
        Instead of the date columns of ``reads``, the dates whose span gives
        the grid.
    whole : Whole, optional
        Set when ``data`` is part of a larger data set (a Dask partition).
    cache : dict, optional
        Shared by the KPIs of one call of ``compute``: grids, groups and the
        ARR sums are then built once.
    """

    def __init__(self, data: CrmData, name: str, table: str, freq: str = "Q", by: By = None,
                 start: PeriodLike | None = None, end: PeriodLike | None = None,
                 fiscal_year_start: int = 1, *, reads: Sequence[str] = (),
                 grid_dates: Sequence[pd.Series] | None = None,
                 whole: Whole | None = None, cache: dict | None = None) -> None:
        reads = list(dict.fromkeys([table, *reads]))
        absent = [t for t in reads if getattr(data, t) is None]
        if absent:
            raise MissingTableError(
                f"{name} needs the {' and '.join(absent)} table(s), which were not loaded.\n"
                f"Hint: put {', '.join(f'{t}.csv' for t in absent)} in the data folder."
            )
        self.data, self.name, self.table = data, name, table
        self.args = (freq, by, start, end, fiscal_year_start)
        self.frame: pd.DataFrame = getattr(data, table)
        self.pfreq = pandas_freq(freq, fiscal_year_start)
        self.by = normalise_by(by)
        self.whole = whole
        self.cache = {} if cache is None else cache
        self.key = (id(data), table, tuple(reads), self.pfreq, tuple(self.by), str(start),
                    str(end), grid_dates is None)
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
                                               lambda: self._grid(grid_dates, start, end))
        else:
            self.grid, self.keep = self._grid(grid_dates, start, end)
        self.pieces = whole is not None and whole.pieces
        groups = self._global_groups if self.pieces else self._groups
        self.keys, self.codes = self.shared(("groups", id(data), table, tuple(self.by)),
                                            lambda: groups(self.frame))

    def shared(self, key: tuple, make: Callable[[], Any]) -> Any:
        """``make()``, computed once per ``key`` among the KPIs sharing this scope's cache."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def fact(self, key: tuple, make: Callable[[], Any]) -> Any:
        """A fact of the whole data: from :class:`Whole` when there is one, else ``make()``."""
        if self.whole is not None and key in self.whole.facts:
            return self.whole.facts[key]
        return self.shared(("fact", id(self.data), *key), make)

    def _grid(self, dates: Sequence[pd.Series], start: PeriodLike | None,
              end: PeriodLike | None) -> tuple[Grid, slice]:
        lo, hi = _FAR, NAT
        for values in dates:
            if values.notna().any():
                ends = day_numbers(pd.Series([values.min(), values.max()], dtype=values.dtype))
                lo, hi = min(lo, ends[0]), max(hi, ends[1])
        fiscal = self.args[4]
        first = start and to_period(start, self.pfreq, fiscal_year_start=fiscal)
        last = end and to_period(end, self.pfreq, how="end", fiscal_year_start=fiscal)
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

    def bounds(self, at: str) -> np.ndarray:
        """Day numbers of each period's ``P.open`` (``at="open"``) or ``P.last`` (``"last"``)."""
        if at == "open":
            return self.grid.first - 1
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
        ok = (pos >= 0) & _mask(where, len(pos))
        if codes.dtype.kind == "f":  # rows whose group is unknown to the scope
            ok &= ~np.isnan(codes)
        key = pos[ok] * self.n_groups + codes[ok].astype(np.int64)
        w = None if weights is None else _weights(weights, len(pos))[ok]
        counts = np.bincount(key, w, minlength=len(self.grid) * self.n_groups)
        return counts.reshape(len(self.grid), self.n_groups)

    # -- declarations' vocabulary -------------------------------------------
    def events(self, dates: pd.Series, *, where: Any = None, weights: Any = None,
               codes: np.ndarray | None = None, frame: pd.DataFrame | None = None,
               table: str | None = None, columns: dict[str, Any] | None = None) -> Events:
        """Rows of the KPI's table (or ``frame`` of ``table``) dated inside P."""
        return Events(self, dates, where, weights, codes, frame, table, columns)

    def active(self, begin: pd.Series, end: pd.Series, *, at: str, end_inclusive: bool = False,
               where: Any = None, weights: Any = None) -> Active:
        """Rows of the KPI's table active at the start (``at="open"``) or the end of P.

        The start of P is the close of ``P.open``, the day before ``P.first``
        (P's opening state is P-1's closing state); the end is the close of
        ``P.last``. A row is active on day d when ``begin <= d < end``
        (``<= end`` with ``end_inclusive``); a missing ``end`` never comes.
        """
        return Active(self, begin, end, at, end_inclusive, where, weights)

    def parts(self, kind: str, numerator: Term | Sequence[Term], denominator: Term | Sequence[Term]
              | None = None, *, scale: float = 1.0, defined: np.ndarray | None = None,
              show: Sequence[str] = ()) -> Parts:
        """The KPI's :class:`Parts` (see there)."""
        return Parts(self, kind, _terms(numerator), _terms(denominator), scale, defined,
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
    """Signed terms added up (``a - b``); :class:`Parts` holds their flat list."""

    def __init__(self, terms: list[Term]) -> None:
        self.terms = terms

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
        self.term, self.sign = term, sign
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
    """Rows dated inside P: counted, or their ``weights`` summed."""

    def __init__(self, s: Scope, dates: pd.Series, where: Any, weights: Any,
                 codes: np.ndarray | None, frame: pd.DataFrame | None, table: str | None,
                 columns: dict[str, Any] | None) -> None:
        self.s, self.table = s, table or s.table
        self.frame = s.frame if frame is None else frame
        self.pos = s.locate(dates)
        self.where = _mask(where, len(self.pos))
        self.weights = None if weights is None else _weights(weights, len(self.pos))
        self.codes = s.codes if codes is None else codes
        self.columns = columns

    def array(self) -> np.ndarray:
        """See :meth:`Term.array`."""
        return self.s.tally(self.pos, self.where, self.weights, self.codes)

    def rows_at(self, k: int) -> pd.DataFrame:
        """See :meth:`Term.rows`."""
        ok = (self.pos == k) & self.where
        if self.codes.dtype.kind == "f":
            ok &= ~np.isnan(self.codes)
        weights = _weights(self.weights, len(self.pos))
        return _rows(np.flatnonzero(ok), self.codes, weights, self.columns)


class Active(Term):
    """Entities whose interval ``[begin, end)`` covers P's first or last day."""

    def __init__(self, s: Scope, begin: pd.Series, end: pd.Series, at: str, end_inclusive: bool,
                 where: Any, weights: Any) -> None:
        self.s, self.table, self.frame = s, s.table, s.frame
        self.bounds = s.bounds(at)
        self.b = day_numbers(begin)
        e = day_numbers(end)
        self.e = np.where(e == NAT, _FAR, e + 1 if end_inclusive else e)
        self.where = _mask(where, len(self.b)) & (self.b != NAT)
        self.weights = None if weights is None else _weights(weights, len(self.b))

    def array(self) -> np.ndarray:
        """See :meth:`Term.array`."""
        return running(self.bounds, self.b, self.e, self.where, self.s.codes, self.s.n_groups,
                       self.weights)

    def rows_at(self, k: int) -> pd.DataFrame:
        """See :meth:`Term.rows`."""
        day = self.bounds[k]
        ok = self.where & (self.b <= day) & (day < self.e)
        return _rows(np.flatnonzero(ok), self.s.codes, _weights(self.weights, len(self.b)), None)


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
        self.weights = None if weights is None else _weights(weights, len(pos))
        self.columns = columns

    def array(self) -> np.ndarray:
        """See :meth:`Term.array`."""
        return self.s.tally(self.pos, None, self.weights, self.codes)

    def rows_at(self, k: int) -> pd.DataFrame:
        """See :meth:`Term.rows`."""
        at = np.flatnonzero(self.pos == k)
        out = _rows(at, self.codes, _weights(self.weights, len(self.pos)), self.columns)
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
    """Another term's rows of the previous period, counted in P (``back`` = 1)."""

    def __init__(self, term: Term) -> None:
        self.term, self.sign = term, term.sign
        self.table, self.frame, self.back = term.table, term.frame, term.back + 1

    def array(self) -> np.ndarray:
        """See :meth:`Term.array`."""
        return shift(self.term.cached_array())

    def rows_at(self, k: int) -> pd.DataFrame:
        """See :meth:`Term.rows`."""
        return self.term.rows(k - 1)


# -- parts --------------------------------------------------------------------------------------
@dataclass
class Parts:
    """What a KPI declaration returns: how its value comes from rows.

    Attributes
    ----------
    kind : {"count", "sum", "rank", "ratio", "median", "difference"}
        count, sum, rank: value = numerator (denominator 1); ratio: value =
        ``scale`` x numerator / denominator; median: the median of the
        numerator rows' weights (their hours); difference: the ratio's change
        over the previous period.
    numerator, denominator : list of Term
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


def _ratio(num: np.ndarray, den: np.ndarray, scale: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, scale * num / np.where(den != 0, den, 1.0), np.nan)


def _medians(s: Scope, term: Term) -> np.ndarray:
    """Median of the term's weights per (period, group): NaN where it has no row."""
    assert isinstance(term, Events)
    vals = _weights(term.weights, len(term.pos))
    ok = (term.pos >= 0) & term.where & ~np.isnan(vals)
    key = term.pos[ok] * s.n_groups + term.codes[ok]
    med = pd.Series(vals[ok]).groupby(key).median()
    out = np.full(len(s.grid) * s.n_groups, np.nan)
    out[med.index.to_numpy()] = med.to_numpy()
    return out.reshape(len(s.grid), s.n_groups)


def median_rows(parts: Parts) -> pd.DataFrame:
    """A median KPI's ``(period, group)`` key and value per row (for the Dask executor)."""
    s, (term,) = parts.scope, parts.numerator
    assert isinstance(term, Events)
    vals = _weights(term.weights, len(term.pos))
    ok = (term.pos >= 0) & term.where & ~np.isnan(vals)
    return pd.DataFrame({"key": term.pos[ok] * s.n_groups + term.codes[ok], "value": vals[ok]})


def evaluate(parts: Parts) -> pd.DataFrame | Piece:
    """The KPI's tidy frame (or, on a part of Dask data, its :class:`Piece`)."""
    s, kind = parts.scope, parts.kind
    shape = (len(s.grid), s.n_groups)
    if kind == "median":
        if s.pieces:
            nan = np.full(shape, np.nan)
            return Piece("median", nan, nan, np.bincount(s.codes, minlength=s.n_groups),
                         rows=median_rows(parts))
        nan = np.full(shape, np.nan)
        return tidy_result(s, nan, nan, _medians(s, parts.numerator[0]))
    num, den = parts.arrays()
    if kind == "difference":
        share = _ratio(num, den, parts.scale)
        if parts.defined is not None:
            share = np.where(parts.defined, share, np.nan)
        nan = np.full(shape, np.nan)
        return tidy_result(s, nan, nan, share - shift(share))
    if parts.defined is not None:
        num = np.where(parts.defined, num, np.nan)
        den = np.where(parts.defined, den, np.nan)
    if kind in ("count", "sum", "rank"):
        den = np.ones(shape)  # by convention, defined or not
    if s.pieces:
        seen = np.bincount(s.codes, minlength=s.n_groups)
        piece_kind = "ratio" if kind == "ratio" else "count"
        return Piece(piece_kind, num, den, seen, parts.scale)
    value = _ratio(num, den, parts.scale) if kind == "ratio" else num
    return tidy_result(s, num, den, value)


def tidy_result(s: Scope, numerator: np.ndarray, denominator: np.ndarray,
                value: np.ndarray) -> pd.DataFrame:
    """The tidy result of a scope: period, by columns, numerator, denominator, value."""
    return tidy(s.grid.periods[s.keep], s.keys,
                *(np.asarray(a, dtype=np.float64)[s.keep] for a in (numerator, denominator, value)))


def tidy(periods: pd.PeriodIndex, keys: pd.DataFrame | None, numerator: np.ndarray,
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


# -- the rows behind a value --------------------------------------------------------------------
_IDS = {"accounts": ["account_id"], "contracts": ["contract_id"], "deals": ["deal_id"],
        "tickets": ["ticket_id"], "surveys": ["response_id"], "activities": ["activity_id"],
        "reps": ["rep_id"], "market": ["region", "company"]}


def period_rows(parts: Parts, k: int) -> pd.DataFrame:
    """The rows behind the value at grid position ``k``, one per entity and period they come from.

    Columns: ``back`` (0 for P, 1 for P-1), ``table``, the table's id columns,
    the columns that decide the row, ``code`` (the group),
    ``in_numerator``, ``in_denominator``, ``numerator_weight``,
    ``denominator_weight`` (and ``hours`` for a median).
    """
    s = parts.scope
    sides = (("numerator", parts.numerator), ("denominator", parts.denominator))
    terms = [(side, term) for side, group in sides for term in group]
    if parts.kind == "difference":  # the share's rows of P-1 as well
        terms += [(side, Shifted(term)) for side, term in list(terms)]
    found = []
    for side, term in terms:
        rows = term.rows(k)
        if parts.defined is not None:
            rows = rows[_defined_at(parts, k - term.back, rows["code"])]
        found.append((term, rows.assign(side=side, weight=term.sign * rows["weight"],
                                        back=term.back, table=term.table, frame=id(term.frame))))
    frames = {id(t.frame): t.frame for t, _ in found}
    rows = pd.concat([r for _, r in found], ignore_index=True) if found else pd.DataFrame(
        columns=["row", "code", "weight", "side", "back", "table", "frame"])
    if rows.empty:
        rows = rows.astype({"row": np.int64, "code": np.int64, "weight": np.float64})
    extra = [c for c in rows.columns
             if c not in ("row", "code", "weight", "side", "back", "table", "frame")]
    key = ["frame", "table", "row", "back", "code"]
    rows["numerator_weight"] = np.where(rows["side"] == "numerator", rows["weight"], 0.0)
    rows["denominator_weight"] = np.where(rows["side"] == "denominator", rows["weight"], 0.0)
    rows["in_numerator"] = rows["side"] == "numerator"
    rows["in_denominator"] = rows["side"] == "denominator"
    how = {"numerator_weight": "sum", "denominator_weight": "sum", "in_numerator": "any",
           "in_denominator": "any", **dict.fromkeys(extra, "first")}
    merged = rows.groupby(key, sort=False).agg(how).reset_index()
    if parts.kind in ("count", "sum", "rank"):
        merged["denominator_weight"] = 0.0
    if parts.kind == "median":
        merged["hours"] = merged["numerator_weight"]
        merged["numerator_weight"] = np.nan
        merged["denominator_weight"] = np.nan
        merged["in_denominator"] = True
    pieces = []
    for frame_id, group in merged.groupby("frame", sort=False):
        frame = frames[frame_id]
        table = group["table"].iloc[0]
        own = parts.show if table == s.table else _SHOW.get(table, ())
        show = [c for c in (*_IDS.get(table, []), *own) if c in frame.columns]
        shown = frame.iloc[group["row"].to_numpy()][show].reset_index(drop=True)
        pieces.append(pd.concat([group.drop(columns=["frame", "row"]).reset_index(drop=True),
                                 shown], axis=1))
    if not pieces:
        show = [c for c in (*_IDS.get(s.table, []), *parts.show) if c in s.frame.columns]
        empty = merged.drop(columns=["frame", "row"])
        return pd.concat([empty, s.frame.iloc[:0][show].reset_index(drop=True)], axis=1)
    return pd.concat(pieces, ignore_index=True)


_SHOW = {"deals": ("account_id", "stage", "closed_on", "amount"),
         "market": ("revenue",)}
"""Columns shown for the rows of a table other than the KPI's own (market KPIs' deals)."""


def _defined_at(parts: Parts, k: int, codes: pd.Series) -> np.ndarray:
    if k < 0:
        return np.zeros(len(codes), dtype=bool)
    return parts.defined[k][codes.to_numpy(dtype=np.int64)]


# -- the pandas executor ------------------------------------------------------------------------
def scope_for(spec: KpiSpec, data: CrmData, kwargs: dict[str, Any], *, whole: Whole | None = None,
              cache: dict | None = None) -> Scope:
    """The scope a KPI's declaration runs on."""
    reads = list(spec.reads)
    if spec.any_of:
        present = [t for t in spec.any_of if getattr(data, t) is not None]
        reads += present or list(spec.any_of[:1])  # none loaded: ask for the first
    check_by(spec, kwargs.get("by"))
    args = {k: kwargs[k] for k in COMMON if k in kwargs}
    return Scope(data, spec.name, spec.table, reads=reads, whole=whole,
                 cache=cache, **args)


def run_spec(spec: KpiSpec, data: CrmData, kwargs: dict[str, Any], *, whole: Whole | None = None,
             cache: dict | None = None) -> Parts:
    """Run a KPI's declaration: its :class:`Parts` on ``data``."""
    s = scope_for(spec, data, kwargs, whole=whole, cache=cache)
    own = {k: v for k, v in kwargs.items() if k not in COMMON}
    return spec.declare(s, **own)


def detail_frame(parts: Parts, period: pd.Period, by: list[str]) -> pd.DataFrame:
    """The rows behind ``period``'s value, with ``period`` and the ``by`` labels."""
    s = parts.scope
    k = (period - s.grid.periods[0]).n if len(s.grid) else -1
    if not 0 <= k < len(s.grid):
        rows = period_rows(parts, -1).iloc[:0]
    else:
        rows = period_rows(parts, k)
    rows.insert(0, "period", pd.Series([period] * len(rows), dtype=pd.PeriodDtype(period.freq)))
    if parts.kind == "difference" or any(t.back for t in parts.numerator + parts.denominator):
        rows.insert(1, "from_period", rows["period"] - rows["back"].to_numpy(dtype=np.int64))
    codes = rows.pop("code").to_numpy(dtype=np.int64)
    rows = rows.drop(columns="back")
    labels = []
    for column in by:
        if s.keys is not None:
            values = s.keys[column].take(codes).reset_index(drop=True)
            if column in rows.columns:
                rows = rows.drop(columns=column)
            labels.append(values.rename(column))
    flags = ["in_numerator", "in_denominator", "numerator_weight", "denominator_weight"]
    tail = [*flags, *(["hours"] if "hours" in rows.columns else [])]
    front = rows[[c for c in rows.columns if c not in tail]].reset_index(drop=True)
    out = pd.concat([front, *labels, rows[tail].reset_index(drop=True)], axis=1)
    out["in_numerator"] = out["in_numerator"].astype(bool)
    out["in_denominator"] = out["in_denominator"].astype(bool)
    return out


class PandasExecutor:
    """Runs KPIs on :class:`~repkpi.io.loading.CrmData` in this process."""

    def run(self, data: CrmData, calls: Sequence[Call]) -> list[pd.DataFrame | RepkpiError]:
        """Each call's result (the KPIs share grids and groups), or its expected error."""
        cache: dict = {}
        out: list[pd.DataFrame | RepkpiError] = []
        for name, kwargs in calls:
            try:
                out.append(evaluate(run_spec(KPIS[name].spec, data, kwargs,  # type: ignore[attr-defined]
                                             cache=cache)))
            except EXPECTED as exc:
                out.append(exc)
        return out

    def prefetch(self, data: CrmData, calls: Sequence[Call]) -> None:
        """Nothing to do: each KPI on pandas data is computed when asked for."""

    def detail(self, data: CrmData, spec: KpiSpec, kwargs: dict[str, Any],
               period: pd.Period) -> pd.DataFrame:
        """The rows behind ``period``'s value."""
        parts = run_spec(spec, data, kwargs)
        return detail_frame(parts, period, normalise_by(kwargs.get("by")))

    def gather(self, data: CrmData, wanted: Mapping[str, Any]) -> dict[str, Any]:
        """``wanted`` as it is: pandas data is in memory already."""
        return dict(wanted)


register_executor(CrmData, PandasExecutor())
