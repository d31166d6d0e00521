"""PDF from the report's HTML with WeasyPrint (A4 or Letter, from `reports.paper`).

WeasyPrint needs Pango (Debian: libpango-1.0-0, libpangoft2-1.0-0, plus fonts such as
fonts-dejavu-core). It is imported on first use, so HTML and CSV work without it.
"""

from __future__ import annotations

from pathlib import Path

from exporters.reports.html import render_html
from monitord.reports.model import Report

__all__ = ["render_pdf", "write_pdf"]


def render_pdf(report: Report, lang: str = "es", html: str | None = None) -> bytes:
    """The report as PDF bytes (renders the HTML unless given)."""
    import weasyprint  # type: ignore[import-untyped]

    source = html if html is not None else render_html(report, lang)
    doc = weasyprint.HTML(string=source, base_url=None).render()
    data = doc.write_pdf()
    assert data is not None
    return bytes(data)


def write_pdf(report: Report, path: Path, lang: str = "es", html: str | None = None) -> Path:
    """Write the PDF to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_pdf(report, lang, html))
    return path
