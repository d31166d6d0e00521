"""The history inside the running daemon: rollups, inventory, findings, retention.

`HistoryService` is what `monitord.daemon` builds from the `history:` and `reports:`
sections. It owns the `History` (SQLite, WAL) and the `RollupRecorder`, and adds these
jobs to the daemon's scheduler (`add_jobs`, given as `Scheduler(extra_jobs=...)`):

- `history-flush`, every `history.flush_interval` (60 s): events kept in memory while
  the disk was full (`PendingWrites`), closed rollup windows, changed inventory
  snapshots and the session's heartbeat, in one thread, timed in
  `monitord_history_write_duration_seconds`;
- `history-findings`, every `history.findings_interval` (5 minutes): security
  findings derived from the state snapshot (`monitord.findings.derive`, plus the
  series of role CHECK_INPUT: backups, updates, firewall and failed logins) and the
  checks that ran (those a `RunsChecks` collector declares), into `findings`/`check_runs`;
- `history-inventory`, every 5 minutes: the inventory of the `FetchesInventory`
  collectors (the agent's `/inventory`) whose `inventory_every` polls have passed;
  an `InventoryFromPoll` collector (SNMP) gives it from each poll's INVENTORY series;
- `history-tables`, every hour: the largest tables of the `FetchesTableSizes` collectors
  (database servers) whose `tables_every` (default a day) has passed since their last
  snapshot in the history, kept as that day's snapshot (`table_sizes`, at most
  `MAX_TABLES` rows per server and day).

What is kept follows the roles the running collectors declare (`roles`, a
`monitord.contract.RoleIndex`, handed in by the daemon and renewed on reload); this
module names no collector kind.
- `history-prune`, daily at `history.prune_time`: retention (`history.retention_months`).

The monthly reports job is `monitord.reports.monthly` (the history never imports reports).

`on_poll` (the runner's hook) only touches memory. `aclose()` (SIGTERM) writes the open
window too (`flush(force=True)`), so a clean stop loses nothing and `kill -9` loses at
most one window.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitord import findings as fnd
from monitord.contract import RoleIndex
from monitord.errors import CollectorError, HistoryError
from monitord.history.accumulate import day_key
from monitord.history.db import Finding, History, retention_cutoff
from monitord.history.pending import PendingWrites
from monitord.history.recorder import RollupRecorder
from monitord.state import GroupView, LabelSet, Snapshot
from monitord.types import (
    Clock,
    FetchesInventory,
    FetchesTableSizes,
    InventoryFromPoll,
    RunsChecks,
    Severity,
    SystemClock,
    Target,
)

if TYPE_CHECKING:
    from monitord.runner import SelfMetrics

__all__ = [
    "AGENT_CHECKS",
    "CHECK_NAMES",
    "HistoryService",
    "ServiceSettings",
    "agent_findings",
    "history_checks",
]

log = logging.getLogger(__name__)

INVENTORY_EVERY: Final = 300.0
INVENTORY_TIMEOUT: Final = 30.0
INVENTORY_CONCURRENCY: Final = 8
TABLES_CHECK_EVERY: Final = 3600.0
TABLES_TIMEOUT: Final = 120.0  # one server's listing (a connection per database)

# findings.Check -> the history's check name `<area>.<name>` (the area picks the
# section of the security report, see monitord.reports.security.AREAS).
CHECK_NAMES: Final[Mapping[fnd.Check, str]] = {
    fnd.Check.TCP_MUST_BE_CLOSED: "ports.must_be_closed",
    fnd.Check.TCP_MUST_BE_OPEN: "ports.must_be_open",
    fnd.Check.SNMP_DEFAULT_COMMUNITY: "snmp.default_community",
    fnd.Check.SNMP_V3_REQUIRED: "snmp.v3_required",
    fnd.Check.TLS_CERT_EXPIRY: "tls.cert_expiry",
    fnd.Check.TLS_CHAIN_INVALID: "tls.chain_invalid",
    fnd.Check.TLS_HOSTNAME_MISMATCH: "tls.hostname_mismatch",
    fnd.Check.TLS_OBSOLETE_PROTOCOL: "tls.obsolete_protocol",
    fnd.Check.HTTP_NO_HSTS: "tls.http_no_hsts",
    fnd.Check.HTTP_NO_HTTPS_REDIRECT: "tls.http_no_https_redirect",
    fnd.Check.HTTP_CONTENT_MISMATCH: "tls.http_content_mismatch",
    fnd.Check.UNKNOWN_DEVICE: "discovery.unknown_device",
}
# series of role CHECK_INPUT -> (history check, severity, policy key, ISO/IEC 27001:2022 control)
# (by the input key the collector declares as the spec's `rollup`)
AGENT_CHECKS: Final[Mapping[str, tuple[str, str, str, str]]] = {
    "failed_logins": ("auth.failed_logins", Severity.MEDIUM, "authentication", "8.5"),
    "pending_updates": ("updates.pending", Severity.MEDIUM, "patching", "8.8"),
    "firewall": ("firewall.disabled", Severity.HIGH, "host_firewall", "8.20"),
    "backup_ts": ("backup.stale", Severity.HIGH, "backup", "8.13"),
    "backup_files": ("backup.missing", Severity.HIGH, "backup", "8.13"),
}


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """What the service needs from the config (built by `from_config`)."""

    db: Path
    data_dir: Path
    tz: str
    language: str
    retention_months: int
    flush_interval: float
    findings_interval: float
    prune_time: str
    wan_alias: str
    wan_interfaces: tuple[str, ...]
    backup_max_age: float
    failed_logins_day: float

    @classmethod
    def from_config(cls, config: Any) -> ServiceSettings:
        """From a `monitord.config.Config`."""
        h, r = config.history, config.reports
        data_dir = Path(config.daemon.data_dir)
        return cls(
            db=Path(h.path) if h.path else data_dir / "monitord.db",
            data_dir=data_dir,
            tz=config.daemon.timezone,
            language=str((r.language or config.daemon.language).value),
            retention_months=h.retention_months,
            flush_interval=h.flush_interval,
            findings_interval=h.findings_interval,
            prune_time=h.prune_time,
            wan_alias=h.wan_alias,
            wan_interfaces=tuple(h.wan_interfaces),
            backup_max_age=r.targets.backup_max_age_hours * 3600.0,
            failed_logins_day=r.targets.failed_logins_day,
        )


class HistoryService:
    """Owns the history and its jobs in the daemon (see the module docstring)."""

    def __init__(
        self,
        config: Any,
        snapshot: Callable[[], Snapshot],
        clock: Clock | None = None,
        roles: RoleIndex | None = None,
        metrics: SelfMetrics | None = None,
    ) -> None:
        self.config = config
        self.roles = roles or RoleIndex()
        self.settings = ServiceSettings.from_config(config)
        self.snapshot = snapshot
        self.clock = clock or SystemClock()
        s = self.settings
        s.db.parent.mkdir(parents=True, exist_ok=True)
        self.history = History(s.db)
        self.metrics = metrics
        self.pending = PendingWrites(
            self.history, on_error=metrics.history_write_errors.inc if metrics else None
        )
        if metrics is not None:
            metrics.history_pending.set_function(lambda: float(len(self.pending)))
        self.recorder = RollupRecorder(
            self.history,
            self.clock,
            s.tz,
            window=s.flush_interval,
            wan_alias=s.wan_alias,
            wan_interfaces=s.wan_interfaces,
            roles=self.roles,
        )
        self._inv_pending: dict[str, tuple[float, dict[str, Any]]] = {}
        self._inv_digest: dict[str, str] = {}
        self._inv_fetched: dict[str, float] = {}
        self._tables_fetched: dict[tuple[str, str], float] | None = None
        self._sched: AsyncIOScheduler | None = None
        self._from_poll: dict[tuple[str, str], InventoryFromPoll] = {}
        self._ran_by: dict[str, tuple[str, ...]] = {}
        self._capabilities(config)

    # --- hooks ------------------------------------------------------------------

    def on_poll(self, view: GroupView) -> None:
        """The runner's `on_poll`: account the poll; note a changed inventory from it."""
        self.recorder.observe(view)
        col = self._from_poll.get((view.target.name, view.collector))
        if col is not None and view.last_poll_ok:
            names = self.roles.inventory
            series: list[tuple[str, Mapping[str, str], float]] = [
                (sv.name, dict(sv.labels), sv.value)
                for sv in view.series.values()
                if sv.name in names  # a dict per INVENTORY series, not per series polled
            ]
            inv = col.inventory_from(view.target, series)
            if inv:
                self._note_inventory(view.target.name, view.last_poll_ts or self.clock.time(), inv)

    def add_jobs(self, sched: AsyncIOScheduler) -> None:
        """Add the history jobs to the daemon's scheduler (at start)."""
        self._sched = sched
        s = self.settings
        # Fire just after each window closes, so at most the open window is in memory.
        w = s.flush_interval
        first = (int(self.clock.time() // w) + 1) * w + min(1.0, 0.05 * w)
        sched.add_job(
            self.flush,
            IntervalTrigger(seconds=w, start_date=_utc(first)),
            id="history-flush",
            max_instances=1,
            coalesce=True,
        )
        sched.add_job(
            self.record_findings,
            IntervalTrigger(seconds=s.findings_interval),
            id="history-findings",
            max_instances=1,
            coalesce=True,
        )
        sched.add_job(
            self.fetch_inventory,
            IntervalTrigger(seconds=INVENTORY_EVERY),
            id="history-inventory",
            max_instances=1,
            coalesce=True,
            next_run_time=_utc(time.time()),
        )
        sched.add_job(
            self.fetch_table_sizes,
            IntervalTrigger(seconds=TABLES_CHECK_EVERY),
            id="history-tables",
            max_instances=1,
            coalesce=True,
            next_run_time=_utc(time.time() + 60.0),
        )
        self._add_timed_jobs(sched)

    def reconfigure(self, config: Any, roles: RoleIndex | None = None) -> None:
        """Apply a reloaded config (SIGHUP): thresholds, schedule times, roles; the path stays."""
        if roles is not None:
            self.roles = self.recorder.roles = roles
        self._capabilities(config)
        new = ServiceSettings.from_config(config)
        if new.db != self.settings.db:
            log.warning("config reload: history.path changed; restart monitord to apply it")
            new = ServiceSettings(**{**_fields(new), "db": self.settings.db})
        if new.flush_interval != self.settings.flush_interval:
            log.warning("config reload: history.flush_interval changed; restart to apply it")
            new = ServiceSettings(
                **{**_fields(new), "flush_interval": self.settings.flush_interval}
            )
        self.config = config
        self.settings = new
        if self._sched is not None:
            self._add_timed_jobs(self._sched)

    async def flush(self, force: bool = False) -> int:
        """Write closed windows (all if `force`) and pending inventory, in a thread."""
        return await asyncio.to_thread(self.flush_sync, force)

    def flush_sync(self, force: bool = False) -> int:
        """`flush` without the thread hop (tests, shutdown); timed as a history write."""
        start = self.clock.monotonic()
        try:
            return self._flush(force)
        finally:
            if self.metrics is not None:
                self.metrics.history_write.observe(self.clock.monotonic() - start)

    def _flush(self, force: bool) -> int:
        self.pending.retry()
        rows = 0
        try:
            rows = self.recorder.flush(force=force)
        except HistoryError as exc:
            log.error("history flush failed (windows kept for the next try): %s", exc)
        pending, self._inv_pending = self._inv_pending, {}
        for target, (ts, data) in pending.items():
            try:
                self.history.add_inventory(target, ts, data)
            except HistoryError as exc:
                log.error("inventory write failed target=%s: %s", target, exc)
        return rows

    async def record_findings(self) -> int:
        """Derive security findings from the state and record this run; return how many."""
        snap = self.snapshot()
        items, ran = history_checks(
            snap,
            self.settings.backup_max_age,
            self.settings.failed_logins_day,
            roles=self.roles,
            ran_by=self._ran_by,
        )
        if not ran:
            return 0
        try:
            await asyncio.to_thread(self.history.upsert_findings, items, snap.ts, ran)
        except HistoryError as exc:
            log.error("findings write failed: %s", exc)
        return len(items)

    async def fetch_inventory(self) -> int:
        """Fetch `/inventory` from the agents that are due; return how many answered."""
        now = self.clock.time()
        due: list[tuple[Target, FetchesInventory]] = []
        for tc in self.config.targets:
            for cc in tc.collectors:
                if not isinstance(cc.collector, FetchesInventory):
                    continue
                every = float(cc.collector.inventory_every) * cc.interval
                last = self._inv_fetched.get(tc.target.name)
                if last is None or now - last >= every:
                    due.append((tc.target, cc.collector))
        sem = asyncio.Semaphore(INVENTORY_CONCURRENCY)

        async def one(target: Target, col: FetchesInventory) -> bool:
            async with sem:
                try:
                    async with asyncio.timeout(INVENTORY_TIMEOUT):
                        data = await col.inventory(target)
                except (TimeoutError, CollectorError) as exc:
                    log.debug("inventory fetch failed target=%s: %s", target.name, exc)
                    return False
            self._inv_fetched[target.name] = now
            self._note_inventory(target.name, now, dict(data))
            return True

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(one(t, c)) for t, c in due]
        return sum(1 for t in tasks if t.result())

    async def fetch_table_sizes(self) -> int:
        """List the largest tables of the database servers that are due and store them
        as the day's snapshot; return how many servers answered. A server that fails is
        logged and retried at the next run; it never delays the others."""
        now = self.clock.time()
        if self._tables_fetched is None:  # after a restart: the snapshots already held
            try:
                rows = await asyncio.to_thread(
                    self.history.query,
                    "SELECT target, collector, MAX(ts) FROM table_sizes GROUP BY target, collector",
                )
            except HistoryError as exc:
                log.error("table sizes not read: %s", exc)
                rows = []
            self._tables_fetched = {(r[0], r[1]): float(r[2]) for r in rows}
        fetched = self._tables_fetched
        due: list[tuple[Target, str, FetchesTableSizes]] = []
        for tc in self.config.targets:
            for cc in tc.collectors:
                if not isinstance(cc.collector, FetchesTableSizes):
                    continue
                last = fetched.get((tc.target.name, cc.kind))
                if last is None or now - last >= float(cc.collector.tables_every) - 60.0:
                    due.append((tc.target, cc.kind, cc.collector))
        sem = asyncio.Semaphore(INVENTORY_CONCURRENCY)

        async def one(target: Target, kind: str, col: FetchesTableSizes) -> bool:
            async with sem:
                try:
                    async with asyncio.timeout(TABLES_TIMEOUT):
                        tables = await col.largest_tables(target)
                except (TimeoutError, CollectorError) as exc:
                    log.warning("largest tables not listed target=%s: %s", target.name, exc)
                    return False
            ts = self.clock.time()
            try:
                await asyncio.to_thread(
                    self.history.add_table_sizes,
                    target.name,
                    kind,
                    ts,
                    day_key(ts, ZoneInfo(self.settings.tz)),
                    tables,
                )
            except HistoryError as exc:
                log.error("table sizes write failed target=%s: %s", target.name, exc)
                return False
            fetched[(target.name, kind)] = ts
            return True

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(one(t, k, c)) for t, k, c in due]
        return sum(1 for t in tasks if t.result())

    async def prune(self) -> dict[str, int]:
        """Delete what is older than the retention."""
        s = self.settings
        cutoff = retention_cutoff(self.clock.time(), s.retention_months, s.tz)
        try:
            out = await asyncio.to_thread(self.history.prune, cutoff, s.tz)
        except HistoryError as exc:
            log.error("history prune failed: %s", exc)
            return {}
        log.info("history pruned before=%d rows=%d", int(cutoff), sum(out.values()))
        return out

    async def aclose(self) -> None:
        """Write everything still in memory (the open window too) and close the store."""
        await asyncio.to_thread(self._close)

    # --- internals ----------------------------------------------------------------

    def _close(self) -> None:
        self.flush_sync(force=True)
        self.history.close()

    def _add_timed_jobs(self, sched: AsyncIOScheduler) -> None:
        s = self.settings
        hour, minute = (int(x) for x in s.prune_time.split(":"))
        sched.add_job(
            self.prune,
            CronTrigger(hour=hour, minute=minute, timezone=s.tz),
            id="history-prune",
            max_instances=1,
            coalesce=True,
            replace_existing=True,
        )

    def _capabilities(self, config: Any) -> None:
        from_poll: dict[tuple[str, str], InventoryFromPoll] = {}
        ran_by: dict[str, tuple[str, ...]] = {}
        for tc in config.targets:
            for cc in tc.collectors:
                if isinstance(cc.collector, InventoryFromPoll):
                    from_poll[(tc.target.name, cc.kind)] = cc.collector
                if isinstance(cc.collector, RunsChecks):
                    ran_by[cc.kind] = tuple(cc.collector.checks)
        self._from_poll, self._ran_by = from_poll, ran_by

    def _note_inventory(self, target: str, ts: float, data: dict[str, Any]) -> None:
        digest = json.dumps(data, sort_keys=True, default=str)
        if self._inv_digest.get(target) == digest:
            return
        self._inv_digest[target] = digest
        self._inv_pending[target] = (ts, data)


# finding parameters that change between runs of a check (not part of its identity)
_VOLATILE: Final = frozenset({"days", "not_after", "expired", "state", "communities", "v3"})


def history_checks(
    snap: Snapshot,
    backup_max_age: float,
    failed_logins_day: float,
    *,
    roles: RoleIndex,
    ran_by: Mapping[str, Sequence[str]] | None = None,
) -> tuple[list[Finding], list[str]]:
    """Findings in the history's vocabulary and the checks that ran, from one snapshot.

    `ran_by`: collector kind -> the checks a successful poll of it runs (`RunsChecks`).
    """
    ran: set[str] = set()
    for g in snap.groups.values():
        if g.last_poll_ok:
            ran.update((ran_by or {}).get(g.collector, ()))
    out: list[Finding] = []
    for f in fnd.derive(snap, roles):
        name = CHECK_NAMES[f.check]
        ran.add(name)
        # the key names what the finding is about (port, address...), not the facts that
        # change from one run to the next (days left, state): one finding per certificate
        key = " ".join(f"{k}={v}" for k, v in f.params if k not in _VOLATILE)
        out.append(
            Finding(name, f.target, f.severity.value, f.policy, f.iso_control, f.detail, key)
        )
    agent, agent_ran = agent_findings(snap, backup_max_age, failed_logins_day, roles)
    return out + agent, sorted(ran | agent_ran)


def agent_findings(
    snap: Snapshot, backup_max_age: float, failed_logins_day: float, roles: RoleIndex
) -> tuple[list[Finding], set[str]]:
    """Findings from the series of role CHECK_INPUT (the host agent's), and the checks run."""
    out: list[Finding] = []
    ran: set[str] = set()
    keys = roles.check_keys
    for g in snap.groups.values():
        if not g.last_poll_ok or not any(sv.name in keys for sv in g.series.values()):
            continue
        tname = g.target.name
        policies = {
            _label(sv.labels, "backup"): sv.value
            for sv in g.series.values()
            if keys.get(sv.name) == "backup_max_age"
        }
        for sv in g.series.values():
            key = keys.get(sv.name)
            spec = AGENT_CHECKS.get(key) if key is not None else None
            if spec is None:
                continue
            check, severity, policy, iso = spec
            ran.add(check)
            detail = ""
            if key == "failed_logins":
                per_day = (sv.rate or 0.0) * 86400.0
                if per_day >= failed_logins_day:
                    detail = f"per_day={per_day:.0f}"
            elif key == "pending_updates" and sv.value > 0:
                detail = f"pending={sv.value:.0f}"
            elif key == "firewall" and sv.value < 1:
                detail = "enabled=0"
            elif key == "backup_ts" and sv.value > policies.get(
                _label(sv.labels, "backup"), backup_max_age
            ):
                detail = f"backup={_label(sv.labels, 'backup')} age_hours={sv.value / 3600:.1f}"
            elif key == "backup_files" and sv.value < 1:
                detail = f"backup={_label(sv.labels, 'backup')} files=0"
            if detail:
                key = _label(sv.labels, "backup")
                out.append(Finding(check, tname, severity, policy, iso, detail, key))
    return out, ran


def _label(labels: LabelSet, key: str) -> str:
    for k, v in labels:
        if k == key:
            return v
    return ""


def _fields(s: ServiceSettings) -> dict[str, Any]:
    return {f: getattr(s, f) for f in s.__slots__}


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
