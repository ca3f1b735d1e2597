"""Every KPI of the spec, one declaration each, with :func:`compute` and :func:`detail`.

Each KPI takes ``(data, /, *, freq="Q", by=None, start=None, end=None,
fiscal_year_start=1, **options)`` and returns a tidy frame: ``period``, one
column per ``by`` dimension, ``numerator``, ``denominator``, ``value``.
Everything known about a KPI is in its declaration, in the module of its
topic (see :mod:`repkpi.kpis.registry`); :data:`KPIS` (name -> the KPI's
:class:`KpiSpec`, which is its function), the names of this package and
:data:`UNITS` are read from the declarations.
"""

from __future__ import annotations

# The topic modules declare the KPIs. The executors are found by the lookup
# (repkpi.kpis.registry.executor_for), which loads the Dask one when first needed.
from repkpi.kpis import (  # noqa: F401
    contracts,
    customers,
    market,
    sales,
    satisfaction,
    service,
    team,
)
from repkpi.kpis.compute import compute
from repkpi.kpis.detail import detail
from repkpi.kpis.registry import KPIS, KpiSpec, SpecView, kpi

UNITS = SpecView("unit")
"""How each KPI's value reads: a count, a percent, money, hours, a score or a rank."""

globals().update(KPIS)  # repkpi.kpis.<name> for every declared KPI

__all__ = ["KPIS", "UNITS", "KpiSpec", "compute", "detail", "kpi", *sorted(KPIS)]
