"""History: schema migration, event log, alert events, inventory snapshots, findings, retention."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitord.errors import HistoryError
from monitord.history import Batch, GaugeAcc, IfaceAcc, PollAcc, write_batch
from monitord.history.db import AlertEvent, Finding, History, retention_cutoff
from monitord.state import Event, EventKind

TZ = ZoneInfo("America/Bogota")


def _ts(y: int, m: int, d: int, h: int = 0) -> float:
    return datetime(y, m, d, h, tzinfo=TZ).timestamp()


def test_migrates_a_version_1_database_keeping_its_events(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, ts REAL NOT NULL, target TEXT NOT NULL,"
        " collector TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',"
        " message TEXT NOT NULL DEFAULT ''); PRAGMA user_version=1;"
        "INSERT INTO events(ts, target, collector, kind, reason)"
        " VALUES (5, 'a', 'icmp', 'down', 'timeout');"
    )
    con.close()
    h = History(db)
    assert h.schema_version == 6
    assert [(e.target, e.kind, e.reason) for e in h.events()] == [("a", EventKind.DOWN, "timeout")]
    assert h.query("SELECT name FROM sqlite_master WHERE name = 'findings'") == [("findings",)]
    assert h.query("SELECT name FROM sqlite_master WHERE name = 'deliveries'") == [("deliveries",)]
    h.close()
    assert History(db).schema_version == 6  # reopening runs nothing again


def test_events_roundtrip_and_filters(tmp_path: Path) -> None:
    h = History(tmp_path / "h.db")
    h.add_events(
        [
            Event(10, "a", "icmp", EventKind.DOWN, "timeout", "x" * 900),
            Event(20, "b", "snmp", EventKind.DOWN),
            Event(30, "a", "icmp", EventKind.UP),
        ]
    )
    assert [e.ts for e in h.events(target="a")] == [10, 30]
    assert [e.ts for e in h.events(since=15, until=30)] == [20]
    assert len(h.events()[0].message) == 500
    h.close()


def test_alert_events(tmp_path: Path) -> None:
    h = History(tmp_path / "h.db")
    h.add_alert_events(
        [
            AlertEvent(1, "TargetDown", "sw-1", "critical", "start", notified=True, message="down"),
            AlertEvent(9, "TargetDown", "sw-1", "critical", "resolve", silenced=True),
        ]
    )
    got = h.alert_events()
    assert [(a.kind, a.notified, a.silenced) for a in got] == [
        ("start", True, False),
        ("resolve", False, True),
    ]
    with pytest.raises(HistoryError, match="start or resolve"):
        h.add_alert_events([AlertEvent(1, "X", "t", "info", "firing")])
    h.close()


def test_inventory_stored_only_when_it_changes(tmp_path: Path) -> None:
    h = History(tmp_path / "h.db")
    assert h.add_inventory("srv", 1, {"os": "Debian", "software": [{"name": "a"}]})
    assert not h.add_inventory("srv", 2, {"software": [{"name": "a"}], "os": "Debian"})
    assert h.add_inventory("srv", 3, {"os": "Debian 12", "software": [{"name": "a"}]})
    assert h.add_inventory("rtr", 2, {"firmware": "1.0"})
    assert [(s.ts, s.data["os"]) for s in h.inventory(target="srv")] == [
        (1, "Debian"),
        (3, "Debian 12"),
    ]
    latest = h.latest_inventory(until=2.5)
    assert {k: v.ts for k, v in latest.items()} == {"srv": 1, "rtr": 2}
    h.close()


def test_findings_upsert_first_and_last_seen(tmp_path: Path) -> None:
    h = History(tmp_path / "h.db")
    f = Finding("ports.forbidden_open", "srv", "high", "Puertos", "8.20", "23/tcp open", key="23")
    h.upsert_findings([f], 100)
    h.upsert_findings([Finding(f.check, "srv", "critical", "Puertos", "8.20", "23/tcp", "23")], 200)
    h.upsert_findings([], 300, checks=["ports.forbidden_open", "tls.expiry"])
    (got,) = h.findings()
    assert (got.first_seen, got.last_seen, got.severity) == (100, 200, "critical")
    assert h.check_runs() == {"ports.forbidden_open": [100, 200, 300], "tls.expiry": [300]}
    assert h.findings(since=250) == []
    h.close()


def test_retention_cutoff_is_the_start_of_a_local_month() -> None:
    now = _ts(2026, 11, 1, 3)
    assert retention_cutoff(now, 13, TZ) == _ts(2025, 11, 1)
    assert retention_cutoff(_ts(2026, 1, 15), 2, TZ) == _ts(2025, 12, 1)


def test_prune_deletes_old_rows_and_keeps_the_latest_inventory(tmp_path: Path) -> None:
    h = History(tmp_path / "h.db")
    old, new = _ts(2025, 9, 10), _ts(2026, 10, 10)
    for ts in (old, new):
        b = Batch()
        sid = ("sw", "snmp", "if", "ge0")
        day = datetime.fromtimestamp(ts, TZ)
        dk = day.year * 10000 + day.month * 100 + day.day
        b.polls[(("sw", "snmp", "poll", ""), int(ts // 3600) * 3600)] = PollAcc(60, 60, 60.0)
        b.ifaces[(sid, dk)] = IfaceAcc(secs=60)
        b.gauges[(("sw", "snmp", "fs_used", "/"), dk)] = GaugeAcc(1, ts, 1, ts, 1, 1)
        write_batch(h, b, TZ, started=ts, last=ts + 60)
        h.add_events([Event(ts, "sw", "snmp", EventKind.DOWN)])
    h.add_inventory("gone", old, {"model": "x"})
    h.add_inventory("sw", old, {"model": "a"})
    h.add_inventory("sw", new, {"model": "b"})
    deleted = h.prune(retention_cutoff(_ts(2026, 11, 1), 13, TZ), TZ)
    assert deleted["events"] == 1 and deleted["poll_hour"] == 1 and deleted["iface_day"] == 1
    assert deleted["gauge_day"] == 1 and deleted["sessions"] == 1 and deleted["inventory"] == 1
    assert [e.ts for e in h.events()] == [new]
    assert {k: v.data["model"] for k, v in h.latest_inventory().items()} == {"gone": "x", "sw": "b"}
    assert h.integrity_check() == "ok"
    h.close()


def test_unwritable_location_is_a_history_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(HistoryError, match="cannot open history database"):
        History(tmp_path / "file" / "h.db")
