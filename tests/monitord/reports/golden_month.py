"""The golden month: October 2026 built from known events through the daemon's write path
(State -> RollupRecorder -> History, the findings job's `history_checks`, the dispatcher's
delivery records, the event receiver's store), plus the config and the notes that
`monitord report` reads. The test (test_golden_month.py) computes every figure by hand.

Clock: polls fall 17 s past the minute (00:00:17, 00:01:17, ...), so an incident's start
and end carry seconds. Time zone America/Bogota (UTC-5, no DST); October has 31 days.

Targets and what happens to them:
- core-rtr (router, centro, critical): ICMP every minute, down 8 Oct 09:00:17-09:20:17
  (20 failed polls). SNMP every 5 min: wan0 (ifIndex 1, alias "Canal internet ISP",
  port 100 Mb/s, contracted 20 Mb/s with "ETB" in reports.links) carries 2 MB/s in
  (16 Mb/s) in slots whose end falls 08:00-17:59 local and 0.5 MB/s otherwise; out half.
- sw-1 (switch, child of core-rtr): down 3 Oct 10:00:17 (10 polls), 25 Oct 02:00:17 (90),
  and 20 Oct 01:00:17 (60) inside the maintenance window 20 Oct 00:30-02:30 (reports:).
- sw-2 (switch, child of core-rtr): down 8 Oct 09:01:17 (15 polls) while its parent is.
- win-gw (router, Windows Server with RRAS): SNMP every 5 min, two interfaces named
  "WAN Miniport (IP)": ifIndex 10 at 1 000 B/s in, ifIndex 11 at 3 000 B/s in.
- srv-1 (server, critical): ICMP every minute (always up); host, postgres and agent every
  5 min. Database "app" grows from 10 GB to 12 GB (+20 %) linearly over its readings;
  nginx stopped 12 Oct 00:00:17-06:00:17 (72 readings), postgresql always running;
  1 failed login per 5-min reading; backup "db-dump" made daily at 02:00 until 20 Oct.
- portal (website): hourly HTTPS poll, certificate "CA Prueba", TLS 1.3, expires
  6 Nov 2026 00:00 local: 5 days after the close of the month; the portal does not
  answer 15 Oct 14:00:17-16:00:17 (two failed polls).
- fw-1 (firewall): hourly TCP poll; port 22 must be closed, open from 10 Oct 00:00:17.
- sw-1 also sent 3 syslog failed-login messages (folded rows of 4, 2 and 1 messages).
Alerts: the 3 Oct outage's alert delivered by e-mail and webhook (one resend), the 25 Oct
one never left (SMTP down). Findings job every 6 h (00:00:17, 06:00:17, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from collectors.http import HttpCollector
from collectors.tcp import TcpCollector
from monitord.events.store import DeviceEventStore, StoredDeviceEvent
from monitord.history import RollupRecorder
from monitord.history.db import AlertEvent, Delivery, History
from monitord.history.service import history_checks
from monitord.state import State
from monitord.types import Sample, SampleKind, Severity, Target, TargetKind
from tests.conftest import FakeClock
from tests.contract.declared import declared_roles

__all__ = ["CONFIG", "NOTES", "P0", "P1", "TZ", "GoldenMonth", "at", "build_golden_month"]

TZ = ZoneInfo("America/Bogota")
P0 = datetime(2026, 10, 1, tzinfo=TZ).timestamp()
P1 = datetime(2026, 11, 1, tzinfo=TZ).timestamp()
OFFSET = 17.0  # seconds past the minute of every poll
MIN = 60.0


def at(day: int, hour: int, minute: int = 0, second: float = OFFSET) -> float:
    """Epoch of a local time in October 2026 (17 s past the minute unless told)."""
    return datetime(2026, 10, day, hour, minute, tzinfo=TZ).timestamp() + second


RTR = Target("core-rtr", "127.0.0.1", TargetKind.ROUTER, "centro", critical=True)
SW1 = Target("sw-1", "127.0.0.2", TargetKind.SWITCH, "centro", parent="core-rtr")
SW2 = Target("sw-2", "127.0.0.3", TargetKind.SWITCH, "norte", parent="core-rtr")
WIN = Target("win-gw", "127.0.0.5", TargetKind.ROUTER, "norte")
SRV = Target("srv-1", "127.0.0.4", TargetKind.SERVER, "centro", critical=True)
PORTAL = Target("portal", "127.0.0.10", TargetKind.WEBSITE, "centro")
FW = Target("fw-1", "127.0.0.12", TargetKind.FIREWALL, "centro")

# (target, first failed poll, failed polls): one ICMP poll a minute
OUTAGES = [
    ("sw-1", at(3, 10), 10),
    ("core-rtr", at(8, 9), 20),
    ("sw-2", at(8, 9, 1), 15),
    ("sw-1", at(20, 1), 60),  # inside the maintenance window
    ("sw-1", at(25, 2), 90),
]
NGINX_DOWN = (at(12, 0), at(12, 6))
PORTAL_DOWN = (at(15, 14), at(15, 16))  # two failed hourly polls: 14:00:17 and 15:00:17
PORT_OPEN_FROM = at(10, 0)
CERT_NOT_AFTER = datetime(2026, 11, 6, tzinfo=TZ).timestamp()
BACKUP_LAST = datetime(2026, 10, 20, 2, tzinfo=TZ).timestamp()
READINGS = 31 * 288  # 5-minute readings in the month: 8 928
DB_FIRST, DB_LAST = 10e9, 12e9
SPEED = 12.5e6  # wan0's port: 100 Mb/s

CONFIG = """\
daemon: {{data_dir: {data}, timezone: America/Bogota, language: es}}
targets:
  - {{name: core-rtr, address: 127.0.0.1, kind: router, site: centro, critical: true,
     collectors: {{icmp: {{}}, snmp: {{community: "file:{data}/community"}}}}}}
  - {{name: sw-1, address: 127.0.0.2, kind: switch, site: centro, parent: core-rtr,
     collectors: {{icmp: {{}}}}}}
  - {{name: sw-2, address: 127.0.0.3, kind: switch, site: norte, parent: core-rtr,
     collectors: {{icmp: {{}}}}}}
  - {{name: win-gw, address: 127.0.0.5, kind: router, site: norte,
     collectors: {{snmp: {{community: "file:{data}/community"}}}}}}
  - {{name: srv-1, address: 127.0.0.4, kind: server, site: centro, critical: true,
     collectors: {{icmp: {{}}}}}}
  - {{name: portal, address: 127.0.0.10, kind: website, site: centro,
     collectors: {{icmp: {{}}}}}}
  - {{name: fw-1, address: 127.0.0.12, kind: firewall, site: centro,
     collectors: {{icmp: {{}}}}}}
reports:
  entity: Alcaldía de Prueba
  code: GTI-FO-07
  version: "3"
  maintenance:
    - {{start: 2026-10-20T00:30:00, end: 2026-10-20T02:30:00, description: Cambio de UPS,
       targets: [sw-1]}}
  links:
    - {{target: core-rtr, ifindex: 1, isp: ETB, contracted_mbps: 20, circuit: CTO-881}}
"""

NOTES = """\
observations:
  all: ["Se cambió el proveedor del canal de internet el 14 de octubre."]
  security: ["El puerto 22 del firewall se abrió para un soporte remoto."]
actions:
  - {id: AM-2026-10, text: Cerrar el puerto 22 del firewall, responsible: Jefe de sistemas,
     due: 2026-11-15, reports: [security]}
"""


@dataclass
class GoldenMonth:
    """Where the month was written."""

    db: Path
    data_dir: Path
    config: Path


def build_golden_month(base: Path) -> GoldenMonth:
    """Write the month's history, config and notes under `base`."""
    data = base / "var"
    (data / "observations").mkdir(parents=True)
    (data / "observations" / "2026-10.yaml").write_text(NOTES, encoding="utf-8")
    (data / "community").write_text("golden-month\n", encoding="utf-8")
    cfg = base / "monitord.yaml"
    cfg.write_text(CONFIG.format(data=data), encoding="utf-8")
    db = data / "monitord.db"
    roles = declared_roles()
    # the daemon was already running: one ICMP round on 30 Sep 23:59:17 (September's)
    clock = FakeClock(mono=1000.0, wall=P0 + OFFSET - MIN)
    state = State(clock, failures_to_down=1, successes_to_up=1, uptime_names=roles.uptime)
    h = History(db)
    rec = RollupRecorder(h, clock, TZ, roles=roles)
    for tgt in (RTR, SW1, SW2, SRV):
        ok = [Sample("monitord_icmp_packet_loss_ratio", {"target": tgt.name}, 0.0)]
        _poll(state, rec, h, tgt, "icmp", ok, MIN)
    clock.advance(MIN)
    ran_by = {"http": HttpCollector.checks, "tcp": TcpCollector.checks}
    down = [(t, s, s + n * MIN) for t, s, n in OUTAGES]
    counters = {"in": 0, "out": 0, "mini": 0, "logins": 0}
    last_backup = BACKUP_LAST - 20 * 86400.0  # 30 Sep 02:00
    i = 0
    while clock.wall < P1:
        now = clock.wall
        for tgt in (RTR, SW1, SW2, SRV):
            failing = any(t == tgt.name and s <= now < e for t, s, e in down)
            lb = {"target": tgt.name}
            samples = [Sample("monitord_icmp_packet_loss_ratio", lb, 1.0 if failing else 0.0)]
            if not failing:
                samples.append(Sample("monitord_icmp_rtt_seconds", lb, 0.002))
            _poll(state, rec, h, tgt, "icmp", samples, MIN, ok=not failing)
        if i % 5 == 0:
            k = i // 5
            if now - last_backup >= 86400.0 and now <= BACKUP_LAST + 3600:
                last_backup += 86400.0
            _snmp(state, rec, h, counters, now, first=k == 0)
            _server(state, rec, h, counters, now, k, last_backup)
        if i % 60 == 0:
            _hourly(state, rec, h, now)
        if i % 360 == 0:
            found, ran = history_checks(state.snapshot(), 26 * 3600.0, 20.0, roles=roles,
                                        ran_by=ran_by)  # fmt: skip
            h.upsert_findings(found, now, ran)
        i += 1
        clock.advance(MIN)
        if i % 60 == 0:
            rec.flush(clock.wall)
    rec.flush(P1, force=True)
    _alerts(h)
    _device_events(h)
    _inventory(h)
    h.close()
    return GoldenMonth(db, data, cfg)


def _poll(
    state: State,
    rec: RollupRecorder,
    h: History,
    tgt: Target,
    collector: str,
    samples: list[Sample],
    interval: float,
    ok: bool = True,
) -> None:
    events = state.record(
        tgt, collector, samples, ok=ok, reason="" if ok else "timeout", interval=interval
    )
    h.add_events(events)
    rec.observe(state.group(tgt.name, collector))  # type: ignore[arg-type]


def in_rate(t: float) -> float:
    """wan0 inbound bytes/s during the 5-minute slot ending at t (busy 08:00-17:59)."""
    return 2e6 if 8 <= datetime.fromtimestamp(t, TZ).hour < 18 else 0.5e6


def _snmp(
    state: State, rec: RollupRecorder, h: History, c: dict[str, int], now: float, first: bool
) -> None:
    if not first:
        r = in_rate(now)
        c["in"] += int(r * 300)
        c["out"] += int(r / 2 * 300)
        c["mini"] += 300
    wan = {"target": "core-rtr", "ifname": "wan0", "ifindex": "1"}
    samples = [
        Sample("monitord_interface_in_bytes_total", wan, c["in"], SampleKind.COUNTER, bits=64),
        Sample("monitord_interface_out_bytes_total", wan, c["out"], SampleKind.COUNTER, bits=64),
        Sample("monitord_interface_speed_bytes", wan, SPEED),
        Sample("monitord_interface_oper_up", wan, 1.0),
        Sample(
            "monitord_interface_info",
            {**wan, "ifalias": "Canal internet ISP"},
            1.0,
            SampleKind.INFO,
        ),
    ]
    _poll(state, rec, h, RTR, "snmp", samples, 300.0)
    win = []
    for idx, rate in (("10", 1000), ("11", 3000)):
        lb = {"target": "win-gw", "ifname": "WAN Miniport (IP)", "ifindex": idx}
        win += [
            Sample(
                "monitord_interface_in_bytes_total", lb, c["mini"] * rate, SampleKind.COUNTER,
                bits=64,
            ),
            Sample("monitord_interface_speed_bytes", lb, 125e6),
            Sample("monitord_interface_oper_up", lb, 1.0),
        ]  # fmt: skip
    _poll(state, rec, h, WIN, "snmp", win, 300.0)


def _server(
    state: State,
    rec: RollupRecorder,
    h: History,
    c: dict[str, int],
    now: float,
    k: int,
    last_backup: float,
) -> None:
    lb = {"target": "srv-1"}
    mp = {"target": "srv-1", "mountpoint": "/"}
    _poll(
        state,
        rec,
        h,
        SRV,
        "host",
        [
            Sample("monitord_host_cpu_utilization_ratio", lb, 0.25),
            Sample("monitord_host_memory_total_bytes", lb, 16e9),
            Sample("monitord_host_memory_used_bytes", lb, 8e9),
            Sample("monitord_host_filesystem_size_bytes", mp, 100e9),
            Sample("monitord_host_filesystem_used_bytes", mp, 40e9),
            Sample("monitord_host_filesystem_avail_bytes", mp, 60e9),
            Sample("monitord_host_uptime_seconds", lb, 1e6 + now - P0),
        ],
        300.0,
    )
    size = DB_FIRST + (DB_LAST - DB_FIRST) * k / (READINGS - 1)
    _poll(
        state,
        rec,
        h,
        SRV,
        "postgres",
        [
            Sample("monitord_database_size_bytes", {**lb, "database": "app"}, size),
            Sample(
                "monitord_database_info",
                {**lb, "engine": "postgresql", "version": "15.4"},
                1.0,
                SampleKind.INFO,
            ),
            Sample("monitord_database_connections", lb, 20.0),
            Sample("monitord_database_connections_max", lb, 100.0),
        ],
        300.0,
    )
    if k > 0:
        c["logins"] += 1
    nginx = 0.0 if NGINX_DOWN[0] <= now < NGINX_DOWN[1] else 1.0
    bk = {**lb, "backup": "db-dump"}
    _poll(
        state,
        rec,
        h,
        SRV,
        "agent",
        [
            Sample("monitord_host_failed_logins_total", lb, float(c["logins"]), SampleKind.COUNTER),
            Sample("monitord_backup_newest_age_seconds", bk, now - last_backup),
            Sample("monitord_backup_files", bk, 7.0),
            Sample("monitord_service_up", {**lb, "service": "nginx"}, nginx),
            Sample("monitord_service_up", {**lb, "service": "postgresql"}, 1.0),
        ],
        300.0,
    )


def _hourly(state: State, rec: RollupRecorder, h: History, now: float) -> None:
    lb = {"target": "portal"}

    def viol(check: str, bad: bool) -> Sample:
        return Sample("monitord_policy_violation", {**lb, "check": check, "port": "443"}, bad)

    tls = [
        Sample(
            "monitord_tls_info",
            {**lb, "version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "issuer": "CA Prueba"},
            1.0,
            SampleKind.INFO,
        ),
        Sample("monitord_tls_cert_valid", lb, 1.0),
        Sample("monitord_tls_verify_result", lb, 0.0),
        Sample("monitord_tls_hostname_match", lb, 1.0),
        Sample("monitord_tls_cert_not_after_timestamp_seconds", lb, CERT_NOT_AFTER),
        Sample("monitord_tls_cert_expiry_seconds", lb, CERT_NOT_AFTER - now),
        Sample("monitord_http_up", lb, 1.0),
        viol("tls_chain_invalid", False),
        viol("tls_hostname_mismatch", False),
        viol("tls_obsolete_protocol", False),
        viol("tls_cert_expiry", CERT_NOT_AFTER - now < 30 * 86400.0),
    ]
    if PORTAL_DOWN[0] <= now < PORTAL_DOWN[1]:
        _poll(state, rec, h, PORTAL, "http", [], 3600.0, ok=False)
    else:
        _poll(state, rec, h, PORTAL, "http", tls, 3600.0)
    fw = {"target": "fw-1", "port": "22"}
    _poll(
        state,
        rec,
        h,
        FW,
        "tcp",
        [
            Sample(
                "monitord_policy_violation",
                {**fw, "check": "tcp_must_be_closed"},
                1.0 if now >= PORT_OPEN_FROM else 0.0,
            ),
            Sample("monitord_tcp_port_open", fw, 1.0 if now >= PORT_OPEN_FROM else 0.0),
        ],
        3600.0,
    )


def _alerts(h: History) -> None:
    a3, a25 = at(3, 10, 2), at(25, 2, 2)
    h.add_alert_events(
        [
            AlertEvent(a3, "TargetDown", "sw-1", "critical", "start", notified=True,
                       message="sw-1 down"),
            AlertEvent(a25, "TargetDown", "sw-1", "critical", "start", notified=True,
                       message="sw-1 down"),
        ]
    )  # fmt: skip
    h.add_deliveries(
        [
            Delivery(a3 + 1, "correo", "TargetDown", "sw-1", "firing", "f3", a3, True),
            Delivery(a3 + 1, "webhook", "TargetDown", "sw-1", "firing", "f3", a3, True),
            Delivery(a3 + 300, "webhook", "TargetDown", "sw-1", "firing", "f3", a3, True),
            Delivery(a3 + 600, "correo", "TargetDown", "sw-1", "resolved", "f3", a3, True),
            Delivery(a25 + 1, "correo", "TargetDown", "sw-1", "firing", "f25", a25, False,
                     "retries_exhausted"),
        ]
    )  # fmt: skip


def _device_events(h: History) -> None:
    store = DeviceEventStore(h)
    rows = [
        (at(5, 9, 30, 0), 4, "admin"),
        (at(14, 22, 10, 0), 2, "root"),
        (at(27, 7, 45, 0), 1, "admin"),
    ]
    store.write(
        [
            StoredDeviceEvent(
                ts, ts + 60 * (n - 1), "sw-1", "127.0.0.2", "syslog", "failed_login",
                "cisco_login_failed", Severity.MEDIUM, n, f"Login failed [user: {user}]",
                {"user": user},
            )
            for ts, n, user in rows
        ],
        (),
    )  # fmt: skip


def _inventory(h: History) -> None:
    h.add_inventory(
        "core-rtr",
        at(2, 3),
        {"vendor": "Cisco", "model": "ISR4331", "serial": "FDO1234", "firmware": "17.6.1"},
    )
    h.add_inventory(
        "srv-1",
        at(2, 8),
        {
            "hostname": "srv-1",
            "os": "Debian GNU/Linux 12",
            "ram_bytes": 16e9,
            "cpu": "Xeon",
            "macs": ["00:11:22:33:44:55"],
            "disks": [{"name": "sda", "size_bytes": 500e9}],
            "software": [{"name": "nginx", "version": "1.22"}],
        },
    )
