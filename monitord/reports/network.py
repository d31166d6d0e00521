"""Reporte de monitoreo de red (REPORTS.md §1): data → view model."""

from __future__ import annotations

from collections import defaultdict

from monitord.history import DIST_KINDS, quantile
from monitord.reports.availability import Outage
from monitord.reports.common import (
    NETWORK_KINDS,
    ReportContext,
    assemble,
    began_in_month,
    light,
    since,
)
from monitord.reports.device_events import config_changes_table
from monitord.reports.inventory import changes_table
from monitord.reports.links import capacity_section, interfaces_section, wan_section
from monitord.reports.model import (
    Column,
    Dur,
    Msg,
    Num,
    Pct,
    Report,
    Section,
    Table,
    Ts,
    Value,
)
from monitord.reports.notifications import notifications, undelivered_table
from monitord.reports.store import TargetInfo

__all__ = ["build_network", "network_kpis"]


def network_kpis(ctx: ReportContext) -> dict[str, float | int | None]:
    """The month's network figures the summary and the KPI report use."""
    av = ctx.availability
    devices = [d for t in ctx.of_kinds(NETWORK_KINDS) if (d := av.device(t.name)) is not None]
    ratios = [d.ratio for d in devices if d.ratio is not None]
    incidents = [o for d in devices for o in d.outages if o.incident]
    downtime = sum(o.counted for o in incidents)
    up = sum(d.monitored - d.down for d in devices)
    return {
        "availability": sum(ratios) / len(ratios) if ratios else None,
        "devices": len(devices),
        "measured": len(ratios),
        "incidents": len(incidents),
        "downtime": downtime,
        "mttr": downtime / len(incidents) if incidents else None,
        "mtbf": up / len(incidents) if incidents else None,
        "maintenance": sum(d.maintenance for d in devices),
    }


def build_network(ctx: ReportContext) -> Report:
    """Build the network report for `ctx.period`."""
    av = ctx.availability
    targets = ctx.of_kinds(NETWORK_KINDS)
    meta = ctx.config.targets.network_availability
    k = network_kpis(ctx)
    coverage = av.coverage_of({t.name for t in targets})
    ifaces = [i for i in ctx.source.ifaces(ctx.period) if i.target in {t.name for t in targets}]
    summary: list[Msg] = []
    if k["availability"] is None:
        summary.append(Msg("summary.no_data"))
    else:
        a = float(k["availability"])
        summary.append(
            Msg(
                "summary.network.availability",
                {
                    "availability": Pct(a),
                    "meta": Pct(meta / 100),
                    "comparison": Msg("words.above" if a * 100 >= meta else "words.below"),
                    "incidents": Num(k["incidents"]),
                    "downtime": Dur(float(k["downtime"] or 0)),
                },
            )
        )
        if k["mttr"] is not None:
            summary.append(Msg("summary.mttr", {"mttr": Dur(float(k["mttr"]))}))
    scope: dict[str, Value] = {
        "devices": Num(len(targets)),
        "sites": Num(len({t.site for t in targets if t.site})),
        "coverage": Pct(coverage),
    }
    names = {t.name for t in targets}
    if began_in_month(ctx, names):
        # against the span monitored, with the whole month's figure beside it
        scope["since"] = Ts(av.began(names), True)
        scope["month"] = Pct(av.coverage_month_of(names))
        summary.append(Msg("summary.network.scope_since", scope))
    else:
        summary.append(Msg("summary.network.scope", scope))
    sections = (
        _availability(ctx, targets),
        _incidents(ctx, targets),
        _latency(ctx, targets),
        wan_section(ctx, ifaces),
        interfaces_section(ctx, ifaces),
        capacity_section(ctx, ifaces),
        Section(
            "changes",
            "network.changes",
            tables=(
                _added_removed(ctx, targets),
                changes_table(ctx, {t.name for t in targets}, "network"),
                config_changes_table(ctx, NETWORK_KINDS),
            ),
        ),
        Section(
            "methodology",
            "methodology",
            (
                Msg("method.availability"),
                Msg("method.precision"),
                Msg("method.parent"),
                Msg(
                    "method.maintenance", {"minutes": Num(round(float(k["maintenance"] or 0) / 60))}
                ),
                Msg("method.rtt"),
                Msg("method.p95"),
                Msg("method.utilization"),
            ),
        ),
    )
    return assemble(ctx, "network", tuple(summary), sections, scope_targets=targets)


def _availability(ctx: ReportContext, targets: list[TargetInfo]) -> Section:
    av = ctx.availability
    cfg = ctx.config.targets
    meta, margin = cfg.network_availability, cfg.yellow_margin
    by_site: dict[str, list[float]] = defaultdict(list)
    rows = []
    for t in targets:
        d = av.device(t.name)
        assert d is not None
        if d.ratio is not None:
            by_site[t.site or "—"].append(d.ratio)
        rows.append(
            (
                t.name,
                t.site or "—",
                Msg(f"kinds.{t.kind}"),
                Pct(d.ratio, 3),
                Dur(d.down),
                Num(d.incidents),
                since(ctx, d),
                Pct(d.coverage, 1),
                Pct(d.coverage_month, 1),
                light(_pc(d.ratio), meta, margin),
            )
        )
    site_rows = []
    for site, ratios in sorted(by_site.items()):
        mean = sum(ratios) / len(ratios)
        site_rows.append((site, Num(len(ratios)), Pct(mean, 3), light(mean * 100, meta, margin)))
    cols = (
        Column("device"),
        Column("site"),
        Column("kind"),
        Column("availability", "right"),
        Column("downtime", "right"),
        Column("incidents", "right"),
        Column("monitored_since"),
        Column("coverage", "right"),
        Column("coverage_month", "right"),
        Column("light", "center"),
    )
    return Section(
        "availability",
        "network.availability",
        (Msg("network.availability_intro", {"meta": Pct(meta / 100)}),),
        (
            Table(
                "availability_by_site",
                (
                    Column("site"),
                    Column("devices", "right"),
                    Column("availability", "right"),
                    Column("light", "center"),
                ),
                site_rows,
                empty=Msg("empty.no_devices"),
            ),
            Table("availability_by_device", cols, rows, empty=Msg("empty.no_devices")),
        ),
    )


def _incidents(ctx: ReportContext, targets: list[TargetInfo]) -> Section:
    av = ctx.availability
    sent = notifications(ctx)
    sites = {t.name: t.site for t in targets}
    outages: list[Outage] = []
    for t in targets:
        d = av.device(t.name)
        if d is not None:
            outages.extend(d.outages)
    outages.sort(key=lambda o: (o.start, o.target))
    rows = []
    for o in outages:
        cause = Msg("cause.parent", {"parent": o.parent}) if o.parent else Msg("cause.own")
        if o.truncated:
            cause = Msg("cause.truncated", {"cause": cause})
        rows.append(
            (
                Ts(o.start, seconds=True),
                Msg("words.ongoing") if o.ongoing else Ts(o.end, seconds=True),
                Dur(o.duration),
                o.target,
                sites.get(o.target) or "—",
                cause,
                Num(sent.delivered(o)) if sent.known else None,
                Msg("words.yes" if o.maintenance > 0 else "words.no"),
            )
        )
    maint_rows = [
        (
            Ts(a, seconds=True),
            Ts(b, seconds=True),
            Dur(b - a),
            w.description or "—",
            ", ".join(w.targets + w.sites + w.tags) or Msg("words.all"),
            w.author or "—",
        )
        for w, a, b in av.maintenance_windows()
    ]
    return Section(
        "incidents",
        "network.incidents",
        (Msg("network.incidents_intro"),),
        (
            Table(
                "incidents",
                (
                    Column("start"),
                    Column("end"),
                    Column("duration", "right"),
                    Column("device"),
                    Column("site"),
                    Column("cause"),
                    Column("alerts_sent", "right"),
                    Column("in_maintenance", "center"),
                ),
                rows,
                note=Msg("network.alerts_note" if sent.known else "network.alerts_unknown"),
                empty=Msg("empty.no_incidents"),
            ),
            undelivered_table(sent, {t.name for t in targets}),
            Table(
                "maintenance",
                (
                    Column("start"),
                    Column("end"),
                    Column("duration", "right"),
                    Column("description"),
                    Column("applies_to"),
                    Column("declared_by"),
                ),
                maint_rows,
                empty=Msg("empty.no_maintenance"),
            ),
        ),
    )


def _latency(ctx: ReportContext, targets: list[TargetInfo]) -> Section:
    rtt = ctx.source.dists("rtt", ctx.period)
    loss = ctx.source.dists("loss", ctx.period)
    rows = []
    for t in targets:
        r = next((v for (tn, _), v in rtt.items() if tn == t.name), None)
        lo = next((v for (tn, _), v in loss.items() if tn == t.name), None)
        if r is None and lo is None:
            continue
        rk, lk = DIST_KINDS["rtt"], DIST_KINDS["loss"]
        rows.append(
            (
                t.name,
                Num(r.sum / r.n * 1000 if r and r.n else None, 2, "ms"),
                Num(_ms(quantile(r.hist, 0.95, rk, r.min, r.max)) if r else None, 2, "ms"),
                Num(r.max * 1000 if r and r.n else None, 2, "ms"),
                Pct(lo.sum / lo.n if lo and lo.n else None),
                Pct(quantile(lo.hist, 0.95, lk, lo.min, lo.max) if lo else None),
                Pct(lo.max if lo and lo.n else None),
            )
        )
    cols = (
        Column("device"),
        Column("rtt_mean", "right"),
        Column("rtt_p95", "right"),
        Column("rtt_max", "right"),
        Column("loss_mean", "right"),
        Column("loss_p95", "right"),
        Column("loss_max", "right"),
    )
    return Section(
        "latency",
        "network.latency",
        (Msg("network.latency_intro"),),
        (Table("latency", cols, rows, empty=Msg("empty.no_icmp")),),
    )


def _added_removed(ctx: ReportContext, targets: list[TargetInfo]) -> Table:
    seen = ctx.availability.seen
    p0, p1 = ctx.period.start, ctx.period.end
    began = min((f for f, _ in seen.values()), default=p0)  # when the history starts
    ended = max((last for _, last in seen.values()), default=p1)
    rows = []
    for t in targets:
        first, last = seen.get(t.name, (p0, p1))
        if first >= p0 and first > began:
            rows.append((t.name, t.site or "—", Msg("changes.added"), Ts(first)))
        if last < p1 - 86400 and last < ended:
            rows.append((t.name, t.site or "—", Msg("changes.removed"), Ts(last)))
    return Table(
        "devices_added_removed",
        (Column("device"), Column("site"), Column("change"), Column("date")),
        rows,
        empty=Msg("empty.no_device_changes"),
    )


def _pc(ratio: float | None) -> float | None:
    return None if ratio is None else ratio * 100


def _ms(v: float | None) -> float | None:
    return None if v is None else v * 1000
