"""The documentation site: every public name has a reference page, every KPI a catalogue entry.

The first tests read the sources the site is built from (docs/_ext/repkpi_site.py
writes them from the package), without building. The last ones read the built
site: ``site/`` when it is current (``.ci/run`` builds it before the tests with
``python3 tasks.py docs``), else it is built once for the run (``tasks.ensure_site``:
a second worker waits for the first build). The browser checks of the built
site are in tests/test_browser.py.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import pytest

import repkpi
import tasks

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

_spec = importlib.util.spec_from_file_location("repkpi_site", DOCS / "_ext" / "repkpi_site.py")
site_sources = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(site_sources)

# The names that the three contract files (api.md, analysis.md, forecast.md of the spec) call in
# their code blocks or name in their text, copied here from them (they are not in the repository).
SPEC_NAMES = {
    "api.md": ["repkpi.load", "repkpi.CrmData", "repkpi.DataValidationError", "repkpi.KPIS",
               "repkpi.compute", "repkpi.detail", "repkpi.explain", "repkpi.load_goals",
               "repkpi.DEFAULT_GOALS", "repkpi.scorecard", "repkpi.OptionError"],
    "analysis.md": ["repkpi.cohorts", "repkpi.outliers", "repkpi.whatif.what_it_takes",
                    "repkpi.plot.cohort_retention", "repkpi.plot.funnel"],
    "forecast.md": ["repkpi.forecast.survival", "repkpi.forecast.fit_sbg", "repkpi.forecast.renewals",
                    "repkpi.forecast.risk", "repkpi.plot.survival"],
}


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return site_sources.reference_pages()


@pytest.fixture(scope="module")
def catalogue() -> str:
    return site_sources.catalogue_page()


def test_every_public_name_has_a_reference_page_that_documents_it(pages):
    names = site_sources.public_names()
    # repkpi's own names, less the modules (each a page of its own), are all there.
    modules = {name for name in repkpi.__all__ if isinstance(getattr(repkpi, name), ModuleType)}
    assert {"kpis", "whatif", "plot", "report", "review"} <= modules
    assert {f"repkpi.{name}" for name in repkpi.__all__} - set(names) == {f"repkpi.{m}" for m in modules}
    assert {f"repkpi.kpis.{name}" for name in repkpi.KPIS} <= set(names)
    for dotted in names:
        page = pages[site_sources.page_of(dotted)]
        short = dotted.rsplit(".", 1)[1]
        assert page.startswith(f"{dotted}\n"), dotted
        assert re.search(rf"^\.\. (autofunction|autoclass|py:data):: {re.escape(short)}$", page, re.M), dotted


def test_each_namespace_page_lists_its_names_and_each_module_has_a_page(pages):
    names = site_sources.public_names()
    for space in site_sources.namespaces():
        page = pages[site_sources.page_of(space)]
        assert f".. automodule:: {space}\n" in page
        for dotted in (d for d in names if d.rsplit(".", 1)[0] == space):
            assert f":py:obj:`~{dotted}`" in page, dotted
    index = pages["reference/index"]
    assert all(f"   {space}\n" in index for space in site_sources.namespaces())


@pytest.mark.parametrize("spec", sorted(SPEC_NAMES))
def test_the_names_the_contract_declares_have_a_reference_page(spec):
    documented = set(site_sources.public_names()) | set(site_sources.namespaces())
    assert sorted(set(SPEC_NAMES[spec]) - documented) == []


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda page: page.name)
def test_the_names_a_guide_page_uses_have_a_reference_page(page):
    documented = set(site_sources.public_names()) | set(site_sources.namespaces())
    assert sorted(site_sources.code_names(page.read_text(encoding="utf-8")) - documented) == []


def test_code_names_reads_calls_imports_and_placeholders():
    text = ("Prose names repkpi.nothing.\n```python\nfrom repkpi.checks import needs_a_look, KINDS\n"
            "repkpi.kpis.<name>(data)\nx = repkpi.plot.trend(repkpi.kpis.csat(data))\n```\n")
    assert site_sources.code_names(text) == {"repkpi.checks", "repkpi.checks.needs_a_look",
                                             "repkpi.checks.KINDS", "repkpi.kpis", "repkpi.plot.trend",
                                             "repkpi.kpis.csat"}


def test_a_value_is_documented_by_the_string_under_its_assignment(pages):
    # repkpi.kpis.UNITS = SpecView("unit") is followed by its docstring in repkpi/kpis/__init__.py;
    # __version__ has none: its value is shown instead of the docstring of str.
    units = pages["reference/repkpi.kpis/UNITS"]
    assert "How each KPI's value reads: a count, a percent, money, hours, a score or a rank." in units
    version = pages["reference/repkpi/__version__"]
    assert f":value: '{repkpi.__version__}'" in version
    assert "str(object=" not in version


def _entries(catalogue: str) -> dict[str, str]:
    """KPI name -> its entry's text in the catalogue."""
    parts = re.split(r"^\.\. _kpi-(\w+):$", catalogue, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_kpi_has_one_catalogue_entry_with_its_unit_kind_and_function(catalogue):
    entries = _entries(catalogue)
    assert sorted(entries) == sorted(repkpi.KPIS)
    for name, entry in entries.items():
        spec = repkpi.KPIS[name]
        assert f"{name}: {spec.title}\n" in entry
        assert f":Unit: {spec.unit}\n" in entry
        assert f":Kind: {spec.kind}\n" in entry
        assert f":Function: :py:func:`repkpi.kpis.{name}`" in entry
        assert "\n>>> " in entry.partition("**Example**\n\n")[2]  # every KPI's docstring has a doctest


@pytest.mark.parametrize(("kpi", "unit", "kind", "options"), [
    # From kpis.md: churn is a share of the opening book (a proportion: ci=), counted in percent.
    ("churn_rate", "percent", "ratio", ["ci"]),
    # "Business hours and pauses": every service KPI takes clock=, calendar=, pause=; the SLA KPIs
    # also their targets and ticket kinds, and being proportions, ci=.
    ("sla_compliance", "percent", "ratio", ["targets", "kinds", "clock", "calendar", "pause", "ci"]),
    ("resolution_hours", "hours", "median", ["clock", "calendar", "pause"]),
    # Large deals: a count of deals at or above threshold=.
    ("large_deals", "count", "count", ["threshold"]),
])
def test_a_catalogue_entry_states_the_kpis_own_options(catalogue, kpi, unit, kind, options):
    entry = _entries(catalogue)[kpi]
    assert (f":Unit: {unit}\n" in entry, f":Kind: {kind}\n" in entry) == (True, True)
    listed = re.findall(r"^- ``(\w+)``", entry, flags=re.MULTILINE)
    assert sorted(listed) == sorted(options)


def test_the_guide_lists_the_known_topics_in_order_then_any_new_page():
    found = {"index", "guide", "catalogue", "api", "kpis", "dask", "time", "zz-new-topic",
             "reference/repkpi", "notebooks/01_quarterly_review"}
    assert site_sources.guide_pages(found) == ["kpis", "time", "dask", "api", "zz-new-topic"]


# The built site.


@pytest.fixture(scope="session")
def site() -> Path:
    return tasks.ensure_site(sys.executable)


class Collect(HTMLParser):
    """Every element's tag and attributes, and the page's text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


REMOTE = re.compile(r"^(https?:)?//", re.IGNORECASE)


def remote_assets(html: str) -> list[str]:
    """What a page would load from another host: scripts, styles, fonts, images, frames."""
    found = []
    for tag, attrs in Collect(html).tags:
        loads = {"script": ["src"], "img": ["src", "srcset"], "iframe": ["src"], "source": ["src", "srcset"],
                 "link": ["href"] if tag == "link" and attrs.get("rel") not in (None, "canonical") else [],
                 "video": ["src", "poster"], "audio": ["src"], "embed": ["src"], "object": ["data"]}
        for attribute in loads.get(tag, []):
            value = (attrs.get(attribute) or "").strip()
            if REMOTE.match(value):
                found.append(f"<{tag} {attribute}={value}>")
    return found


def remote_in_style_or_script(text: str) -> list[str]:
    """``url(...)`` and ``@import`` of another host in CSS; a quoted http(s) URL in JavaScript.

    An SVG's XML namespace (``http://www.w3.org/2000/svg``, inside a data:
    URL or given to ``createElementNS``) names, and loads nothing.
    """
    urls = re.findall(r"""(?:url\(\s*|@import\s+)["']?((?:https?:)?//[^"')\s]+)""", text)
    urls += re.findall(r"""["'`](https?://[^"'`\s]+)""", text)
    return [url for url in urls if not url.startswith("http://www.w3.org/")]


def test_the_asset_checks_see_a_remote_font_script_and_style():
    page = ('<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Lato">'
            '<script src="//cdn.example.org/x.js"></script><a href="https://pandas.pydata.org">pandas</a>'
            '<link rel="canonical" href="https://example.org/">')
    assert remote_assets(page) == ['<link href=https://fonts.googleapis.com/css?family=Lato>',
                                   '<script src=//cdn.example.org/x.js>']
    css = ("@font-face{src:url(https://fonts.gstatic.com/a.woff2)}"
           "a{background:url('data:image/svg+xml,<svg xmlns=\"http://www.w3.org/2000/svg\"/>')}")
    assert remote_in_style_or_script(css) == ["https://fonts.gstatic.com/a.woff2"]
    assert remote_in_style_or_script('fetch("https://cdn.example.org/i.json")') == [
        "https://cdn.example.org/i.json"]


def test_the_site_loads_nothing_from_another_host(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > len(site_sources.public_names())  # a page per name, and the guide's
    found = {str(page.relative_to(site)): remote_assets(page.read_text(encoding="utf-8"))
             for page in pages}
    for asset in [*site.rglob("*.css"), *site.rglob("*.js")]:
        found[str(asset.relative_to(site))] = remote_in_style_or_script(asset.read_text(encoding="utf-8"))
    assert {name: urls for name, urls in found.items() if urls} == {}
    assert (site / "searchindex.js").is_file()  # search is Sphinx's own index, offline


def test_every_public_name_and_kpi_is_on_a_built_page(site):
    for dotted in site_sources.public_names():
        page = site / f"{site_sources.page_of(dotted)}.html"
        assert f'id="{dotted}"' in page.read_text(encoding="utf-8"), dotted
    catalogue = (site / "catalogue.html").read_text(encoding="utf-8")
    for name in repkpi.KPIS:
        assert f'id="kpi-{name.replace("_", "-")}"' in catalogue, name


def test_the_guide_and_the_notebooks_are_built_with_their_outputs(site):
    for page in site_sources.guide_pages({p.stem for p in DOCS.glob("*.md")}):
        assert (site / f"{page}.html").is_file(), page
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        html = (site / "notebooks" / f"{notebook.stem}.html").read_text(encoding="utf-8")
        assert html.count('class="cell_output') >= 3, notebook.name  # executed: outputs shown
    review = (site / "notebooks" / "01_quarterly_review.html").read_text(encoding="utf-8")
    assert re.search(r'<img[^>]+src="\.\./_images/[^"]+\.png"', review)  # its charts


def test_the_notebooks_are_executed_when_the_site_is_built():
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    assert re.search(r'^nb_execution_mode = "force"$', conf, re.MULTILINE)
    assert re.search(r"^nb_execution_raise_on_error = True$", conf, re.MULTILINE)
