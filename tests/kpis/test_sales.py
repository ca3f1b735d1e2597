"""Sales KPIs (deals), worked out by hand from spec/kpis.md.

The deals (accounts A1 north, A2 south, A3 no region; reps R1 team a, R2 team b):

    id  acc rep  created     closed      stage  amount     deal_type     channel  source
    D1  A1  R1   2024-01-05  2024-02-01  won     60 000.00 new_business  direct   web
    D2  A1  R1   2024-01-10  2024-03-15  won     50 000.00 upsell        partner  event
    D3  A2  R2   2024-02-01  2024-03-20  lost     5 000.00 cross_sell    direct   web
    D4  A2  R2   2024-02-10  2024-04-02  won     49 999.99 cross_sell    direct   web
    D5  A3  -    2024-03-01  -           open    70 000.00 new_business  partner  event
    D6  A3  R1   2024-05-01  2024-08-10  lost    80 000.00 new_business  partner  web
    D7  A1  R2   2023-12-20  2024-01-03  won     10 000.00 renewal       direct   web

The deals' dates run from 2023-12-20 (D7 created) to 2024-08-10, so the grid is
2023Q4 .. 2024Q3. Closed in each quarter:

    2023Q4: nothing (D7 was only created)
    2024Q1: D1 won, D2 won, D7 won, D3 lost
    2024Q2: D4 won
    2024Q3: D6 lost
"""

from __future__ import annotations

import pytest

import repkpi
from repkpi import kpis

nan = float("nan")

ACCOUNTS = {
    "account_id": ["A1", "A2", "A3"],
    "region": ["north", "south", None],
    "rep_id": ["R2", "R2", "R1"],
    "customer_since": ["2020-01-01", "2020-01-01", "2020-01-01"],
}
REPS = {"rep_id": ["R1", "R2"], "team": ["a", "b"], "hired_on": ["2015-01-01", "2015-01-01"]}
DEALS = {
    "deal_id": ["D1", "D2", "D3", "D4", "D5", "D6", "D7"],
    "account_id": ["A1", "A1", "A2", "A2", "A3", "A3", "A1"],
    "rep_id": ["R1", "R1", "R2", "R2", None, "R1", "R2"],
    "created_on": ["2024-01-05", "2024-01-10", "2024-02-01", "2024-02-10", "2024-03-01", "2024-05-01",
                   "2023-12-20"],
    "closed_on": ["2024-02-01", "2024-03-15", "2024-03-20", "2024-04-02", None, "2024-08-10", "2024-01-03"],
    "stage": ["won", "won", "lost", "won", "open", "lost", "won"],
    "amount": ["60000", "50000", "5000", "49999.99", "70000", "80000", "10000"],
    "deal_type": ["new_business", "upsell", "cross_sell", "cross_sell", "new_business", "new_business",
                  "renewal"],
    "channel": ["direct", "partner", "direct", "direct", "partner", "partner", "direct"],
    "source": ["web", "event", "web", "web", "event", "web", "web"],
}


@pytest.fixture
def sales(loaded):
    return loaded(accounts=ACCOUNTS, deals=DEALS, reps=REPS)


@pytest.mark.parametrize(
    ("kpi", "options", "expected"),
    [
        pytest.param("revenue", {}, [
            ("2023Q4", 0, 1, 0),
            ("2024Q1", 120_000, 1, 120_000),    # D1 + D2 + D7 = 60 000 + 50 000 + 10 000
            ("2024Q2", 49_999.99, 1, 49_999.99),  # D4
            ("2024Q3", 0, 1, 0),                # D6 was lost
        ], id="revenue"),
        pytest.param("win_rate", {}, [
            ("2023Q4", 0, 0, nan),              # nothing closed
            ("2024Q1", 3, 4, 0.75),             # won D1 D2 D7, lost D3
            ("2024Q2", 1, 1, 1.0),              # D4
            ("2024Q3", 0, 1, 0.0),              # D6 lost; the open D5 never counts
        ], id="win_rate"),
        pytest.param("cross_sell_rate", {}, [
            ("2023Q4", 0, 0, nan),
            ("2024Q1", 1, 2, 0.5),              # D2 upsell won, D3 cross_sell lost
            ("2024Q2", 1, 1, 1.0),              # D4 cross_sell won
            ("2024Q3", 0, 0, nan),              # D6 is new business
        ], id="cross_sell_rate"),
        pytest.param("cross_sell_wins", {}, [
            ("2023Q4", 0, 1, 0), ("2024Q1", 1, 1, 1), ("2024Q2", 1, 1, 1), ("2024Q3", 0, 1, 0),
        ], id="cross_sell_wins"),
        pytest.param("cross_sell_wins", {"freq": "Y"}, [
            ("2023", 0, 1, 0), ("2024", 2, 1, 2),   # D2 and D4
        ], id="cross_sell_wins_year"),
        pytest.param("large_deals", {}, [
            ("2023Q4", 0, 1, 0),
            ("2024Q1", 2, 1, 2),                # D1 60 000 and D2 50 000 (= threshold, inclusive)
            ("2024Q2", 0, 1, 0),                # D4 49 999.99 < 50 000
            ("2024Q3", 0, 1, 0),                # D6 80 000 lost; D5 70 000 open
        ], id="large_deals"),
        pytest.param("large_deals", {"threshold": 49_999.99}, [
            ("2023Q4", 0, 1, 0), ("2024Q1", 2, 1, 2), ("2024Q2", 1, 1, 1), ("2024Q3", 0, 1, 0),
        ], id="large_deals_threshold_inclusive"),
        pytest.param("large_deals", {"threshold": 10_000}, [
            ("2023Q4", 0, 1, 0), ("2024Q1", 3, 1, 3), ("2024Q2", 1, 1, 1), ("2024Q3", 0, 1, 0),
        ], id="large_deals_low_threshold"),
        pytest.param("average_deal_size", {}, [
            ("2023Q4", 0, 0, nan),
            ("2024Q1", 120_000, 3, 40_000),     # (60 000 + 50 000 + 10 000) / 3
            ("2024Q2", 49_999.99, 1, 49_999.99),
            ("2024Q3", 0, 0, nan),
        ], id="average_deal_size"),
    ],
)
def test_sales_kpis(sales, rows, expect, kpi, options, expected):
    result = repkpi.KPIS[kpi](sales, **options)
    assert rows(result, ["period", "numerator", "denominator", "value"]) == expect(expected)


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        pytest.param("channel", [
            # the deal's own column: direct splits from partner (distribution) sales
            ("2023Q4", "direct", 0), ("2023Q4", "partner", 0),
            ("2024Q1", "direct", 70_000), ("2024Q1", "partner", 50_000),   # D1 + D7 | D2
            ("2024Q2", "direct", 49_999.99), ("2024Q2", "partner", 0),
            ("2024Q3", "direct", 0), ("2024Q3", "partner", 0),
        ], id="channel"),
        pytest.param("region", [
            # resolved through accounts: A1 north, A2 south, A3 NA (D5, D6 only: zeros, row kept)
            ("2023Q4", "north", 0), ("2023Q4", "south", 0), ("2023Q4", None, 0),
            ("2024Q1", "north", 120_000), ("2024Q1", "south", 0), ("2024Q1", None, 0),
            ("2024Q2", "north", 0), ("2024Q2", "south", 49_999.99), ("2024Q2", None, 0),
            ("2024Q3", "north", 0), ("2024Q3", "south", 0), ("2024Q3", None, 0),
        ], id="region_via_accounts"),
        pytest.param("team", [
            # resolved through reps by the deal's own rep_id (D7 is R2's although A1 is R2's too,
            # D1 and D2 are R1's although A1 belongs to R2); D5 has no rep: NA.
            ("2023Q4", "a", 0), ("2023Q4", "b", 0), ("2023Q4", None, 0),
            ("2024Q1", "a", 110_000), ("2024Q1", "b", 10_000), ("2024Q1", None, 0),
            ("2024Q2", "a", 0), ("2024Q2", "b", 49_999.99), ("2024Q2", None, 0),
            ("2024Q3", "a", 0), ("2024Q3", "b", 0), ("2024Q3", None, 0),
        ], id="team_via_deal_rep"),
        pytest.param("source", [
            # an extra column of the deals export
            ("2023Q4", "event", 0), ("2023Q4", "web", 0),
            ("2024Q1", "event", 50_000), ("2024Q1", "web", 70_000),        # D2 | D1 + D7
            ("2024Q2", "event", 0), ("2024Q2", "web", 49_999.99),
            ("2024Q3", "event", 0), ("2024Q3", "web", 0),
        ], id="extra_column"),
    ],
)
def test_revenue_by(sales, rows, expect, by, expected):
    result = kpis.revenue(sales, by=by)
    assert list(result.columns) == ["period", by, "numerator", "denominator", "value"]
    assert rows(result, ["period", by, "value"]) == expect(expected)


def test_revenue_by_two_columns(sales, rows, expect):
    # Combinations seen in the deals, sorted (NA last within its channel):
    # (direct, north) D1 D7, (direct, south) D3 D4, (partner, north) D2, (partner, NA) D5 D6.
    result = kpis.revenue(sales, by=["channel", "region"], start="2024Q1", end="2024Q1")
    assert list(result.columns) == ["period", "channel", "region", "numerator", "denominator", "value"]
    assert rows(result, ["period", "channel", "region", "value"]) == expect([
        ("2024Q1", "direct", "north", 70_000),      # D1 + D7
        ("2024Q1", "direct", "south", 0),           # D3 lost
        ("2024Q1", "partner", "north", 50_000),     # D2
        ("2024Q1", "partner", None, 0),
    ])


def test_win_rate_by_channel_has_nan_where_nothing_closed(sales, rows, expect):
    result = kpis.win_rate(sales, by="channel", start="2024Q2", end="2024Q3")
    assert rows(result, ["period", "channel", "numerator", "denominator", "value"]) == expect([
        ("2024Q2", "direct", 1, 1, 1.0),        # D4
        ("2024Q2", "partner", 0, 0, nan),       # nothing closed: NaN, not 0
        ("2024Q3", "direct", 0, 0, nan),
        ("2024Q3", "partner", 0, 1, 0.0),       # D6 lost
    ])


@pytest.mark.parametrize("kpi", ["revenue", "win_rate", "cross_sell_rate", "cross_sell_wins",
                                 "large_deals", "average_deal_size"])
def test_sales_kpis_need_deals(loaded, kpi):
    data = loaded(accounts=ACCOUNTS)
    with pytest.raises(repkpi.MissingTableError, match=rf"{kpi} needs the deals table"):
        repkpi.KPIS[kpi](data)


def test_large_deals_rejects_options_it_does_not_take(sales):
    with pytest.raises(repkpi.OptionError, match=r"large_deals takes no option 'years'"):
        kpis.large_deals(sales, years=3)
