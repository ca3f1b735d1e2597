"""The as-of date is a cut-off (kpis.md): ``load(folder, as_of=D)`` reads the export as it stood at D.

Invariant, on generated data: every KPI, for every period up to D's and every
group, is the same on ``load(folder, as_of=D)`` as on ``load(copy, as_of=D)``,
the copy being the export as it would have been taken at the close of D. The
copy is built here, from the rules of kpis.md, with pandas on the CSV text,
never with repkpi's own cut:

* deals created, tickets opened, surveys answered, activities held, reps
  hired and ticket status changes made after D are not in it;
* a ``customer_since``, ``churned_on``, ``first_response_at``,
  ``resolved_at`` or ``left_on`` after D is empty;
* a deal won or lost after D is ``open`` (its ``closed_on`` stays, an
  expected close date);
* contracts and market rows are as they are.

The cut dates: inside a quarter (mid-August, also mid-November of a quarter
long complete) and a quarter's last day.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import repkpi
from repkpi.datasets.generator import write_sample

DATES = ["2026-08-14", "2026-06-30", "2025-11-12"]
INSIDE = DATES[0]
STAMPS = {"opened_at", "first_response_at", "resolved_at", "responded_at", "changed_at"}
"""The timestamp columns (ISO 8601, with or without an offset); the other dates are days."""


def read(folder: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{table}.csv", dtype="str", keep_default_na=False)


def after(frame: pd.DataFrame, column: str, day: str) -> pd.Series:
    """Whether each cell's (UTC) date is after ``day``; an empty cell is not."""
    values = frame[column]
    if column not in STAMPS:  # YYYY-MM-DD: compared as text
        return (values != "") & (values > day)
    stamps = pd.to_datetime(values.where(values != ""), utc=True, format="ISO8601")
    return (stamps.dt.tz_localize(None).dt.normalize() > pd.Timestamp(day)).fillna(False)


def export_at(folder: Path, out: Path, day: str) -> Path:
    """The export of ``folder`` as it would have been taken at the close of ``day``."""
    out.mkdir()
    removed = {"deals": "created_on", "tickets": "opened_at", "surveys": "responded_at",
               "activities": "occurred_on", "reps": "hired_on", "ticket_events": "changed_at"}
    blanked = {"accounts": ["customer_since", "churned_on"],
               "tickets": ["first_response_at", "resolved_at"], "reps": ["left_on"]}
    for file in folder.glob("*.csv"):
        table = file.stem
        frame = read(folder, table)
        if table in removed:
            frame = frame[~after(frame, removed[table], day)]
        for column in blanked.get(table, []):
            frame.loc[after(frame, column, day), column] = ""
        if table == "deals":
            closed_later = frame["stage"].isin(["won", "lost"]) & after(frame, "closed_on", day)
            frame.loc[closed_later, "stage"] = "open"
        frame.to_csv(out / file.name, index=False)
    return out


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    """A few hundred generated accounts to 2026-09-30, with ticket status changes."""
    folder = write_sample(tmp_path_factory.mktemp("export"), seed=7, accounts=300,
                          first_of_month=0.3)
    tickets = read(folder, "tickets").iloc[::3]
    opened = pd.to_datetime(tickets["opened_at"], utc=True, format="ISO8601")
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    events = pd.concat([
        pd.DataFrame({"ticket_id": tickets["ticket_id"], "status": "pending",
                      "changed_at": (opened + pd.Timedelta(hours=2)).dt.strftime(stamp)}),
        pd.DataFrame({"ticket_id": tickets["ticket_id"], "status": "open",
                      "changed_at": (opened + pd.Timedelta(hours=30)).dt.strftime(stamp)}),
    ]).sort_index(kind="stable")
    events.to_csv(folder / "ticket_events.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def pairs(export, tmp_path_factory) -> dict[str, tuple[repkpi.CrmData, repkpi.CrmData, Path]]:
    """For each cut date: the folder cut at load, the copy taken then (loaded), the copy."""
    out = {}
    for day in DATES:
        copy = export_at(export, tmp_path_factory.mktemp(f"at-{day}") / "export", day)
        out[day] = (repkpi.load(export, as_of=day), repkpi.load(copy, as_of=day), copy)
    return out


@pytest.mark.parametrize("day", DATES)
def test_the_tables_are_those_of_the_export_taken_then(pairs, day):
    cut, taken, _ = pairs[day]
    assert set(cut.tables) == set(taken.tables)
    for name, frame in cut.tables.items():
        pd.testing.assert_frame_equal(frame.reset_index(drop=True),
                                      taken.tables[name].reset_index(drop=True), obj=name)


@pytest.mark.parametrize("day", DATES)
def test_the_summary_counts_every_row_left_out(export, pairs, day):
    cut, taken, _ = pairs[day]
    summary = cut.summary().set_index("table")
    assert (summary["loaded"] + summary["rejected"] + summary["after_as_of"]
            == summary["rows"]).all()
    # The rows left out are the rows the export taken then did not have yet.
    for name in cut.tables:
        assert summary.loc[name, "after_as_of"] == len(read(export, name)) - len(
            taken.tables[name]), name
    # Not vacuous: every dated table had rows after each cut, and dates to blank.
    assert (summary.loc[["deals", "tickets", "surveys", "activities", "ticket_events"],
                        "after_as_of"] > 0).all()
    assert (summary.loc[["accounts", "deals", "tickets"], "changed"] > 0).all()
    assert (summary.loc[["contracts", "market"], ["after_as_of", "changed"]] == 0).all().all()
    assert taken.summary()[["after_as_of", "changed"]].eq(0).all().all()


@pytest.mark.parametrize("day", DATES)
@pytest.mark.parametrize("freq", ["Q", "M"])
@pytest.mark.parametrize("by", [None, "region", "rep_id"])
def test_every_kpi_is_that_of_the_export_taken_then(pairs, day, freq, by):
    cut, taken, _ = pairs[day]
    ours = repkpi.compute(cut, freq=freq, by=by)
    theirs = repkpi.compute(taken, freq=freq, by=by)
    assert ours["kpi"].nunique() >= len(repkpi.KPIS) - 3  # market KPIs take no rep_id or month
    pd.testing.assert_frame_equal(ours, theirs)
    assert ours["period"].max() == pd.Timestamp(day).to_period(freq)


@pytest.mark.parametrize("day", DATES)
def test_paused_clocks_read_only_the_status_changes_made_by_then(pairs, day):
    cut, taken, _ = pairs[day]
    for name in ("sla_compliance", "first_response_sla", "resolution_hours"):
        pd.testing.assert_frame_equal(repkpi.KPIS[name](cut, freq="M", pause="pending"),
                                      repkpi.KPIS[name](taken, freq="M", pause="pending"))


# -- Dask ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def on_dask(export) -> Callable[[str], repkpi.CrmData]:
    """Return ``load(day)``: the export loaded on Dask as of ``day``, once per day for the cases."""
    return functools.cache(lambda day: repkpi.load(export, engine="dask", as_of=day))


def dask_case(on_dask, pairs, day: str, freq: str, by: str | None) -> None:
    _, taken, _ = pairs[day]
    data = on_dask(day)
    pd.testing.assert_frame_equal(data.summary().drop(columns="source"),
                                  pairs[day][0].summary().drop(columns="source"))
    ours = repkpi.compute(data, freq=freq, by=by)
    pd.testing.assert_frame_equal(ours, repkpi.compute(taken, freq=freq, by=by),
                                  check_dtype=False)


@pytest.mark.dask
def test_dask_cuts_at_load_as_the_export_taken_then(on_dask, pairs):
    pytest.importorskip("dask")
    dask_case(on_dask, pairs, INSIDE, "Q", "region")


@pytest.mark.dask
@pytest.mark.slow
@pytest.mark.parametrize("day", DATES)
@pytest.mark.parametrize("freq", ["Q", "M"])
@pytest.mark.parametrize("by", [None, "region", "rep_id"])
def test_dask_every_kpi_is_that_of_the_export_taken_then(on_dask, pairs, day, freq, by):
    pytest.importorskip("dask")
    dask_case(on_dask, pairs, day, freq, by)
