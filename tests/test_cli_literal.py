"""The CLI's messages quote values literally (data-model.md, the presets paragraph).

A value such as ``:x:`` or ``[bold]`` is printed as it is, never rendered by the
terminal library (rich) as an emoji or as markup: ``:x:`` would print as a cross
mark, ``[bold]x[/bold]`` as a bold ``x`` and ``[red]`` as nothing at all. The
values go through the error paths of ``repkpi validate`` and ``repkpi report``
(rejected rows, a bad goal) and through the table ``repkpi detail`` prints.

The deals, row by row (rows numbered from 1 after the header):

1. ``:x:``, stage ``:x:``: not one of open, won, lost;
2. ``[bold]x[/bold]``, won, account ``[red]``: no such account;
3. ``[bold]x[/bold]`` again: its id repeats (rows 2 and 3).
"""

from __future__ import annotations

from pathlib import Path

from repkpi.cli import main

ACCOUNTS = """\
account_id,customer_since
A1,2023-01-01
:x:,2023-01-01
"""
DEALS = """\
deal_id,account_id,rep_id,created_on,closed_on,stage,amount,deal_type,channel
:x:,A1,,2024-01-05,,:x:,100,,
[bold]x[/bold],[red],,2024-01-05,2024-02-01,won,200,,
[bold]x[/bold],A1,,2024-01-05,2024-02-01,won,300,,
"""
GOOD_DEALS = """\
deal_id,account_id,rep_id,created_on,closed_on,stage,amount,deal_type,channel
:x:,:x:,,2024-01-05,2024-02-01,won,100,,
[bold]x[/bold],A1,,2024-01-05,2024-02-01,won,200,,
[red],A1,,2024-01-05,2024-03-01,won,300,,
"""
# What rich would make of them: an emoji, or markup that is stripped from the text.
RENDERED = ("\u274c", "\u2716")


def run(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def literal(text: str) -> None:
    for mark in RENDERED:
        assert mark not in text


def test_validate_lists_rejected_values_as_they_are(folder, capsys):
    code, out, err = run(capsys, "validate", folder(accounts=ACCOUNTS, deals=DEALS))
    assert code == 1, err
    literal(out)
    assert "deals.stage: allowed: one of open, won, lost: 1 row(s)\n      rows 1; values ':x:'" \
        in out
    assert ("deals.deal_id: unique: the value appears more than once: 2 row(s)\n"
            "      rows 2, 3; values '[bold]x[/bold]', '[bold]x[/bold]'") in out
    assert ("deals.account_id: reference: account_id not in accounts: 1 row(s)\n"
            "      rows 2; values '[red]'") in out


def test_a_data_folder_named_with_markup_is_printed_as_named(tmp_path, write, capsys):
    data = tmp_path / "[red]exports :x:"
    data.mkdir()
    write(data, "accounts", ACCOUNTS)
    code, out, err = run(capsys, "validate", data)
    assert code == 0, err
    literal(out)
    assert f"({data / 'accounts.csv'}; delimiter ',')" in " ".join(out.split())


def test_report_strict_names_the_rejected_values_as_they_are(folder, tmp_path_factory, capsys):
    out_dir = tmp_path_factory.mktemp("report") / "out"
    code, out, err = run(capsys, "report", folder(accounts=ACCOUNTS, deals=DEALS),
                         "--out", out_dir)
    assert code == 1
    literal(err)
    assert "deals: row 1, column 'stage': allowed: one of open, won, lost (value: ':x:')" in err
    assert ("deals: row 2, column 'deal_id': unique: the value appears more than once "
            "(value: '[bold]x[/bold]')") in err
    assert ("deals: row 2, column 'account_id': reference: account_id not in accounts "
            "(value: '[red]')") in err


def test_report_names_a_bad_goal_as_written(folder, tmp_path_factory, capsys):
    beside = tmp_path_factory.mktemp("report")
    goals = beside / "goals.toml"
    goals.write_text('[[goal]]\nkpi = "revenue"\nfreq = "Q"\ntarget = 1\n'
                     'direction = "at_least"\nlabel = "[bold]Big[/bold] :x:"\n'
                     'where = { "[red]" = "north" }\n')
    data = folder(accounts=ACCOUNTS, deals=GOOD_DEALS)
    code, out, err = run(capsys, "report", data, "--out", beside / "out", "--goals", goals)
    assert code == 2
    literal(err)
    assert "repkpi report: Goal '[bold]Big[/bold] :x:': where names '[red]', a column" \
        in " ".join(err.split())


def test_detail_prints_ids_in_its_table_as_they_are(folder, capsys):
    # The three deals are won in 2024Q1: each is a row of revenue's detail.
    data: Path = folder(accounts=ACCOUNTS, deals=GOOD_DEALS)
    code, out, err = run(capsys, "detail", data, "--kpi", "revenue", "--period", "2024Q1")
    assert code == 0, err
    literal(out)
    assert "revenue in 2024Q1: 3 row(s)" in out
    cells = [[cell.strip() for cell in line.split("\u2502")] for line in out.splitlines()]
    assert [row[2] for row in cells if len(row) > 2] == [":x:", "[bold]x[/bold]", "[red]"]
