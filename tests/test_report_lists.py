"""The report's attention tables: one number format per column, money in whole units."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pandas as pd

from repkpi.report import _attention_section


def test_each_column_reads_with_one_format():
    """Amounts $106,548.60, $46,088 and $32,170.00 read 106,549, 46,088 and 32,170 (money is
    whole); hours overdue 402.4 and 376.0 both with one decimal (not "402.4" beside "376")."""
    deals = pd.DataFrame({"deal_id": ["D1", "D2", "D3"],
                          "amount": pd.array([106_548.6, 46_088.0, 32_170.0], dtype="Float64")})
    tickets = pd.DataFrame({"ticket_id": ["T1", "T2"], "hours_overdue": [402.4, 376.0],
                            "priority": ["high", "urgent"]})
    seen = SimpleNamespace(options={}, attention={
        "open_deals": SimpleNamespace(title="Largest open deals", reason=None, total=3, rows=deals),
        "breaches": SimpleNamespace(title="Breaches", reason=None, total=2, rows=tickets)})
    cells = re.findall(r'<td class="num">([^<]*)</td>', _attention_section(seen))
    assert cells == ["106,549", "46,088", "32,170", "402.4", "376.0"]
