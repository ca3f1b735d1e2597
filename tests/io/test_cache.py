"""The cache of loads (repkpi/io/cache.py): a warm load is the cold one, and never a stale one.

Each test caches into its own folder (``REPKPI_CACHE_DIR`` set to a temporary
one) and counts the loads that parsed the files (``builds``): a load taken
from the cache parses nothing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import repkpi
from repkpi.cli import main
from repkpi.errors import OptionError
from repkpi.io import cache, loading

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own cache folder."""
    where = tmp_path / "cache"
    monkeypatch.setenv("REPKPI_CACHE_DIR", str(where))
    monkeypatch.delenv("REPKPI_CACHE_SIZE", raising=False)
    return where


@pytest.fixture
def builds(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the loads that read and parsed their files (not taken from the cache)."""
    done: list[str] = []
    build = loading._load_files

    def counted(path, *args, **kwargs):
        done.append(str(path))
        return build(path, *args, **kwargs)

    monkeypatch.setattr(loading, "_load_files", counted)
    return done


def entries(cache_dir: Path) -> list[Path]:
    """The cache's entries (not the half-written ones)."""
    loads = cache_dir / "loads"
    return sorted(p for p in loads.iterdir() if not p.name.startswith(".")) if loads.exists() else []


def assert_same(cold: repkpi.CrmData, warm: repkpi.CrmData) -> None:
    """Every attribute equal (tables with their dtypes, index and attrs), and what is made of them."""
    assert warm.as_of == cold.as_of
    pd.testing.assert_frame_equal(warm.coverage, cold.coverage)  # both now keep these two
    assert sorted(vars(cold)) == sorted(vars(warm))
    for name, value in vars(cold).items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(warm.__dict__[name], value, check_exact=True, obj=name)
            assert type(warm.__dict__[name].index) is type(value.index), name
            assert warm.__dict__[name].attrs == value.attrs, name
        else:
            assert warm.__dict__[name] == value, name
    pd.testing.assert_frame_equal(warm.summary(), cold.summary())
    pd.testing.assert_frame_equal(warm.rejects, cold.rejects)
    assert warm.coverage_notes() == cold.coverage_notes()


def copy(source: Path, tmp_path: Path) -> Path:
    """A copy of a fixture folder to change."""
    return Path(shutil.copytree(source, tmp_path / source.name))


# A folder that leaves something in every part of a load's state. Worked out by hand:
# accounts: 4 rows; A2's 2024-02-30 is no date (rejected); " A3 " is trimmed (1 cell);
#   A4 became a customer after the as-of date 2024-04-30 (its customer_since blanked:
#   "changed" 1): loaded A1, A3, A4.
# deals (";"-delimited): D2 points to the rejected A2 and D3 to no account (both
#   rejected); D4's line has a field too many (rejected): loaded D1.
# contracts: C1 ends 9999-12-31, read as no end ("never": 1).
# tickets, in two part files: T2 (second line of part 2) points to no account, so the
#   rejects have a file column; T4 was opened after the as-of date (left out: "after_as_of"
#   1); T1 and T3 load.
MESSY = {
    "accounts.csv": "account_id,customer_since,churned_on,region\n"
                    "A1,2024-01-15,,North\nA2,2024-02-30,,South\n A3 ,2024-03-01,,North\n"
                    "A4,2024-05-01,,South\n",
    "deals.csv": "deal_id;account_id;created_on;stage\n"
                 "D1;A1;2024-01-20;open\nD2;A2;2024-02-01;open\nD3;A9;2024-02-01;open\n"
                 "D4;A1;2024-03-01;open;x\n",
    "contracts.csv": "contract_id,account_id,start_date,end_date,annual_value\n"
                     "C1,A1,2024-01-15,9999-12-31,1200\n",
    "tickets/part-1.csv": "ticket_id,account_id,opened_at\nT1,A1,2024-02-01T10:00:00Z\n"
                          "T4,A1,2024-05-02T10:00:00Z\n",
    "tickets/part-2.csv": "ticket_id,account_id,opened_at\nT3,A3,2024-03-05T09:00:00Z\n"
                          "T2,A9,2024-03-06T09:00:00Z\n",
}


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    """The folder of :data:`MESSY`."""
    folder = tmp_path / "messy"
    for name, text in MESSY.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_a_warm_load_of_the_sample_is_the_cold_one(builds, cache_dir):
    cold = repkpi.load(repkpi.sample_path())
    warm = repkpi.load(repkpi.sample_path())
    assert len(builds) == 1
    assert len(entries(cache_dir)) == 1
    assert_same(cold, warm)


@pytest.mark.parametrize(("folder", "source"), [
    ("salesforce", "salesforce"),
    ("custom", str(FIXTURES / "custom" / "mapping.toml")),
    ("zendesk_split", str(FIXTURES / "zendesk_split" / "mapping.toml")),  # part files
    ("salesforce_export_all", "salesforce"),  # deleted records set aside and counted
    ("pipedrive", "pipedrive"),  # no organizations: absent columns and their hints
])
def test_a_warm_load_of_a_crm_export_is_the_cold_one(builds, folder, source):
    cold = repkpi.load(FIXTURES / folder, source=source)
    warm = repkpi.load(FIXTURES / folder, source=source)
    assert len(builds) == 1
    assert_same(cold, warm)


def test_a_warm_load_in_quarantine_keeps_the_rejects_and_every_count(builds, messy):
    cold = repkpi.load(messy, errors="quarantine", as_of="2024-04-30")
    warm = repkpi.load(messy, errors="quarantine", as_of="2024-04-30")
    assert len(builds) == 1
    assert_same(cold, warm)
    summary = warm.summary().set_index("table")
    # The counts worked out by hand beside MESSY.
    assert summary.loc["accounts", ["rows", "loaded", "rejected", "changed", "trimmed"]].tolist() \
        == [4, 3, 1, 1, 1]
    assert summary.loc["deals", ["rows", "loaded", "rejected", "delimiter"]].tolist() == [4, 1, 3, ";"]
    assert summary.loc["contracts", "never"] == 1
    assert summary.loc["tickets", ["rows", "loaded", "rejected", "after_as_of"]].tolist() \
        == [4, 2, 1, 1]
    assert list(warm.tickets["ticket_id"]) == ["T1", "T3"]
    tickets = warm.rejects[warm.rejects["table"] == "tickets"]
    assert [(Path(f).name, r) for f, r in zip(tickets["file"], tickets["row"], strict=True)] \
        == [("part-2.csv", 2)]
    assert warm.as_of == pd.Timestamp("2024-04-30")


def test_the_cache_folder_is_the_users_unless_moved(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.delenv("REPKPI_CACHE_DIR")
    assert cache.cache_folder() == Path(platformdirs.user_cache_dir("repkpi", appauthor=False),
                                        "loads")
    monkeypatch.setenv("REPKPI_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert cache.cache_folder() == tmp_path / "elsewhere" / "loads"


def test_the_suite_never_uses_the_users_cache():
    import platformdirs

    assert os.environ["REPKPI_CACHE_DIR"]
    assert not cache.cache_folder().is_relative_to(platformdirs.user_cache_dir("repkpi"))


def test_a_changed_file_of_the_same_size_and_time_is_read_again(builds, messy):
    accounts = messy / "accounts.csv"
    before = accounts.stat()
    first = repkpi.load(messy, errors="quarantine")
    text = accounts.read_text().replace("A1,2024-01-15", "A1,2024-01-16")
    assert len(text.encode()) == before.st_size
    accounts.write_text(text)
    os.utime(accounts, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert accounts.stat().st_mtime_ns == before.st_mtime_ns
    second = repkpi.load(messy, errors="quarantine")
    assert len(builds) == 2
    assert first.accounts.loc[0, "customer_since"] == pd.Timestamp("2024-01-15")
    assert second.accounts.loc[0, "customer_since"] == pd.Timestamp("2024-01-16")


def test_a_changed_export_of_a_crm_is_read_again(builds, tmp_path):
    folder = copy(FIXTURES / "salesforce", tmp_path)
    export = folder / "opportunities.csv"
    before = export.stat()
    deals = repkpi.load(folder, source="salesforce").deals.set_index("deal_id")
    assert deals.loc["006Dn00000Bx1AaIAJ", "amount"] == 48_000.0
    export.write_bytes(export.read_bytes().replace(b'"$48,000.00"', b'"$49,000.00"'))
    os.utime(export, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same time
    deals = repkpi.load(folder, source="salesforce").deals.set_index("deal_id")
    assert deals.loc["006Dn00000Bx1AaIAJ", "amount"] == 49_000.0
    assert len(builds) == 2


@pytest.mark.parametrize("change", ["touch", "add", "remove", "part"])
def test_a_touched_added_or_removed_file_is_read_again(builds, messy, change):
    repkpi.load(messy, errors="quarantine")
    if change == "touch":  # same bytes, a new modification time
        os.utime(messy / "deals.csv", ns=(0, 10**18))
    elif change == "add":
        (messy / "reps.csv").write_text("rep_id,hired_on\nR1,2023-01-01\n")
    elif change == "remove":
        (messy / "contracts.csv").unlink()
    else:
        (messy / "tickets" / "part-3.csv").write_text("ticket_id,account_id,opened_at\n")
    data = repkpi.load(messy, errors="quarantine")
    assert len(builds) == 2
    assert ("reps" in data.tables) == (change == "add")
    assert ("contracts" in data.tables) == (change != "remove")


def test_a_changed_mapping_is_read_again(builds, tmp_path):
    folder = copy(FIXTURES / "custom", tmp_path)
    mapping = folder / "mapping.toml"
    amount = repkpi.load(folder, source=mapping).deals.set_index("deal_id").loc["D-102", "amount"]
    assert amount == pytest.approx(1234.50 * 0.9)  # "1.234,50" USD at 0.9
    mapping.write_text(mapping.read_text().replace("USD = 0.9", "USD = 0.8"))
    amount = repkpi.load(folder, source=mapping).deals.set_index("deal_id").loc["D-102", "amount"]
    assert amount == pytest.approx(1234.50 * 0.8)
    assert len(builds) == 2


def test_the_key_holds_the_mapping_as_resolved_not_as_named(builds):
    from repkpi.io.mapping import read_mapping

    repkpi.load(FIXTURES / "salesforce", source="salesforce")
    repkpi.load(FIXTURES / "salesforce", source=read_mapping("salesforce"))
    assert len(builds) == 1


def test_a_preset_and_its_mapping_file_are_different_keys(builds, tmp_path):
    (tmp_path / "same.toml").write_text('base = "salesforce"\n')
    repkpi.load(FIXTURES / "salesforce", source="salesforce")
    repkpi.load(FIXTURES / "salesforce", source=tmp_path / "same.toml")  # named "same"
    assert len(builds) == 2


@pytest.mark.parametrize(("first", "then"), [
    ({"errors": "quarantine"}, {"errors": "strict"}),
    ({"errors": "quarantine"}, {"errors": "quarantine", "as_of": "2024-04-30"}),
    ({"errors": "quarantine", "as_of": "2024-04-30"}, {"errors": "quarantine", "as_of": "2024-03-31"}),
])
def test_a_changed_option_is_read_again(builds, messy, first, then):
    repkpi.load(messy, **first)
    if then["errors"] == "strict":
        with pytest.raises(repkpi.DataValidationError):  # the rows a quarantine set aside
            repkpi.load(messy, **then)
    else:
        assert repkpi.load(messy, **then).declared_as_of == pd.Timestamp(then["as_of"])
    assert len(builds) == 2


def test_a_smaller_max_bytes_reads_again_and_refuses(builds, tmp_path):
    import gzip

    folder = tmp_path / "gz"
    folder.mkdir()
    text = b"account_id,customer_since\nA1,2024-01-15\nA2,2024-02-01\n"  # 26 + 14 + 14 = 54 bytes unpacked
    (folder / "accounts.csv.gz").write_bytes(gzip.compress(text))
    assert len(repkpi.load(folder).accounts) == 2
    with pytest.raises(repkpi.DataFileError, match=r"accounts\.csv\.gz expands past 50 bytes"):
        repkpi.load(folder, max_bytes=50)
    assert len(builds) == 2


def test_the_same_as_of_written_two_ways_is_one_key(builds, messy):
    repkpi.load(messy, errors="quarantine", as_of="2024-04-30")
    repkpi.load(messy, errors="quarantine", as_of=pd.Timestamp("2024-04-30"))
    assert len(builds) == 1


@pytest.mark.parametrize(("what", "value"), [
    ("package_version", "99.0"), ("source_digest", "0" * 32), ("run_date", "2099-01-01")])
def test_another_version_source_or_day_never_reads_an_entry(builds, messy, monkeypatch, what, value):
    repkpi.load(messy, errors="quarantine")
    monkeypatch.setattr(cache, what, lambda: value)
    repkpi.load(messy, errors="quarantine")
    repkpi.load(messy, errors="quarantine")
    assert len(builds) == 2  # then taken from the new entry


@pytest.mark.parametrize("entry", ["none", "stale"])
def test_a_load_across_midnight_keeps_nothing(builds, cache_dir, messy, monkeypatch, entry):
    # The run's date changes while the tables are built: their check of recorded dates used
    # the first day, so no entry is kept under either day. With no entry under the files'
    # names, sizes and times the key is made after the build; with a stale one (a file
    # changed, its size and time kept), before it.
    day = ["2026-01-01"]
    monkeypatch.setattr(cache, "run_date", lambda: day[0])
    if entry == "stale":
        repkpi.load(messy, errors="quarantine")
        contracts = messy / "contracts.csv"
        before = contracts.stat()
        contracts.write_text(MESSY["contracts.csv"].replace("1200", "1300"))
        os.utime(contracts, ns=(before.st_atime_ns, before.st_mtime_ns))  # found by its hash
    build = loading._load_files

    def past_midnight(*args, **kwargs):
        data = build(*args, **kwargs)
        day[0] = "2026-01-02"
        return data

    monkeypatch.setattr(loading, "_load_files", past_midnight)
    def keys() -> list[str]:
        return [(entry / "key.json").read_text() for entry in entries(cache_dir)]

    kept = keys()
    repkpi.load(messy, errors="quarantine")
    assert keys() == kept
    assert len(builds) == (2 if entry == "stale" else 1)  # the stale entry was not used


def test_the_bytes_parsed_are_the_bytes_hashed(builds, messy, monkeypatch):
    # The file changes after the cache read it and before the tables are built: the
    # tables come from the bytes read, and the next load sees the change.
    build = loading._load_files

    def changed_meanwhile(*args, **kwargs):
        (messy / "reps.csv").write_text("rep_id,hired_on\nR2,2023-02-01\n")
        return build(*args, **kwargs)

    (messy / "reps.csv").write_text("rep_id,hired_on\nR1,2023-01-01\n")
    monkeypatch.setattr(loading, "_load_files", changed_meanwhile)
    assert list(repkpi.load(messy, errors="quarantine").reps["rep_id"]) == ["R1"]
    monkeypatch.setattr(loading, "_load_files", build)
    assert list(repkpi.load(messy, errors="quarantine").reps["rep_id"]) == ["R2"]


def test_cache_false_neither_reads_nor_writes(builds, cache_dir, messy):
    repkpi.load(messy, errors="quarantine", cache=False)
    assert entries(cache_dir) == []
    repkpi.load(messy, errors="quarantine")
    repkpi.load(messy, errors="quarantine", cache=False)
    assert len(builds) == 3


def test_no_cache_on_the_command_line(builds, cache_dir, messy):
    assert main(["validate", str(messy), "--no-cache"]) == 1  # rows rejected
    assert entries(cache_dir) == []
    assert main(["validate", str(messy)]) == 1
    assert main(["validate", str(messy)]) == 1
    assert len(builds) == 2
    assert len(entries(cache_dir)) == 1


def test_a_folder_that_cannot_be_written_warns_and_loads(builds, messy, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("REPKPI_CACHE_DIR", str(tmp_path / "a-file" / "cache"))
    with pytest.warns(UserWarning, match=r"cannot be written .*\nHint: set REPKPI_CACHE_DIR"):
        data = repkpi.load(messy, errors="quarantine")
    assert_same(repkpi.load(messy, errors="quarantine", cache=False), data)


def test_a_full_disk_warns_loads_and_leaves_nothing_half_written(builds, cache_dir, messy,
                                                                  monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    with pytest.warns(UserWarning, match="No space left on device"):
        data = repkpi.load(messy, errors="quarantine")
    assert list(data.accounts["account_id"]) == ["A1", "A3", "A4"]
    assert list((cache_dir / "loads").iterdir()) == []


def test_a_cache_folder_inside_the_data_folder_is_not_used(builds, messy, monkeypatch):
    monkeypatch.setenv("REPKPI_CACHE_DIR", str(messy / ".cache"))
    with pytest.warns(UserWarning, match="inside the data folder"):
        repkpi.load(messy, errors="quarantine")
    assert not (messy / ".cache").exists()


def test_a_single_file_and_a_missing_folder_load_as_without_the_cache(builds, messy):
    first = repkpi.load(messy / "accounts.csv", errors="quarantine")
    second = repkpi.load(messy / "accounts.csv", errors="quarantine")
    assert_same(first, second)
    assert len(builds) == 1
    with pytest.raises(repkpi.PathNotFoundError, match="nowhere: no such file or folder"):
        repkpi.load(messy / "nowhere")


@pytest.mark.parametrize("damage", ["state", "table", "key", "missing"])
def test_a_damaged_entry_is_built_again(builds, cache_dir, messy, damage):
    cold = repkpi.load(messy, errors="quarantine")
    [entry] = entries(cache_dir)
    if damage == "state":
        (entry / "state.pickle").write_bytes(b"not a pickle")
    elif damage == "table":
        table = entry / "accounts.parquet"
        table.write_bytes(table.read_bytes()[:100])
    elif damage == "key":
        (entry / "key.json").write_text("{}")
    else:
        (entry / "deals.parquet").unlink()
    assert_same(cold, repkpi.load(messy, errors="quarantine"))
    assert_same(cold, repkpi.load(messy, errors="quarantine"))
    assert len(builds) == 2  # built again once, then read from the mended entry


def test_entries_past_the_size_limit_go_least_recently_used_first(builds, cache_dir, messy,
                                                                  monkeypatch):
    days = ["2024-04-30", "2024-03-31", "2024-02-29"]
    repkpi.load(messy, errors="quarantine", as_of=days[0])
    [entry] = entries(cache_dir)
    size = sum(f.stat().st_size for f in entry.iterdir())
    # Room for two entries of about this size, not three.
    monkeypatch.setenv("REPKPI_CACHE_SIZE", str(int(size * 2.5)))
    repkpi.load(messy, errors="quarantine", as_of=days[1])
    repkpi.load(messy, errors="quarantine", as_of=days[0])  # used again: now the most recent
    assert len(builds) == 2
    repkpi.load(messy, errors="quarantine", as_of=days[2])  # the third: days[1]'s entry goes
    assert len(entries(cache_dir)) == 2
    repkpi.load(messy, errors="quarantine", as_of=days[0])
    assert len(builds) == 3
    repkpi.load(messy, errors="quarantine", as_of=days[1])
    assert len(builds) == 4


@pytest.mark.parametrize(("text", "size"), [
    ("", 2 * 1024**3), ("2GiB", 2 * 1024**3), ("500 MB", 500_000_000), ("1.5KiB", 1536),
    ("4096", 4096)])
def test_the_size_limit_reads_bytes_and_units(monkeypatch, text, size):
    monkeypatch.setenv("REPKPI_CACHE_SIZE", text)
    assert cache.size_limit() == size


def test_a_size_limit_that_is_no_size_is_refused(monkeypatch):
    monkeypatch.setenv("REPKPI_CACHE_SIZE", "lots")
    with pytest.raises(OptionError, match=r"REPKPI_CACHE_SIZE='lots' is no size.*\nHint"):
        cache.size_limit()


def test_a_load_that_fails_keeps_nothing_and_fails_the_same_warm(builds, cache_dir, messy):
    for _ in range(2):
        with pytest.raises(repkpi.DataValidationError, match="accounts"):
            repkpi.load(messy)
    assert entries(cache_dir) == []
    assert len(builds) == 2


@pytest.mark.dask
def test_the_dask_engine_keeps_nothing(cache_dir, tmp_path):
    pytest.importorskip("dask.dataframe")
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "accounts.csv").write_text("account_id,customer_since\nA1,2024-01-15\n")
    data = repkpi.load(folder, engine="dask")
    assert data.accounts.compute()["account_id"].tolist() == ["A1"]
    assert entries(cache_dir) == []
