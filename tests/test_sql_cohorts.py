"""repkpi.cohorts against the SQL reference (benchmarks/sql_reference.py, written from the
spec alone), on the sample as exported and declared as of a day inside a quarter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import repkpi

pytest.importorskip("duckdb")
from benchmarks import sql_reference  # noqa: E402


@pytest.mark.parametrize("as_of", [None, "2026-08-14"])
@pytest.mark.parametrize("freq", ["Q", "M"])
@pytest.mark.parametrize("measure", ["customers", "revenue"])
def test_cohorts_agree_with_sql(as_of, freq, measure):
    path = repkpi.sample_path()
    ours = repkpi.cohorts(repkpi.load(path, as_of=as_of), freq=freq, measure=measure)
    theirs = sql_reference.cohorts(sql_reference.connect(path, as_of=as_of), freq=freq,
                                   measure=measure)
    counted = "active" if measure == "customers" else "arr"
    assert len(ours) == len(theirs)
    assert (ours["cohort"].dt.start_time.to_numpy() == theirs["cohort"].to_numpy()).all()
    assert ours["age"].tolist() == theirs["age"].tolist()
    for column in ("size", counted, "value"):
        np.testing.assert_allclose(ours[column].astype("float64"), theirs[column], rtol=1e-9,
                                   equal_nan=True)
    assert ours["in_progress"].tolist() == theirs["in_progress"].tolist()
    assert ours["in_progress"].any() == (as_of is not None)
    pd.testing.assert_index_equal(pd.Index(ours.columns), pd.Index(
        ["cohort", "age", "size", counted, "value", "in_progress"]))
