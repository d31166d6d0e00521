"""On-disk history: SQLite in WAL mode under the data directory.

Holds what the monthly reports need, not raw samples. Schema version 1 holds the
event log (state transitions: outages with their start and end); rollups and
inventory snapshots come with the reports. Writes are small transactions; a crash
loses at most the batch being written.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from monitord.errors import HistoryError
from monitord.state import Event, EventKind

__all__ = ["History", "StoredEvent"]

_SCHEMA = [
    # version 1
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
]


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
        self._lock = threading.Lock()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        for i, script in enumerate(_SCHEMA[version:], start=version + 1):
            self._db.executescript("BEGIN;" + script + f"PRAGMA user_version={i}; COMMIT;")

    def add_events(self, events: Iterable[Event]) -> None:
        """Append events in one transaction."""
        rows = [
            (e.ts, e.target, e.collector, e.kind.value, e.reason, e.message[:500]) for e in events
        ]
        if not rows:
            return
        try:
            with self._lock:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT INTO events(ts, target, collector, kind, reason, message) VALUES (?,?,?,?,?,?)",
                    rows,
                )
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot write events to {self.path}: {exc}") from exc

    def events(
        self, since: float = 0.0, until: float = float("inf"), target: str | None = None
    ) -> list[StoredEvent]:
        """Events with since <= ts < until, oldest first."""
        sql = "SELECT id, ts, target, collector, kind, reason, message FROM events WHERE ts >= ? AND ts < ?"
        args: list[object] = [since, until if until != float("inf") else 1e18]
        if target is not None:
            sql += " AND target = ?"
            args.append(target)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY ts, id", args).fetchall()
        return [StoredEvent(r[0], r[1], r[2], r[3], EventKind(r[4]), r[5], r[6]) for r in rows]

    def close(self) -> None:
        """Checkpoint and close."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._db.close()
