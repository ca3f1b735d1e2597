"""The id lookups a CrmData caches follow edits of its tables."""

from __future__ import annotations

import pandas as pd

import repkpi


def _data():
    accounts = pd.DataFrame({"account_id": ["A1", "A2"], "region": ["north", "south"],
                             "customer_since": ["2024-01-01", "2024-01-01"]})
    deals = pd.DataFrame({"deal_id": ["D1", "D2"], "account_id": ["A1", "A1"],
                          "created_on": "2024-01-02", "closed_on": "2024-02-01", "stage": "won",
                          "amount": [100.0, 50.0], "deal_type": "new_business",
                          "channel": "direct"})
    return repkpi.CrmData(accounts=accounts, deals=deals)


def test_revenue_by_region_follows_an_account_id_edited_in_place():
    data = _data()
    before = repkpi.kpis.revenue(data, by="region").set_index("region")["value"]
    assert before.to_dict() == {"north": 150.0}  # both deals on A1, in the north
    data.deals.loc[1, "account_id"] = "A2"  # D2 moves to the south account
    after = repkpi.kpis.revenue(data, by="region").set_index("region")["value"]
    assert after.to_dict() == {"north": 100.0, "south": 50.0}


def test_revenue_by_region_follows_a_region_edited_in_place():
    data = _data()
    repkpi.kpis.revenue(data, by="region")
    data.accounts.loc[0, "region"] = "east"
    after = repkpi.kpis.revenue(data, by="region").set_index("region")["value"]
    assert after.to_dict() == {"east": 150.0}
