"""The core side of device events: who sent it, what to count, what to keep, whom to tell.

`EventsService.handle()` takes the events the receiver (collectors/events) decoded and:
- matches the sender to a configured target by its address, else by the v1 agent-addr
  or the syslog HOSTNAME (a target's address or name); unknown senders are counted
  (`monitord_events_unknown_source_total{source}`) and become security findings
  (`discovery.unknown_event_source`, "dispositivo desconocido envía traps");
- counts per target in the state, so /metrics and the alert rules see them:
  `monitord_device_events_total{target,kind}`, `monitord_device_failed_logins_total`,
  `monitord_device_recent_failed_logins` (failed logins within
  `failed_logins_window`, the gauge the built-in `device_failed_logins` rule watches),
  and `monitord_device_unplanned_config_changes` (configuration changes reported
  within `config_change_window` while no maintenance window of the alerts covered the
  device for the rule `device_config_changed`: decided when the change arrives, so a
  change made inside a window never alerts, even after the window ends);
- adds failed logins to the history rollups (`failed_logins` distribution, collector
  `events`), which is what the security report's failed-logins table shows;
- folds duplicates (same target, event and fields within `dedupe_window`) into one
  history row with a count, and writes rows to `device_events` once a second;
- asks for an immediate re-poll of the target's snmp job on link changes (at most once
  per `REPOLL_GAP` per target).

Series per target that sent events: 1 per event kind seen + 2 for failed logins + 1 for
configuration changes (≤ 9).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter

from monitord.errors import HistoryError
from monitord.events.config import EventsConfig
from monitord.events.store import DAY_CAP, DeviceEventStore, StoredDeviceEvent
from monitord.history.db import Finding, History, retention_cutoff
from monitord.state import State
from monitord.types import (
    Clock,
    DeviceEvent,
    DeviceEventKind,
    EventOrigin,
    MetricSpec,
    Sample,
    SampleKind,
    Severity,
    SystemClock,
    Target,
)

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from monitord.history.recorder import RollupRecorder

__all__ = [
    "COLLECTOR",
    "DROP_REASONS",
    "EVENT_SPECS",
    "UNKNOWN_SOURCE_CHECK",
    "EventsService",
]

log = logging.getLogger(__name__)

COLLECTOR: Final = "events"  # the collector name of the state group and the rollups
UNKNOWN_SOURCE_CHECK: Final = "discovery.unknown_event_source"
CONFIG_CHANGE_RULE: Final = "device_config_changed"  # the maintenance windows that apply
REPOLL_GAP: Final = 5.0  # seconds between two event-driven re-polls of one target
SLOT: Final = 10.0  # seconds per bucket of the recent failed-login window
MAX_UNKNOWN: Final = 1024  # unknown senders remembered
MAX_OPEN: Final = 100_000  # open dedupe windows; beyond, the oldest are closed early
DROP_REASONS: Final = (
    "rate_limit", "queue_full", "too_large", "malformed", "community",
    "unsupported_version", "not_a_trap", "connections", "history_cap",
    # SNMPv3 (USM): no such user, an engine not accepted, another security level, a
    # wrong key (digest, decryption), a replay or a clock out of the 150 s window
    "unknown_user", "unknown_engine_id", "security_level", "wrong_digest", "decryption",
    "not_in_time_window",
    "tls_handshake",  # syslog over TLS: failed or timed-out handshake, plain text sent
)  # fmt: skip

EVENT_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "monitord_device_events_total",
        SampleKind.COUNTER,
        "Events the device sent on its own (SNMP traps, informs, syslog), by meaning;"
        " counted since monitord started.",
        ("target", "kind"),
    ),
    MetricSpec(
        "monitord_device_failed_logins_total",
        SampleKind.COUNTER,
        "Failed logins the device reported (authenticationFailure traps and login-failure"
        " syslog messages); counted since monitord started.",
    ),
    MetricSpec(
        "monitord_device_recent_failed_logins",
        SampleKind.GAUGE,
        "Failed logins the device reported within events.failed_logins_window (10m by default).",
    ),
    MetricSpec(
        "monitord_device_unplanned_config_changes",
        SampleKind.GAUGE,
        "Configuration changes the device reported within events.config_change_window (10m"
        " by default) outside the maintenance windows of alerts.maintenance.",
    ),
)


@dataclass(slots=True)
class _Open:
    row: StoredDeviceEvent
    mono: float
    written_count: int = 0


@dataclass(slots=True)
class _Unknown:
    origin: set[str]
    first: float
    last: float
    count: int = 0


@dataclass(slots=True)
class _Counts:
    target: Target
    kinds: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    recent: deque[tuple[int, int]] = field(default_factory=deque)  # (slot, n)
    has_failed: bool = False
    changes: deque[tuple[int, int]] = field(default_factory=deque)  # unplanned, (slot, n)
    has_changes: bool = False


class EventsService:
    """See the module docstring; every method runs on the event loop unless it says so."""

    def __init__(
        self,
        config: EventsConfig,
        targets: Iterable[Target],
        state: State,
        registry: CollectorRegistry,
        *,
        history: History | None = None,
        recorder: RollupRecorder | None = None,
        repoll: Callable[[str], bool] | None = None,
        poke: Callable[[], None] | None = None,
        maintenance: Callable[[Target, str, float], bool] | None = None,
        clock: Clock | None = None,
        timezone: str = "America/Bogota",
        retention_months: int = 13,
    ) -> None:
        self.config = config
        self.state = state
        self.clock = clock or SystemClock()
        self.store = DeviceEventStore(history) if history is not None else None
        self.history = history
        self.recorder = recorder
        self.repoll = repoll
        self.poke = poke
        self.maintenance = maintenance
        self.tz = ZoneInfo(timezone)
        self.retention_months = retention_months
        self.registry = registry
        self.received = Counter(
            "monitord_events_received",
            "Device events received and decoded, by source (trap, syslog) and meaning.",
            ["source", "kind"],
            registry=registry,
        )
        self.dropped = Counter(
            "monitord_events_dropped",
            "Device messages dropped, by reason (rate_limit, queue_full, too_large, malformed,"
            " community, unsupported_version, not_a_trap, connections, history_cap,"
            " unknown_user, unknown_engine_id, security_level, wrong_digest, decryption,"
            " not_in_time_window, tls_handshake).",
            ["reason"],
            registry=registry,
        )
        self.unknown_total = Counter(
            "monitord_events_unknown_source",
            "Device events from senders that are no configured target, by source.",
            ["source"],
            registry=registry,
        )
        for reason in DROP_REASONS:
            self.dropped.labels(reason)
        for origin in EventOrigin:
            self.unknown_total.labels(origin.value)
        self.repolls = 0
        self._by_addr: dict[str, Target] = {}
        self._by_name: dict[str, Target] = {}
        self.set_targets(targets)
        self._counts: dict[str, _Counts] = {}
        self._dirty: set[str] = set()
        self._open: dict[tuple[object, ...], _Open] = {}
        self._new: list[StoredDeviceEvent] = []
        self._closing: list[_Open] = []
        self._unknown: dict[str, _Unknown] = {}
        self._last_repoll: dict[str, float] = {}
        self._day_rows: dict[str, int] = {}
        self._day_span: tuple[float, float] = (0.0, -1.0)  # the local day being capped
        self._write_lock = asyncio.Lock()

    # --- configuration -----------------------------------------------------------

    def set_targets(self, targets: Iterable[Target]) -> None:
        """(Re)build the sender → target index."""
        self._by_addr = {}
        self._by_name = {}
        for t in targets:
            self._by_addr.setdefault(t.address.lower(), t)
            self._by_name.setdefault(t.name.lower(), t)

    def match(self, event: DeviceEvent) -> Target | None:
        """The configured target that sent `event`, or None."""
        t = self._by_addr.get(event.address.lower())
        if t is None and event.agent:
            a = event.agent.lower()
            t = self._by_addr.get(a) or self._by_name.get(a) or self._by_name.get(a.split(".")[0])
        return t

    def count_drop(self, reason: str) -> None:
        """The receiver's `on_drop`."""
        self.dropped.labels(reason).inc()

    # --- the receiver's sink -----------------------------------------------------

    def handle(self, events: list[DeviceEvent]) -> None:
        """Account a batch of decoded events (see the module docstring)."""
        mono = self.clock.monotonic()
        alert = False
        for ev in events:
            self.received.labels(ev.origin.value, ev.kind.value).inc()
            target = self.match(ev)
            if target is None:
                self._note_unknown(ev)
            else:
                alert |= self._count(target, ev)
                if ev.repoll and self.config.repoll_on_link_change:
                    self._repoll(target, mono)
            if ev.origin is EventOrigin.TRAP or ev.kind is not DeviceEventKind.OTHER:
                self._fold(target, ev, mono)
        self._publish()
        if alert and self.poke is not None:
            self.poke()

    def _count(self, target: Target, ev: DeviceEvent) -> bool:
        c = self._counts.get(target.name)
        if c is None or c.target != target:
            c = self._counts[target.name] = _Counts(target, dict(c.kinds) if c else {})
        c.kinds[ev.kind.value] = c.kinds.get(ev.kind.value, 0) + 1
        self._dirty.add(target.name)
        if ev.kind is DeviceEventKind.CONFIG_CHANGE:
            c.has_changes = True
            if self.maintenance is not None and self.maintenance(target, CONFIG_CHANGE_RULE, ev.ts):
                log.info("configuration change inside a maintenance window target=%s", target.name)
                return False
            _add_slot(c.changes, ev.ts)
            return True
        if ev.kind is not DeviceEventKind.FAILED_LOGIN:
            return False
        c.failed += 1
        c.has_failed = True
        _add_slot(c.recent, ev.ts)
        if self.recorder is not None:
            self.recorder.add_count(target, COLLECTOR, "failed_logins", 1.0, ev.ts)
        return True

    def _repoll(self, target: Target, mono: float) -> None:
        last = self._last_repoll.get(target.name)
        if last is not None and mono - last < REPOLL_GAP:
            return
        self._last_repoll[target.name] = mono
        if self.repoll is not None and self.repoll(target.name):
            self.repolls += 1
            log.debug("re-poll asked by an event target=%s", target.name)

    def _note_unknown(self, ev: DeviceEvent) -> None:
        self.unknown_total.labels(ev.origin.value).inc()
        u = self._unknown.get(ev.address)
        if u is None:
            if len(self._unknown) >= MAX_UNKNOWN:
                oldest = min(self._unknown, key=lambda a: self._unknown[a].last)
                del self._unknown[oldest]
            u = self._unknown[ev.address] = _Unknown(set(), ev.ts, ev.ts)
            log.info("events from an unknown sender address=%s source=%s", ev.address, ev.origin)
        u.origin.add(ev.origin.value)
        u.last = ev.ts
        u.count += 1

    def _fold(self, target: Target | None, ev: DeviceEvent, mono: float) -> None:
        who = target.name if target is not None else ev.address
        key = (who, ev.kind, ev.name, tuple(sorted(ev.fields.items())))
        o = self._open.get(key)
        if o is not None and mono - o.mono < self.config.dedupe_window:
            o.row.count += 1
            o.row.last_ts = ev.ts
            return
        if not self._room(who, ev.ts):
            self.count_drop("history_cap")
            return
        row = StoredDeviceEvent(
            ev.ts, ev.ts, target.name if target else "", ev.address, ev.origin.value,
            ev.kind.value, ev.name, ev.severity, 1, ev.message, dict(ev.fields),
        )  # fmt: skip
        self._open[key] = _Open(row, mono)
        self._new.append(row)
        if len(self._open) > MAX_OPEN:
            self._expire(mono, force=len(self._open) - MAX_OPEN)

    def _room(self, who: str, ts: float) -> bool:
        if not self._day_span[0] <= ts < self._day_span[1]:
            local = datetime.fromtimestamp(ts, self.tz)
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
            end = (midnight + timedelta(days=1, hours=2)).replace(hour=0)
            self._day_span = (midnight.timestamp(), end.timestamp())
            self._day_rows.clear()
        n = self._day_rows.get(who, 0)
        if n >= DAY_CAP:
            return False
        self._day_rows[who] = n + 1
        return True

    # --- state ---------------------------------------------------------------------

    def _publish(self, names: Iterable[str] | None = None) -> None:
        now = self.clock.time()
        for name in list(self._dirty if names is None else names):
            c = self._counts.get(name)
            if c is None:
                continue
            self.state.publish(c.target, COLLECTOR, self._samples(c, now))
        if names is None:
            self._dirty.clear()

    def _samples(self, c: _Counts, now: float) -> list[Sample]:
        t = c.target.name
        out = [
            Sample("monitord_device_events_total", {"target": t, "kind": k}, v, SampleKind.COUNTER)
            for k, v in sorted(c.kinds.items())
        ]
        if c.has_failed:
            horizon = (now - self.config.failed_logins_window) // SLOT
            while c.recent and c.recent[0][0] <= horizon:
                c.recent.popleft()
            recent = sum(n for _, n in c.recent)
            fl = Sample("monitord_device_failed_logins_total", {"target": t}, c.failed)
            out.append(replace(fl, kind=SampleKind.COUNTER))
            out.append(Sample("monitord_device_recent_failed_logins", {"target": t}, recent))
        if c.has_changes:
            horizon = (now - self.config.config_change_window) // SLOT
            while c.changes and c.changes[0][0] <= horizon:
                c.changes.popleft()
            n = sum(k for _, k in c.changes)
            out.append(Sample("monitord_device_unplanned_config_changes", {"target": t}, n))
        return out

    def recent_failed_logins(self, target: str) -> int:
        """Failed logins of `target` within the window (for tests and the CLI)."""
        c = self._counts.get(target)
        if c is None:
            return 0
        horizon = (self.clock.time() - self.config.failed_logins_window) // SLOT
        return sum(n for s, n in c.recent if s > horizon)

    # --- periodic work ----------------------------------------------------------------

    def add_jobs(self, sched: AsyncIOScheduler) -> None:
        """Add the flush (1 s), refresh (15 s), findings (5 min) and prune (daily) jobs."""
        from apscheduler.triggers.interval import IntervalTrigger

        for fn, every, jid in (
            (self.flush, 1.0, "events-flush"),
            (self.refresh, 15.0, "events-refresh"),
            (self.record_findings, 300.0, "events-findings"),
            (self.prune, 86400.0, "events-prune"),
        ):
            sched.add_job(
                fn, IntervalTrigger(seconds=every), id=jid, max_instances=1, coalesce=True
            )

    async def refresh(self) -> None:
        """Republish every target's counters (slides the recent window, keeps series fresh)."""
        self._publish(list(self._counts))
        if self.poke is not None and any(
            c.has_failed or c.has_changes for c in self._counts.values()
        ):
            self.poke()

    async def flush(self) -> int:
        """Insert new rows, write the counts of folded ones, close expired windows."""
        async with self._write_lock:
            new, self._new = self._new, []
            self._expire(self.clock.monotonic())
            closing, self._closing = self._closing, []
            pending = [
                (o, o.row.count, o.row.last_ts)
                for o in [*self._open.values(), *closing]
                if o.row.count != o.written_count
            ]
            if self.store is None or not pending:
                return 0
            try:
                await asyncio.to_thread(self._write, new, pending)
            except HistoryError as exc:
                log.error("device event write failed: %s", exc)
                return 0
            for o, count, _ in pending:
                o.written_count = count
            return len(pending)

    def _write(self, new: list[StoredDeviceEvent], pending: list[tuple[_Open, int, float]]) -> None:
        assert self.store is not None
        self.store.write(new, [])
        self.store.write([], [(o.row.id, count, last) for o, count, last in pending if o.row.id])

    def _expire(self, mono: float, force: int = 0) -> None:
        window = self.config.dedupe_window
        done = [k for k, o in self._open.items() if mono - o.mono >= window]
        if force:
            done += sorted(self._open, key=lambda k: self._open[k].mono)[:force]
        for k in done:
            o = self._open.pop(k, None)
            if o is not None and o.row.count != o.written_count:
                self._closing.append(o)

    async def record_findings(self) -> int:
        """Upsert a finding per unknown sender seen in the last day; return how many."""
        if self.history is None:
            return 0
        now = self.clock.time()
        items = [
            Finding(
                UNKNOWN_SOURCE_CHECK,
                addr,
                Severity.MEDIUM.value,
                "asset_inventory",
                "5.9",
                f"dispositivo desconocido envía {_what(u.origin)}: address={addr}"
                f" messages={u.count}",
                key=addr,
            )
            for addr, u in sorted(self._unknown.items())
            if now - u.last < 86400.0
        ]
        if not items:
            return 0
        try:
            await asyncio.to_thread(
                self.history.upsert_findings, items, now, [UNKNOWN_SOURCE_CHECK]
            )
        except HistoryError as exc:
            log.error("history write failed: %s", exc)
            return 0
        return len(items)

    async def prune(self) -> int:
        """Delete device events older than the history retention."""
        if self.store is None:
            return 0
        cutoff = retention_cutoff(self.clock.time(), self.retention_months, self.tz)
        try:
            return await asyncio.to_thread(self.store.prune, cutoff)
        except HistoryError as exc:
            log.error("device event prune failed: %s", exc)
            return 0

    async def aclose(self) -> None:
        """Write what is pending (at shutdown)."""
        await self.flush()
        await self.record_findings()

    @property
    def unknown_senders(self) -> Mapping[str, int]:
        """Unknown sender address → messages received (bounded)."""
        return {a: u.count for a, u in self._unknown.items()}


def _add_slot(slots: deque[tuple[int, int]], ts: float) -> None:
    """One more in the SLOT-second bucket of `ts` (buckets in time order)."""
    slot = int(ts // SLOT)
    if slots and slots[-1][0] == slot:
        slots[-1] = (slot, slots[-1][1] + 1)
    else:
        slots.append((slot, 1))


def _what(origins: set[str]) -> str:
    return " y ".join("traps" if o == "trap" else "syslog" for o in sorted(origins))
