"""The suite's setting (loads cache their tables in a temporary folder) and the doctests' names."""

from __future__ import annotations

import os
import shutil
import tempfile

import pandas as pd
import pytest

_CACHE_DIR = "REPKPI_CACHE_DIR"
_cache_key = pytest.StashKey[tuple["str | None", str]]()  # the value before, the folder


def pytest_configure(config: pytest.Config) -> None:
    """Every load of the run (tests, doctests, notebooks, CLI runs) caches into a fresh folder.

    Set before any test is collected, so that nothing reads or writes the
    user's own cache; the notebooks' kernels and the CLI's processes inherit it.
    """
    config.stash[_cache_key] = (os.environ.get(_CACHE_DIR), tempfile.mkdtemp(prefix="repkpi-cache-"))
    os.environ[_CACHE_DIR] = config.stash[_cache_key][1]


def pytest_unconfigure(config: pytest.Config) -> None:
    """The folder removed and the variable as it was."""
    if _cache_key not in config.stash:
        return
    before, folder = config.stash[_cache_key]
    shutil.rmtree(folder, ignore_errors=True)
    if before is None:
        os.environ.pop(_CACHE_DIR, None)
    else:
        os.environ[_CACHE_DIR] = before


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace: dict) -> None:
    from repkpi import CrmData
    from repkpi.datasets import doctest_data

    doctest_namespace.update(examples=doctest_data, CrmData=CrmData, pd=pd)
