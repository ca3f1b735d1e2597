"""Churn risk on Dask: the features measured on the workers, each bucket of accounts apart.

The sample is split into three part files per table, rows dealt out in turn
(``tests/test_dask.py``'s ``split``): one account's tickets, contracts and
surveys sit in different partitions, half of them Parquet, half CSV. The
expected values are the pandas engine's on the unsplit sample, which
``test_risk.py`` checks by hand; here the question is only whether the split
data gives the same, and what the client receives.
"""

from __future__ import annotations

import importlib

import dask
import distributed
import pandas as pd
import pytest

import repkpi
from repkpi.forecast import risk
from repkpi.forecast.features import measure, measure_on, selected
from repkpi.kpis.registry import executor_for
from tests.test_dask import SAMPLE, cluster, split  # noqa: F401 (cluster: a fixture)

pytestmark = pytest.mark.dask


@pytest.fixture(scope="module")
def split_data(tmp_path_factory):
    folder = split(SAMPLE, tmp_path_factory.mktemp("split"), parts=3)
    with dask.config.set(scheduler="synchronous"):
        yield repkpi.load(folder, engine="dask")


@pytest.fixture(scope="module")
def pandas_data():
    return repkpi.load(SAMPLE)


def test_each_bucket_holds_all_the_rows_of_its_accounts(split_data, pandas_data) -> None:
    """The buckets split the accounts, and every row of an account is in its account's bucket."""
    seen: list[dict[str, pd.DataFrame]] = []

    def record(tables: dict[str, pd.DataFrame], rows: pd.DataFrame) -> pd.DataFrame:
        seen.append({**tables, "rows": rows})
        return rows.iloc[:0]

    pairs = pd.DataFrame({"account_id": pandas_data.accounts["account_id"], "day": pandas_data.as_of})
    with dask.config.set(scheduler="synchronous"):
        executor_for(split_data).by_account(split_data, selected(split_data), pairs, record)
    assert len(seen) == 3  # as many buckets as the tables' most partitions
    mine = [set(part["accounts"]["account_id"]) for part in seen]
    assert sum(map(len, mine)) == len(set().union(*mine)) == len(pandas_data.accounts)
    for part, accounts in zip(seen, mine, strict=True):
        assert set(part["rows"]["account_id"]) <= accounts
        assert len(part["reps"]) == len(pandas_data.reps)  # the reps whole, in every bucket
        for table in ("contracts", "tickets", "surveys", "activities", "deals"):
            assert set(part[table]["account_id"].dropna()) <= accounts, table
    for table in ("rows", "contracts", "tickets", "surveys", "activities", "deals"):
        whole = len(pairs) if table == "rows" else len(getattr(pandas_data, table))
        assert sum(len(part[table]) for part in seen) == whole, table


def test_features_on_split_data_equal_pandas_with_every_segment(split_data, pandas_data) -> None:
    """Accounts of two days, their features as pandas measures them on the whole data.

    A bucket lists only its own accounts' segments: the others must come back as 0.0.
    """
    accounts = pandas_data.accounts["account_id"]
    days = [pd.Timestamp("2025-06-30"), pandas_data.as_of.normalize()]
    pairs = pd.DataFrame({"account_id": pd.concat([accounts] * 2, ignore_index=True),
                          "day": [d for d in days for _ in range(len(accounts))]})
    with dask.config.set(scheduler="synchronous"):
        found = measure_on(split_data, pairs)
    expected = measure({"accounts": pandas_data.accounts, **{
        t: getattr(pandas_data, t) for t in ("contracts", "tickets", "surveys", "activities",
                                              "deals", "reps")}}, pairs)
    assert any(c.startswith("segment=") for c in expected.columns)
    pd.testing.assert_frame_equal(found, expected)


def test_risk_gathers_only_the_accounts_and_the_feature_matrix(split_data, pandas_data,
                                                               monkeypatch) -> None:
    """Same scores as pandas; of the rows read, the client receives the accounts and the features."""
    returned: list[object] = []
    compute = dask.compute

    def spy(*args, **kwargs):
        found = compute(*args, **kwargs)
        returned.append(found)
        return found

    monkeypatch.setattr(dask, "compute", spy)
    with dask.config.set(scheduler="synchronous"):
        found = risk(split_data)
    expected = risk(pandas_data)
    pd.testing.assert_frame_equal(found, expected)
    assert found.attrs["backtest"]["auc"] == expected.attrs["backtest"]["auc"]

    frames = [f for result in returned for f in _frames(result)]
    features = set(found.attrs["features"]) - {"contract_ends_in_horizon"}  # added on the client
    account_columns = set(selected(split_data)["accounts"].columns)
    matrix = [f for f in frames if set(f.columns) <= features | {"account_id"} and
              not set(f.columns) <= account_columns]
    # rows: every training pair (each account active at each past period's close) + today's accounts
    pairs = found.attrs["training_rows_available"] + len(found)
    assert sum(len(f) for f in matrix) == pairs
    assert set().union(*(set(f.columns) for f in matrix)) <= features
    others = [f for f in frames if not any(f is m for m in matrix)]
    assert all(set(f.columns) <= account_columns for f in others)
    assert sum(len(f) for f in others) == len(pandas_data.accounts)  # the accounts, once
    assert not any({"ticket_id", "opened_at", "contract_id"} & set(f.columns) for f in frames)


def test_sampled_training_rows_are_the_same_on_both_engines(split_data, pandas_data,
                                                            monkeypatch) -> None:
    """Past the cap the training rows are sampled; the split data's account order must not matter."""
    module = importlib.import_module("repkpi.forecast.risk")
    monkeypatch.setattr(module, "MAX_TRAINING_ROWS", 3_000)
    with dask.config.set(scheduler="synchronous"):
        found = risk(split_data)
    expected = risk(pandas_data)
    assert expected.attrs["training_rows_available"] > 3_000  # the cap is reached: rows sampled
    pd.testing.assert_frame_equal(found, expected)


@pytest.mark.usefixtures("cluster")
def test_risk_on_a_cluster_equals_pandas(tmp_path, pandas_data) -> None:
    """The buckets measured in worker processes (the function and frames pickled) give the same."""
    data = repkpi.load(split(SAMPLE, tmp_path / "split", parts=3), engine="dask")
    assert distributed.default_client().status == "running"  # the cluster's, the default
    found, expected = risk(data), risk(pandas_data)
    pd.testing.assert_frame_equal(found, expected)
    # the split data lists its accounts in another order, and so the training rows: the fit
    # sums them in that order (equal to ~1e-13, not to the last bit)
    pd.testing.assert_series_equal(found.attrs["coefficients"], expected.attrs["coefficients"],
                                   rtol=1e-9)


def _frames(value: object) -> list[pd.DataFrame]:
    """The data frames in a computed result (tuples, lists and dicts of them)."""
    if isinstance(value, pd.DataFrame):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [f for v in value for f in _frames(v)]
    return []
