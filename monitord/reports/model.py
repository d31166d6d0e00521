"""The view model of a report: language-free, typed values that a renderer formats.

Report builders (`monitord.reports.network`, ...) produce a `Report`; renderers
(`exporters.reports.html/csv/pdf`) format it with a message catalog and a locale. No
text in here is shown as is except proper names (targets, sites, interfaces): headings,
sentences and labels are catalog keys (`Msg`), numbers are typed (`Pct`, `Bytes`...)
so each format renders them its own way (HTML "99,62 %", CSV "99,62").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum

__all__ = [
    "RECORDS_PER_PDF",
    "BarChart",
    "BitRate",
    "Bytes",
    "Cell",
    "Chart",
    "Column",
    "Day",
    "Dur",
    "Light",
    "LightColor",
    "Meta",
    "Msg",
    "Num",
    "Pct",
    "Report",
    "Section",
    "Signatory",
    "Spark",
    "Table",
    "Ts",
    "Value",
    "split_records",
]


class LightColor(StrEnum):
    """Traffic-light colours (semáforo)."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Pct:
    """A ratio (0-1) shown as a percentage with `digits` decimals."""

    value: float | None
    digits: int = 2


@dataclass(frozen=True, slots=True)
class Num:
    """A plain number with `digits` decimals and an optional unit key (catalog `units.*`)."""

    value: float | None
    digits: int = 0
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Bytes:
    """A size in bytes (SI units: kB, MB, GB, TB)."""

    value: float | None


@dataclass(frozen=True, slots=True)
class BitRate:
    """A rate given in bytes per second, shown in bits per second (kb/s, Mb/s, Gb/s)."""

    value: float | None


@dataclass(frozen=True, slots=True)
class Dur:
    """A duration in seconds (CSV: minutes)."""

    value: float | None


@dataclass(frozen=True, slots=True)
class Ts:
    """An instant (epoch seconds), shown as a local date and time (to the second if asked)."""

    value: float | None
    seconds: bool = False


@dataclass(frozen=True, slots=True)
class Day:
    """A calendar date."""

    value: date | None


@dataclass(frozen=True, slots=True)
class Light:
    """A traffic-light cell."""

    color: LightColor


@dataclass(frozen=True, slots=True)
class Spark:
    """A small trend line (last months), with the unit of its values ('pct', 'num')."""

    values: tuple[float | None, ...]
    unit: str = "num"
    color: LightColor = LightColor.NONE  # the last point's dot: the indicator's status


@dataclass(frozen=True, slots=True)
class Msg:
    """A sentence or label from the message catalog, with its parameters."""

    key: str
    params: Mapping[str, Value] = field(default_factory=dict, hash=False)


Value = str | int | Pct | Num | Bytes | BitRate | Dur | Ts | Day | Light | Spark | Msg | None
Cell = Value


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: catalog key of its heading (`columns.<key>`) and alignment."""

    key: str
    align: str = "left"
    width: float = 0.0  # relative width; 0: by alignment (text 1.6, numbers 1)


@dataclass(frozen=True, slots=True)
class Table:
    """A table; `id` names its CSV file (catalog `tables.<id>`)."""

    id: str
    columns: tuple[Column, ...]
    rows: Sequence[Sequence[Cell]]
    note: Msg | None = None
    empty: Msg | None = None
    total_rows: int | None = None  # when `rows` is a top-N of a longer list
    csv_only: bool = False  # too long for a document: exported as CSV only
    csv: bool = True  # False for per-device detail tables covered by another CSV
    csv_rows: Sequence[Sequence[Cell]] | None = None  # the full list when `rows` is a top-N


@dataclass(frozen=True, slots=True)
class BarChart:
    """Grouped bars by category (e.g. per day), with an optional reference line."""

    id: str
    title: Msg
    categories: tuple[str, ...]
    series: tuple[tuple[str, tuple[float | None, ...]], ...]  # (catalog key, values)
    unit: str = "bitrate"  # bitrate | pct | bytes | num
    reference: float | None = None
    reference_label: Msg | None = None
    low: float | None = None  # bottom of the value axis (None: zero); each chart its own scale


Chart = BarChart


@dataclass(frozen=True, slots=True)
class Section:
    """A numbered section: title key, paragraphs, tables, charts; or why it has no data."""

    id: str
    title: str
    paragraphs: tuple[Msg, ...] = ()
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()
    empty: Msg | None = None
    subsections: tuple[Section, ...] = ()
    heading: str | None = None  # a proper name shown as the heading (e.g. a device)
    after: tuple[Msg, ...] = ()  # paragraphs after the tables and charts


@dataclass(frozen=True, slots=True)
class Signatory:
    """One line of the sign-off block (elaboró / revisó / aprobó)."""

    role: str
    name: str
    position: str


@dataclass(frozen=True, slots=True)
class Meta:
    """The document header: entity, process, office, format code and version, paper."""

    entity: str
    process: str
    office: str
    code: str
    version: str
    logo: str | None = None  # data: URI of the logo, inlined
    paper: str = "A4"


@dataclass(frozen=True, slots=True)
class Report:
    """One monthly report, ready to render."""

    kind: str
    month: str  # YYYY-MM
    period_start: float
    period_end: float
    generated: float
    tz: str
    meta: Meta
    intro: tuple[Section, ...]
    summary: tuple[Msg, ...]
    sections: tuple[Section, ...]
    observations: tuple[str, ...] = ()
    actions: Table | None = None  # acciones de mejora: the month's and those carried forward
    annexes: tuple[Section, ...] = ()
    signatories: tuple[Signatory, ...] = ()
    part: tuple[int, int] | None = None  # (k, n) of a document split in n files

    def tables(self) -> list[Table]:
        """Every table of the report, in document order (for CSV export)."""
        out: list[Table] = []

        def walk(sections: Sequence[Section]) -> None:
            for s in sections:
                out.extend(s.tables)
                walk(s.subsections)

        walk(self.intro)
        walk(self.sections)
        if self.actions is not None:
            out.append(self.actions)
        walk(self.annexes)
        return out


RECORDS_PER_PDF = 100  # hojas de vida per PDF file: a 500-device inventory is 5 files


def split_records(report: Report, per_part: int = RECORDS_PER_PDF) -> list[Report]:
    """The inventory as PDF parts: the first holds everything and the first `per_part`
    hojas de vida; each further part holds the next ones only (memory and page count of
    one rendering stay bounded). One part when the records fit."""
    records = next((s for s in report.sections if s.id == "records"), None)
    if records is None or len(records.subsections) <= per_part:
        return [report]
    chunks = [
        records.subsections[i : i + per_part] for i in range(0, len(records.subsections), per_part)
    ]
    n = len(chunks)
    first = replace(
        report,
        sections=tuple(
            replace(s, subsections=chunks[0]) if s.id == "records" else s for s in report.sections
        ),
        part=(1, n),
    )
    rest = [
        replace(
            report,
            intro=(),
            summary=(),
            sections=(replace(records, subsections=chunk),),
            observations=(),
            actions=None,
            annexes=(),
            part=(k, n),
        )
        for k, chunk in enumerate(chunks[1:], start=2)
    ]
    return [first, *rest]
