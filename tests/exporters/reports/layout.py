"""Checks of a rendered PDF against its view model: no word broken, nothing past the margin.

`pdftotext` (poppler-utils) reads the PDF back. Every token of every printed table cell and
heading must be found whole in the text as often as the tables hold it (a word split by
hyphenation or by a line break inside it, "Severi-dad" or "Mb/" + "s", is not), and no
word may end right of the page's right margin (a table wider than the page).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from exporters.reports.text import Formatter
from monitord.reports.model import Light, Report, Spark

__all__ = ["assert_layout"]

A4_WIDTH_PT = 595.28
RIGHT_MARGIN_PT = 15 / 25.4 * 72


def _text(pdf: Path, *extra: str) -> str:
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext (poppler-utils) is needed to read the PDF back")
    return subprocess.run(
        ["pdftotext", *extra, str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def assert_layout(report: Report, pdf: Path, lang: str = "es") -> int:
    """Assert the layout rules; return how many cell tokens were checked."""
    f = Formatter(lang, report.tz)
    text = " ".join(_text(pdf).replace("\u2060", "").split())  # word joiners are invisible
    wanted: Counter[str] = Counter()
    for t in report.tables():
        if not t.rows or t.csv_only:
            continue  # not printed (an empty table prints its "Sin datos" sentence)
        for c in t.columns:
            wanted.update(tok for tok in f.t(f"columns.{c.key}").split() if len(tok) > 1)
        for row in t.rows:
            for v in row:
                if isinstance(v, Spark | Light):
                    continue  # pictures; a light's word is checked by the light tests
                wanted.update(tok for tok in f.text(v).split() if len(tok) > 1)
    missing = {tok: n for tok, n in wanted.items() if text.count(tok) < n}
    assert not missing, f"broken or missing in the PDF text: {sorted(missing)[:20]}"
    bbox = _text(pdf, "-bbox")
    right = [float(x) for x in re.findall(r'xMax="([\d.]+)"', bbox)]
    assert right and max(right) <= A4_WIDTH_PT - RIGHT_MARGIN_PT + 1.0
    # hyphenation marks never appear
    assert "\u2010" not in bbox and "\u00ad" not in bbox
    return sum(wanted.values())
