"""Every KPI of the spec, one function each, and :func:`compute` for all at once.

Each KPI takes ``(data, *, freq="Q", by=None, start=None, end=None,
fiscal_year_start=1, **options)`` and returns a tidy frame: ``period``, one
column per ``by`` dimension, ``numerator``, ``denominator``, ``value``.
"""

from __future__ import annotations

from repkpi.kpis._engine import KPIS, UNITS
from repkpi.kpis.compute import compute
from repkpi.kpis.contracts import (
    gross_revenue_retention,
    net_revenue_retention,
    renewal_rate,
    renewal_value_rate,
)
from repkpi.kpis.customers import (
    active_customers,
    churn_rate,
    engagement_rate,
    key_accounts,
    new_customer_growth,
    new_customers,
    retention_rate,
)
from repkpi.kpis.market import market_rank, market_share, market_share_delta
from repkpi.kpis.sales import (
    average_deal_size,
    cross_sell_rate,
    cross_sell_wins,
    large_deals,
    revenue,
    win_rate,
)
from repkpi.kpis.satisfaction import csat, csat_mean, nps
from repkpi.kpis.service import first_response_hours, resolution_hours, sla_compliance
from repkpi.kpis.team import senior_reps

__all__ = [
    "KPIS",
    "UNITS",
    "active_customers",
    "average_deal_size",
    "churn_rate",
    "compute",
    "cross_sell_rate",
    "cross_sell_wins",
    "csat",
    "csat_mean",
    "engagement_rate",
    "first_response_hours",
    "gross_revenue_retention",
    "key_accounts",
    "large_deals",
    "market_rank",
    "market_share",
    "market_share_delta",
    "net_revenue_retention",
    "new_customer_growth",
    "new_customers",
    "nps",
    "renewal_rate",
    "renewal_value_rate",
    "resolution_hours",
    "retention_rate",
    "revenue",
    "senior_reps",
    "sla_compliance",
    "win_rate",
]
