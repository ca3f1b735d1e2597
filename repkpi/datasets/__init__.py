"""Data that ships with repkpi: the sample exports, their generator, and the doctests' tiny sets."""

from __future__ import annotations

from repkpi.datasets.shipped import load_sample, sample_path

__all__ = ["load_sample", "sample_path"]
