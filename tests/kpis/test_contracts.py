"""Contract KPIs: renewals and revenue retention, worked out by hand from spec/kpis.md.

A contract is active on day d when start_date <= d <= end_date (end included).
ARR(a, d) = sum of annual_value of a's contracts active on d.

Revenue retention starts from P.open, the day before P.first (spec "Opening and closing
state"): the cohort is the accounts with ARR on P.open, so P's opening ARR is P-1's closing
ARR, and a contract starting on P.first (a new one, or a renewal at a new value) is a change
inside P.
"""

from __future__ import annotations

import pytest

import repkpi
from repkpi import kpis

nan = float("nan")

# -- renewals ----------------------------------------------------------------------------------
# C1 (A1, 1 200, ends 2024-03-31) renewed by C2; C5 (A3, 300, ends 2024-02-15) not renewed;
# C3 (A2, 1 000, ends 2024-04-30) not renewed; C4 (A2, 400) and C2 end in 2025.
RENEWALS = {
    "contract_id": ["C1", "C2", "C3", "C4", "C5"],
    "account_id": ["A1", "A1", "A2", "A2", "A3"],
    "start_date": ["2023-04-01", "2024-04-01", "2023-05-01", "2024-05-01", "2023-02-16"],
    "end_date": ["2024-03-31", "2025-03-31", "2024-04-30", "2025-04-30", "2024-02-15"],
    "annual_value": ["1200", "1500", "1000", "400", "300"],
    "renewal_of": [None, "C1", None, None, None],
}
RENEWAL_ACCOUNTS = {
    "account_id": ["A1", "A2", "A3"],
    "rep_id": ["R1", "R2", "R1"],
    "customer_since": ["2023-01-01", "2023-01-01", "2023-01-01"],
}
REPS = {"rep_id": ["R1", "R2"], "team": ["a", "b"], "hired_on": ["2015-01-01", "2015-01-01"]}


@pytest.mark.parametrize(
    ("kpi", "freq", "start", "end", "expected"),
    [
        pytest.param("renewal_rate", "Q", "2024Q1", "2024Q3", [
            ("2024Q1", 1, 2, 0.5),      # due C1 (renewed) and C5
            ("2024Q2", 0, 1, 0.0),      # due C3
            ("2024Q3", 0, 0, nan),      # nothing due
        ], id="count_quarters"),
        pytest.param("renewal_value_rate", "Q", "2024Q1", "2024Q3", [
            ("2024Q1", 1200, 1500, 0.8),  # 1 200 / (1 200 + 300)
            ("2024Q2", 0, 1000, 0.0),
            ("2024Q3", 0, 0, nan),
        ], id="value_quarters"),
        pytest.param("renewal_rate", "Y", None, None, [
            ("2023", 0, 0, nan),        # the grid starts with C5's start in 2023; nothing due
            ("2024", 1, 3, 1 / 3),      # C1, C5, C3 due; C1 renewed
            ("2025", 0, 2, 0.0),        # C2, C4 due, neither renewed (yet)
        ], id="count_years"),
        pytest.param("renewal_value_rate", "Y", "2024", "2024", [
            ("2024", 1200, 2500, 0.48),   # 1 200 / (1 200 + 300 + 1 000)
        ], id="value_year"),
    ],
)
def test_renewals(loaded, rows, expect, kpi, freq, start, end, expected):
    data = loaded(contracts=RENEWALS)
    result = repkpi.KPIS[kpi](data, freq=freq, start=start, end=end)
    assert rows(result) == expect(expected)


def test_renewal_rate_by_team_via_the_accounts_rep(loaded, rows, expect):
    # contracts have no rep_id: the account's rep decides. A1, A3 -> R1 (team a); A2 -> R2 (b).
    # Declared as of 2024-06-30: contract dates are scheduled, the recorded as_of is 2023-01-01.
    data = loaded(accounts=RENEWAL_ACCOUNTS, contracts=RENEWALS, reps=REPS, as_of="2024-06-30")
    result = kpis.renewal_rate(data, by="team", start="2024Q1", end="2024Q2")
    assert rows(result) == expect([
        ("2024Q1", "a", 1, 2, 0.5),     # C1 (renewed), C5
        ("2024Q1", "b", 0, 0, nan),
        ("2024Q2", "a", 0, 0, nan),
        ("2024Q2", "b", 0, 1, 0.0),     # C3
    ])


# -- revenue retention -------------------------------------------------------------------------
# A1: N1 1 000 all 2024, plus N2 600 from 2024-05-01 to 2024-06-30 (expansion, ends on Q2.last)
# A2: N3 1 000 to 2024-04-30, then N4 400 (contraction)
# A3: N5 500 to 2024-06-29 (churn, one day before Q2.last)
# A4: N6 900 from 2024-05-01 (new in Q2: not in Q2's cohort)
RETENTION = {
    "contract_id": ["N1", "N2", "N3", "N4", "N5", "N6"],
    "account_id": ["A1", "A1", "A2", "A2", "A3", "A4"],
    "start_date": ["2024-01-01", "2024-05-01", "2023-07-01", "2024-05-01", "2024-01-01", "2024-05-01"],
    "end_date": ["2024-12-31", "2024-06-30", "2024-04-30", "2025-04-30", "2024-06-29", "2025-04-30"],
    "annual_value": ["1000", "600", "1000", "400", "500", "900"],
}
RETENTION_ACCOUNTS = {
    "account_id": ["A1", "A2", "A3", "A4"],
    "region": ["north", "south", "south", "north"],
    "customer_since": ["2023-01-01", "2023-01-01", "2023-01-01", "2023-01-01"],
}


@pytest.mark.parametrize(
    ("kpi", "freq", "period", "expected"),
    [
        # 2024Q2: ARR on Q2.open 03-31 / Q2.last 06-30 -- A1 1 000 / 1 600 (N2 active on its end
        # day), A2 1 000 / 400, A3 500 / 0, A4 0 (out of the cohort). ARR_start = 2 500.
        pytest.param("net_revenue_retention", "Q", "2024Q2",
                     ("2024Q2", 2000, 2500, 0.8), id="nrr_q2"),        # 1 600 + 400 + 0
        pytest.param("gross_revenue_retention", "Q", "2024Q2",
                     ("2024Q2", 1400, 2500, 0.56), id="grr_q2"),       # min: 1 000 + 400 + 0
        # 2024Q1 opens on 2023-12-31: only A2 has ARR then (N3 1 000); N1 and N5 start on
        # 2024-01-01 = Q1.first, so A1 and A3 are new in Q1, not in its cohort. A2 1 000 / 1 000.
        pytest.param("net_revenue_retention", "Q", "2024Q1",
                     ("2024Q1", 1000, 1000, 1.0), id="nrr_q1"),
        # 2024Q3 opens on 06-30: A1 1 600 (N1 + N2, N2 active on its end day 06-30) / 1 000,
        # A2 400 / 400, A4 900 / 900; A3 0 on 06-30 (N5 ended 06-29): out. ARR_start = 2 900.
        # GRR = min(1 000, 1 600) + 400 + 900 = 2 300: N2's 600 ending on Q2.last is lost in Q3.
        pytest.param("gross_revenue_retention", "Q", "2024Q3",
                     ("2024Q3", 2300, 2900, 2300 / 2900), id="grr_q3"),
        # 2024 as a year opens on 2023-12-31: only A2 has ARR then (1 000); A1 and A3 start on
        # 2024-01-01, A4 later: out. On 12-31: A2 400 (N4). NRR = GRR = 400 / 1 000.
        pytest.param("net_revenue_retention", "Y", "2024",
                     ("2024", 400, 1000, 0.4), id="nrr_year"),
        pytest.param("gross_revenue_retention", "Y", "2024",
                     ("2024", 400, 1000, 0.4), id="grr_year"),
    ],
)
def test_revenue_retention(loaded, rows, expect, kpi, freq, period, expected):
    data = loaded(contracts=RETENTION)
    result = repkpi.KPIS[kpi](data, freq=freq, start=period, end=period)
    assert rows(result) == expect([expected])


@pytest.mark.parametrize(
    ("kpi", "expected"),
    [
        # Q2.open 03-31 -> Q2.last 06-30. north: A1 1 000 -> 1 600 (A4 not in the cohort);
        # south: A2 + A3 1 500 -> 400.
        pytest.param("net_revenue_retention", [
            ("2024Q2", "north", 1600, 1000, 1.6),       # expansion lifts NRR above 1
            ("2024Q2", "south", 400, 1500, 400 / 1500),
        ], id="nrr"),
        pytest.param("gross_revenue_retention", [
            ("2024Q2", "north", 1000, 1000, 1.0),       # GRR caps each account at its start ARR
            ("2024Q2", "south", 400, 1500, 400 / 1500),
        ], id="grr"),
    ],
)
def test_revenue_retention_by_region(loaded, rows, expect, kpi, expected):
    # Declared as of 2024-06-30: contract dates are scheduled, the recorded as_of is 2023-01-01.
    data = loaded(accounts=RETENTION_ACCOUNTS, contracts=RETENTION, as_of="2024-06-30")
    result = repkpi.KPIS[kpi](data, by="region", start="2024Q2", end="2024Q2")
    assert rows(result) == expect(expected)


def test_revenue_retention_is_nan_without_a_cohort(loaded, rows, expect):
    # The only contract starts on 2024-05-01: nobody has ARR on Q2.open 2024-03-31, ARR_start = 0.
    data = loaded(contracts={"start_date": ["2024-05-01"], "end_date": ["2024-12-31"]})
    for kpi in (kpis.net_revenue_retention, kpis.gross_revenue_retention):
        assert rows(kpi(data, start="2024Q2", end="2024Q2")) == expect([("2024Q2", 0, 0, nan)])


# A renewal dated 1 January: C1 (A1) 2025-01-01 .. 2025-12-31 at 1 000, renewed by C2 from
# 2026-01-01 .. 2026-12-31 at the value given. 2026Q1 opens on 2025-12-31, C1's last day:
# ARR_start = 1 000 (C1); on 2026-03-31 only C2 is active: ARR_end = C2's value.
# 2025Q4 (10-01 .. 12-31, opens 09-30): C1 throughout, 1 000 / 1 000.
@pytest.mark.parametrize(
    ("value", "nrr_q1", "grr_q1"),
    [
        # expansion: NRR = 1 200 / 1 000; GRR = min(1 200, 1 000) / 1 000 = 1
        pytest.param("1200", (1200, 1000, 1.2), (1000, 1000, 1.0), id="expansion"),
        # contraction: NRR = GRR = 800 / 1 000 (min(800, 1 000) = 800)
        pytest.param("800", (800, 1000, 0.8), (800, 1000, 0.8), id="contraction"),
    ],
)
def test_a_renewal_on_1_january_changes_arr_in_q1(loaded, rows, expect, value, nrr_q1, grr_q1):
    data = loaded(contracts={"contract_id": ["C1", "C2"], "start_date": ["2025-01-01", "2026-01-01"],
                          "end_date": ["2025-12-31", "2026-12-31"], "annual_value": ["1000", value],
                          "renewal_of": [None, "C1"]})
    window = {"start": "2025Q4", "end": "2026Q2"}
    # 2026Q2 opens on 03-31 with C2 and ends with C2: value / value = 1 for both.
    v = float(value)
    assert rows(kpis.net_revenue_retention(data, **window)) == expect([
        ("2025Q4", 1000, 1000, 1.0), ("2026Q1", *nrr_q1), ("2026Q2", v, v, 1.0)])
    assert rows(kpis.gross_revenue_retention(data, **window)) == expect([
        ("2025Q4", 1000, 1000, 1.0), ("2026Q1", *grr_q1), ("2026Q2", v, v, 1.0)])
    # The same change seen monthly (January opens on 2025-12-31) and yearly (2026 opens on
    # 2025-12-31, ends on 2026-12-31 with C2 on its last day).
    for freq, period in (("M", "2026-01"), ("Y", "2026")):
        one = {"freq": freq, "start": period, "end": period}
        assert rows(kpis.net_revenue_retention(data, **one)) == expect([(period, *nrr_q1)])
        assert rows(kpis.gross_revenue_retention(data, **one)) == expect([(period, *grr_q1)])


def test_a_contract_ending_on_31_december_not_renewed_is_lost_in_q1(loaded, rows, expect):
    # C1 2025-01-01 .. 2025-12-31 at 1 000, no renewal: 2026Q1 opens on 2025-12-31 with 1 000 and
    # ends with 0: NRR = GRR = 0 / 1 000. 2025Q4 keeps 1 000 to its last day: 1.
    data = loaded(contracts={"start_date": ["2025-01-01"], "end_date": ["2025-12-31"]})
    for kpi in (kpis.net_revenue_retention, kpis.gross_revenue_retention):
        assert rows(kpi(data, start="2025Q4", end="2026Q1")) == expect([
            ("2025Q4", 1000, 1000, 1.0), ("2026Q1", 0, 1000, 0.0)])


@pytest.mark.parametrize("kpi", ["renewal_rate", "renewal_value_rate", "net_revenue_retention",
                                 "gross_revenue_retention"])
def test_contract_kpis_need_contracts(loaded, kpi):
    data = loaded(accounts=RENEWAL_ACCOUNTS)
    with pytest.raises(repkpi.MissingTableError, match=rf"{kpi} needs the contracts table"):
        repkpi.KPIS[kpi](data)
