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


def test_a_cut_of_shared_data_is_made_once_and_keeps_each_call_as_asked(sample, monkeypatch):
    # The goals in progress compare with the data cut a year back, in the scorecard and again in
    # the goals in progress: the cut is made once a run, and each KPI call on it computed once.
    day = "2025-09-30"
    plain = sample.cut_at(day)  # the independent method: the cut of plain data, nothing kept
    expected = {("csat", "2025Q3"): KPIS["csat"](plain, freq="Q", end="2025Q3"),
                ("csat", "2025Q1"): KPIS["csat"](plain, freq="Q", start="2025Q1", end="2025Q1"),
                ("revenue", "2025"): KPIS["revenue"](plain, freq="Y", end="2025")}
    data = shared_results(sample)
    cut = data.cut_at(day)
    assert data.cut_at(day) is cut
    assert cut.as_of == pd.Timestamp(day)
    calls = []
    real = PandasExecutor.run
    monkeypatch.setattr(PandasExecutor, "run",
                        lambda self, d, c, **k: calls.append(c) or real(self, d, c, **k))
    for _ in range(2):
        got = [KPIS["csat"](cut, freq="Q", end="2025Q3"),
               KPIS["csat"](cut, freq="Q", start="2025Q1", end="2025Q1"),
               KPIS["revenue"](cut, freq="Y", end="2025")]
        for found, want in zip(got, expected.values(), strict=True):
            pd.testing.assert_frame_equal(found, want)
            assert found.attrs == want.attrs
    assert len(calls) == 3  # each call once, over its own window (none widened to the span)
    assert len(got[1]) == 1
    assert str(got[1]["period"].iloc[0]) == "2025Q1"
    # A copy each time: changing one result leaves the kept one as it was.
    got[0].loc[0, "value"] = -1.0
    pd.testing.assert_frame_equal(KPIS["csat"](cut, freq="Q", end="2025Q3"),
                                  expected[("csat", "2025Q3")])


def test_the_rows_behind_a_value_are_found_once_a_run_and_given_as_copies(sample, monkeypatch):
    # What each goal takes and the attention lists ask for the renewals due in the same quarter.
    expected = repkpi.detail(sample, "renewal_rate", period="2026Q3")  # plain data: nothing kept
    data = shared_results(sample)
    calls = []
    real = PandasExecutor.detail
    monkeypatch.setattr(PandasExecutor, "detail",
                        lambda self, d, s, k, p, **o: calls.append(s.name) or real(self, d, s, k, p, **o))
    first = repkpi.detail(data, "renewal_rate", period="2026Q3")
    first.loc[first.index[0], "account_id"] = "changed"
    again = repkpi.detail(data, "renewal_rate", period="2026Q3")
    pd.testing.assert_frame_equal(again, expected)
    assert calls == ["renewal_rate"]
    other = repkpi.detail(data, "renewal_rate", period="2026Q2")  # another period: its own rows
    assert calls == ["renewal_rate", "renewal_rate"]
    pd.testing.assert_frame_equal(other, repkpi.detail(sample, "renewal_rate", period="2026Q2"))
