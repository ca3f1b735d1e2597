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


# -- --window (analysis.md, "Windows") ------------------------------------------------------------
def test_window_gives_each_value_over_its_span(tmp_path, capsys):
    out = tmp_path / "ttm.csv"
    assert main(["kpis", str(SAMPLE), "--freq", "M", "--window", "12", "--out", str(out)]) == 0
    assert "revenue" in capsys.readouterr().out
    written = pd.read_csv(out)
    revenue = written[written["kpi"] == "revenue"].set_index("period")["value"]
    # The twelve months ending with December 2025 are the year 2025.
    year = repkpi.kpis.revenue(repkpi.load_sample(), freq="Y", start="2025", end="2025")
    assert revenue["2025-12"] == pytest.approx(year["value"].iloc[0], rel=1e-12)


@pytest.mark.parametrize(("command", "message"), [
    (["kpis", str(SAMPLE), "--window", "qtd"], "needs freq='M'"),
    (["detail", str(SAMPLE), "--kpi", "churn_rate", "--period", "2025Q3", "--window", "qtd"],
     "needs freq='M'"),
    (["explain", str(SAMPLE), "--kpi", "csat", "--period", "2025Q3", "--by", "region",
      "--window", "qtd"], "needs freq='M'"),
])
def test_a_quarter_to_date_of_quarters_exits_2_and_says_why(command, message, capsys):
    assert main(command) == 2
    captured = capsys.readouterr()
    assert message in " ".join(captured.err.split())
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize("window", ["0", "-3", "ttm", "1.5"])
def test_a_window_that_is_no_span_is_a_usage_error(window, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["kpis", str(SAMPLE), "--window", window])
    assert exit_.value.code == 2
    assert "period, ytd, qtd or a number of periods" in capsys.readouterr().err


def test_detail_and_explain_take_the_window(capsys):
    assert main(["detail", str(SAMPLE), "--kpi", "revenue", "--period", "2026-06",
                 "--window", "ytd", "--only", "numerator"]) == 0
    count = re.search(r"revenue in 2026-06: ([\d,]+) row", capsys.readouterr().out)[1]
    rows = repkpi.detail(repkpi.load_sample(), "revenue", period="2026-06", window="ytd",
                         only="numerator")
    assert int(count.replace(",", "")) == len(rows)
    assert main(["explain", str(SAMPLE), "--kpi", "win_rate", "--period", "2026-06",
                 "--by", "region", "--window", "ytd"]) == 0
    assert "in 2025-06 ->" in capsys.readouterr().out  # against the same span a year earlier
