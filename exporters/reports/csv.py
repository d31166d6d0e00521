"""Write each table of a report as a CSV file that Excel opens correctly.

Spanish (es-CO): UTF-8 with a byte-order mark (without it Excel reads the file as
Windows-1252 and breaks accents), `;` as the field separator and `,` as the decimal
separator, which is what Excel uses under the Colombian regional settings (list
separator `;`, decimal `,`); numbers carry no thousands separator so they stay numbers.
English: UTF-8 with BOM, `,` and `.`. Numbers are plain values in the unit the
heading states (%, B, b/s, min, ms); dates are the catalog's date-time format.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from exporters.reports.html import title_of
from exporters.reports.text import Formatter, slug
from monitord.reports.model import BitRate, Bytes, Dur, Num, Pct, Report, Spark, Table

__all__ = ["render_csv", "table_csv", "write_csv"]


_NUMBERS = (Pct, Num, Bytes, BitRate, Dur)


def table_csv(t: Table, f: Formatter) -> str:
    """One table as CSV text (without the BOM)."""
    rows = t.csv_rows if t.csv_rows is not None else t.rows
    out = io.StringIO()
    w = csv.writer(out, delimiter=f.cat.get("csv.delimiter"), lineterminator="\r\n")
    # sparklines are pictures: their values are in the table's history CSV, not here
    keep = [
        i
        for i in range(len(t.columns))
        if not (rows and all(isinstance(r[i], Spark) or r[i] is None for r in rows))
    ]
    heads = []
    for i in keep:
        head = f.t(f"columns.{t.columns[i].key}")
        # the unit of the column's numbers (words such as "Sin datos" have none); a column
        # mixing units (a percentage, hours, a count) states none
        units = {f.csv_unit(r[i]) for r in rows if isinstance(r[i], _NUMBERS)}
        unit = units.pop() if len(units) == 1 else ""
        heads.append(f"{head} ({unit})" if unit and f"({unit})" not in head else head)
    w.writerow(heads)
    for r in rows:
        w.writerow([f.csv(r[i]) for i in keep])
    return out.getvalue()


def render_csv(report: Report, lang: str = "es") -> dict[str, str]:
    """File name -> CSV text for every exportable table of the report."""
    f = Formatter(lang, report.tz)
    files: dict[str, str] = {}
    for t in report.tables():
        if not t.csv:
            continue
        name = f"{report.month}_{f.t(f'files.{report.kind}')}_{slug(title_of(t, f))}"
        base, n = name, 2
        while f"{name}.csv" in files:
            name, n = f"{base}_{n}", n + 1
        files[f"{name}.csv"] = table_csv(t, f)
    return files


def write_csv(report: Report, out_dir: Path, lang: str = "es") -> list[Path]:
    """Write the report's CSV files into `out_dir`; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in render_csv(report, lang).items():
        p = out_dir / name
        p.write_text("\ufeff" + text, encoding="utf-8", newline="")
        paths.append(p)
    return paths
