"""``repkpi validate DATA_DIR``: exit 0 when clean, 1 with a summary when not, 2 on usage errors."""

from __future__ import annotations

import re

import pytest

from repkpi.cli import main

ACCOUNTS = """
    account_id,customer_since
    A1,2024-01-15
    A2,2024-02-01
    """


def test_valid_folder_exits_0_with_a_clean_message(folder, capsys):
    path = folder(accounts=ACCOUNTS, deals="""
        deal_id,account_id,created_on,stage,amount,deal_type,channel
        D1,A1,2024-02-01,open,100,new_business,direct
        """)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"accounts\s+2 rows\s+ok", out)
    assert re.search(r"deals\s+1 rows\s+ok", out)
    assert "All rows are valid." in out
    assert "invalid" not in out


def test_invalid_folder_exits_1_with_a_summary_by_table_and_check(folder, capsys):
    path = folder(accounts=ACCOUNTS, deals="""
        deal_id,account_id,created_on,stage,amount,deal_type,channel
        D1,A1,2024-02-01,open,100,new_business,direct
        D2,A1,2024-02-01,closed,100,new_business,direct
        D3,A2,2024-02-01,open,100,new_business,direct
        D4,A9,2024-02-01,pending,100,new_business,direct
        """)
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    # D2 and D4 have an unknown stage; D4 also points to an account that does not exist.
    assert re.search(r"accounts\s+2 rows\s+ok", out)
    assert re.search(r"deals\s+4 rows\s+2 invalid row\(s\)", out)
    assert "2 invalid row(s):" in out
    assert "deals.stage: allowed: one of open, won, lost: 2 row(s)" in out
    assert "rows 2, 4; values 'closed', 'pending'" in out
    assert "deals.account_id: reference: account_id not in accounts: 1 row(s)" in out
    assert "rows 4; values 'A9'" in out
    assert "Hint:" in out
    assert "All rows are valid." not in out


def test_summary_shows_at_most_the_requested_examples(folder, capsys):
    path = folder(reps="""
        rep_id,hired_on
        U1,2023-02-30
        U2,2023-02-31
        U3,2023-01-02
        U4,someday
        """)
    assert main(["validate", str(path), "--shown", "2"]) == 1
    out = capsys.readouterr().out
    assert "reps.hired_on: type: a date YYYY-MM-DD: 3 row(s)" in out
    assert "rows 1, 2 and 1 more; values '2023-02-30', '2023-02-31'" in out


def test_missing_folder_exits_2(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err
    assert "no such file or folder" in err


def test_unreadable_file_exits_1_and_names_it(tmp_path, capsys):
    # Exit 1 (was 2): a problem with the data's files is invalid data, not a usage error.
    (tmp_path / "accounts.csv").write_bytes(b"")
    assert main(["validate", str(tmp_path)]) == 1
    assert "accounts.csv" in capsys.readouterr().err


def test_misnamed_file_exits_1_and_lists_the_tables(folder, write, tmp_path, capsys):
    write(tmp_path, "Accounts (1).csv", ACCOUNTS)
    assert main(["validate", str(folder(reps="rep_id,hired_on\n"))]) == 1
    err = capsys.readouterr().err
    assert "Accounts (1).csv" in err
    assert "accounts.csv" in err


def test_missing_required_column_exits_1(folder, capsys):
    path = folder(reps="""
        rep_id
        R1
        """)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "reps.csv" in err
    assert "hired_on" in err


def test_folder_without_table_files_exits_1(tmp_path, capsys):
    # An error (exit 1), not an empty report: the data model asks it of a folder with no table.
    (tmp_path / "README.md").write_text("nothing here\n", encoding="utf-8")
    assert main(["validate", str(tmp_path)]) == 1
    assert "no table files found" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    [], ["validate"], ["validate", "a", "b"], ["validate", ".", "--shown", "x"], ["no-such-command", "."],
])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


# -- the as-of date: the cut's counts, coverage, a date after today --------------------------------
DATED = dict(
    accounts="""
    account_id,customer_since,churned_on
    A1,2025-01-10,
    A2,2025-03-01,2026-01-01
    A3,2025-12-31,
    """,
    tickets="""
    ticket_id,account_id,opened_at,first_response_at,resolved_at,priority
    T1,A1,2025-04-01T10:00:00Z,2025-04-01T11:00:00Z,2025-04-02T10:00:00Z,high
    T2,A2,2025-11-30T10:00:00Z,,,normal
    """,
)


def test_validate_says_what_is_stale_and_the_churn_dates_after_as_of(folder, capsys):
    assert main(["validate", str(folder(**DATED))]) == 0
    out = capsys.readouterr().out
    assert "Note: tickets end on 2025-11-30, 31 days before the as-of date 2025-12-31." in out
    assert ("Note: 1 churn date after the as-of date is read as scheduled; if the export is "
            "newer, declare its date with `--as-of`.") in out


def test_validate_counts_the_rows_left_out_by_a_declared_as_of(folder, capsys):
    # As of 2025-11-29: T2 (opened 11-30) not opened yet; A3 not a customer yet, A2's churn
    # not happened; the accounts record nothing after 2025-03-01, the tickets 2025-04-02.
    assert main(["validate", str(folder(**DATED)), "--as-of", "2025-11-29"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"tickets\s+2 rows\s+ok\s+\(.*1 tickets opened after the as-of date\)", out)
    assert re.search(r"accounts\s+3 rows\s+ok\s+\(.*2 later dates read as not happened yet\)", out)
    assert "Note: accounts end on 2025-03-01" in out
    assert "no event recorded after" not in out  # events were recorded after it


def test_validate_warns_when_nothing_was_recorded_after_a_declared_as_of(folder, capsys):
    assert main(["validate", str(folder(**DATED)), "--as-of", "2026-01-20"]) == 0
    out = capsys.readouterr().out
    assert "Note: no event recorded after 2025-12-31 (the as-of date is 2026-01-20)." in out


def test_an_as_of_after_today_is_a_usage_error(folder, capsys):
    assert main(["validate", str(folder(**DATED)), "--as-of", "2999-01-01"]) == 2
    err = capsys.readouterr().err
    assert "The as-of date 2999-01-01 is after today" in err
