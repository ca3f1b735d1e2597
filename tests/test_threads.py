"""Work on several threads gives what one thread gives: the loader and every KPI.

One thread is the reference (``REPKPI_THREADS=1`` for the loader,
``PandasExecutor()`` for the KPIs); the other runs use four threads, more
than the tables or the machine's cores would ask for, so that the calls
interleave.
"""

from __future__ import annotations

import shutil
import threading
import time

import pandas as pd
import pytest

import repkpi
from repkpi._threads import thread_count, thread_map
from repkpi.kpis.pandas_engine import PandasExecutor
from repkpi.kpis.shared import SharedExecutor, shared_results


def test_thread_map_keeps_the_order_of_the_items():
    # The first item waits longest: it finishes last, and its result still comes first.
    def slow_first(i: int) -> int:
        time.sleep(0.05 if i == 0 else 0)
        return i * i

    assert thread_map(slow_first, range(5), threads=3) == [0, 1, 4, 9, 16]


def test_thread_map_uses_several_threads():
    seen = set()

    def where(_: int) -> None:
        seen.add(threading.get_ident())
        time.sleep(0.05)

    thread_map(where, range(4), threads=2)
    assert len(seen) == 2


def test_thread_map_raises_the_first_failure_in_the_order_of_the_items():
    def fail(i: int) -> int:
        if i in (1, 3):
            time.sleep(0.05 if i == 1 else 0)  # 3 fails first in time, 1 first in order
            raise KeyError(f"item {i}")
        return i

    with pytest.raises(KeyError, match="item 1"):
        thread_map(fail, range(5), threads=4)


def test_one_thread_runs_on_the_caller():
    assert thread_map(lambda _: threading.get_ident(), range(3), threads=1) == [
        threading.get_ident()] * 3


@pytest.mark.parametrize(("given", "expected"), [("1", 1), ("3", 3), (" 2 ", 2)])
def test_thread_count_reads_repkpi_threads(monkeypatch, given, expected):
    monkeypatch.setenv("REPKPI_THREADS", given)
    assert thread_count() == expected


@pytest.mark.parametrize("given", ["0", "two", "-1", "1.5"])
def test_thread_count_refuses_a_bad_repkpi_threads(monkeypatch, given):
    monkeypatch.setenv("REPKPI_THREADS", given)
    with pytest.raises(repkpi.OptionError, match=r"REPKPI_THREADS must be a whole number"):
        thread_count()


def test_thread_count_defaults_to_the_cores_up_to_four(monkeypatch):
    monkeypatch.delenv("REPKPI_THREADS", raising=False)
    assert 1 <= thread_count() <= 4


@pytest.fixture(scope="module")
def sample() -> repkpi.CrmData:
    return repkpi.load_sample()


CALLS = [pytest.param({"freq": "Q"}, id="Q"), pytest.param({"freq": "Q", "by": "region"},
                                                            id="Q by region"),
         pytest.param({"freq": "M", "by": "rep_id"}, id="M by rep"),
         pytest.param({"freq": "Y", "by": "segment"}, id="Y by segment")]


def _same(one: list, many: list) -> None:
    for a, b in zip(one, many, strict=True):
        if isinstance(a, Exception):
            assert type(b) is type(a)
            assert str(b) == str(a)
        else:
            pd.testing.assert_frame_equal(b, a, check_exact=True)


@pytest.mark.parametrize("options", CALLS)
def test_every_kpi_on_threads_equals_one_thread(sample, options):
    calls = [(name, options) for name in repkpi.KPIS]
    one = PandasExecutor().run(sample, calls)
    many = PandasExecutor(threads=4).run(sample, calls)
    assert sum(not isinstance(r, Exception) for r in one) >= 20  # every KPI the sample allows
    _same(one, many)


def test_kept_results_on_threads_equal_one_thread(sample):
    # The report's path: results kept on the data, several calls in one batch.
    calls = [(name, {"freq": "Q", "by": by}) for name in repkpi.KPIS for by in (None, "region")]
    found = []
    for threads in (1, 4):
        data = shared_results(sample)
        found.append(SharedExecutor(PandasExecutor(threads=threads)).run(data, calls))
    _same(*found)


def test_compute_runs_the_kpis_on_one_thread_by_default(monkeypatch, sample):
    seen = set()
    original = PandasExecutor.run

    def watched(self, data, calls):
        seen.add(self.threads)
        return original(self, data, calls)

    monkeypatch.setattr(PandasExecutor, "run", watched)
    repkpi.compute(sample, ["csat", "win_rate"])
    assert seen == {1}


def test_a_load_on_threads_equals_one_thread(monkeypatch, tmp_path):
    # The sample with one bad row in two tables: tables, rejects and summary alike.
    shutil.copytree(repkpi.sample_path(), tmp_path, dirs_exist_ok=True)
    deals = (tmp_path / "deals.csv").read_text().splitlines()
    head, first = deals[0].split(","), deals[1].split(",")
    first[head.index("stage")] = "maybe"
    (tmp_path / "deals.csv").write_text("\n".join([deals[0], ",".join(first), *deals[2:]]) + "\n")
    tickets = (tmp_path / "tickets.csv").read_text().splitlines()
    head, first = tickets[0].split(","), tickets[1].split(",")
    first[head.index("opened_at")] = "yesterday"
    (tmp_path / "tickets.csv").write_text("\n".join([tickets[0], ",".join(first),
                                                     *tickets[2:]]) + "\n")
    loaded = {}
    for threads in ("1", "4"):
        monkeypatch.setenv("REPKPI_THREADS", threads)
        loaded[threads] = repkpi.load(tmp_path, errors="quarantine")
    one, many = loaded["1"], loaded["4"]
    assert sorted(one.rejects["table"].unique()) == ["deals", "tickets"]
    pd.testing.assert_frame_equal(many.rejects, one.rejects, check_exact=True)
    pd.testing.assert_frame_equal(many.summary(), one.summary(), check_exact=True)
    assert many.tables.keys() == one.tables.keys()
    for name, frame in one.tables.items():
        pd.testing.assert_frame_equal(many.tables[name], frame, check_exact=True)


def test_a_load_on_threads_reports_the_first_bad_file_in_load_order(monkeypatch, tmp_path):
    shutil.copytree(repkpi.sample_path(), tmp_path, dirs_exist_ok=True)
    # tickets.csv is read first (the largest file), reps.csv last: both lack their id column.
    for name, column in (("tickets", "ticket_id"), ("reps", "rep_id")):
        frame = pd.read_csv(tmp_path / f"{name}.csv", dtype=str).drop(columns=column)
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    monkeypatch.setenv("REPKPI_THREADS", "4")
    with pytest.raises(repkpi.DataFileError, match=r"tickets.*ticket_id"):
        repkpi.load(tmp_path)
