"""On-disk history: SQLite in WAL mode under the data directory.

Holds what the monthly reports need, not raw samples:

- `events`: state transitions per (target, collector); an outage runs from a `down`
  event to the next `up` event of the same pair (schema 1);
- rollups written by `monitord.history.RollupRecorder` (schema 2): `series` (one id per
  target/collector/kind/object), `poll_hour` (polls obtained and good per hour),
  `dist_day` (daily distributions as sparse histograms: RTT, loss, CPU, memory),
  `gauge_day` (first/last/min/max of a gauge per day: filesystems, database sizes),
  `iface_day` (traffic, peaks, errors, time up per interface and day), `rate_5m`
  (5-minute traffic of WAN/internet interfaces, for the 95th percentile), `targets`
  (the attributes a target had), `sessions` (when the recorder ran: data coverage);
- `alert_events` (alert starts and resolutions), `inventory` (a JSON snapshot per
  target, stored only when it changed), `findings` and `check_runs` (security checks).

Days are local calendar days in the daemon's time zone, stored as `YYYYMMDD` integers;
hours and 5-minute slots are epoch seconds of their start. Every write is one
transaction: a crash or `kill -9` loses at most the batch being written. Retention is
enforced by `prune()` (daily, default 13 months); freed pages are reused, so the file
stays at its high-water mark.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from monitord.errors import HistoryError
from monitord.state import Event, EventKind
from monitord.types import TableSize

__all__ = [
    "MAX_TABLES",
    "AlertEvent",
    "Delivery",
    "Finding",
    "History",
    "InventorySnapshot",
    "StoredEvent",
    "StoredFinding",
    "StoredSilence",
    "TableSizeRow",
    "retention_cutoff",
]

_SCHEMA = [
    # version 1: the event log
    """
    CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        target TEXT NOT NULL,
        collector TEXT NOT NULL,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        message TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
    CREATE INDEX IF NOT EXISTS events_target ON events(target, ts);
    """,
    # version 2: rollups, alerts, inventory, security findings
    """
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        target TEXT NOT NULL, collector TEXT NOT NULL, kind TEXT NOT NULL,
        object TEXT NOT NULL DEFAULT '', meta TEXT NOT NULL DEFAULT '{}',
        UNIQUE (target, collector, kind, object)
    );
    CREATE TABLE poll_hour (
        sid INTEGER NOT NULL, hour INTEGER NOT NULL,
        polls INTEGER NOT NULL, ok INTEGER NOT NULL, interval REAL NOT NULL,
        restarts INTEGER NOT NULL DEFAULT 0, uptime REAL,
        PRIMARY KEY (hour, sid)
    ) WITHOUT ROWID;
    CREATE TABLE dist_day (
        sid INTEGER NOT NULL, day INTEGER NOT NULL,
        n INTEGER NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL,
        hist TEXT NOT NULL,
        PRIMARY KEY (day, sid)
    ) WITHOUT ROWID;
    CREATE TABLE gauge_day (
        sid INTEGER NOT NULL, day INTEGER NOT NULL,
        first REAL NOT NULL, first_ts REAL NOT NULL, last REAL NOT NULL, last_ts REAL NOT NULL,
        min REAL NOT NULL, max REAL NOT NULL,
        PRIMARY KEY (day, sid)
    ) WITHOUT ROWID;
    CREATE TABLE iface_day (
        sid INTEGER NOT NULL, day INTEGER NOT NULL,
        secs REAL NOT NULL, in_bytes REAL NOT NULL, out_bytes REAL NOT NULL,
        in_peak REAL NOT NULL, out_peak REAL NOT NULL,
        in_errors REAL NOT NULL, out_errors REAL NOT NULL,
        in_discards REAL NOT NULL, out_discards REAL NOT NULL,
        oper_secs REAL NOT NULL, up_secs REAL NOT NULL, oper_changes INTEGER NOT NULL,
        busy_secs REAL NOT NULL, speed REAL NOT NULL,
        PRIMARY KEY (day, sid)
    ) WITHOUT ROWID;
    CREATE TABLE rate_5m (
        sid INTEGER NOT NULL, slot INTEGER NOT NULL,
        secs REAL NOT NULL, in_bytes REAL NOT NULL, out_bytes REAL NOT NULL,
        PRIMARY KEY (slot, sid)
    ) WITHOUT ROWID;
    CREATE TABLE targets (
        name TEXT PRIMARY KEY, address TEXT NOT NULL, kind TEXT NOT NULL,
        site TEXT NOT NULL, parent TEXT, critical INTEGER NOT NULL,
        tags TEXT NOT NULL, description TEXT NOT NULL, updated REAL NOT NULL
    );
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY, started REAL NOT NULL, last REAL NOT NULL,
        clean INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE alert_events (
        id INTEGER PRIMARY KEY, ts REAL NOT NULL, alertname TEXT NOT NULL,
        target TEXT NOT NULL, severity TEXT NOT NULL, kind TEXT NOT NULL,
        silenced INTEGER NOT NULL, notified INTEGER NOT NULL, message TEXT NOT NULL
    );
    CREATE INDEX alert_events_ts ON alert_events(ts);
    CREATE TABLE inventory (
        id INTEGER PRIMARY KEY, target TEXT NOT NULL, ts REAL NOT NULL,
        hash TEXT NOT NULL, data TEXT NOT NULL
    );
    CREATE INDEX inventory_target ON inventory(target, ts);
    CREATE TABLE findings (
        id INTEGER PRIMARY KEY, "check" TEXT NOT NULL, target TEXT NOT NULL,
        key TEXT NOT NULL, severity TEXT NOT NULL, policy TEXT NOT NULL,
        iso_control TEXT NOT NULL, detail TEXT NOT NULL,
        first_seen REAL NOT NULL, last_seen REAL NOT NULL,
        UNIQUE ("check", target, key)
    );
    CREATE TABLE check_runs (
        "check" TEXT NOT NULL, ts REAL NOT NULL, PRIMARY KEY ("check", ts)
    ) WITHOUT ROWID;
    """,
    # version 3: what the notification dispatcher delivered (or dropped), per notifier
    """
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY, ts REAL NOT NULL, notifier TEXT NOT NULL,
        alertname TEXT NOT NULL, target TEXT NOT NULL, status TEXT NOT NULL,
        fingerprint TEXT NOT NULL, starts_at REAL NOT NULL, delivered INTEGER NOT NULL,
        reason TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX deliveries_starts ON deliveries(starts_at);
    """,
    # version 4: the actual times of each hour's first and last polls (completeness and
    # last-seen from real poll times, not from hour boundaries; NULL in older rows)
    """
    ALTER TABLE poll_hour ADD COLUMN first_ts REAL;
    ALTER TABLE poll_hour ADD COLUMN last_ts REAL;
    """,
    # version 5: the silences as they were declared (kept after they expire or are
    # removed: the month's maintenance calendar), and the largest tables of the database
    # servers (one snapshot per server and day, at most MAX_TABLES rows)
    """
    CREATE TABLE silences (
        id TEXT PRIMARY KEY, starts_at REAL NOT NULL, ends_at REAL NOT NULL,
        removed_at REAL, targets TEXT NOT NULL, sites TEXT NOT NULL, tags TEXT NOT NULL,
        alertnames TEXT NOT NULL, comment TEXT NOT NULL, created_by TEXT NOT NULL
    );
    CREATE INDEX silences_ends ON silences(ends_at);
    CREATE TABLE table_sizes (
        target TEXT NOT NULL, collector TEXT NOT NULL, day INTEGER NOT NULL, ts REAL NOT NULL,
        database TEXT NOT NULL, schema TEXT NOT NULL, name TEXT NOT NULL,
        bytes REAL NOT NULL, rows REAL,
        PRIMARY KEY (day, target, collector, database, schema, name)
    ) WITHOUT ROWID;
    """,
    # version 6: interface rows that earlier versions keyed by name only join the
    # `ifIndex:name` rows of the same port (see `_migrate_iface_keys`)
    "_migrate_iface_keys",
]

MAX_TABLES = 200  # rows of one server's table-size snapshot (the largest ones)

# (table, column holding the time, unit of that column) for retention.
_PRUNED = (
    ("events", "ts", "ts"),
    ("alert_events", "ts", "ts"),
    ("poll_hour", "hour", "ts"),
    ("rate_5m", "slot", "ts"),
    ("dist_day", "day", "day"),
    ("gauge_day", "day", "day"),
    ("iface_day", "day", "day"),
    ("sessions", "last", "ts"),
    ("check_runs", "ts", "ts"),
    ("findings", "last_seen", "ts"),
    ("deliveries", "ts", "ts"),
    ("table_sizes", "day", "day"),
)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event read back from the history."""

    id: int
    ts: float
    target: str
    collector: str
    kind: EventKind
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An alert starting or resolving; `kind` is "start" or "resolve"."""

    ts: float
    alertname: str
    target: str
    severity: str
    kind: str
    silenced: bool = False
    notified: bool = False
    message: str = ""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification delivered to (or dropped by) one notifier, from the dispatcher.

    `status` is "firing" or "resolved"; `starts_at` the alert's start (it ties the
    notification to an outage); `reason` why it was dropped (queue_full, rejected,
    retries_exhausted), empty when delivered.
    """

    ts: float
    notifier: str
    alertname: str
    target: str
    status: str
    fingerprint: str
    starts_at: float
    delivered: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class InventorySnapshot:
    """One stored inventory snapshot of a target."""

    target: str
    ts: float
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Finding:
    """A security finding as a check reports it; identity is (check, target, key)."""

    check: str
    target: str
    severity: str
    policy: str
    iso_control: str
    detail: str
    key: str = ""


@dataclass(frozen=True, slots=True)
class StoredFinding:
    """A finding with the first and last time a check run saw it."""

    check: str
    target: str
    key: str
    severity: str
    policy: str
    iso_control: str
    detail: str
    first_seen: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class StoredSilence:
    """A silence as declared (`monitord silence add`), kept after it expires; `removed_at`
    is when it was removed before its end (None: it ran to `ends_at`)."""

    id: str
    starts_at: float
    ends_at: float
    targets: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    alertnames: tuple[str, ...] = ()
    comment: str = ""
    created_by: str = ""
    removed_at: float | None = None

    @property
    def effective_end(self) -> float:
        """When it stopped muting: its end, or its removal when that came first."""
        if self.removed_at is None:
            return self.ends_at
        return max(self.starts_at, min(self.ends_at, self.removed_at))


@dataclass(frozen=True, slots=True)
class TableSizeRow:
    """One table of a database server's largest-tables snapshot (a day's last fetch)."""

    target: str
    collector: str
    day: int  # YYYYMMDD, local
    ts: float
    database: str
    schema: str
    name: str
    bytes: float
    rows: float | None = None


def retention_cutoff(now: float, months: int, tz: str | ZoneInfo = "America/Bogota") -> float:
    """Epoch of the first instant kept: the start of the local month `months - 1` before now's."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    local = datetime.fromtimestamp(now, zone)
    index = local.year * 12 + (local.month - 1) - (months - 1)
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=zone).timestamp()


class History:
    """The SQLite store. Thread-safe (one connection, a lock); call `close()` at shutdown."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise HistoryError(f"cannot open history database {self.path}: {exc}") from exc
        self._lock = threading.RLock()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        for i, script in enumerate(_SCHEMA[version:], start=version + 1):
            if script == "_migrate_iface_keys":
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    _migrate_iface_keys(self._db)
                    self._db.execute(f"PRAGMA user_version={i}")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                continue
            self._db.executescript("BEGIN;" + script + f"PRAGMA user_version={i}; COMMIT;")

    @property
    def schema_version(self) -> int:
        """The PRAGMA user_version of the open database."""
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock; sqlite errors become HistoryError."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise HistoryError(f"cannot write to history {self.path}: {exc}") from exc

    def rows(self, sql: str, args: Iterable[object] = ()) -> Iterator[tuple[Any, ...]]:
        """Run one read query and yield its rows as SQLite steps through them (a month
        of rollups is never held as one list). The lock is held until the iteration ends
        or the generator is closed: consume it at once, write nothing meanwhile."""
        with self._lock:
            try:
                cur = self._db.execute(sql, tuple(args))
                try:
                    while batch := cur.fetchmany(512):
                        yield from batch
                finally:
                    cur.close()
            except sqlite3.Error as exc:
                raise HistoryError(f"cannot read history {self.path}: {exc}") from exc

    def query(self, sql: str, args: Iterable[object] = ()) -> list[tuple[Any, ...]]:
        """Run one read query; sqlite errors become HistoryError."""
        with self._lock:
            try:
                return self._db.execute(sql, tuple(args)).fetchall()
            except sqlite3.Error as exc:
                raise HistoryError(f"cannot read history {self.path}: {exc}") from exc

    # --- event log -------------------------------------------------------------

    def add_events(self, events: Iterable[Event]) -> None:
        """Append events in one transaction."""
        rows = [
            (e.ts, e.target, e.collector, e.kind.value, e.reason, e.message[:500]) for e in events
        ]
        if not rows:
            return
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO events(ts, target, collector, kind, reason, message) "
                "VALUES (?,?,?,?,?,?)",
                rows,
            )

    def events(
        self, since: float = 0.0, until: float = float("inf"), target: str | None = None
    ) -> list[StoredEvent]:
        """Events with since <= ts < until, oldest first."""
        sql = (
            "SELECT id, ts, target, collector, kind, reason, message FROM events "
            "WHERE ts >= ? AND ts < ?"
        )
        args: list[object] = [since, until if until != float("inf") else 1e18]
        if target is not None:
            sql += " AND target = ?"
            args.append(target)
        rows = self.query(sql + " ORDER BY ts, id", args)
        return [StoredEvent(r[0], r[1], r[2], r[3], EventKind(r[4]), r[5], r[6]) for r in rows]

    # --- alerts ----------------------------------------------------------------

    def add_alert_events(self, rows: Iterable[AlertEvent]) -> None:
        """Append alert starts/resolutions in one transaction."""
        data = [
            (
                a.ts,
                a.alertname,
                a.target,
                a.severity,
                a.kind,
                int(a.silenced),
                int(a.notified),
                a.message[:500],
            )
            for a in rows
        ]
        if not data:
            return
        for row in data:
            if row[4] not in ("start", "resolve"):
                raise HistoryError(f"alert event kind must be start or resolve, not {row[4]!r}")
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO alert_events(ts, alertname, target, severity, kind, silenced, "
                "notified, message) VALUES (?,?,?,?,?,?,?,?)",
                data,
            )

    def alert_events(self, since: float = 0.0, until: float = 1e18) -> list[AlertEvent]:
        """Alert events with since <= ts < until, oldest first."""
        rows = self.query(
            "SELECT ts, alertname, target, severity, kind, silenced, notified, message "
            "FROM alert_events WHERE ts >= ? AND ts < ? ORDER BY ts, id",
            (since, until),
        )
        return [
            AlertEvent(r[0], r[1], r[2], r[3], r[4], bool(r[5]), bool(r[6]), r[7]) for r in rows
        ]

    def add_deliveries(self, rows: Iterable[Delivery]) -> None:
        """Append the dispatcher's delivery outcomes in one transaction."""
        data = [
            (d.ts, d.notifier, d.alertname, d.target, d.status, d.fingerprint, d.starts_at,
             int(d.delivered), d.reason)
            for d in rows
        ]  # fmt: skip
        if not data:
            return
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO deliveries(ts, notifier, alertname, target, status, fingerprint, "
                "starts_at, delivered, reason) VALUES (?,?,?,?,?,?,?,?,?)",
                data,
            )

    def deliveries(self, since: float = 0.0, until: float = 1e18) -> list[Delivery]:
        """Delivery outcomes of alerts that started in [since, until), oldest first."""
        rows = self.query(
            "SELECT ts, notifier, alertname, target, status, fingerprint, starts_at, delivered, "
            "reason FROM deliveries WHERE starts_at >= ? AND starts_at < ? ORDER BY ts, id",
            (since, until),
        )
        return [Delivery(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8]) for r in rows]

    # --- inventory -------------------------------------------------------------

    def add_inventory(self, target: str, ts: float, data: Mapping[str, Any]) -> bool:
        """Store a snapshot if it differs from the target's latest one; return True if stored."""
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
        digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        with self.transaction() as db:
            last = db.execute(
                "SELECT hash FROM inventory WHERE target = ? ORDER BY ts DESC, id DESC LIMIT 1",
                (target,),
            ).fetchone()
            if last is not None and last[0] == digest:
                return False
            db.execute(
                "INSERT INTO inventory(target, ts, hash, data) VALUES (?,?,?,?)",
                (target, ts, digest, text),
            )
        return True

    def inventory(
        self, until: float = 1e18, target: str | None = None, since: float = 0.0
    ) -> list[InventorySnapshot]:
        """Snapshots with since <= ts < until, by target then time."""
        sql = "SELECT target, ts, data FROM inventory WHERE ts >= ? AND ts < ?"
        args: list[object] = [since, until]
        if target is not None:
            sql += " AND target = ?"
            args.append(target)
        rows = self.query(sql + " ORDER BY target, ts, id", args)
        return [InventorySnapshot(r[0], r[1], json.loads(r[2])) for r in rows]

    def latest_inventory(self, until: float = 1e18) -> dict[str, InventorySnapshot]:
        """The newest snapshot of each target taken before `until`."""
        rows = self.query(
            "SELECT i.target, i.ts, i.data FROM inventory i JOIN (SELECT target, MAX(ts) m "
            "FROM inventory WHERE ts < ? GROUP BY target) l ON i.target = l.target AND i.ts = l.m "
            "ORDER BY i.target, i.id",
            (until,),
        )
        return {r[0]: InventorySnapshot(r[0], r[1], json.loads(r[2])) for r in rows}

    # --- security findings -----------------------------------------------------

    def upsert_findings(
        self, findings: Iterable[Finding], ts: float, checks: Iterable[str] = ()
    ) -> None:
        """Record one run of security checks at `ts`.

        Every finding passed is created or refreshed (`last_seen = ts`); `checks` names
        the checks that ran (those of the findings are added), so a check that ran and
        found nothing resolves its earlier findings: a finding is open while its
        `last_seen` equals the latest run of its check.
        """
        items = list(findings)
        ran = set(checks) | {f.check for f in items}
        with self.transaction() as db:
            db.executemany(
                'INSERT OR IGNORE INTO check_runs("check", ts) VALUES (?,?)',
                [(c, ts) for c in sorted(ran)],
            )
            db.executemany(
                'INSERT INTO findings("check", target, key, severity, policy, iso_control, '
                "detail, first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?) "
                'ON CONFLICT("check", target, key) DO UPDATE SET severity=excluded.severity, '
                "policy=excluded.policy, iso_control=excluded.iso_control, "
                "detail=excluded.detail, last_seen=MAX(last_seen, excluded.last_seen)",
                [
                    (
                        f.check,
                        f.target,
                        f.key,
                        f.severity,
                        f.policy,
                        f.iso_control,
                        f.detail[:1000],
                        ts,
                        ts,
                    )
                    for f in items
                ],
            )

    def findings(self, since: float = 0.0, until: float = 1e18) -> list[StoredFinding]:
        """Findings seen at least once in [since, until)."""
        rows = self.query(
            'SELECT "check", target, key, severity, policy, iso_control, detail, first_seen, '
            "last_seen FROM findings WHERE first_seen < ? AND last_seen >= ? "
            'ORDER BY "check", target, key',
            (until, since),
        )
        return [StoredFinding(*r) for r in rows]

    def check_runs(self, since: float = 0.0, until: float = 1e18) -> dict[str, list[float]]:
        """Times each check ran in [since, until)."""
        out: dict[str, list[float]] = {}
        for check, ts in self.query(
            'SELECT "check", ts FROM check_runs WHERE ts >= ? AND ts < ? ORDER BY ts',
            (since, until),
        ):
            out.setdefault(check, []).append(ts)
        return out

    # --- silences (the maintenance calendar of the reports) ----------------------

    def add_silences(self, items: Iterable[StoredSilence]) -> None:
        """Record silences (an id already recorded is left as it is)."""
        data = [
            (x.id, x.starts_at, x.ends_at, x.removed_at, json.dumps(list(x.targets)),
             json.dumps(list(x.sites)), json.dumps(list(x.tags)), json.dumps(list(x.alertnames)),
             x.comment[:500], x.created_by[:100])
            for x in items
        ]  # fmt: skip
        if not data:
            return
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO silences(id, starts_at, ends_at, removed_at, targets, "
                "sites, tags, alertnames, comment, created_by) VALUES (?,?,?,?,?,?,?,?,?,?)",
                data,
            )

    def silence_removed(self, silence_id: str, ts: float) -> None:
        """Note that a silence was removed at `ts` (its effective end, if before its end)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE silences SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
                (ts, silence_id),
            )

    def silences(self, since: float = 0.0, until: float = 1e18) -> list[StoredSilence]:
        """Silences that muted something within [since, until), by start."""
        rows = self.query(
            "SELECT id, starts_at, ends_at, removed_at, targets, sites, tags, alertnames, "
            "comment, created_by FROM silences WHERE starts_at < ? AND "
            "MIN(ends_at, COALESCE(removed_at, ends_at)) > ? ORDER BY starts_at, id",
            (until, since),
        )
        out = []
        for r in rows:
            targets, sites, tags, names = (_strs(c) for c in r[4:8])
            out.append(
                StoredSilence(r[0], r[1], r[2], targets, sites, tags, names, r[8], r[9], r[3])
            )
        return out

    # --- largest tables of the database servers ----------------------------------

    def add_table_sizes(
        self, target: str, collector: str, ts: float, day: int, tables: Iterable[TableSize]
    ) -> int:
        """Store a server's largest tables as the snapshot of `day` (replacing an earlier
        one of that day); at most `MAX_TABLES`, the largest. Return the rows stored."""
        items = sorted(tables, key=lambda t: -t.bytes)[:MAX_TABLES]
        with self.transaction() as db:
            db.execute(
                "DELETE FROM table_sizes WHERE day = ? AND target = ? AND collector = ?",
                (day, target, collector),
            )
            db.executemany(
                "INSERT OR REPLACE INTO table_sizes(target, collector, day, ts, database, "
                "schema, name, bytes, rows) VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (target, collector, day, ts, t.database[:200], t.schema[:200], t.table[:200],
                     float(t.bytes), None if t.rows is None else float(t.rows))
                    for t in items
                ],
            )  # fmt: skip
        return len(items)

    def table_sizes(self, first_day: int, last_day: int) -> list[TableSizeRow]:
        """Table-size snapshots of the days first_day..last_day, oldest first."""
        rows = self.query(
            "SELECT target, collector, day, ts, database, schema, name, bytes, rows "
            "FROM table_sizes WHERE day BETWEEN ? AND ? ORDER BY day, target, collector, "
            "bytes DESC",
            (first_day, last_day),
        )
        return [TableSizeRow(*r) for r in rows]

    # --- retention -------------------------------------------------------------

    def prune(self, before: float, tz: str | ZoneInfo = "America/Bogota") -> dict[str, int]:
        """Delete what is older than `before` (epoch); return rows deleted per table.

        The newest inventory snapshot of each target is kept whatever its age, so a
        device's record (hoja de vida) never disappears while it is in the database.
        """
        zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        local = datetime.fromtimestamp(before, zone)
        day = local.year * 10000 + local.month * 100 + local.day
        out: dict[str, int] = {}
        with self.transaction() as db:
            for table, col, unit in _PRUNED:
                cur = db.execute(
                    f"DELETE FROM {table} WHERE {col} < ?", (day if unit == "day" else before,)
                )
                out[table] = cur.rowcount
            cur = db.execute(
                "DELETE FROM inventory WHERE ts < ? AND id NOT IN (SELECT id FROM inventory i "
                "WHERE ts = (SELECT MAX(ts) FROM inventory j WHERE j.target = i.target))",
                (before,),
            )
            out["inventory"] = cur.rowcount
            cur = db.execute(
                "DELETE FROM silences WHERE MIN(ends_at, COALESCE(removed_at, ends_at)) < ?",
                (before,),
            )
            out["silences"] = cur.rowcount
        return out

    def size_bytes(self) -> int:
        """Bytes used by the database pages (excluding free pages and the WAL)."""
        rows = self.query("PRAGMA page_count")
        free = self.query("PRAGMA freelist_count")
        size = self.query("PRAGMA page_size")
        return int((rows[0][0] - free[0][0]) * size[0][0])

    def integrity_check(self) -> str:
        """`PRAGMA integrity_check`'s first line ("ok" when sound)."""
        return str(self.query("PRAGMA integrity_check")[0][0])

    def checkpoint(self) -> None:
        """Copy the WAL into the main file and truncate it."""
        self.query("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Checkpoint and close."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                raise HistoryError(f"cannot checkpoint history {self.path}: {exc}") from exc
            finally:
                self._db.close()


def _strs(text: str) -> tuple[str, ...]:
    return tuple(str(v) for v in json.loads(text))


_IFACE_SUMS = (
    "secs", "in_bytes", "out_bytes", "in_errors", "out_errors", "in_discards", "out_discards",
    "oper_secs", "up_secs", "oper_changes", "busy_secs",
)  # fmt: skip
_IFACE_COLS = (
    "secs, in_bytes, out_bytes, in_peak, out_peak, in_errors, out_errors, in_discards, "
    "out_discards, oper_secs, up_secs, oper_changes, busy_secs, speed"
)


def _migrate_iface_keys(db: sqlite3.Connection) -> None:
    """Interface rows of older versions are keyed by name only (`eth0`), newer ones by
    `ifIndex:name` (`3:eth0`). A name-only series takes the index its meta recorded (or,
    without one, that of the only `N:name` series of the same device and collector): it
    is renamed, or merged into the new series when that exists (day rows and WAN slots
    add up, peaks take the maximum), so a month spanning the upgrade shows each port
    once with all its traffic. A name-only series that matches no index stays as is."""
    series = db.execute(
        "SELECT id, target, collector, object, meta FROM series WHERE kind = 'if'"
    ).fetchall()
    keyed: dict[tuple[str, str, str], int] = {}
    by_name: dict[tuple[str, str, str], list[str]] = {}
    for sid, target, col, obj, _ in series:
        head, sep, tail = obj.partition(":")
        if sep and head.isdigit():
            keyed[(target, col, obj)] = sid
            by_name.setdefault((target, col, tail), []).append(head)
    sums = ", ".join(f"{c} = {c} + excluded.{c}" for c in _IFACE_SUMS)
    for sid, target, col, obj, meta in series:
        head, sep, _ = obj.partition(":")
        if sep and head.isdigit():
            continue
        try:
            index = str(json.loads(meta or "{}").get("ifindex", "") or "")
        except (ValueError, AttributeError):
            index = ""
        if not index.isdigit():
            known = by_name.get((target, col, obj), [])
            if len(known) != 1:
                continue
            index = known[0]
        new = f"{index}:{obj}"
        into = keyed.get((target, col, new))
        if into is None:
            db.execute("UPDATE series SET object = ? WHERE id = ?", (new, sid))
            keyed[(target, col, new)] = sid
            continue
        db.execute(
            f"INSERT INTO iface_day(sid, day, {_IFACE_COLS}) SELECT ?, day, {_IFACE_COLS} "
            f"FROM iface_day WHERE sid = ? ON CONFLICT(day, sid) DO UPDATE SET {sums}, "
            "in_peak = MAX(in_peak, excluded.in_peak), "
            "out_peak = MAX(out_peak, excluded.out_peak), speed = MAX(speed, excluded.speed)",
            (into, sid),
        )
        db.execute(
            "INSERT INTO rate_5m(sid, slot, secs, in_bytes, out_bytes) SELECT ?, slot, secs, "
            "in_bytes, out_bytes FROM rate_5m WHERE sid = ? ON CONFLICT(slot, sid) DO UPDATE "
            "SET secs = secs + excluded.secs, in_bytes = in_bytes + excluded.in_bytes, "
            "out_bytes = out_bytes + excluded.out_bytes",
            (into, sid),
        )
        for table in ("iface_day", "rate_5m", "dist_day", "gauge_day", "poll_hour"):
            db.execute(f"DELETE FROM {table} WHERE sid = ?", (sid,))
        db.execute("DELETE FROM series WHERE id = ?", (sid,))
