"""The quick proof that a typed table keeps its pandera schema (``schema_holds``).

The proof only spares pandera's pass on a clean table: it must never call
a table clean that pandera rejects. Each case breaks one rule of the data
model on a clean table (the shipped sample's, typed by the loader) by
editing one cell or one row; pandera's own ``validate`` is the reference.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest

import repkpi
from repkpi.io.rules import SCHEMAS
from repkpi.io.validation import schema_holds


@pytest.fixture(scope="module")
def sample() -> repkpi.CrmData:
    """The sample, with a ticket_events table of its own (the sample has none)."""
    data = repkpi.load_sample()
    events = pd.DataFrame({"ticket_id": ["T1", "T1", "T2"],
                           "changed_at": ["2024-01-02T09:00:00Z", "2024-01-02T10:00:00Z",
                                          "2024-01-03T09:00:00+01:00"],
                           "status": ["new", "pending", "open"]})
    data.ticket_events = repkpi.CrmData(ticket_events=events).ticket_events
    return data


def _pandera_passes(table: str, frame: pd.DataFrame) -> bool:
    try:
        SCHEMAS[table].validate(frame, lazy=True)
    except pa.errors.SchemaErrors:
        return False
    return True


def _set(column: str, value: object, row: int = 1):
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[frame.index[row], column] = value
        return frame
    return edit


def _copy_id(column: str):
    """The second row's id set to the first's: one value twice."""
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[frame.index[1], column] = frame[column].iloc[0]
        return frame
    return edit


def _shuffled(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in reverse: ids no longer sorted, still unique (the hashed path of the proof)."""
    return frame.iloc[::-1]


BROKEN = [
    ("accounts", "id twice", _copy_id("account_id")),
    ("accounts", "id empty", _set("account_id", None)),
    ("accounts", "id empty text", _set("account_id", "")),
    ("accounts", "churned before won", _set("churned_on", pd.Timestamp("1990-01-01"))),
    ("contracts", "required account", _set("account_id", None)),
    ("contracts", "negative value", _set("annual_value", -1.0)),
    ("contracts", "ends before it starts", _set("end_date", pd.Timestamp("1990-01-01"))),
    ("deals", "stage not allowed", _set("stage", "maybe")),
    ("deals", "channel not allowed", _set("channel", "web")),
    ("deals", "deal type not allowed", _set("deal_type", "other")),
    ("deals", "negative amount", _set("amount", -0.5)),
    ("tickets", "priority not allowed", _set("priority", "asap")),
    ("tickets", "id twice", _copy_id("ticket_id")),
    ("tickets", "answered before opened",
     _set("first_response_at", pd.Timestamp("1990-01-01", tz="UTC"))),
    ("surveys", "csat 6", _set("csat", 6)),
    ("surveys", "nps -1", _set("nps", -1)),
    ("surveys", "neither score", lambda f: _set("nps", None)(_set("csat", None)(f))),
    ("market", "period format", _set("period", "2024-Q1")),
    ("market", "key twice", lambda f: pd.concat([f, f.iloc[:1]], ignore_index=True)),
    ("reps", "left before hired", _set("left_on", pd.Timestamp("1990-01-01"))),
    ("activities", "required date", _set("occurred_on", None)),
    ("ticket_events", "status not allowed", _set("status", "waiting")),
    ("ticket_events", "required time", _set("changed_at", None)),
]


@pytest.mark.parametrize("table", list(SCHEMAS))
def test_a_clean_table_is_proved_clean(sample, table):
    frame = getattr(sample, table)
    assert _pandera_passes(table, frame)
    assert schema_holds(SCHEMAS[table], frame)
    assert schema_holds(SCHEMAS[table], _shuffled(frame))


@pytest.mark.parametrize(("table", "case", "edit"), BROKEN, ids=[f"{t}: {c}" for t, c, _ in BROKEN])
def test_a_broken_rule_is_never_proved_clean(sample, table, case, edit):
    frame = edit(getattr(sample, table))
    assert not _pandera_passes(table, frame)  # the case breaks a rule pandera knows
    assert not schema_holds(SCHEMAS[table], frame)


def test_a_column_of_python_objects_is_left_to_pandera(sample):
    frame = sample.reps.astype({"team": object})
    assert not schema_holds(SCHEMAS["reps"], frame)


def test_a_missing_column_is_left_to_pandera(sample):
    assert not schema_holds(SCHEMAS["reps"], sample.reps.drop(columns="team"))


def test_a_schema_with_options_it_does_not_know_is_left_to_pandera(sample):
    strict = SCHEMAS["reps"].set_index(["rep_id"], drop=False)
    assert not schema_holds(strict, sample.reps)
