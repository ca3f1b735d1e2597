"""Exports of any CRM through a mapping file: renames, values, formats, currencies."""

from __future__ import annotations

import pandas as pd
import pytest

import repkpi
from repkpi.cli import main

MAPPING = """
[options]
date_format = "%d/%m/%Y"
decimal = ","
thousands = "."
[fx]
EUR = 1.1
USD = 1
[tables.accounts]
file = "orgs.csv"
[tables.accounts.columns]
account_id = "Org ID"
account_name = "Name"
customer_since = "Won on"
[tables.deals]
file = "Deals.CSV"
currency = "Currency"
[tables.deals.columns]
deal_id = "Deal"
account_id = "Org"
created_on = "Added"
closed_on = "Closed"
stage = "Status"
amount = "Value"
[tables.deals.values.stage]
"Won" = "won"
"Lost" = "lost"
"in progress" = "open"   # any case: In progress
[tables.deals.constants]
deal_type = "new_business"
channel = "direct"
[tables.deals.split]
account_id = ";"
"""


@pytest.fixture
def export(tmp_path):
    (tmp_path / "mapping.toml").write_text(MAPPING)
    # A BOM, Windows line ends and a name over two lines; O2's date has month 13.
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "orgs.csv").write_bytes(
        b'\xef\xbb\xbfOrg ID,Name,Won on,Note\r\nO1,"Acme\r\nGmbH",03/04/2024,x\r\n'
        b"O2,Beta,13/13/2024,y\r\n")
    (tmp_path / "exports" / "Deals.CSV").write_text(
        "Deal,Org,Added,Closed,Status,Value,Currency\n"
        'D1,O1;O2,01/02/2024,05/02/2024,Won,"1.234,50",EUR\n'
        'D2,O1,01/02/2024,,In progress,"$ 99",USD\n'
        'D3,O1,01/02/2024,06/02/2024,Lost,"12,5x",USD\n')
    return tmp_path


def test_a_custom_crm_loads_through_its_mapping(export):
    data = repkpi.load(export / "exports", source=export / "mapping.toml", errors="quarantine")
    # 03/04/2024 is 3 April (day first, as the mapping says); O2's 13/13/2024 is no date.
    assert data.accounts["account_id"].tolist() == ["O1"]
    assert data.accounts["customer_since"].tolist() == [pd.Timestamp("2024-04-03")]
    assert data.accounts["account_name"].tolist() == ["Acme\r\nGmbH"]
    assert data.accounts["Note"].tolist() == ["x"]  # extra columns kept
    # D1: 1 234,50 EUR x 1.1 = 1 357.95; "O1;O2" keeps O1; "In progress" is open.
    deals = data.deals.set_index("deal_id")
    assert deals.loc["D1", "amount"] == pytest.approx(1357.95)
    assert deals.loc["D1", "account_id"] == "O1"
    assert deals.loc["D1", "closed_on"] == pd.Timestamp("2024-02-05")
    assert deals.loc["D2", "stage"] == "open"
    assert deals.loc["D2", "amount"] == 99.0
    rejects = set(data.rejects[["table", "row", "column", "value"]].itertuples(index=False))
    assert rejects == {("accounts", 2, "customer_since", "13/13/2024"),
                       ("deals", 3, "amount", "12,5x")}


def test_strict_mode_names_the_export_rows(export):
    with pytest.raises(repkpi.DataValidationError, match="row 2, column 'customer_since'"):
        repkpi.load(export / "exports", source=export / "mapping.toml")


@pytest.mark.parametrize(("fx", "message"), [
    ("", "several currencies \\(EUR, USD\\) and no exchange rates"),
    ("[fx]\nEUR = 1.1\n", "no exchange rate for USD"),
])
def test_currencies_need_rates(export, fx, message):
    text = MAPPING.replace("[fx]\nEUR = 1.1\nUSD = 1\n", fx)
    (export / "mapping.toml").write_text(text)
    with pytest.raises(repkpi.DataFileError, match=message):
        repkpi.load(export / "exports", source=export / "mapping.toml")


def test_an_export_without_a_required_column_is_an_error(export):
    deals = export / "exports" / "Deals.CSV"
    deals.write_text(deals.read_text().replace("Status", "State"))
    with pytest.raises(repkpi.DataFileError, match="from the column 'Status'"):
        repkpi.load(export / "exports", source=export / "mapping.toml")


def test_a_file_the_mapping_does_not_know_is_an_error(export):
    (export / "exports" / "leads.csv").write_text("a\n1\n")
    with pytest.raises(repkpi.DataFileError, match="does not know this file"):
        repkpi.load(export / "exports", source=export / "mapping.toml")


@pytest.mark.parametrize(("text", "message"), [
    ("[tables.deals]\nfile = 'x.csv'\n[tables.deals.columns]\nwinner = 'W'\n", "not columns"),
    ("[tables.leads]\nfile = 'x.csv'\n", "'leads' is not a table"),
    ("[option]\n", "unknown section"),
    ("[fx]\nEUR = -1\n", "positive number"),
    ("not toml [", "not valid TOML"),
])
def test_bad_mapping_files(tmp_path, text, message):
    (tmp_path / "m.toml").write_text(text)
    with pytest.raises(repkpi.DataFileError, match=message):
        repkpi.load(tmp_path, source=tmp_path / "m.toml")


def test_validate_takes_a_source(export, capsys):
    code = main(["validate", str(export / "exports"), "--source", str(export / "mapping.toml")])
    assert code == 1
    assert "13/13/2024" in capsys.readouterr().out


def test_a_declared_encoding_reads_an_excel_windows_export(tmp_path):
    # "Müller & Söhne" and "Café Zürich" in cp1252: bytes 0xFC, 0xF6, 0xE9 are no UTF-8.
    (tmp_path / "accounts.csv").write_bytes(
        "account_id,account_name,customer_since\nA1,Müller & Söhne,2024-01-02\n"
        "A2,Café Zürich,2024-02-03\n".encode("cp1252"))
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[options]\nencoding = "cp1252"\n[tables.accounts]\nfile = "accounts.csv"\n'
                       '[tables.accounts.columns]\naccount_id = "account_id"\n'
                       'account_name = "account_name"\ncustomer_since = "customer_since"\n')
    data = repkpi.load(tmp_path, source=mapping)
    assert list(data.accounts["account_name"]) == ["Müller & Söhne", "Café Zürich"]
    # Without the declaration the file is refused by name, with the fix.
    mapping.write_text(mapping.read_text().replace('encoding = "cp1252"\n', ""))
    with pytest.raises(repkpi.DataFileError, match=r"accounts\.csv.*(?s:.*)encoding"):
        repkpi.load(tmp_path, source=mapping)


def test_an_unknown_encoding_is_a_bad_mapping_file(tmp_path):
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[options]\nencoding = "klingon"\n[tables.accounts]\nfile = "a.csv"\n')
    (tmp_path / "a.csv").write_text("account_id\nA1\n")
    with pytest.raises(repkpi.DataFileError, match="klingon"):
        repkpi.load(tmp_path, source=mapping)
