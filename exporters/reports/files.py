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
from monitord.reports.model import Report, split_records

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
        parts = split_records(report) if kind == "inventory" and report.part is None else [report]
        if report.part is not None:  # one part of a split inventory, handed in alone
            k, n = report.part
            written.append(write_pdf(report, out_dir / f"{stem}_{k}-{n}.pdf", lang, html))
        elif len(parts) == 1:
            written.append(write_pdf(report, out_dir / f"{stem}.pdf", lang, html))
        else:  # hojas de vida in several files: each rendering stays bounded
            for part in parts:
                k, n = part.part or (1, 1)
                written.append(write_pdf(part, out_dir / f"{stem}_{k}-{n}.pdf", lang))
    if "csv" in formats:
        written.extend(write_csv(report, out_dir / "csv", lang))
    return written
