"""The Pipedrive preset: a hand-written deal export in the shape public exports show.

The fixture (tests/io/fixtures/pipedrive/, its README gives the working) has
the evidence's "Deal - ..." headers; its canonical twin was written by hand.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import repkpi
from repkpi import kpis
from repkpi.io.mapping import PRESETS, read_mapping

PIPEDRIVE = Path(__file__).parent / "fixtures" / "pipedrive"


def rows(result: pd.DataFrame) -> list[tuple[str, float, float]]:
    return [(str(r.period), r.numerator, r.value) for r in result.itertuples()]


@pytest.fixture(scope="module")
def data() -> repkpi.CrmData:
    return repkpi.load(PIPEDRIVE, source="pipedrive")


def test_the_preset_is_listed_and_reads_deals_only():
    assert "pipedrive" in PRESETS
    # No public source shows an organizations export's headers: no accounts table.
    assert sorted(read_mapping("pipedrive").tables) == ["deals"]


def test_the_export_loads_to_its_canonical_twin(data):
    twin = repkpi.load(PIPEDRIVE / "canonical")
    expected = twin.deals.reset_index(drop=True)
    got = data.deals[list(expected.columns)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)
    # Every row loaded (loaded + rejected = rows in the file), the export's other columns kept.
    assert data.summary()[["rows", "loaded", "rejected"]].to_numpy().tolist() == [[7, 7, 0]]
    assert {"Deal - Title", "Deal - Stage", "Deal - Lost reason"} <= set(data.deals.columns)
    assert data.absent == twin.absent == {"deals": ["deal_type", "channel"]}


def test_kpis_by_hand(data):
    # The fixture's README: 2026Q1 won 101, 102, lost 103; 2026Q2 won 104, 107, lost 105.
    assert data.as_of == pd.Timestamp("2026-05-06")
    assert [(p, n, d) for p, n, d in (
        (str(r.period), r.numerator, r.denominator)
        for r in kpis.win_rate(data).itertuples())] == [("2026Q1", 2, 3), ("2026Q2", 2, 3)]
    assert rows(kpis.revenue(data)) == [("2026Q1", 72000.0, 72000.0),
                                        ("2026Q2", 59500.5, 59500.5)]
    assert rows(kpis.large_deals(data)) == [("2026Q1", 1.0, 1.0), ("2026Q2", 1.0, 1.0)]
    assert rows(kpis.average_deal_size(data)) == [("2026Q1", 72000.0, 36000.0),
                                                  ("2026Q2", 59500.5, 29750.25)]
    # By owner ("Deal - Owner"): Ana Silva won 101 (12 000) in Q1 and 107 (4 500.50) in Q2.
    by_rep = kpis.revenue(data, by="rep_id")
    ana = by_rep[by_rep["rep_id"] == "Ana Silva"]
    assert ana["value"].tolist() == [12000.0, 4500.5]


def test_closed_on_comes_from_the_close_time_then_the_won_or_lost_time(data):
    deals = data.deals.set_index("deal_id")["closed_on"].dt.strftime("%Y-%m-%d")
    assert deals.to_dict() == {
        "101": "2026-02-10", "102": "2026-03-03", "103": "2026-03-20",
        "104": "2026-04-08",   # no "Deal closed on": its won time
        "105": "2026-04-15",   # its lost time
        "106": "2026-06-30",   # open: its expected close date, which no KPI reads
        "107": "2026-05-06"}


def test_an_older_export_without_deal_closed_on_reads_the_won_and_lost_times(tmp_path):
    frame = pd.read_csv(PIPEDRIVE / "deals.csv", dtype=str, keep_default_na=False)
    frame.drop(columns="Deal - Deal closed on").to_csv(tmp_path / "deals.csv", index=False)
    older = repkpi.load(tmp_path, source="pipedrive")
    twin = repkpi.load(PIPEDRIVE / "canonical")
    assert older.deals["closed_on"].tolist() == twin.deals["closed_on"].tolist()


def test_a_won_deal_with_no_close_time_is_reported_not_given_its_expected_date(tmp_path):
    # Deal 104 without its won time: no closed_on for a won deal is a bad row, never its
    # expected close date.
    frame = pd.read_csv(PIPEDRIVE / "deals.csv", dtype=str, keep_default_na=False)
    frame.loc[frame["Deal - ID"] == "104", "Deal - Won time"] = ""
    frame.to_csv(tmp_path / "deals.csv", index=False)
    data = repkpi.load(tmp_path, source="pipedrive", errors="quarantine")
    assert data.rejects[["row", "column"]].to_numpy().tolist() == [[4, "closed_on"]]
    assert len(data.deals) + 1 == data.rows_read["deals"] == 7


def test_the_kpis_the_export_cannot_give_say_so(data):
    with pytest.raises(repkpi.AbsentColumnError, match=(
            r"^cross_sell_rate needs deals\.deal_type; Pipedrive's deal export has no deal type")):
        kpis.cross_sell_rate(data)
    with pytest.raises(repkpi.AbsentColumnError,
                       match=r"^revenue by 'channel' needs deals\.channel; Pipedrive's deal export"):
        kpis.revenue(data, by="channel")


def test_several_currencies_need_exchange_rates(tmp_path):
    frame = pd.read_csv(PIPEDRIVE / "deals.csv", dtype=str, keep_default_na=False)
    frame.loc[frame["Deal - ID"] == "102", "Deal - Currency"] = "USD"
    frame.to_csv(tmp_path / "deals.csv", index=False)
    with pytest.raises(repkpi.DataFileError, match=r"several currencies \(EUR, USD\)"):
        repkpi.load(tmp_path, source="pipedrive")
    # With rates (a mapping file on the preset): 60 000 USD at 0.9 = 54 000 in 2026Q1's
    # revenue, 12 000 + 54 000 = 66 000.
    mapping = tmp_path.parent / "pipedrive-fx.toml"
    mapping.write_text('base = "pipedrive"\n[fx]\nEUR = 1\nUSD = 0.9\n', encoding="utf-8")
    data = repkpi.load(tmp_path, source=mapping)
    assert kpis.revenue(data)["value"].tolist() == [66000.0, 59500.5]
