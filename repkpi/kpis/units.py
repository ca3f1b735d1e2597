"""How a KPI's value reads: one formatter per unit, for charts, tables and sentences alike."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["format_change", "format_value"]


def format_value(value: float, unit: str, *, compact: bool = True) -> str:
    """Write a KPI value the way its unit reads, never in scientific notation.

    A percent has one decimal, more below 1% (two significant digits), so
    that a small value never reads as 0.0%; share points (a difference of
    two shares) read as signed points with the same decimals; money has thousands separators
    (``compact``: three significant digits and k, M or B, as a chart's
    labels are short); a count or a rank is a whole number; hours have one
    decimal; a score two.

    Examples
    --------
    >>> format_value(0.9123, "percent"), format_value(1_234_567, "money"), format_value(3, "count")
    ('91.2%', '$1.23M', '3')
    >>> format_value(0.125, "percent"), format_value(0.0042, "percent"), format_value(0, "percent")
    ('12.5%', '0.42%', '0.0%')
    >>> format_value(28_123_456.7, "money", compact=False), format_value(147.0, "count")
    ('$28,123,457', '147')
    >>> format_value(12.345, "hours"), format_value(1e21, "count"), format_value(float("nan"), "count")
    ('12.3 h', '1,000,000,000,000,000,000,000', 'n/a')
    >>> format_value(-2_500, "money"), format_value(1.5e12, "money")
    ('-$2.5k', '$1,500B')
    >>> format_value(0.019, "points"), format_value(-0.0042, "points"), format_value(0, "points")
    ('+1.9 pts', '-0.42 pts', '0.0 pts')
    """
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    if unit in ("percent", "points"):
        pct = abs(value) * 100
        decimals = 1 if pct >= 1 or pct == 0 else min(4, 1 - math.floor(math.log10(pct)))
        if unit == "percent":
            return f"{value * 100:.{decimals}f}%"
        return f"{value * 100:{'+' if value else ''}.{decimals}f} pts"
    if unit == "money":
        sign, amount = ("-" if value < 0 else ""), abs(value)
        for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")) if compact else ():
            if amount >= size:  # 3 significant digits, and never 1e+03B
                scaled = amount / size
                return f"{sign}${scaled:,.0f}{suffix}" if scaled >= 100 else \
                    f"{sign}${scaled:.3g}{suffix}"
        return f"{sign}${amount:,.0f}"
    if unit == "hours":
        return f"{value:.1f} h"
    if unit in ("count", "rank"):
        return f"{value:,.0f}"
    return f"{value:.2f}"


def format_change(value: float, unit: str, *, decimals: int = 1, points: str = "pt",
                  compact: bool = True) -> str:
    """Write a change of a KPI value, signed: in points for a percent (or share points).

    A change that rounds to nothing reads ``±0.0 pt`` (never ``-0.0 pt``); other
    units take :func:`format_value` of the change's size after its sign.

    Examples
    --------
    >>> format_change(0.046, "percent"), format_change(-0.0004, "percent"), format_change(0, "count")
    ('+4.6 pt', '±0.0 pt', '±0')
    >>> format_change(-4, "count"), format_change(0.0123, "points", decimals=2, points="points")
    ('-4', '+1.23 points')
    """
    if unit in ("percent", "points"):
        shown = round(value * 100, decimals)
        if shown == 0:
            return f"±{0:.{decimals}f} {points}"
        return f"{shown:+.{decimals}f} {points}"
    sign = "+" if value > 0 else "-" if value < 0 else "±"
    return sign + format_value(abs(value), unit, compact=compact)
