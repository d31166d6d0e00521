"""PDF with WeasyPrint: Spanish headings and figures in the text, A4/Letter, page 1 as PNG."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from exporters.reports.html import render_html
from exporters.reports.pdf import write_pdf
from monitord.reports.common import ReportContext
from monitord.reports.job import build_report


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install the Debian package poppler-utils")
    return path


def test_network_pdf_text_and_page_image(ctx: ReportContext, tmp_path: Path) -> None:
    pdf = write_pdf(build_report("network", ctx), tmp_path / "red.pdf", "es")
    text = subprocess.run(
        [_tool("pdftotext"), "-layout", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    for s in (
        "Reporte de monitoreo de red",
        "Alcaldía de Prueba",
        "Código",
        "GTI-FO-07",
        "Versión",
        "Periodo",
        "octubre de 2026",
        "Página 1 de",
        "1. Objetivo",
        "Completitud de los datos",
        "Resumen ejecutivo",
        "Disponibilidad por dispositivo",
        "99,708 %",
        "99,955 %",
        "Afectado por",
        "core-rtr",
        "Falla propia",
        "1 h 30",
        "16,0 Mb/s",
        "Elaboró",
        "Revisó",
        "Aprobó",
        "Observaciones y acciones de mejora",
    ):
        assert s in text, s
    info = subprocess.run(
        [_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "595.276 x 841.89 pts (A4)" in info
    pages = int(next(line for line in info.splitlines() if line.startswith("Pages:")).split()[1])
    assert f"Página {pages} de {pages}" in text
    # Kept outside pytest's rotating tmp dirs, for a person to look at.
    keep = Path(
        os.environ.get("MONITORD_PREVIEW_DIR", Path(tempfile.gettempdir()) / "monitord-preview")
    )
    keep.mkdir(parents=True, exist_ok=True)
    png = keep / "red-page1"
    subprocess.run(
        [
            _tool("pdftoppm"),
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf),
            str(png),
        ],
        check=True,
        timeout=60,
    )
    assert (keep / "red-page1.png").stat().st_size > 20_000
    shutil.copy(pdf, keep / "red.pdf")
    print(f"\npage 1 of the network report: {keep / 'red-page1.png'} (PDF: {keep / 'red.pdf'})")


def test_letter_paper_and_servers_figures(ctx: ReportContext, tmp_path: Path) -> None:
    ctx.config = ctx.config.model_copy(update={"paper": "Letter"})
    report = build_report("servers", ctx)
    pdf = write_pdf(report, tmp_path / "srv.pdf", "es", render_html(report, "es"))
    info = subprocess.run(
        [_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "612 x 792 pts (letter)" in info
    text = subprocess.run(
        [_tool("pdftotext"), str(pdf), "-"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    for s in (
        "Reporte de estado de servidores",
        "Sistemas de archivos",
        "Bases de datos",
        "10,0 GB",
        "12,0 GB",
        "Sin datos en el periodo",
    ):
        assert s in text, s


# what may never begin a line of a PDF: the percent sign or a unit torn from its number
_UNITS = {"%", "ms", "s", "min", "h", "d", "días", "día", "horas", "meses", "GB", "MB", "kB",
          "B", "Mb/s", "kb/s", "Gb/s", "b/s"}  # fmt: skip


def _narrow_pdf(ctx: ReportContext, tmp_path: Path, name: str, glue: bool) -> list[str]:
    """The network report's HTML with a paragraph of many figures (the formatter's own
    text: percentages, rates, sizes, durations, and catalog sentences with "días" and
    "%") in a 30 mm wide column, printed by WeasyPrint and read back with -layout."""
    import weasyprint  # type: ignore[import-untyped]

    from exporters.reports.text import NBSP, Formatter
    from monitord.reports.model import BitRate, Bytes, Dur, Msg, Num, Pct

    f = Formatter("es")
    words = []
    for i in range(40):
        words += [
            f.text(Pct(0.1 + i / 97)),
            f.text(BitRate(2.5e6 * (i + 1))),
            f.text(Bytes(1.3e9 * (i + 1))),
            f.text(Dur(3600 * i + 1800)),
            f.text(Num(i + 2, unit="days")),
            f.text(Num(i + 0.5, 2, unit="ms")),
            f.msg(Msg("servers.projection_short", {"days": Num(i % 3)})),
            f.msg(Msg("intro.coverage", {"coverage": Pct(i / 41), "gaps": i % 3})),
        ]
    para = " y ".join(words)
    if not glue:  # the control: the same text with plain spaces
        para = para.replace(NBSP, " ")
    html = render_html(build_report("network", ctx), "es").replace(
        "</body>", f'<p style="width: 30mm; break-before: page">{para}</p></body>'
    )
    pdf = tmp_path / name
    pdf.write_bytes(weasyprint.HTML(string=html).write_pdf())
    text = subprocess.run(
        [_tool("pdftotext"), "-layout", "-f", "0", str(pdf), "-"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    # the last page(s): the narrow paragraph
    last = text.split("\f")
    start = next(i for i, page in enumerate(last) if "y" in page.split() and "Mb/s" in page)
    return [ln.strip() for page in last[start:] for ln in page.splitlines() if ln.strip()]


def test_no_line_of_a_narrow_paragraph_starts_with_a_percent_sign_or_unit(
    ctx: ReportContext, tmp_path: Path
) -> None:
    lines = _narrow_pdf(ctx, tmp_path, "narrow.pdf", glue=True)
    assert len(lines) > 200  # the column is narrow: the paragraph wraps on many lines
    torn = [ln for ln in lines if ln.split()[0] in _UNITS]
    assert torn == [], torn[:10]
    # the control: with plain spaces WeasyPrint does break between number and unit, so
    # the check above can fail
    plain = _narrow_pdf(ctx, tmp_path, "plain.pdf", glue=False)
    assert [ln for ln in plain if ln.split()[0] in _UNITS]
