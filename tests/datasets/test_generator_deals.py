"""The generated deals: an open deal carries its expected close date, as data-model.md allows."""

from __future__ import annotations

import pandas as pd

from repkpi.datasets.generator import generate_sample


def test_open_deals_have_an_expected_close_date_and_only_open_deals_lie_ahead():
    end = pd.Timestamp("2025-06-30")
    deals = generate_sample(seed=3, accounts=600, end="2025-06-30")["deals"]
    is_open = deals["stage"] == "open"
    closed = pd.to_datetime(deals["closed_on"])
    created = pd.to_datetime(deals["created_on"])
    assert is_open.sum() > 0
    # Every deal has a closed_on on or after its creation: an outcome's date, or the expected close.
    assert closed.notna().all()
    assert (closed >= created).all()
    # Only an expected close date may lie after the history's end; a won or lost deal's has happened.
    assert (closed[~is_open] <= end).all()
    assert (closed[is_open] > end).all()
    assert (created <= end).all()
