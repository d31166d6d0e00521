"""The device event log in the history database: table `device_events`.

One row per folded event: the first occurrence opens it, duplicates within the dedupe
window raise `count` and `last_ts`. The table lives in the history file next to the
others and is pruned with the same retention; rows per target and day are capped
(`DAY_CAP`), so its size per device is bounded (≈ 250 bytes a row).

`severity` holds a word of `monitord.types.Severity` (critical, high, medium, low,
info). Rows written before the table spoke that vocabulary said `warning`: opening the
store rewrites them to `medium` (the mapping of `Severity.parse`), and reading maps any
former word the same way, so the reports see one vocabulary.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from monitord.history.db import History
from monitord.types import Severity

__all__ = [
    "DAY_CAP",
    "DeviceEventStore",
    "StoredDeviceEvent",
    "read_device_events",
    "stored_severity",
]

DAY_CAP = 5000  # rows stored per target (or unknown source) and day; the rest is counted

_DDL = """
CREATE TABLE IF NOT EXISTS device_events (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, last_ts REAL NOT NULL,
    target TEXT NOT NULL, address TEXT NOT NULL, origin TEXT NOT NULL,
    kind TEXT NOT NULL, name TEXT NOT NULL, severity TEXT NOT NULL,
    count INTEGER NOT NULL, message TEXT NOT NULL, fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS device_events_ts ON device_events(ts);
CREATE INDEX IF NOT EXISTS device_events_target ON device_events(target, ts);
"""
# the former words still stored (info | warning | critical: warning is rewritten)
_FORMER = "SELECT DISTINCT severity FROM device_events WHERE severity NOT IN (?,?,?,?,?)"
_WORDS = tuple(s.value for s in Severity)


@dataclass(slots=True)
class StoredDeviceEvent:
    """One row of `device_events`; `target` is "" for a sender that is no target.

    The service keeps the rows of open dedupe windows and raises their `count`; `id` is
    0 until `DeviceEventStore.write` inserts the row.
    """

    ts: float
    last_ts: float
    target: str
    address: str
    origin: str
    kind: str
    name: str
    severity: Severity
    count: int
    message: str
    fields: Mapping[str, str]
    id: int = 0


class DeviceEventStore:
    """Reads and writes `device_events` through a `History` (its lock and transactions)."""

    def __init__(self, history: History) -> None:
        self.history = history
        with history.transaction() as db:
            for stmt in filter(str.strip, _DDL.split(";")):
                db.execute(stmt)
            for (word,) in db.execute(_FORMER, _WORDS).fetchall():
                db.execute(
                    "UPDATE device_events SET severity = ? WHERE severity = ?",
                    (stored_severity(word).value, word),
                )

    def write(
        self, new: Iterable[StoredDeviceEvent], updates: Iterable[tuple[int, int, float]]
    ) -> None:
        """Insert new rows (setting their ids) and apply (id, count, last_ts) updates."""
        rows = list(new)
        ups = list(updates)
        if not rows and not ups:
            return
        with self.history.transaction() as db:
            for r in rows:
                cur = db.execute(
                    "INSERT INTO device_events(ts, last_ts, target, address, origin, kind, name,"
                    " severity, count, message, fields) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        r.ts, r.last_ts, r.target, r.address, r.origin, r.kind, r.name,
                        Severity(r.severity).value, r.count, r.message[:1000],
                        json.dumps(dict(r.fields), sort_keys=True)[:2000],
                    ),
                )  # fmt: skip
                r.id = int(cur.lastrowid or 0)
            db.executemany(
                "UPDATE device_events SET count = ?, last_ts = ? WHERE id = ?",
                [(count, last, rid) for rid, count, last in ups],
            )

    def events(
        self,
        since: float = 0.0,
        until: float = 1e18,
        target: str | None = None,
        kinds: Iterable[str] = (),
    ) -> list[StoredDeviceEvent]:
        """Rows with since <= ts < until, oldest first (of one target, of some kinds)."""
        return read_device_events(self.history, since, until, target, kinds)

    def prune(self, before: float) -> int:
        """Delete rows older than `before`; return how many."""
        with self.history.transaction() as db:
            return int(db.execute("DELETE FROM device_events WHERE ts < ?", (before,)).rowcount)


def read_device_events(
    history: History,
    since: float = 0.0,
    until: float = 1e18,
    target: str | None = None,
    kinds: Iterable[str] = (),
) -> list[StoredDeviceEvent]:
    """Rows of `device_events` with since <= ts < until, oldest first; [] without the table.

    The table exists once a daemon ran with the receiver on; reports read it this way.
    """
    if not history.query("SELECT 1 FROM sqlite_master WHERE name = 'device_events'"):
        return []
    sql = (
        "SELECT id, ts, last_ts, target, address, origin, kind, name, severity, count,"
        " message, fields FROM device_events WHERE ts >= ? AND ts < ?"
    )
    args: list[object] = [since, until]
    if target is not None:
        sql += " AND target = ?"
        args.append(target)
    ks = list(kinds)
    if ks:
        sql += f" AND kind IN ({','.join('?' * len(ks))})"
        args.extend(ks)
    return [
        StoredDeviceEvent(
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            stored_severity(r[8]),
            r[9],
            r[10],
            json.loads(r[11]),
            r[0],
        )
        for r in history.query(sql + " ORDER BY ts, id", args)
    ]


def stored_severity(word: str) -> Severity:
    """A stored severity word in the vocabulary: the former `warning` is medium (as in
    `Severity.parse`), a syslog keyword (`err`, `notice`...) its level's, else info."""
    try:
        return Severity.parse(word)
    except ValueError:
        pass
    w = word.strip().lower()
    if w in _SYSLOG_WORDS:
        return Severity.from_syslog(_SYSLOG_WORDS.index(w))
    return Severity.INFO


# syslog's keywords (RFC 5424 6.2.1, 0-7): a row written by hand or by an older build
_SYSLOG_WORDS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
