"""The KPIs on a cluster started as a real one runs: ``dask scheduler`` and ``dask worker`` processes.

Not a ``LocalCluster``: the scheduler and the workers are separate programs,
found next to this Python, that know the client only by the scheduler's
address. Data is read by the workers from the part files; the client gets
what the KPIs return. Every number must be the pandas engine's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import distributed
import pandas as pd
import pytest
from test_dask import ONE_PER_ROUTE, SAMPLE, _same, split

import repkpi
from repkpi.dask import reader as dask_loading

pytestmark = pytest.mark.dask

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def address(tmp_path_factory):
    """A scheduler and two one-thread workers (1 GB each), as separate processes; stopped after."""
    dask = Path(sys.executable).with_name("dask")
    port = _free_port()
    where = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = (tmp_path_factory.mktemp("cluster") / "cluster.log").open("w")
    processes = []
    try:
        processes.append(subprocess.Popen(
            [str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT, env=env))
        for _ in range(WORKERS):
            processes.append(subprocess.Popen(
                [str(dask), "worker", where, "--nthreads", "1", "--memory-limit", "1GB",
                 "--no-dashboard", "--death-timeout", "60"],
                stdout=log, stderr=subprocess.STDOUT, env=env))
        with distributed.Client(where, timeout="30s") as client:
            client.wait_for_workers(WORKERS, timeout=60)
        yield where
    finally:
        for client in dask_loading._CLIENTS.values():
            client.close()
        dask_loading._CLIENTS.clear()
        for process in reversed(processes):  # nothing to save: no graceful close
            process.kill()
        for process in processes:
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def on_cluster(address, tmp_path_factory):
    folder = split(SAMPLE, tmp_path_factory.mktemp("split"))
    return repkpi.load(folder, engine="dask", scheduler=address)


@pytest.fixture(scope="module")
def on_pandas():
    return repkpi.load(SAMPLE)


def test_the_workers_are_separate_processes(address, on_cluster):
    client = on_cluster.client
    assert client is dask_loading._CLIENTS[address]
    pids = client.run(os.getpid)
    assert len(pids) == WORKERS
    assert os.getpid() not in pids.values()
    assert client.run_on_scheduler(os.getpid) not in (os.getpid(), *pids.values())


# The sweep first: when it runs, the one-per-route case reads its results from the data's cache.
@pytest.mark.parametrize("kpis", [pytest.param(list(repkpi.KPIS), id="every-kpi", marks=pytest.mark.slow),
                                  pytest.param(ONE_PER_ROUTE, id="one-per-route")])
@pytest.mark.parametrize("by", [None, "region"])
def test_kpis_match_the_pandas_engine(on_cluster, on_pandas, by, kpis):
    got = repkpi.compute(on_cluster, kpis, freq="Q", by=by)
    want = repkpi.compute(on_pandas, kpis, freq="Q", by=by)
    assert got.attrs["skipped"] == want.attrs["skipped"]
    assert set(got["kpi"]) == set(kpis)
    for name in want["kpi"].unique():
        _same(got[got["kpi"] == name], want[want["kpi"] == name])


def _sorted(rows: pd.DataFrame) -> pd.DataFrame:
    flags = ("in_numerator", "in_denominator", "numerator_weight", "denominator_weight", "hours")
    key = [c for c in rows.columns if c not in flags]
    return rows.sort_values(key, kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("name", ["engagement_rate", "key_accounts", "net_revenue_retention",
                                  "renewal_rate", "market_share", "resolution_hours"])
def test_detail_lists_the_rows_of_the_pandas_engine(on_cluster, on_pandas, name):
    options = {"threshold": 20_000} if name == "key_accounts" else {}
    got = repkpi.detail(on_cluster, name, period="2025Q3", by="region", **options)
    want = repkpi.detail(on_pandas, name, period="2025Q3", by="region", **options)
    assert list(got.columns) == list(want.columns)
    assert len(want) > 0
    pd.testing.assert_frame_equal(_sorted(got), _sorted(want), rtol=1e-9, atol=0)


def test_explain_matches_the_pandas_engine(on_cluster, on_pandas):
    _same(repkpi.explain(on_cluster, "gross_revenue_retention", period="2025Q3", by="region"),
          repkpi.explain(on_pandas, "gross_revenue_retention", period="2025Q3", by="region"))
