"""Satisfaction KPIs (surveys), worked out by hand from spec/kpis.md.

    id  acc  responded_at                 UTC date     period  csat  nps
    S1  A1   2024-01-05T10:00:00Z         2024-01-05   Q1      5     10  promoter
    S2  A1   2024-02-01T09:00:00Z         2024-02-01   Q1      3      6  detractor (6 is one)
    S3  A2   2024-03-31T23:30:00-02:00    2024-04-01   Q2      4      9  promoter (9 is one)
    S4  A3   2024-02-10T08:00:00Z         2024-02-10   Q1      -      8  passive
    S5  A3   2024-03-01T12:00:00Z         2024-03-01   Q1      4      -
    S6  A2   2024-04-01T00:30:00+02:00    2024-03-31   Q1      1      0  detractor

Accounts: A1 north, A2 south, A3 north.
"""

from __future__ import annotations

import pytest

import repkpi
from repkpi import kpis

nan = float("nan")

SURVEYS = {
    "response_id": ["S1", "S2", "S3", "S4", "S5", "S6"],
    "account_id": ["A1", "A1", "A2", "A3", "A3", "A2"],
    "responded_at": ["2024-01-05T10:00:00Z", "2024-02-01T09:00:00Z", "2024-03-31T23:30:00-02:00",
                     "2024-02-10T08:00:00Z", "2024-03-01T12:00:00Z", "2024-04-01T00:30:00+02:00"],
    "csat": ["5", "3", "4", None, "4", "1"],
    "nps": ["10", "6", "9", "8", None, "0"],
}
ACCOUNTS = {
    "account_id": ["A1", "A2", "A3"],
    "region": ["north", "south", "north"],
    "customer_since": ["2023-01-01", "2023-01-01", "2023-01-01"],
}


@pytest.mark.parametrize(
    ("kpi", "expected"),
    [
        pytest.param("csat", [
            ("2024Q1", 2, 4, 0.5),          # S1 5, S5 4 satisfied; of S1 S2 S5 S6 (S4 has no csat)
            ("2024Q2", 1, 1, 1.0),          # S3 4
            ("2024Q3", 0, 0, nan),          # no responses: NaN
        ], id="csat"),
        pytest.param("csat_mean", [
            ("2024Q1", 13, 4, 3.25),        # (5 + 3 + 4 + 1) / 4
            ("2024Q2", 4, 1, 4.0),
            ("2024Q3", 0, 0, nan),
        ], id="csat_mean"),
        pytest.param("nps", [
            # Q1 with an nps: S1 P, S2 D, S4 passive, S6 D: (1 - 2) / 4 = -0.25 -> -25 points
            ("2024Q1", -1, 4, -25.0),
            ("2024Q2", 1, 1, 100.0),        # S3 promoter
            ("2024Q3", 0, 0, nan),
        ], id="nps"),
    ],
)
def test_satisfaction_kpis(loaded, rows, expect, kpi, expected):
    # Declared as of 2024-09-30: Q3 is lived, with no response (the recorded as_of is 04-01).
    data = loaded(surveys=SURVEYS, as_of="2024-09-30")
    result = repkpi.KPIS[kpi](data, end="2024Q3")
    assert rows(result) == expect(expected)


@pytest.mark.parametrize(
    ("kpi", "expected"),
    [
        pytest.param("csat", [
            ("2024Q1", "north", 2, 3, 2 / 3),     # S1 5, S2 3, S5 4
            ("2024Q1", "south", 0, 1, 0.0),       # S6 1
            ("2024Q2", "north", 0, 0, nan),       # nobody in the north answered in Q2
            ("2024Q2", "south", 1, 1, 1.0),       # S3
        ], id="csat"),
        pytest.param("nps", [
            ("2024Q1", "north", 0, 3, 0.0),       # S1 P, S2 D, S4 passive: (1 - 1) / 3
            ("2024Q1", "south", -1, 1, -100.0),   # S6 D
            ("2024Q2", "north", 0, 0, nan),
            ("2024Q2", "south", 1, 1, 100.0),
        ], id="nps"),
    ],
)
def test_satisfaction_by_region_via_accounts(loaded, rows, expect, kpi, expected):
    data = loaded(accounts=ACCOUNTS, surveys=SURVEYS)
    assert rows(repkpi.KPIS[kpi](data, by="region")) == expect(expected)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        # every boundary of the nps bands, one response each, in one quarter
        pytest.param(["0", "6", "7", "8", "9", "10"], (0, 6, 0.0), id="bands"),  # 2 P - 2 D
        pytest.param(["9", "10"], (2, 2, 100.0), id="all_promoters"),
        pytest.param(["6", "0", "7"], (-2, 3, -200 / 3), id="detractors"),
    ],
)
def test_nps_bands(loaded, rows, expect, scores, expected):
    n = len(scores)
    data = loaded(surveys={"responded_at": ["2024-05-01T12:00:00Z"] * n, "nps": scores})
    assert rows(kpis.nps(data)) == expect([("2024Q2", *expected)])


@pytest.mark.parametrize("kpi", ["csat", "csat_mean", "nps"])
def test_satisfaction_kpis_need_surveys(loaded, kpi):
    data = loaded(accounts=ACCOUNTS)
    with pytest.raises(repkpi.MissingTableError, match=rf"{kpi} needs the surveys table"):
        repkpi.KPIS[kpi](data)
