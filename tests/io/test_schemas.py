"""Every rule of the data model (spec/data-model.md), one failing row at a time.

Each case is a tiny CSV file written out literally; the expected failures
(table, 1-based data row, column, check, offending value) are worked out by
hand from the spec. Rows that sit on a boundary the spec allows (``end_date ==
start_date``, a score of 1 or 5, ...) are mixed in and must not be reported.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest

import repkpi
from repkpi.io.rules import REPORTED_AGAINST, SCHEMAS
from repkpi.schemas import COLUMNS

# The check names a report uses, per rule of the data model.
REQUIRED = "required: a value must be present"
UNIQUE = "unique: the value appears more than once"
UNIQUE_MARKET = "unique: (period, region, company) appears more than once"
NON_NEGATIVE = "range: a non-negative amount"
CSAT_RANGE = "range: between 1 and 5"
NPS_RANGE = "range: between 0 and 10"
STAGE = "allowed: one of open, won, lost"
DEAL_TYPE = "allowed: one of new_business, cross_sell, upsell, renewal"
CHANNEL = "allowed: one of direct, partner"
PRIORITY = "allowed: one of urgent, high, normal, low"
PERIOD_FORMAT = "format: a quarter like 2026Q3 or a month like 2026-07"
GRANULARITY = "rule: one granularity per file, as the first valid period"
CHURNED_AFTER = "rule: churned_on > customer_since"
END_AFTER = "rule: end_date >= start_date"
CLOSED_REQUIRED = "rule: closed_on required when stage is won or lost"
CLOSED_AFTER = "rule: closed_on >= created_on"
FIRST_RESPONSE_AFTER = "rule: first_response_at >= opened_at"
RESOLVED_AFTER = "rule: resolved_at >= opened_at"
CSAT_OR_NPS = "rule: csat or nps present"
LEFT_AFTER = "rule: left_on > hired_on"
DATE = "type: a date YYYY-MM-DD"
TIMESTAMP = "type: an ISO 8601 timestamp"
NUMBER = "type: a number"
WHOLE = "type: a whole number"
NOT_IN_ACCOUNTS = "reference: account_id not in accounts"


@pytest.fixture
def load_one(folder, failures_of):
    """Load one table from CSV text in strict mode; return its failures ([] when valid)."""

    def run(table: str, text: str) -> list:
        try:
            data = repkpi.load(folder(**{table: text}))
        except repkpi.DataValidationError as exc:
            return failures_of(exc.report)
        assert len(data.rejects) == 0
        return []

    return run


RULES = [
    # ---- unique, not-empty ids, in every table that has one ----
    pytest.param("accounts", """
        account_id,customer_since
        A1,2024-01-15
        A2,2024-02-01
        A1,2024-03-01
        """, [("accounts", 1, "account_id", UNIQUE, "A1"),
              ("accounts", 3, "account_id", UNIQUE, "A1")], id="accounts-duplicate-id"),
    pytest.param("contracts", """
        contract_id,account_id,start_date,end_date,annual_value
        C1,A1,2024-01-01,2024-12-31,1200
        C1,A2,2024-01-01,2024-12-31,900
        """, [("contracts", 1, "contract_id", UNIQUE, "C1"),
              ("contracts", 2, "contract_id", UNIQUE, "C1")], id="contracts-duplicate-id"),
    pytest.param("deals", """
        deal_id,account_id,created_on,stage,amount,deal_type,channel
        D1,A1,2024-01-10,open,500,new_business,direct
        D2,A1,2024-01-11,open,700,upsell,partner
        D2,A2,2024-01-12,open,300,cross_sell,direct
        """, [("deals", 2, "deal_id", UNIQUE, "D2"),
              ("deals", 3, "deal_id", UNIQUE, "D2")], id="deals-duplicate-id"),
    pytest.param("tickets", """
        ticket_id,account_id,opened_at,priority
        T1,A1,2024-03-01T09:00:00Z,normal
        T1,A2,2024-03-02T09:00:00Z,high
        """, [("tickets", 1, "ticket_id", UNIQUE, "T1"),
              ("tickets", 2, "ticket_id", UNIQUE, "T1")], id="tickets-duplicate-id"),
    pytest.param("surveys", """
        response_id,account_id,responded_at,csat,nps
        R7,A1,2024-03-01T09:00:00Z,5,
        R7,A2,2024-03-02T09:00:00Z,,9
        """, [("surveys", 1, "response_id", UNIQUE, "R7"),
              ("surveys", 2, "response_id", UNIQUE, "R7")], id="surveys-duplicate-id"),
    pytest.param("activities", """
        activity_id,account_id,occurred_on
        E1,A1,2024-03-01
        E1,A1,2024-03-02
        """, [("activities", 1, "activity_id", UNIQUE, "E1"),
              ("activities", 2, "activity_id", UNIQUE, "E1")], id="activities-duplicate-id"),
    pytest.param("reps", """
        rep_id,hired_on
        U1,2023-01-02
        U2,2023-02-01
        U1,2023-05-01
        """, [("reps", 1, "rep_id", UNIQUE, "U1"),
              ("reps", 3, "rep_id", UNIQUE, "U1")], id="reps-duplicate-id"),
    pytest.param("accounts", """
        account_id,customer_since
        A1,2024-01-15
        ,2024-02-01
        """, [("accounts", 2, "account_id", REQUIRED, None)], id="accounts-empty-id"),
    pytest.param("contracts", """
        contract_id,account_id,start_date,end_date,annual_value
        ,A1,2024-01-01,2024-12-31,1200
        """, [("contracts", 1, "contract_id", REQUIRED, None)], id="contracts-empty-id"),
    pytest.param("deals", """
        deal_id,account_id,created_on,stage,amount,deal_type,channel
        D1,A1,2024-01-10,open,500,new_business,direct
        ,A1,2024-01-11,open,700,upsell,partner
        """, [("deals", 2, "deal_id", REQUIRED, None)], id="deals-empty-id"),
    pytest.param("tickets", """
        ticket_id,account_id,opened_at,priority
        ,A1,2024-03-01T09:00:00Z,normal
        """, [("tickets", 1, "ticket_id", REQUIRED, None)], id="tickets-empty-id"),
    pytest.param("surveys", """
        response_id,account_id,responded_at,csat,nps
        R1,A1,2024-03-01T09:00:00Z,5,
        ,A1,2024-03-01T09:00:00Z,4,
        """, [("surveys", 2, "response_id", REQUIRED, None)], id="surveys-empty-id"),
    pytest.param("activities", """
        activity_id,account_id,occurred_on
        ,A1,2024-03-01
        """, [("activities", 1, "activity_id", REQUIRED, None)], id="activities-empty-id"),
    pytest.param("reps", """
        rep_id,hired_on
        ,2023-01-02
        """, [("reps", 1, "rep_id", REQUIRED, None)], id="reps-empty-id"),
    # ---- other required (non-?) columns left empty ----
    # An account with no customer_since is a prospect (data-model.md): a valid row.
    pytest.param("accounts", """
        account_id,customer_since
        A1,
        """, [], id="accounts-prospect"),
    pytest.param("contracts", """
        contract_id,account_id,start_date,end_date,annual_value
        C1,,2024-01-01,2024-12-31,1200
        C2,A1,2024-01-01,2024-12-31,
        """, [("contracts", 1, "account_id", REQUIRED, None),
              ("contracts", 2, "annual_value", REQUIRED, None)], id="contracts-empty-account-and-value"),
    pytest.param("deals", """
        deal_id,account_id,created_on,stage,amount,deal_type,channel
        D1,A1,2024-01-10,,500,new_business,direct
        """, [("deals", 1, "stage", REQUIRED, None)], id="deals-empty-stage"),
    pytest.param("tickets", """
        ticket_id,account_id,opened_at,priority
        T1,A1,,normal
        """, [("tickets", 1, "opened_at", REQUIRED, None)], id="tickets-empty-opened_at"),
    pytest.param("market", """
        period,region,company,revenue
        2026Q3,EU,,100
        """, [("market", 1, "company", REQUIRED, None)], id="market-empty-company"),
    # ---- allowed values ----
    pytest.param("deals", """
        deal_id,account_id,created_on,stage,amount,deal_type,channel
        D1,A1,2024-01-10,open,500,new_business,direct
        D2,A1,2024-01-10,closed,500,new_business,direct
        D3,A1,2024-01-10,Open,500,new_business,direct
        """, [("deals", 2, "stage", STAGE, "closed"),
              ("deals", 3, "stage", STAGE, "Open")], id="deals-stage"),
    pytest.param("deals", """
        deal_id,account_id,created_on,stage,amount,deal_type,channel
        D1,A1,2024-01-10,open,500,renewal,direct
        D2,A1,2024-01-10,open,500,expansion,direct
        """, [("deals", 2, "deal_type", DEAL_TYPE, "expansion")], id="deals-deal_type"),
    pytest.param("deals", """
        deal_id,account_id,created_on,stage,amount,deal_type,channel
        D1,A1,2024-01-10,open,500,cross_sell,partner
        D2,A1,2024-01-10,open,500,cross_sell,online
        """, [("deals", 2, "channel", CHANNEL, "online")], id="deals-channel"),
    pytest.param("tickets", """
        ticket_id,account_id,opened_at,priority
        T1,A1,2024-03-01T09:00:00Z,urgent
        T2,A1,2024-03-01T09:00:00Z,critical
        T3,A1,2024-03-01T09:00:00Z,low
        """, [("tickets", 2, "priority", PRIORITY, "critical")], id="tickets-priority"),
    # ---- money is non-negative (0 is fine) ----
    pytest.param("contracts", """
        contract_id,account_id,start_date,end_date,annual_value
        C1,A1,2024-01-01,2024-12-31,0
        C2,A1,2024-01-01,2024-12-31,-1200
        """, [("contracts", 2, "annual_value", NON_NEGATIVE, "-1200")], id="contracts-negative-value"),
    pytest.param("deals", """
        deal_id,account_id,created_on,stage,amount,deal_type,channel
        D1,A1,2024-01-10,open,-0.01,new_business,direct
        D2,A1,2024-01-10,open,0.00,new_business,direct
        """, [("deals", 1, "amount", NON_NEGATIVE, "-0.01")], id="deals-negative-amount"),
    pytest.param("market", """
        period,region,company,revenue
        2026Q3,EU,Rival,0
        2026Q3,US,Rival,-5
        """, [("market", 2, "revenue", NON_NEGATIVE, "-5")], id="market-negative-revenue"),
    # ---- date order ----
    pytest.param("accounts", """
        account_id,customer_since,churned_on
        A1,2024-01-15,2024-01-16
        A2,2024-02-01,2024-02-01
        A3,2024-03-01,2024-02-29
        A4,2024-03-01,
        """, [("accounts", 2, "churned_on", CHURNED_AFTER, "2024-02-01"),
              ("accounts", 3, "churned_on", CHURNED_AFTER, "2024-02-29")], id="accounts-churned-after-since"),
    pytest.param("contracts", """
        contract_id,account_id,start_date,end_date,annual_value
        C1,A1,2024-01-01,2024-01-01,1200
        C2,A1,2024-01-01,2023-12-31,1200
        """, [("contracts", 2, "end_date", END_AFTER, "2023-12-31")], id="contracts-end-not-before-start"),
    pytest.param("deals", """
        deal_id,account_id,created_on,closed_on,stage,amount,deal_type,channel
        D1,A1,2024-01-10,2024-01-10,won,500,new_business,direct
        D2,A1,2024-01-10,2024-01-09,lost,500,new_business,direct
        """, [("deals", 2, "closed_on", CLOSED_AFTER, "2024-01-09")], id="deals-closed-not-before-created"),
    pytest.param("deals", """
        deal_id,account_id,created_on,closed_on,stage,amount,deal_type,channel
        D1,A1,2024-01-10,,open,500,new_business,direct
        D2,A1,2024-01-10,,won,500,renewal,direct
        D3,A1,2024-01-10,,lost,500,upsell,partner
        D4,A1,2024-01-10,2024-02-01,open,500,upsell,partner
        """, [("deals", 2, "closed_on", CLOSED_REQUIRED, None),
              ("deals", 3, "closed_on", CLOSED_REQUIRED, None)], id="deals-closed-required-when-won-or-lost"),
    pytest.param("deals", """
        deal_id,account_id,created_on,stage,amount,deal_type,channel
        D1,A1,2024-01-10,open,500,new_business,direct
        D2,A1,2024-01-10,won,500,new_business,direct
        """, [("deals", 2, "closed_on", CLOSED_REQUIRED, None)], id="deals-won-without-closed_on-column"),
    # 2024-03-01T11:30:00+02:00 is 09:30 UTC: earlier than the 10:00 UTC opening.
    pytest.param("tickets", """
        ticket_id,account_id,opened_at,first_response_at,resolved_at,priority
        T1,A1,2024-03-01T10:00:00Z,2024-03-01T10:00:00Z,2024-03-01T10:00:00Z,normal
        T2,A1,2024-03-01T10:00:00Z,2024-03-01T09:59:59Z,,high
        T3,A1,2024-03-01T10:00:00Z,2024-03-01T11:30:00+02:00,,low
        T4,A1,2024-03-01T12:00:00+02:00,2024-03-01T10:00:00,,low
        """, [("tickets", 2, "first_response_at", FIRST_RESPONSE_AFTER, "2024-03-01T09:59:59Z"),
              ("tickets", 3, "first_response_at", FIRST_RESPONSE_AFTER, "2024-03-01T11:30:00+02:00")],
        id="tickets-first-response-not-before-opened"),
    pytest.param("tickets", """
        ticket_id,account_id,opened_at,resolved_at,priority
        T1,A1,2024-03-01T10:00:00Z,2024-03-02T08:00:00Z,urgent
        T2,A1,2024-03-01T10:00:00Z,2024-02-29T23:00:00Z,urgent
        """, [("tickets", 2, "resolved_at", RESOLVED_AFTER, "2024-02-29T23:00:00Z")],
        id="tickets-resolved-not-before-opened"),
    pytest.param("reps", """
        rep_id,hired_on,left_on
        U1,2023-01-02,2023-01-03
        U2,2023-01-02,2023-01-02
        U3,2023-01-02,
        """, [("reps", 2, "left_on", LEFT_AFTER, "2023-01-02")], id="reps-left-after-hired"),
    # ---- survey scores ----
    pytest.param("surveys", """
        response_id,account_id,responded_at,csat,nps
        R1,A1,2024-03-01T09:00:00Z,1,
        R2,A1,2024-03-01T09:00:00Z,5,
        R3,A1,2024-03-01T09:00:00Z,0,
        R4,A1,2024-03-01T09:00:00Z,6,7
        """, [("surveys", 3, "csat", CSAT_RANGE, "0"),
              ("surveys", 4, "csat", CSAT_RANGE, "6")], id="surveys-csat-1-to-5"),
    pytest.param("surveys", """
        response_id,account_id,responded_at,csat,nps
        R1,A1,2024-03-01T09:00:00Z,,0
        R2,A1,2024-03-01T09:00:00Z,,10
        R3,A1,2024-03-01T09:00:00Z,,11
        R4,A1,2024-03-01T09:00:00Z,3,-1
        """, [("surveys", 3, "nps", NPS_RANGE, "11"),
              ("surveys", 4, "nps", NPS_RANGE, "-1")], id="surveys-nps-0-to-10"),
    pytest.param("surveys", """
        response_id,account_id,responded_at,csat,nps
        R1,A1,2024-03-01T09:00:00Z,4,
        R2,A1,2024-03-01T09:00:00Z,,
        R3,A1,2024-03-01T09:00:00Z,,8
        """, [("surveys", 2, "csat", CSAT_OR_NPS, None)], id="surveys-csat-or-nps"),
    pytest.param("surveys", """
        response_id,account_id,responded_at,nps
        R1,A1,2024-03-01T09:00:00Z,8
        R2,A1,2024-03-01T09:00:00Z,
        """, [("surveys", 2, "csat", CSAT_OR_NPS, None)], id="surveys-csat-or-nps-without-csat-column"),
    # ---- market ----
    pytest.param("market", """
        period,region,company,revenue
        2026Q3,EU,Rival,100
        2026Q5,EU,Other,100
        2026 Q3,US,Rival,100
        """, [("market", 2, "period", PERIOD_FORMAT, "2026Q5"),
              ("market", 3, "period", PERIOD_FORMAT, "2026 Q3")], id="market-quarter-format"),
    pytest.param("market", """
        period,region,company,revenue
        2026-07,EU,Rival,100
        2026-13,EU,Other,100
        2026-7,US,Rival,100
        """, [("market", 2, "period", PERIOD_FORMAT, "2026-13"),
              ("market", 3, "period", PERIOD_FORMAT, "2026-7")], id="market-month-format"),
    pytest.param("market", """
        period,region,company,revenue
        2026Q3,EU,Rival,100
        2026Q3,US,Rival,80
        2026-07,EU,Other,50
        """, [("market", 3, "period", GRANULARITY, "2026-07")], id="market-month-in-quarter-file"),
    pytest.param("market", """
        period,region,company,revenue
        2026-07,EU,Rival,100
        2026Q3,EU,Other,50
        2026-08,EU,Rival,100
        """, [("market", 2, "period", GRANULARITY, "2026Q3")], id="market-quarter-in-month-file"),
    # A malformed first period sets no granularity: only its own row fails.
    pytest.param("market", """
        period,region,company,revenue
        TBD,EU,Rival,100
        2026Q3,EU,Other,50
        2026Q4,EU,Rival,100
        """, [("market", 1, "period", PERIOD_FORMAT, "TBD")], id="market-malformed-first-period"),
    pytest.param("market", """
        period,region,company,revenue
        ,EU,Rival,100
        2026Q3,EU,Other,50
        """, [("market", 1, "period", REQUIRED, None)], id="market-empty-first-period"),
    # The (period, region, company) key is reported against each of its columns.
    pytest.param("market", """
        period,region,company,revenue
        2026Q3,EU,Rival,100
        2026Q3,US,Rival,80
        2026Q3,EU,Rival,120
        2026Q4,EU,Rival,90
        """, [("market", 1, "company", UNIQUE_MARKET, "Rival"),
              ("market", 1, "period", UNIQUE_MARKET, "2026Q3"),
              ("market", 1, "region", UNIQUE_MARKET, "EU"),
              ("market", 3, "company", UNIQUE_MARKET, "Rival"),
              ("market", 3, "period", UNIQUE_MARKET, "2026Q3"),
              ("market", 3, "region", UNIQUE_MARKET, "EU")], id="market-key-unique"),
    # ---- values that do not parse: one failure per cell, not also "required" ----
    pytest.param("accounts", """
        account_id,customer_since,churned_on
        A1,2024-02-30,
        A2,15/01/2024,
        A3,2024-01-15,soon
        A4,2024-01-15T10:00:00,
        """, [("accounts", 1, "customer_since", DATE, "2024-02-30"),
              ("accounts", 2, "customer_since", DATE, "15/01/2024"),
              ("accounts", 3, "churned_on", DATE, "soon"),
              ("accounts", 4, "customer_since", DATE, "2024-01-15T10:00:00")], id="unparseable-dates"),
    pytest.param("tickets", """
        ticket_id,account_id,opened_at,resolved_at,priority
        T1,A1,yesterday,,normal
        T2,A1,2024-03-01T10:00:00Z,2024-13-01T00:00:00Z,normal
        """, [("tickets", 1, "opened_at", TIMESTAMP, "yesterday"),
              ("tickets", 2, "resolved_at", TIMESTAMP, "2024-13-01T00:00:00Z")], id="unparseable-timestamps"),
    pytest.param("contracts", """
        contract_id,account_id,start_date,end_date,annual_value
        C1,A1,2024-01-01,2024-12-31,"1,200"
        C2,A1,2024-01-01,2024-12-31,12k
        C3,A1,2024-01-01,2024-12-31,1200.50
        """, [("contracts", 1, "annual_value", NUMBER, "1,200"),
              ("contracts", 2, "annual_value", NUMBER, "12k")], id="unparseable-money"),
    pytest.param("surveys", """
        response_id,account_id,responded_at,csat,nps
        R1,A1,2024-03-01T09:00:00Z,4.5,
        R2,A1,2024-03-01T09:00:00Z,good,9
        R3,A1,2024-03-01T09:00:00Z,4,nine
        """, [("surveys", 1, "csat", WHOLE, "4.5"),
              ("surveys", 2, "csat", WHOLE, "good"),
              ("surveys", 3, "nps", WHOLE, "nine")], id="unparseable-scores"),
]


@pytest.mark.parametrize(("table", "text", "expected"), RULES)
def test_each_rule_reports_the_failing_rows(load_one, table, text, expected):
    assert load_one(table, text) == sorted(expected)


BOUNDARIES = [
    pytest.param("accounts", """
        account_id,account_name,rep_id,region,segment,customer_since,churned_on
        A1,Acme,U1,EU,smb,2024-01-15,2024-01-16
        A2,,,,,2024-02-29,
        """, id="accounts-churned-the-next-day"),
    pytest.param("contracts", """
        contract_id,account_id,start_date,end_date,annual_value,renewal_of
        C1,A1,2024-01-01,2024-01-01,0,
        C2,A1,2024-01-02,2025-01-01,1200.5,C1
        """, id="contracts-one-day-term-and-zero-value"),
    pytest.param("deals", """
        deal_id,account_id,rep_id,created_on,closed_on,stage,amount,deal_type,channel
        D1,A1,U1,2024-01-10,2024-01-10,won,0,new_business,direct
        D2,A1,,2024-01-10,2024-03-01,lost,10,cross_sell,partner
        D3,A1,,2024-01-10,,open,10,upsell,direct
        D4,A1,,2024-01-10,,open,10,renewal,partner
        """, id="deals-closed-same-day-and-open-without-close"),
    pytest.param("tickets", """
        ticket_id,account_id,rep_id,opened_at,first_response_at,resolved_at,priority,kind
        T1,A1,U1,2024-03-01T10:00:00Z,2024-03-01T10:00:00Z,2024-03-01T10:00:00Z,urgent,complaint
        T2,A1,,2024-03-01T12:00:00+02:00,2024-03-01T10:00:00Z,,high,
        T3,A1,,2024-03-01T10:00:00,,,normal,question
        T4,A1,,2024-03-01T10:00:00,,2024-03-01T10:00:01,low,
        """, id="tickets-response-at-opening-across-offsets"),
    pytest.param("surveys", """
        response_id,account_id,rep_id,responded_at,csat,nps
        R1,A1,U1,2024-03-01T09:00:00Z,1,0
        R2,A1,,2024-03-01T09:00:00Z,5,10
        R3,A1,,2024-03-01T09:00:00Z,3,
        R4,A1,,2024-03-01T09:00:00Z,,7
        """, id="surveys-score-bounds-and-either-score"),
    pytest.param("activities", """
        activity_id,account_id,occurred_on,kind
        E1,A1,2024-03-01,webinar
        E2,A1,2024-03-01,
        """, id="activities-same-day"),
    pytest.param("market", """
        period,region,company,revenue
        2026Q3,EU,Rival,0
        2026Q3,US,Rival,10
        2026Q3,EU,Other,10
        2026Q4,EU,Rival,10
        """, id="market-quarters-distinct-keys"),
    pytest.param("market", """
        period,region,company,revenue
        2026-01,EU,Rival,1
        2026-12,EU,Rival,2
        """, id="market-months"),
    pytest.param("reps", """
        rep_id,name,team,region,hired_on,left_on
        U1,Ann,North,EU,2023-01-02,2023-01-03
        U2,,,,2023-01-02,
        """, id="reps-left-the-next-day"),
]


@pytest.mark.parametrize(("table", "text"), BOUNDARIES)
def test_values_on_the_allowed_boundary_are_valid(load_one, table, text):
    assert load_one(table, text) == []


@pytest.mark.parametrize("table", ["contracts", "deals", "tickets", "surveys", "activities"])
def test_account_id_must_exist_in_accounts(folder, failures_of, table):
    rows = {
        "contracts": """
            contract_id,account_id,start_date,end_date,annual_value
            X1,A1,2024-01-01,2024-12-31,100
            X2,A9,2024-01-01,2024-12-31,100
            """,
        "deals": """
            deal_id,account_id,created_on,stage,amount,deal_type,channel
            X1,A1,2024-01-10,open,500,new_business,direct
            X2,A9,2024-01-10,open,500,new_business,direct
            """,
        "tickets": """
            ticket_id,account_id,opened_at,priority
            X1,A1,2024-03-01T09:00:00Z,normal
            X2,A9,2024-03-01T09:00:00Z,normal
            """,
        "surveys": """
            response_id,account_id,responded_at,csat
            X1,A1,2024-03-01T09:00:00Z,5
            X2,A9,2024-03-01T09:00:00Z,5
            """,
        "activities": """
            activity_id,account_id,occurred_on
            X1,A1,2024-03-01
            X2,A9,2024-03-01
            """,
    }
    path = folder(accounts="""
        account_id,customer_since
        A1,2024-01-15
        A2,2024-02-01
        """, **{table: rows[table]})
    with pytest.raises(repkpi.DataValidationError) as info:
        repkpi.load(path)
    assert failures_of(info.value.report) == [(table, 2, "account_id", NOT_IN_ACCOUNTS, "A9")]

    # Without an accounts table there is nothing to check against.
    (path / "accounts.csv").unlink()
    data = repkpi.load(path)
    assert list(getattr(data, table)["account_id"]) == ["A1", "A9"]
    assert data.accounts is None


def test_rep_id_is_not_checked_against_reps(folder):
    data = repkpi.load(folder(
        accounts="""
            account_id,rep_id,customer_since
            A1,U9,2024-01-15
            """,
        reps="""
            rep_id,hired_on
            U1,2023-01-02
            """,
    ))
    # rep_id is not checked against reps: the data model states no such rule.
    assert list(data.accounts["rep_id"]) == ["U9"]


# ---- the pandera models themselves ----

REQUIRED_COLUMNS = {
    # data-model.md: customer_since (prospects), end_date (evergreen), amount, deal_type,
    # channel, and a ticket's account_id and priority may be empty or missing.
    "accounts": ["account_id"],
    "contracts": ["contract_id", "account_id", "start_date", "annual_value"],
    "deals": ["deal_id", "account_id", "created_on", "stage"],
    "tickets": ["ticket_id", "opened_at"],
    "surveys": ["response_id", "account_id", "responded_at"],
    "activities": ["activity_id", "account_id", "occurred_on"],
    "market": ["period", "region", "company", "revenue"],
    "reps": ["rep_id", "hired_on"],
    "ticket_events": ["ticket_id", "changed_at", "status"],
}
ALL_COLUMNS = {
    "accounts": ["account_id", "account_name", "rep_id", "region", "segment", "customer_since",
                 "churned_on"],
    "contracts": ["contract_id", "account_id", "start_date", "end_date", "annual_value", "renewal_of"],
    "deals": ["deal_id", "account_id", "rep_id", "created_on", "closed_on", "stage", "amount",
              "deal_type", "channel"],
    "tickets": ["ticket_id", "account_id", "rep_id", "opened_at", "first_response_at", "resolved_at",
                "priority", "kind"],
    "surveys": ["response_id", "account_id", "rep_id", "responded_at", "csat", "nps"],
    "activities": ["activity_id", "account_id", "occurred_on", "kind"],
    "market": ["period", "region", "company", "revenue"],
    "reps": ["rep_id", "name", "team", "region", "hired_on", "left_on"],
    "ticket_events": ["ticket_id", "changed_at", "status"],  # optional table, last
}


def test_one_model_per_table_with_the_spec_columns():
    assert sorted(SCHEMAS) == sorted(ALL_COLUMNS)
    assert repkpi.TABLES == tuple(ALL_COLUMNS)
    for table, columns in ALL_COLUMNS.items():
        assert [c.name for c in COLUMNS[table]] == columns, table
        assert [c.name for c in COLUMNS[table] if c.required] == REQUIRED_COLUMNS[table], table


def test_a_model_validates_an_already_typed_frame():
    deals = pd.DataFrame({
        "deal_id": pd.Series(["D1", "D2"], dtype="str"),
        "account_id": pd.Series(["A1", "A1"], dtype="str"),
        "rep_id": pd.Series([None, None], dtype="str"),
        "created_on": pd.to_datetime(["2024-01-10", "2024-01-10"]).as_unit("us"),
        "closed_on": pd.to_datetime(["2024-01-09", None]).as_unit("us"),
        "stage": pd.Series(["lost", "won"], dtype="str"),
        "amount": [100.0, 200.0],
        "deal_type": pd.Series(["renewal", "upsell"], dtype="str"),
        "channel": pd.Series(["direct", "partner"], dtype="str"),
    })
    with pytest.raises(pa.errors.SchemaErrors) as info:
        SCHEMAS["deals"].validate(deals, lazy=True)
    failed = info.value.failure_cases
    # Row 0 closed before it was created; row 1 is won without a close date. (A check
    # across columns lists its row once per column with a value, hence the set.) pandera
    # names each failed check by the message declared with it.
    assert set(zip(failed["index"], failed["check"], strict=True)) == {
        (0, CLOSED_AFTER),
        (1, CLOSED_REQUIRED),
    }


def test_every_check_declares_its_message():
    for table, schema in SCHEMAS.items():
        checks = [*schema.checks, *(c for column in schema.columns.values() for c in column.checks)]
        assert checks, table
        assert all(check.error for check in checks), table


def test_a_report_shows_the_message_declared_beside_the_check(load_one, monkeypatch):
    monkeypatch.setattr(SCHEMAS["deals"].columns["stage"].checks[0], "error",
                        "allowed: the stages the check declares")
    failures = load_one("deals", """
        deal_id,account_id,created_on,stage
        D1,A1,2024-01-10,pending
        """)
    assert failures == [("deals", 1, "stage", "allowed: the stages the check declares", "pending")]


def test_a_rule_across_columns_is_reported_against_its_declared_column():
    assert REPORTED_AGAINST["deals"] == {CLOSED_REQUIRED: "closed_on", CLOSED_AFTER: "closed_on"}
    assert REPORTED_AGAINST["surveys"] == {CSAT_OR_NPS: "csat"}
