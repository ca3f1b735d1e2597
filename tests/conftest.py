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
