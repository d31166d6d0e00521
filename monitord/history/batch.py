"""Writing a rollup batch into the history: one transaction, merged into the stored rows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from monitord.history.accumulate import Batch, DistAcc, SeriesId
from monitord.history.db import History

__all__ = ["write_batch"]


def write_batch(
    history: History,
    batch: Batch,
    tz: ZoneInfo,
    *,
    session: int | None = None,
    started: float | None = None,
    last: float | None = None,
    clean: bool = False,
) -> int | None:
    """Merge a batch into the history in one transaction; return the session id (if any)."""
    with history.transaction() as db:
        ids = _series_ids(db, batch)
        if started is not None and last is not None:
            if session is None:
                cur = db.execute(
                    "INSERT INTO sessions(started, last, clean) VALUES (?,?,?)",
                    (started, last, int(clean)),
                )
                session = cur.lastrowid
            else:
                db.execute(
                    "UPDATE sessions SET last = MAX(last, ?), clean = ? WHERE id = ?",
                    (last, int(clean), session),
                )
        db.executemany(
            "INSERT INTO targets(name, address, kind, site, parent, critical, tags, description,"
            " updated) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET "
            "address=excluded.address, kind=excluded.kind, site=excluded.site, "
            "parent=excluded.parent, critical=excluded.critical, tags=excluded.tags, "
            "description=excluded.description, updated=excluded.updated",
            [
                (
                    t.name,
                    t.address,
                    t.kind.value,
                    t.site,
                    t.parent,
                    int(t.critical),
                    json.dumps(list(t.tags)),
                    t.description,
                    ts,
                )
                for t, ts in batch.targets.values()
            ],
        )
        db.executemany(
            "UPDATE series SET meta = ? WHERE id = ?",
            [(json.dumps(m, sort_keys=True), ids[s]) for s, m in batch.meta.items() if s in ids],
        )
        db.executemany(
            "INSERT INTO poll_hour(sid, hour, polls, ok, interval, restarts, uptime) "
            "VALUES (?,?,?,?,?,?,?) ON CONFLICT(hour, sid) DO UPDATE SET "
            "polls = polls + excluded.polls, ok = ok + excluded.ok, interval = excluded.interval,"
            " restarts = restarts + excluded.restarts, uptime = COALESCE(excluded.uptime, uptime)",
            [
                (ids[s], h, a.polls, a.ok, a.interval, a.restarts, a.uptime)
                for (s, h), a in batch.polls.items()
            ],
        )
        _write_dists(db, ids, batch.dists)
        db.executemany(
            "INSERT INTO gauge_day(sid, day, first, first_ts, last, last_ts, min, max) "
            "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(day, sid) DO UPDATE SET "
            "first = CASE WHEN excluded.first_ts < first_ts THEN excluded.first ELSE first END,"
            " first_ts = MIN(first_ts, excluded.first_ts),"
            " last = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last ELSE last END,"
            " last_ts = MAX(last_ts, excluded.last_ts),"
            " min = MIN(min, excluded.min), max = MAX(max, excluded.max)",
            [
                (ids[s], d, a.first, a.first_ts, a.last, a.last_ts, a.min, a.max)
                for (s, d), a in batch.gauges.items()
            ],
        )
        db.executemany(
            "INSERT INTO iface_day(sid, day, secs, in_bytes, out_bytes, in_peak, out_peak, "
            "in_errors, out_errors, in_discards, out_discards, oper_secs, up_secs, oper_changes,"
            " busy_secs, speed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(day, sid) DO UPDATE SET secs = secs + excluded.secs, "
            "in_bytes = in_bytes + excluded.in_bytes, out_bytes = out_bytes + excluded.out_bytes,"
            " in_peak = MAX(in_peak, excluded.in_peak), out_peak = MAX(out_peak, "
            "excluded.out_peak), in_errors = in_errors + excluded.in_errors, out_errors = "
            "out_errors + excluded.out_errors, in_discards = in_discards + excluded.in_discards,"
            " out_discards = out_discards + excluded.out_discards, oper_secs = oper_secs + "
            "excluded.oper_secs, up_secs = up_secs + excluded.up_secs, oper_changes = "
            "oper_changes + excluded.oper_changes, busy_secs = busy_secs + excluded.busy_secs,"
            " speed = CASE WHEN excluded.speed > 0 THEN excluded.speed ELSE speed END",
            [
                (
                    ids[s],
                    d,
                    a.secs,
                    a.in_bytes,
                    a.out_bytes,
                    a.in_peak,
                    a.out_peak,
                    a.in_errors,
                    a.out_errors,
                    a.in_discards,
                    a.out_discards,
                    a.oper_secs,
                    a.up_secs,
                    a.oper_changes,
                    a.busy_secs,
                    a.speed,
                )
                for (s, d), a in batch.ifaces.items()
            ],
        )
        db.executemany(
            "INSERT INTO rate_5m(sid, slot, secs, in_bytes, out_bytes) VALUES (?,?,?,?,?) "
            "ON CONFLICT(slot, sid) DO UPDATE SET secs = secs + excluded.secs, "
            "in_bytes = in_bytes + excluded.in_bytes, out_bytes = out_bytes + excluded.out_bytes",
            [
                (ids[s], slot, a.secs, a.in_bytes, a.out_bytes)
                for (s, slot), a in batch.rates.items()
            ],
        )
    return session


def _series_ids(db: sqlite3.Connection, batch: Batch) -> dict[SeriesId, int]:
    wanted: set[SeriesId] = set(batch.meta)
    for table in (batch.polls, batch.dists, batch.gauges, batch.ifaces, batch.rates):
        wanted.update(s for s, _ in table)
    db.executemany(
        "INSERT OR IGNORE INTO series(target, collector, kind, object) VALUES (?,?,?,?)",
        sorted(wanted),
    )
    ids: dict[SeriesId, int] = {}
    for target in {s[0] for s in wanted}:
        for sid, col, kind, obj in db.execute(
            "SELECT id, collector, kind, object FROM series WHERE target = ?", (target,)
        ):
            ids[(target, col, kind, obj)] = sid
    return ids


def _write_dists(
    db: sqlite3.Connection,
    ids: Mapping[SeriesId, int],
    dists: Mapping[tuple[SeriesId, int], DistAcc],
) -> None:
    if not dists:
        return
    stored: dict[tuple[int, int], DistAcc] = {}
    for day in sorted({d for _, d in dists}):
        for sid, n, s, lo, hi, hist in db.execute(
            "SELECT sid, n, sum, min, max, hist FROM dist_day WHERE day = ?", (day,)
        ):
            h = {int(k): int(v) for k, v in json.loads(hist).items()}
            stored[(sid, day)] = DistAcc(n, s, lo, hi, h)
    rows = []
    for (s, day), acc in dists.items():
        merged = DistAcc()
        old = stored.get((ids[s], day))
        if old is not None:
            merged.merge(old)
        merged.merge(acc)
        if merged.n == 0:
            continue
        hist = json.dumps(
            {str(k): v for k, v in sorted(merged.hist.items())}, separators=(",", ":")
        )
        rows.append((ids[s], day, merged.n, merged.sum, merged.min, merged.max, hist))
    db.executemany(
        "INSERT OR REPLACE INTO dist_day(sid, day, n, sum, min, max, hist) VALUES (?,?,?,?,?,?,?)",
        rows,
    )
