"""Fixtures of the report tests (tests/monitord/reports, tests/exporters/reports).

`month`: the month of history shared by the report tests (built once per session);
`ctx`: a ReportContext over it for October 2026, generated on 1 November at 06:00.
Each of those folders' conftest.py imports both.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitord.history.db import History
from monitord.reports.common import ReportContext
from monitord.reports.period import Period
from monitord.reports.store import HistorySource
from tests.contract.declared import declared_traits
from tests.monitord.reports.month import TZ, Month, shared_month

__all__ = ["ctx", "month"]


@pytest.fixture(scope="session")
def month(tmp_path_factory: pytest.TempPathFactory) -> Month:
    return shared_month(tmp_path_factory.getbasetemp())


@pytest.fixture
def ctx(month: Month) -> Iterator[ReportContext]:
    h = History(month.db)
    try:
        yield ReportContext(
            HistorySource(h),
            Period(2026, 10, TZ),
            month.config,
            generated=Period(2026, 11, TZ).start + 6 * 3600,
            collectors=declared_traits(),
        )
    finally:
        h.close()
