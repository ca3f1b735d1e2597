"""write_report: the monthly report as a manager reads it, section by section, and its files.

report.html reads, in order: the headline (the period, "N of 9 plan goals met",
the pace of the periods in progress, the data-quality banner), the plan's nine
goals, the quarter's focus, the drivers of each missed or at-risk goal, the
"needs attention" lists, the teams and reps, the other goals, every KPI's chart
once, and the data's quality last. Each section's numbers are checked against
the library calls that make them (``scorecard``, ``explain``,
``needs_attention``, ``detail``, the KPI functions), called here on their own.

Each report is written once per module (drawing 27 charts takes seconds):

* data/sample with its goals file: the sample's latest event is 2026-09-30,
  the last day of 2026Q3, so the review is 2026Q3 (the focus of Q3:
  renewals) and the yearly goals are in progress (the year 2026);
* data/sample with a goals file that leaves the senior reps out and sets the
  focus of Q3 to CSAT alone;
* data/messy in quarantine mode (see its README.md: 10 rows set aside);
* generated data (300 accounts) ending 2026-08-15, in the middle of 2026Q3:
  the review is 2026Q2, and 2026Q3 and the year 2026 are in progress;
* a hand-made CRM export whose cells and goal labels look like formulas.
"""

from __future__ import annotations

import base64
import csv
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import repkpi
import repkpi.report as report_module
from repkpi.attention import sla_options
from repkpi.datasets import doctest_data
from repkpi.errors import RepkpiError
from repkpi.forecast import renewals
from repkpi.goals import DEFAULT_GOALS, PLAN_FOCUS, Goal, low_data, plan_goals
from repkpi.kpis import KPIS, UNITS
from repkpi.plot import format_value, title
from repkpi.report import write_report

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
MESSY = ROOT / "data" / "messy"
PNG = b"\x89PNG\r\n\x1a\n"
_SCRIPT = Path(sys.executable).with_name("repkpi")
REPKPI = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "repkpi"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Excel number formats by unit, as the spec's "Command line" asks (numbers formatted by unit).
EXCEL_FORMATS = {"count": "#,##0", "percent": "0.0%", "money": "#,##0.00", "hours": "0.0",
                 "score": "0.00", "rank": "0", "points": "+0.0%;-0.0%;0.0%"}


# -- reading report.html ------------------------------------------------------------------------
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "wbr"}


@dataclass(eq=False)
class Node:
    """An element of the page: its tag, attributes, children and text, in document order."""

    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    parts: list[Node | str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        return "".join(part if isinstance(part, str) else part.text for part in self.parts)

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        return [node for node in self.iter() if node is not self
                and (tag is None or node.tag == tag) and (cls is None or cls in node.classes)
                and all(node.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node | None:
        found = self.find_all(tag, cls, **attrs)
        return found[0] if found else None

    def cells(self) -> list[Node]:
        return [child for child in self.children if child.tag in ("td", "th")]

    def next_element(self) -> Node | None:
        siblings = self.parent.children
        at = siblings.index(self)
        return siblings[at + 1] if at + 1 < len(siblings) else None


class Page(HTMLParser):
    """report.html as a tree of :class:`Node` (stdlib parser only)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self._open = [self.root]
        self.feed(text)
        self.close()
        self.order = {id(node): i for i, node in enumerate(self.root.iter())}

    def handle_starttag(self, tag, attrs):
        parent = self._open[-1]
        node = Node(tag, {k: v or "" for k, v in attrs}, parent)
        parent.children.append(node)
        parent.parts.append(node)
        if tag not in _VOID:
            self._open.append(node)

    def handle_startendtag(self, tag, attrs):
        parent = self._open[-1]
        node = Node(tag, {k: v or "" for k, v in attrs}, parent)
        parent.children.append(node)
        parent.parts.append(node)

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        for depth in range(len(self._open) - 1, 0, -1):
            if self._open[depth].tag == tag:
                del self._open[depth:]
                return

    def handle_data(self, data):
        self._open[-1].parts.append(data)

    def by_id(self, ident: str) -> Node | None:
        return self.root.find(id=ident)

    def position(self, node: Node) -> int:
        return self.order[id(node)]

    def body_rows(self, table: Node, cls: str | None = None) -> list[Node]:
        return [row for row in table.find_all("tr", cls) if row.parent.tag != "thead"]


def exact(cell: Node) -> float:
    """A number cell's exact value (``data-value``); NaN where it is empty."""
    text = cell.attrs["data-value"]
    return float(text) if text else math.nan


def same(a: object, b: object) -> bool:
    """Equal floats, NaN equal to NaN (and to None)."""
    a = math.nan if a is None or a is pd.NA else float(a)
    b = math.nan if b is None or b is pd.NA else float(b)
    return (math.isnan(a) and math.isnan(b)) or a == b


def data_rows(file: Path) -> int:
    with open(file, encoding="utf-8-sig", newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# -- the reports, each written once ----------------------------------------------------------------
@dataclass
class Written:
    folder: Path
    data: repkpi.CrmData
    goals: list[Goal]
    period: str  # the period under review, worked out by hand from the data's as-of date
    messages: list[str]
    figures: list[tuple[bytes, tuple[float, ...]]]  # each PNG drawn, with its goal lines' heights
    page: Page = field(init=False)
    html: str = field(init=False)

    def __post_init__(self) -> None:
        self.html = (self.folder / "report.html").read_text(encoding="utf-8")
        self.page = Page(self.html)


def _recording(original, figures):
    """png_bytes that notes the goal lines (gid "goal") of each figure before drawing it."""

    def png_bytes(fig, *args, **kwargs):
        heights = tuple(sorted({float(y) for ax in fig.axes for line in ax.get_lines()
                                if line.get_gid() == "goal"
                                for y in np.asarray(line.get_ydata(), dtype=float)}))
        png = original(fig, *args, **kwargs)
        figures.append((png, heights))
        return png

    return png_bytes


def _write(out: Path, data, goals, period: str, *, record: bool = False, **options) -> Written:
    messages: list[str] = []
    figures: list[tuple[bytes, tuple[float, ...]]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report_module, "png_bytes", _recording(report_module.png_bytes, figures))
        page = write_report(data, out, goals=goals, progress=messages.append, **options)
    assert page == out / "report.html"
    return Written(out, data, goals, period, messages, figures)


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory) -> Written:
    goals = repkpi.load_goals(SAMPLE / "goals.toml")
    return _write(tmp_path_factory.mktemp("sample") / "out", repkpi.load(SAMPLE), goals, "2026Q3",
                  record=True)


@pytest.fixture(scope="module")
def variant_report(tmp_path_factory) -> Written:
    """The sample with a goals file that leaves the senior reps out and focuses Q3 on CSAT."""
    folder = tmp_path_factory.mktemp("variant")
    text = (SAMPLE / "goals.toml").read_text(encoding="utf-8")
    head, *blocks = text.split("[[goal]]")
    kept = [block for block in blocks if 'kpi = "senior_reps"' not in block]
    assert len(kept) == len(blocks) - 1
    file = folder / "goals.toml"
    file.write_text('[focus]\nQ3 = ["csat"]\n\n' + "".join(f"[[goal]]{b}" for b in kept),
                    encoding="utf-8")
    goals = repkpi.load_goals(file)
    return _write(folder / "out", repkpi.load(SAMPLE), goals, "2026Q3")


@pytest.fixture(scope="module")
def messy_report(tmp_path_factory) -> Written:
    data = repkpi.load(MESSY, errors="quarantine")
    return _write(tmp_path_factory.mktemp("messy") / "out", data, DEFAULT_GOALS, "2026Q3")


@pytest.fixture(scope="module")
def generated_report(tmp_path_factory) -> Written:
    """Generated data to 2026-08-15: 46 of 2026Q3's 92 days are over; the review is 2026Q2."""
    from repkpi.datasets.generator import write_sample

    folder = write_sample(tmp_path_factory.mktemp("generated") / "data", seed=3, accounts=300,
                          end="2026-08-15")
    data = repkpi.load(folder)
    assert data.as_of == pd.Timestamp("2026-08-15")
    goals = repkpi.load_goals(folder / "goals.toml")
    return _write(folder.parent / "out", data, goals, "2026Q2")


# The hand-made export: the accounts A1..A4 are customers on 31 December 2023, and A1 and A2
# churn in 2024Q1, so churn_rate of 2024Q1 is 2 / 4 = 0.5 exactly. A5 becomes a customer on
# 2024-04-10, the latest recorded date: 2024Q1 is the latest complete quarter.
HYPERLINK = '=HYPERLINK("http://x","y")'
SCRIPT = "<img src=x onerror=alert(1)>"
REP = "@SUM(1+1)"
REGION = "+cmd"
LABEL = '=HYPERLINK("http://evil","Churn at most 50%")'
BAD_STAGE = "=1+2"


@pytest.fixture(scope="module")
def formula_report(tmp_path_factory) -> Written:
    data = repkpi.CrmData(
        accounts=pd.DataFrame({
            "account_id": ["A1", "A2", "A3", "A4", "A5"],
            "account_name": [HYPERLINK, SCRIPT, "Plain Co", "-x Ltd", "\tTabbed"],
            "rep_id": ["R1", "R2", "R1", "R2", "R1"],
            "region": [REGION, "north", "north", REGION, "south"],
            "segment": ["smb", "smb", "smb", "enterprise", "smb"],
            "customer_since": ["2023-01-10", "2023-02-01", "2023-03-01", "2023-05-01",
                               "2024-04-10"],
            "churned_on": ["2024-02-15", "2024-03-01", None, None, None]}),
        deals=pd.DataFrame({
            "deal_id": ["D1", "D2", "D3", "D4"],
            "account_id": ["A3", "A4", "A4", "A5"],
            "rep_id": ["R1", "R2", "R2", "R1"],
            "created_on": ["2024-01-05", "2024-02-01", "2024-03-01", "2024-04-01"],
            "closed_on": ["2024-02-01", "2024-03-10", None, None],
            "stage": ["won", "lost", BAD_STAGE, "open"],
            "amount": [60_000.0, 5_000.0, 1_000.0, 7_000.0],
            "deal_type": ["new_business", "cross_sell", "upsell", "upsell"],
            "channel": ["direct", "direct", "partner", "partner"]}),
        reps=pd.DataFrame({
            "rep_id": ["R1", "R2"], "name": [REP, "Plain Name"], "team": ["+alpha", "beta"],
            "hired_on": ["2020-01-01", "2021-01-01"], "left_on": [None, None]}),
        errors="quarantine")
    goals = [Goal("churn_rate", "Q", 0.5, "at_most", label=LABEL),
             Goal("win_rate", "Q", 0.4, "at_least", label="-1+2 win rate")]
    return _write(tmp_path_factory.mktemp("formulas") / "out", data, goals, "2024Q1")


REPORTS = ["sample_report", "generated_report"]


# -- files -----------------------------------------------------------------------------------------
def test_writes_one_png_per_kpi_the_workbook_and_the_marker(sample_report):
    folder = sample_report.folder
    pngs = {p.name for p in folder.glob("*.png")}
    assert {f"{name}.png" for name in KPIS} <= pngs <= {f"{name}.png" for name in KPIS} | {
        "dashboard.png"}
    assert all((folder / name).read_bytes().startswith(PNG) for name in pngs)
    assert sorted(p.name for p in folder.iterdir() if p.suffix != ".png") == [
        ".repkpi", "report.html", "report.xlsx", "scorecard.csv"]  # no rejects.csv: clean data
    assert not list(folder.parent.glob(".out.*"))  # nothing left beside it


def test_scorecard_csv_has_the_plan_first_then_the_other_goals(sample_report):
    goals = sample_report.goals
    plan, left_out, others = plan_goals(goals)
    assert len(goals) == len(KPIS)  # one goal per KPI
    assert not left_out
    card = pd.read_csv(sample_report.folder / "scorecard.csv", dtype={"period": str})
    assert list(card["goal"]) == [goal.label for goal in [*plan, *others]]
    assert list(card["target"]) == [goal.target for goal in [*plan, *others]]
    # The review is 2026Q3; the yearly goals are scored on the year in progress, 2026.
    assert list(card["period"]) == ["2026" if g.freq == "Y" else "2026Q3" for g in [*plan, *others]]
    expected = repkpi.scorecard(sample_report.data, [*plan, *others], period="2026Q3")
    assert list(card["status"]) == list(expected["status"])
    assert all(same(a, b) for a, b in zip(card["value"], expected["value"], strict=True))


def test_report_html_is_self_contained_and_draws_every_kpi_once(sample_report):
    page, folder = sample_report.page, sample_report.folder
    assert not [n for n in page.root.iter() if n.tag in ("link", "script")]
    assert not [n for n in page.root.iter() if n.attrs.get("href", "#").split("#")[0]]
    images = page.root.find_all("img")
    assert sorted(image.attrs["alt"] for image in images) == sorted(title(name) for name in KPIS)
    by_title = {title(name): name for name in KPIS}
    for image in images:
        src = image.attrs["src"]
        assert src.startswith("data:image/png;base64,")
        embedded = base64.b64decode(src.removeprefix("data:image/png;base64,"))
        assert embedded == (folder / f"{by_title[image.attrs['alt']]}.png").read_bytes()
    # The focus's charts are shown with it; every other chart in "Every KPI".
    charts, quality = page.by_id("charts"), page.by_id("quality")
    focus = set(PLAN_FOCUS["Q3"])
    for image in images:
        name = by_title[image.attrs["alt"]]
        at = page.position(image)
        if name in focus:
            assert page.position(page.by_id("focus")) < at < page.position(page.by_id("drivers"))
        else:
            assert page.position(charts) < at < page.position(quality)


# -- 1. the order of the sections ------------------------------------------------------------------
@pytest.mark.parametrize("report", REPORTS)
def test_sections_come_in_the_order_a_manager_reads_them(report, request):
    written: Written = request.getfixturevalue(report)
    page = written.page
    ids = ["headline", "in-progress-line", "scorecard", "in-progress", "focus", "focus-table",
           "drivers", "attention", "at-risk", "at-risk-table", "teams", "teams-table", "other-goals",
           "other-goals-table",
           "charts", "quality", "quality-table"]
    nodes = {ident: page.by_id(ident) for ident in ids}
    assert [ident for ident, node in nodes.items() if node is None] == []
    positions = [page.position(nodes[ident]) for ident in ids]
    assert positions == sorted(positions)
    assert nodes["headline"].tag == "p"
    assert nodes["focus"].tag == "h2"
    first_attention = page.root.find("table", "attention")
    first_board = page.root.find("table", "leaderboard")
    assert page.position(nodes["attention"]) < page.position(first_attention) < page.position(
        nodes["teams"]) < page.position(first_board) < page.position(nodes["other-goals"])
    for div in page.root.find_all("div", "goal-drivers"):
        assert page.position(nodes["drivers"]) < page.position(div) < page.position(
            nodes["attention"])
    assert page.by_id("quality-banner") is None  # clean data: no banner
    assert f"<title>KPI report, {written.period[:4]} Q{written.period[-1]}</title>" in written.html


# -- 2. the headline -------------------------------------------------------------------------------
@pytest.mark.parametrize("report", [*REPORTS, "messy_report", "variant_report"])
def test_headline_counts_the_plan_goals_met(report, request):
    written: Written = request.getfixturevalue(report)
    plan, left_out, _ = plan_goals(written.goals)
    card = repkpi.scorecard(written.data, plan, period=written.period)
    met = int((card["status"] == "met").sum())
    headline = written.page.by_id("headline")
    assert written.page.by_id("plan-met").text == f"{met} of {len(plan)}"
    assert f"{met} of {len(plan)} plan goals met" in " ".join(headline.text.split())
    assert f"{written.period[:4]} Q{written.period[-1]}" in headline.text
    assert len(plan) + len(left_out) == 9
    # The banner says how many rows were set aside, exactly when some were.
    banner = written.page.by_id("quality-banner")
    rejected = written.data.rejects[["table", "row"]].drop_duplicates()
    if len(rejected):
        assert banner is not None
        assert f"{len(rejected):,} row(s)" in banner.text
        assert written.page.position(headline) < written.page.position(banner) < \
            written.page.position(written.page.by_id("scorecard"))
    else:
        assert banner is None


def test_the_sample_headline_in_numbers(sample_report):
    # 2026Q3: 3 of the plan's quarterly goals met, 2 missed; the 4 yearly ones are in progress.
    card = repkpi.scorecard(sample_report.data, DEFAULT_GOALS, period="2026Q3")
    assert list(card["status"]).count("in progress") == 4
    assert sample_report.page.by_id("plan-met").text == \
        f"{list(card['status']).count('met')} of 9"


def test_the_renewal_forecast_sits_under_the_renewal_goal(sample_report):
    # The sample's goals file has "Renewal rate >= 80%" among the other goals; as_of is 2026-09-30.
    line = sample_report.page.by_id("renewals-ahead")
    row = line.parent.parent
    assert "forecast" in row.classes
    goal_row = row.parent.children[row.parent.children.index(row) - 1]
    assert goal_row.cells()[0].text == "Renewal rate >= 80%"
    # Due in 2026 Q4, counted on the table: end_date from 1 October to 31 December 2026.
    contracts = sample_report.data.contracts
    due = contracts[contracts["end_date"].between("2026-10-01", "2026-12-31")]
    ahead = renewals(sample_report.data, periods=1).iloc[-1]
    assert line.text == (
        f"Next quarter (2026 Q4): {len(due)} contracts due "
        f"({format_value(due['annual_value'].sum(), 'money')} ARR); expected renewals "
        f"{ahead['expected']:.0f} (80%: {ahead['expected_low']:.0f}-{ahead['expected_high']:.0f}).")
    mae = renewals(sample_report.data, periods=1).attrs["backtest_mae"]
    assert f"off by {mae:.1f} points on average over the last 4 quarters" in \
        sample_report.page.by_id("renewals-backtest").text
    assert len(sample_report.page.root.find_all("tr", "forecast")) == 1


def test_messy_data_has_a_banner_for_its_ten_rows(messy_report):
    banner = messy_report.page.by_id("quality-banner")
    assert banner is not None
    assert banner.text.startswith("10 row(s)")


# -- 3. the plan's goals ---------------------------------------------------------------------------
@pytest.mark.parametrize("report", REPORTS)
def test_plan_table_lists_the_nine_goals_as_the_scorecard_scores_them(report, request):
    written: Written = request.getfixturevalue(report)
    page = written.page
    plan, _, others = plan_goals(written.goals)
    assert [goal.kpi for goal in plan] == [goal.kpi for goal in DEFAULT_GOALS]
    card = repkpi.scorecard(written.data, plan, period=written.period)
    rows = page.body_rows(page.by_id("scorecard"), "goal")
    assert [row.cells()[0].text for row in rows] == [goal.label for goal in plan]
    for row, rec in zip(rows, card.itertuples(index=False), strict=True):
        _, _, value, target, status, change, change_yoy, trend = row.cells()
        assert same(exact(value), rec.value)
        assert same(exact(target), rec.target)
        assert same(exact(change), rec.change)
        assert same(exact(change_yoy), rec.change_yoy)  # analysis.md: both changes
        assert status.classes == {rec.status.replace(" ", "")}
        assert status.text.startswith(rec.status)
        assert trend.find("svg") is not None
    assert page.by_id("left-out") is None
    other_card = repkpi.scorecard(written.data, others, period=written.period)
    other_rows = page.body_rows(page.by_id("other-goals-table"), "goal")
    assert [row.cells()[0].text for row in other_rows] == [goal.label for goal in others]
    for row, rec in zip(other_rows, other_card.itertuples(index=False), strict=True):
        assert same(exact(row.cells()[2]), rec.value)
        assert row.cells()[4].classes == {rec.status.replace(" ", "")}


@pytest.mark.parametrize("report", REPORTS)
def test_the_report_opens_with_the_checks_findings(report, request):
    # analysis.md: the report opens with repkpi check's list under the headline, at most 10 lines.
    written: Written = request.getfixturevalue(report)
    page = written.page
    found = repkpi.check(written.data, written.goals, period=written.period)
    listed = page.by_id("findings")
    assert len(found) > 0
    assert listed is not None
    items = listed.find_all("li")
    assert [item.text.split(": ", 1)[1] for item in items] == found["message"].iloc[:10].tolist()
    assert [item.classes for item in items] == [{kind} for kind in found["kind"].iloc[:10]]
    assert page.position(page.by_id("headline")) < page.position(listed) < page.position(
        page.by_id("scorecard"))


def test_a_goals_file_that_leaves_a_plan_goal_out_makes_the_report_say_so(variant_report):
    page = variant_report.page
    senior = next(goal for goal in DEFAULT_GOALS if goal.kpi == "senior_reps")
    left_out = page.by_id("left-out")
    assert left_out is not None
    assert senior.label in left_out.text
    plan, left, _ = plan_goals(variant_report.goals)
    assert [goal.kpi for goal in left] == ["senior_reps"]
    rows = page.body_rows(page.by_id("scorecard"), "goal")
    assert [row.cells()[0].text for row in rows] == [goal.label for goal in plan]
    assert len(rows) == 8
    assert "1 of the plan's nine not in the goals file" in page.by_id("headline").text


# -- 4. the focus ----------------------------------------------------------------------------------
def _focus_rows(written: Written) -> dict[str, Node]:
    table = written.page.by_id("focus-table")
    return {row.attrs["data-kpi"]: row for row in written.page.body_rows(table, "focus-kpi")}


def _kpi_value(data, name: str, period: str) -> float:
    result = KPIS[name](data, freq="Q")
    return result.loc[result["period"] == pd.Period(period, "Q"), "value"].iloc[0]


def test_focus_of_2026q3_is_the_plans_renewals(sample_report):
    rows = _focus_rows(sample_report)
    assert list(rows) == list(PLAN_FOCUS["Q3"])
    assert "2026 Q3" in sample_report.page.by_id("focus").text
    for name, row in rows.items():
        _, now, before, change = row.cells()
        assert same(exact(now), _kpi_value(sample_report.data, name, "2026Q3"))
        assert same(exact(before), _kpi_value(sample_report.data, name, "2026Q2"))
        assert exact(change) == pytest.approx(exact(now) - exact(before))


def test_focus_follows_the_goals_file(variant_report):
    rows = _focus_rows(variant_report)
    assert list(rows) == ["csat"]
    assert same(exact(rows["csat"].cells()[1]), _kpi_value(variant_report.data, "csat", "2026Q3"))


def test_focus_of_the_generated_review_is_q2s_service(generated_report):
    assert list(_focus_rows(generated_report)) == list(PLAN_FOCUS["Q2"])


# -- 5. the drivers --------------------------------------------------------------------------------
def test_drivers_of_each_missed_or_at_risk_goal_come_from_explain(sample_report):
    data, goals, page = sample_report.data, sample_report.goals, sample_report.page
    plan, _, others = plan_goals(goals)
    ordered = [*plan, *others]
    card = repkpi.scorecard(data, ordered, period="2026Q3")
    current = repkpi.scorecard(data, ordered, period="current")
    expected = [(goal, rec, goal.label) for goal, rec in zip(ordered, card.itertuples(), strict=True)
                if rec.status == "missed"]
    expected += [(goal, rec, f"{goal.label} (to date)")
                 for goal, rec in zip(ordered, current.itertuples(), strict=True)
                 if rec.status == "in progress" and rec.outlook == "at risk"]
    assert len(expected) >= 5  # csat, engagement, renewals, SLA, mean CSAT, ...
    divs = {div.find("h3").text: div for div in page.root.find_all("div", "goal-drivers")}
    assert sorted(divs) == sorted(label for _, _, label in expected)
    explained = with_rest = 0
    for goal, rec, label in expected:
        div = divs[label]
        for column in ("team", "region"):
            table = div.find("table", "drivers", data_by=column)
            try:
                frame = repkpi.explain(data, goal.kpi, period=rec.period, by=column,
                                       **goal.options)
            except RepkpiError:
                assert table is None
                continue
            explained += 1
            groups, total = frame.iloc[:-1], frame.iloc[-1]
            # The groups whose contribution has the change's sign first, each kind largest
            # first, then the ones left out as one summed row.
            change = total["contribution"]
            along = groups[np.sign(groups["contribution"]) == np.sign(change)]
            others = groups.drop(along.index)
            expected_order = pd.concat([
                along.sort_values("contribution", key=abs, ascending=False, kind="stable"),
                others.sort_values("contribution", key=abs, ascending=False, kind="stable")])
            shown = page.body_rows(table, "driver")
            assert len(shown) == min(3, len(groups))
            for row, (_, group) in zip(shown, expected_order.iterrows(), strict=False):
                name, before, now, contribution = row.cells()
                assert name.text == ("(none)" if pd.isna(group[column]) else str(group[column]))
                assert same(exact(before), group["value_previous"])
                assert same(exact(now), group["value_current"])
                assert same(exact(contribution), group["contribution"])
            rest = page.body_rows(table, "rest")
            left_out = expected_order.iloc[3:]
            if len(left_out):
                (row,) = rest
                plural = f"{column}s" if len(left_out) > 1 else column
                assert row.cells()[0].text == f"{len(left_out)} more {plural}"
                assert exact(row.cells()[3]) == pytest.approx(left_out["contribution"].sum())
                # Before and now: the value of the groups left out, taken together.
                spec = KPIS[goal.kpi]
                for cell, side in ((row.cells()[1], "previous"), (row.cells()[2], "current")):
                    numerator = left_out[f"numerator_{side}"].sum()
                    denominator = left_out[f"denominator_{side}"].sum()
                    value = spec.scale * numerator / denominator if spec.kind == "ratio" \
                        else numerator
                    assert exact(cell) == pytest.approx(value)
            else:
                assert rest == []
            total_row = page.body_rows(table, "total")[0]
            assert same(exact(total_row.cells()[3]), total["contribution"])
            # The rows shown add up to the whole change (to rounding: revenue is in the 100,000s).
            assert sum(exact(r.cells()[3]) for r in [*shown, *rest]) == pytest.approx(
                total["contribution"], rel=1e-12, abs=1e-12)
            with_rest += bool(len(left_out))
            if rec.status == "missed":  # the contributions add up to the scorecard's change
                assert exact(total_row.cells()[3]) == pytest.approx(rec.change, rel=1e-12,
                                                                    abs=1e-12)
        if not div.find_all("table"):
            assert "No breakdown" in div.text
    assert explained >= 8
    assert with_rest >= 1  # four teams (one of them no team) and three shown


# -- 6. needs attention ----------------------------------------------------------------------------
def test_attention_lists_count_what_needs_attention(sample_report):
    data, page = sample_report.data, sample_report.page
    lists = repkpi.needs_attention(data, "2026Q3", **sla_options(sample_report.goals))
    assert list(lists) == ["churned", "open_sla_breaches", "renewals_due", "largest_open_deals",
                           "at_risk"]
    assert page.by_id("attention-at_risk") is None  # the "At risk" section shows that one
    for key, listed in list(lists.items())[:4]:
        table = page.by_id(f"attention-{key}")
        assert table is not None
        assert int(table.attrs["data-total"]) == listed.total
        shown = page.body_rows(table)
        assert len(shown) == min(10, listed.total)
        rest = table.next_element()
        if listed.total > len(shown):
            assert rest is not None
            assert "rest" in rest.classes
            assert rest.text == f"... and {listed.total - len(shown):,} more."
        else:
            assert rest is None or "rest" not in rest.classes
    # Churned in 2026Q3 (kpis.md): customers on 30 June (customer since then, not churned by
    # then) whose churned_on falls in the quarter: 44, counted with awk on accounts.csv
    # ($6 <= "2026-06-30" && $7 > "2026-06-30" && $7 <= "2026-09-30").
    accounts = data.accounts
    opened, last = pd.Timestamp("2026-06-30"), pd.Timestamp("2026-09-30")
    churned = accounts[(accounts["customer_since"] <= opened) & (accounts["churned_on"] > opened)
                       & (accounts["churned_on"] <= last)]
    assert int(page.by_id("attention-churned").attrs["data-total"]) == len(churned) == 44
    rows = repkpi.detail(data, "churn_rate", period="2026Q3")
    assert int(rows["in_numerator"].sum()) == len(churned)
    ids = {row.cells()[0].text for row in page.body_rows(page.by_id("attention-churned"))}
    assert ids <= set(churned["account_id"])
    # Open deals: the sample's open deals.
    assert int(page.by_id("attention-largest_open_deals").attrs["data-total"]) == int(
        (data.deals["stage"] == "open").sum())


def test_at_risk_section_lists_the_top_accounts_and_the_track_record(sample_report):
    # forecast.md, "Who is at risk": the top accounts with their drivers, the total ARR at risk,
    # and the backtest in one line.
    from repkpi.forecast import risk
    from repkpi.forecast.risk import backtest_line

    page = sample_report.page
    scores = risk(sample_report.data)
    high = scores[scores["band"] == "high"]
    rows = page.body_rows(page.by_id("at-risk-table"))
    assert len(rows) == 10 < len(high)
    assert [row.cells()[0].text for row in rows] == high["account_id"].head(10).tolist()
    assert [row.cells()[-1].text for row in rows] == high["drivers"].head(10).tolist()
    assert page.by_id("arr-at-risk").text == f"${scores['arr_at_risk'].sum():,.0f}"
    assert page.by_id("risk-backtest").text == f"Track record: {backtest_line(scores)}."
    assert backtest_line(scores).startswith("last quarter (2026 Q3), the 10% most at risk held ")


def test_workbook_holds_each_attention_list_to_1000_rows(sample_report):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.load_workbook(sample_report.folder / "report.xlsx")
    summary = list(book["attention"].iter_rows(min_row=2, values_only=True))
    lists = repkpi.needs_attention(sample_report.data, "2026Q3", limit=None,
                                   **sla_options(sample_report.goals)).values()
    for listed, (heading, total, written, name) in zip(lists, summary, strict=True):
        sheet = book[name]
        assert (heading, total) == (listed.title, listed.total)
        assert sheet.max_row - 1 == written == min(listed.total, 1000)
        ids = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
        assert ids == listed.rows.iloc[:1000, 0].tolist()


# -- the teams and reps ----------------------------------------------------------------------------
def test_teams_table_shows_each_plan_goal_by_team(sample_report):
    data, page = sample_report.data, sample_report.page
    plan, _, _ = plan_goals(sample_report.goals)
    card = repkpi.scorecard(data, plan, period="2026Q3")
    table = page.by_id("teams-table")
    *teams, whole = [cell.text for cell in table.find("thead").find("tr").cells()[2:]]
    assert teams == ["alpha", "bravo", "charlie", "(no team)"]
    assert whole == "Whole team"
    rows = {row.cells()[0].text: row for row in page.body_rows(table)}
    checked = 0
    for goal, rec in zip(plan, card.itertuples(), strict=True):
        if goal.label not in rows:
            continue
        result = KPIS[goal.kpi](data, freq=goal.freq, by="team")
        now = result[result["period"] == rec.period]
        low = low_data(goal.kpi, now)
        *cells, whole_cell = rows[goal.label].cells()[2:]
        assert same(exact(whole_cell), rec.value)  # the whole team's value is the goal's
        for team, cell in zip(teams, cells, strict=True):
            hit = now["team"].isna() if team == "(no team)" else now["team"] == team
            if not hit.any():
                assert cell.text == "n/a"
                continue
            assert same(exact(cell), now.loc[hit, "value"].iloc[0])
            assert ("*" in cell.text) == bool(low[hit].iloc[0])
            checked += 1
    assert checked >= 25


@pytest.mark.parametrize("report", REPORTS)
def test_leaderboards_name_the_reps_and_mark_low_data(report, request):
    written: Written = request.getfixturevalue(report)
    data, page = written.data, written.page
    names = data.reps.set_index("rep_id")["name"]
    boards = page.root.find_all("table", "leaderboard")
    assert [board.attrs["data-kpi"] for board in boards] == list(report_module.LEADERBOARDS)
    lows = 0
    for board in boards:
        kpi = board.attrs["data-kpi"]
        # One report, one set of definitions: the KPI's goal's options (the SLA's clock).
        options = next((goal.options for goal in written.goals if goal.kpi == kpi), {})
        result = KPIS[kpi](data, freq="Q", by="rep_id", **options)
        now = result[(result["period"] == pd.Period(written.period, "Q"))
                     & result["rep_id"].notna() & result["value"].notna()].set_index("rep_id")
        low = low_data(kpi, now)
        *rows, whole = page.body_rows(board)
        assert len(rows) == min(10, len(now))
        assert "whole" in whole.classes
        assert whole.cells()[1].text == "Whole team"
        team = KPIS[kpi](data, freq="Q", **options)
        assert same(exact(whole.cells()[2]),
                    team.loc[team["period"] == pd.Period(written.period, "Q"), "value"].item())
        firm_values, seen_low = [], False
        for row in rows:
            cells = row.cells()
            rep = cells[1].text
            assert cells[2].text == names[rep]
            assert same(exact(cells[3]), now.loc[rep, "value"])
            marked = "(low data)" in row.text
            assert marked == bool(low[rep])
            lows += marked
            if marked:
                seen_low = True
            else:
                assert not seen_low  # firm values first
                firm_values.append(exact(cells[3]))
            if KPIS[kpi].proportion:
                assert "–" in cells[4].text  # the 95% interval
        assert firm_values == sorted(firm_values, reverse=True)
    if report == "generated_report":
        assert lows > 0  # 300 accounts: some reps rest on few surveys or deals


# -- 7. goal lines ---------------------------------------------------------------------------------
def test_every_goals_kpi_is_drawn_with_its_goal_line(sample_report):
    drawn: dict[bytes, list[tuple[float, ...]]] = {}
    for png, heights in sample_report.figures:
        drawn.setdefault(png, []).append(heights)
    goals = [goal for goal in repkpi.load_goals(SAMPLE / "goals.toml") if not goal.where]
    assert {goal.kpi for goal in goals} == set(KPIS)  # the sample's file gives every KPI a goal
    for goal in goals:
        png = (sample_report.folder / f"{goal.kpi}.png").read_bytes()
        assert png in drawn, f"{goal.kpi}.png was not drawn through png_bytes"
        assert all(any(h == pytest.approx(goal.target) for h in heights)
                   for heights in drawn[png]), f"{goal.kpi}'s chart has no goal line at {goal.target}"


# -- 8. a value exactly on an at_most target --------------------------------------------------------
def test_a_value_exactly_on_an_at_most_target_is_met(formula_report):
    data = formula_report.data
    goal = formula_report.goals[0]
    # By hand: 4 customers on 31 December 2023 (A1..A4), 2 of them churned in 2024Q1.
    assert (goal.kpi, goal.direction, goal.target) == ("churn_rate", "at_most", 2 / 4)
    card = repkpi.scorecard(data, [goal], period="2024Q1")
    assert card["value"].iloc[0] == 2 / 4
    assert card["status"].iloc[0] == "met"
    rows = formula_report.page.body_rows(formula_report.page.by_id("scorecard"), "goal")
    row = next(row for row in rows if row.cells()[0].text == LABEL)
    assert exact(row.cells()[2]) == 0.5
    assert row.cells()[4].classes == {"met"}


# -- 9. formulas stay inert ------------------------------------------------------------------------
def _risky(cell: str) -> bool:
    return cell.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(cell)


def test_formula_looking_cells_are_inert_in_every_csv(formula_report):
    folder = formula_report.folder
    assert (folder / "rejects.csv").is_file()
    cells: dict[str, list[str]] = {}
    for file in folder.glob("*.csv"):
        with open(file, encoding="utf-8-sig", newline="") as handle:
            cells[file.name] = [cell for row in csv.reader(handle) for cell in row]
        assert [cell for cell in cells[file.name] if _risky(cell)] == [], file.name
    assert "'" + BAD_STAGE in cells["rejects.csv"]
    assert "'" + LABEL in cells["scorecard.csv"]
    assert "'-1+2 win rate" in cells["scorecard.csv"]


def test_formula_looking_cells_are_text_in_the_workbook(formula_report):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.load_workbook(formula_report.folder / "report.xlsx")
    texts = set()
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate}: {cell.value!r}"
                if isinstance(cell.value, str):
                    texts.add(cell.value)
    assert {LABEL, HYPERLINK, REP} <= texts  # the goal, the churned account, its rep's name


def test_formula_looking_cells_are_escaped_in_the_page(formula_report):
    html, page = formula_report.html, formula_report.page
    assert SCRIPT not in html
    assert "&lt;img src=x" in html
    assert all(image.attrs.get("src") != "x" for image in page.root.find_all("img"))
    churned = page.by_id("attention-churned")
    assert {row.cells()[1].text for row in page.body_rows(churned)} == {HYPERLINK, SCRIPT}
    assert REP in churned.text
    assert LABEL in page.by_id("scorecard").text
    assert "+alpha" in page.by_id("teams-table").text  # a team name read as text


# -- 10. a killed run ------------------------------------------------------------------------------
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL of a child process is POSIX only")
def test_a_killed_run_leaves_the_earlier_report_as_it_was(sample_report, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(sample_report.folder, out)
    before = files_of(out)
    run = subprocess.Popen([*REPKPI, "report", str(SAMPLE), "--out", str(out)], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        writing = False
        while not writing and run.poll() is None and time.monotonic() < deadline:
            for partial in tmp_path.glob(".out.partial-*"):
                try:
                    writing = any(p.suffix == ".png" for p in partial.iterdir())
                except FileNotFoundError:
                    pass
            time.sleep(0.01)
        assert writing, "the run ended (or stalled) before it wrote a file"
        run.send_signal(signal.SIGKILL)
        assert run.wait(timeout=30) == -signal.SIGKILL
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert files_of(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] != []  # its leftover


# -- 11. a quarter in progress ---------------------------------------------------------------------
def test_a_quarter_in_progress_is_reported_with_its_pace(generated_report):
    data, goals, page = generated_report.data, generated_report.goals, generated_report.page
    plan, _, others = plan_goals(goals)
    card = repkpi.scorecard(data, [*plan, *others], period="current")
    pace = card[card["status"] == "in progress"].reset_index(drop=True)
    quarterly = pace[pace["freq"] == "Q"]
    assert len(quarterly) > 0
    assert (quarterly["period"].astype(str) == "2026Q3").all()
    assert quarterly["elapsed"].to_numpy() == pytest.approx(46 / 92)
    deals = quarterly[quarterly["kpi"] == "large_deals"].iloc[0]
    assert deals["pace"] == pytest.approx(deals["value"] * 92 / 46)  # a count scales by the days
    rows = page.body_rows(page.by_id("in-progress"), "pace")
    assert [row.cells()[0].text for row in rows] == list(pace["goal"])
    for row, rec in zip(rows, pace.itertuples(), strict=True):
        _, period, elapsed, value, projected, target, outlook = row.cells()
        assert period.text == ("2026" if rec.freq == "Y" else "2026 Q3")
        assert elapsed.text == f"{rec.elapsed:.0%}"
        assert same(exact(value), rec.value)
        assert same(exact(projected), rec.pace)
        assert same(exact(target), rec.target)
        assert outlook.text == (rec.outlook if isinstance(rec.outlook, str) else "no data")
    line = " ".join(page.by_id("in-progress-line").text.split())
    on_track = int((pace["outlook"] == "on track").sum())
    assert "with data to 15 Aug 2026" in line
    assert f"{on_track} of {len(pace)} goals on track" in line
    # Never met or missed: the plan table scores the review, 2026Q2.
    statuses = [row.cells()[4].text for row in page.body_rows(page.by_id("scorecard"), "goal")]
    assert "2026 Q2" in page.by_id("headline").text
    assert len(statuses) == 9


def test_no_monthly_kpi_shows_a_month_after_the_as_of_date(generated_report):
    monthly = repkpi.compute(generated_report.data, freq="M")
    assert monthly["period"].max() == pd.Period("2026-08", "M")


# -- 12. report.xlsx -------------------------------------------------------------------------------
def test_workbook_sheets_and_number_formats(sample_report):
    openpyxl = pytest.importorskip("openpyxl")
    folder, data = sample_report.folder, sample_report.data
    book = openpyxl.load_workbook(folder / "report.xlsx")
    lists = repkpi.needs_attention(data, "2026Q3")
    # Sheet names fit Excel's 31 characters, never cut mid-word: the renewals list's title,
    # "Contracts due in 2026 Q4 not yet renewed" (40 characters), keeps its whole words.
    assert [listed.title for listed in lists.values()] == [
        "Accounts churned in 2026 Q3", "SLA breaches still open",
        "Contracts due in 2026 Q4 not yet renewed", "Largest open deals",
        "Accounts most at risk of churning"]
    assert book.sheetnames == ["scorecard", "in progress", "kpis", "attention",
                               "Accounts churned in 2026 Q3", "SLA breaches still open",
                               "Contracts due in 2026 Q4 not…", "Largest open deals",
                               "Accounts most at risk of…"]
    assert [row[3] for row in book["attention"].iter_rows(min_row=2, values_only=True)] == \
        book.sheetnames[4:]
    # The scorecard sheet holds what scorecard.csv holds.
    from_csv = pd.read_csv(folder / "scorecard.csv", dtype={"period": str})
    from_xlsx = pd.read_excel(folder / "report.xlsx", sheet_name="scorecard", dtype={"period": str},
                              engine="openpyxl")
    assert list(from_xlsx.columns) == list(from_csv.columns)
    pd.testing.assert_frame_equal(from_xlsx, from_csv, check_dtype=False)
    # Numbers formatted by unit, row by row.
    sheet = book["scorecard"]
    header = [cell.value for cell in sheet[1]]
    kpi_at, value_at, target_at = (header.index(c) for c in ("kpi", "value", "target"))
    formats = {}
    for row in sheet.iter_rows(min_row=2):
        unit = UNITS[row[kpi_at].value]
        assert row[value_at].number_format == EXCEL_FORMATS[unit], row[kpi_at].value
        assert row[target_at].number_format == EXCEL_FORMATS[unit], row[kpi_at].value
        formats[row[kpi_at].value] = row[value_at].number_format
    assert (formats["csat"], formats["revenue"], formats["new_customers"]) == (
        "0.0%", "#,##0.00", "#,##0")
    pace = book["in progress"]
    current = repkpi.scorecard(data, sample_report.goals, period="current")
    assert pace.max_row - 1 == int((current["status"] == "in progress").sum())


# -- data quality ----------------------------------------------------------------------------------
def _quality(written: Written) -> dict[str, list[str]]:
    table = written.page.by_id("quality-table")
    return {row.cells()[0].text: [cell.text for cell in row.cells()[1:]]
            for row in written.page.body_rows(table)}


def test_data_quality_table_counts_rows_per_table(sample_report):
    quality = _quality(sample_report)
    assert sorted(quality) == sorted(p.stem for p in SAMPLE.glob("*.csv"))  # the tables it has
    for table, (read, loaded, rejected, deleted, trailer, file) in quality.items():
        rows = data_rows(SAMPLE / f"{table}.csv")
        assert (read, loaded, rejected, deleted, trailer, file) == (
            f"{rows:,}", f"{rows:,}", "0", "0", "0", f"{table}.csv")
    assert quality["tickets"][0] == "21,374"  # wc -l data/sample/tickets.csv, less the header
    assert "0 row(s) set aside." in sample_report.page.by_id("quality-table").next_element().text


def test_data_quality_table_shows_deleted_records_set_aside(tmp_path):
    # The Salesforce "Export All" fixture (tests/io/fixtures/salesforce_export_all/README.md):
    # accounts 4 rows = 3 loaded + 1 deleted, deals 13 = 12 loaded + 1 deleted; no trailer.
    folder = Path(__file__).parent / "io" / "fixtures" / "salesforce_export_all"
    data = repkpi.load(folder, source="salesforce")
    written = _write(tmp_path / "out", data, [], "")
    quality = _quality(written)
    assert quality["accounts"][:5] == ["4", "3", "0", "1", "0"]
    assert quality["deals"][:5] == ["13", "12", "0", "1", "0"]


def test_quarantined_report_writes_the_rejects(messy_report):
    folder, data = messy_report.folder, messy_report.data
    rejects = pd.read_csv(folder / "rejects.csv")
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
    assert sorted(p.name for p in folder.iterdir() if p.suffix != ".png") == [
        ".repkpi", "rejects.csv", "report.html", "report.xlsx", "scorecard.csv"]
    # "-2209.00" is a plain number: left as it is, with no apostrophe.
    with open(folder / "rejects.csv", encoding="utf-8-sig", newline="") as handle:
        assert "-2209.00" in {row[4] for row in csv.reader(handle)}


def test_quarantined_report_data_quality_table(messy_report):
    quality = {table: tuple(cells[:3]) for table, cells in _quality(messy_report).items()}
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
    note = messy_report.page.by_id("quality-table").next_element().text
    assert note.startswith("10 row(s) set aside; rejects.csv lists each with its reason.")


def test_report_html_marks_low_data_and_no_data(messy_report):
    page = messy_report.page
    card = pd.read_csv(messy_report.folder / "scorecard.csv")
    rows = page.body_rows(page.by_id("scorecard"), "goal")
    assert len(rows) == len(DEFAULT_GOALS) == len(card)
    for row, low, status in zip(rows, card["low_data"], card["status"], strict=True):
        assert row.cells()[4].text == status + (" (low data)" if low else "")
        assert row.cells()[4].classes == {status.replace(" ", "")}
    # 2026Q3 csat rests on a few responses; the yearly goals are in progress (2026).
    by_kpi = dict(zip(card["kpi"], rows, strict=True))
    assert by_kpi["csat"].cells()[4].text == "missed (low data)"
    assert by_kpi["market_rank"].cells()[4].classes == {"inprogress"}


def test_progress_reports_each_step(messy_report):
    messages = messy_report.messages
    assert messages[0] == "Computing every KPI once"
    assert messages.count("Computing every KPI once") == 1  # one review, written as it is
    assert messages.index("Scoring the goals") < messages.index(
        "Explaining the goals missed or at risk") < messages.index("Listing what needs attention")
    charting = [m for m in messages if m.startswith("Charting ")]
    assert charting[0] == f"Charting {next(iter(KPIS))} (1/{len(KPIS)})"
    assert len(charting) == len(KPIS)
    assert messages[-1] == "Writing report.html"


# -- missing tables and no goals -------------------------------------------------------------------
def test_report_on_a_subset_of_tables_scores_missing_goals_as_no_data(tmp_path):
    # doctest_data.accounts() and doctest_data.deals(): the latest event is 2024-04-15, so the
    # quarter under review is 2024Q1, and the yearly goals are scored on the year that holds
    # it, 2024, in progress.
    data = repkpi.CrmData(accounts=doctest_data.accounts().accounts,
                          deals=doctest_data.deals().deals)
    page = write_report(data, tmp_path / "out", freq="Q")
    card = pd.read_csv(page.parent / "scorecard.csv", dtype={"period": str}, keep_default_na=False)
    assert list(card["kpi"]) == [goal.kpi for goal in DEFAULT_GOALS]
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
    assert not (page.parent / "csat.png").exists()
    assert (page.parent / "revenue.png").is_file()
    text = page.read_text(encoding="utf-8")
    assert "<li>csat: csat needs the surveys table(s), which were not loaded.</li>" in text
    html = Page(text)
    rows = html.body_rows(html.by_id("scorecard"), "goal")
    # A goal with no data says why, as the scorecard's reason column does.
    shown = [f"{status} ({reason})" if reason else status
             for status, reason in zip(card["status"], card["reason"], strict=True)]
    assert [row.cells()[4].text.removesuffix(" (low data)") for row in rows] == shown
    assert shown[1] == "no data (csat needs the surveys table(s), which were not loaded.)"
    for row, status in zip(rows, card["status"], strict=True):
        assert row.cells()[4].classes == {status.replace(" ", "")}
        if status == "no data":
            assert row.cells()[2].text == "n/a"
            assert row.cells()[2].attrs["data-value"] == ""
    assert html.by_id("plan-met").text == "2 of 9"
    # No surveys, tickets or contracts: those lists say why they are empty.
    attention = html.by_id("attention").parent
    assert "No tickets table is loaded." in attention.text


def test_report_without_goals_leaves_the_plan_out(tmp_path):
    data = repkpi.CrmData(accounts=doctest_data.accounts().accounts)
    page = write_report(data, tmp_path / "out", goals=[], freq="Q")
    card = pd.read_csv(page.parent / "scorecard.csv")
    assert card.empty
    assert list(card.columns) == ["goal", "kpi", "clock", "freq", "period", "period_label", "value",
                                  "target", "direction", "attainment", "status", "previous",
                                  "change", "year_ago", "change_yoy", "change_low", "change_high",
                                  "significant", "change_yoy_low", "change_yoy_high",
                                  "significant_yoy", "observations", "low_data"]
    # analysis.md: is the change real? and against a year ago
    html = Page(page.read_text(encoding="utf-8"))
    assert html.body_rows(html.by_id("scorecard"), "goal") == []
    assert html.by_id("plan-met").text == "0 of 0"
    left_out = html.by_id("left-out").text
    assert all(goal.label in left_out for goal in DEFAULT_GOALS)
    assert html.by_id("other-goals") is None


def test_a_second_run_replaces_the_folder_whole(tmp_path):
    out = tmp_path / "out"
    data = repkpi.CrmData(accounts=doctest_data.accounts().accounts)
    write_report(data, out, goals=[], freq="Q")
    (out / "stale.png").write_bytes(PNG)  # an output an earlier run wrote
    write_report(data, out, goals=[], freq="Q")
    assert not (out / "stale.png").exists()
    assert (out / ".repkpi").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# -- business hours --------------------------------------------------------------------------------
def test_the_report_states_the_calendar_of_its_business_hours_goals(sample_report):
    # data/sample/goals.toml counts its two SLA goals in business hours: Europe/London, weekdays
    # 08:00-18:00, 25 bank holidays (2022-2026). The page says so under the plan's table, and
    # scores those goals, explains them and lists open breaches on that clock.
    lines = [p.text for p in sample_report.page.root.find_all("p", "business-hours")]
    assert lines == ["Service levels in business hours (sla_compliance, first_response_sla): "
                     "Europe/London, Mon-Fri 08:00-18:00, 25 holidays."]
    goals = {goal.kpi: goal for goal in sample_report.goals}
    assert dict(goals["sla_compliance"].options) == {"clock": "business",
                                                     "calendar": sample_report.goals.calendar}
    business = repkpi.kpis.sla_compliance(sample_report.data, clock="business",
                                          calendar=sample_report.goals.calendar)
    card = pd.read_csv(sample_report.folder / "scorecard.csv", dtype={"period": str})
    value = card.loc[card["kpi"] == "sla_compliance", "value"].item()
    assert value == pytest.approx(business.loc[business["period"] == "2026Q3", "value"].item())
    breaches = sample_report.page.by_id("attention-open_sla_breaches")
    assert int(breaches.attrs["data-total"]) == repkpi.needs_attention(
        sample_report.data, "2026Q3", clock="business",
        calendar=sample_report.goals.calendar)["open_sla_breaches"].total


def test_one_report_one_set_of_definitions(sample_report):
    # The sample's SLA goal counts business hours: its value for the reviewed period, 2026Q3, is
    # the same number in the goals' table, the teams table's whole team, the leaderboard's whole
    # team and report.xlsx's KPI sheet; and each says its clock.
    pytest.importorskip("openpyxl")
    page, folder, goals = sample_report.page, sample_report.folder, sample_report.goals
    business = repkpi.kpis.sla_compliance(sample_report.data, clock="business",
                                          calendar=goals.calendar)
    calendar = repkpi.kpis.sla_compliance(sample_report.data)
    q3 = pd.Period("2026Q3", "Q")
    value = business.loc[business["period"] == q3, "value"].item()
    assert value != pytest.approx(calendar.loc[calendar["period"] == q3, "value"].item())
    label = next(goal.label for goal in goals if goal.kpi == "sla_compliance")
    clock = "business hours, Europe/London"

    goal_row = next(row for row in page.body_rows(page.by_id("other-goals-table"), "goal")
                    if row.cells()[0].text == label)
    assert exact(goal_row.cells()[2]) == value
    assert goal_row.cells()[2].find("small", "clock").text == clock

    team_row = next(row for row in page.body_rows(page.by_id("teams-table"))
                    if row.cells()[0].text.startswith(label))
    assert exact(team_row.cells()[-1]) == value
    assert team_row.cells()[0].find("small", "clock").text == clock

    board = page.root.find("table", "leaderboard", data_kpi="sla_compliance")
    whole = page.body_rows(board, "whole")[0]
    assert exact(whole.cells()[2]) == value
    heading = board.parent.children[board.parent.children.index(board) - 1]
    assert heading.text.endswith(f"({clock})")

    breaches = page.by_id("attention-open_sla_breaches")
    note = breaches.parent.children[breaches.parent.children.index(breaches) - 1]
    assert note.text == f"Deadlines and hours overdue in {clock}."

    sheet = pd.read_excel(folder / "report.xlsx", sheet_name="kpis", dtype={"period": str},
                          engine="openpyxl")
    row = sheet[(sheet["kpi"] == "sla_compliance") & (sheet["period"] == "2026Q3")]
    assert row["value"].item() == pytest.approx(value, rel=1e-15)
    assert row["clock"].item() == clock
    assert row["period_label"].item() == "2026 Q3"
    # A service KPI with no business-hours goal says calendar hours; other KPIs say nothing.
    clocks = sheet.groupby("kpi")["clock"].first()
    assert clocks["resolution_hours"] == "calendar hours"
    assert pd.isna(clocks["csat"])
    card = pd.read_csv(folder / "scorecard.csv", dtype={"period": str})
    assert card.loc[card["kpi"] == "sla_compliance", "clock"].item() == clock
    assert card.loc[card["kpi"] == "sla_compliance", "value"].item() == pytest.approx(value)
    assert list(card.columns[:6]) == ["goal", "kpi", "clock", "freq", "period", "period_label"]


@pytest.mark.parametrize(("kpi", "options", "clock"), [
    ("sla_compliance", {"clock": "business",
                        "calendar": {"timezone": "Europe/London", "hours": {"mon": "08:00-18:00"}}},
     " (business hours, Europe/London)"),
    ("resolution_hours", None, " (calendar hours)"),
    ("csat", None, ""),
])
def test_a_service_charts_title_says_its_clock(monkeypatch, kpi, options, clock):
    data = repkpi.load(SAMPLE)
    goal = None if options is None else Goal(kpi, "Q", 0.9, "at_least", options=options)
    result = KPIS[kpi](data, **(options or {}))
    result.attrs["kpi"] = kpi
    titles: list[str] = []
    monkeypatch.setattr(report_module, "png_bytes",
                        lambda fig: titles.extend(ax.get_title() for ax in fig.axes) or b"")
    report_module.draw_chart((result, goal, None))
    (text,) = titles
    if clock:
        assert text.endswith(clock)
    else:
        assert "hours" not in text


def test_a_report_without_business_hours_goals_names_no_calendar(messy_report):
    assert messy_report.page.root.find_all("p", "business-hours") == []


# -- charts drawn apart from pyplot ----------------------------------------------------------------
def test_importing_and_charting_leave_the_process_backend_and_pyplot_as_they_were():
    # A user's process on the svg backend (any backend not Agg): importing the report and
    # drawing a chart with it neither switch the backend nor leave a pyplot figure open.
    code = textwrap.dedent("""
        import matplotlib
        matplotlib.use("svg")
        import matplotlib.pyplot as plt
        import repkpi.report
        from repkpi.datasets import doctest_data
        after_import = matplotlib.get_backend()
        result = repkpi.kpis.new_customers(doctest_data.accounts())
        png = repkpi.report.draw_chart((result, None, None))
        print(after_import, matplotlib.get_backend(), plt.get_fignums(), png[:4] == b"\\x89PNG")
    """)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=ROOT, check=True)
    assert done.stdout.split() == ["svg", "svg", "[]", "True"]
