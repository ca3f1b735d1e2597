"""The results kept on shared data: a window past the kept span, the periods not yet lived."""

from __future__ import annotations

import pandas as pd
import pytest

import repkpi
from repkpi.kpis import KPIS
from repkpi.kpis.pandas_engine import PandasExecutor
from repkpi.kpis.shared import shared_results


@pytest.fixture(scope="module")
def sample():
    return repkpi.load_sample()  # as of 30 September 2026: 2026Q3 is the last period lived


@pytest.mark.parametrize(("name", "freq", "by", "end"), [
    ("csat", "Q", None, "2026Q4"),
    ("renewal_rate", "Q", ["region"], "2027Q2"),
    ("churn_rate", "M", ["team"], "2026-12"),
    ("revenue", "Y", None, "2027"),
])
def test_a_window_past_the_kept_span_is_the_kpi_computed_to_its_end(sample, name, freq, by, end,
                                                                     monkeypatch):
    expected = KPIS[name](sample, freq=freq, by=by, end=end)  # computed, on plain data
    data = shared_results(sample)
    KPIS[name](data, freq=freq, by=by)  # kept over the data's whole span
    calls = []
    real = PandasExecutor.run
    monkeypatch.setattr(PandasExecutor, "run",
                        lambda self, d, c, **k: calls.append(c) or real(self, d, c, **k))
    got = KPIS[name](data, freq=freq, by=by, end=end)
    assert calls == []  # taken from the kept result, not computed again
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs == expected.attrs
    # The periods after 2026Q3 are not yet lived: NA, and listed.
    late = got["period"] > pd.Period("2026-09-30", freq=got["period"].iloc[0].freq)
    assert late.any()
    assert got.loc[late, ["numerator", "denominator", "value"]].isna().all().all()
    assert got.attrs["after_as_of"] == sorted(got.loc[late, "period"].unique())
