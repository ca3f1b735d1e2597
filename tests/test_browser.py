"""report.html in a real browser: the headline, the plan's nine goals in order, every image loaded.

Chromium is driven from its command line only: a copy of the page gets a small
script that, once the window has loaded, writes a marker element into the DOM
(how many images there are, how many are broken, how many scorecard rows are
rendered), and ``--dump-dom`` prints the DOM for the test to read. Needs
``/usr/bin/chromium`` (Debian's ``chromium`` package); skipped without it.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import sys
import threading
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import repkpi
import tasks
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
    return open_page(checked.as_uri(), tmp / f"profile-{page.stem}")


def open_page(url: str, profile: Path) -> dict[str, str]:
    """Chromium's DOM of ``url`` once loaded; the marker its check script wrote.

    No host but this machine resolves: a page that needs anything from the
    network renders without it.
    """
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
         "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--dump-dom", url],
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


# The documentation site (tests/test_docs_site.py checks its sources and files), served on this
# machine as a reader's browser would get it: each HTML page gets the check script on its way out.
SITE_CHECK = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  const article = document.querySelector("article") || document.body;
  const images = Array.from(document.images);
  const headings = Array.from(article.querySelectorAll("h2")).filter((h) => h.offsetHeight > 0);
  const results = Array.from(document.querySelectorAll("#search-results li a"));
  const check = document.createElement("div");
  check.id = "check";
  check.dataset.title = document.title;
  check.dataset.h1 = (article.querySelector("h1") || {innerText: ""}).innerText;
  check.dataset.styled = getComputedStyle(document.body).fontFamily.includes("apple-system");
  check.dataset.articleWidth = Math.round(article.getBoundingClientRect().width);
  check.dataset.navLinks = Array.from(document.querySelectorAll(".sidebar-tree a"))
    .map((a) => a.innerText).join("|");
  check.dataset.images = images.length;
  check.dataset.broken = images.filter((img) => !(img.complete && img.naturalWidth > 0)).length;
  check.dataset.headings = headings.map((h) => h.innerText).join("|");
  check.dataset.results = results.map((a) => a.getAttribute("href")).join("|");
  document.body.appendChild(check);
}, 2000));
</script>
"""


class CheckedSite(SimpleHTTPRequestHandler):
    """The site's files, each HTML page with SITE_CHECK added before ``</body>``; no log lines."""

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix != ".html" or not path.is_file():
            return super().send_head()
        body = path.read_text(encoding="utf-8").replace("</body>", SITE_CHECK + "</body>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, format, *args):  # noqa: A002 (the name http.server gives it)
        pass


@pytest.fixture(scope="module")
def served_site():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); "
                    "the browser check of the documentation site needs it")
    site = tasks.ensure_site(sys.executable)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(CheckedSite, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_sites_home_page_renders_with_its_theme_and_navigation(served_site, tmp_path):
    marker = open_page(f"{served_site}/index.html", tmp_path / "profile")
    assert marker["h1"].startswith("repkpi")
    assert marker["title"].startswith("repkpi")
    assert marker["styled"] == "true"  # furo's stylesheet applied (its system font stack)
    assert int(marker["article-width"]) > 300
    for entry in ("Getting started", "User guide", "Notebooks", "API reference", "KPI catalogue"):
        assert entry in marker["nav-links"].split("|"), entry
    assert (marker["images"], marker["broken"]) == (marker["images"], "0")


def test_the_kpi_catalogue_renders_a_section_per_kpi(served_site, tmp_path):
    marker = open_page(f"{served_site}/catalogue.html", tmp_path / "profile")
    assert marker["h1"].startswith("KPI catalogue")
    shown = marker["headings"].split("|")
    assert sorted(heading.split(":")[0] for heading in shown) == sorted(repkpi.KPIS)
    assert "churn_rate: Churn rate" in [heading.rstrip("#¶ ") for heading in shown]


def test_the_sites_search_finds_churn_rate(served_site, tmp_path):
    marker = open_page(f"{served_site}/search.html?q=churn_rate", tmp_path / "profile")
    results = marker["results"].split("|")
    assert "reference/repkpi.kpis/churn_rate.html" in {href.split("#")[0] for href in results}, results
