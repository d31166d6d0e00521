"""Bytes of history per device per month, for 500 devices x 48 ports.

Two measurements in one run:

1. The real write path: `State` + `RollupRecorder` (the code the daemon runs, flushing
   every 60 s of simulated time) fed one simulated day of polls of `--sample` switches
   with `--ports` interfaces (SNMP every 5 min, ICMP every minute) and one server with
   CPU, memory, 3 filesystems and a database; bytes per device-day, times the days of
   the month.
2. The month of `bench/report.py` (500 devices x 48 ports, 10 WAN links with 5-minute
   slots, events, inventory with 300 packages per server) written through the same
   `write_batch`, measured with `History.size_bytes()` (pages in use) per device.

The ratio between the two says how well the synthetic month matches what the
recorder writes. Retention (`history.retention_months`, default 13) multiplies the
figure; freed pages are reused, so the file stays at its high-water mark.

Run: python bench/history.py [--devices 500 --ports 48 --sample 10]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import MONTH, TZ, build
from monitord.history import RollupRecorder
from monitord.history.db import History
from monitord.state import State
from monitord.types import Sample, SampleKind, Target, TargetKind
from tests.contract.declared import declared_roles


class _Clock:
    def __init__(self, wall: float) -> None:
        self.wall, self.mono = wall, 1000.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, s: float) -> None:
        self.wall += s
        self.mono += s


def recorder_day(db: Path, switches: int, ports: int) -> tuple[float, int]:
    """One day of polls through State + RollupRecorder; (bytes used beyond the schema, devices)."""
    clock = _Clock(MONTH.start)
    state = State(clock, failures_to_down=2, uptime_names=declared_roles().uptime)
    h = History(db)
    empty = h.size_bytes()  # the schema's pages: not per device
    rec = RollupRecorder(h, clock, TZ, roles=declared_roles())
    sws = [
        Target(f"sw-{i:03d}", f"127.1.0.{i + 1}", TargetKind.SWITCH, "centro")
        for i in range(switches)
    ]
    srv = Target("srv-000", "127.1.1.1", TargetKind.SERVER, "centro", critical=True)
    counters = [[0.0] * ports for _ in sws]
    day_end = MONTH.start + 86400
    minute = 0
    while clock.wall < day_end:
        for t in [*sws, srv]:
            v = 0.001 + (minute % 50) * 1e-5
            samples = [
                Sample("monitord_icmp_rtt_seconds", {"target": t.name}, v),
                Sample("monitord_icmp_packet_loss_ratio", {"target": t.name}, 0.0),
            ]
            state.record(t, "icmp", samples, ok=True, interval=60.0)
            rec.observe(state.group(t.name, "icmp"))  # type: ignore[arg-type]
        if minute % 5 == 0:
            for i, t in enumerate(sws):
                samples = []
                for p in range(ports):
                    counters[i][p] += (p + 1) * 1e4 * 300
                    lb = {"target": t.name, "ifname": f"Gi1/0/{p + 1}", "ifindex": str(p + 1)}
                    c = counters[i][p]
                    samples += [
                        Sample("monitord_interface_in_bytes_total", lb, c, SampleKind.COUNTER),
                        Sample("monitord_interface_out_bytes_total", lb, c / 2, SampleKind.COUNTER),
                        Sample("monitord_interface_in_errors_total", lb, 0, SampleKind.COUNTER),
                        Sample("monitord_interface_out_errors_total", lb, 0, SampleKind.COUNTER),
                        Sample("monitord_interface_in_discards_total", lb, 0, SampleKind.COUNTER),
                        Sample("monitord_interface_out_discards_total", lb, 0, SampleKind.COUNTER),
                        Sample("monitord_interface_oper_up", lb, 1.0),
                        Sample("monitord_interface_speed_bytes", lb, 125e6),
                        Sample(
                            "monitord_interface_info",
                            {**lb, "ifalias": "uplink WAN" if i == p == 0 else "", "iftype": "6"},
                            1.0,
                            SampleKind.INFO,
                        ),
                    ]
                state.record(t, "snmp", samples, ok=True, interval=300.0)
                rec.observe(state.group(t.name, "snmp"))  # type: ignore[arg-type]
            lb = {"target": srv.name}
            samples = [
                Sample("monitord_host_cpu_utilization_ratio", lb, 0.2 + (minute % 7) / 10),
                Sample("monitord_host_memory_total_bytes", lb, 64e9),
                Sample("monitord_host_memory_used_bytes", lb, 30e9),
                Sample("monitord_host_uptime_seconds", lb, 1e6 + minute * 60),
            ]
            for m in ("/", "/var", "/data"):
                mp = {**lb, "mountpoint": m}
                samples += [
                    Sample("monitord_host_filesystem_size_bytes", mp, 1e12),
                    Sample("monitord_host_filesystem_used_bytes", mp, 4e11 + minute * 1e5),
                    Sample("monitord_host_filesystem_avail_bytes", mp, 6e11 - minute * 1e5),
                ]
            state.record(srv, "host", samples, ok=True, interval=300.0)
            rec.observe(state.group(srv.name, "host"))  # type: ignore[arg-type]
            db_s = [Sample("monitord_database_size_bytes", {**lb, "database": "app"}, 5e9)]
            state.record(srv, "postgres", db_s, ok=True, interval=300.0)
            rec.observe(state.group(srv.name, "postgres"))  # type: ignore[arg-type]
        minute += 1
        clock.advance(60.0)
        rec.flush(clock.wall)
    rec.flush(clock.wall, force=True)
    size = h.size_bytes() - empty
    h.close()
    return float(size), switches + 1


def table_bytes(db: Path) -> dict[str, int]:
    """Bytes per table and index (SQLite's dbstat), largest first; {} if unavailable."""
    c = sqlite3.connect(db)
    try:
        rows = c.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.Error:
        return {}
    finally:
        c.close()
    return dict(sorted(((str(n), int(b)) for n, b in rows), key=lambda x: -x[1]))


def main(argv: list[str] | None = None) -> int:
    """Measure and print bytes per device per month."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--ports", type=int, default=48)
    ap.add_argument("--sample", type=int, default=10, help="switches run through the recorder")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="monitord-bench-history-"))
    try:
        days = MONTH.seconds / 86400
        t = time.perf_counter()
        size, n = recorder_day(work / "day.db", args.sample, args.ports)
        rec_s = time.perf_counter() - t
        per_dev_month_rec = size / n * days
        print(
            f"recorder, 1 day of {args.sample} switches x {args.ports} ports + 1 server: "
            f"{size / 1e6:.2f} MB in {rec_s:.1f} s -> {per_dev_month_rec / 1e3:.0f} kB "
            f"per device-month (x{days:.0f} days)"
        )
        db = work / "month.db"
        t = time.perf_counter()
        build(db, args.devices, args.ports)
        h = History(db)
        try:
            used = h.size_bytes()
        finally:
            h.close()
        file_size = db.stat().st_size
        print(
            f"month of {args.devices} devices x {args.ports} ports (write_batch): "
            f"{used / 1e6:.1f} MB used, file {file_size / 1e6:.1f} MB, built in "
            f"{time.perf_counter() - t:.1f} s"
        )
        per_dev = used / args.devices
        print(f"bytes per device per month: {per_dev / 1e3:.0f} kB")
        print(f"ratio synthetic month / recorder measurement: {per_dev / per_dev_month_rec:.2f}")
        print(
            f"13 months (default retention) of {args.devices} devices: "
            f"{per_dev * args.devices * 13 / 1e9:.2f} GB (synthetic month), "
            f"{per_dev_month_rec * args.devices * 13 / 1e9:.2f} GB (recorder figure; an upper "
            "bound: the day's once-a-month rows are counted 31 times)"
        )
        for name, b in list(table_bytes(db).items())[:8]:
            print(f"  {name}: {b / 1e6:.1f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
