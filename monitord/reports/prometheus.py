"""The reports' data from a Prometheus-compatible HTTP API (`--source prometheus --url`).

For deployments whose history lives in Prometheus, Thanos or Mimir scraping monitord.
Reads, over the month, the raw samples of monitord's own series with range-vector
instant queries (`/api/v1/query?query=metric[2678400s]&time=<end>`), then computes in
Python what the SQLite history keeps as rollups:

- reachability from `monitord_target_up{target,collector}` (the runner's own series):
  one "poll" per stored sample; an outage runs from the first 0 sample to the next 1
  (precision = the scrape interval, which the report states as the poll interval);
- every other series by the roles the collectors declare (`collectors`, handed in by the
  wiring; the same `RoleIndex` the recorder uses), never by a name written here:
  distributions (DISTRIBUTION: RTT, loss, CPU; with `per`: memory used / total; per
  object: a service's share of polls running; COUNTER_DISTRIBUTION: failed logins),
  daily gauges (DAILY_GAUGE: filesystems, database sizes) as first / last / min / max,
  interfaces from the INTERFACE_COUNTER raw counters (a decrease is a reset),
  INTERFACE_STATUS, INTERFACE_SPEED and INTERFACE_INFO{ifalias}; WAN links as in the
  recorder (targets tagged wan/uplink/internet, ifAlias matching the regex). A series
  read back carries no `collector` label: it is the first collector declaring it.

What Prometheus does not hold (alert events, inventory snapshots, security findings,
recorder sessions) is returned empty, and the reports say "Sin datos" for it.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import replace as dc_replace
from datetime import datetime
from typing import Any

from monitord.contract import CollectorTraits, RoleIndex, metric_owners
from monitord.errors import HistoryError
from monitord.history import (
    DEFAULT_WAN_ALIAS,
    DIST_KINDS,
    SLOT,
    WAN_TAGS,
    DistAcc,
    HistKind,
    IfaceAcc,
    iface_object,
)
from monitord.history.db import (
    AlertEvent,
    Delivery,
    InventorySnapshot,
    StoredEvent,
    StoredFinding,
    TableSizeRow,
)
from monitord.reports.period import Interval, Period, union
from monitord.reports.store import (
    DeviceEventRow,
    GaugeStat,
    IfaceDay,
    IfaceStat,
    PollSummary,
    TargetInfo,
    distinct_names,
)
from monitord.state import EventKind

__all__ = ["PrometheusSource"]

Samples = list[tuple[float, float]]
_LOOKBACK = 400 * 86400
_TARGET_UP = "monitord_target_up"  # the runner's own series (monitord.runner)
_TARGET_INFO = "monitord_target_info"  # the exporter's own series


class PrometheusSource:
    """`Source` over a Prometheus HTTP API (see the module docstring)."""

    def __init__(
        self,
        url: str,
        timeout: float = 120.0,
        wan_alias: str = DEFAULT_WAN_ALIAS,
        configured: Mapping[str, TargetInfo] | None = None,
        collectors: Mapping[str, CollectorTraits] | None = None,
    ):
        self.url = url.rstrip("/")
        # what the collectors declare: which series to read, and whose they are
        traits = dict(collectors or {})
        self.roles = RoleIndex.of(s for t in traits.values() for s in t.specs)
        self.owners = metric_owners(traits)
        # the configured targets: parent, critical and tags that the info series lacks
        self.configured = dict(configured or {})
        self.timeout = timeout
        self.wan_alias = re.compile(wan_alias)
        self._cache: dict[tuple[str, float, float], list[tuple[dict[str, str], Samples]]] = {}
        self._targets: dict[str, TargetInfo] | None = None

    # --- Source -------------------------------------------------------------------

    def targets(self) -> dict[str, TargetInfo]:
        """Targets from `monitord_target_info` over the last 400 days."""
        if self._targets is None:
            rows = self._query(f"last_over_time({_TARGET_INFO}[{_LOOKBACK}s])", None)
            self._targets = {}
            for labels, _ in rows:
                name = labels.get("target", "")
                if name:
                    self._targets[name] = TargetInfo(
                        name,
                        labels.get("address", ""),
                        labels.get("kind", "other"),
                        labels.get("site", ""),
                        labels.get("parent") or None,
                        labels.get("critical") in ("1", "true"),
                        tuple(t for t in labels.get("tags", "").split(",") if t),
                    )
            for name, conf in self.configured.items():
                got = self._targets.get(name)
                if got is not None:
                    self._targets[name] = dc_replace(
                        got,
                        parent=got.parent or conf.parent,
                        critical=got.critical or conf.critical,
                        tags=got.tags or conf.tags,
                    )
        return self._targets

    def sessions(self, start: float, end: float) -> list[Interval] | None:
        """Prometheus cannot tell when monitord ran (coverage comes from the samples)."""
        return None

    def poll_summary(self, start: float, end: float) -> list[PollSummary]:
        """One poll per stored `monitord_target_up` sample."""
        out = []
        for labels, samples in self._raw(_TARGET_UP, start, end):
            if not samples:
                continue
            ts = [t for t, _ in samples]
            gaps = sorted(b - a for a, b in itertools.pairwise(ts)) or [60.0]
            interval = gaps[len(gaps) // 2]
            hours = union([(h, h + 3600.0) for h in sorted({int(t // 3600) * 3600.0 for t in ts})])
            out.append(
                PollSummary(
                    labels.get("target", ""),
                    labels.get("collector", ""),
                    len(samples),
                    sum(1 for _, v in samples if v >= 1),
                    interval,
                    0,
                    None,
                    hours,
                )
            )
        return out

    def seen(self) -> dict[str, tuple[float, float]]:
        """Not known beyond the queried month."""
        return {}

    def events(self, start: float, end: float) -> list[StoredEvent]:
        """Transitions of `monitord_target_up` (the first sample counts if it is 0)."""
        out: list[StoredEvent] = []
        n = 0
        for labels, samples in self._raw(_TARGET_UP, start, end):
            prev: float | None = None
            for ts, v in samples:
                up = v >= 1
                if (prev is None and not up) or (prev is not None and (prev >= 1) != up):
                    n += 1
                    kind = EventKind.UP if up else EventKind.DOWN
                    out.append(
                        StoredEvent(
                            n, ts, labels.get("target", ""), labels.get("collector", ""), kind,
                            "" if up else "down", "",
                        )
                    )  # fmt: skip
                prev = v
        return sorted(out, key=lambda e: (e.ts, e.id))

    def dists(self, kind: str, period: Period) -> dict[tuple[str, str], DistAcc]:
        """A distribution over the month per (target, collector)."""
        hk = DIST_KINDS.get(kind, HistKind.LINEAR)
        out: dict[tuple[str, str], DistAcc] = {}
        if kind == "partial":
            # one value per poll in the history; scrapes sample the last poll's gauge, so
            # the share of partial polls cannot be told from Prometheus: not reported
            return out
        p0, p1 = period.start, period.end
        r = self.roles
        for name, (k, per) in r.dist_per.items():
            if k != kind:
                continue
            whole = {lb.get("target", ""): dict(s) for lb, s in self._raw(per, p0, p1)}
            for labels, samples in self._raw(name, p0, p1):
                t = labels.get("target", "")
                tot = whole.get(t, {})
                acc = DistAcc()
                for ts, v in samples:
                    if tot.get(ts, 0) > 0:
                        acc.add(v / tot[ts], hk)
                if acc.n:
                    out[(t, labels.get("collector", self.owners.get(name, "")))] = acc
        for name, k in r.counter_dists.items():
            if k != kind:
                continue
            for labels, samples in self._raw(name, p0, p1):
                col = labels.get("collector", self.owners.get(name, ""))
                acc = out.setdefault((labels.get("target", ""), col), DistAcc())
                for _, _, inc in _deltas(samples):
                    acc.add(inc, hk)
        for name, k in r.dists.items():
            if k != kind:
                continue
            for labels, samples in self._raw(name, p0, p1):
                col = labels.get("collector", self.owners.get(name, ""))
                acc = out.setdefault((labels.get("target", ""), col), DistAcc())
                for _, v in samples:
                    acc.add(v, hk)
        return out

    def dists_by_object(self, kind: str, period: Period) -> dict[tuple[str, str, str], DistAcc]:
        """Per-object distributions (a service's share of polls running): the mean."""
        out: dict[tuple[str, str, str], DistAcc] = {}
        for name, (k, label) in self.roles.object_dists.items():
            if k != kind:
                continue
            col = self.owners.get(name, "")
            for labels, s in self._raw(name, period.start, period.end):
                acc = out.setdefault(
                    (labels.get("target", ""), labels.get("collector", col), labels.get(label, "")),
                    DistAcc(),
                )
                for _, v in s:
                    acc.n += 1
                    acc.sum += v
        return out

    def gauges(self, kinds: Iterable[str], period: Period) -> list[GaugeStat]:
        """First / last / min / max over the month of each gauge object."""
        wanted = set(kinds)
        out = []
        for metric, (kind, label) in self.roles.gauges.items():
            if kind not in wanted:
                continue
            collector = self.owners.get(metric, "")
            for labels, s in self._raw(metric, period.start, period.end):
                if not s:
                    continue
                vals = [v for _, v in s]
                out.append(
                    GaugeStat(
                        labels.get("target", ""), labels.get("collector", collector), kind,
                        labels.get(label, "") if label else "",
                        s[0][1], s[0][0], s[-1][1], s[-1][0], min(vals), max(vals),
                    )
                )  # fmt: skip
        return out

    def ifaces(self, period: Period) -> list[IfaceStat]:
        """Interfaces over the month, from raw counters."""
        return [st for st, _, _ in self._iface_data(period)]

    def wan_days(self, period: Period) -> list[IfaceDay]:
        """Daily traffic of the WAN interfaces."""
        out = []
        for st, days, _ in self._iface_data(period):
            if st.wan:
                for day, (secs, bi, bo, pi, po) in sorted(days.items()):
                    out.append(IfaceDay(st.target, st.ident, day, secs, bi, bo, pi, po))
        return sorted(out, key=lambda d: d.day)

    def wan_slots(self, period: Period) -> dict[tuple[str, str], list[tuple[float, float]]]:
        """5-minute mean rates (in, out) of each WAN interface."""
        out: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for st, _, slots in self._iface_data(period):
            if st.wan:
                out[(st.target, st.ident)] = [
                    (bi / secs, bo / secs) for secs, bi, bo in slots.values() if secs > 0
                ]
        return out

    def alert_events(self, start: float, end: float) -> list[AlertEvent]:
        """Not held by Prometheus."""
        return []

    def deliveries(self, start: float, end: float) -> list[Delivery] | None:
        """Not held by Prometheus."""
        return None

    def table_sizes(self, period: Period) -> list[TableSizeRow] | None:
        """Not held by Prometheus (the largest tables are report data, not series)."""
        return None

    def inventory(self, start: float, end: float) -> dict[str, list[InventorySnapshot]]:
        """Not held by Prometheus."""
        return {}

    def findings(self, start: float, end: float) -> list[StoredFinding]:
        """Not held by Prometheus."""
        return []

    def check_runs(self, start: float, end: float) -> dict[str, list[float]]:
        """Not held by Prometheus."""
        return {}

    def device_events(self, start: float, end: float, kinds: Iterable[str]) -> list[DeviceEventRow]:
        """Device events are not in Prometheus: the receiver keeps them in the history only."""
        return []

    # --- internals ------------------------------------------------------------------

    def _iface_data(
        self, period: Period
    ) -> list[tuple[IfaceStat, dict[int, list[float]], dict[int, list[float]]]]:
        key = ("__ifaces__", period.start, period.end)
        cached = self._cache.get(key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        series: dict[tuple[str, str, str], dict[str, Samples]] = {}
        alias: dict[tuple[str, str, str], str] = {}
        owner: dict[tuple[str, str, str], str] = {}
        r = self.roles
        # the declared series by the field they feed: in_bytes ... (counters), oper_up,
        # speed, info
        wanted = list(r.iface_counters.items())
        wanted += [(n, "oper_up") for n in sorted(r.iface_status)]
        wanted += [(n, "speed") for n in sorted(r.iface_speed)]
        wanted += [(n, "info") for n in sorted(r.iface_info)]
        for metric, name in wanted:
            for labels, smp in self._raw(metric, period.start, period.end):
                k = (labels.get("target", ""), labels.get("ifindex", ""), labels.get("ifname", ""))
                series.setdefault(k, {})[name] = smp
                if name == "in_bytes" or name == "out_bytes":
                    owner.setdefault(k, self.owners.get(metric, ""))
                if name == "info":
                    alias[k] = labels.get("ifalias", "")
        tags = {n: set(t.tags) for n, t in self.targets().items()}
        result = []
        for (target, ifindex, ifname), s in sorted(series.items()):
            if "in_bytes" not in s and "out_bytes" not in s:
                continue
            acc = IfaceAcc()
            days: dict[int, list[float]] = {}
            slots: dict[int, list[float]] = {}
            speed = s.get("speed", [])
            acc.speed = speed[-1][1] if speed else 0.0
            for direction in ("in", "out"):
                for t0, t1, delta in _deltas(s.get(f"{direction}_bytes", [])):
                    dt = t1 - t0
                    rate = delta / dt
                    i = 0 if direction == "in" else 1
                    if direction == "in" or "in_bytes" not in s:
                        acc.secs += dt
                    setattr(acc, f"{direction}_bytes", getattr(acc, f"{direction}_bytes") + delta)
                    peak = f"{direction}_peak"
                    setattr(acc, peak, max(getattr(acc, peak), rate))
                    if acc.speed > 0 and direction == "in" and rate >= 0.8 * acc.speed:
                        acc.busy_secs += dt
                    d = days.setdefault(_day(t1, period), [0.0] * 5)
                    if direction == "in" or "in_bytes" not in s:
                        d[0] += dt
                    d[1 + i] += delta
                    d[3 + i] = max(d[3 + i], rate)
                    sl = slots.setdefault(int(t1 // SLOT) * SLOT, [0.0, 0.0, 0.0])
                    if direction == "in" or "in_bytes" not in s:
                        sl[0] += dt
                    sl[1 + i] += delta
            for name in ("in_errors", "out_errors", "in_discards", "out_discards"):
                setattr(acc, name, sum(d for _, _, d in _deltas(s.get(name, []))))
            oper = s.get("oper_up", [])
            for (t0, v0), (t1, v1) in itertools.pairwise(oper):
                acc.oper_secs += t1 - t0
                acc.up_secs += (t1 - t0) if v1 >= 1 else 0.0
                acc.oper_changes += int((v0 >= 1) != (v1 >= 1))
            al = alias.get((target, ifindex, ifname), "")
            wan = bool(WAN_TAGS & tags.get(target, set())) or bool(al and self.wan_alias.search(al))
            ident = iface_object(ifname, ifindex)
            col = owner.get((target, ifindex, ifname), "")
            st = IfaceStat(target, col, ifname, al, acc, wan, ifindex, ident)
            result.append((st, days, slots))
        names = distinct_names([st for st, _, _ in result])
        result = [(st, d, sl) for st, (_, d, sl) in zip(names, result, strict=True)]
        self._cache[key] = result  # type: ignore[assignment]
        return result

    def _raw(self, metric: str, start: float, end: float) -> list[tuple[dict[str, str], Samples]]:
        key = (metric, start, end)
        if key not in self._cache:
            rng = max(1, math.ceil(end - start))
            rows = self._query(f"{metric}[{rng}s]", end - 0.001)
            self._cache[key] = [(lb, [(t, v) for t, v in s if start <= t < end]) for lb, s in rows]
        return self._cache[key]

    def _query(self, expr: str, at: float | None) -> list[tuple[dict[str, str], Samples]]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        body = urllib.parse.urlencode(params).encode()
        req = urllib.request.Request(
            self.url + "/api/v1/query",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                doc: dict[str, Any] = json.loads(r.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            exc.close()
            raise HistoryError(f"prometheus {self.url}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise HistoryError(f"prometheus {self.url}: {exc}") from None
        if doc.get("status") != "success":
            raise HistoryError(f"prometheus {self.url}: {doc.get('error', 'query failed')}")
        data = doc["data"]
        out: list[tuple[dict[str, str], Samples]] = []
        for item in data["result"]:
            labels = dict(item["metric"])
            if "values" in item:
                out.append((labels, [(float(t), float(v)) for t, v in item["values"]]))
            else:
                t, v = item["value"]
                out.append((labels, [(float(t), float(v))]))
        return out


def _deltas(samples: Samples) -> Iterable[tuple[float, float, float]]:
    """(t0, t1, increase) between consecutive counter samples; a decrease is a reset."""
    for (t0, v0), (t1, v1) in itertools.pairwise(samples):
        if t1 > t0:
            yield t0, t1, (v1 - v0) if v1 >= v0 else v1


def _day(ts: float, period: Period) -> int:
    d = datetime.fromtimestamp(ts - 1e-6, period.tz)
    return d.year * 10000 + d.month * 100 + d.day
