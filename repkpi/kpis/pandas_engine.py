"""The pandas engine: a KPI's declaration run on pandas frames, to its value or to its rows.

:func:`run_spec` runs a KPI's declaration on loaded data (its
:class:`~repkpi.kpis.declaration.Formula`); :func:`evaluate` turns the
formula into the KPI's tidy frame, and :func:`period_rows` into the rows
behind one period's value (:func:`repkpi.detail`), from the same terms.
:class:`PandasExecutor` runs KPI calls on :class:`~repkpi.io.loading.CrmData`; the
executor lookup loads this module on its first miss
(:func:`~repkpi.kpis.registry.register_default_executors`) and registers
:data:`EXECUTORS`.

On a unit of Dask data (told the :class:`~repkpi.kpis.declaration.WholeFacts`
of the whole data) :func:`evaluate` gives a :class:`Subtotal` instead: the
additive arrays that the Dask executor sums over the units before dividing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from repkpi._threads import thread_map
from repkpi.errors import RepkpiError
from repkpi.io.loading import CrmData
from repkpi.kpis.declaration import (
    Events,
    Formula,
    Request,
    Scope,
    Shifted,
    Term,
    WholeFacts,
    as_weights,
    shift,
)
from repkpi.kpis.registry import (
    COMMON,
    EXPECTED,
    KPIS,
    Call,
    Executor,
    KpiSpec,
    check_by,
    check_needs,
    normalise_by,
)
from repkpi.schemas import KEYS

__all__ = ["EXECUTORS", "PandasExecutor", "Subtotal", "detail_frame", "evaluate", "median_rows",
           "period_rows", "run_spec", "scope_for", "tidy", "tidy_result"]


@dataclass
class Subtotal:
    """A KPI's partial sums on one unit of the data, per (period, group code): they add up.

    Summed over the units (disjoint parts of the rows), the numerators and
    denominators are those of the whole data. ``kind`` is ``"count"`` (value
    = numerator), ``"ratio"`` (value = scale x numerator / denominator) or
    ``"median"`` (``rows``: group key and value of each row; not additive,
    the executor computes the medians). ``seen`` counts the rows of each
    group: a group is in the result when some unit holds it.
    """

    kind: str
    numerator: np.ndarray
    denominator: np.ndarray
    seen: np.ndarray
    scale: float = 1.0
    rows: pd.DataFrame | None = None

    def __add__(self, other: Subtotal) -> Subtotal:
        return Subtotal(self.kind, self.numerator + other.numerator,
                        self.denominator + other.denominator, self.seen + other.seen, self.scale)


def _ratio(num: np.ndarray, den: np.ndarray, scale: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, scale * num / np.where(den != 0, den, 1.0), np.nan)


def _medians(s: Scope, term: Term) -> np.ndarray:
    """Median of the term's weights per (period, group) over the span's rows: NaN where it has none."""
    key, value = _median_keys(s, term)
    med = pd.Series(value).groupby(key).median()
    out = np.full(len(s.grid) * s.n_groups, np.nan)
    out[med.index.to_numpy()] = med.to_numpy()
    return out.reshape(len(s.grid), s.n_groups)


def _median_keys(s: Scope, term: Term) -> tuple[np.ndarray, np.ndarray]:
    """The ``(period, group)`` key and the value of each row of a median, once per span it is in."""
    assert isinstance(term, Events)
    value = as_weights(term.weights, len(term.pos))
    if s.spans.single and term.opening is None:  # a row in its own period only: no copies
        ok = (term.pos >= 0) & term.where & ~np.isnan(value)
        return term.pos[ok] * s.n_groups + term.codes[ok].astype(np.int64, copy=False), value[ok]
    row, k = term.placed()
    value = value[row]
    ok = ~np.isnan(value)
    return k[ok] * s.n_groups + term.codes[row[ok]].astype(np.int64, copy=False), value[ok]


def median_rows(s: Scope, term: Term) -> pd.DataFrame:
    """A median's ``(period, group)`` key and value per row, a row once in each span it is in.

    The Dask executor gathers each key's rows from the units and takes their median.
    """
    key, value = _median_keys(s, term)
    return pd.DataFrame({"key": key, "value": value})


def evaluate(formula: Formula) -> pd.DataFrame | Subtotal:
    """The KPI's tidy frame (or, on a unit of Dask data, its :class:`Subtotal`)."""
    s, kind = formula.scope, formula.kind
    shape = (len(s.grid), s.n_groups)
    if kind == "median":
        if s.subtotals:
            nan = np.full(shape, np.nan)
            return Subtotal("median", nan, nan, np.bincount(s.codes, minlength=s.n_groups),
                            rows=median_rows(s, formula.numerator[0]))
        nan = np.full(shape, np.nan)
        return tidy_result(s, nan, nan, _medians(s, formula.numerator[0]))
    num, den = formula.arrays()
    if kind == "difference":
        share = _ratio(num, den, formula.scale)
        if formula.defined is not None:
            share = np.where(formula.defined, share, np.nan)
        nan = np.full(shape, np.nan)
        return tidy_result(s, nan, nan, share - shift(share, s.spans.lag))
    if formula.defined is not None:
        num = np.where(formula.defined, num, np.nan)
        den = np.where(formula.defined, den, np.nan)
    if kind in ("count", "sum", "rank"):
        den = np.ones(shape)  # by convention, defined or not
    if s.subtotals:
        seen = np.bincount(s.codes, minlength=s.n_groups)
        kind_of_sum = "ratio" if kind == "ratio" else "count"
        return Subtotal(kind_of_sum, num, den, seen, formula.scale)
    value = _ratio(num, den, formula.scale) if kind == "ratio" else num
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
def period_rows(formula: Formula, k: int) -> pd.DataFrame:
    """The rows behind the value at grid position ``k``, one per entity and period they come from.

    Columns: ``back`` (0 for P, 1 for P-1), ``table``, the table's id columns,
    the columns that decide the row, ``code`` (the group),
    ``in_numerator``, ``in_denominator``, ``numerator_weight``,
    ``denominator_weight`` (and ``hours`` for a median).
    """
    s = formula.scope
    sides = (("numerator", formula.numerator), ("denominator", formula.denominator))
    terms = [(side, term) for side, group in sides for term in group]
    if formula.kind == "difference":  # the share's rows of P-1 as well
        terms += [(side, Shifted(term)) for side, term in list(terms)]
    found = []
    for side, term in terms:
        rows = term.rows(k)
        if formula.defined is not None:
            rows = rows[_defined_at(formula, k - term.back, rows["code"])]
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
    if formula.kind in ("count", "sum", "rank"):
        merged["denominator_weight"] = 0.0
    if formula.kind == "median":
        merged["hours"] = merged["numerator_weight"]
        merged["numerator_weight"] = np.nan
        merged["denominator_weight"] = np.nan
        merged["in_denominator"] = True
    shown_rows = []
    for frame_id, group in merged.groupby("frame", sort=False):
        frame = frames[frame_id]
        table = group["table"].iloc[0]
        own = formula.show if table == s.table else _SHOW.get(table, ())
        show = [c for c in (*_ids(table), *own) if c in frame.columns]
        shown = frame.iloc[group["row"].to_numpy()][show].reset_index(drop=True)
        shown_rows.append(pd.concat([group.drop(columns=["frame", "row"]).reset_index(drop=True),
                                     shown], axis=1))
    if not shown_rows:
        show = [c for c in (*_ids(s.table), *formula.show) if c in s.frame.columns]
        empty = merged.drop(columns=["frame", "row"])
        return pd.concat([empty, s.frame.iloc[:0][show].reset_index(drop=True)], axis=1)
    return pd.concat(shown_rows, ignore_index=True)


_SHOW = {"deals": ("account_id", "stage", "closed_on", "amount"),
         "market": ("revenue",)}
"""Columns shown for the rows of a table other than the KPI's own (market KPIs' deals)."""


def _ids(table: str) -> list[str]:
    """The key columns that name a row of ``table`` (the detail's own ``period`` names the period)."""
    return [c for c in KEYS.get(table, ()) if c != "period"]


def _defined_at(formula: Formula, k: int, codes: pd.Series) -> np.ndarray:
    if k < 0:
        return np.zeros(len(codes), dtype=bool)
    return formula.defined[k][codes.to_numpy(dtype=np.int64)]


# -- the pandas executor ------------------------------------------------------------------------
def scope_for(spec: KpiSpec, data: CrmData, kwargs: dict[str, Any], *,
              whole: WholeFacts | None = None, cache: dict | None = None) -> Scope:
    """The scope a KPI's declaration runs on."""
    reads = list(spec.reads)
    if spec.any_of:
        present = [t for t in spec.any_of if getattr(data, t) is not None]
        reads += present or list(spec.any_of[:1])  # none loaded: ask for the first
    check_by(spec, kwargs.get("by"))
    check_needs(spec, data)
    return Scope(data, spec.name, spec.table, Request.of(kwargs), reads=reads, whole=whole,
                 cache=cache)


def run_spec(spec: KpiSpec, data: CrmData, kwargs: dict[str, Any], *,
             whole: WholeFacts | None = None, cache: dict | None = None) -> Formula:
    """Run a KPI's declaration: its :class:`Formula` on ``data``."""
    s = scope_for(spec, data, kwargs, whole=whole, cache=cache)
    own = {k: v for k, v in kwargs.items() if k not in COMMON}
    return spec.declare(s, **own)


def detail_frame(formula: Formula, period: pd.Period, by: list[str]) -> pd.DataFrame:
    """The rows behind ``period``'s value, with ``period`` and the ``by`` labels."""
    s = formula.scope
    k = (period - s.grid.periods[0]).n if len(s.grid) else -1
    if not 0 <= k < len(s.grid):
        rows = period_rows(formula, -1).iloc[:0]
    else:
        rows = period_rows(formula, k)
    rows.insert(0, "period", pd.Series([period] * len(rows), dtype=pd.PeriodDtype(period.freq)))
    if formula.kind == "difference" or any(t.back for t in formula.numerator + formula.denominator):
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
    """Runs KPIs on :class:`~repkpi.io.loading.CrmData` in this process.

    Parameters
    ----------
    threads : int, optional
        How many calls of a batch run side by side
        (:func:`~repkpi._threads.thread_map`; None: its default). 1 by
        default: on a 2-core machine shared with other jobs the KPIs gained
        nothing on threads, and lost at 400k accounts (BENCHMARKS.md, issue 23).
    """

    def __init__(self, *, threads: int | None = 1) -> None:
        self.threads = threads

    def run(self, data: CrmData, calls: Sequence[Call], *,
            cache: dict | None = None) -> list[pd.DataFrame | RepkpiError]:
        """Each call's result (the KPIs share grids and groups), or its expected error.

        On several threads, each call reads the data and builds its own
        arrays, and a grid or group shared with another call is made once
        (:meth:`~repkpi.kpis.declaration.Scope.shared`). ``cache``: the
        shared values of earlier batches on the same data (None: this batch's
        own), e.g. a run's tickets' deadlines made once for every grouping.
        """
        cache = {} if cache is None else cache

        def one(call: Call) -> pd.DataFrame | RepkpiError:
            name, kwargs = call
            try:
                return evaluate(run_spec(KPIS[name], data, kwargs, cache=cache))
            except EXPECTED as exc:
                return exc

        return thread_map(one, calls, threads=self.threads)

    def prefetch(self, data: CrmData, calls: Sequence[Call]) -> None:
        """Nothing to do: each KPI on pandas data is computed when asked for."""

    def detail(self, data: CrmData, spec: KpiSpec, kwargs: dict[str, Any], period: pd.Period, *,
               cache: dict | None = None) -> pd.DataFrame:
        """The rows behind ``period``'s value (``cache``: as for :meth:`run`)."""
        formula = run_spec(spec, data, kwargs, cache=cache)
        return detail_frame(formula, period, normalise_by(kwargs.get("by")))

    def gather(self, data: CrmData, wanted: Mapping[str, Any]) -> dict[str, Any]:
        """``wanted`` as it is: pandas data is in memory already."""
        return dict(wanted)

    def by_account(self, data: CrmData, tables: Mapping[str, Any], rows: pd.DataFrame,
                   function: Callable[[dict[str, pd.DataFrame], pd.DataFrame], pd.DataFrame],
                   ) -> list[pd.DataFrame]:
        """One part: every account, ``function`` on the tables as they are."""
        return [function(dict(tables), rows)]


EXECUTORS: dict[type, Executor] = {CrmData: PandasExecutor()}
"""What :func:`~repkpi.kpis.registry.register_default_executors` registers: loaded data's executor."""
