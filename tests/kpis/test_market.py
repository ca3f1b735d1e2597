"""Market KPIs, worked out by hand from spec/kpis.md.

Competitors (quarterly market table):

    period  region  company  revenue
    2024Q1  n       X        100
    2024Q1  s       X         50
    2024Q2  n       X         60
    2024Q2  n       Y         40
    2024Q2  s       X         10
    2024Q2  s       Z          5
    2024Q3  n       X         30      (no row for s in 2024Q3)

Our won deals (A1 in n, A2 in s):

    D1 A1 2024-02-01 100   D2 A2 2024-03-01 20   D3 A1 2024-05-01 40   D4 A1 2024-08-01 5
    D5 A1 2024-02-15 1 000 lost (ignored)
    D6 A1 2023-12-15 999 won, before the market's first quarter (outside the grid)

Ours / theirs per (quarter, region):

    2024Q1  n 100 / 100   s 20 / 50
    2024Q2  n  40 / 100   s  0 / 15
    2024Q3  n   5 / 30    s  -  (no market figures)
"""

from __future__ import annotations

import pandas as pd
import pytest

import repkpi
from repkpi import kpis

nan = float("nan")

MARKET = {
    "period": ["2024Q1", "2024Q1", "2024Q2", "2024Q2", "2024Q2", "2024Q2", "2024Q3"],
    "region": ["n", "s", "n", "n", "s", "s", "n"],
    "company": ["X", "X", "X", "Y", "X", "Z", "X"],
    "revenue": ["100", "50", "60", "40", "10", "5", "30"],
}
ACCOUNTS = {"account_id": ["A1", "A2"], "region": ["n", "s"], "customer_since": ["2023-01-01", "2023-01-01"]}
DEALS = {
    "account_id": ["A1", "A2", "A1", "A1", "A1", "A1"],
    "closed_on": ["2024-02-01", "2024-03-01", "2024-05-01", "2024-08-01", "2024-02-15", "2023-12-15"],
    "stage": ["won", "won", "won", "won", "lost", "won"],
    "amount": ["100", "20", "40", "5", "1000", "999"],
}


@pytest.fixture
def market(loaded):
    return loaded(accounts=ACCOUNTS, deals=DEALS, market=MARKET)


@pytest.mark.parametrize(
    ("kpi", "options", "expected"),
    [
        pytest.param("market_share", {}, [
            ("2024Q1", 120, 270, 120 / 270),    # ours 100 + 20, theirs 100 + 50
            ("2024Q2", 40, 155, 40 / 155),      # ours 40, theirs 60 + 40 + 10 + 5 = 115
            ("2024Q3", 5, 35, 5 / 35),          # ours 5, theirs 30
        ], id="share"),
        pytest.param("market_share", {"by": "region"}, [
            ("2024Q1", "n", 100, 200, 0.5),
            ("2024Q1", "s", 20, 70, 20 / 70),
            ("2024Q2", "n", 40, 140, 40 / 140),
            ("2024Q2", "s", 0, 15, 0.0),
            ("2024Q3", "n", 5, 35, 5 / 35),
            ("2024Q3", "s", nan, nan, nan),     # no market rows: no market to share
        ], id="share_by_region"),
        pytest.param("market_share", {"freq": "Y"}, [
            # quarters summed: ours 120 + 40 + 5 = 165, theirs 150 + 115 + 30 = 295
            ("2024", 165, 460, 165 / 460),
        ], id="share_year"),
        pytest.param("market_share", {"freq": "Y", "by": "region"}, [
            ("2024", "n", 145, 375, 145 / 375),   # ours 100 + 40 + 5, theirs 100 + 100 + 30
            ("2024", "s", 20, 85, 20 / 85),       # ours 20, theirs 50 + 15
        ], id="share_year_by_region"),
        pytest.param("market_share", {"freq": "Y", "fiscal_year_start": 4}, [
            # fiscal years from April: 2024Q1 is in fiscal 2024, 2024Q2 and Q3 in fiscal 2025.
            # Fiscal 2024 runs 2023-04-01 .. 2024-03-31, so it holds D6 (2023-12-15, 999) too:
            # ours 999 + 100 + 20 = 1 119 against the competitors' one quarter of figures, 150.
            ("2024", 1119, 1269, 1119 / 1269),
            ("2025", 45, 190, 45 / 190),          # ours 40 + 5, theirs 115 + 30
        ], id="share_fiscal_year"),
        pytest.param("market_rank", {}, [
            ("2024Q1", 2, 1, 2),    # ours 120; X 150 more
            ("2024Q2", 2, 1, 2),    # ours 40; X 70 more, Y 40 equal (not more), Z 5
            ("2024Q3", 2, 1, 2),    # ours 5; X 30
        ], id="rank"),
        pytest.param("market_rank", {"by": "region"}, [
            ("2024Q1", "n", 1, 1, 1),           # X 100 = ours 100: a tie is not "more"
            ("2024Q1", "s", 2, 1, 2),           # X 50 > 20
            ("2024Q2", "n", 2, 1, 2),           # X 60 > 40, Y 40 = 40
            ("2024Q2", "s", 3, 1, 3),           # X 10 > 0, Z 5 > 0
            ("2024Q3", "n", 2, 1, 2),           # X 30 > 5
            ("2024Q3", "s", nan, 1, nan),       # no market rows
        ], id="rank_by_region"),
        pytest.param("market_rank", {"freq": "Y", "by": "region"}, [
            ("2024", "n", 2, 1, 2),             # ours 145; X 190, Y 40
            ("2024", "s", 2, 1, 2),             # ours 20; X 60, Z 5
        ], id="rank_year_by_region"),
        pytest.param("market_share_delta", {}, [
            ("2024Q1", nan, nan, nan),                          # first period
            ("2024Q2", nan, nan, 40 / 155 - 120 / 270),
            ("2024Q3", nan, nan, 5 / 35 - 40 / 155),
        ], id="delta"),
        pytest.param("market_share_delta", {"by": "region"}, [
            ("2024Q1", "n", nan, nan, nan), ("2024Q1", "s", nan, nan, nan),
            ("2024Q2", "n", nan, nan, 40 / 140 - 0.5),
            ("2024Q2", "s", nan, nan, 0 - 20 / 70),
            ("2024Q3", "n", nan, nan, 5 / 35 - 40 / 140),
            ("2024Q3", "s", nan, nan, nan),                     # no share in 2024Q3
        ], id="delta_by_region"),
        pytest.param("market_share_delta", {"start": "2024Q2"}, [
            # the first period returned still compares with 2024Q1, before start
            ("2024Q2", nan, nan, 40 / 155 - 120 / 270),
            ("2024Q3", nan, nan, 5 / 35 - 40 / 155),
        ], id="delta_start"),
    ],
)
def test_market_kpis(market, rows, expect, kpi, options, expected):
    result = repkpi.KPIS[kpi](market, **options)
    assert rows(result) == expect(expected)


def test_monthly_market_sums_to_quarters(loaded, rows, expect):
    # X: 10 (Jan), 20 (Feb), 30 (Apr); ours: 30 on 2024-01-15 and 30 on 2024-04-20.
    data = loaded(deals={"closed_on": ["2024-01-15", "2024-04-20"], "amount": ["30", "30"]},
               market={"period": ["2024-01", "2024-02", "2024-04"], "region": "n", "company": "X",
                       "revenue": ["10", "20", "30"]})
    assert rows(kpis.market_share(data)) == expect([
        ("2024Q1", 30, 60, 0.5),    # 30 / (30 + 10 + 20)
        ("2024Q2", 30, 60, 0.5),    # 30 / (30 + 30)
    ])
    assert rows(kpis.market_share(data, freq="M")) == expect([
        ("2024-01", 30, 40, 0.75),
        ("2024-02", 0, 20, 0.0),
        ("2024-03", nan, nan, nan),     # no market row in March
        ("2024-04", 30, 60, 0.5),
    ])


@pytest.mark.parametrize(
    ("kpi", "options", "error", "match"),
    [
        pytest.param("market_share", {"freq": "M"}, repkpi.OptionError,
                     r"market_share: freq='M' is finer than the market table's periods \(quarters\)",
                     id="months_on_quarters"),
        pytest.param("market_rank", {"freq": "M"}, repkpi.OptionError, r"market_rank: freq='M' is finer",
                     id="rank_months_on_quarters"),
        pytest.param("market_share", {"by": "channel"}, repkpi.OptionError,
                     r"market_share takes by=None or by='region', got by='channel'", id="by_channel"),
        pytest.param("market_share_delta", {"by": ["region", "segment"]}, repkpi.OptionError,
                     r"market_share_delta takes by=None or by='region'", id="by_list"),
        pytest.param("market_share", {"fiscal_year_start": 2}, repkpi.OptionError,
                     r"the market period 2024Q1 straddles two periods", id="fiscal_straddle"),
    ],
)
def test_market_option_errors(market, kpi, options, error, match):
    with pytest.raises(error, match=match):
        repkpi.KPIS[kpi](market, **options)


@pytest.mark.parametrize(
    ("tables", "by", "match"),
    [
        pytest.param(("accounts", "deals"), None, r"market_share needs the market table", id="no_market"),
        pytest.param(("market",), None, r"market_share needs the deals table", id="no_deals"),
        pytest.param(("deals", "market"), "region", r"market_share needs the accounts table",
                     id="by_region_no_accounts"),
    ],
)
def test_market_missing_tables(loaded, tables, by, match):
    given = {"accounts": ACCOUNTS, "deals": DEALS, "market": MARKET}
    data = loaded(**{t: given[t] for t in tables})
    with pytest.raises(repkpi.MissingTableError, match=match):
        kpis.market_share(data, by=by)


def test_the_change_of_share_reads_in_points(tmp_path, capsys):
    """A difference of two shares is in share points: 2024Q3's 5/35 - 40/155 = -0.1152 reads
    "-11.5 pts", never "-11.5%" (a fall of 11.5% would be a share 11.5% smaller)."""
    from repkpi.cli import main
    from repkpi.kpis import UNITS
    from repkpi.outputs import NUMBER_FORMATS

    deals = {**DEALS, "deal_id": [f"D{i}" for i in range(1, 7)], "created_on": DEALS["closed_on"]}
    for name, columns in {"accounts": ACCOUNTS, "deals": deals, "market": MARKET}.items():
        pd.DataFrame(columns).to_csv(tmp_path / f"{name}.csv", index=False)
    assert main(["kpis", str(tmp_path), "--as-of", "2024-09-30"]) == 0
    lines = {line.split()[0]: line.split()[-2:] for line in capsys.readouterr().out.splitlines()
             if line.strip().startswith("market_share")}
    assert lines["market_share_delta"] == ["-11.5", "pts"]
    assert lines["market_share"] == ["Q3", "14.3%"]   # 5 / 35
    assert UNITS["market_share_delta"] == "points"
    assert NUMBER_FORMATS["points"].startswith("+")   # signed in the workbook too
