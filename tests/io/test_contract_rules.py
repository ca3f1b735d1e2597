"""A contract's ``renewal_of`` must name an earlier term of the same account (data-model.md).

The contracts table of data-model.md: ``renewal_of`` is the ``contract_id`` of an
earlier term of the same account (its ``start_date`` before this one's); a
contract that renews itself, or renewals that loop, are bad rows. So is one that
names another account's contract or a term that does not start before it. A
``renewal_of`` that names no contract of the file is not among the spec's bad
rows (the earlier term may predate the export): it loads, as it always has.

The fixture, row by row (rows numbered from 1 after the header):

====  ====  =======  ==========  ==========  ==========================================
row   id    account  start       renewal_of  verdict
====  ====  =======  ==========  ==========  ==========================================
1     C1    A1       2024-01-01              kept; due 2024Q4, renewed by C2
2     C2    A1       2025-01-01  C1          kept
3     C3    A2       2024-01-01  C3          itself
4     C4    A3       2024-01-01  C5          later (C5 starts 2025), loop C4 -> C5 -> C4
5     C5    A3       2025-01-01  C4          loop
6     C6    A4       2024-01-01              kept; due 2024Q4, renewed by nobody kept
7     C7    A5       2025-01-01  C6          account (C6 is A4's)
8     C8    A4       2024-03-01  C9          later (C9 starts 2025)
9     C9    A4       2025-01-01              kept
10    D1    A6       2022-01-01  D3          later (D3 starts 2024), loop D1 -> D3 -> D2 -> D1
11    D2    A6       2023-01-01  D1          loop
12    D3    A6       2024-01-01  D2          loop
13    C10   A1       2025-06-01  C0          kept: C0 is no contract of the file
14    E1    A7       2024-01-01              kept; due 2024Q4, renewed by nobody kept
15    E2    A7       2024-01-01  E1          later (same start day: not before)
====  ====  =======  ==========  ==========  ==========================================

Renewal rate in 2024Q4 (kpis.md: due = contracts with ``end_date`` in P; renewed =
those some contract names in ``renewal_of``). Kept: C1, C2, C6, C9, C10, E1; due in
2024Q4: C1, C6, E1; renewed: C1 (by C2): 1 / 3. Had every row loaded, due would be
C1, C3, C4, C6, C8, E1, E2 and renewed C1 (C2), C3 (C3), C4 (C5), C6 (C7), E1 (E2):
5 / 7. (The data's as-of date is declared, 2026-06-30: contracts record no date of
their own, and the accounts' latest is 2023-01-01.) In 2024Q2 only D3 ends
(2024-06-30), and it is set aside: 0 due.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import repkpi
from repkpi.io.validation import RENEWAL_CHECKS, renewal_mistakes

ITSELF = "reference: renewal_of names the contract itself"
ACCOUNT = "reference: renewal_of names a contract of another account"
LATER = "reference: renewal_of names a term that does not start before this one"
LOOP = "reference: renewal_of is part of a loop of renewals"

ACCOUNTS = "account_id,customer_since\n" + "".join(f"A{i},2023-01-01\n" for i in range(1, 8))
CONTRACTS = """\
contract_id,account_id,start_date,end_date,annual_value,renewal_of
C1,A1,2024-01-01,2024-12-31,1000,
C2,A1,2025-01-01,2025-12-31,1100,C1
C3,A2,2024-01-01,2024-12-31,2000,C3
C4,A3,2024-01-01,2024-12-31,3000,C5
C5,A3,2025-01-01,2025-12-31,3000,C4
C6,A4,2024-01-01,2024-12-31,4000,
C7,A5,2025-01-01,2025-12-31,4000,C6
C8,A4,2024-03-01,2024-12-31,500,C9
C9,A4,2025-01-01,2025-12-31,500,
D1,A6,2022-01-01,2022-12-31,600,D3
D2,A6,2023-01-01,2023-12-31,600,D1
D3,A6,2024-01-01,2024-06-30,600,D2
C10,A1,2025-06-01,2026-05-31,800,C0
E1,A7,2024-01-01,2024-12-31,700,
E2,A7,2024-01-01,2024-12-31,700,E1
"""
EXPECTED = [
    ("contracts", 3, "renewal_of", ITSELF, "C3"),
    ("contracts", 4, "renewal_of", LATER, "C5"),
    ("contracts", 4, "renewal_of", LOOP, "C5"),
    ("contracts", 5, "renewal_of", LOOP, "C4"),
    ("contracts", 7, "renewal_of", ACCOUNT, "C6"),
    ("contracts", 8, "renewal_of", LATER, "C9"),
    ("contracts", 10, "renewal_of", LATER, "D3"),
    ("contracts", 10, "renewal_of", LOOP, "D3"),
    ("contracts", 11, "renewal_of", LOOP, "D1"),
    ("contracts", 12, "renewal_of", LOOP, "D2"),
    ("contracts", 15, "renewal_of", LATER, "E1"),
]
KEPT = ["C1", "C2", "C6", "C9", "C10", "E1"]


def test_the_checks_are_named_as_the_tests_name_them():
    assert sorted(RENEWAL_CHECKS.values()) == sorted([ITSELF, ACCOUNT, LATER, LOOP])


@pytest.fixture
def renewals(folder) -> Path:
    return folder(accounts=ACCOUNTS, contracts=CONTRACTS)


def test_strict_mode_names_each_bad_renewal(renewals, failures_of, engine):
    with pytest.raises(repkpi.DataValidationError) as caught:
        repkpi.load(renewals, engine=engine)
    report = caught.value.report
    assert failures_of(report.drop(columns="file", errors="ignore")) == sorted(EXPECTED)
    assert f"column 'renewal_of': {ITSELF} (value: 'C3')" in str(caught.value)


def test_quarantine_sets_them_aside_and_the_renewal_rate_is_unmoved(renewals, failures_of,
                                                                      engine):
    # Contracts record no date of their own: the as-of date is declared, after every term.
    data = repkpi.load(renewals, errors="quarantine", engine=engine, as_of="2026-06-30")
    assert failures_of(data.rejects.drop(columns="file", errors="ignore")) == sorted(EXPECTED)
    contracts = data.contracts if engine == "pandas" else data.contracts.compute()
    assert contracts["contract_id"].tolist() == KEPT
    summary = data.summary().set_index("table").loc["contracts"]
    assert (summary["rows"], summary["loaded"], summary["rejected"]) == (15, 6, 9)
    rate = repkpi.kpis.renewal_rate(data, start="2024Q2", end="2024Q4").set_index("period")
    q2, q4 = pd.Period("2024Q2", "Q"), pd.Period("2024Q4", "Q")
    assert (rate.loc[q4, "numerator"], rate.loc[q4, "denominator"]) == (1, 3)
    assert rate.loc[q4, "value"] == pytest.approx(1 / 3)
    assert rate.loc[q2, "denominator"] == 0
    assert np.isnan(rate.loc[q2, "value"])


def test_a_loop_across_part_files_is_found_on_either_engine(tmp_path):
    # C4 (part 1, row 2) and C5 (part 2, row 1) renew each other: a loop across the files.
    lines = CONTRACTS.splitlines(keepends=True)
    header, rows = lines[0], lines[1:6]
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "part-0001.csv").write_text(header + "".join(rows[2:4]))
    (tmp_path / "contracts" / "part-0002.csv").write_text(header + "".join(rows[4:5] + rows[:2]))
    (tmp_path / "accounts.csv").write_text(ACCOUNTS)
    reports = []
    for engine in ("pandas", "dask"):
        if engine == "dask":
            pytest.importorskip("dask.dataframe")
        with pytest.raises(repkpi.DataValidationError) as caught:
            repkpi.load(tmp_path, engine=engine)
        reports.append(caught.value.report)
    for report in reports:
        assert [(Path(r.file).name, r.row, r.check, r.value) for r in report.itertuples()] == [
            ("part-0001.csv", 1, ITSELF, "C3"), ("part-0001.csv", 2, LATER, "C5"),
            ("part-0001.csv", 2, LOOP, "C5"), ("part-0002.csv", 1, LOOP, "C4")]


def _frame(rows: list[tuple[str, str, str | None, str | None]]) -> pd.DataFrame:
    ids, accounts, starts, named = zip(*rows, strict=True)
    return pd.DataFrame({"contract_id": pd.Series(ids, dtype="str"),
                         "account_id": pd.Series(accounts, dtype="str"),
                         "start_date": pd.to_datetime(pd.Series(starts)),
                         "renewal_of": pd.Series(named, dtype="str")})


@pytest.mark.parametrize(("rows", "expected"), [
    pytest.param([("X", "A", "2024-01-01", "X")], {"itself": [0]}, id="renews-itself"),
    pytest.param([("X", "A", "2024-01-01", "Y"), ("Y", "A", "2025-01-01", "X")],
                 {"later": [0], "loop": [0, 1]}, id="two-loop"),
    pytest.param([("X", "A", "2022-01-01", "Z"), ("Y", "A", "2023-01-01", "X"),
                  ("Z", "A", "2024-01-01", "Y")], {"later": [0], "loop": [0, 1, 2]},
                 id="three-loop"),
    pytest.param([("X", "A", "2024-01-01", None), ("Y", "B", "2025-01-01", "X")],
                 {"account": [1]}, id="other-account"),
    pytest.param([("X", "A", "2025-01-01", None), ("Y", "A", "2024-01-01", "X")],
                 {"later": [1]}, id="later-term"),
    pytest.param([("X", "A", "2024-01-01", None), ("Y", "A", "2024-01-01", "X")],
                 {"later": [1]}, id="same-start-day"),
    pytest.param([("X", "A", "2022-01-01", None), ("Y", "A", "2023-01-01", "X"),
                  ("Z", "A", "2024-01-01", "Y")], {}, id="a-valid-chain"),
    pytest.param([("Y", "A", "2024-01-01", "X")], {}, id="names-no-contract-of-the-file"),
    pytest.param([("X", "A", None, None), ("Y", None, "2024-01-01", "X")], {},
                 id="missing-values-not-compared"),
    pytest.param([("W", "A", "2024-01-01", "X"), ("X", "A", "2023-01-01", "Y"),
                  ("Y", "A", "2024-06-01", "X")], {"later": [1], "loop": [1, 2]},
                 id="a-chain-into-a-loop"),
    pytest.param([("X", "A", "2024-01-01", None), ("X", "A", "2023-01-01", None),
                  ("Y", "A", "2024-06-01", "X")], {}, id="a-repeated-id-at-its-first-row"),
    pytest.param([(None, "A", "2024-01-01", "X")], {}, id="no-id-in-the-table"),
])
def test_each_rule(rows, expected):
    found = renewal_mistakes(_frame(rows))
    assert set(found) == set(RENEWAL_CHECKS)
    assert {kind: np.flatnonzero(mask).tolist() for kind, mask in found.items() if mask.any()} \
        == expected


@pytest.mark.parametrize("n", [1_000, 1_025])
def test_long_chains_and_loops(n):
    # A chain of n terms, each a year after the one it renews, is valid; linking its first term
    # to its last closes a loop of all n (and the first term then names a later one).
    ids = [f"K{i:05d}" for i in range(n)]
    starts = pd.date_range("1000-01-01", periods=n, freq="365D", unit="s").astype("datetime64[us]")
    chain = pd.DataFrame({"contract_id": pd.Series(ids, dtype="str"),
                          "account_id": pd.Series(["A"] * n, dtype="str"),
                          "start_date": starts,
                          "renewal_of": pd.Series([None, *ids[:-1]], dtype="str")})
    assert not any(mask.any() for mask in renewal_mistakes(chain).values())
    looped = renewal_mistakes(chain.assign(renewal_of=pd.Series([ids[-1], *ids[:-1]], dtype="str")))
    assert looped["loop"].all()
    assert np.flatnonzero(looped["later"]).tolist() == [0]
    # With a tail of n valid renewals leading into a loop of two, only the two loop.
    tail = chain.assign(renewal_of=pd.Series([ids[1], ids[0], *ids[1:-1]], dtype="str"))
    assert np.flatnonzero(renewal_mistakes(tail)["loop"]).tolist() == [0, 1]
