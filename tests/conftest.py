"""Shared fixtures: tiny CSV folders written from literal text, reports as tuples, the engine."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

Failure = tuple[str, int, str, str, "str | None"]

QUIET_DASK = {
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
    "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "1s",
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL": "5s",
}
"""The test clusters' housekeeping, slowed: no statistical profiler in the workers, the event
loop's health checked every second, the dashboard's system monitor every 5 s. None of it bears
on what a task computes; at Dask's defaults (10 ms, 20 ms, 500 ms) an idle two-worker cluster
costs about 0.1 s of CPU per second. Set in the environment before Dask is imported, so that
the worker processes (started by a LocalCluster or by the ``dask`` command) read it too."""
os.environ.update({name: value for name, value in QUIET_DASK.items() if name not in os.environ})


LONGEST_FILES = (
    "tests/test_docs_site.py",  # builds the site when site/ is older than its sources
    "tests/test_dask.py",
    "tests/test_sql_agreement.py",
    "tests/test_report.py",
    "tests/test_notebooks.py",
    "tests/test_detail.py",
    "tests/io/test_cut_off.py",
    "tests/kpis/test_properties.py",
    "tests/test_cli_report.py",
    "tests/test_dask_cluster.py",
    "tests/kpis/test_windows.py",
    "tests/io/test_absent_columns.py",
    "tests/forecast/test_risk_dask.py",
    "tests/test_whatif.py",
    "tests/test_sql_business_hours.py",
    "tests/io/test_loading.py",
    "tests/io/test_cache.py",
    "tests/kpis/test_business_hours.py",
    "tests/test_explain.py",
    "tests/test_browser.py",
)
"""The test files that took longest in a full run, longest first (the sum of their tests' times
on two workers). With ``--dist loadfile`` they are handed out first, then the other files in
pytest-xdist's order (most tests first): a long file started last would leave one worker
running it alone while the other idles."""


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``--dist loadfile``, the files of :data:`LONGEST_FILES` first; other modes as pytest-xdist has them."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LongestFilesFirst(LoadFileScheduling):
        _ordered = False

        def _assign_work_unit(self, node: object) -> None:
            if not self._ordered:  # the queue is complete when the first file is handed out
                rank = {name: i for i, name in enumerate(LONGEST_FILES)}
                first = sorted(self.workqueue.items(), key=lambda unit: rank.get(unit[0], len(rank)))
                self.workqueue.clear()
                self.workqueue.update(first)
                self._ordered = True
            super()._assign_work_unit(node)

    return LongestFilesFirst(config, log)


def write_csv(folder: Path, name: str, text: str) -> Path:
    """Write dedented CSV ``text`` to ``folder/name`` (``.csv`` added when ``name`` has no suffix)."""
    path = folder / (name if "." in name else f"{name}.csv")
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def as_failures(report: pd.DataFrame) -> list[Failure]:
    """A failure report as sorted ``(table, row, column, check, value)`` tuples; missing value -> None."""
    assert list(report.columns) == ["table", "row", "column", "check", "value"]
    return sorted(
        (rec.table, int(rec.row), rec.column, rec.check, None if pd.isna(rec.value) else str(rec.value))
        for rec in report.itertuples(index=False)
    )


@pytest.fixture(params=["pandas", pytest.param("dask", marks=pytest.mark.dask)])
def engine(request: pytest.FixtureRequest) -> str:
    """The engine a test loads its files with: a test that takes it runs on pandas, then on Dask.

    For the tests that only call the public API on data from ``repkpi.load(folder,
    engine=engine)``: their expected values hold whatever the engine.
    """
    if request.param == "dask":
        pytest.importorskip("dask.dataframe")
    return request.param


@pytest.fixture
def folder(tmp_path: Path) -> Callable[..., Path]:
    """Return ``make(**tables)``: writes ``<table>.csv`` files into a fresh folder and returns it.

    Each keyword is a table name, each value the file's text (dedented), e.g.
    ``make(accounts="account_id,customer_since\nA1,2024-01-15\n")``.
    """

    def make(**tables: str) -> Path:
        for name, text in tables.items():
            write_csv(tmp_path, name, text)
        return tmp_path

    return make


@pytest.fixture
def failures_of() -> Callable[[pd.DataFrame], list[Failure]]:
    """Return :func:`as_failures`, for comparing a report with hand-written tuples."""
    return as_failures


@pytest.fixture
def write() -> Callable[[Path, str, str], Path]:
    """Return :func:`write_csv`, for tests that need a file in a particular place."""
    return write_csv
