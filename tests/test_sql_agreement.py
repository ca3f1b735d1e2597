"""repkpi agrees with the independent DuckDB SQL implementation on the sample and generated data.

The SQL (benchmarks/sql_reference.py) was written from the spec alone, without
reading the package: agreement on every KPI, every period and every group is
a check of both.
"""

from __future__ import annotations

import pytest

import repkpi
from benchmarks import sql_reference
from benchmarks.agreement import mismatches
from repkpi.datasets.generator import write_sample


@pytest.fixture(scope="module", params=["sample", "first-of-month"])
def both(request, tmp_path_factory):
    """The shipped sample; and generated data with 40% of accounts won, lost and renewed on
    the 1st of a month, as real CRMs date them (the opening state on P.open matters there)."""
    if request.param == "sample":
        folder = repkpi.sample_path()
    else:
        folder = write_sample(tmp_path_factory.mktemp("first"), seed=11, accounts=600,
                              first_of_month=0.4)
    return repkpi.load(folder), sql_reference.connect(folder)


@pytest.mark.parametrize("freq", ["Q", "M"])
@pytest.mark.parametrize("by", [None, "region", "rep_id"])
def test_every_kpi_agrees_with_sql(both, freq, by):
    data, con = both
    ours = repkpi.compute(data, freq=freq, by=by)
    theirs = sql_reference.compute_all(con, freq=freq, by=by)
    assert set(ours["kpi"]) == set(theirs["kpi"])
    # Market KPIs take no rep_id and no month finer than the market table's quarters.
    market = {name for name, spec in repkpi.kpis.specs().items() if spec.route == "market"}
    expected_kpis = len(repkpi.KPIS) - (len(market) if by == "rep_id" or freq == "M" else 0)
    assert ours["kpi"].nunique() == expected_kpis
    bad = mismatches(ours, theirs, by=by)
    assert bad.empty, bad.head(10).to_string()
