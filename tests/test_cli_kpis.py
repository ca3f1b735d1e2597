"""``repkpi kpis``: the latest period's value of every KPI, as a person reads it.

api.md ("Command line"): ratios as percentages, money with thousands
separators, counts as integers, hours with one decimal, never scientific
notation; the period as it is printed (``2026 Q3``, ``FY2027 Q2``).
"""

from __future__ import annotations

import contextlib
import io
import re

import pandas as pd
import pytest

import repkpi
from repkpi.cli import main

SAMPLE = repkpi.sample_path()


@pytest.fixture(scope="module")
def printed() -> dict[str, tuple[str, str]]:
    """KPI -> (period, value) as ``repkpi kpis`` prints them on the sample."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["kpis", str(SAMPLE)]) == 0
    table = out.getvalue().splitlines()
    assert table[0].split() == ["kpi", "period", "value"]
    rows = [re.match(r"\s*(\S+) (\d{4} Q\d)\s+(.+)$", line) for line in table[1:]]
    return {row[1]: (row[2], row[3]) for row in rows if row is not None}


def test_every_kpi_is_printed_for_the_latest_period(printed):
    assert set(printed) == set(repkpi.KPIS)
    assert {period for period, _ in printed.values()} == {"2026 Q3"}


def test_values_read_by_unit_and_never_in_scientific_notation(printed):
    values = repkpi.compute(repkpi.load_sample(), end="2026Q3")
    q3 = values[values["period"] == pd.Period("2026Q3", "Q")].set_index("kpi")["value"]
    assert not [text for _, text in printed.values() if re.search(r"\de[+-]?\d", text)]
    # counts: whole numbers with thousands separators (the "1.470000e+02")
    assert printed["new_customers"][1] == f"{int(q3['new_customers']):,}"
    assert printed["active_customers"][1] == f"{int(q3['active_customers']):,}"
    assert "," in printed["active_customers"][1]
    # money: dollars with thousands separators, no cents
    assert printed["revenue"][1] == f"${q3['revenue']:,.0f}"
    # ratios: percentages with one decimal
    assert printed["csat"][1] == f"{q3['csat'] * 100:.1f}%"
    assert printed["churn_rate"][1] == f"{q3['churn_rate'] * 100:.1f}%"
    # hours: one decimal
    assert printed["resolution_hours"][1] == f"{q3['resolution_hours']:.1f} h"
