"""Hoja de vida de indicadores (REPORTS.md §5): the indicator table, this month and 12 months.

A month in which monitoring ran less than `MIN_DATA_SHARE` of the time (a daemon started
on the last evening of the month) has too little data to stand for the month: its
indicators read "datos insuficientes", without a traffic light, in the summary, the
trend and the 12-month history (HTML, PDF and CSV), and charts leave it out. A month
with no monitoring at all reads "sin datos" as before.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from monitord.reports.common import SERVER_KINDS, WEB_KINDS, ReportContext, assemble, light
from monitord.reports.model import (
    BarChart,
    Column,
    Light,
    LightColor,
    Msg,
    Num,
    Pct,
    Report,
    Section,
    Spark,
    Table,
    Value,
)
from monitord.reports.network import network_kpis
from monitord.reports.period import total
from monitord.reports.security import certificates, open_findings
from monitord.reports.servers import server_kpis
from monitord.reports.settings import IndicatorSettings

__all__ = [
    "INDICATORS",
    "MIN_DATA_SHARE",
    "Indicator",
    "Measure",
    "build_kpi",
    "data_share",
    "measure",
]

# below this share of the month monitored (10 %: about 3 days), a month's indicators are
# "datos insuficientes" (docs/reports.md)
MIN_DATA_SHARE: Final = 0.10


@dataclass(frozen=True, slots=True)
class Measure:
    """One month's value of an indicator, with its numerator and denominator."""

    value: float | None
    numerator: float | None = None
    denominator: float | None = None


@dataclass(frozen=True, slots=True)
class Indicator:
    """An indicator's fixed fields; its texts are catalog keys `kpi.<code>.*`."""

    code: str
    unit: str  # pct | count | hours
    kind: str  # eficacia | eficiencia | efectividad
    higher_better: bool | None  # None: no direction (informative)
    meta_field: str | None  # attribute of reports.targets
    source_table: str  # the CSV that verifies it


INDICATORS: tuple[Indicator, ...] = (
    Indicator("IND-01", "pct", "eficacia", True, "network_availability", "availability_by_device"),
    Indicator("IND-02", "pct", "eficacia", True, "server_availability", "server_availability"),
    Indicator("IND-03", "pct", "eficacia", True, "web_availability", "services"),
    Indicator("IND-04", "count", "eficacia", None, None, "incidents"),
    Indicator("IND-05", "hours", "eficiencia", False, "mttr_hours", "incidents"),
    Indicator("IND-06", "hours", "efectividad", None, None, "incidents"),
    Indicator("IND-07", "pct", "eficacia", True, "backups_ok", "backups"),
    Indicator("IND-08", "pct", "eficacia", True, "storage_ok", "filesystems"),
    Indicator("IND-09", "pct", "eficacia", True, "certificates_ok", "findings_tls"),
    Indicator("IND-10", "count", "efectividad", False, None, "findings_changes"),
)


def data_share(ctx: ReportContext) -> float:
    """Share of `ctx.period` in which monitoring ran (0-1)."""
    return total(ctx.availability.coverage) / ctx.period.seconds


def measure(ctx: ReportContext) -> dict[str, Measure]:
    """Every indicator for `ctx.period`."""
    net = network_kpis(ctx)
    srv = server_kpis(ctx)
    av = ctx.availability
    web = [
        a
        for (t, c), a in av.pairs.items()
        if a.ratio is not None
        and (
            ctx.service(c) == "web"
            or (t in ctx.targets and ctx.targets[t].kind in WEB_KINDS and av.primary.get(t) == c)
        )
    ]
    all_dev = [d for t in ctx.targets if (d := av.device(t)) is not None]
    inc = [o for d in all_dev for o in d.outages if o.incident]
    down = sum(o.counted for o in inc)
    up = sum(d.monitored - d.down for d in all_dev)
    certs = certificates(ctx)
    certs_ok = sum(1 for c in certs if c.days_left is not None and c.days_left > 30)
    found = ctx.source.findings(ctx.period.start, ctx.period.end)
    runs = ctx.source.check_runs(0.0, ctx.period.end)
    crit = [d for t in ctx.of_kinds(SERVER_KINDS) if t.critical and (d := av.device(t.name))]
    crit_r = [d.ratio for d in crit if d.ratio is not None]

    def avg(ratios: list[float]) -> Measure:
        if not ratios:
            return Measure(None)
        return Measure(sum(ratios) / len(ratios), sum(ratios) * 100, len(ratios))

    def frac(num: int, den: int) -> Measure:
        return Measure(num / den if den else None, num, den)

    net_r = [
        d.ratio
        for t in ctx.of_kinds(
            frozenset({"router", "switch", "firewall", "access_point", "ups", "printer", "other"})
        )
        if (d := av.device(t.name)) is not None and d.ratio is not None
    ]
    has_data = bool(all_dev)
    return {
        "IND-01": avg(net_r) if net["availability"] is not None else Measure(None),
        "IND-02": avg(crit_r),
        "IND-03": avg([a.ratio for a in web if a.ratio is not None]),
        "IND-04": Measure(len(inc) if has_data else None, len(inc)),
        "IND-05": Measure(down / len(inc) / 3600 if inc else None, down / 3600, len(inc)),
        "IND-06": Measure(up / len(inc) / 3600 if inc else None, up / 3600, len(inc)),
        "IND-07": frac(int(srv["backups_ok"] or 0), int(srv["backups_total"] or 0)),
        "IND-08": frac(int(srv["fs_under"] or 0), int(srv["fs_total"] or 0)),
        "IND-09": frac(certs_ok, len(certs)),
        "IND-10": Measure(len(open_findings(found, runs, ctx.period.end)) if runs else None),
    }


def build_kpi(ctx: ReportContext) -> Report:
    """Build the indicators report: summary table, then one hoja de vida per indicator."""
    months = [ctx.previous(k) for k in range(11, 0, -1)] + [ctx]
    # months with some data but too little to stand for the month: not measured
    scarce = tuple(0 < data_share(m) < MIN_DATA_SHARE for m in months)
    series = [_UNMEASURED if few else measure(m) for m, few in zip(months, scarce, strict=True)]
    labels = tuple(m.period.label for m in months)
    cur = series[-1]
    summary_rows: list[tuple[Value, ...]] = []
    history_rows: list[tuple[Value, ...]] = []
    sheets = []
    for ind in INDICATORS:
        meta = _meta(ctx, ind)
        m = cur[ind.code]
        values = tuple(s[ind.code].value for s in series)
        col = _light(ctx, ind, m.value, meta, values)
        summary_rows.append(
            (
                ind.code,
                Msg(f"kpi.{ind.code}.name"),
                _result(ind, m.value, scarce[-1]),
                _fmt_meta(ind, meta),
                _NO_LIGHT if scarce[-1] else col,
                Spark(_scale(ind, values), ind.unit, col.color),
            )
        )
        history_rows.extend(
            (ind.code, Msg(f"kpi.{ind.code}.name"), label, _result(ind, v, few))
            for label, v, few in zip(labels, values, scarce, strict=True)
        )
        own = ctx.config.indicators.get(ind.code, IndicatorSettings())
        fields: list[tuple[str, Value]] = [
            ("code", ind.code),
            ("name", Msg(f"kpi.{ind.code}.name")),
            ("objective", Msg(f"kpi.{ind.code}.objective")),
            ("type", Msg(f"kpi.types.{ind.kind}")),
            ("formula", own.formula or Msg(f"kpi.{ind.code}.formula")),
            ("numerator", Num(m.numerator, 2) if m.numerator is not None else "—"),
            ("denominator", Num(m.denominator, 0) if m.denominator is not None else "—"),
            ("unit", Msg(f"kpi.units.{ind.unit}")),
            ("periodicity", Msg("kpi.monthly")),
            ("source", Msg(f"kpi.{ind.code}.source")),
            ("verification", Msg("kpi.verification", {"table": Msg(f"tables.{ind.source_table}")})),
            ("responsible", own.responsible or Msg("kpi.responsible")),
            ("baseline", _baseline(ind, own)),
            ("meta", _fmt_meta(ind, meta)),
            ("direction", Msg(_direction(ind))),
            ("ranges", _ranges(ctx, ind, meta)),
            ("result", _result(ind, m.value, scarce[-1])),
            ("light", _NO_LIGHT if scarce[-1] else col),
        ]
        trend_rows = [
            (
                label,
                _result(ind, v, few),
                _NO_LIGHT if few else _light(ctx, ind, v, meta, values[: i + 1]),
            )
            for i, (label, v, few) in enumerate(zip(labels, values, scarce, strict=True))
        ]
        chart = BarChart(
            f"trend-{ind.code}",
            Msg("charts.trend", {"name": Msg(f"kpi.{ind.code}.name")}),
            tuple(label[2:] for label in labels),
            ((f"kpi.{ind.code}.name", _scale(ind, values)),),
            "pct" if ind.unit == "pct" else "num",
            meta if meta is not None else None,
            Msg("series.meta") if meta is not None else None,
            _axis_low([*_scale(ind, values), meta]),
        )
        sheets.append(
            Section(
                f"sheet-{ind.code}",
                "kpi.sheet",
                heading=f"{ind.code}",
                tables=(
                    Table(
                        "indicator",
                        (Column("field"), Column("value")),
                        [(Msg(f"kpi.fields.{k}"), v) for k, v in fields],
                        csv=False,
                    ),
                    Table(
                        "trend",
                        (Column("month"), Column("result", "right"), Column("light", "center")),
                        trend_rows,
                        csv=False,
                    ),
                ),
                charts=(chart,),
                after=(
                    Msg("kpi.analysis_data"),
                    Msg("kpi.analysis_causes"),
                    Msg("kpi.improvement"),
                ),
            )
        )
    summary = (
        Msg(
            "summary.kpi",
            {
                "green": Num(
                    sum(
                        1
                        for r in summary_rows
                        if isinstance(r[4], Light) and r[4].color is LightColor.GREEN
                    )
                ),
                "total": Num(
                    sum(
                        1
                        for r in summary_rows
                        if isinstance(r[4], Light) and r[4].color is not LightColor.NONE
                    )
                ),
            },
        ),
    )
    sections = (
        Section(
            "kpi_summary",
            "kpi.summary",
            _scarce_note(labels, scarce),
            tables=(
                Table(
                    "indicators",
                    (
                        Column("code"),
                        Column("indicator"),
                        Column("result", "right"),
                        Column("meta", "right"),
                        Column("light", "center"),
                        Column("trend", "center"),
                    ),
                    summary_rows,
                ),
                Table(
                    "indicators_history",
                    (
                        Column("code"),
                        Column("indicator"),
                        Column("month"),
                        Column("result", "right"),
                    ),
                    history_rows,
                    csv_only=True,
                ),
            ),
        ),
        Section("sheets", "kpi.sheets", subsections=tuple(sheets)),
    )
    return assemble(ctx, "kpi", summary, sections, scope_targets=list(ctx.targets.values()))


_UNMEASURED: Final[dict[str, Measure]] = {ind.code: Measure(None) for ind in INDICATORS}
_NO_LIGHT: Final = "—"  # the light cell of a month with too little data: no light at all


def _result(ind: Indicator, v: float | None, scarce: bool) -> Value:
    """The month's value, or "datos insuficientes" for a month with too little data."""
    return Msg("words.insufficient_data") if scarce else _fmt(ind, v)


def _scarce_note(labels: tuple[str, ...], scarce: tuple[bool, ...]) -> tuple[Msg, ...]:
    """The sentence naming the months shown as "datos insuficientes" (none: nothing)."""
    months = [label for label, few in zip(labels, scarce, strict=True) if few]
    if not months:
        return ()
    return (
        Msg(
            "kpi.insufficient",
            {"months": ", ".join(months), "count": len(months), "share": Num(MIN_DATA_SHARE * 100)},
        ),
    )


def _baseline(ind: Indicator, own: IndicatorSettings) -> Value:
    """The configured baseline (fixed, with its period), never this year's first value."""
    if own.baseline is None:
        return Msg("kpi.no_baseline")
    value = _fmt(ind, own.baseline / 100 if ind.unit == "pct" else own.baseline)
    if not own.baseline_period:
        return value
    return Msg("kpi.baseline_of", {"value": value, "period": own.baseline_period})


def _axis_low(values: list[float | None]) -> float | None:
    """Bottom of a trend chart's axis: zero unless the values sit in a narrow band far from it
    (99,2-99,9 %: the axis starts near 99 so the month-to-month change is visible)."""
    vals = [v for v in values if v is not None]
    if not vals or min(vals) <= 0:
        return None
    lo, hi = min(vals), max(vals)
    if hi - lo > 0.5 * hi:
        return None
    pad = max((hi - lo) * 0.5, hi * 0.002)
    step = 10 ** math.floor(math.log10(pad))
    return max(0.0, float(math.floor((lo - pad) / step) * step))


def _meta(ctx: ReportContext, ind: Indicator) -> float | None:
    return None if ind.meta_field is None else float(getattr(ctx.config.targets, ind.meta_field))


def _light(
    ctx: ReportContext,
    ind: Indicator,
    v: float | None,
    meta: float | None,
    history: tuple[float | None, ...],
) -> Light:
    if v is None:
        return Light(LightColor.NONE)
    if ind.code == "IND-10":  # open findings: the trend must go down
        prev = next((x for x in reversed(history[:-1]) if x is not None), None)
        if prev is None:
            return Light(LightColor.NONE)
        return Light(LightColor.GREEN if v <= prev else LightColor.RED)
    if meta is None or ind.higher_better is None:
        return Light(LightColor.NONE)
    if ind.unit == "pct":
        return light(v * 100, meta, ctx.config.targets.yellow_margin, ind.higher_better)
    return light(v, meta, meta * 0.25, ind.higher_better)


def _fmt(ind: Indicator, v: float | None) -> Value:
    if v is None:
        return Msg("words.no_data")
    if ind.unit == "pct":
        return Pct(v)
    if ind.unit == "hours":
        return Num(v, 2, "hours")
    return Num(v)


def _fmt_meta(ind: Indicator, meta: float | None) -> Value:
    if ind.code == "IND-10":
        return Msg("kpi.downward")
    if meta is None:
        return "—"
    op = "≥" if ind.higher_better else "≤"
    if ind.unit == "pct":
        return Msg("kpi.meta_pct", {"op": op, "value": Num(meta, 1)})
    return Msg("kpi.meta_hours", {"op": op, "value": Num(meta, 1)})


def _direction(ind: Indicator) -> str:
    if ind.higher_better is None:
        return "kpi.direction.none"
    return "kpi.direction.up" if ind.higher_better else "kpi.direction.down"


def _ranges(ctx: ReportContext, ind: Indicator, meta: float | None) -> Value:
    if meta is None or ind.higher_better is None:
        return Msg("kpi.ranges_none") if ind.code != "IND-10" else Msg("kpi.ranges_trend")
    margin = ctx.config.targets.yellow_margin if ind.unit == "pct" else meta * 0.25
    key = "kpi.ranges_up" if ind.higher_better else "kpi.ranges_down"
    low = meta - margin if ind.higher_better else meta + margin
    return Msg(key, {"meta": Num(meta, 2), "low": Num(low, 2)})


def _scale(ind: Indicator, values: tuple[float | None, ...]) -> tuple[float | None, ...]:
    scale: Callable[[float], float] = (lambda v: v * 100) if ind.unit == "pct" else (lambda v: v)
    return tuple(None if v is None else scale(v) for v in values)
