"""repkpi.cohorts worked by hand on a small book (analysis.md, "Cohorts").

As of 15 February 2026 (2026Q1 in progress). Quarterly cohorts:

- 2023Q2: A6 (won 2023-06-01, churned 2024-02-01): active at the close of
  2023Q2, Q3, Q4 (1), not on 2024-03-31 (0).
- 2024Q1: A1..A5 (won 2024-01-01). A1 churns 2025-02-10, A3 2025-03-20, A4
  2026-02-01. Active at the close of 2024Q1..2024Q4: 5; of 2025Q1..2025Q4: 3
  (A2, A4, A5); on the as-of date 2026-02-15 (age 8, in progress): 2.
- A7 is a prospect (no customer_since): in no cohort.

The last cell of each cohort is 2026Q1 (measured on 2026-02-15); 2026Q2 and
later begin after the as-of date: absent. 2023Q2 has ages 0..11, 2024Q1 0..8.

Revenue (ARR = annual_value of the contracts active on the day):
C1 A1 2024-01-01..2025-02-09 100; C2 A2 2024-02-01.. (evergreen) 200;
C3 A4 2024-01-01..2024-12-31 50; C4 A4 2025-01-01..2026-01-31 80.
Cohort 2024Q1's size: ARR on 2024-03-31 = 100 + 200 + 50 = 350.
On 2024-12-31: 350 (C3 ends that day, still active). On 2025-03-31:
200 + 80 = 280 (0.8). On 2026-02-15: 200 (C4 ended 2026-01-31): 4/7.
Cohort 2023Q2 (A6) has no contract: size 0, value NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import repkpi

ACCOUNTS = """\
account_id,region,customer_since,churned_on
A1,north,2024-01-01,2025-02-10
A2,north,2024-01-01,
A3,south,2024-01-01,2025-03-20
A4,south,2024-01-01,2026-02-01
A5,south,2024-01-01,
A6,north,2023-06-01,2024-02-01
A7,south,,
"""
CONTRACTS = """\
contract_id,account_id,start_date,end_date,annual_value,renewal_of
C1,A1,2024-01-01,2025-02-09,100,
C2,A2,2024-02-01,,200,
C3,A4,2024-01-01,2024-12-31,50,
C4,A4,2025-01-01,2026-01-31,80,C3
"""


@pytest.fixture
def book(folder, engine):
    return repkpi.load(folder(accounts=ACCOUNTS, contracts=CONTRACTS), engine=engine,
                       as_of="2026-02-15")


def _cohort(table: pd.DataFrame, period: str) -> pd.DataFrame:
    return table[table["cohort"] == pd.Period(period, "Q")].reset_index(drop=True)


def test_customers_by_hand(book):
    table = repkpi.cohorts(book)
    assert list(table.columns) == ["cohort", "age", "size", "active", "value", "in_progress"]
    assert [str(p) for p in pd.unique(table["cohort"])] == ["2023Q2", "2024Q1"]
    early = _cohort(table, "2023Q2")
    assert early["age"].tolist() == list(range(12))
    assert early["active"].tolist() == [1, 1, 1] + [0] * 9
    late = _cohort(table, "2024Q1")
    assert late["age"].tolist() == list(range(9))
    assert late["size"].unique().tolist() == [5]
    assert late["active"].tolist() == [5, 5, 5, 5, 3, 3, 3, 3, 2]
    assert late["value"].tolist() == pytest.approx([1, 1, 1, 1, .6, .6, .6, .6, .4])
    assert late["in_progress"].tolist() == [False] * 8 + [True]
    assert table.loc[table["in_progress"], "age"].tolist() == [11, 8]  # the as-of edge only


def test_revenue_by_hand(book):
    table = repkpi.cohorts(book, measure="revenue")
    assert list(table.columns) == ["cohort", "age", "size", "arr", "value", "in_progress"]
    late = _cohort(table, "2024Q1")
    assert late["size"].unique().tolist() == [350.0]
    assert late["arr"].tolist() == [350, 350, 350, 350, 280, 280, 280, 280, 200]
    assert late["value"].iloc[-1] == pytest.approx(4 / 7)
    early = _cohort(table, "2023Q2")
    assert (early["size"] == 0).all()
    assert early["value"].isna().all()


def test_by_region(book):
    table = repkpi.cohorts(book, by="region")
    north = table[(table["region"] == "north") & (table["cohort"] == pd.Period("2024Q1", "Q"))]
    south = table[(table["region"] == "south") & (table["cohort"] == pd.Period("2024Q1", "Q"))]
    # north: A1, A2 (A1 churns 2025-02-10); south: A3, A4, A5 (A3 2025-03-20, A4 2026-02-01).
    assert north["active"].tolist() == [2, 2, 2, 2, 1, 1, 1, 1, 1]
    assert south["active"].tolist() == [3, 3, 3, 3, 2, 2, 2, 2, 1]
    assert set(table.loc[table["cohort"] == pd.Period("2023Q2", "Q"), "region"]) == {"north"}


def test_a_period_ending_on_the_as_of_date_is_complete(folder):
    data = repkpi.load(folder(accounts=ACCOUNTS), as_of="2025-12-31")
    table = repkpi.cohorts(data)
    assert not table["in_progress"].any()
    assert _cohort(table, "2024Q1")["active"].iloc[-1] == 3  # 2025Q4, age 7


def test_monthly_and_fiscal_cohorts(folder):
    data = repkpi.load(folder(accounts=ACCOUNTS), as_of="2026-02-15")
    monthly = repkpi.cohorts(data, freq="M")
    # 2024-01's cohort runs to 2026-02 (age 25); at the close of 2025-02 A1 has churned: 4.
    january = monthly[monthly["cohort"] == pd.Period("2024-01", "M")]
    assert january["age"].max() == 25
    assert january.loc[january["age"] == 13, "active"].item() == 4
    fiscal = repkpi.cohorts(data, freq="Y", fiscal_year_start=4)
    # Fiscal years from April: A6 in FY2024 (Apr 2023 - Mar 2024), A1..A5 too.
    assert fiscal["cohort"].astype(str).unique().tolist() == ["2024"]
    assert fiscal["size"].unique().tolist() == [6]


def test_refusals(folder):
    data = repkpi.load(folder(accounts=ACCOUNTS))
    with pytest.raises(repkpi.OptionError, match="measure must be"):
        repkpi.cohorts(data, measure="deals")
    with pytest.raises(repkpi.MissingTableError, match="needs the contracts table"):
        repkpi.cohorts(data, measure="revenue")
    with pytest.raises(repkpi.ColumnNotFoundError, match="Unknown cohort column"):
        repkpi.cohorts(data, by="regoin")


def test_an_export_without_churn_dates_is_refused(folder):
    # No churned_on column at all is not "nobody churned": the cohorts cannot tell.
    data = repkpi.load(folder(accounts="account_id,customer_since\nA1,2024-01-01\n"))
    with pytest.raises(repkpi.AbsentColumnError, match="cohorts needs accounts.churned_on"):
        repkpi.cohorts(data)


def test_no_customer_gives_an_empty_table(folder):
    data = repkpi.load(folder(accounts="account_id,customer_since,churned_on\nP1,,\n"))
    table = repkpi.cohorts(data)
    assert table.empty
    assert list(table.columns) == ["cohort", "age", "size", "active", "value",
                                                   "in_progress"]


@pytest.mark.dask
def test_dask_equals_pandas_on_the_sample():
    pytest.importorskip("dask.dataframe")
    path = repkpi.sample_path()
    for measure in ("customers", "revenue"):
        mine = repkpi.cohorts(repkpi.load(path), measure=measure, by="segment")
        theirs = repkpi.cohorts(repkpi.load(path, engine="dask"), measure=measure, by="segment")
        pd.testing.assert_frame_equal(mine, theirs)
    assert np.isfinite(mine["value"]).any()
