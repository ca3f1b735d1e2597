"""report.html in a real browser: the headline, the plan's nine goals in order, every image loaded.

Chromium is driven from its command line only: a copy of the page gets a small
script that, once the window has loaded, writes a marker element into the DOM
(how many images there are, how many are broken, how many scorecard rows are
rendered), and ``--dump-dom`` prints the DOM for the test to read. Needs
``/usr/bin/chromium`` (Debian's ``chromium`` package); skipped without it.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

import repkpi
from repkpi.goals import DEFAULT_GOALS
from repkpi.report import write_report

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and Path("/usr/bin/chromium").is_file():
    CHROMIUM = "/usr/bin/chromium"

CHECK = """
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter((img) => !(img.complete && img.naturalWidth > 0));
  const table = document.getElementById("scorecard");
  const rows = table ? Array.from(table.tBodies[0].rows).filter((row) => row.offsetHeight > 0) : [];
  const headline = document.getElementById("headline");
  const check = document.createElement("div");
  check.id = "check";
  check.dataset.images = images.length;
  check.dataset.broken = broken.length;
  check.dataset.brokenAlts = broken.map((img) => img.alt).join(",");
  check.dataset.tableShown = table !== null && table.offsetHeight > 0 && table.offsetWidth > 0;
  check.dataset.planGoals = rows.map((row) => row.cells[0].innerText).join("|");
  check.dataset.headline = headline ? headline.innerText : "";
  check.dataset.headlineTop = headline ? Math.round(headline.getBoundingClientRect().top) : -1;
  check.dataset.title = document.title;
  document.body.appendChild(check);
});
</script>
"""


class Marker(HTMLParser):
    """The attributes of the element with id="check", if any."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.found: dict[str, str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id") == "check":
            self.found = {name.removeprefix("data-"): value for name, value in attrs.items()}


def render(page: Path, tmp: Path) -> dict[str, str]:
    """Load ``page`` (with the check script added) in headless Chromium; return the marker."""
    checked = tmp / f"checked-{page.name}"
    checked.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECK + "</body>"),
                       encoding="utf-8")
    profile = tmp / f"profile-{page.stem}"
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
         "--dump-dom", checked.as_uri()],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )
    marker = Marker(done.stdout).found
    assert marker is not None, f"no marker in Chromium's DOM (exit {done.returncode}):\n{done.stderr[-2000:]}"
    return marker


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); "
                    "the browser check of report.html needs it")
    out = tmp_path_factory.mktemp("browser-report") / "report"
    goals = repkpi.load_goals(repkpi.sample_path() / "goals.toml")
    return write_report(repkpi.load_sample(), out, goals=goals), goals


def test_report_opens_with_the_headline_and_the_plans_nine_goals(report, tmp_path):
    page, goals = report
    marker = render(page, tmp_path)
    # The sample runs to 30 September 2026: 2026 Q3 is the latest complete quarter.
    assert marker["title"] == "KPI report, 2026 Q3"
    assert marker["headline"].startswith("Period under review: 2026 Q3.")
    assert " of 9 plan goals met" in marker["headline"]
    assert 0 <= int(marker["headline-top"]) < 200  # on the first screen
    assert marker["table-shown"] == "true"
    # The plan's goals in the plan's order (goals.md), by the labels the goals file gives them.
    label = {(g.kpi, g.freq): g.label for g in goals}
    expected = [label[(g.kpi, g.freq)] for g in DEFAULT_GOALS]
    assert marker["plan-goals"].split("|") == expected


def test_every_image_of_the_report_loads(report, tmp_path):
    page, _ = report
    marker = render(page, tmp_path)
    assert marker["images"] == str(len(repkpi.KPIS))  # every KPI's chart, once
    assert (marker["broken"], marker["broken-alts"]) == ("0", "")


def test_the_check_sees_a_broken_image(report, tmp_path):
    page, _ = report
    spoiled = tmp_path / "spoiled.html"
    text = page.read_text(encoding="utf-8")
    start = text.index('<img src="data:image/png;base64,') + len('<img src="data:image/png;base64,')
    first_alt = text[text.index('alt="', start) + 5:]
    first_alt = first_alt[:first_alt.index('"')]
    spoiled.write_text(text[:start] + "AAAA" + text[text.index('"', start):], encoding="utf-8")
    marker = render(spoiled, tmp_path)
    assert marker["images"] == str(len(repkpi.KPIS))
    assert marker["broken"] == "1"
    assert marker["broken-alts"] == first_alt
