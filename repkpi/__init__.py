"""repkpi: the KPIs of a customer-representative team, from CRM exports.

>>> import repkpi
>>> data = repkpi.load(repkpi.sample_path())
>>> sorted(data.tables)[:3]
['accounts', 'activities', 'contracts']
"""

from __future__ import annotations

from repkpi.errors import (
    ColumnNotFoundError,
    DataFileError,
    DataValidationError,
    GoalsError,
    MissingTableError,
    OptionError,
    RepkpiError,
)
from repkpi import kpis, whatif
from repkpi.kpis import KPIS, compute
from repkpi.goals import DEFAULT_GOALS, Goal, latest_complete_period, load_goals, scorecard
from repkpi.loading import TABLES, CrmData, load
from repkpi.samples import load_sample, sample_path

__version__ = "0.1.0"

__all__ = [
    "KPIS",
    "TABLES",
    "DEFAULT_GOALS",
    "ColumnNotFoundError",
    "CrmData",
    "DataFileError",
    "DataValidationError",
    "Goal",
    "GoalsError",
    "MissingTableError",
    "OptionError",
    "RepkpiError",
    "__version__",
    "compute",
    "kpis",
    "latest_complete_period",
    "load",
    "load_goals",
    "load_sample",
    "sample_path",
    "scorecard",
    "whatif",
]
