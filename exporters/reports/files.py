"""Write one built report as files: `<month>_<name>.html` and `.pdf`, one CSV per table.

`write_files` is the renderer the composition root hands to `monitord.reports.job`
(a module-level function, so it can be sent to the worker processes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from exporters.reports.csv import write_csv
from exporters.reports.html import render_html
from exporters.reports.pdf import write_pdf
from exporters.reports.text import Formatter
from monitord.reports.model import Report

__all__ = ["write_files"]


def write_files(
    report: Report,
    kind: str,
    out_dir: Path,
    formats: Sequence[str],
    lang: str,
    tz: str,
    month: str,
) -> list[Path]:
    """Write `report` (of `kind`, for `month`) in `formats` under `out_dir`; return the files."""
    stem = f"{month}_{Formatter(lang, tz).t(f'files.{kind}')}"
    written: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    html = render_html(report, lang) if {"html", "pdf"} & set(formats) else None
    if "html" in formats and html is not None:
        p = out_dir / f"{stem}.html"
        p.write_text(html, encoding="utf-8")
        written.append(p)
    if "pdf" in formats:
        written.append(write_pdf(report, out_dir / f"{stem}.pdf", lang, html))
    if "csv" in formats:
        written.extend(write_csv(report, out_dir / "csv", lang))
    return written
