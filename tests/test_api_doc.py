"""The ``>>>`` examples of docs/api.md run as doctests (each function there with an example that runs).

The examples of the file run in order and share their names, as a doctest
file's do; a code fence ends an example's expected output. Output is
compared with NORMALIZE_WHITESPACE and ELLIPSIS, as the modules' doctests
are (pyproject.toml).
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

API = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_the_examples_of_docs_api_md_run():
    text = re.sub(r"^```\w*$", "", API.read_text(encoding="utf-8"), flags=re.MULTILINE)
    test = doctest.DocTestParser().get_doctest(text, {}, API.name, str(API), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    backend = matplotlib.get_backend()
    try:
        result = runner.run(test)
    finally:
        plt.close("all")
        matplotlib.use(backend)
    assert result.attempted > 0  # the file has examples to run
    assert result.failed == 0, f"{result.failed} of the examples in {API.name} failed (printed above)"
