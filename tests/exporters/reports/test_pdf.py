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
