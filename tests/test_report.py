"""write_report: the files it writes and what report.html shows, on data/sample and data/messy.

Each report is written once per module (drawing 28 charts takes seconds) by
yearly charts. The sample's latest event is 2026-09-30, so the latest
complete year is 2025 and the quarterly goals are scored on 2025Q4.
data/messy (see its README.md) loads in quarantine mode with 10 failures in
10 rows.
"""

from __future__ import annotations

import base64
import csv
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

import repkpi
from repkpi.report import write_report

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
MESSY = ROOT / "data" / "messy"
PNG = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """The parts of report.html the tests read: tables by id, images, text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[tuple[str, str]]]] = {}
        self.images: list[dict[str, str]] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self._table: str | None = None
        self._cell: list | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs.get("id", "")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = ["", attrs.get("class", "")]
        elif tag == "img":
            self.images.append(attrs)
        for name in ("href", "src"):
            if name in attrs and tag != "img":
                self.links.append(attrs[name])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append((self._cell[0].strip(), self._cell[1]))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell[0] += data

    def body(self, table: str) -> list[list[tuple[str, str]]]:
        """The data rows (header row left out) of a table."""
        return self.tables[table][1:]


def data_rows(file: Path) -> int:
    with open(file, encoding="utf-8-sig", newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample-report")
    goals = repkpi.load_goals(SAMPLE / "goals.toml")
    page = write_report(repkpi.load(SAMPLE), out, goals=goals, freq="Y")
    return page, goals


@pytest.fixture(scope="module")
def messy_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("messy-report")
    data = repkpi.load(MESSY, errors="quarantine")
    messages: list[str] = []
    page = write_report(data, out, freq="Y", progress=messages.append)
    return page, data, messages


# -- data/sample -----------------------------------------------------------


def test_writes_one_png_per_kpi_and_the_dashboard(sample_report):
    page, _ = sample_report
    pngs = sorted(p.name for p in page.parent.glob("*.png"))
    assert pngs == sorted([*(f"{name}.png" for name in repkpi.KPIS), "dashboard.png"])
    assert all((page.parent / name).read_bytes().startswith(PNG) for name in pngs)
    assert sorted(p.name for p in page.parent.iterdir() if p.suffix != ".png") == [
        "report.html", "scorecard.csv"]  # no rejects.csv: the sample is clean


def test_scorecard_csv_has_one_row_per_goal_of_the_goals_file(sample_report):
    page, goals = sample_report
    card = pd.read_csv(page.parent / "scorecard.csv", dtype={"period": str})
    assert len(goals) == 27
    assert list(card["goal"]) == [goal.label for goal in goals]
    assert list(card["kpi"]) == [goal.kpi for goal in goals]
    assert list(card["target"]) == [goal.target for goal in goals]
    # The latest complete year is 2025: yearly goals on 2025, quarterly ones on its last quarter.
    assert list(card["period"]) == ["2025" if goal.freq == "Y" else "2025Q4" for goal in goals]
    assert set(card["status"]) == {"met", "missed"}


def test_report_html_is_self_contained(sample_report):
    page, _ = sample_report
    html = Page(page.read_text(encoding="utf-8"))
    assert html.links == []  # no stylesheet, script or link to fetch
    assert len(html.images) == len(repkpi.KPIS) + 1
    for image in html.images:
        assert image["src"].startswith("data:image/png;base64,")
        embedded = base64.b64decode(image["src"].removeprefix("data:image/png;base64,"))
        assert embedded == (page.parent / f"{image['alt']}.png").read_bytes()
    assert sorted(image["alt"] for image in html.images) == sorted([*repkpi.KPIS, "dashboard"])


def test_report_html_scorecard_table_marks_each_status(sample_report):
    page, goals = sample_report
    html = Page(page.read_text(encoding="utf-8"))
    card = pd.read_csv(page.parent / "scorecard.csv")
    assert [cell[0] for cell in html.tables["scorecard"][0]] == [
        "Goal", "Period", "Value", "Target", "Status", "Previous"]
    rows = html.body("scorecard")
    assert [row[0][0] for row in rows] == [goal.label for goal in goals]
    statuses = [(row[4][0], row[4][1]) for row in rows]
    assert statuses == [(status, status) for status in card["status"]]
    assert {"met", "missed"} <= {cls for _, cls in statuses}
    # Values read in their unit: csat is a percent, revenue money, new_customers a count.
    by_kpi = dict(zip(card["kpi"], rows, strict=True))
    assert by_kpi["csat"][3][0] == "90.0%"
    assert by_kpi["revenue"][3][0] == "$2.5M"
    assert by_kpi["new_customers"][3][0] == "100"
    assert "(low data)" not in page.read_text(encoding="utf-8")  # every sample ratio has 30+ cases


def test_report_html_names_the_period_covered(sample_report):
    page, goals = sample_report
    text = page.read_text(encoding="utf-8")
    assert "<title>KPI report, 2025</title>" in text
    assert "Period under review: <strong>2025</strong> (charts by\nyear)" in text
    met = sum(pd.read_csv(page.parent / "scorecard.csv")["status"] == "met")
    assert f"{met} of {len(goals)} goals met." in text


def test_report_html_data_quality_table_counts_rows_per_table(sample_report):
    page, _ = sample_report
    html = Page(page.read_text(encoding="utf-8"))
    quality = {row[0][0]: [cell[0] for cell in row[1:]] for row in html.body("quality")}
    assert sorted(quality) == sorted(repkpi.TABLES)
    for table, (read, loaded, rejected, file) in quality.items():
        rows = data_rows(SAMPLE / f"{table}.csv")
        assert (read, loaded, rejected, file) == (f"{rows:,}", f"{rows:,}", "0", f"{table}.csv")
    assert quality["tickets"][0] == "20,021"
    assert "0 failure(s) recorded." in "".join(html.text)


# -- data/messy, quarantined -------------------------------------------------


def test_quarantined_report_writes_the_rejects(messy_report):
    page, data, _ = messy_report
    rejects = pd.read_csv(page.parent / "rejects.csv")
    assert list(rejects.columns) == ["table", "row", "column", "check", "value"]
    # The problems listed in data/messy/README.md, and the two rows of the rejected account.
    assert sorted(zip(rejects["table"], rejects["row"], rejects["column"], strict=True)) == [
        ("accounts", 18, "account_id"), ("accounts", 19, "account_id"),
        ("activities", 30, "occurred_on"),
        ("contracts", 13, "account_id"),
        ("deals", 11, "amount"), ("deals", 16, "stage"), ("deals", 31, "account_id"),
        ("deals", 41, "account_id"),
        ("surveys", 10, "csat"),
        ("tickets", 6, "resolved_at"),
    ]
    assert len(rejects) == len(data.rejects)
    assert sorted(p.name for p in page.parent.iterdir() if p.suffix != ".png") == [
        "rejects.csv", "report.html", "scorecard.csv"]


def test_quarantined_report_data_quality_table(messy_report):
    page, _, _ = messy_report
    html = Page(page.read_text(encoding="utf-8"))
    quality = {row[0][0]: tuple(cell[0] for cell in row[1:4]) for row in html.body("quality")}
    assert quality == {
        "accounts": ("31", "29", "2"),      # A001140 twice: both rows
        "contracts": ("30", "29", "1"),     # row 13 belongs to A001140
        "deals": ("41", "37", "4"),         # negative amount, bad stage, A001140, unknown account
        "tickets": ("40", "39", "1"),
        "surveys": ("30", "29", "1"),
        "activities": ("30", "29", "1"),
        "market": ("36", "36", "0"),
        "reps": ("20", "20", "0"),
    }
    assert "10 failure(s) recorded; see rejects.csv." in "".join(html.text)


def test_report_html_marks_low_data_and_no_data(messy_report):
    page, _, _ = messy_report
    html = Page(page.read_text(encoding="utf-8"))
    card = pd.read_csv(page.parent / "scorecard.csv")
    rows = html.body("scorecard")
    assert len(rows) == len(repkpi.DEFAULT_GOALS) == len(card)
    for row, low_data, status in zip(rows, card["low_data"], card["status"], strict=True):
        assert row[4][0] == status + (" (low data)" if low_data else "")
        assert row[4][1] == status.replace(" ", "")
    # 2025Q4 csat rests on 3 responses; market_rank has no 2025 market data.
    by_kpi = dict(zip(card["kpi"], rows, strict=True))
    assert by_kpi["csat"][4][0].endswith("(low data)")
    assert by_kpi["market_rank"][4] == ("no data", "nodata")
    assert by_kpi["market_rank"][2][0] == "n/a"


def test_progress_reports_each_step(messy_report):
    _, _, messages = messy_report
    assert messages[:2] == ["Scoring the goals", "Drawing the dashboard"]
    assert messages[2] == f"Charting {next(iter(repkpi.KPIS))} (1/{len(repkpi.KPIS)})"
    assert messages[-1] == "Writing report.html"
    assert len(messages) == len(repkpi.KPIS) + 3


# -- missing tables ----------------------------------------------------------


def test_report_on_a_subset_of_tables_scores_missing_goals_as_no_data(tmp_path):
    # examples.accounts() and examples.deals(): the latest event is 2024-04-15, so the
    # quarter under review is 2024Q1, and the yearly goals are scored on the year that holds
    # it, 2024, in progress.
    data = repkpi.CrmData(accounts=repkpi.datasets.doctest_data.accounts().accounts,
                          deals=repkpi.datasets.doctest_data.deals().deals)
    page = write_report(data, tmp_path, freq="Q")
    card = pd.read_csv(tmp_path / "scorecard.csv", dtype={"period": str}, keep_default_na=False)
    assert list(card["kpi"]) == [goal.kpi for goal in repkpi.DEFAULT_GOALS]
    assert list(zip(card["period"], card["status"], strict=True)) == [
        ("2024Q1", "met"),      # new_customer_growth: Q4 1 (A1), Q1 2 (A2 A3): +100%
        ("", "no data"),        # csat: no surveys table
        ("2024Q1", "missed"),   # large_deals: D1 only (60 000)
        ("2024Q1", "missed"),   # retention_rate: (E 2 - N 2) / S 1 = 0
        ("2024Q1", "met"),      # churn_rate: A1 active on 31 December, still there: 0
        ("2024", "in progress"),  # cross_sell_rate: D2 won, D3 lost, D4 won so far: 2/3
        ("2024", "in progress"),  # key_accounts: nobody has 100 000 won by 2024-04-15
        ("", "no data"),        # market_rank: no market table
        ("", "no data"),        # senior_reps: no reps table
    ]
    assert not (tmp_path / "csat.png").exists()
    assert (tmp_path / "revenue.png").is_file()
    text = page.read_text(encoding="utf-8")
    assert "<li>csat: csat needs the surveys table(s), which were not loaded.</li>" in text
    assert len(Page(text).body("scorecard")) == len(repkpi.DEFAULT_GOALS)


def test_report_without_goals_has_an_empty_scorecard(tmp_path):
    data = repkpi.CrmData(accounts=repkpi.datasets.doctest_data.accounts().accounts)
    page = write_report(data, tmp_path, goals=[], freq="Q")
    card = pd.read_csv(tmp_path / "scorecard.csv")
    assert card.empty
    assert list(card.columns) == ["goal", "kpi", "freq", "period", "value", "target", "direction",
                                  "attainment", "status", "previous", "change", "observations",
                                  "low_data"]
    assert Page(page.read_text(encoding="utf-8")).body("scorecard") == []
    assert "0 of 0 goals met." in page.read_text(encoding="utf-8")


def test_a_quarter_in_progress_is_reported_with_its_pace_never_as_met_or_missed(tmp_path):
    # Generated data that ends on 2026-08-31, two months into 2026Q3: the review is 2026Q2,
    # and Q3 is in progress (elapsed 62 of 92 days); so is the year 2026.
    from repkpi.datasets.generator import generate_sample

    data = repkpi.CrmData(**generate_sample(seed=5, accounts=400, end="2026-08-31"))
    assert data.as_of == pd.Timestamp("2026-08-31")
    card = repkpi.scorecard(data, period="current")
    quarterly = card[card["freq"] == "Q"]
    assert (quarterly["period"].astype(str) == "2026Q3").all()
    assert set(card["status"]) == {"in progress"}
    assert quarterly["elapsed"].to_numpy() == pytest.approx(62 / 92)
    assert set(card["outlook"].dropna()) <= {"on track", "at risk"}
    # A count's pace is its value scaled by the days: large deals so far / (62 / 92).
    deals = quarterly[quarterly["kpi"] == "large_deals"].iloc[0]
    assert deals["pace"] == pytest.approx(deals["value"] * 92 / 62)
    # No monthly KPI shows a month after the as-of date.
    monthly = repkpi.compute(data, freq="M")
    assert monthly["period"].max() == pd.Period("2026-08", "M")
    page = write_report(data, tmp_path, freq="Q")
    text = page.read_text(encoding="utf-8")
    assert "Period under review: <strong>2026 Q2</strong>" in text
    assert "In progress, to 31 Aug 2026" in text
    assert text.count('<tr class="pace">') == len(card)
