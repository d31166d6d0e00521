"""Rendering of the monthly reports: HTML (Jinja2), PDF (WeasyPrint) and CSV.

Input is the language-free view model of `monitord.reports.model`; text comes from the
message catalogs in `messages/<lang>.yaml` (es, en), numbers and dates are formatted
with Babel for the language's locale (es_CO by default).
"""

from __future__ import annotations

__all__: list[str] = []
