"""Small hand-made data sets for the examples in the documentation.

Each function returns a :class:`~repkpi.CrmData` small enough that every KPI
on it can be worked out by hand.

>>> deals().deals.shape
(5, 9)
"""

from __future__ import annotations

import pandas as pd

from repkpi.io.loading import CrmData

__all__ = ["accounts", "contracts", "deals", "market", "reps", "surveys", "tickets"]


def accounts() -> CrmData:
    """The accounts used by the examples of :mod:`repkpi.kpis.customers`."""
    return CrmData(accounts=pd.DataFrame({
        "account_id": ["A1", "A2", "A3", "A4"],
        "region": ["north", "north", "south", "south"],
        "customer_since": ["2023-11-01", "2024-01-10", "2024-02-01", "2024-04-15"],
        "churned_on": [None, "2024-03-01", None, None]}))


def deals() -> CrmData:
    """The deals used by the examples of :mod:`repkpi.kpis.sales`."""
    return CrmData(deals=pd.DataFrame({
        "deal_id": ["D1", "D2", "D3", "D4", "D5"],
        "account_id": ["A1", "A2", "A2", "A3", "A3"],
        "created_on": ["2024-01-05", "2024-01-10", "2024-02-01", "2024-02-10", "2024-03-01"],
        "closed_on": ["2024-02-01", "2024-03-15", "2024-03-20", "2024-04-02", None],
        "stage": ["won", "won", "lost", "won", "open"],
        "amount": [60_000, 20_000, 5_000, 10_000, 70_000],
        "deal_type": ["new_business", "upsell", "cross_sell", "cross_sell", "new_business"],
        "channel": ["direct", "partner", "direct", "direct", "partner"]}))


def surveys() -> CrmData:
    """The surveys used by the examples of :mod:`repkpi.kpis.satisfaction`."""
    return CrmData(surveys=pd.DataFrame({
        "response_id": ["S1", "S2", "S3", "S4", "S5"],
        "account_id": ["A1", "A1", "A2", "A3", "A3"],
        "responded_at": ["2024-01-05T10:00:00Z", "2024-02-01T09:00:00Z",
                         "2024-03-31T23:30:00-02:00", "2024-02-10T08:00:00Z",
                         "2024-03-01T12:00:00Z"],
        "csat": [5, 3, 4, None, 4], "nps": [10, 6, 9, 8, None]}))


def reps() -> CrmData:
    """The reps used by the examples of :mod:`repkpi.kpis.team`."""
    return CrmData(reps=pd.DataFrame({
        "rep_id": ["R1", "R2", "R3"], "team": ["a", "a", "b"],
        "hired_on": ["2020-03-31", "2021-01-15", "2020-06-01"],
        "left_on": [None, None, "2023-06-30"]}))


def contracts() -> CrmData:
    """The contracts used by the examples of :mod:`repkpi.kpis.contracts`."""
    return CrmData(contracts=pd.DataFrame({
        "contract_id": ["C1", "C2", "C3", "C4"],
        "account_id": ["A1", "A1", "A2", "A2"],
        "start_date": ["2023-04-01", "2024-04-01", "2023-05-01", "2024-05-01"],
        "end_date": ["2024-03-31", "2025-03-31", "2024-04-30", "2025-04-30"],
        "annual_value": [1200.0, 1500.0, 1000.0, 400.0],
        "renewal_of": [None, "C1", None, None]}))


def tickets() -> CrmData:
    """The tickets used by the examples of :mod:`repkpi.kpis.service`."""
    return CrmData(tickets=pd.DataFrame({
        "ticket_id": ["T1", "T2", "T3", "T4"],
        "account_id": ["A1", "A1", "A2", "A2"],
        "opened_at": ["2024-03-01T08:00:00Z", "2024-03-02T08:00:00Z",
                      "2024-03-31T23:00:00-03:00", "2024-04-09T08:00:00Z"],
        "first_response_at": ["2024-03-01T09:00:00Z", "2024-03-02T12:00:00Z", None, None],
        "resolved_at": ["2024-03-01T11:00:00Z", "2024-03-06T08:00:00Z", None,
                        "2024-04-10T09:00:00Z"],
        "priority": ["urgent", "normal", "high", "low"],
        "kind": ["complaint", "question", "complaint", "question"]}))


def market() -> CrmData:
    """The market used by the examples of :mod:`repkpi.kpis.market`."""
    return CrmData(
        accounts=pd.DataFrame({"account_id": ["A1", "A2"], "region": ["north", "south"],
                               "customer_since": ["2023-01-01", "2023-01-01"]}),
        deals=pd.DataFrame({"deal_id": ["D1", "D2", "D3"], "account_id": ["A1", "A2", "A1"],
                            "created_on": "2024-01-02",
                            "closed_on": ["2024-02-01", "2024-03-01", "2024-05-01"],
                            "stage": "won", "amount": [300.0, 100.0, 200.0],
                            "deal_type": "new_business", "channel": "direct"}),
        market=pd.DataFrame({"period": ["2024Q1"] * 4 + ["2024Q2"] * 4,
                             "region": ["north", "north", "south", "south"] * 2,
                             "company": ["X", "Y"] * 4,
                             "revenue": [500.0, 200.0, 50.0, 50.0, 500.0, 300.0, 50.0, 50.0]}))
