"""One fiscal rule everywhere: the same label names the same months in every function.

With a fiscal year starting in April, FY2027 Q2 is July-September 2026; starting
in July, FY2027 Q1 is. The sample's surveys run to 2026-09-30, so both labels
name the sample's last quarter, read as fiscal labels by the KPIs, compute,
scorecard, detail, the plots and the report alike.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import repkpi  # noqa: E402
from repkpi.plot import period_label, trend  # noqa: E402
from repkpi.report import write_report  # noqa: E402

CASES = [(4, "2027Q2", "2027", "FY2027 Q2"), (7, "2027Q1", "2027", "FY2027 Q1")]
FIRST, LAST = pd.Timestamp("2026-07-01"), pd.Timestamp("2026-09-30")


@pytest.fixture(scope="module")
def data():
    return repkpi.load_sample()


def months(period: pd.Period) -> tuple[pd.Timestamp, pd.Timestamp]:
    return period.start_time, period.end_time.normalize()


@pytest.mark.parametrize(("fiscal", "label", "year", "shown"), CASES)
def test_a_kpi_and_compute_read_the_label_as_fiscal(data, fiscal, label, year, shown):
    result = repkpi.kpis.csat(data, start=label, end=label, fiscal_year_start=fiscal)
    assert len(result) == 1
    assert months(result["period"].iloc[0]) == (FIRST, LAST)
    # The value is that of July-September 2026, as the calendar quarter computes it.
    calendar = repkpi.kpis.csat(data, start="2026Q3", end="2026Q3")
    assert result["value"].iloc[0] == pytest.approx(calendar["value"].iloc[0])
    long = repkpi.compute(data, ["csat"], start=label, end=label, fiscal_year_start=fiscal)
    assert months(long["period"].iloc[0]) == (FIRST, LAST)
    assert period_label(result["period"].iloc[0]) == shown
    # A year label is the fiscal year: April (or July) 2026 to March (or June) 2027.
    yearly = repkpi.kpis.csat(data, freq="Y", start=year, end=year, fiscal_year_start=fiscal)
    assert yearly["period"].iloc[0].start_time == pd.Timestamp(2026, fiscal, 1)


@pytest.mark.parametrize(("fiscal", "label", "year", "shown"), CASES)
def test_scorecard_and_detail_score_the_same_months(data, fiscal, label, year, shown):
    card = repkpi.scorecard(data, [repkpi.Goal("csat", "Q", 0.9, "at_least")], period=label,
                            fiscal_year_start=fiscal)
    assert months(card["period"].iloc[0]) == (FIRST, LAST)
    rows = repkpi.detail(data, "csat", period=label, fiscal_year_start=fiscal)
    days = rows["responded_at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    assert days.min() >= FIRST
    assert days.max() <= LAST
    assert rows["numerator_weight"].sum() / rows["denominator_weight"].sum() == pytest.approx(
        card["value"].iloc[0])


def test_a_goals_file_sets_the_fiscal_year_and_an_argument_wins(data, tmp_path):
    file = tmp_path / "goals.toml"
    file.write_text('fiscal_year_start = 4\n[[goal]]\nkpi = "csat"\nfreq = "Q"\n'
                    'target = 0.9\ndirection = "at_least"\n', encoding="utf-8")
    goals = repkpi.load_goals(file)
    assert goals.fiscal_year_start == 4
    card = repkpi.scorecard(data, goals, period="2027Q2")
    assert months(card["period"].iloc[0]) == (FIRST, LAST)
    calendar = repkpi.scorecard(data, goals, period="2026Q3", fiscal_year_start=1)
    assert months(calendar["period"].iloc[0]) == (FIRST, LAST)
    # The period as a person reads it, beside the period: the same quarter, two names.
    assert (str(card["period"].iloc[0]), card["period_label"].iloc[0]) == ("2027Q2", "FY2027 Q2")
    assert (str(calendar["period"].iloc[0]), calendar["period_label"].iloc[0]) == (
        "2026Q3", "2026 Q3")


@pytest.mark.parametrize(("fiscal", "label", "year", "shown"), CASES)
def test_plots_and_the_report_print_fiscal_labels(data, tmp_path, fiscal, label, year, shown):
    result = repkpi.kpis.csat(data, start="2026Q1", end=label, fiscal_year_start=fiscal)
    ax = trend(result, goal=0.9)
    assert ax.get_xticklabels()[-1].get_text() == shown
    page = write_report(data, tmp_path, period=label, fiscal_year_start=fiscal,
                        goals=[repkpi.Goal("csat", "Q", 0.9, "at_least")])
    text = page.read_text(encoding="utf-8")
    assert f"Period under review: <strong>{shown}</strong>" in text
    # scorecard.csv and report.xlsx say which quarter: the label beside the fiscal period.
    card = pd.read_csv(page.parent / "scorecard.csv", dtype={"period": str})
    assert card[["period", "period_label"]].to_numpy().tolist() == [[label, shown]]
    sheet = pd.read_excel(page.parent / "report.xlsx", sheet_name="kpis", dtype={"period": str},
                          engine="openpyxl")
    q = sheet[sheet["period"] == label]
    assert set(q["period_label"]) == {shown}
