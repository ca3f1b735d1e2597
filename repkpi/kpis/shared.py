"""One computation per KPI call: the results of a run kept on its data, for either engine.

:class:`SharedExecutor` wraps any executor: each call's result is kept on
the data (its ``results``, keyed by :func:`~repkpi.kpis.registry.call_key`),
and a second call with the same options (the scorecard's goal, then its
chart, then the team breakdown) gets a copy of the first result. The calls
asked for together in :meth:`SharedExecutor.prefetch` run in one batch,
sharing their grids and groups (on Dask, one pass over the data).

Dask data keeps its results for its whole life (its executor is a
:class:`SharedExecutor`); :func:`shared_results` wraps loaded pandas data for
one run (the report, the review), and returns Dask data as it is. Wrapped
pandas data also keeps what its KPIs share (grids, groups, the tickets'
deadlines: :meth:`~repkpi.kpis.declaration.Scope.shared`) from one batch to
the next: the grouped results of a report reuse those of its first batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from repkpi.errors import RepkpiError
from repkpi.io.loading import CrmData
from repkpi.kpis.pandas_engine import PandasExecutor
from repkpi.kpis.registry import (
    Call,
    Executor,
    KpiSpec,
    call_key,
    executor_for,
    normalise_by,
    register_executor,
)
from repkpi.periods import to_period

__all__ = ["CallExecutor", "CallResults", "SharedExecutor", "SharedResults", "shared_results"]

Result = pd.DataFrame | RepkpiError


class SharedResults(CrmData):
    """Loaded data whose KPI results are kept for the rest of the run (see the module).

    ``results`` holds each call's result; ``derived`` what the calls share
    (:meth:`~repkpi.kpis.declaration.Scope.shared`), for every batch on this data;
    ``details`` the rows of each :meth:`SharedExecutor.detail` call.
    """

    results: dict[str, Result]
    derived: dict
    details: dict[tuple[str, str, str], pd.DataFrame]

    def cut_at(self, day: Any) -> CallResults:
        """The data as it stood at the close of ``day`` (:meth:`CrmData.cut_at`), cut once a run.

        The cut keeps its KPI results call by call (:class:`CallResults`): the
        goals in progress compare with it a year back, in the review's
        scorecard and again in its goals in progress.
        """
        cut = CrmData.cut_at(self, day)
        kept = self.__dict__.setdefault("kept_cuts", {})
        if cut.as_of not in kept:
            kept[cut.as_of] = _wrapped(CallResults, cut)
        return kept[cut.as_of]


class CallResults(CrmData):
    """Loaded data whose KPI results are kept call by call, each over its own window.

    Unlike :class:`SharedResults` no call is widened to the data's whole
    span: a cut of the data reads a few periods only, and its span may hold
    no dates at all.
    """

    results: dict[str, Result]


def _wrapped(kind: type, data: CrmData) -> Any:
    """``data`` (not copied) as data of ``kind``, with no result kept yet."""
    out = kind.__new__(kind)
    out.__dict__.update(data.__dict__)
    out.results = {}
    if kind is SharedResults:
        out.derived = {}
        out.details = {}
    return out


def shared_results(data: Any) -> Any:
    """``data`` whose KPI results are kept: pandas data as a :class:`SharedResults` (not copied).

    Data whose executor keeps its results already (Dask data, a
    :class:`SharedResults`) is returned as it is.

    Examples
    --------
    >>> import repkpi
    >>> data = shared_results(repkpi.load_sample())
    >>> first = repkpi.kpis.csat(data, freq="Y")
    >>> second = repkpi.kpis.csat(data, freq="Y")
    >>> first.equals(second), len(data.results)
    (True, 1)
    >>> cut = repkpi.kpis.csat(data, freq="Y", end="2025")
    >>> cut.equals(first[first["period"] <= "2025"]), len(data.results)
    (True, 1)
    """
    if isinstance(executor_for(data), SharedExecutor):
        return data
    return _wrapped(SharedResults, data)


class SharedExecutor:
    """An executor that keeps each result on the data (its ``results``) and runs the others on ``inner``.

    A KPI's value in a period does not depend on the window asked for, so
    calls that differ only in ``start`` and ``end`` share one computation
    over the data's whole span, each cut to its own window. A window that
    ends after that span takes NA rows for the periods that begin after the
    data's as-of date, which every KPI result reports as NA (see
    :func:`~repkpi.kpis.registry.observed`); any other window beyond the
    span (a forward view) is computed on its own.

    Parameters
    ----------
    inner : Executor
        Runs what is not kept yet, and gives the rows of :meth:`detail` and
        the frames of :meth:`gather`.
    """

    def __init__(self, inner: Executor) -> None:
        self.inner = inner

    def run(self, data: Any, calls: Sequence[Call]) -> list[Result]:
        """Each call's result (cut from a kept one with the same options), or its error."""
        wide = [(name, {**kwargs, "start": None, "end": None}) for name, kwargs in calls]
        self._fill(data, wide)
        out: list[Result] = [None] * len(calls)  # type: ignore[list-item]
        alone = []
        for index, (call, whole) in enumerate(zip(calls, wide, strict=True)):
            found = _window(data.results[call_key(whole)], call, getattr(data, "as_of", None))
            if found is None:
                alone.append(index)
            else:
                out[index] = found
        self._fill(data, [calls[i] for i in alone])
        for index in alone:
            out[index] = _copy(data.results[call_key(calls[index])])
        return out

    def prefetch(self, data: Any, calls: Sequence[Call]) -> None:
        """Compute every call not kept yet, in one batch."""
        self.run(data, calls)

    def detail(self, data: Any, spec: KpiSpec, kwargs: dict[str, Any],
               period: pd.Period) -> pd.DataFrame:
        """The rows behind ``period``'s value, found by ``inner``; a copy of them on data of a run.

        Data wrapped by :func:`shared_results` keeps the rows of each call
        for the run: the report's attention lists and what each goal takes
        ask for the renewals due in the same quarter three times.
        """
        if not isinstance(data, SharedResults):
            return self.inner.detail(data, spec, kwargs, period)
        key = (call_key((spec.name, kwargs)), period.freqstr, str(period))
        if key not in data.details:
            data.details[key] = self.inner.detail(data, spec, kwargs, period, cache=data.derived)
        return data.details[key].copy()

    def gather(self, data: Any, wanted: Mapping[str, Any]) -> dict[str, Any]:
        """``wanted`` as pandas objects, gathered by ``inner``."""
        return self.inner.gather(data, wanted)

    def by_account(self, data: Any, tables: Mapping[str, Any], rows: pd.DataFrame,
                   function: Callable[[dict[str, pd.DataFrame], pd.DataFrame], pd.DataFrame],
                   ) -> list[pd.DataFrame]:
        """``function`` on parts of disjoint accounts, run by ``inner`` (results are not kept)."""
        return self.inner.by_account(data, tables, rows, function)

    def _fill(self, data: Any, calls: Sequence[Call]) -> None:
        todo = {call_key(call): call for call in calls}
        todo = {key: call for key, call in todo.items() if key not in data.results}
        if todo:
            found = (self.inner.run(data, list(todo.values()), cache=data.derived)
                     if isinstance(data, SharedResults) else self.inner.run(data, list(todo.values())))
            data.results.update(zip(todo, found, strict=True))


def _window(result: Result, call: Call, as_of: pd.Timestamp | None) -> Result | None:
    """``result`` (over the whole span) cut to the call's ``start`` and ``end``; None if it can't."""
    _, kwargs = call
    start, end = kwargs.get("start"), kwargs.get("end")
    if isinstance(result, RepkpiError) or (start is None and end is None):
        return _copy(result)
    if result.empty:
        return None
    periods = result["period"]
    pfreq = periods.iloc[0].freqstr
    fiscal = kwargs.get("fiscal_year_start")
    try:
        first = None if start is None else to_period(start, pfreq, fiscal_year_start=fiscal)
        last = None if end is None else to_period(end, pfreq, how="end", fiscal_year_start=fiscal)
    except RepkpiError:
        return None  # the KPI's own reading of the window gives the error
    if first is not None and first < periods.min():
        return None
    if last is not None and last > periods.max():
        result = _not_lived(result, last, normalise_by(kwargs.get("by")), as_of)
        if result is None:
            return None
        periods = result["period"]
    keep = pd.Series(True, index=result.index)
    if first is not None:
        keep &= periods >= first
    if last is not None:
        keep &= periods <= last
    return result[keep].reset_index(drop=True)


def _not_lived(result: pd.DataFrame, last: pd.Period, by: list[str],
               as_of: pd.Timestamp | None) -> pd.DataFrame | None:
    """``result`` extended to ``last`` by periods that begin after ``as_of``; None if it can't be.

    Their numerator, denominator and value are NA, as
    :func:`~repkpi.kpis.registry.observed` reports any period not yet lived,
    with one row per group as in the result's periods. None (the call is then
    computed) when ``as_of`` is unknown, a period to add begins on or before
    it, the result has columns other than its groups and the three values, or
    its periods do not all hold the same groups.
    """
    values = ["numerator", "denominator", "value"]
    if as_of is None or pd.isna(as_of) or list(result.columns) != ["period", *by, *values]:
        return None
    periods = result["period"]
    top = periods.max()
    extra = pd.period_range(top + 1, last, freq=top.freq)
    if extra.start_time.min() <= as_of.normalize():
        return None
    counts = periods.value_counts().to_numpy()
    if (counts != counts[0]).any():
        return None
    groups = result.loc[periods == top, by].reset_index(drop=True)
    added = pd.DataFrame({"period": extra.repeat(len(groups))})
    for column in by:
        added[column] = pd.concat([groups[column]] * len(extra), ignore_index=True)
    for column in values:
        if result[column].dtype.kind != "f":  # a value without a NaN of its own
            return None
        added[column] = pd.Series(np.nan, index=added.index).astype(result[column].dtype)
    return pd.concat([result, added], ignore_index=True)


class CallExecutor(SharedExecutor):
    """A :class:`SharedExecutor` that keeps each call's result as asked, window included."""

    def run(self, data: Any, calls: Sequence[Call]) -> list[Result]:
        """Each call's result (a copy of the kept one), or its error."""
        self._fill(data, calls)
        return [_copy(data.results[call_key(call)]) for call in calls]


def _copy(result: Result) -> Result:
    return result.copy() if isinstance(result, pd.DataFrame) else result


register_executor(SharedResults, SharedExecutor(PandasExecutor()))
register_executor(CallResults, CallExecutor(PandasExecutor()))
