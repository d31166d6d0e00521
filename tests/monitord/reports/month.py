"""A month of history with known outages, traffic and growth, built through the real
State and RollupRecorder (fake clock), plus the figures a person computes by hand."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitord.history import RollupRecorder
from monitord.history.db import AlertEvent, Delivery, History
from monitord.reports.settings import MaintenanceWindow, ReportsConfig
from monitord.state import State
from monitord.types import Sample, SampleKind, Target, TargetKind
from tests.conftest import FakeClock
from tests.contract.declared import declared_roles

TZ = ZoneInfo("America/Bogota")
P0 = datetime(2026, 10, 1, tzinfo=TZ).timestamp()
P1 = datetime(2026, 11, 1, tzinfo=TZ).timestamp()
MIN = 60.0
SNMP_EVERY = 300.0

RTR = Target("core-rtr", "127.0.0.1", TargetKind.ROUTER, "centro")
SW1 = Target("sw-1", "127.0.0.2", TargetKind.SWITCH, "centro", parent="core-rtr")
SW2 = Target("sw-2", "127.0.0.3", TargetKind.SWITCH, "norte", parent="core-rtr")
SRV = Target("srv-1", "127.0.0.4", TargetKind.SERVER, "centro", critical=True)


def at(day: int, hour: int, minute: int = 0) -> float:
    """Epoch of a local time in October 2026."""
    return datetime(2026, 10, day, hour, minute, tzinfo=TZ).timestamp()


PARTIAL_FROM, PARTIAL_TO = at(9, 10), at(9, 11)  # core-rtr's SNMP polls with partial data

# (target, start, minutes): ICMP polls fail from start for `minutes` polls
OUTAGES = [
    ("sw-1", at(3, 10), 10),
    ("sw-1", at(12, 15, 30), 30),
    ("sw-1", at(25, 2), 90),
    ("sw-1", at(20, 1), 60),  # inside the maintenance window below
    ("core-rtr", at(8, 9), 20),
    ("sw-2", at(8, 9, 1), 15),  # while its parent is down
]
MAINTENANCE = MaintenanceWindow(
    start=datetime(2026, 10, 20, 0, 30),
    end=datetime(2026, 10, 20, 2, 30),
    description="Cambio de UPS",
    targets=["sw-1"],
)
FS_SIZE = 100e9
FS_START, FS_PER_DAY = 40e9, 0.5e9
DB_START, DB_END = 10e9, 12e9
SPEED = 12.5e6  # 100 Mb/s


def DB_CONN(k: int) -> int:
    """Client connections of the database server at its k-th poll: peak 37 (k % 30 == 29)."""
    return 8 + k % 30


def in_rate(t: float) -> float:
    """wan0 inbound bytes/s during the interval ending at t (busy 08-18 local)."""
    h = datetime.fromtimestamp(t - 1, TZ).hour
    return 2e6 if 8 <= h < 18 else 0.5e6


def rtt(i: int) -> float:
    return 0.001 + (i % 100) * 0.00005


def cpu(i: int) -> float:
    return 0.05 + (i % 20) * 0.04


@dataclass
class Month:
    """The built history and what the test expects from it."""

    db: Path
    config: ReportsConfig
    rtt_values: dict[str, list[float]] = field(default_factory=dict)
    cpu_values: list[float] = field(default_factory=list)
    wan_slots_in: list[float] = field(default_factory=list)
    wan_bytes_in: float = 0.0
    wan_secs: float = 0.0
    fs_first: float = 0.0
    fs_last: float = 0.0
    fs_first_ts: float = 0.0
    fs_last_ts: float = 0.0
    db_first: float = 0.0
    db_last: float = 0.0
    lan_errors: int = 0


def build_month(db: Path) -> Month:
    """Run a month of polls through State + RollupRecorder into `db`."""
    clock = FakeClock(mono=1000.0, wall=P0)
    state = State(
        clock, failures_to_down=1, successes_to_up=1, uptime_names=declared_roles().uptime
    )
    history = History(db)
    rec = RollupRecorder(history, clock, TZ, roles=declared_roles())
    cfg = ReportsConfig(
        entity="Alcaldía de Prueba", code="GTI-FO-07", version="3", maintenance=[MAINTENANCE]
    )
    m = Month(db, cfg)
    down = [(t, s, s + n * MIN) for t, s, n in OUTAGES]
    counters = {"in": 0, "out": 0, "err": 0, "mini": 0}
    i = 0
    while clock.wall < P1:
        now = clock.wall
        for tgt in (RTR, SW1, SW2, SRV):
            failing = any(t == tgt.name and s <= now < e for t, s, e in down)
            if failing:
                samples = [Sample("monitord_icmp_packet_loss_ratio", {"target": tgt.name}, 1.0)]
            else:
                v = rtt(i)
                m.rtt_values.setdefault(tgt.name, []).append(v)
                samples = [
                    Sample("monitord_icmp_packet_loss_ratio", {"target": tgt.name}, 0.0),
                    Sample("monitord_icmp_rtt_seconds", {"target": tgt.name}, v),
                ]
            events = state.record(
                tgt,
                "icmp",
                samples,
                ok=not failing,
                reason="timeout" if failing else "",
                interval=MIN,
            )
            history.add_events(events)
            rec.observe(state.group(tgt.name, "icmp"))  # type: ignore[arg-type]
        if (now - P0) % SNMP_EVERY == 0:
            _snmp(state, rec, m, counters, now)
            _host(state, rec, m, now, int((now - P0) // SNMP_EVERY))
        i += 1
        clock.advance(MIN)
        if (clock.wall - P0) % 3600 == 0:
            rec.flush(clock.wall)
    rec.flush(P1, force=True)
    history.add_alert_events(
        [
            AlertEvent(
                at(3, 10, 2),
                "TargetDown",
                "sw-1",
                "critical",
                "start",
                notified=True,
                message="sw-1 down",
            )
        ]
    )
    # what the dispatcher recorded: the 3 Oct alert delivered by e-mail and webhook (the
    # webhook's resend is the same alert); the 12 Oct one never left (SMTP down)
    a3, a12 = at(3, 10, 2), at(12, 15, 32)
    history.add_deliveries(
        [
            Delivery(a3 + 1, "correo", "TargetDown", "sw-1", "firing", "f3", a3, True),
            Delivery(a3 + 1, "webhook", "TargetDown", "sw-1", "firing", "f3", a3, True),
            Delivery(a3 + 300, "webhook", "TargetDown", "sw-1", "firing", "f3", a3, True),
            Delivery(a3 + 600, "correo", "TargetDown", "sw-1", "resolved", "f3", a3, True),
            Delivery(a12 + 1, "correo", "TargetDown", "sw-1", "firing", "f12", a12, False,
                     "retries_exhausted"),
        ]
    )  # fmt: skip
    history.add_inventory(
        "core-rtr",
        P0 - 86400,
        {"vendor": "Cisco", "model": "ISR4331", "serial": "FDO1234", "firmware": "17.3.4"},
    )
    history.add_inventory(
        "core-rtr",
        at(15, 3),
        {"vendor": "Cisco", "model": "ISR4331", "serial": "FDO1234", "firmware": "17.6.1"},
    )
    history.add_inventory(
        "srv-1",
        at(2, 8),
        {
            "hostname": "srv-1",
            "os": "Debian GNU/Linux 12",
            "ram_bytes": 16e9,
            "cpu": "Xeon",
            "macs": ["00:11:22:33:44:55"],
            "disks": [{"name": "sda", "size_bytes": 500e9}, {"name": "sdb", "size_bytes": 2e12}],
            "software": [{"name": "nginx", "version": "1.22"}],
            "password": "hunter2",
        },
    )
    history.add_inventory(
        "srv-1",
        at(22, 8),
        {
            "hostname": "srv-1",
            "os": "Debian GNU/Linux 12",
            "ram_bytes": 16e9,
            "cpu": "Xeon",
            "macs": ["00:11:22:33:44:55"],
            "disks": [{"name": "sda", "size_bytes": 500e9}, {"name": "sdb", "size_bytes": 2e12}],
            "software": [
                {"name": "nginx", "version": "1.22"},
                {"name": "postgresql", "version": "15.4"},
            ],
            "password": "hunter2",
        },
    )
    history.close()
    return m


def _snmp(state: State, rec: RollupRecorder, m: Month, c: dict[str, int], now: float) -> None:
    r = in_rate(now)
    first = c["in"] == 0 and now == P0
    if not first:
        c["in"] += int(r * SNMP_EVERY)
        c["out"] += int(r / 2 * SNMP_EVERY)
        c["err"] += 1
        m.wan_bytes_in += r * SNMP_EVERY
        m.wan_secs += SNMP_EVERY
        m.wan_slots_in.append(r)
        m.lan_errors = c["err"]
    lan_up = 0.0 if at(14, 12) <= now < at(14, 13) else 1.0
    lbl = {"target": "core-rtr", "ifname": "wan0", "ifindex": "1"}
    lan = {"target": "core-rtr", "ifname": "lan0", "ifindex": "2"}
    samples = [
        Sample("monitord_interface_in_bytes_total", lbl, c["in"], SampleKind.COUNTER, bits=64),
        Sample("monitord_interface_out_bytes_total", lbl, c["out"], SampleKind.COUNTER, bits=64),
        Sample("monitord_interface_speed_bytes", lbl, SPEED),
        Sample("monitord_interface_oper_up", lbl, 1.0),
        Sample(
            "monitord_interface_info",
            {**lbl, "ifalias": "Canal internet ISP"},
            1.0,
            SampleKind.INFO,
        ),
        Sample(
            "monitord_interface_in_bytes_total", lan, c["in"] // 10, SampleKind.COUNTER, bits=64
        ),
        Sample(
            "monitord_interface_out_bytes_total", lan, c["out"] // 10, SampleKind.COUNTER, bits=64
        ),
        Sample("monitord_interface_in_errors_total", lan, c["err"], SampleKind.COUNTER, bits=32),
        Sample("monitord_interface_speed_bytes", lan, 125e6),
        Sample("monitord_interface_oper_up", lan, lan_up),
    ]
    # two interfaces sharing a name (Windows' "WAN Miniport (IP)"), told apart by ifIndex:
    # 1 000 B/s in on ifIndex 10, 3 000 B/s on ifIndex 11
    c["mini"] += int(SNMP_EVERY) if not first else 0
    for idx, rate in (("10", 1000), ("11", 3000)):
        mini = {"target": "core-rtr", "ifname": "WAN Miniport (IP)", "ifindex": idx}
        samples.append(
            Sample("monitord_interface_in_bytes_total", mini, c["mini"] * rate, SampleKind.COUNTER,
                   bits=64)
        )  # fmt: skip
    # the polls of 9/10 10:00-11:00 (12 at 5 min) answered with part of their tables
    partial = 1.0 if PARTIAL_FROM <= now < PARTIAL_TO else 0.0
    samples.append(Sample("monitord_snmp_poll_partial", {"target": "core-rtr"}, partial))
    state.record(RTR, "snmp", samples, ok=True, interval=SNMP_EVERY)
    rec.observe(state.group("core-rtr", "snmp"))  # type: ignore[arg-type]


def _host(state: State, rec: RollupRecorder, m: Month, now: float, k: int) -> None:
    days = (now - P0) / 86400
    used = FS_START + FS_PER_DAY * days
    size_db = DB_START + (DB_END - DB_START) * (now - P0) / (P1 - P0)
    if k == 0:
        m.fs_first, m.fs_first_ts, m.db_first = used, now, size_db
    m.fs_last, m.fs_last_ts, m.db_last = used, now, size_db
    c = cpu(k)
    m.cpu_values.append(c)
    mp = {"target": "srv-1", "mountpoint": "/"}
    samples = [
        Sample("monitord_host_cpu_utilization_ratio", {"target": "srv-1"}, c),
        Sample("monitord_host_memory_total_bytes", {"target": "srv-1"}, 16e9),
        Sample("monitord_host_memory_used_bytes", {"target": "srv-1"}, 8e9),
        Sample("monitord_host_filesystem_size_bytes", mp, FS_SIZE),
        Sample("monitord_host_filesystem_used_bytes", mp, used),
        Sample("monitord_host_filesystem_avail_bytes", mp, FS_SIZE - used),
        Sample("monitord_host_uptime_seconds", {"target": "srv-1"}, 1e6 + now - P0),
    ]
    state.record(SRV, "host", samples, ok=True, interval=SNMP_EVERY)
    rec.observe(state.group("srv-1", "host"))  # type: ignore[arg-type]
    state.record(
        SRV,
        "postgres",
        [
            Sample("monitord_database_size_bytes", {"target": "srv-1", "database": "app"}, size_db),
            Sample(
                "monitord_database_info",
                {"target": "srv-1", "engine": "postgresql", "version": "15.4"},
                1.0,
                SampleKind.INFO,
            ),
            Sample("monitord_database_connections", {"target": "srv-1"}, float(DB_CONN(k))),
            Sample("monitord_database_connections_max", {"target": "srv-1"}, 100.0),
        ],
        ok=True,
        interval=SNMP_EVERY,
    )
    rec.observe(state.group("srv-1", "postgres"))  # type: ignore[arg-type]


def nearest_rank(values: list[float], q: float) -> float:
    """The q-quantile by nearest rank, by hand."""
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


_BUILT: dict[str, Month] = {}


def shared_month(base: Path) -> Month:
    """Build the month once per pytest session (`base`: the session's base temp dir)."""
    key = str(base)
    if key not in _BUILT:
        d = base / "month"
        d.mkdir(exist_ok=True)
        _BUILT[key] = build_month(d / "monitord.db")
    return _BUILT[key]
