"""The recorder: folds each poll into in-memory windows and writes closed ones to SQLite.

What it keeps of a series follows the roles its collector declared (`roles`, a
`monitord.contract.RoleIndex` built from the running collectors' specs); it names no
metric and no collector kind.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from monitord.contract import RoleIndex
from monitord.history.accumulate import (
    BUSY_RATIO,
    DEFAULT_WAN_ALIAS,
    DIST_KINDS,
    SLOT,
    WAN_TAGS,
    Batch,
    DistAcc,
    GaugeAcc,
    HistKind,
    IfaceAcc,
    PollAcc,
    RateAcc,
    SeriesId,
    iface_object,
    iface_parts,
)
from monitord.history.batch import write_batch
from monitord.history.db import History
from monitord.state import GroupView, LabelSet, SeriesValue
from monitord.types import Clock, SystemClock, Target

__all__ = ["RollupRecorder"]

log = logging.getLogger(__name__)

# Bucketing of a distribution kind no built-in report knows (a user profile's): ratios.
_DEFAULT_HIST: Final = HistKind.LINEAR


class RollupRecorder:
    """Accumulates polls (`observe`) and writes closed windows to the history (`flush`).

    Thread-safe: `observe` may run on the event loop while `flush` runs in a worker
    thread (`await asyncio.to_thread(recorder.flush)`).
    """

    def __init__(
        self,
        history: History,
        clock: Clock | None = None,
        tz: str | ZoneInfo = "America/Bogota",
        *,
        window: float = 60.0,
        wan_alias: str | None = DEFAULT_WAN_ALIAS,
        wan_interfaces: Iterable[str] = (),
        max_pending: int = 120,
        roles: RoleIndex | None = None,
    ) -> None:
        self.history = history
        self.roles = roles or RoleIndex()
        self.clock = clock or SystemClock()
        self.tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        self.window = float(window)
        self.wan_alias = re.compile(wan_alias) if wan_alias else None
        self.wan_interfaces = frozenset(wan_interfaces)
        self.max_pending = max_pending
        self.dropped_windows = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._pending: dict[int, Batch] = {}
        # Monotonic time of the last poll that had each interface series, one list per
        # (target, collector, labels) with a slot per series name (`_slots`): an interface's
        # counters share their labels, so this is one entry per interface, not per series.
        self._mono: dict[tuple[str, str, LabelSet], list[float | None]] = {}
        self._slots: dict[str, int] = {}
        self._mono_hit: tuple[object, object, list[float | None]] = (None, None, [])
        self._oper: dict[SeriesId, float] = {}
        self._last_value: dict[tuple[str, str, str, LabelSet], float] = {}
        self._uptime: dict[tuple[str, str], float] = {}
        self._targets: dict[str, Target] = {}
        self._alias: dict[SeriesId, str] = {}
        self._meta: dict[SeriesId, dict[str, str]] = {}
        self._day_cache: tuple[float, float, int] = (0.0, -1.0, 0)
        self._session: int | None = None
        self._started: float | None = None

    # --- observe ---------------------------------------------------------------

    def observe(self, view: GroupView) -> None:
        """Account one poll's outcome (the runner's `on_poll`); in memory only."""
        ts = view.last_poll_ts or self.clock.time()
        with self._lock:
            batch = self._batch(view.target, ts)
            self._observe_polls(batch, view, ts)
            self._observe_series(batch, view, ts, self._day(ts))

    def add_count(self, target: Target, collector: str, kind: str, value: float, ts: float) -> None:
        """Add an increase of a counted distribution (`failed_logins`) that no poll saw."""
        with self._lock:
            batch = self._batch(target, ts)
            sid = (target.name, collector, kind, "")
            self._dist(batch, sid, self._day(ts)).add(value, DIST_KINDS.get(kind, _DEFAULT_HIST))

    def _batch(self, target: Target, ts: float) -> Batch:
        """The open window's batch for `ts` (under the lock); notes a new or changed target."""
        if self._started is None:
            self._started = ts
        batch = self._pending.get(w := int(ts // self.window))
        if batch is None:
            batch = self._pending[w] = Batch()
        if self._targets.get(target.name) != target:
            self._targets[target.name] = target
            batch.targets[target.name] = (target, ts)
        return batch

    def _observe_polls(self, batch: Batch, view: GroupView, ts: float) -> None:
        gk = (view.target.name, view.collector)
        key = ((*gk, "poll", ""), int(ts // 3600) * 3600)
        acc = batch.polls.get(key)
        if acc is None:
            acc = batch.polls[key] = PollAcc()
        acc.polls += 1
        acc.ok += int(view.last_poll_ok)
        acc.first_ts = ts if acc.first_ts is None else min(acc.first_ts, ts)
        acc.last_ts = ts if acc.last_ts is None else max(acc.last_ts, ts)
        acc.interval = view.interval
        if view.last_poll_ok and view.uptime is not None:
            prev = self._uptime.get(gk)
            if prev is not None and view.uptime + 1.0 < prev:
                acc.restarts += 1
            self._uptime[gk] = view.uptime
            acc.uptime = view.uptime

    def _observe_series(self, batch: Batch, view: GroupView, ts: float, day: int) -> None:
        tname, col = view.target.name, view.collector
        roles = self.roles
        fresh = [sv for sv in view.series.values() if sv.ts == view.last_poll_ts]
        ifaces: dict[str, dict[str, SeriesValue]] = {}
        values: dict[str, float] = {}
        maxima: dict[str, float] = {}
        # the interface of a label set, looked up once: an interface's series share one
        iface_of: dict[int, tuple[LabelSet, str | None]] = {}
        for sv in fresh:
            name = sv.name
            values[name] = sv.value
            if name in roles.iface:
                known = iface_of.get(id(sv.labels))
                if known is None or known[0] is not sv.labels:
                    ifname = _label(sv.labels, "ifname")
                    index = _label(sv.labels, "ifindex")
                    obj = None if ifname is None else iface_object(ifname, index)
                    known = iface_of[id(sv.labels)] = (sv.labels, obj)
                if known[1] is not None:
                    ifaces.setdefault(known[1], {})[name] = sv
                continue
            dist = roles.dists.get(name)
            if dist is not None:
                kind = DIST_KINDS.get(dist, _DEFAULT_HIST)
                self._dist(batch, (tname, col, dist, ""), day).add(sv.value, kind)
            dmax = roles.dist_max.get(name)
            if dmax is not None:
                maxima[dmax] = sv.value
            gauge = roles.gauges.get(name)
            if gauge is not None:
                obj = _label(sv.labels, gauge[1]) if gauge[1] else ""
                if obj is not None:
                    self._gauge(batch, (tname, col, gauge[0], obj), day, sv.value, ts)
            cdist = roles.counter_dists.get(name)
            if cdist is not None:
                ckey = (tname, col, name, sv.labels)
                prev = self._last_value.get(ckey)
                self._last_value[ckey] = sv.value
                if prev is not None:
                    inc = sv.value - prev if sv.value >= prev else sv.value
                    kind = DIST_KINDS.get(cdist, _DEFAULT_HIST)
                    self._dist(batch, (tname, col, cdist, ""), day).add(inc, kind)
            info_meta = roles.gauge_meta.get(name)
            if info_meta is not None:
                isid: SeriesId = (tname, col, info_meta[0], "")
                meta = {k: _label(sv.labels, k) or "" for k in info_meta[1]}
                if self._meta.get(isid) != meta:
                    self._meta[isid] = meta
                    batch.meta[isid] = meta
            obj_dist = roles.object_dists.get(name)
            if obj_dist is not None:
                # one distribution per object (a service's share of polls running)
                obj = _label(sv.labels, obj_dist[1])
                if obj is not None:
                    self._dist(batch, (tname, col, obj_dist[0], obj), day).add(
                        sv.value, DIST_KINDS.get(obj_dist[0], _DEFAULT_HIST)
                    )
            age = roles.age_gauges.get(name)
            if age is not None:
                obj = _label(sv.labels, age[1])
                if obj is not None:
                    self._gauge(batch, (tname, col, age[0], obj), day, sv.ts - sv.value, ts)
        for dist, top in maxima.items():
            d = batch.dists.get(((tname, col, dist, ""), day))
            if d is not None:
                d.max = max(d.max, top)
        for name, (dist, per) in roles.dist_per.items():
            if values.get(per, 0) > 0 and name in values:
                ratio = values[name] / values[per]
                kind = DIST_KINDS.get(dist, _DEFAULT_HIST)
                self._dist(batch, (tname, col, dist, ""), day).add(ratio, kind)
        for ifname, series in ifaces.items():
            self._observe_iface(batch, view, ifname, series, ts, day)

    def _observe_iface(
        self,
        batch: Batch,
        view: GroupView,
        ifname: str,
        series: Mapping[str, SeriesValue],
        ts: float,
        day: int,
    ) -> None:
        sid: SeriesId = (view.target.name, view.collector, "if", ifname)
        key = (sid, day)
        acc = batch.ifaces.get(key)
        if acc is None:
            acc = batch.ifaces[key] = IfaceAcc()
        roles = self.roles
        info = next((series[n] for n in roles.iface_info if n in series), None)
        if info is not None:
            alias = _label(info.labels, "ifalias") or ""
            if self._alias.get(sid) != alias:
                self._alias[sid] = alias
                batch.meta[sid] = {"alias": alias, "ifindex": _label(info.labels, "ifindex") or ""}
        speed_sv = next((series[n] for n in roles.iface_speed if n in series), None)
        speed = speed_sv.value if speed_sv is not None else 0.0
        if speed > 0:
            acc.speed = speed
        rates: dict[str, tuple[float, float]] = {}
        for name, field_name in roles.iface_counters.items():
            sv = series.get(name)
            if sv is None:
                continue
            prev = self._last_mono(view, sv)
            if sv.rate is None or prev is None or sv.mono <= prev:
                continue
            dt = sv.mono - prev
            rates[field_name] = (sv.rate, dt)
            setattr(acc, field_name, getattr(acc, field_name) + sv.rate * dt)
        bytes_in, bytes_out = rates.get("in_bytes"), rates.get("out_bytes")
        traffic = bytes_in or bytes_out
        if traffic is not None:
            dt = traffic[1]
            acc.secs += dt
            in_rate = bytes_in[0] if bytes_in else 0.0
            out_rate = bytes_out[0] if bytes_out else 0.0
            acc.in_peak = max(acc.in_peak, in_rate)
            acc.out_peak = max(acc.out_peak, out_rate)
            if speed > 0 and max(in_rate, out_rate) >= BUSY_RATIO * speed:
                acc.busy_secs += dt
            if self._is_wan(view.target, iface_parts(ifname)[1], sid):
                rkey = (sid, int(ts // SLOT) * SLOT)
                r = batch.rates.get(rkey)
                if r is None:
                    r = batch.rates[rkey] = RateAcc()
                r.secs += dt
                r.in_bytes += in_rate * dt
                r.out_bytes += out_rate * dt
        oper = next((series[n] for n in roles.iface_status if n in series), None)
        if oper is not None:
            prev = self._last_mono(view, oper)
            last = self._oper.get(sid)
            self._oper[sid] = oper.value
            if prev is not None and oper.mono > prev:
                dt = oper.mono - prev
                acc.oper_secs += dt
                if oper.value >= 1:
                    acc.up_secs += dt
            if last is not None and (last >= 1) != (oper.value >= 1):
                acc.oper_changes += 1

    def _last_mono(self, view: GroupView, sv: SeriesValue) -> float | None:
        """The series' monotonic time at its previous poll (None at first); notes this one."""
        slot = self._slots.get(sv.name)
        if slot is None:
            slot = self._slots[sv.name] = len(self._slots)
        hit = self._mono_hit  # the series of one interface come one after the other
        if hit[0] is sv.labels and hit[1] is view:
            monos = hit[2]
        else:
            key = (view.target.name, view.collector, sv.labels)
            found = self._mono.get(key)
            if found is None:
                found = self._mono[key] = [None] * len(self._slots)
            monos = found
            self._mono_hit = (sv.labels, view, monos)
        if len(monos) <= slot:
            monos.extend([None] * (len(self._slots) - len(monos)))
        prev, monos[slot] = monos[slot], sv.mono
        return prev

    def _is_wan(self, target: Target, ifname: str, sid: SeriesId) -> bool:
        if WAN_TAGS.intersection(target.tags):
            return True
        if f"{target.name}:{ifname}" in self.wan_interfaces:
            return True
        alias = self._alias.get(sid)
        return bool(alias and self.wan_alias is not None and self.wan_alias.search(alias))

    def _dist(self, batch: Batch, sid: SeriesId, day: int) -> DistAcc:
        acc = batch.dists.get((sid, day))
        if acc is None:
            acc = batch.dists[(sid, day)] = DistAcc()
        return acc

    def _gauge(self, batch: Batch, sid: SeriesId, day: int, value: float, ts: float) -> None:
        acc = batch.gauges.get((sid, day))
        if acc is None:
            batch.gauges[(sid, day)] = GaugeAcc(value, ts, value, ts, value, value)
        else:
            acc.add(value, ts)

    def _day(self, ts: float) -> int:
        start, end, key = self._day_cache
        if start <= ts < end:
            return key
        local = datetime.fromtimestamp(ts, self.tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        nxt = (midnight + timedelta(days=1, hours=2)).replace(hour=0)
        key = local.year * 10000 + local.month * 100 + local.day
        self._day_cache = (midnight.timestamp(), nxt.timestamp(), key)
        return key

    # --- flush -----------------------------------------------------------------

    def pending_windows(self) -> int:
        """Windows accumulated and not yet written."""
        with self._lock:
            return len(self._pending)

    def flush(self, now: float | None = None, force: bool = False) -> int:
        """Write every window that ended by `now` (all of them if `force`); return rows written.

        On a write error the windows stay pending (up to `max_pending`, oldest dropped
        beyond that) and `HistoryError` propagates.
        """
        now = self.clock.time() if now is None else now
        with self._write_lock:
            with self._lock:
                limit = math.inf if force else now // self.window
                ready = sorted(w for w in self._pending if w + 1 <= limit)
                batch = Batch()
                for w in ready:
                    batch.merge(self._pending.pop(w))
                started = self._started
            if started is None:
                return 0
            try:
                self._session = write_batch(
                    self.history,
                    batch,
                    self.tz,
                    session=self._session,
                    started=started,
                    last=now,
                    clean=force,
                )
            except BaseException:
                with self._lock:
                    self._restore(ready[0] if ready else int(now // self.window), batch)
                raise
            return batch.rows()

    def _restore(self, w: int, batch: Batch) -> None:
        cur = self._pending.get(w)
        if cur is not None:
            batch.merge(cur)
        self._pending[w] = batch
        while len(self._pending) > self.max_pending:
            del self._pending[min(self._pending)]
            self.dropped_windows += 1
            log.error("history rollup window dropped after repeated write failures")


def _label(labels: LabelSet, key: str) -> str | None:
    for k, v in labels:
        if k == key:
            return v
    return None
