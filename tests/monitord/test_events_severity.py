"""Device events speak the one severity vocabulary (monitord.types.Severity): syslog
levels 0-7 and the meaning table's entries map to it as docs/events.md documents, the
table reads its former words through `Severity.parse`, and the history keeps (and
rewrites its older rows to) the vocabulary's words."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from collectors.events.meaning import load_table
from collectors.events.syslog import parse_syslog
from collectors.events.traps import decode_trap
from monitord.errors import ConfigError
from monitord.events.store import DeviceEventStore, read_device_events
from monitord.history.db import History
from monitord.types import DeviceEventKind, Severity
from tests.collectors.events.senders import capture_trap
from tests.conftest import REPO

S = Severity
# RFC 5424 6.2.1 levels, by hand: emerg alert crit -> critical, err -> high,
# warning -> medium, notice -> low, info debug -> info
BY_HAND = [S.CRITICAL, S.CRITICAL, S.CRITICAL, S.HIGH, S.MEDIUM, S.LOW, S.INFO, S.INFO]


@pytest.mark.parametrize("level", range(8))
def test_a_syslog_line_no_entry_knows_takes_its_own_level(level: int) -> None:
    table = load_table()
    for facility in (4, 23):  # auth, local7: the facility does not count
        line = f"<{facility * 8 + level}>Dec  3 03:00:00 sw-9 acme: fan tray 2 removed"
        ev = table.syslog_event(parse_syslog(line.encode()), "127.0.0.9", 1.0)
        assert (ev.kind, ev.name) == (DeviceEventKind.OTHER, "acme")
        assert ev.severity is BY_HAND[level]


def test_a_matched_entry_gives_its_severity_whatever_the_line_level() -> None:
    table = load_table()
    # OpenSSH logs a failed password at auth.info (38), Cisco a link change at err (3)
    sshd = b"<38>Dec  3 03:00:00 srv sshd[1]: Failed password for root from 127.0.0.5 port 2"
    link = b"<187>12: *Mar  1 00:01:02: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down"
    cfg = b"<189>13: *Mar  1 00:01:03: %SYS-5-CONFIG_I: Configured from console by ops"
    got = [table.syslog_event(parse_syslog(x), "127.0.0.1", 1.0) for x in (sshd, link, cfg)]
    assert [(e.name, e.severity) for e in got] == [
        ("sshd_failed_password", S.MEDIUM),
        ("cisco_link_updown", S.MEDIUM),
        ("cisco_config_changed", S.LOW),
    ]


def test_traps_known_and_unknown() -> None:
    table = load_table()
    v2 = ["-v", "2c", "-c", "public"]
    for oid, expected in (
        ("1.3.6.1.2.1.33.2.1", S.CRITICAL),  # upsTrapOnBattery
        ("1.3.6.1.4.1.9.9.13.3.0.4", S.HIGH),  # ciscoEnvMonFanNotification
        ("1.3.6.1.6.3.1.1.5.4", S.INFO),  # linkUp
        ("1.3.6.1.4.1.99.0.7", S.INFO),  # no entry: info
    ):
        ev = table.trap_event(decode_trap(capture_trap(v2, ["", oid])), "127.0.0.1", 1.0)
        assert ev.severity is expected, oid


def _md_table(text: str, header: str) -> list[list[str]]:
    """The rows of the markdown table whose header line starts with `header`."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip().startswith(header))
    rows = []
    for ln in lines[start + 2 :]:
        if not ln.strip().startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip().strip("|").split("|")])
    return rows


def test_docs_tables_are_the_mapping_and_the_built_in_table() -> None:
    text = (REPO / "docs/events.md").read_text("utf-8")
    levels = {}
    for left, right in _md_table(text, "| syslog severity (RFC 5424"):
        for n in re.findall(r"(\d) \w+", left):
            levels[int(n)] = Severity(right)
    assert [levels[n] for n in range(8)] == BY_HAND
    assert [Severity.from_syslog(n) for n in range(8)] == BY_HAND
    table = load_table()
    traps = {r.name: r.severity for r in table.traps.values()}
    documented = {r[1]: Severity(r[3]) for r in _md_table(text, "| OID | name | kind | severity")}
    assert documented == traps
    syslog = {r.name: r.severity for r in table.syslog}
    documented = {
        r[0]: Severity(r[3]) for r in _md_table(text, "| name | vendor | kind | severity")
    }
    assert documented == syslog


def test_a_patterns_file_reads_the_former_words_through_the_same_mapping(tmp_path: Path) -> None:
    extra = tmp_path / "patterns.yaml"
    extra.write_text(
        "traps:\n"
        "  - {oid: 1.3.6.1.4.1.99.0.1, name: a, kind: health, severity: warning}\n"
        "  - {oid: 1.3.6.1.4.1.99.0.2, name: b, kind: health, severity: Critical}\n"
        "  - {oid: 1.3.6.1.4.1.99.0.3, name: c, kind: health, severity: info}\n"
        "  - {oid: 1.3.6.1.4.1.99.0.4, name: d, kind: health, severity: high}\n"
        "  - {oid: 1.3.6.1.4.1.99.0.5, name: e, kind: health}\n"
        "syslog:\n"
        "  - {name: old, kind: health, severity: warning, regex: 'PSU 1 failed'}\n"
        "  - {name: own, kind: health, regex: 'PSU 2 failed'}\n",
        encoding="utf-8",
    )
    table = load_table(extra)
    by_oid = {r.oid[-1]: r.severity for r in table.traps.values() if r.oid[:-1] == (
        1, 3, 6, 1, 4, 1, 99, 0)}  # fmt: skip
    assert by_oid == {1: S.MEDIUM, 2: S.CRITICAL, 3: S.INFO, 4: S.HIGH, 5: S.INFO}
    assert by_oid[1] is Severity.parse("warning")  # the alert rules' mapping

    def sev(line: bytes) -> Severity:
        return table.syslog_event(parse_syslog(line), "127.0.0.1", 1.0).severity

    # 186 = local7 (23) * 8 + 2 (crit); 189 = local7 notice; 185 = local7 alert
    assert sev(b"<186>ups: PSU 1 failed") is S.MEDIUM  # the entry's (warning), not crit's
    assert sev(b"<186>ups: PSU 2 failed") is S.CRITICAL  # no entry severity: crit's
    assert sev(b"<189>ups: PSU 2 failed") is S.LOW
    assert sev(b"<185>ups: PSU 2 failed") is S.CRITICAL

    extra.write_text("traps:\n  - {oid: 1.3.6.1.4.1.99.0.1, name: a, kind: health,"
                     " severity: urgent}\n", encoding="utf-8")  # fmt: skip
    with pytest.raises(ConfigError) as exc:
        load_table(extra)
    (issue,) = exc.value.issues
    assert (issue.path, issue.field) == (str(extra), "traps.0.severity")
    assert "unknown severity 'urgent' (known: critical, high, medium, low, info, warning)" in (
        issue.message
    )


def test_the_history_keeps_the_vocabulary_and_rewrites_former_rows(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    con = sqlite3.connect(db)  # a history written by an earlier build
    con.executescript(
        "CREATE TABLE device_events (id INTEGER PRIMARY KEY, ts REAL NOT NULL,"
        " last_ts REAL NOT NULL, target TEXT NOT NULL, address TEXT NOT NULL,"
        " origin TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,"
        " severity TEXT NOT NULL, count INTEGER NOT NULL, message TEXT NOT NULL,"
        " fields TEXT NOT NULL);"
    )
    old = ["warning", "critical", "info", "warning", "err", "notice"]
    con.executemany(
        "INSERT INTO device_events(ts, last_ts, target, address, origin, kind, name, severity,"
        " count, message, fields) VALUES (?,?,'sw','127.0.0.1','trap','health','x',?,1,'','{}')",
        [(float(i), float(i), w) for i, w in enumerate(old)],
    )
    con.commit()
    con.close()
    h = History(db)
    try:
        DeviceEventStore(h)
        got = [e.severity for e in read_device_events(h)]
        assert got == [S.MEDIUM, S.CRITICAL, S.INFO, S.MEDIUM, S.HIGH, S.LOW]
        raw = [r[0] for r in h.query("SELECT severity FROM device_events ORDER BY id")]
        assert raw == ["medium", "critical", "info", "medium", "high", "low"]
    finally:
        h.close()
