"""repkpi: the KPIs of a customer-representative team, from CRM exports.

>>> import repkpi
>>> data = repkpi.load(repkpi.sample_path())
>>> sorted(data.tables)[:3]
['accounts', 'activities', 'contracts']
"""

from __future__ import annotations

from repkpi import forecast, kpis, whatif
from repkpi.attention import needs_attention
from repkpi.checks import check
from repkpi.cohorts import cohorts
from repkpi.datasets.shipped import load_sample, sample_path
from repkpi.errors import (
    AbsentColumnError,
    ColumnNotFoundError,
    DataFileError,
    DataValidationError,
    FitError,
    GoalsError,
    HistoryError,
    MissingColumnError,
    MissingTableError,
    OptionError,
    PathNotFoundError,
    RepkpiError,
)
from repkpi.explain import explain
from repkpi.goals import DEFAULT_GOALS, Goal, latest_complete_period, load_goals, scorecard
from repkpi.io.loading import TABLES, CrmData, load
from repkpi.kpis import KPIS, compute, detail
from repkpi.outliers import outliers

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """Import ``repkpi.plot``, ``repkpi.report`` (matplotlib) and ``repkpi.review`` on first use."""
    if name in ("plot", "report", "review"):
        import importlib

        return importlib.import_module(f"repkpi.{name}")
    raise AttributeError(f"module 'repkpi' has no attribute {name!r}")

__all__ = [
    "KPIS",
    "TABLES",
    "DEFAULT_GOALS",
    "AbsentColumnError",
    "ColumnNotFoundError",
    "CrmData",
    "DataFileError",
    "DataValidationError",
    "FitError",
    "Goal",
    "GoalsError",
    "HistoryError",
    "MissingColumnError",
    "MissingTableError",
    "OptionError",
    "PathNotFoundError",
    "RepkpiError",
    "__version__",
    "check",
    "cohorts",
    "compute",
    "detail",
    "explain",
    "forecast",
    "kpis",
    "latest_complete_period",
    "load",
    "load_goals",
    "load_sample",
    "needs_attention",
    "outliers",
    "plot",
    "report",
    "review",
    "sample_path",
    "scorecard",
    "whatif",
]
