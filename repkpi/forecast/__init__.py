"""Forecasts: what the data says about the time after its as-of date (forecast.md)."""

from __future__ import annotations

from repkpi.forecast.survival import survival

__all__ = [
    "survival",
]
