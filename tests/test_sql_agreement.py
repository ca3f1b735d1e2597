"""repkpi agrees with the independent DuckDB SQL implementation on the sample and generated data.

The SQL (benchmarks/sql_reference.py) was written from the spec alone, without
reading the package: agreement on every KPI, every period and every group is
a check of both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import repkpi
from benchmarks import sql_reference
from benchmarks.agreement import mismatches
from repkpi.datasets.generator import write_sample

INSIDE_A_QUARTER = "2026-08-14"


@pytest.fixture(scope="module", params=[
    "sample", *[pytest.param(name, marks=pytest.mark.slow)
                for name in ("first-of-month", "optional-columns", "declared-as-of")]])
def both(request, tmp_path_factory):
    """The shipped sample; generated data with 40% of accounts won, lost and renewed on the
    1st of a month, as real CRMs date them (the opening state on P.open matters there); that
    data with the optional columns of data-model.md left empty in places; and that data
    declared as of a day inside a quarter (both sides cut it, each from kpis.md's rules)."""
    as_of = INSIDE_A_QUARTER if request.param == "declared-as-of" else None
    if request.param == "sample":
        folder = repkpi.sample_path()
    else:
        folder = write_sample(tmp_path_factory.mktemp("first"), seed=11, accounts=300,
                              first_of_month=0.4)
        if request.param == "optional-columns":
            blank_optional_cells(folder)
    con = sql_reference.connect(folder, as_of=as_of)
    con.execute("SET threads = 1")  # the same answers; two threads only add CPU on tables this small
    return repkpi.load(folder, as_of=as_of), con


def blank_optional_cells(folder: Path) -> None:
    """Prospects with lost deals, won deals without an amount, deals of unknown type and
    channel, tickets with no account or no priority, evergreen contracts."""
    rng = np.random.default_rng(5)

    def read(table: str) -> pd.DataFrame:
        return pd.read_csv(folder / f"{table}.csv", dtype="str", keep_default_na=False)

    def blank(frame: pd.DataFrame, column: str, share: float) -> None:
        frame.loc[rng.random(len(frame)) < share, column] = ""

    accounts, deals = read("accounts"), read("deals")
    prospects = accounts.head(40).assign(
        account_id=[f"P{i:04d}" for i in range(40)], customer_since="", churned_on="")
    accounts = pd.concat([accounts, prospects], ignore_index=True)
    lost = deals[deals["stage"] == "lost"].head(40).assign(
        deal_id=[f"PD{i:04d}" for i in range(40)], account_id=prospects["account_id"].to_numpy())
    deals = pd.concat([deals, lost], ignore_index=True)
    for column in ("amount", "deal_type", "channel"):
        blank(deals, column, 0.1)
    tickets, contracts = read("tickets"), read("contracts")
    blank(tickets, "account_id", 0.05)
    blank(tickets, "priority", 0.1)
    unrenewed = ~contracts["contract_id"].isin(contracts["renewal_of"])
    contracts.loc[unrenewed & (rng.random(len(contracts)) < 0.15), "end_date"] = ""
    for table, frame in {"accounts": accounts, "deals": deals, "tickets": tickets,
                         "contracts": contracts}.items():
        frame.to_csv(folder / f"{table}.csv", index=False)


@pytest.mark.parametrize("freq", ["Q", "M"])
@pytest.mark.parametrize("by", [None, "region", "rep_id"])
def test_every_kpi_agrees_with_sql(both, freq, by):
    data, con = both
    ours = repkpi.compute(data, freq=freq, by=by)
    theirs = sql_reference.compute_all(con, freq=freq, by=by)
    assert set(ours["kpi"]) == set(theirs["kpi"])
    # Market KPIs take no rep_id and no month finer than the market table's quarters.
    market = {name for name, spec in repkpi.KPIS.items() if spec.route == "market"}
    expected_kpis = len(repkpi.KPIS) - (len(market) if by == "rep_id" or freq == "M" else 0)
    assert ours["kpi"].nunique() == expected_kpis
    bad = mismatches(ours, theirs, by=by)
    assert bad.empty, bad.head(10).to_string()


WINDOWS = [("M", "ytd"), ("M", "qtd"), ("M", 12), ("Q", 4)]
"""The windows of analysis.md checked: year and quarter to date, twelve months, four quarters."""


@pytest.mark.parametrize(("freq", "window", "by"), [
    pytest.param(freq, window, by, id=f"{freq}-{window}-{by}",
                 marks=pytest.mark.slow if by == "rep_id" and window != "ytd" else ())
    for freq, window in WINDOWS for by in (None, "region", "rep_id")])
def test_every_windowed_kpi_agrees_with_sql(both, freq, window, by):
    data, con = both
    ours = repkpi.compute(data, freq=freq, by=by, window=window)
    theirs = sql_reference.compute_all(con, freq=freq, by=by, window=window)
    assert set(ours["kpi"]) == set(theirs["kpi"])
    market = {name for name, spec in repkpi.KPIS.items() if spec.route == "market"}
    expected_kpis = len(repkpi.KPIS) - (len(market) if by == "rep_id" or freq == "M" else 0)
    assert ours["kpi"].nunique() == expected_kpis
    bad = mismatches(ours, theirs, by=by)
    assert bad.empty, bad.head(10).to_string()
