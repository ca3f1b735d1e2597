"""The data's as-of date and the period in progress, worked out by hand from spec/kpis.md
("Opening and closing state", "Complete periods") and spec/api.md ("Time").

- ``data.as_of`` is the latest date in the columns that record what has happened:
  customer_since, created_on, closed_on of a won or lost deal, opened_at, first_response_at,
  resolved_at, responded_at, occurred_on (a timestamp by its UTC date). Scheduled dates
  (contract dates, churned_on, hired_on, left_on, an open deal's expected close) do not count.
  ``CrmData(..., as_of=)`` / ``load(..., as_of=)`` declare it instead.
- Default results end at the period that holds as_of; ``end=`` beyond it is the forward view.
- That period is in progress unless as_of is its last day; in it, a state "at the end of P" is
  measured on as_of, and churn counts only the churns on or before as_of.
- Every result carries ``attrs["as_of"]`` and ``attrs["in_progress"]``.
"""

from __future__ import annotations

import pandas as pd
import pytest

import repkpi
from repkpi import kpis

nan = float("nan")


# -- what as_of is --------------------------------------------------------------------------------
# Recorded dates: customer_since 2024-01-15, 2024-03-10; created_on 2024-02-01, 03-01, 03-15;
# closed_on of the won D1 2024-04-20 and of the lost D2 2024-05-05. Scheduled: A1's churned_on
# 2024-11-01, the open D3's expected close 2024-12-15, the contract 2024-01-15 .. 2026-12-31, the rep
# hired 2024-09-01. So as_of = 2024-05-05.
RECORDED = {
    "accounts": {"account_id": ["A1", "A2"], "customer_since": ["2024-01-15", "2024-03-10"],
                 "churned_on": ["2024-11-01", None]},
    "deals": {"account_id": ["A1", "A2", "A2"], "created_on": ["2024-02-01", "2024-03-01", "2024-03-15"],
              "closed_on": ["2024-04-20", "2024-05-05", "2024-12-15"], "stage": ["won", "lost", "open"]},
    "contracts": {"account_id": ["A1"], "start_date": ["2024-01-15"], "end_date": ["2026-12-31"]},
    "reps": {"rep_id": ["R1"], "hired_on": ["2024-09-01"]},
}


def test_as_of_ignores_scheduled_dates(loaded):
    data = loaded(**RECORDED)
    assert data.as_of == pd.Timestamp("2024-05-05")


def test_as_of_reads_a_timestamp_by_its_utc_date(loaded):
    # A ticket resolved at 23:30 on 6 May at -02:00, that is 01:30 on 7 May UTC: as_of = 2024-05-07.
    data = loaded(**RECORDED, tickets={"account_id": ["A1"], "opened_at": ["2024-05-01T08:00:00Z"],
                                    "resolved_at": ["2024-05-06T23:30:00-02:00"]})
    assert data.as_of == pd.Timestamp("2024-05-07")


@pytest.mark.parametrize("declared", ["2024-06-30", "2024-04-30"])
def test_a_declared_as_of_wins(loaded, declared):
    # Later or earlier than the recorded 2024-05-05, the declared date is the data's as_of.
    assert loaded(**RECORDED, as_of=declared).as_of == pd.Timestamp(declared)


def test_load_declares_as_of(tmp_path):
    (tmp_path / "accounts.csv").write_text(
        "account_id,customer_since,churned_on\nA1,2024-01-15,2024-11-01\nA2,2024-03-10,\n",
        encoding="utf-8")
    assert repkpi.load(tmp_path).as_of == pd.Timestamp("2024-03-10")   # A2's customer_since
    assert repkpi.load(tmp_path, as_of="2024-06-30").as_of == pd.Timestamp("2024-06-30")


# Contracts alone record nothing: C1 2024-01-01 .. 2024-06-30, renewed by C2 2024-07-01 .. 2025-06-30.
RENEWED = {"contract_id": ["C1", "C2"], "account_id": ["A1", "A1"],
           "start_date": ["2024-01-01", "2024-07-01"], "end_date": ["2024-06-30", "2025-06-30"],
           "renewal_of": [None, "C1"]}


def test_no_recorded_dates_no_as_of_and_results_span_the_data(loaded, rows, expect):
    data = loaded(contracts=RENEWED, reps={"rep_id": ["R1"], "hired_on": ["2020-01-01"]})
    assert data.as_of is None
    result = kpis.renewal_rate(data)
    # As before as_of: the grid runs over the contracts' dates, 2024Q1 .. 2025Q2.
    # due: C1 in 2024Q2 (renewed by C2), C2 in 2025Q2 (not renewed); other quarters 0/0.
    assert rows(result) == expect([
        ("2024Q1", 0, 0, nan), ("2024Q2", 1, 1, 1.0), ("2024Q3", 0, 0, nan), ("2024Q4", 0, 0, nan),
        ("2025Q1", 0, 0, nan), ("2025Q2", 0, 1, 0.0),
    ])
    assert result.attrs["as_of"] is None
    assert result.attrs["in_progress"] is None


# -- default results end at as_of's period ---------------------------------------------------------
# A1 customer since 2023-02-01; A2 since 2024-02-10. C1 (A1) 2023-02-01 .. 2024-01-31, renewed by C2
# 2024-02-01 .. 2025-01-31; C3 (A2) 2024-02-10 .. 2027-03-31. A won deal closed 2024-05-20 is the
# latest recorded date: as_of = 2024-05-20, in 2024Q2 (in progress). Contract dates run to 2027.
FORWARD = {
    "accounts": {"account_id": ["A1", "A2"], "customer_since": ["2023-02-01", "2024-02-10"]},
    "contracts": {"contract_id": ["C1", "C2", "C3"], "account_id": ["A1", "A1", "A2"],
                  "start_date": ["2023-02-01", "2024-02-01", "2024-02-10"],
                  "end_date": ["2024-01-31", "2025-01-31", "2027-03-31"],
                  "renewal_of": [None, "C1", None]},
    "deals": {"account_id": ["A2"], "closed_on": ["2024-05-20"]},
}


def test_default_results_end_at_the_as_of_period(loaded, rows, expect):
    data = loaded(**FORWARD)
    assert data.as_of == pd.Timestamp("2024-05-20")
    # From the first quarter of the contracts' dates (2023Q1) to as_of's (2024Q2); no row after it.
    # due: C1 (ends 2024-01-31, in 2024Q1), renewed by C2. C2 and C3 are due after 2024Q2.
    assert rows(kpis.renewal_rate(data)) == expect([
        ("2023Q1", 0, 0, nan), ("2023Q2", 0, 0, nan), ("2023Q3", 0, 0, nan), ("2023Q4", 0, 0, nan),
        ("2024Q1", 1, 1, 1.0), ("2024Q2", 0, 0, nan),
    ])


def test_end_beyond_as_of_is_not_observed(loaded, rows, expect):
    data = loaded(**FORWARD)
    result = kpis.renewal_rate(data, start="2024Q1", end="2027Q4")
    # C2 is due in 2025Q1 and C3 in 2027Q1, neither renewed yet: not a 0% renewal rate, but
    # periods not lived (NA). 2024Q2 holds as_of (2024-05-20): in progress, not after it.
    expected = [("2024Q1", 1, 1, 1.0), ("2024Q2", 0, 0, nan)]
    after = pd.period_range("2024Q3", "2027Q4", freq="Q")
    expected += [(str(p), nan, nan, nan) for p in after]
    assert rows(result) == expect(expected)
    assert result.attrs["after_as_of"] == list(after)
    # Asking beyond as_of does not move as_of nor the period in progress.
    assert result.attrs["as_of"] == pd.Timestamp("2024-05-20")
    assert result.attrs["in_progress"] == pd.Period("2024Q2", "Q")


# -- a KPI whose own data stops before as_of ------------------------------------------------------
# Tickets (normal priority: 72 h) T1 opened 2024-04-10 09:00, resolved 15:00 (6 h, met); T2 opened
# 2024-05-20 10:00, resolved 05-25 10:00 (120 h, breached). Won deals: 1 000 on 2024-04-10, 500 on
# 2024-05-02. A survey response on 2024-07-15 is the latest recorded date: as_of = 2024-07-15.
SHORT = {
    "accounts": {"account_id": ["A1"], "customer_since": ["2024-01-02"]},
    "tickets": {"opened_at": ["2024-04-10T09:00:00Z", "2024-05-20T10:00:00Z"],
                "resolved_at": ["2024-04-10T15:00:00Z", "2024-05-25T10:00:00Z"]},
    "deals": {"closed_on": ["2024-04-10", "2024-05-02"], "amount": ["1000", "500"]},
    "surveys": {"responded_at": ["2024-07-15T12:00:00Z"], "csat": ["5"]},
}


def test_a_kpi_whose_data_stops_earlier_runs_to_as_of(loaded, rows, expect):
    data = loaded(**SHORT)
    assert data.as_of == pd.Timestamp("2024-07-15")
    # June and July: no ticket, no deal -> ratios 0/0 = NaN, sums 0, medians NaN.
    assert rows(kpis.sla_compliance(data, freq="M")) == expect([
        ("2024-04", 1, 1, 1.0), ("2024-05", 0, 1, 0.0), ("2024-06", 0, 0, nan), ("2024-07", 0, 0, nan),
    ])
    assert rows(kpis.revenue(data, freq="M")) == expect([
        ("2024-04", 1000, 1, 1000), ("2024-05", 500, 1, 500), ("2024-06", 0, 1, 0), ("2024-07", 0, 1, 0),
    ])
    assert rows(kpis.resolution_hours(data, freq="M"), ["period", "value"]) == expect([
        ("2024-04", 6.0), ("2024-05", 120.0), ("2024-06", nan), ("2024-07", nan),
    ])


# -- attrs -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("as_of", "freq", "fiscal_year_start", "in_progress"),
    [
        ("2024-05-20", "Q", 1, pd.Period("2024Q2", "Q")),
        ("2024-05-20", "M", 1, pd.Period("2024-05", "M")),
        ("2024-05-20", "Y", 1, pd.Period("2024", "Y")),
        # Fiscal years from April: 2024-05-20 is in FY2025 Q1 (April-June 2024).
        ("2024-05-20", "Q", 4, pd.Period("2025Q1", "Q-MAR")),
        # as_of on a month's last day: the month is complete, the quarter is not.
        ("2024-05-31", "M", 1, None),
        ("2024-05-31", "Q", 1, pd.Period("2024Q2", "Q")),
        # on a quarter's last day: nothing in progress but the year.
        ("2024-06-30", "Q", 1, None),
        ("2024-06-30", "M", 1, None),
        ("2024-06-30", "Y", 1, pd.Period("2024", "Y")),
        ("2024-12-31", "Y", 1, None),
    ],
)
def test_attrs_as_of_and_in_progress(loaded, as_of, freq, fiscal_year_start, in_progress):
    # The customers' own dates end on 2024-03-10; the declared as_of sets the last period.
    data = loaded(accounts={"customer_since": ["2024-01-15", "2024-03-10"],
                            "churned_on": [None, None]}, as_of=as_of)
    options = {"freq": freq, "fiscal_year_start": fiscal_year_start}
    for result in (kpis.new_customers(data, **options), kpis.active_customers(data, **options),
                   repkpi.compute(data, ["new_customers", "churn_rate"], **options)):
        assert result.attrs["as_of"] == pd.Timestamp(as_of)
        if in_progress is None:
            assert result.attrs["in_progress"] is None
        else:
            assert result.attrs["in_progress"] == in_progress
            assert result.attrs["in_progress"].freqstr == in_progress.freqstr
        # The last row is as_of's period, in progress or not.
        assert result["period"].iloc[-1] == pd.Timestamp(as_of).to_period(result["period"].dtype.freq)


def test_attrs_of_recorded_as_of(loaded):
    data = loaded(**RECORDED)   # as_of = 2024-05-05
    result = kpis.win_rate(data)
    assert result.attrs["as_of"] == pd.Timestamp("2024-05-05")
    assert result.attrs["in_progress"] == pd.Period("2024Q2", "Q")
    monthly = repkpi.compute(data, ["win_rate", "new_customers"], freq="M")
    assert monthly.attrs["as_of"] == pd.Timestamp("2024-05-05")
    assert monthly.attrs["in_progress"] == pd.Period("2024-05", "M")


# -- states of a period in progress ----------------------------------------------------------------
# as_of = 2024-05-15 (Z's customer_since): 2024Q2 and May are in progress.
#     K  since 2023-06-01  -
#     X  since 2023-06-01  churned 2024-05-20  (after as_of: not yet happened)
#     Y  since 2023-06-01  churned 2024-05-10  (before as_of)
#     Z  since 2024-05-15  -
IN_PROGRESS = {"account_id": ["K", "X", "Y", "Z"],
               "customer_since": ["2023-06-01", "2023-06-01", "2023-06-01", "2024-05-15"],
               "churned_on": [None, "2024-05-20", "2024-05-10", None]}


def test_states_of_a_quarter_in_progress_are_measured_on_as_of(loaded, rows, expect):
    data = loaded(accounts=IN_PROGRESS)
    assert data.as_of == pd.Timestamp("2024-05-15")
    q = {"start": "2024Q1"}
    # Q1 (complete): active on 03-31 K X Y. Q2: active on 05-15 K X Z (X leaves 05-20, after it).
    assert rows(kpis.active_customers(data, **q)) == expect([("2024Q1", 3, 1, 3), ("2024Q2", 3, 1, 3)])
    # Churn Q1: S = K X Y (on 12-31), C = none. Q2: S = K X Y (on 03-31), C = Y (05-10 <= 05-15);
    # X's churn on 05-20 has not happened.
    assert rows(kpis.churn_rate(data, **q)) == expect([("2024Q1", 0, 3, 0.0), ("2024Q2", 1, 3, 1 / 3)])
    # Retention Q2: E = K X Z (on 05-15), N = Z, S = 3 -> (3 - 1) / 3; cohort (3 - 1) / 3.
    assert rows(kpis.retention_rate(data, **q)) == expect([("2024Q1", 3, 3, 1.0), ("2024Q2", 2, 3, 2 / 3)])
    assert rows(kpis.retention_rate(data, method="cohort", **q)) == expect([
        ("2024Q1", 3, 3, 1.0), ("2024Q2", 2, 3, 2 / 3)])
    # May, monthly: S = K X Y (on 04-30), C = Y; active on 05-15 K X Z.
    m = {"freq": "M", "start": "2024-05"}
    assert rows(kpis.churn_rate(data, **m)) == expect([("2024-05", 1, 3, 1 / 3)])
    assert rows(kpis.active_customers(data, **m)) == expect([("2024-05", 3, 1, 3)])


def test_the_same_quarter_complete(loaded, rows, expect):
    # Declared as of 2024-06-30, 2024Q2 is complete: active on 06-30 K Z (X gone 05-20);
    # churn C = X Y of S = K X Y.
    data = loaded(accounts=IN_PROGRESS, as_of="2024-06-30")
    q = {"start": "2024Q2"}
    assert rows(kpis.active_customers(data, **q)) == expect([("2024Q2", 2, 1, 2)])
    assert rows(kpis.churn_rate(data, **q)) == expect([("2024Q2", 2, 3, 2 / 3)])


def test_engagement_in_a_quarter_in_progress(loaded, rows, expect):
    # as_of = 2024-07-01, the UTC date of A5's survey (23:30 on 06-30 at -02:00): 2024Q3 in progress.
    # Active on 07-01: A1 (since 2023-11-01), A4 (2024-05-15, leaves 08-01, after as_of), A5 (01-20);
    # engaged: A5 (its survey is in Q3) -> 1/3. On 2024Q3's last day it would be 1 of A1 A5.
    data = loaded(accounts={"account_id": ["A1", "A4", "A5"],
                         "customer_since": ["2023-11-01", "2024-05-15", "2024-01-20"],
                         "churned_on": [None, "2024-08-01", None]},
               surveys={"account_id": ["A5"], "responded_at": ["2024-06-30T23:30:00-02:00"], "csat": ["5"]})
    assert data.as_of == pd.Timestamp("2024-07-01")
    assert rows(kpis.engagement_rate(data, start="2024Q3")) == expect([("2024Q3", 1, 3, 1 / 3)])


def test_key_accounts_and_senior_reps_in_a_quarter_in_progress(loaded, rows, expect):
    # as_of = 2024-05-15 (K1's customer_since is older; the latest recorded date is A9's).
    # K1's won deal of 100 000 closed on 2023-06-10: in the window (as_of - 12 months, as_of] =
    # (2023-05-15, 2024-05-15], so K1 is a key account of 2024Q2 in progress; on 2024Q2's last day
    # the window (2023-06-30, 2024-06-30] would leave it out.
    # Reps (3 years): R0 hired 2015 (senior); R1 hired 2021-05-18, senior from 2024-05-18 > as_of: not
    # yet; R2 hired 2015, leaves 2024-06-01, still employed on as_of; R3 hired 2021-06-20, not yet.
    # Senior on 05-15: R0 R2 = 2 (on 06-30 it would be R0 R1 R3 = 3).
    accounts = {"account_id": ["K1", "A9"], "customer_since": ["2022-01-01", "2024-05-15"],
                "churned_on": [None, None]}
    deals = {"account_id": ["K1"], "created_on": ["2023-06-01"], "closed_on": ["2023-06-10"],
             "amount": ["100000"]}
    reps = {"rep_id": ["R0", "R1", "R2", "R3"],
            "hired_on": ["2015-01-01", "2021-05-18", "2015-01-01", "2021-06-20"],
            "left_on": [None, None, "2024-06-01", None]}
    data = loaded(accounts=accounts, deals=deals, reps=reps)
    assert data.as_of == pd.Timestamp("2024-05-15")
    assert rows(kpis.key_accounts(data, start="2024Q2"), ["period", "value"]) == expect([("2024Q2", 1)])
    assert rows(kpis.senior_reps(data, start="2024Q2"), ["period", "value"]) == expect([("2024Q2", 2)])
    complete = loaded(accounts=accounts, deals=deals, reps=reps, as_of="2024-06-30")
    assert rows(kpis.key_accounts(complete, start="2024Q2"), ["period", "value"]) == expect([("2024Q2", 0)])
    assert rows(kpis.senior_reps(complete, start="2024Q2"), ["period", "value"]) == expect([("2024Q2", 3)])


def test_nrr_in_a_quarter_in_progress_ends_on_as_of(loaded, rows, expect):
    # A1: C1 1 000 2023-01-01 .. 2024-05-31, renewed at 1 500 by C2 from 2024-06-01. as_of = 2024-05-15.
    # 2024Q2: ARR_start (03-31) = 1 000; ARR_end on as_of (05-15) = 1 000 (C1 still runs): NRR 1.0.
    # Complete (as of 06-30): ARR_end = 1 500: NRR 1.5; GRR min(1 500, 1 000) / 1 000 = 1 either way.
    accounts = {"account_id": ["A1", "A2"], "customer_since": ["2023-01-01", "2024-05-15"]}
    contracts = {"contract_id": ["C1", "C2"], "account_id": ["A1", "A1"],
                 "start_date": ["2023-01-01", "2024-06-01"], "end_date": ["2024-05-31", "2025-05-31"],
                 "annual_value": ["1000", "1500"], "renewal_of": [None, "C1"]}
    data = loaded(accounts=accounts, contracts=contracts)
    q2 = {"start": "2024Q2", "end": "2024Q2"}
    assert rows(kpis.net_revenue_retention(data, **q2)) == expect([("2024Q2", 1000, 1000, 1.0)])
    assert rows(kpis.gross_revenue_retention(data, **q2)) == expect([("2024Q2", 1000, 1000, 1.0)])
    complete = loaded(accounts=accounts, contracts=contracts, as_of="2024-06-30")
    assert rows(kpis.net_revenue_retention(complete, **q2)) == expect([("2024Q2", 1500, 1000, 1.5)])
    assert rows(kpis.gross_revenue_retention(complete, **q2)) == expect([("2024Q2", 1000, 1000, 1.0)])


# -- no month after as_of ------------------------------------------------------------------------------
def test_no_monthly_kpi_shows_a_month_after_as_of(loaded):
    # Every table, with scheduled dates far ahead: churn in November, contracts to 2027, a rep leaving
    # in 2025, an open deal expected in December. The latest recorded date is the survey's 2024-05-15:
    # no KPI, monthly, quarterly or yearly, has a period after May 2024 / 2024Q2 / 2024.
    data = loaded(
        accounts={"account_id": ["A1", "A2"], "customer_since": ["2024-01-15", "2024-02-01"],
                  "churned_on": ["2024-11-01", None], "rep_id": ["R1", "R1"]},
        contracts={"account_id": ["A1", "A2"], "start_date": ["2024-01-15", "2024-02-01"],
                   "end_date": ["2027-01-14", "2025-01-31"], "renewal_of": [None, None]},
        deals={"account_id": ["A1", "A2"], "created_on": ["2024-02-01", "2024-03-01"],
               "closed_on": ["2024-03-10", "2024-12-20"], "stage": ["won", "open"]},
        # Every optional column a KPI needs is in the files (data-model.md, "Columns an export
        # does not have"): only the market KPIs, with no market table, are skipped.
        tickets={"opened_at": ["2024-04-02T10:00:00Z"], "resolved_at": ["2024-04-02T12:00:00Z"],
                 "first_response_at": ["2024-04-02T11:00:00Z"]},
        surveys={"responded_at": ["2024-05-15T09:00:00Z"], "csat": ["4"], "nps": ["9"]},
        activities={"occurred_on": ["2024-03-03"]},
        reps={"rep_id": ["R1"], "hired_on": ["2019-01-01"], "left_on": ["2025-06-30"]},
    )
    assert data.as_of == pd.Timestamp("2024-05-15")
    for freq, last in [("M", "2024-05"), ("Q", "2024Q2"), ("Y", "2024")]:
        result = repkpi.compute(data, freq=freq)
        assert result.attrs["skipped"].keys() <= {"market_share", "market_share_delta", "market_rank"}
        ends = result.groupby("kpi")["period"].max()
        assert {str(p) for p in ends} == {last}, (freq, ends[ends.astype(str) != last])


# -- a year label at a finer frequency -------------------------------------------------------------
# With a fiscal year starting in month m != 1, "2026" names FY2026 (api.md, "Time"): for m = 4,
# April 2025 - March 2026; for m = 7, July 2025 - June 2026. At quarterly or monthly frequency
# start="2026", end="2026" are its first and last quarter or month. New customers by hand:
FISCAL_2026 = {"customer_since": ["2025-03-31",   # FY2025 for m = 4 and m = 7: never counted
                                  "2025-04-01",   # m = 4: FY2026 Q1 (April-June 2025)
                                  "2025-08-15",   # FY2026: Q2 for m = 4, Q1 for m = 7
                                  "2025-12-31",   # FY2026: Q3 for m = 4, Q2 for m = 7
                                  "2026-01-01", "2026-03-31",   # m = 4: Q4; m = 7: Q3
                                  "2026-04-01",   # m = 4: FY2027; m = 7: FY2026 Q4
                                  "2026-07-01"]}  # FY2027 for both; as_of


@pytest.mark.parametrize(("freq", "fiscal_year_start", "expected"), [
    ("Q", 4, [("2025-04-01", 1), ("2025-07-01", 1), ("2025-10-01", 1), ("2026-01-01", 2)]),
    ("Q", 7, [("2025-07-01", 1), ("2025-10-01", 1), ("2026-01-01", 2), ("2026-04-01", 1)]),
    ("M", 4, [("2025-04-01", 1), ("2025-05-01", 0), ("2025-06-01", 0), ("2025-07-01", 0),
              ("2025-08-01", 1), ("2025-09-01", 0), ("2025-10-01", 0), ("2025-11-01", 0),
              ("2025-12-01", 1), ("2026-01-01", 1), ("2026-02-01", 0), ("2026-03-01", 1)]),
])
def test_a_year_label_names_the_fiscal_year_at_a_finer_frequency(loaded, freq, fiscal_year_start,
                                                                 expected):
    data = loaded(accounts=FISCAL_2026)
    options = {"freq": freq, "start": "2026", "end": "2026", "fiscal_year_start": fiscal_year_start}
    for result in (kpis.new_customers(data, **options),
                   repkpi.compute(data, ["new_customers"], **options)):
        got = [(str(p.start_time.date()), v) for p, v in zip(result["period"], result["value"],
                                                             strict=True)]
        assert got == [(first, float(count)) for first, count in expected]
