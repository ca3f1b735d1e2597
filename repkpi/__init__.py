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
from repkpi import kpis
from repkpi.kpis import KPIS, compute
from repkpi.loading import TABLES, CrmData, load
from repkpi.samples import load_sample, sample_path

__version__ = "0.1.0"

__all__ = [
    "KPIS",
    "TABLES",
    "ColumnNotFoundError",
    "CrmData",
    "DataFileError",
    "DataValidationError",
    "GoalsError",
    "MissingTableError",
    "OptionError",
    "RepkpiError",
    "__version__",
    "compute",
    "kpis",
    "load",
    "load_sample",
    "sample_path",
]
