"""Names the doctests of ``repkpi`` use without importing them: the doctest data sets."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace: dict) -> None:
    from repkpi import CrmData
    from repkpi.datasets import doctest_data

    doctest_namespace.update(examples=doctest_data, CrmData=CrmData, pd=pd)
