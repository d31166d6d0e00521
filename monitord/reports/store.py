"""Reading the history for the reports: month aggregates straight from SQLite.

`HistorySource` is the data source of the report builders; another source (the
Prometheus HTTP API) implements the same methods. Heavy aggregation happens in SQL
(GROUP BY per series over the month), so a month of 500 devices x 48 ports reads in
about a second; the month's rows are streamed from the SQLite cursor
(`History.rows`) and folded as they come, never held as one list.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from monitord.events.store import StoredDeviceEvent as DeviceEventRow
from monitord.events.store import read_device_events
from monitord.history import DistAcc, IfaceAcc, iface_parts
from monitord.history.db import (
    AlertEvent,
    Delivery,
    History,
    InventorySnapshot,
    StoredEvent,
    StoredFinding,
    TableSizeRow,
)
from monitord.reports.period import Interval, Period, union

__all__ = [
    "DeviceEventRow",
    "GaugeStat",
    "HistorySource",
    "IfaceDay",
    "IfaceStat",
    "PollSummary",
    "Source",
    "TargetInfo",
    "distinct_names",
]


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """A target's attributes as last recorded."""

    name: str
    address: str
    kind: str
    site: str
    parent: str | None
    critical: bool
    tags: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class PollSummary:
    """Polls of one (target, collector) over a period, and the hours in which it was polled."""

    target: str
    collector: str
    polls: int
    ok: int
    interval: float
    restarts: int
    uptime: float | None
    hours: list[Interval]


@dataclass(frozen=True, slots=True)
class IfaceStat:
    """One interface over the month (sums and extremes of its days)."""

    target: str
    collector: str
    ifname: str
    alias: str
    acc: IfaceAcc
    wan: bool
    ifindex: str = ""  # the device's interface index
    key: str = ""  # the stored identity (ifIndex:ifName): what lookups and months match on

    @property
    def ident(self) -> str:
        """The identity to match by: `key`, or the name for sources without one."""
        return self.key or self.ifname


@dataclass(frozen=True, slots=True)
class IfaceDay:
    """One interface on one day."""

    target: str
    ifname: str
    day: int
    secs: float
    in_bytes: float
    out_bytes: float
    in_peak: float
    out_peak: float


@dataclass(frozen=True, slots=True)
class GaugeStat:
    """A gauge over the month: first and last readings, extremes."""

    target: str
    collector: str
    kind: str
    object: str
    first: float
    first_ts: float
    last: float
    last_ts: float
    min: float
    max: float
    meta: Mapping[str, str] = field(default_factory=dict, hash=False)  # e.g. issuer, version


def distinct_names(ifaces: list[IfaceStat]) -> list[IfaceStat]:
    """Interfaces of one device sharing a name are shown with their index: "WAN Miniport
    (IP) (ifIndex 5)" and "... (ifIndex 6)" are two rows, never one."""
    seen: dict[tuple[str, str], int] = {}
    for i in ifaces:
        seen[(i.target, i.ifname)] = seen.get((i.target, i.ifname), 0) + 1
    return [
        replace(i, ifname=f"{i.ifname} (ifIndex {i.ifindex})")
        if seen[(i.target, i.ifname)] > 1 and i.ifindex
        else i
        for i in ifaces
    ]


class Source(Protocol):
    """What the report builders read."""

    def targets(self) -> dict[str, TargetInfo]:
        """Every target known to the history."""
        ...

    def sessions(self, start: float, end: float) -> list[Interval] | None:
        """When monitoring ran within [start, end); None when the source cannot tell."""
        ...

    def poll_summary(self, start: float, end: float) -> list[PollSummary]:
        """Poll counts per (target, collector) within [start, end)."""
        ...

    def seen(self) -> dict[str, tuple[float, float]]:
        """First and last poll, per target, over the whole history."""
        ...

    def events(self, start: float, end: float) -> list[StoredEvent]:
        """Events in [start, end), preceded by the last event of each pair before start."""
        ...

    def dists(self, kind: str, period: Period) -> dict[tuple[str, str], DistAcc]:
        """A distribution over the month per (target, collector)."""
        ...

    def dists_by_object(self, kind: str, period: Period) -> dict[tuple[str, str, str], DistAcc]:
        """A distribution over the month per (target, collector, object)."""
        ...

    def gauges(self, kinds: Iterable[str], period: Period) -> list[GaugeStat]:
        """Gauges over the month."""
        ...

    def ifaces(self, period: Period) -> list[IfaceStat]:
        """Interfaces over the month."""
        ...

    def wan_days(self, period: Period) -> list[IfaceDay]:
        """Daily traffic of the WAN interfaces."""
        ...

    def wan_slots(self, period: Period) -> dict[tuple[str, str], list[tuple[float, float]]]:
        """5-minute mean rates (in, out) in bytes/s of each WAN interface (target, ifname)."""
        ...

    def alert_events(self, start: float, end: float) -> list[AlertEvent]:
        """Alert events in [start, end)."""
        ...

    def deliveries(self, start: float, end: float) -> list[Delivery] | None:
        """Notification outcomes of alerts started in [start, end); None: not held."""
        ...

    def inventory(self, start: float, end: float) -> dict[str, list[InventorySnapshot]]:
        """Per target: the last snapshot before start (if any) and those in [start, end)."""
        ...

    def findings(self, start: float, end: float) -> list[StoredFinding]:
        """Security findings seen in [start, end)."""
        ...

    def check_runs(self, start: float, end: float) -> dict[str, list[float]]:
        """When each security check ran in [start, end)."""
        ...

    def device_events(self, start: float, end: float, kinds: Iterable[str]) -> list[DeviceEventRow]:
        """Events the devices sent (traps, syslog) in [start, end), of these kinds."""
        ...

    def table_sizes(self, period: Period) -> list[TableSizeRow] | None:
        """The database servers' largest-tables snapshots of the month's days, oldest
        first; None when the source does not hold them."""
        ...


class HistorySource:
    """`Source` over the SQLite history."""

    def __init__(self, history: History) -> None:
        self.h = history
        self._seen: dict[str, tuple[float, float]] | None = None

    def targets(self) -> dict[str, TargetInfo]:
        """Every target known to the history."""
        rows = self.h.query(
            "SELECT name, address, kind, site, parent, critical, tags, description FROM targets"
        )
        return {
            r[0]: TargetInfo(
                r[0], r[1], r[2], r[3], r[4], bool(r[5]), tuple(json.loads(r[6])), r[7]
            )
            for r in rows
        }

    def sessions(self, start: float, end: float) -> list[Interval] | None:
        """When the rollup recorder ran within [start, end); None if it never ran."""
        if not self.h.query("SELECT 1 FROM sessions LIMIT 1"):
            return None
        rows = self.h.query(
            "SELECT started, last FROM sessions WHERE last > ? AND started < ? ORDER BY started",
            (start, end),
        )
        return [(max(a, start), min(b, end)) for a, b in rows if min(b, end) > max(a, start)]

    def poll_summary(self, start: float, end: float) -> list[PollSummary]:
        """Poll counts per (target, collector) within [start, end), aggregated in SQL."""
        h0 = int(start // 3600) * 3600
        rows = self.h.query(
            "SELECT p.sid, s.target, s.collector, SUM(p.polls), SUM(p.ok), MAX(p.interval), "
            "SUM(p.restarts), COUNT(*), MIN(p.hour), MAX(p.hour) FROM poll_hour p JOIN series s "
            "ON s.id = p.sid WHERE p.hour >= ? AND p.hour < ? AND p.polls > 0 GROUP BY p.sid",
            (h0, end),
        )
        uptimes = dict(
            self.h.query(
                "SELECT p.sid, p.uptime FROM poll_hour p JOIN (SELECT sid, MAX(hour) m "
                "FROM poll_hour WHERE hour >= ? AND hour < ? AND uptime IS NOT NULL "
                "GROUP BY sid) l "
                "ON p.sid = l.sid AND p.hour = l.m",
                (h0, end),
            )
        )
        out = []
        for sid, target, col, polls, ok, interval, restarts, count, first, last in rows:
            if count == (last - first) // 3600 + 1:
                hours: list[Interval] = [(float(first), float(last) + 3600.0)]
            else:
                hours = union(
                    [
                        (float(h), float(h) + 3600.0)
                        for (h,) in self.h.query(
                            "SELECT hour FROM poll_hour WHERE sid = ? AND hour >= ? AND hour < ? "
                            "AND polls > 0",
                            (sid, h0, end),
                        )
                    ]
                )
            out.append(
                PollSummary(target, col, polls, ok, interval, restarts, uptimes.get(sid), hours)
            )
        return out

    def seen(self) -> dict[str, tuple[float, float]]:
        """First and last poll time per target (read once per source)."""
        if self._seen is None:
            rows = self.h.query(
                "SELECT s.target, MIN(p.hour), MAX(p.hour), MIN(p.first_ts), MAX(p.last_ts) "
                "FROM poll_hour p JOIN series s ON s.id = p.sid WHERE p.polls > 0 "
                "GROUP BY s.target"
            )
            # the actual first and last poll; hour bounds only for rows older than them
            self._seen = {
                r[0]: (
                    float(r[3]) if r[3] is not None else float(r[1]),
                    float(r[4]) if r[4] is not None else float(r[2]) + 3600.0,
                )
                for r in rows
            }
        return self._seen

    def events(self, start: float, end: float) -> list[StoredEvent]:
        """Events in [start, end), preceded by the last event of each pair before start."""
        before = self.h.query(
            "SELECT e.id FROM events e JOIN (SELECT target, collector, MAX(ts) m FROM events "
            "WHERE ts < ? GROUP BY target, collector) l ON e.target = l.target AND "
            "e.collector = l.collector AND e.ts = l.m",
            (start,),
        )
        ids = {r[0] for r in before}
        earlier = [e for e in self.h.events(0.0, start) if e.id in ids] if ids else []
        return earlier + self.h.events(start, end)

    def dists(self, kind: str, period: Period) -> dict[tuple[str, str], DistAcc]:
        """A distribution over the month per (target, collector)."""
        out: dict[tuple[str, str], DistAcc] = {}
        for target, col, n, total, lo, hi, hist in self.h.rows(
            "SELECT s.target, s.collector, d.n, d.sum, d.min, d.max, d.hist FROM dist_day d "
            "JOIN series s ON s.id = d.sid WHERE s.kind = ? AND d.day BETWEEN ? AND ?",
            (kind, period.first_day, period.last_day),
        ):
            acc = out.setdefault((target, col), DistAcc())
            acc.merge(DistAcc(n, total, lo, hi, {int(k): v for k, v in json.loads(hist).items()}))
        return out

    def dists_by_object(self, kind: str, period: Period) -> dict[tuple[str, str, str], DistAcc]:
        """A distribution over the month per (target, collector, object)."""
        out: dict[tuple[str, str, str], DistAcc] = {}
        for target, col, obj, n, total, lo, hi, hist in self.h.rows(
            "SELECT s.target, s.collector, s.object, d.n, d.sum, d.min, d.max, d.hist FROM "
            "dist_day d JOIN series s ON s.id = d.sid WHERE s.kind = ? AND d.day BETWEEN ? AND ?",
            (kind, period.first_day, period.last_day),
        ):
            acc = out.setdefault((target, col, obj), DistAcc())
            acc.merge(DistAcc(n, total, lo, hi, {int(k): v for k, v in json.loads(hist).items()}))
        return out

    def gauges(self, kinds: Iterable[str], period: Period) -> list[GaugeStat]:
        """Gauges over the month (first of the first day, last of the last day)."""
        kinds = list(kinds)
        marks = ",".join("?" * len(kinds))
        rows = self.h.rows(
            "SELECT s.target, s.collector, s.kind, s.object, g.first, g.first_ts, g.last, "
            f"g.last_ts, g.min, g.max, s.meta FROM gauge_day g JOIN series s ON s.id = g.sid "
            f"WHERE s.kind IN ({marks}) AND g.day BETWEEN ? AND ? ORDER BY g.sid, g.day",
            (*kinds, period.first_day, period.last_day),
        )
        merged: dict[tuple[str, str, str, str], GaugeStat] = {}
        for r in rows:
            key = (r[0], r[1], r[2], r[3])
            cur = merged.get(key)
            if cur is None:
                meta = json.loads(r[10]) if r[10] else {}
                merged[key] = GaugeStat(
                    r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                    {str(k): str(v) for k, v in meta.items()},
                )  # fmt: skip
            else:
                merged[key] = GaugeStat(
                    *key,
                    cur.first,
                    cur.first_ts,
                    r[6],
                    r[7],
                    min(cur.min, r[8]),
                    max(cur.max, r[9]),
                    cur.meta,
                )
        return list(merged.values())

    def ifaces(self, period: Period) -> list[IfaceStat]:
        """Interfaces over the month, aggregated in SQL."""
        wan = {r[0] for r in self.h.query("SELECT DISTINCT sid FROM rate_5m")}
        rows = self.h.rows(
            "SELECT s.id, s.target, s.collector, s.object, s.meta, SUM(secs), SUM(in_bytes), "
            "SUM(out_bytes), MAX(in_peak), MAX(out_peak), SUM(in_errors), SUM(out_errors), "
            "SUM(in_discards), SUM(out_discards), SUM(oper_secs), SUM(up_secs), "
            "SUM(oper_changes), SUM(busy_secs), MAX(speed) FROM iface_day i JOIN series s ON "
            "s.id = i.sid WHERE i.day BETWEEN ? AND ? GROUP BY s.id",
            (period.first_day, period.last_day),
        )
        out = []
        for r in rows:
            meta = json.loads(r[4])
            ifindex, name = iface_parts(r[3])
            ifindex = ifindex or str(meta.get("ifindex", ""))
            alias = str(meta.get("alias", ""))
            out.append(
                IfaceStat(r[1], r[2], name, alias, IfaceAcc(*r[5:]), r[0] in wan, ifindex, r[3])
            )
        return distinct_names(out)

    def wan_days(self, period: Period) -> list[IfaceDay]:
        """Daily traffic of the WAN interfaces."""
        rows = self.h.rows(
            "SELECT s.target, s.object, i.day, i.secs, i.in_bytes, i.out_bytes, i.in_peak, "
            "i.out_peak FROM iface_day i JOIN series s ON s.id = i.sid WHERE i.sid IN "
            "(SELECT DISTINCT sid FROM rate_5m) AND i.day BETWEEN ? AND ? ORDER BY i.day",
            (period.first_day, period.last_day),
        )
        return [IfaceDay(*r) for r in rows]

    def wan_slots(self, period: Period) -> dict[tuple[str, str], list[tuple[float, float]]]:
        """5-minute mean rates (in, out) in bytes/s per WAN interface."""
        out: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for target, ifname, secs, bin_, bout in self.h.rows(
            "SELECT s.target, s.object, r.secs, r.in_bytes, r.out_bytes FROM rate_5m r JOIN "
            "series s ON s.id = r.sid WHERE r.slot >= ? AND r.slot < ? AND r.secs > 0",
            (period.start, period.end),
        ):
            out.setdefault((target, ifname), []).append((bin_ / secs, bout / secs))
        return out

    def alert_events(self, start: float, end: float) -> list[AlertEvent]:
        """Alert events in [start, end)."""
        return self.h.alert_events(start, end)

    def deliveries(self, start: float, end: float) -> list[Delivery] | None:
        """Notification outcomes recorded by the dispatcher."""
        return self.h.deliveries(start, end)

    def inventory(self, start: float, end: float) -> dict[str, list[InventorySnapshot]]:
        """Per target: the last snapshot before start and those within the period."""
        out: dict[str, list[InventorySnapshot]] = {}
        for name, snap in self.h.latest_inventory(start).items():
            out[name] = [snap]
        for snap in self.h.inventory(end, since=start):
            out.setdefault(snap.target, []).append(snap)
        return out

    def findings(self, start: float, end: float) -> list[StoredFinding]:
        """Security findings seen in [start, end)."""
        return self.h.findings(start, end)

    def device_events(self, start: float, end: float, kinds: Iterable[str]) -> list[DeviceEventRow]:
        """Events the devices sent (table `device_events`) in [start, end), of these kinds."""
        return read_device_events(self.h, start, end, kinds=kinds)

    def check_runs(self, start: float, end: float) -> dict[str, list[float]]:
        """When each security check ran."""
        return self.h.check_runs(start, end)

    def table_sizes(self, period: Period) -> list[TableSizeRow] | None:
        """The largest-tables snapshots of the month (table `table_sizes`)."""
        return self.h.table_sizes(period.first_day, period.last_day)
