"""The ``>>>`` examples of the user guide's pages (docs/*.md) run as doctests.

Each page with examples is one test (docs/api.md: each function there with
an example that runs); the examples of a page run in order and share their
names, as a doctest file's do; a code fence ends an example's expected
output. Output is compared with NORMALIZE_WHITESPACE and ELLIPSIS, as the
modules' doctests are (pyproject.toml).
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
API = DOCS / "api.md"
PAGES = sorted(page for page in DOCS.glob("*.md") if "\n>>> " in page.read_text(encoding="utf-8"))


def test_the_guide_pages_with_examples_include_the_api_and_the_topic_pages():
    names = {page.name for page in PAGES}
    assert {"api.md", "getting-started.md", "time.md", "business-hours.md", "drill-down.md",
            "goals-and-report.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_the_examples_of_a_docs_page_run(page):
    text = re.sub(r"^```\w*$", "", page.read_text(encoding="utf-8"), flags=re.MULTILINE)
    test = doctest.DocTestParser().get_doctest(text, {}, page.name, str(page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    backend = matplotlib.get_backend()
    try:
        result = runner.run(test)
    finally:
        plt.close("all")
        matplotlib.use(backend)
    assert result.attempted > 0  # the page has examples to run
    assert result.failed == 0, f"{result.failed} of the examples in {page.name} failed (printed above)"
