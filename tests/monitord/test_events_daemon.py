"""The event receiver inside the daemon, with real senders: snmptrap, snmpinform, logger.

Asserts what an operator sees: /metrics counters, the re-poll a linkDown causes, the
failed-login alert, the rows in the history, the unknown sender's finding and the
device's row in the security report's failed-logins table.
"""

from __future__ import annotations

import csv
import json
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.collectors.events.senders import logger, snmptrap
from tests.collectors.events.test_receiver import free_udp_port
from tests.conftest import REPO, free_port, wait_for
from tests.monitord.test_daemon import _value

CONFIG = """\
daemon:
  listen: 127.0.0.1:{{port}}
  data_dir: {{data_dir}}
  startup_spread: 0.2s
defaults: {{{{interval: 1h, timeout: 900ms}}}}
alerts:
  evaluation_interval: 1s
  rules:
    device_failed_logins: {{{{threshold: 3}}}}   # built in; 10 by default
events:
  traps: {{{{listen: "127.0.0.1:{trap}", communities: ["${{{{TRAP_COMMUNITY}}}}"]}}}}
  syslog: {{{{udp: "127.0.0.1:{udp}", tcp: "127.0.0.1:{tcp}"}}}}
  dedupe_window: 60s
targets:
  - name: core-sw
    address: 127.0.0.3
    kind: switch
    collectors: {{{{snmp: {{{{community: "${{{{SNMP_COMMUNITY}}}}", port: {closed}}}}}}}}}
  - {{{{name: fw-01, address: 127.0.0.1, kind: firewall}}}}
"""
ENV = {"TRAP_COMMUNITY": "tr4p-s3cret", "SNMP_COMMUNITY": "public"}
V2 = ["-v", "2c", "-c", "tr4p-s3cret"]
LINK_DOWN = ["", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.5", "i", "5",
             "1.3.6.1.2.1.31.1.1.1.1.5", "s", "Gi0/5"]  # fmt: skip
SSHD = "Failed password for root from 127.0.0.66 port {} ssh2"


def test_traps_and_syslog_end_to_end(start_daemon, tmp_path: Path) -> None:
    trap, udp, tcp, closed = free_udp_port(), free_udp_port(), free_port(), free_udp_port()
    d = start_daemon(CONFIG.format(trap=trap, udp=udp, tcp=tcp, closed=closed), env=ENV)
    m = lambda name, **kw: _value(d.metrics(), name, **kw)  # noqa: E731
    wait_for(lambda: m("monitord_polls_total", collector="snmp") == 1, 20, "first snmp poll")

    # linkDown three times from the switch's address: one event, folded, one re-poll
    for _ in range(3):
        snmptrap(trap, ["--clientaddr=127.0.0.3", *V2], LINK_DOWN)
    wait_for(lambda: m("monitord_device_events_total", target="core-sw", kind="interface") == 3,
             10, "linkDown counted")  # fmt: skip
    wait_for(lambda: m("monitord_polls_total", collector="snmp") == 2, 10, "re-poll after trap")
    # a v1 coldStart relayed by another host names the switch in its agent-addr
    snmptrap(trap, ["--clientaddr=127.0.0.8", "-v", "1", "-c", "tr4p-s3cret"],
             ["1.3.6.1.4.1.9", "127.0.0.3", "0", "0", ""])  # fmt: skip
    # an inform is answered (snmpinform exits 0 only on the Response)
    snmptrap(trap, ["--clientaddr=127.0.0.3", *V2, "-r", "0", "-t", "3"],
             ["", "1.3.6.1.6.3.1.1.5.5"], inform=True)  # fmt: skip
    # wrong community: dropped and counted; unknown sender: counted, kept as a finding
    snmptrap(trap, ["--clientaddr=127.0.0.3", "-v", "2c", "-c", "guess"], LINK_DOWN)
    snmptrap(trap, ["--clientaddr=127.0.0.9", *V2], ["", "1.3.6.1.4.1.99.0.1"])
    # four failed logins on the firewall (127.0.0.1) in both RFC formats, UDP and TCP
    for i, (tcp_, rfc) in enumerate([(False, 3164), (False, 5424), (True, 3164), (True, 5424)]):
        logger(tcp if tcp_ else udp, SSHD.format(4000 + i), tcp=tcp_, rfc=rfc, tag="sshd")
    logger(tcp, "%SYS-5-CONFIG_I: Configured from console by ops on vty0", tcp=True, rfc=5424,
           octet_count=True)  # fmt: skip

    wait_for(lambda: m("monitord_device_failed_logins_total", target="fw-01") == 4, 10, "logins")
    text = d.metrics()
    assert _value(text, "monitord_device_recent_failed_logins", target="fw-01") == 4
    assert _value(text, "monitord_device_failed_logins_total", target="core-sw") == 1
    assert _value(text, "monitord_device_events_total", target="core-sw", kind="reboot") == 1
    assert _value(text, "monitord_device_events_total", target="fw-01", kind="config_change") == 1
    assert _value(text, "monitord_events_received_total", source="trap", kind="interface") == 3
    assert _value(text, "monitord_events_received_total", source="syslog", kind="failed_login") == 4
    assert _value(text, "monitord_events_dropped_total", reason="community") == 1
    assert _value(text, "monitord_events_unknown_source_total", source="trap") == 1
    db = Path(d.config).parent / "var" / "monitord.db"
    wait_for(lambda: _alerts(db), 15, "device_failed_logins alert")
    assert _alerts(db) == [("device_failed_logins", "fw-01", "start")]
    assert "tr4p-s3cret" not in d.log() and "tr4p-s3cret" not in text
    assert d.stop() == 0

    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT target, origin, kind, name, count, fields, severity FROM device_events ORDER BY id"
    ).fetchall()
    by = {(r[0], r[3]): r for r in rows}
    # the one severity vocabulary (docs/events.md "Severity"), from the built-in table
    assert {(r[0], r[3]): r[6] for r in rows} == {
        ("core-sw", "linkDown"): "medium",
        ("core-sw", "coldStart"): "medium",
        ("core-sw", "authenticationFailure"): "medium",
        ("", "1.3.6.1.4.1.99.0.1"): "info",  # an unknown trap
        ("fw-01", "sshd_failed_password"): "medium",
        ("fw-01", "cisco_config_changed"): "low",
    }
    link = by[("core-sw", "linkDown")]
    assert link[4] == 3 and json.loads(link[5]) == {"ifindex": "5", "ifname": "Gi0/5",
                                                    "state": "down"}  # fmt: skip
    assert by[("core-sw", "coldStart")][2] == "reboot"
    assert by[("", "1.3.6.1.4.1.99.0.1")][1:3] == ("trap", "other")
    # same user and source within the window: one row counting four
    assert [r[4] for r in rows if r[3] == "sshd_failed_password"] == [4]
    assert by[("fw-01", "cisco_config_changed")][2] == "config_change"
    finding = con.execute(
        'SELECT target, detail FROM findings WHERE "check" = ?',
        ("discovery.unknown_event_source",),
    ).fetchall()
    assert finding == [("127.0.0.9", "dispositivo desconocido envía traps: address=127.0.0.9"
                        " messages=1")]  # fmt: skip
    con.close()

    # the security report's failed-logins table now has the devices, not only servers
    month = datetime.now(ZoneInfo("America/Bogota")).strftime("%Y-%m")
    out = tmp_path / "reports"
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "report", "-c", str(d.config), "--month", month,
         "--kind", "security,network", "--format", "csv", "--out", str(out), "--jobs", "1"],
        capture_output=True, text=True, timeout=120, env={**ENV, "PATH": "/usr/bin:/bin"},
        cwd=REPO,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    files = [p for p in out.rglob("*.csv") if "intentos_fallidos" in p.name]
    assert files, sorted(p.name for p in out.rglob("*"))
    with files[0].open(encoding="utf-8-sig") as f:
        table = list(csv.reader(f, delimiter=";"))
    month_col = table[0].index("Intentos fallidos en el mes")
    counts = {row[0]: row[month_col] for row in table[1:]}
    assert counts == {"core-sw": "1", "fw-01": "4"}, table
    # and the network report lists the configuration change the firewall reported
    (changes,) = [p for p in out.rglob("*.csv") if "cambios_de_configuraci" in p.name]
    with changes.open(encoding="utf-8-sig") as f:
        table = list(csv.reader(f, delimiter=";"))
    assert [row[:1] + row[2:] for row in table[1:]] == [
        ["fw-01", "cisco_config_changed", "console by ops on vty0", "Baja", "1"]
    ], table  # severity low, labelled by the Spanish catalogue


def _alerts(db: Path) -> list[tuple[str, str, str]]:
    try:
        con = sqlite3.connect(db)
        try:
            return con.execute(
                "SELECT alertname, target, kind FROM alert_events WHERE alertname = ?",
                ("device_failed_logins",),
            ).fetchall()
        finally:
            con.close()
    except sqlite3.OperationalError:
        return []


FLOOD = """\
daemon:
  listen: 127.0.0.1:{{port}}
  data_dir: {{data_dir}}
  startup_spread: 0.1s
defaults: {{{{interval: 1s, timeout: 900ms}}}}
events:
  syslog: {{{{udp: "127.0.0.1:{udp}"}}}}
  rate_limit: 100
  burst: 200
targets:
  - {{{{name: a, address: 127.0.0.1, collectors: {{{{icmp: {{{{count: 1}}}}}}}}}}}}
  - {{{{name: b, address: 127.0.0.2, collectors: {{{{icmp: {{{{count: 1}}}}}}}}}}}}
"""


def test_a_flood_does_not_delay_polling(start_daemon) -> None:
    udp = free_udp_port()
    d = start_daemon(FLOOD.format(udp=udp))
    m = lambda name, **kw: _value(d.metrics(), name, **kw)  # noqa: E731
    wait_for(lambda: (m("monitord_polls_total", collector="icmp") or 0) >= 4, 20, "icmp polls")
    polls0 = m("monitord_polls_total", collector="icmp")
    missed0 = m("monitord_scheduler_missed_runs_total", collector="icmp") or 0
    line = b"<38>Dec  3 03:00:00 a sshd[1]: Failed password for root from 127.0.0.5 port 2"
    start = time.monotonic()
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        # 20,000 datagrams paced at 4,000/s (one source), stopping at 5 s whatever happens
        while sent < 20_000 and (now := time.monotonic() - start) < 5.0:
            if sent > 4000 * now:
                time.sleep(0.005)
                continue
            s.sendto(line, ("127.0.0.1", udp))
            sent += 1
    took = time.monotonic() - start
    time.sleep(max(0.0, 6.0 - took))
    elapsed = time.monotonic() - start
    text = d.metrics()
    polls = _value(text, "monitord_polls_total", collector="icmp") - polls0
    dropped = _value(text, "monitord_events_dropped_total", reason="rate_limit")
    got = _value(text, "monitord_events_received_total", source="syslog", kind="failed_login")
    print(f"flood: sent={sent} in {took:.2f}s received={got} dropped={dropped} "
          f"icmp polls={polls} in {elapsed:.1f}s (2 targets, 1s interval)")  # fmt: skip
    assert sent >= 5_000
    # two 1 s jobs over `elapsed` seconds: every run happened, none was skipped or late
    assert polls >= 2 * int(elapsed) - 3
    assert (_value(text, "monitord_scheduler_missed_runs_total", collector="icmp") or 0) == missed0
    assert got is not None and got <= 200 + 100 * (elapsed + 1)
    # what the daemon read was either taken or counted (the kernel may drop a few itself)
    assert dropped is not None and got + dropped >= 0.9 * sent
    assert d.stop() == 0
