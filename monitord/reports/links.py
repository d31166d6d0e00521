"""The network report's link sections: WAN channels, interfaces, capacity and trend."""

from __future__ import annotations

import math
from collections.abc import Sequence

from monitord.history import iface_parts
from monitord.reports.common import ReportContext
from monitord.reports.model import (
    BarChart,
    BitRate,
    Bytes,
    Column,
    Dur,
    Msg,
    Num,
    Pct,
    Section,
    Table,
)
from monitord.reports.settings import Link
from monitord.reports.store import IfaceStat

__all__ = ["capacity_section", "interfaces_section", "percentile", "wan_section"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (the 95th of 5-minute rates, as carriers bill)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def wan_section(ctx: ReportContext, ifaces: list[IfaceStat]) -> Section:
    wan = sorted((i for i in ifaces if i.wan), key=lambda i: (i.target, i.ifname))
    if not wan:
        return Section("wan", "network.wan", empty=Msg("empty.no_wan"))
    slots = ctx.source.wan_slots(ctx.period)
    days = ctx.source.wan_days(ctx.period)
    labels = tuple(f"{d.day:02d}" for d in ctx.period.days())
    rows, charts = [], []
    for i in wan:
        s = slots.get((i.target, i.ident), [])
        p95_in = percentile([x[0] for x in s], 0.95)
        p95_out = percentile([x[1] for x in s], 0.95)
        a = i.acc
        link = _link(ctx, i)
        # capacity in bytes/s: the contracted bandwidth, else the port speed (said so)
        down, up = _capacity(link, a.speed)  # 0: neither configured nor known
        speed = down or None
        util_in = p95_in / down if p95_in is not None and down else None
        util_out = p95_out / up if p95_out is not None and up else None
        worst = max((u for u in (util_in, util_out) if u is not None), default=None)
        rows.append(
            (
                i.target,
                i.ifname,
                i.alias or "—",
                (link.isp or "—") if link else "—",
                BitRate(speed),
                Msg("capacity.contracted" if link else "capacity.port_speed"),
                BitRate(a.in_bytes / a.secs if a.secs else None),
                BitRate(a.in_peak),
                BitRate(a.out_bytes / a.secs if a.secs else None),
                BitRate(a.out_peak),
                BitRate(p95_in),
                BitRate(p95_out),
                Pct(worst, 1),
            )
        )
        per_day = {d.day % 100: d for d in days if d.target == i.target and d.ifname == i.ident}
        ins = tuple(
            per_day[n].in_bytes / per_day[n].secs if n in per_day and per_day[n].secs else None
            for n in range(1, len(labels) + 1)
        )
        outs = tuple(
            per_day[n].out_bytes / per_day[n].secs if n in per_day and per_day[n].secs else None
            for n in range(1, len(labels) + 1)
        )
        charts.append(
            BarChart(
                f"wan-{i.target}-{i.ident}",
                Msg("charts.wan_daily", {"device": i.target, "interface": i.ifname}),
                labels,
                (("series.in_mean", ins), ("series.out_mean", outs)),
                "bitrate",
                speed,
                Msg("series.capacity") if speed else None,
            )
        )
    cols = (
        Column("device"),
        Column("interface"),
        Column("alias"),
        Column("isp"),
        Column("capacity", "right"),
        Column("capacity_basis"),
        Column("in_mean", "right"),
        Column("in_peak", "right"),
        Column("out_mean", "right"),
        Column("out_peak", "right"),
        Column("in_p95", "right"),
        Column("out_p95", "right"),
        Column("utilization_p95", "right"),
    )
    return Section(
        "wan",
        "network.wan",
        (Msg("network.wan_intro"),),
        (
            # the full table is the CSV; the document prints it in two tables that fit the
            # page: the link (provider, capacity and its basis) and its traffic
            Table("wan", cols, rows, csv_only=True),
            Table(
                "wan_links",
                tuple(cols[i] for i in (0, 1, 2, 3, 4, 5)),
                [tuple(r[i] for i in (0, 1, 2, 3, 4, 5)) for r in rows],
                note=Msg("network.wan_note"),
                csv=False,
            ),
            Table(
                "wan_traffic",
                tuple(cols[i] for i in (0, 1, *range(6, 13))),
                [tuple(r[i] for i in (0, 1, *range(6, 13))) for r in rows],
                csv=False,
            ),
        ),
        tuple(charts),
    )


def interfaces_section(ctx: ReportContext, ifaces: list[IfaceStat]) -> Section:
    n = ctx.config.top_n
    util = [(i, _util(i)) for i in ifaces if i.acc.speed > 0 and i.acc.secs > 0]
    util.sort(key=lambda x: -(x[1] or 0.0))
    top = [
        (
            i.target,
            i.ifname,
            i.alias or "—",
            BitRate(i.acc.speed),
            Pct(u, 1),
            Pct(max(i.acc.in_peak, i.acc.out_peak) / i.acc.speed, 1),
            Bytes(i.acc.in_bytes),
            Bytes(i.acc.out_bytes),
        )
        for i, u in util[:n]
    ]
    errs = sorted(
        (
            i
            for i in ifaces
            if i.acc.in_errors + i.acc.out_errors + i.acc.in_discards + i.acc.out_discards > 0
        ),
        key=lambda i: (
            -(i.acc.in_errors + i.acc.out_errors + i.acc.in_discards + i.acc.out_discards)
        ),
    )
    err_rows = [
        (
            i.target,
            i.ifname,
            Num(round(i.acc.in_errors)),
            Num(round(i.acc.out_errors)),
            Num(round(i.acc.in_discards)),
            Num(round(i.acc.out_discards)),
        )
        for i in errs[:n]
    ]
    down = sorted(
        (
            i
            for i in ifaces
            if i.acc.oper_changes > 0 or (i.wan and i.acc.up_secs < i.acc.oper_secs)
        ),
        key=lambda i: (-i.acc.oper_changes, i.target, i.ifname),
    )
    down_rows = [
        (
            i.target,
            i.ifname,
            i.alias or "—",
            Num(i.acc.oper_changes),
            Dur(i.acc.oper_secs - i.acc.up_secs),
            Pct(i.acc.up_secs / i.acc.oper_secs if i.acc.oper_secs else None),
            Msg("words.yes" if i.wan else "words.no"),
        )
        for i in down[:n]
    ]
    return Section(
        "interfaces",
        "network.interfaces",
        (Msg("network.interfaces_intro", {"n": n}),),
        (
            Table(
                "top_utilization",
                (
                    Column("device"),
                    Column("interface"),
                    Column("alias"),
                    Column("capacity", "right"),
                    Column("utilization_mean", "right"),
                    Column("utilization_peak", "right"),
                    Column("traffic_in", "right"),
                    Column("traffic_out", "right"),
                ),
                top,
                total_rows=len(util),
                empty=Msg("empty.no_interfaces"),
            ),
            Table(
                "errors",
                (
                    Column("device"),
                    Column("interface"),
                    Column("in_errors", "right"),
                    Column("out_errors", "right"),
                    Column("in_discards", "right"),
                    Column("out_discards", "right"),
                ),
                err_rows,
                total_rows=len(errs),
                empty=Msg("empty.no_errors"),
            ),
            Table(
                "interfaces_down",
                (
                    Column("device"),
                    Column("interface"),
                    Column("alias"),
                    Column("changes", "right"),
                    Column("time_down", "right"),
                    Column("time_up", "right"),
                    Column("uplink", "center"),
                ),
                down_rows,
                total_rows=len(down),
                empty=Msg("empty.no_flaps"),
            ),
        ),
    )


def capacity_section(ctx: ReportContext, ifaces: list[IfaceStat]) -> Section:
    limit = ctx.config.targets.link_utilization / 100
    slots = ctx.source.wan_slots(ctx.period)
    rows = []
    for i in sorted(ifaces, key=lambda i: (i.target, i.ifname)):
        a = i.acc
        link = _link(ctx, i)
        if (a.speed <= 0 and link is None) or a.secs <= 0:
            continue
        s = slots.get((i.target, i.ident))
        if s:
            # against the contracted bandwidth when the link has one (as the WAN table)
            down, up = _capacity(link, a.speed)
            p95_in = percentile([x[0] for x in s], 0.95) or 0
            p95_out = percentile([x[1] for x in s], 0.95) or 0
            worst = max(p95_in / down, p95_out / up)
            if worst >= limit:
                basis = "capacity.p95_contracted" if link else "capacity.p95_5m"
                rows.append((i.target, i.ifname, Pct(worst, 1), Msg(basis)))
        elif a.busy_secs / a.secs >= 0.05:
            rows.append((i.target, i.ifname, Pct(a.busy_secs / a.secs, 1), Msg("capacity.busy")))
    prev = {(i.target, i.ident): i for i in ctx.source.ifaces(ctx.period.shift(-1))}
    growth = []
    for i in ifaces:
        p = prev.get((i.target, i.ident))
        now_b, old_b = (
            i.acc.in_bytes + i.acc.out_bytes,
            (p.acc.in_bytes + p.acc.out_bytes) if p else 0,
        )
        if i.wan or now_b > 0:
            growth.append((i, now_b, old_b if p else None))
    growth.sort(key=lambda g: (not g[0].wan, -g[1]))
    growth_rows = [
        (i.target, i.ifname, Bytes(old), Bytes(now), Pct((now - old) / old if old else None, 1))
        for i, now, old in growth[: ctx.config.top_n]
    ]
    return Section(
        "capacity",
        "network.capacity",
        (Msg("network.capacity_intro", {"limit": Pct(limit, 0)}),),
        (
            Table(
                "capacity_warnings",
                (
                    Column("device"),
                    Column("interface"),
                    Column("utilization_p95", "right"),
                    Column("basis"),
                ),
                rows,
                empty=Msg("empty.no_capacity"),
            ),
            Table(
                "traffic_growth",
                (
                    Column("device"),
                    Column("interface"),
                    Column("traffic_previous", "right"),
                    Column("traffic_month", "right"),
                    Column("growth", "right"),
                ),
                growth_rows,
                empty=Msg("empty.no_interfaces"),
            ),
        ),
    )


def _link(ctx: ReportContext, i: IfaceStat) -> Link | None:
    """The configured link (contracted bandwidth, ISP) of this interface, if any."""
    name = iface_parts(i.ident)[1]
    return next((k for k in ctx.config.links if k.matches(i.target, name, i.ifindex)), None)


def _capacity(link: Link | None, speed: float) -> tuple[float, float]:
    """(down, up) capacity in bytes/s: the contracted bandwidth, else the port speed."""
    if link is None:
        return speed, speed
    return link.contracted_mbps * 1e6 / 8, (
        link.contracted_up_mbps or link.contracted_mbps
    ) * 1e6 / 8


def _util(i: IfaceStat) -> float | None:
    a = i.acc
    if a.secs <= 0 or a.speed <= 0:
        return None
    return max(a.in_bytes, a.out_bytes) / a.secs / a.speed
