"""Compare repkpi's results with the DuckDB SQL reference, row by row.

Both sides give one row per (kpi, period, group) with numerator,
denominator and value. Two results agree when they have the same rows and
every number matches within ``rtol`` relative (NaN matches NaN).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NUMBERS = ["numerator", "denominator", "value"]
_NA = "<NA>"


def _keyed(frame: pd.DataFrame, by: str | None) -> pd.DataFrame:
    keys = ["kpi", "period", *([by] if by else [])]
    out = frame[[*keys, *NUMBERS]].copy()
    out["period"] = out["period"].astype(str)
    if by:
        out[by] = out[by].astype(object).where(out[by].notna(), _NA).astype(str)
    return out.set_index(keys)[NUMBERS].astype(np.float64)


def mismatches(ours: pd.DataFrame, theirs: pd.DataFrame, *, by: str | None = None,
               rtol: float = 1e-9, atol: float = 1e-9) -> pd.DataFrame:
    """The rows on which the two long results disagree (empty when they agree).

    Examples
    --------
    >>> a = pd.DataFrame({"kpi": ["x"], "period": ["2024Q1"], "numerator": [1.0],
    ...                   "denominator": [3.0], "value": [1 / 3]})
    >>> b = a.assign(value=0.333333333333)
    >>> len(mismatches(a, b)), len(mismatches(a, b.assign(value=0.3334)))
    (0, 1)
    """
    left, right = _keyed(ours, by), _keyed(theirs, by)
    joined = left.join(right, how="outer", suffixes=("_repkpi", "_sql"))
    bad = np.zeros(len(joined), dtype=bool)
    for column in NUMBERS:
        a = joined[f"{column}_repkpi"].to_numpy()
        b = joined[f"{column}_sql"].to_numpy()
        same = (np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=rtol, atol=atol)
        bad |= ~same
    return joined[bad].reset_index()
