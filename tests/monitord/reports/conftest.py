"""The month of history shared by the report tests (built once per session)."""

from tests.reports_fixtures import ctx, month

__all__ = ["ctx", "month"]
