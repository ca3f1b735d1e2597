"""The ``>>>`` examples of docs/*.md run as they read (api.md: each function's example runs)."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"
WITH_EXAMPLES = sorted(p.name for p in DOCS.glob("*.md") if ">>> " in p.read_text(encoding="utf-8"))


def test_the_api_page_has_examples():
    assert "api.md" in WITH_EXAMPLES


@pytest.mark.parametrize("page", WITH_EXAMPLES)
def test_the_examples_of_a_docs_page_run(page):
    failed, tried = doctest.testfile(
        str(DOCS / page), module_relative=False, report=True,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert tried > 0
    assert failed == 0, f"{failed} of the {tried} examples of docs/{page} failed (printed above)"
