"""Reporte de estado de servidores y tamaño de las bases de datos (REPORTS.md §2)."""

from __future__ import annotations

from monitord.history import DIST_KINDS, DistAcc, quantile
from monitord.history.db import TableSizeRow
from monitord.reports.availability import Availability
from monitord.reports.common import (
    SERVER_KINDS,
    WEB_KINDS,
    ReportContext,
    assemble,
    light,
    since,
)
from monitord.reports.model import (
    Bytes,
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
from monitord.reports.store import GaugeStat, TargetInfo

__all__ = ["FsStat", "backups", "build_servers", "filesystems", "server_kpis"]

LARGEST_TABLES = 10  # per database server in the document (the CSV has every table kept)
BACKUP_MAX_AGE = 26 * 3600.0  # a daily copy, with two hours of slack
MIN_PROJECTION_DAYS = 3.0  # no days-to-full from fewer days of readings


class FsStat:
    """A filesystem over the month: size, use at the end, growth and projected days to full."""

    def __init__(self, used: GaugeStat, size: GaugeStat | None, avail: GaugeStat | None) -> None:
        self.target, self.mount = used.target, used.object
        self.size = size.last if size else None
        self.used = used.last
        self.avail = avail.last if avail else (self.size - self.used if self.size else None)
        self.growth = used.last - used.first
        self.span = used.last_ts - used.first_ts  # seconds of readings behind the rate
        self.rate = self.growth / self.span if self.span > 0 else 0.0  # bytes per second
        base = (self.used + self.avail) if self.avail is not None else self.size
        self.use = self.used / base if base else None

    @property
    def projectable(self) -> bool:
        """Enough readings (`MIN_PROJECTION_DAYS`) to extrapolate the growth."""
        return self.span >= MIN_PROJECTION_DAYS * 86400.0

    @property
    def days_to_full(self) -> float | None:
        """Days until full at the month's growth rate (None: not growing or too little data)."""
        if not self.projectable or self.rate <= 0 or self.avail is None:
            return None
        return self.avail / self.rate / 86400.0

    def projection(self) -> Value:
        """The days-to-full cell: a figure, or why there is none."""
        if not self.projectable:
            return Msg("servers.projection_short", {"days": Num(self.span / 86400.0, 1)})
        d = self.days_to_full
        return Num(d, 0, "days") if d is not None else Msg("words.not_growing")

    def basis(self) -> Value:
        """What the projection rests on: days of readings and growth per day."""
        if not self.projectable:
            return "—"
        return Msg(
            "servers.projection_basis",
            {"days": Num(self.span / 86400.0, 1), "rate": Bytes(self.rate * 86400.0)},
        )


def filesystems(ctx: ReportContext) -> list[FsStat]:
    """Every filesystem seen in the month."""
    gs = ctx.source.gauges(("fs_used", "fs_size", "fs_avail"), ctx.period)
    by = {(g.target, g.object, g.kind): g for g in gs}
    return sorted(
        (
            FsStat(
                g, by.get((g.target, g.object, "fs_size")), by.get((g.target, g.object, "fs_avail"))
            )
            for g in gs
            if g.kind == "fs_used"
        ),
        key=lambda f: (f.target, f.mount),
    )


def backups(ctx: ReportContext) -> list[tuple[str, str, float, float | None, str]]:
    """(target, policy, last copy ts, size, state) from the backup gauges.

    A copy is "ok" when younger than the backup's own policy (the agent's
    monitord_backup_max_age_seconds), else than `reports.targets.backup_max_age_hours`.
    """
    gs = ctx.source.gauges(("backup_ts", "backup_size", "backup_max_age"), ctx.period)
    sizes = {(g.target, g.object): g.last for g in gs if g.kind == "backup_size"}
    policy = {(g.target, g.object): g.last for g in gs if g.kind == "backup_max_age"}
    default = ctx.config.targets.backup_max_age_hours * 3600
    end = min(ctx.period.end, ctx.generated)
    out = []
    for g in sorted((g for g in gs if g.kind == "backup_ts"), key=lambda g: (g.target, g.object)):
        age = end - g.last
        state = "ok" if age <= policy.get((g.target, g.object), default) else "overdue"
        if g.last <= 0:
            state = "missing"
        out.append((g.target, g.object, g.last, sizes.get((g.target, g.object)), state))
    return out


def server_kpis(ctx: ReportContext) -> dict[str, float | int | None]:
    """Availability of critical servers, storage under threshold, backups up to date."""
    av = ctx.availability
    crit = [d for t in ctx.of_kinds(SERVER_KINDS) if t.critical and (d := av.device(t.name))]
    ratios = [d.ratio for d in crit if d.ratio is not None]
    fss = filesystems(ctx)
    limit = ctx.config.targets.filesystem_use / 100
    measured = [f for f in fss if f.use is not None]
    bk = backups(ctx)
    return {
        "critical_availability": sum(ratios) / len(ratios) if ratios else None,
        "critical_servers": len(ratios),
        "fs_under": sum(1 for f in measured if (f.use or 0) < limit),
        "fs_total": len(measured),
        "backups_ok": sum(1 for b in bk if b[4] == "ok"),
        "backups_total": len(bk),
    }


def build_servers(ctx: ReportContext) -> Report:
    """Build the servers and databases report."""
    av = ctx.availability
    servers = ctx.of_kinds(SERVER_KINDS)
    cfg = ctx.config.targets
    devices = [(t, av.device(t.name)) for t in servers]
    ratios = [d.ratio for _, d in devices if d is not None and d.ratio is not None]
    mean = sum(ratios) / len(ratios) if ratios else None
    incidents = sum(d.incidents for _, d in devices if d is not None)
    summary = (
        [
            Msg(
                "summary.servers",
                {
                    "servers": Num(len(servers)),
                    "availability": Pct(mean),
                    "incidents": Num(incidents),
                    "meta": Pct(cfg.server_availability / 100),
                },
            )
        ]
        if servers
        else [Msg("summary.no_data")]
    )
    fss = filesystems(ctx)
    recs = _recommendations(ctx, servers, fss)
    sections = (
        _status(ctx, servers),
        _filesystems(ctx, fss),
        _databases(ctx),
        _backups(ctx),
        Section(
            "recommendations",
            "servers.recommendations",
            tuple(recs),
            empty=None if recs else Msg("empty.no_recommendations"),
        ),
        Section(
            "methodology",
            "methodology",
            (
                Msg("method.availability"),
                Msg("method.precision"),
                Msg("method.cpu"),
                Msg("method.fs_growth"),
            ),
        ),
    )
    return assemble(ctx, "servers", tuple(summary), sections, scope_targets=servers)


def _services(
    ctx: ReportContext,
    target: str,
    collectors: list[Availability],
    units: dict[tuple[str, str, str], DistAcc],
    intervals: dict[str, float],
) -> list[tuple[Value, ...]]:
    """The server's real services: its systemd units / Windows services (the agent's
    monitord_service_up: share of polls running), its database and its web portal (their
    collectors' availability: those whose class declares `service`). monitord's own probes
    (host, tcp, agent) are not services."""
    rows: list[tuple[Value, ...]] = []
    for (t, col, name), d in sorted(units.items()):
        if t == target and d.n:
            # time down: the readings that found it stopped, one poll interval each; the
            # readings hold no transitions, so its incidents are not counted ("—")
            iv = intervals.get(col, 0.0)
            down = Dur((d.n - d.sum) * iv) if iv > 0 else "—"
            rows.append(
                (target, name, Msg("service_kind.unit"), Pct(d.sum / d.n, 3), "—", down, Num(d.n))
            )
    for a in collectors:
        kind = ctx.service(a.collector)
        if not kind:
            continue
        rows.append(
            (
                target,
                Msg(f"service_kind.{kind}_name", {"collector": a.collector}),
                Msg(f"service_kind.{kind}"),
                Pct(a.ratio, 3),
                Num(a.incidents),
                Dur(a.down),
                Num(a.polls),
            )
        )
    return rows


def _status(ctx: ReportContext, servers: list[TargetInfo]) -> Section:
    av = ctx.availability
    cfg = ctx.config.targets
    cpu = ctx.source.dists("cpu", ctx.period)
    mem = ctx.source.dists("mem", ctx.period)
    lk = DIST_KINDS["cpu"]
    rows, cpu_rows, svc_rows = [], [], []
    units = ctx.source.dists_by_object("service_up", ctx.period)
    for t in servers:
        d = av.device(t.name)
        assert d is not None
        restarts = sum(a.restarts for (n, _), a in av.pairs.items() if n == t.name)
        uptime = next(
            (a.uptime for (n, _), a in av.pairs.items() if n == t.name and a.uptime), None
        )
        rows.append(
            (
                t.name,
                t.site or "—",
                Pct(d.ratio, 3),
                Num(d.incidents),
                Dur(d.down),
                Num(restarts),
                Dur(uptime),
                since(ctx, d),
                Pct(d.coverage, 1),
                Pct(d.coverage_month, 1),
                light(
                    None if d.ratio is None else d.ratio * 100,
                    cfg.server_availability,
                    cfg.yellow_margin,
                ),
            )
        )
        c = next((v for (n, _), v in cpu.items() if n == t.name), None)
        m = next((v for (n, _), v in mem.items() if n == t.name), None)
        if c is not None or m is not None:
            cpu_rows.append(
                (
                    t.name,
                    Pct(c.sum / c.n if c and c.n else None, 1),
                    Pct(quantile(c.hist, 0.95, lk, c.min, c.max) if c else None, 1),
                    Pct(c.max if c and c.n else None, 1),
                    Pct(m.sum / m.n if m and m.n else None, 1),
                    Pct(quantile(m.hist, 0.95, lk, m.min, m.max) if m else None, 1),
                    Pct(m.max if m and m.n else None, 1),
                )
            )
        every = {c: a.interval for (n, c), a in av.pairs.items() if n == t.name}
        svc_rows.extend(_services(ctx, t.name, av.services(t.name), units, every))
    # web portals watched as targets of their own (kind website): their HTTP check is the
    # service citizens see, and IND-03 (web availability) is verified against this table
    for t in ctx.of_kinds(WEB_KINDS):
        w = av.device(t.name)
        if w is not None and w.polls:
            name = Msg("service_kind.web_name", {"collector": w.collector})
            svc_rows.append(
                (t.name, name, Msg("service_kind.web"), Pct(w.ratio, 3), Num(w.incidents),
                 Dur(w.down), Num(w.polls))
            )  # fmt: skip
    return Section(
        "status",
        "servers.status",
        (Msg("servers.status_intro"),),
        (
            Table(
                "server_availability",
                (
                    Column("server"),
                    Column("site"),
                    Column("availability", "right"),
                    Column("incidents", "right"),
                    Column("downtime", "right"),
                    Column("reboots", "right"),
                    Column("uptime", "right"),
                    Column("monitored_since"),
                    Column("coverage", "right"),
                    Column("coverage_month", "right"),
                    Column("light", "center"),
                ),
                rows,
                empty=Msg("empty.no_servers"),
            ),
            Table(
                "server_resources",
                (
                    Column("server"),
                    Column("cpu_mean", "right"),
                    Column("cpu_p95", "right"),
                    Column("cpu_max", "right"),
                    Column("mem_mean", "right"),
                    Column("mem_p95", "right"),
                    Column("mem_max", "right"),
                ),
                cpu_rows,
                empty=Msg("empty.no_host_data"),
            ),
            Table(
                "services",
                (
                    Column("server"),
                    Column("service"),
                    Column("service_kind"),
                    Column("availability", "right"),
                    Column("incidents", "right"),
                    Column("downtime", "right"),
                    Column("polls", "right"),
                ),
                svc_rows,
                empty=Msg("empty.no_services"),
            ),
        ),
    )


def _filesystems(ctx: ReportContext, fss: list[FsStat]) -> Section:
    cfg = ctx.config.targets
    rows = [
        (
            f.target,
            f.mount,
            Bytes(f.size),
            Bytes(f.used),
            Pct(f.use, 1),
            Bytes(f.growth),
            f.projection(),
            f.basis(),
            light(None if f.use is None else f.use * 100, cfg.filesystem_use, 10.0, False),
        )
        for f in fss
    ]
    return Section(
        "filesystems",
        "servers.filesystems",
        (Msg("servers.fs_intro"),),
        (
            Table(
                "filesystems",
                (
                    Column("server"),
                    Column("mountpoint"),
                    Column("size", "right"),
                    Column("used", "right"),
                    Column("use", "right"),
                    Column("growth", "right"),
                    Column("days_to_full", "right"),
                    Column("projection_basis", width=1.8),
                    Column("light", "center"),
                ),
                rows,
                empty=Msg("empty.no_filesystems"),
            ),
        ),
    )


def _db_servers(ctx: ReportContext) -> Table:
    """Engine, version and peak connections against the maximum, per database server."""
    gs = ctx.source.gauges(("db_connections", "db_connections_max"), ctx.period)
    by: dict[tuple[str, str], dict[str, GaugeStat]] = {}
    for g in gs:
        by.setdefault((g.target, g.collector), {})[g.kind] = g
    rows = []
    for (target, col), kinds in sorted(by.items()):
        conn, top = kinds.get("db_connections"), kinds.get("db_connections_max")
        meta = conn.meta if conn is not None else {}
        peak = conn.max if conn is not None else None
        limit = top.last if top is not None else None
        rows.append(
            (
                target,
                meta.get("engine") or col,
                meta.get("version") or "—",
                Num(peak),
                Num(limit),
                Pct(peak / limit if peak is not None and limit else None, 1),
            )
        )
    return Table(
        "database_servers",
        (
            Column("server"),
            Column("engine"),
            Column("version", width=1.8),
            Column("connections_peak", "right"),
            Column("connections_max", "right"),
            Column("connections_use", "right"),
        ),
        rows,
        empty=Msg("empty.no_db_servers"),
    )


def _databases(ctx: ReportContext) -> Section:
    gs = sorted(ctx.source.gauges(("db_size",), ctx.period), key=lambda g: (g.target, g.object))
    rows = [
        (
            g.target,
            g.object,
            Bytes(g.first),
            Bytes(g.last),
            Bytes(g.last - g.first),
            Pct((g.last - g.first) / g.first if g.first else None, 1),
            Bytes(g.max),
        )
        for g in gs
    ]
    return Section(
        "databases",
        "servers.databases",
        (Msg("servers.db_intro"),),
        (
            _db_servers(ctx),
            Table(
                "database_sizes",
                (
                    Column("server"),
                    Column("database"),
                    Column("size_start", "right"),
                    Column("size_end", "right"),
                    Column("growth", "right"),
                    Column("growth_pct", "right"),
                    Column("size_max", "right"),
                ),
                rows,
                empty=Msg("empty.no_databases"),
            ),
            _largest_tables(ctx),
        ),
    )


def _largest_tables(ctx: ReportContext) -> Table:
    """The largest tables of each database server: size at the month's last daily
    snapshot, and growth since its first one (when the month has two snapshots)."""
    snaps = ctx.source.table_sizes(ctx.period)
    columns = (
        Column("server"),
        Column("database"),
        Column("table", width=1.8),
        Column("rows_estimate", "right"),
        Column("size_start", "right"),
        Column("size_end", "right"),
        Column("growth", "right"),
        Column("growth_pct", "right"),
    )
    if snaps is None:
        return Table("largest_tables", columns, [], empty=Msg("empty.tables_not_held"))
    by: dict[tuple[str, str], dict[int, list[TableSizeRow]]] = {}
    for r in snaps:
        by.setdefault((r.target, r.collector), {}).setdefault(r.day, []).append(r)
    shown: list[tuple[Value, ...]] = []
    every: list[tuple[Value, ...]] = []
    for (target, _), days in sorted(by.items()):
        first_day, last_day = min(days), max(days)
        start = {(t.database, t.schema, t.name): t.bytes for t in days[first_day]}
        last = sorted(days[last_day], key=lambda t: (-t.bytes, t.database, t.schema, t.name))
        for k, t in enumerate(last):
            before = start.get((t.database, t.schema, t.name)) if first_day < last_day else None
            row: tuple[Value, ...] = (
                target,
                t.database,
                f"{t.schema}.{t.name}" if t.schema else t.name,
                Num(t.rows),
                Bytes(before),
                Bytes(t.bytes),
                Bytes(t.bytes - before if before is not None else None),
                Pct((t.bytes - before) / before if before else None, 1),
            )
            every.append(row)
            if k < LARGEST_TABLES:
                shown.append(row)
    return Table(
        "largest_tables",
        columns,
        shown,
        note=Msg("servers.tables_note", {"n": LARGEST_TABLES}),
        empty=Msg("empty.no_table_sizes"),
        total_rows=len(every),
        csv_rows=every,
    )


def _backups(ctx: ReportContext) -> Section:
    bk = backups(ctx)
    if not bk:
        return Section("backups", "servers.backups", empty=Msg("empty.no_backups"))
    end = min(ctx.period.end, ctx.generated)
    rows = [
        (t, p, Ts(ts), Dur(end - ts), Bytes(size), Msg(f"backup.{state}"))
        for t, p, ts, size, state in bk
    ]
    return Section(
        "backups",
        "servers.backups",
        (Msg("servers.backups_intro"),),
        (
            Table(
                "backups",
                (
                    Column("server"),
                    Column("policy"),
                    Column("last_copy"),
                    Column("age", "right"),
                    Column("size", "right"),
                    Column("state"),
                ),
                rows,
            ),
        ),
    )


def _recommendations(ctx: ReportContext, servers: list[TargetInfo], fss: list[FsStat]) -> list[Msg]:
    cfg = ctx.config.targets
    out: list[Msg] = []
    for f in fss:
        days = f.days_to_full
        if days is not None and days <= cfg.days_to_full_warning:
            out.append(
                Msg("rec.fs_full", {"server": f.target, "mount": f.mount, "days": Num(days, 0)})
            )
        elif f.use is not None and f.use * 100 >= cfg.filesystem_use:
            out.append(
                Msg("rec.fs_use", {"server": f.target, "mount": f.mount, "use": Pct(f.use, 1)})
            )
    for g in ctx.source.gauges(("db_size",), ctx.period):
        if g.first > 0 and (g.last - g.first) / g.first >= 0.2:
            out.append(
                Msg(
                    "rec.db_growth",
                    {
                        "server": g.target,
                        "database": g.object,
                        "growth": Pct((g.last - g.first) / g.first, 1),
                    },
                )
            )
    cpu = ctx.source.dists("cpu", ctx.period)
    for (name, _), c in sorted(cpu.items()):
        p95 = quantile(c.hist, 0.95, DIST_KINDS["cpu"], c.min, c.max)
        if p95 is not None and p95 >= 0.9:
            out.append(Msg("rec.cpu", {"server": name, "p95": Pct(p95, 1)}))
    for b in backups(ctx):
        if b[4] != "ok":
            out.append(Msg("rec.backup", {"server": b[0], "policy": b[1]}))
    return out
