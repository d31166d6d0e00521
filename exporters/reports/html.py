"""Render a report view model as one self-contained HTML document (inline CSS and SVG).

The same HTML is the source of the PDF (WeasyPrint), so it is printable as is: a
running header with the format's Código, Versión, Periodo and Página x de y on every
page, tables split in chunks with repeated headings. Jinja2 with autoescape on: every
value from the data (target names, aliases, details) is escaped.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import cache
from importlib import resources

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from exporters.reports.svg import bar_chart, sparkline
from exporters.reports.text import Formatter
from monitord.reports.model import Chart, Column, Light, Report, Spark, Table, Value

__all__ = ["CHUNK_ROWS", "render_html", "title_of"]

CHUNK_ROWS = 150


def render_html(report: Report, lang: str = "es") -> str:
    """The report as an HTML document in `lang`."""
    f = Formatter(lang, report.tz)
    env = _env()
    template = env.get_template("report.html.j2")
    end_day = datetime.fromtimestamp(report.period_end, f.tz) - timedelta(seconds=1)
    page = escape(f.t("header.page", page="\x00", pages="\x01"))
    page_html = Markup(
        str(page)
        .replace("\x00", '<span class="pageno"></span>')
        .replace("\x01", '<span class="pages"></span>')
    )
    return template.render(
        report=report,
        f=f,
        lang=lang,
        meta=report.meta,
        title=f.t(f"titles.{report.kind}"),
        period_label=f.month(report.period_start),
        period_range=f.t(
            "header.period_range",
            start=f.date(report.period_start),
            end=f.date(end_day.timestamp()),
            tz=report.tz,
        ),
        generated=f.datetime(report.generated),
        paper=report.meta.paper,
        page_html=page_html,
        css=Markup(_css()),
        chunk_rows=CHUNK_ROWS,
        title_of=lambda t: title_of(t, f),
        col_widths=_widths,
        cell=lambda v, c: _cell(v, c, f),
        chart=lambda c: _chart(c, f),
    )


def title_of(t: Table, f: Formatter) -> str:
    """The catalog title of a table."""
    return f.t(f"tables.{t.id}")


@cache
def _env() -> Environment:
    return Environment(
        loader=PackageLoader("exporters.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=False,
        lstrip_blocks=False,
    )


@cache
def _css() -> str:
    return resources.files("exporters.reports").joinpath("templates/report.css").read_text("utf-8")


def _widths(t: Table) -> list[float]:
    weights = [c.width if c.width else (1.0 if c.align != "left" else 1.6) for c in t.columns]
    total = sum(weights) or 1.0
    return [round(100 * w / total, 2) for w in weights]


def _cell(v: Value, c: Column, f: Formatter) -> Markup:
    cls = f' class="{c.align}"' if c.align != "left" else ""
    if isinstance(v, Light):
        color = v.color.value
        inner = Markup('<span class="dot {}"></span>{}').format(color, f.text(v))
        return Markup("<td{}>{}</td>").format(Markup(cls), inner)
    if isinstance(v, Spark):
        return Markup("<td{}>{}</td>").format(Markup(cls), Markup(sparkline(v)))
    text = f.text(v)
    if c.align == "left" and "/" in text:
        # "GNU/Linux" is one word: no line break after its slash (WORD JOINER, invisible);
        # figures are right-aligned cells, which never wrap (report.css)
        text = _SLASH.sub("/\u2060", text)
    return Markup("<td{}>{}</td>").format(Markup(cls), text)


_SLASH = re.compile(r"(?<=\w)/(?=[^\W\d])")


def _chart(c: Chart, f: Formatter) -> Markup:
    return Markup(bar_chart(c, f))
