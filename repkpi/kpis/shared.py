"""One computation per KPI call for a whole run: the report, its scorecard and its charts.

:func:`shared_results` wraps loaded data so that every KPI call on it is
computed once: a second call with the same options (the scorecard's goal,
then its chart, then the team breakdown) gets a copy of the first result.
The KPIs asked for together in :meth:`SharedExecutor.prefetch` are
computed in one run, sharing their grids and groups.

Dask data keeps its results already (:mod:`repkpi.kpis.dask`) and is
returned as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from repkpi.errors import RepkpiError
from repkpi.io.loading import CrmData
from repkpi.kpis.engine import PandasExecutor
from repkpi.kpis.registry import Call, call_key, executor_for, register_executor
from repkpi.periods import to_period

__all__ = ["SharedExecutor", "SharedResults", "shared_results"]


class SharedResults(CrmData):
    """Loaded data whose KPI results are kept for the rest of the run (see the module)."""

    results: dict[str, pd.DataFrame | RepkpiError]


def shared_results(data: Any) -> Any:
    """``data`` as a :class:`SharedResults` (the same tables, not copied).

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
    if isinstance(data, SharedResults) or executor_for(data).batches:
        return data
    shared = SharedResults.__new__(SharedResults)
    shared.__dict__.update(data.__dict__)
    shared.results = {}
    return shared


class SharedExecutor(PandasExecutor):
    """:class:`~repkpi.kpis.engine.PandasExecutor` that looks up the data's kept results first.

    A KPI's value in a period does not depend on the window asked for, so
    calls that differ only in ``start`` and ``end`` share one computation
    over the data's whole span, each cut to its own window; a window that
    reaches beyond that span (a forward view) is computed on its own.
    """

    batches = True

    def run(self, data: SharedResults, calls: Sequence[Call]) -> list[pd.DataFrame | RepkpiError]:
        """Each call's result (cut from a kept one with the same options), or its error."""
        wide = [(name, {**kwargs, "start": None, "end": None}) for name, kwargs in calls]
        self._fill(data, wide)
        out: list[pd.DataFrame | RepkpiError] = [None] * len(calls)  # type: ignore[list-item]
        alone = []
        for index, (call, whole) in enumerate(zip(calls, wide, strict=True)):
            found = _window(data.results[call_key(whole)], call)
            if found is None:
                alone.append(index)
            else:
                out[index] = found
        self._fill(data, [calls[i] for i in alone])
        for index in alone:
            out[index] = _copy(data.results[call_key(calls[index])])
        return out

    def prefetch(self, data: SharedResults, calls: Sequence[Call]) -> None:
        """Compute every call not kept yet, in one run."""
        self.run(data, calls)

    def _fill(self, data: SharedResults, calls: Sequence[Call]) -> None:
        todo = {call_key(call): call for call in calls}
        todo = {key: call for key, call in todo.items() if key not in data.results}
        if todo:
            found = super().run(data, list(todo.values()))
            data.results.update(zip(todo, found, strict=True))


def _window(result: pd.DataFrame | RepkpiError, call: Call) -> pd.DataFrame | RepkpiError | None:
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
    if (first is not None and first < periods.min()) or (last is not None and last > periods.max()):
        return None
    keep = pd.Series(True, index=result.index)
    if first is not None:
        keep &= periods >= first
    if last is not None:
        keep &= periods <= last
    return result[keep].reset_index(drop=True)


def _copy(result: pd.DataFrame | RepkpiError) -> pd.DataFrame | RepkpiError:
    return result.copy() if isinstance(result, pd.DataFrame) else result


register_executor(SharedResults, SharedExecutor())
