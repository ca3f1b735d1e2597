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
    """
    if isinstance(data, SharedResults) or executor_for(data).batches:
        return data
    shared = SharedResults.__new__(SharedResults)
    shared.__dict__.update(data.__dict__)
    shared.results = {}
    return shared


class SharedExecutor(PandasExecutor):
    """:class:`~repkpi.kpis.engine.PandasExecutor` that looks up the data's kept results first."""

    batches = True

    def run(self, data: SharedResults, calls: Sequence[Call]) -> list[pd.DataFrame | RepkpiError]:
        """Each call's result (kept from an earlier call with the same options), or its error."""
        keys = [call_key(call) for call in calls]
        todo = {key: call for key, call in zip(keys, calls, strict=True)
                if key not in data.results}
        if todo:
            found = super().run(data, list(todo.values()))
            data.results.update(zip(todo, found, strict=True))
        return [_copy(data.results[key]) for key in keys]

    def prefetch(self, data: SharedResults, calls: Sequence[Call]) -> None:
        """Compute every call not kept yet, in one run."""
        self.run(data, calls)


def _copy(result: pd.DataFrame | RepkpiError) -> pd.DataFrame | RepkpiError:
    return result.copy() if isinstance(result, pd.DataFrame) else result


register_executor(SharedResults, SharedExecutor())
