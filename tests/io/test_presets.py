"""Each preset's hand-written export loads to the same canonical data as its canonical twin.

The twins (tests/io/fixtures/<crm>/canonical/) were written by hand from the
export rows, in the canonical format that ``repkpi.load`` reads directly.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import repkpi
from repkpi.io.mapping import read_mapping

FIXTURES = Path(__file__).parent / "fixtures"
CASES = [("salesforce", "salesforce"), ("hubspot", "hubspot"), ("zendesk", "zendesk"),
         # Freshdesk read as a 24/7 helpdesk: its first-reply hours as calendar time.
         ("freshdesk", str(FIXTURES / "freshdesk_24x7.toml")),
         ("custom", str(FIXTURES / "custom" / "mapping.toml")),
         # Salesforce Data Export (API names, ISO timestamps, IsWon / IsClosed, currencies);
         # HubSpot labels with two pipelines and "Is Closed Won"; HubSpot internal values
         # with a second pipeline's stage ids; a Zendesk export split into part files.
         *[(folder, str(FIXTURES / folder / "mapping.toml"))
           for folder in ("salesforce_api", "hubspot_labels", "hubspot_pipelines",
                          "zendesk_split")]]


@pytest.mark.parametrize(("folder", "source"), CASES)
def test_export_loads_to_its_canonical_twin(folder, source):
    mapped = repkpi.load(FIXTURES / folder, source=source)
    twin = repkpi.load(FIXTURES / folder / "canonical")
    assert sorted(mapped.tables) == sorted(twin.tables)
    for name, expected in twin.tables.items():
        got = mapped.tables[name]
        columns = list(expected.columns)
        left = got[columns].reset_index(drop=True)
        right = expected.reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-9,
                                      obj=f"{folder}/{name}")


@pytest.mark.parametrize(("folder", "source"), CASES)
def test_rows_keep_the_export_row_numbers(folder, source):
    data = repkpi.load(FIXTURES / folder, source=source)
    for name, frame in data.tables.items():
        assert frame.index.min() >= 0, name
        assert len(frame) <= data.rows_read[name]


def test_every_preset_reads():
    for preset in ("salesforce", "hubspot", "zendesk", "freshdesk"):
        assert read_mapping(preset).tables


def test_an_unmapped_value_is_reported_not_dropped(tmp_path):
    for file in (FIXTURES / "hubspot").glob("*.csv"):
        (tmp_path / file.name).write_bytes(file.read_bytes())
    deals = tmp_path / "deals.csv"
    text = deals.read_text(encoding="utf-8-sig")
    # The second deal (20200000002, Alex Kim's new business): make its type one the
    # HubSpot preset does not know.
    assert text.count("Alex Kim,newbusiness,") == 1
    deals.write_text(text.replace("Alex Kim,newbusiness,", "Alex Kim,barter,"), encoding="utf-8")
    data = repkpi.load(tmp_path, source="hubspot", errors="quarantine")
    bad = data.rejects[data.rejects["table"] == "deals"]
    # The reported value names the export's value and the mapping line that would translate it.
    assert bad[["row", "column"]].to_numpy().tolist() == [[2, "deal_type"]]
    assert bad["value"].iloc[0] == (
        'barter is not in the hubspot mapping: add the line "barter" = "new_business" or '
        '"cross_sell" or "upsell" or "renewal" under [tables.deals.values.deal_type]')
    assert "20200000002" not in set(data.deals["deal_id"])
    assert data.rows_read["deals"] == len(data.deals) + 1
    with pytest.raises(repkpi.DataValidationError, match="deals: row 2, column 'deal_type'"):
        repkpi.load(tmp_path, source="hubspot")
