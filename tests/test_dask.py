"""engine="dask": the same validation and the same KPIs as the pandas engine, on a local cluster.

The sample (and the messy data) is split into part files row by row, in
turn: row r of a table goes to part (r - 1) % n. One account's deals,
tickets and contracts therefore sit in different partitions, which is what
the additive pieces and the gathered KPIs must cope with. Every expected
value comes from the pandas engine on the unsplit files, which the other
test modules check by hand and against SQL.

The default run checks one KPI of each Dask route (how the engine gathers a
KPI across partitions); the sweeps over every KPI are marked ``slow``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import distributed
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import repkpi
from repkpi.cli import main
from repkpi.dask import reader as dask_loading

pytestmark = pytest.mark.dask

SAMPLE = Path(repkpi.sample_path())
MESSY = Path(__file__).parent.parent / "data" / "messy"
PARTS = 3


def route(name: str) -> str:
    """How the Dask engine gathers KPI ``name`` across partitions: the one place that reads it."""
    return repkpi.KPIS[name].route


def one_per_route() -> list[str]:
    """The first KPI of each Dask route, in the registry's order."""
    first: dict[str, str] = {}
    for name in repkpi.KPIS:
        first.setdefault(route(name), name)
    return list(first.values())


ONE_PER_ROUTE = one_per_route()
"""The KPIs the default run checks on Dask; the others are checked by the ``slow`` sweeps."""


def budgeted(name: str, *values: object) -> object:
    """A test case of KPI ``name`` (then ``values``): run by default for one KPI per route, else ``slow``."""
    return pytest.param(name, *values, marks=() if name in ONE_PER_ROUTE else pytest.mark.slow)


def split(source: Path, target: Path, parts: int = PARTS) -> Path:
    """Write each table of ``source`` as ``parts`` part files, rows dealt out in turn.

    Even parts are Parquet (text columns), odd parts CSV: both readers are used.
    """
    for file in sorted(source.glob("*.csv")):
        raw = pd.read_csv(file, dtype="str", keep_default_na=False, na_values=[""])
        folder = target / file.stem
        folder.mkdir(parents=True)
        for part in range(parts):
            rows = raw.iloc[part::parts]
            if part % 2:
                rows.to_csv(folder / f"part-{part:04d}.csv", index=False)
            else:
                pq.write_table(pa.Table.from_pandas(rows, preserve_index=False),
                               folder / f"part-{part:04d}.parquet")
    return target


@pytest.fixture(scope="module")
def cluster():
    """A dask.distributed LocalCluster with two worker processes, the default scheduler meanwhile.

    Its dashboard takes a free port: another test process may run a cluster at the same time.
    """
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", memory_limit="2GiB") as local, \
            distributed.Client(local) as client:
        yield client


@pytest.fixture(scope="module")
def pandas_data():
    return repkpi.load(SAMPLE)


@pytest.fixture(scope="module")
def dask_data(cluster, tmp_path_factory):
    folder = split(SAMPLE, tmp_path_factory.mktemp("split"))
    return repkpi.load(folder, engine="dask")


def test_the_split_puts_one_account_in_several_partitions(dask_data):
    parts = [p.compute() for p in dask_data.deals.to_delayed()]
    holding = pd.concat([pd.Series(p["account_id"].unique()) for p in parts]).value_counts()
    assert dask_data.deals.npartitions == PARTS
    assert (holding == PARTS).sum() > 100


def test_tables_load_lazily_with_the_same_rows(dask_data, pandas_data):
    assert repr(dask_data).startswith("DaskCrmData(accounts=3 partition(s)")
    for name, frame in pandas_data.tables.items():
        whole = getattr(dask_data, name).compute()
        assert len(whole) == len(frame), name
        assert list(whole.columns) == list(frame.columns), name
    summary = dask_data.summary()
    assert summary["rejected"].sum() == 0
    assert summary.set_index("table")["rows"].to_dict() == {
        name: len(frame) for name, frame in pandas_data.tables.items()}


def _same(dask_result: pd.DataFrame, pandas_result: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(dask_result.reset_index(drop=True),
                                  pandas_result.reset_index(drop=True), rtol=1e-9, atol=0)


SHAPES = [("Q", None), ("Q", "region"), ("M", ["region", "segment"]), ("Y", "rep_id"), ("Q", "team")]


def taking(data: repkpi.CrmData, names: list[str], **options: object) -> list[str]:
    """Those of ``names`` that take ``options`` (a market KPI is by region or by nothing)."""
    out = []
    for name in names:
        try:
            repkpi.KPIS[name](data, **options)
        except repkpi.OptionError:
            continue
        out.append(name)
    return out


# The sweep first: when it runs, the one-per-route case reads its results from the data's cache.
@pytest.mark.parametrize("every", [pytest.param(True, id="every-kpi", marks=pytest.mark.slow),
                                   pytest.param(False, id="one-per-route")])
@pytest.mark.parametrize(("freq", "by"), SHAPES)
def test_kpis_match_the_pandas_engine(dask_data, pandas_data, freq, by, every):
    kpis = None if every else taking(pandas_data, ONE_PER_ROUTE, freq=freq, by=by)
    got = repkpi.compute(dask_data, kpis, freq=freq, by=by)
    want = repkpi.compute(pandas_data, kpis, freq=freq, by=by)
    assert got.attrs["skipped"] == want.attrs["skipped"]
    assert sorted(got["kpi"].unique()) == sorted(want["kpi"].unique())
    for name in want["kpi"].unique():
        _same(got[got["kpi"] == name], want[want["kpi"] == name])


@pytest.mark.slow
def test_the_sample_gives_every_kpi_unsplit_and_split(dask_data, pandas_data):
    got = repkpi.compute(dask_data, freq="Q")
    assert set(got["kpi"]) == set(repkpi.KPIS)


WINDOWED = ["churn_rate", "new_customer_growth", "resolution_hours", "market_rank"]
"""Beside one KPI per route, those a window changes most: the opening book, the span compared
with, the rows of a median, the competitors summed over the span."""


@pytest.mark.parametrize("every", [pytest.param(True, id="every-kpi", marks=pytest.mark.slow),
                                   pytest.param(False, id="one-per-route")])
@pytest.mark.parametrize(("freq", "window", "by"), [("M", "ytd", None), ("Q", 4, "region"),
                                                    ("M", 12, "rep_id"), ("M", "qtd", "region")])
def test_windowed_kpis_match_the_pandas_engine(dask_data, pandas_data, freq, window, by, every):
    kpis = None if every else taking(pandas_data, [*ONE_PER_ROUTE, *WINDOWED], freq=freq, by=by)
    got = repkpi.compute(dask_data, kpis, freq=freq, by=by, window=window)
    want = repkpi.compute(pandas_data, kpis, freq=freq, by=by, window=window)
    assert sorted(got["kpi"].unique()) == sorted(want["kpi"].unique())
    for name in want["kpi"].unique():
        _same(got[got["kpi"] == name], want[want["kpi"] == name])


@pytest.mark.parametrize("name", ["churn_rate", "engagement_rate", "resolution_hours",
                                  "market_share"])
def test_windowed_detail_and_explain_match_the_pandas_engine(dask_data, pandas_data, name):
    got = repkpi.detail(dask_data, name, period="2025Q3", by="region", window=4)
    want = repkpi.detail(pandas_data, name, period="2025Q3", by="region", window=4)
    pd.testing.assert_frame_equal(_listed(got), _listed(want), rtol=1e-9, atol=0, obj=name)
    if name != "resolution_hours":  # a median does not split over groups
        _same(repkpi.explain(dask_data, name, period="2025Q3", by="region", window="ytd"),
              repkpi.explain(pandas_data, name, period="2025Q3", by="region", window="ytd"))


@pytest.mark.parametrize(("name", "options"), [
    ("sla_compliance", {"kinds": "complaint", "targets": {"urgent": 2}, "ci": 0.9}),
    ("first_response_sla", {"targets": {"normal": 12}, "by": "priority"}),
    ("retention_rate", {"method": "cohort", "start": "2025Q1", "end": "2026Q2"}),
    ("key_accounts", {"threshold": 20_000, "by": "segment"}),
    ("large_deals", {"threshold": 10_000, "freq": "M", "fiscal_year_start": 4}),
    ("senior_reps", {"years": 2, "by": "region"}),
    ("engagement_rate", {"by": "rep_id", "freq": "M"}),
    ("resolution_hours", {"by": ["region", "priority"], "freq": "M"}),
    ("first_response_hours", {"by": "kind", "start": "2024-01", "end": "2024-06", "freq": "M"}),
    ("net_revenue_retention", {"by": "segment", "freq": "Y"}),
    ("market_rank", {"by": "region"}),
    ("market_share_delta", {"freq": "Y"}),
    ("win_rate", {"by": "channel", "ci": 0.95}),
])
def test_each_kpi_function_with_its_options(dask_data, pandas_data, name, options):
    got = repkpi.KPIS[name](dask_data, **options)
    want = repkpi.KPIS[name](pandas_data, **options)
    _same(got, want)
    assert got.attrs["kpi"] == name


def test_a_kpi_takes_no_as_of_of_its_own(dask_data):
    with pytest.raises(repkpi.OptionError, match="sla_compliance takes no option 'as_of'"):
        repkpi.kpis.sla_compliance(dask_data, as_of="2025-06-30")


def _listed(rows: pd.DataFrame) -> pd.DataFrame:
    """``detail``'s rows in one order: the units list them in theirs."""
    flags = ("in_numerator", "in_denominator", "numerator_weight", "denominator_weight", "hours")
    key = [c for c in rows.columns if c not in flags]
    return rows.sort_values(key, kind="stable").reset_index(drop=True)


@pytest.mark.parametrize(("name", "by"), [
    budgeted(name, by) for by in (None, "region") for name in sorted(repkpi.KPIS)
    if by is None or repkpi.KPIS[name].table != "reps"])  # reps have no region
def test_detail_lists_the_rows_of_the_pandas_engine(dask_data, pandas_data, name, by):
    options = {"threshold": 20_000} if name == "key_accounts" else {}
    got = repkpi.detail(dask_data, name, period="2025Q3", by=by, **options)
    want = repkpi.detail(pandas_data, name, period="2025Q3", by=by, **options)
    assert list(got.columns) == list(want.columns), name
    assert len(want) > 0, name
    pd.testing.assert_frame_equal(_listed(got), _listed(want), rtol=1e-9, atol=0, obj=name)


def test_explain_matches_the_pandas_engine(dask_data, pandas_data):
    for name in ("engagement_rate", "net_revenue_retention", "market_share"):
        _same(repkpi.explain(dask_data, name, period="2025Q3", by="region"),
              repkpi.explain(pandas_data, name, period="2025Q3", by="region"))


def test_the_client_keeps_no_table_of_the_data(dask_data):
    # Facts are spans, labels, as-of and the small tables: no accounts, contracts or renewals.
    repkpi.compute(dask_data, freq="Q", by="region")
    facts = dask_data.cache["facts"]
    frames = {key for key, value in facts.items() if isinstance(value, pd.DataFrame)}
    assert frames <= {"reps", "market"}
    for key, value in facts.items():
        if isinstance(key, tuple) and key[0] == "context":
            assert set(value.known) <= {("as_of",)}


def test_scorecard_and_latest_period_match(dask_data, pandas_data):
    goals = repkpi.load_goals(SAMPLE / "goals.toml")
    _same(repkpi.scorecard(dask_data, goals), repkpi.scorecard(pandas_data, goals))
    _same(repkpi.scorecard(dask_data, goals, by="region", period="2025Q4"),
          repkpi.scorecard(pandas_data, goals, by="region", period="2025Q4"))
    for freq in "MQY":
        assert (repkpi.latest_complete_period(dask_data, freq)
                == repkpi.latest_complete_period(pandas_data, freq))


def test_errors_are_those_of_the_pandas_engine(dask_data, pandas_data, tmp_path):
    for data in (dask_data, pandas_data):
        with pytest.raises(repkpi.ColumnNotFoundError, match="Unknown dimension 'nowhere'"):
            repkpi.kpis.revenue(data, by="nowhere")
        with pytest.raises(repkpi.OptionError, match="takes no option 'threshhold'"):
            repkpi.kpis.large_deals(data, threshhold=5)
    (tmp_path / "deals").mkdir()
    for file in dask_data.sources["deals"]:
        (tmp_path / "deals" / Path(file).name).symlink_to(file)
    only_deals = repkpi.load(tmp_path, engine="dask")
    with pytest.raises(repkpi.MissingTableError, match="accounts"):
        repkpi.kpis.churn_rate(only_deals)


# -- validation --------------------------------------------------------------------------------
def _original_row(report: pd.DataFrame) -> pd.Series:
    """Row in the unsplit file of each row of a part file (rows were dealt out in turn)."""
    part = report["file"].str.extract(r"part-(\d+)\.")[0].astype(int)
    return (report["row"].astype(int) - 1) * PARTS + part + 1


def test_quarantine_sets_aside_the_rows_the_pandas_engine_does(cluster, tmp_path):
    folder = split(MESSY, tmp_path / "messy")
    data = repkpi.load(folder, engine="dask", errors="quarantine")
    want = repkpi.load(MESSY, errors="quarantine")
    got = data.rejects.assign(row=_original_row(data.rejects))
    key = ["table", "row", "column", "check"]
    pd.testing.assert_frame_equal(
        got[key].sort_values(key).reset_index(drop=True),
        want.rejects[key].astype({"row": int}).sort_values(key).reset_index(drop=True),
        check_dtype=False)
    for name, frame in want.tables.items():
        assert len(getattr(data, name).compute()) == len(frame), name
    # The rows left out are the rejected ones, named by file and row.
    kept = data.accounts.compute()
    assert not kept["account_id"].duplicated().any()
    # With rows set aside, the KPIs see the kept rows only, as with pandas.
    for by in (None, "region"):
        got, expected = repkpi.compute(data, by=by), repkpi.compute(want, by=by)
        assert got.attrs["skipped"] == expected.attrs["skipped"]
        _same(got, expected)


def test_a_key_repeated_across_part_files_is_caught(cluster, tmp_path):
    folder = tmp_path / "dupes"
    (folder / "deals").mkdir(parents=True)
    header = "deal_id,account_id,rep_id,created_on,closed_on,stage,amount,deal_type,channel\n"
    (folder / "deals" / "a.csv").write_text(
        header + "D1,A1,R1,2024-01-02,2024-01-05,won,100,new_business,direct\n"
                 "D2,A1,R1,2024-01-02,2024-01-05,won,200,new_business,direct\n")
    (folder / "deals" / "b.csv").write_text(
        header + "D3,A1,R1,2024-01-02,2024-01-05,won,300,new_business,direct\n"
                 "D1,A1,R1,2024-01-03,2024-01-06,lost,400,new_business,direct\n")
    with pytest.raises(repkpi.DataValidationError) as caught:
        repkpi.load(folder, engine="dask")
    report = caught.value.report
    assert sorted(zip(report["file"].str[-5:], report["row"], strict=True)) == [
        ("a.csv", 1), ("b.csv", 2)]
    assert set(report["check"]) == {"unique: the value appears more than once"}
    assert "a.csv, row 1" in str(caught.value)
    data = repkpi.load(folder, engine="dask", errors="quarantine")
    assert data.deals.compute()["deal_id"].tolist() == ["D2", "D3"]
    assert repkpi.kpis.revenue(data, freq="Y")["value"].tolist() == [500.0]


def test_a_key_on_the_boundary_of_two_part_files_is_caught_as_the_pandas_engine_does(tmp_path):
    # The last id of part-0001 is the first of part-0002: the files' key ranges (D1..D3 and
    # D3..D5) touch at that one id, so the two files must be compared.
    header = "deal_id,account_id,rep_id,created_on,closed_on,stage,amount,deal_type,channel\n"
    row = "D{},A1,R1,2024-01-02,2024-01-05,won,{},new_business,direct\n"
    (tmp_path / "deals").mkdir()
    (tmp_path / "deals" / "part-0001.csv").write_text(
        header + "".join(row.format(i, 100 * i) for i in (1, 2, 3)))
    (tmp_path / "deals" / "part-0002.csv").write_text(
        header + "".join(row.format(i, 100 * i) for i in (3, 4, 5)))
    reports = []
    for engine in ("dask", "pandas"):
        with pytest.raises(repkpi.DataValidationError, match="part-0002.csv, row 1") as caught:
            repkpi.load(tmp_path, engine=engine)
        reports.append(caught.value.report)
    on_dask, on_pandas = reports
    pd.testing.assert_frame_equal(on_dask, on_pandas)
    assert [(Path(r.file).name, r.row, r.value) for r in on_dask.itertuples()] == [
        ("part-0001.csv", 3, "D3"), ("part-0002.csv", 1, "D3")]
    assert set(on_dask["check"]) == {"unique: the value appears more than once"}
    data = repkpi.load(tmp_path, engine="dask", errors="quarantine")
    assert data.deals.compute()["deal_id"].tolist() == ["D1", "D2", "D4", "D5"]
    assert repkpi.kpis.revenue(data, freq="Y")["value"].tolist() == [1_200.0]


def test_a_rejected_account_cascades_across_partitions(cluster, tmp_path):
    folder = tmp_path / "cascade"
    (folder / "accounts").mkdir(parents=True)
    (folder / "deals").mkdir()
    accounts = "account_id,account_name,rep_id,region,segment,customer_since,churned_on\n"
    (folder / "accounts" / "1.csv").write_text(accounts + "A1,One,R1,north,smb,2024-01-01,\n")
    (folder / "accounts" / "2.csv").write_text(accounts + "A2,Two,R1,north,smb,not a date,\n")
    deals = "deal_id,account_id,rep_id,created_on,closed_on,stage,amount,deal_type,channel\n"
    (folder / "deals" / "1.csv").write_text(
        deals + "D1,A2,R1,2024-01-02,2024-01-05,won,100,new_business,direct\n")
    (folder / "deals" / "2.csv").write_text(
        deals + "D2,A1,R1,2024-01-02,2024-01-05,won,200,new_business,direct\n"
                "D3,A9,R1,2024-01-02,2024-01-05,won,300,new_business,direct\n")
    data = repkpi.load(folder, engine="dask", errors="quarantine")
    rejects = data.rejects.assign(
        file=data.rejects["file"].str.rsplit("/", n=2).str[-2:].str.join("/"))
    assert rejects[["table", "file", "row", "check"]].to_numpy().tolist() == [
        ["accounts", "accounts/2.csv", 2 - 1, "type: a date YYYY-MM-DD"],
        ["deals", "deals/1.csv", 1, "reference: the account was rejected"],
        ["deals", "deals/2.csv", 2, "reference: account_id not in accounts"],
    ]
    assert data.deals.compute()["deal_id"].tolist() == ["D2"]


def test_file_problems_are_clear(cluster, tmp_path):
    (tmp_path / "deals").mkdir()
    (tmp_path / "deals" / "1.csv").write_text(
        "deal_id,account_id,rep_id,created_on,closed_on,stage,amount,deal_type,channel\n"
        "D1,A1,R1,2024-01-02,2024-01-05,won,100,new_business,direct\n")
    (tmp_path / "deals" / "2.csv").write_text("deal_id,account_id,extra\nD2,A1,x\n")
    with pytest.raises(repkpi.ColumnNotFoundError, match="2.csv: the deals table lacks required"):
        repkpi.load(tmp_path, engine="dask")
    with pytest.raises(repkpi.DataFileError, match="no such file or folder"):
        repkpi.load(tmp_path / "nowhere", engine="dask")
    (tmp_path / "notes.csv").write_text("a\n1\n")
    with pytest.raises(repkpi.DataFileError, match="not a table name"):
        repkpi.load(tmp_path, engine="dask")
    with pytest.raises(repkpi.OptionError, match="engine must be"):
        repkpi.load(tmp_path, engine="spark")


def test_parts_must_share_their_columns(cluster, tmp_path):
    header = "deal_id,account_id,rep_id,created_on,closed_on,stage,amount,deal_type,channel"
    row = "D{},,R1,2024-01-02,2024-01-05,won,100,new_business,direct"
    (tmp_path / "deals").mkdir()
    (tmp_path / "deals" / "1.csv").write_text(f"{header}\n{row.format(1)}\n")
    (tmp_path / "deals" / "2.csv").write_text(f"{header},note\n{row.format(2)},x\n")
    with pytest.raises(repkpi.DataFileError, match="differ from those of"):
        repkpi.load(tmp_path, engine="dask")


def _run(code: str) -> str:
    """What ``code`` prints, run by this Python in a fresh interpreter."""
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=Path(__file__).parents[1],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def test_the_engine_is_loaded_when_first_needed():
    # The reader by load(engine="dask"), the executor by the lookup's first miss.
    out = _run(f"""
        import sys
        import repkpi
        print("repkpi.dask.reader" in sys.modules)
        data = repkpi.load({str(SAMPLE)!r}, engine="dask")
        print("repkpi.dask.reader" in sys.modules, "repkpi.dask.executor" in sys.modules)
        repkpi.kpis.win_rate(data)
        print("repkpi.dask.executor" in sys.modules)
        """)
    assert out.split() == ["False", "True", "False", "True"]


def test_without_dask_the_engine_says_how_to_install_it():
    out = _run(f"""
        import sys
        sys.modules["dask"] = None  # as if Dask were not installed
        import repkpi
        try:
            repkpi.load({str(SAMPLE)!r}, engine="dask")
        except repkpi.OptionError as exc:
            print(exc)
        """)
    assert "engine='dask' needs Dask, which is not installed." in out
    assert "Hint: pip install 'repkpi[dask]'." in out


def test_a_scheduler_address_is_used(cluster, tmp_path):
    folder = split(SAMPLE, tmp_path / "s", parts=2)
    try:
        data = repkpi.load(folder, engine="dask", scheduler=cluster.scheduler.address)
        assert len(data.tickets.compute()) == len(repkpi.load_sample().tickets)
        assert data.client is dask_loading._CLIENTS[cluster.scheduler.address]
        assert data.client is not cluster
        _same(repkpi.kpis.win_rate(data), repkpi.kpis.win_rate(repkpi.load_sample()))
    finally:
        for client in dask_loading._CLIENTS.values():
            client.close()
        dask_loading._CLIENTS.clear()
    with pytest.raises(repkpi.OptionError, match="scheduler= goes with engine='dask'"):
        repkpi.load(SAMPLE, scheduler=cluster.scheduler.address)


def test_command_line_engine_dask(cluster, tmp_path, capsys):
    folder = split(SAMPLE, tmp_path / "s", parts=2)
    assert main(["kpis", str(folder), "--engine", "dask", "--freq", "Y",
                 "--out", str(tmp_path / "kpis.csv")]) == 0
    got = pd.read_csv(tmp_path / "kpis.csv")
    want = repkpi.compute(repkpi.load_sample(), freq="Y")
    assert len(got) == len(want)
    assert main(["validate", str(folder), "--engine", "dask"]) == 0
    messy = split(MESSY, tmp_path / "m", parts=2)
    assert main(["validate", str(messy), "--engine", "dask"]) == 1
    assert "invalid row(s)" in capsys.readouterr().out
    assert main(["kpis", str(folder), "--scheduler", "tcp://x:1"]) == 2


def test_a_quarter_in_progress_is_the_same_on_both_engines(cluster, tmp_path):
    # Data ending on 2026-08-15, split in part files: as_of, the default end, the states
    # measured on as_of and the in-progress scorecard are those of the pandas engine.
    from repkpi.datasets.generator import write_sample

    folder = write_sample(tmp_path / "mid", seed=4, accounts=300, end="2026-08-15",
                          first_of_month=0.4)
    on_dask = repkpi.load(split(folder, tmp_path / "split"), engine="dask")
    on_pandas = repkpi.load(folder)
    assert on_dask.as_of == on_pandas.as_of == pd.Timestamp("2026-08-15")
    for freq in ("Q", "M"):
        got, want = repkpi.compute(on_dask, freq=freq), repkpi.compute(on_pandas, freq=freq)
        _same(got.sort_values(["kpi", "period"], kind="stable"),
              want.sort_values(["kpi", "period"], kind="stable"))
        assert got.attrs["in_progress"] == want.attrs["in_progress"] == pd.Period(
            "2026Q3" if freq == "Q" else "2026-08", freq)
    card = repkpi.scorecard(on_dask, period="current")
    assert set(card["status"]) == {"in progress"}
    _same(card, repkpi.scorecard(on_pandas, period="current"))


# -- ticket events: pauses and their references ---------------------------------------------------
CALENDAR = {"timezone": "Europe/London",
            "hours": {d: "08:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")},
            "holidays": ["2024-12-25", "2024-12-26", "2025-01-01"],
            "by": {"region": {"east": {"timezone": "Asia/Singapore"},
                              "west": {"hours": {"mon": "10:00-14:00", "sat": "09:00-12:00"}}}}}
SERVICE = ("sla_compliance", "first_response_sla", "first_response_hours", "resolution_hours")


@pytest.fixture(scope="module")
def paused(cluster, tmp_path_factory):
    """Every 25th ticket of the sample with 0-4 status changes each: unsplit (pandas) and split."""
    source = tmp_path_factory.mktemp("events")
    for table in ("accounts", "reps"):
        (source / f"{table}.csv").write_bytes((SAMPLE / f"{table}.csv").read_bytes())
    tickets = pd.read_csv(SAMPLE / "tickets.csv", dtype="str").iloc[::25]
    tickets.to_csv(source / "tickets.csv", index=False)
    rng = np.random.default_rng(16)
    which = np.repeat(np.arange(len(tickets)), rng.integers(0, 5, len(tickets)))
    opened = pd.to_datetime(tickets["opened_at"], utc=True, format="mixed").to_numpy()[which]
    after = pd.to_timedelta(rng.integers(-120, 200 * 60, len(which)), unit="min")
    pd.DataFrame({
        "ticket_id": tickets["ticket_id"].to_numpy()[which],
        "changed_at": (pd.DatetimeIndex(opened) + after).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": rng.choice(["new", "open", "pending", "on_hold", "solved"], len(which)),
    }).sample(frac=1.0, random_state=5).to_csv(source / "ticket_events.csv", index=False)
    on_dask = repkpi.load(split(source, tmp_path_factory.mktemp("events_split")), engine="dask")
    return on_dask, repkpi.load(source)


@pytest.mark.parametrize(("clock", "calendar", "by"), [
    ("calendar", None, None),            # tickets and events aligned on ticket_id
    ("calendar", None, "region"),        # on account_id: the events go to their ticket's account
    ("business", CALENDAR, None),        # the calendar differs by the account's region
    ("business", CALENDAR, "region"),
    ("business", {k: v for k, v in CALENDAR.items() if k != "by"}, "kind"),
])
def test_pause_matches_the_pandas_engine(paused, clock, calendar, by):
    on_dask, on_pandas = paused
    assert on_dask.ticket_events.npartitions == PARTS
    options = {"clock": clock, "calendar": calendar, "pause": ["pending"], "by": by}
    for name in SERVICE:
        want = repkpi.KPIS[name](on_pandas, **options)
        assert want["value"].notna().sum() > 3, name
        _same(repkpi.KPIS[name](on_dask, **options), want)
    unpaused = repkpi.KPIS["resolution_hours"](on_pandas, **{**options, "pause": None})
    assert not unpaused["value"].equals(want["value"])  # the pauses change the hours


@pytest.mark.parametrize("clock", ["calendar", "business"])
def test_pause_in_detail_lists_the_rows_of_the_pandas_engine(paused, clock):
    on_dask, on_pandas = paused
    options = {"clock": clock, "calendar": CALENDAR if clock == "business" else None,
               "pause": ["pending", "on_hold"]}
    for name in SERVICE:
        for by in (None, "region"):
            got = repkpi.detail(on_dask, name, period="2024Q2", by=by, **options)
            want = repkpi.detail(on_pandas, name, period="2024Q2", by=by, **options)
            assert len(want) > 0, name
            assert list(got.columns) == list(want.columns), name
            pd.testing.assert_frame_equal(_listed(got), _listed(want), rtol=1e-9, atol=0,
                                          obj=name)


def test_events_are_checked_against_the_tickets_as_the_pandas_engine_does(cluster, tmp_path):
    accounts = "account_id,account_name,rep_id,region,segment,customer_since,churned_on\n"
    tickets = "ticket_id,account_id,rep_id,opened_at,first_response_at,resolved_at,priority,kind\n"
    ticket = "{},{},R1,2024-01-0{}T09:00:00Z,,,{},question\n"
    events = "ticket_id,changed_at,status\n"
    event = "{},2024-01-0{}T10:00:00Z,pending\n"
    files = {
        "accounts/1.csv": accounts + "A1,One,R1,north,smb,2024-01-01,\n",
        "accounts/2.csv": accounts + "A2,Two,R1,north,smb,not a date,\n",
        "tickets/1.csv": tickets + ticket.format("T1", "A1", 2, "high")
                                 + ticket.format("T2", "A1", 3, "p9"),     # rejected
        "tickets/2.csv": tickets + ticket.format("T3", "A2", 4, "low")     # its account rejected
                                 + ticket.format("T4", "A1", 5, "normal"),
        "ticket_events/1.csv": events + event.format("T4", 6) + event.format("T9", 6)
                                      + event.format("T2", 4),
        "ticket_events/2.csv": events + event.format("T3", 5) + event.format("T1", 3),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    on_dask = repkpi.load(tmp_path, engine="dask", errors="quarantine")
    on_pandas = repkpi.load(tmp_path, errors="quarantine")
    pd.testing.assert_frame_equal(on_dask.rejects, on_pandas.rejects)
    rejects = on_dask.rejects[on_dask.rejects["table"] == "ticket_events"]
    assert rejects.assign(file=rejects["file"].str[-5:])[
        ["file", "row", "column", "check", "value"]].to_numpy().tolist() == [
        ["1.csv", 2, "ticket_id", "reference: ticket_id not in tickets", "T9"],
        ["1.csv", 3, "ticket_id", "reference: the ticket was rejected", "T2"],
        ["2.csv", 1, "ticket_id", "reference: the ticket was rejected", "T3"],
    ]
    assert sorted(on_dask.ticket_events.compute()["ticket_id"]) == ["T1", "T4"]
    for engine in ("dask", "pandas"):
        with pytest.raises(repkpi.DataValidationError, match="ticket_id not in tickets"):
            repkpi.load(tmp_path, engine=engine)
