"""All monthly reports of a month of 500 devices x 48 ports: time to render and peak memory.

Builds (or reuses, --db) a month of history through the same `write_batch` the rollup
recorder uses, one batch per day: 500 devices (470 switches/routers, 30 servers with
CPU, memory, 3 filesystems and a database), 48 interfaces each, 10 WAN links with
5-minute slots, 1-3 outages on 1 device in 20, an inventory snapshot per device (300
packages per server), the 20 largest tables of each server on the first and last day.
Then writes every report (network, servers, security, inventory, kpi) as HTML, PDF and
CSV with `monitord.reports.job.write_reports`, the code `monitord report` runs, and
prints the wall time, the CPU time of this process and of the workers (less sensitive
to other load on a shared machine than the wall time), the peak RSS of this process and
of the largest worker, and the load average before and after (the machine is shared:
read wall times beside it).

Run: python bench/report.py [--devices 500 --ports 48 --jobs 2 --db /tmp/bench.db --keep]
Target: under 60 s on the reference machine (2 cores).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from exporters.reports.files import write_files
from monitord.history import (
    SLOT,
    Batch,
    DistAcc,
    GaugeAcc,
    HistKind,
    IfaceAcc,
    PollAcc,
    RateAcc,
    write_batch,
)
from monitord.history.db import History
from monitord.reports.job import write_reports
from monitord.reports.period import Period
from monitord.state import Event, EventKind
from monitord.types import TableSize, Target, TargetKind

TZ = ZoneInfo("America/Bogota")
MONTH = Period(2026, 10, TZ)


def build(db: Path, devices: int, ports: int, seed: int = 7) -> None:
    """Write a month of rollups, events and inventory for `devices` x `ports`."""
    rnd = random.Random(seed)
    h = History(db)
    targets = []
    for i in range(devices):
        server = i >= devices - 30
        kind = TargetKind.SERVER if server else (TargetKind.ROUTER if i < 10 else TargetKind.SWITCH)
        parent = None if i < 10 else f"dev-{i % 10:03d}"
        targets.append(
            Target(
                f"dev-{i:03d}",
                f"127.0.{i // 250}.{i % 250 + 1}",
                kind,
                f"sede-{i % 12:02d}",
                parent,
                critical=server,
            )
        )
    wan = {(f"dev-{i:03d}", "p1") for i in range(10)}
    templates = {
        "rtt": [_dist(rnd, lambda r: 0.0005 + r.random() * 0.004, HistKind.LOG) for _ in range(8)],
        "loss": [
            _dist(rnd, lambda r: 0.0 if r.random() > 0.01 else 1 / 3, HistKind.LINEAR)
            for _ in range(8)
        ],
        "cpu": [_dist(rnd, lambda r: r.random() * 0.9, HistKind.LINEAR) for _ in range(8)],
        "mem": [_dist(rnd, lambda r: 0.4 + r.random() * 0.3, HistKind.LINEAR) for _ in range(8)],
    }
    first = True
    for day in MONTH.days():
        b = Batch()
        dk = day.year * 10000 + day.month * 100 + day.day
        start = datetime(day.year, day.month, day.day, tzinfo=TZ).timestamp()
        if first:
            b.targets = {t.name: (t, start) for t in targets}
            first = False
        for t in targets:
            cols = ["icmp", "agent" if t.kind is TargetKind.SERVER else "snmp"]
            for c in cols:
                for hr in range(24):
                    b.polls[((t.name, c, "poll", ""), int(start) + hr * 3600)] = PollAcc(
                        60, 60, 60.0
                    )
            b.dists[((t.name, "icmp", "rtt", ""), dk)] = _copy(rnd.choice(templates["rtt"]))
            b.dists[((t.name, "icmp", "loss", ""), dk)] = _copy(rnd.choice(templates["loss"]))
            col = cols[1]
            for p in range(1, ports + 1):
                rate = rnd.random() * 2e6
                acc = IfaceAcc(
                    86400,
                    rate * 86400,
                    rate * 43200,
                    rate * 2,
                    rate,
                    rnd.randint(0, 3),
                    0,
                    rnd.randint(0, 2),
                    0,
                    86400,
                    86400,
                    0,
                    0,
                    125e6,
                )
                key = f"{p}:p{p}"  # the stored identity: ifIndex:ifName
                b.ifaces[((t.name, col, "if", key), dk)] = acc
                if (t.name, f"p{p}") in wan:
                    for s in range(288):
                        slot = int(start) + s * SLOT
                        r = RateAcc(300, rate * 300 * rnd.random(), rate * 150 * rnd.random())
                        b.rates[((t.name, col, "if", key), slot)] = r
            if t.kind is TargetKind.SERVER:
                b.dists[((t.name, "agent", "cpu", ""), dk)] = _copy(rnd.choice(templates["cpu"]))
                b.dists[((t.name, "agent", "mem", ""), dk)] = _copy(rnd.choice(templates["mem"]))
                for m, used in (("/", 40e9), ("/var", 120e9), ("/data", 700e9)):
                    u = used + (dk % 100) * 1e9
                    for kind_, v in (("fs_size", 1e12), ("fs_used", u), ("fs_avail", 1e12 - u)):
                        b.gauges[((t.name, "agent", kind_, m), dk)] = GaugeAcc(
                            v, start, v, start + 86000, v, v
                        )
                size = 5e9 + (dk % 100) * 1e8
                b.gauges[((t.name, "postgres", "db_size", "app"), dk)] = GaugeAcc(
                    size, start, size, start + 86000, size, size
                )
        write_batch(
            h,
            b,
            TZ,
            started=MONTH.start if day.day == 1 else None,
            last=start + 86400 if day.day == 1 else None,
        )
    h.query("UPDATE sessions SET last = ?", (MONTH.end,))
    events = []
    for t in targets:
        if rnd.random() < 0.05:
            for _ in range(rnd.randint(1, 3)):
                s = MONTH.start + rnd.random() * (MONTH.seconds - 20000)
                events += [
                    Event(s, t.name, "icmp", EventKind.DOWN, "timeout"),
                    Event(s + rnd.randint(60, 7200), t.name, "icmp", EventKind.UP),
                ]
    h.add_events(sorted(events, key=lambda e: e.ts))
    for t in targets:
        data: dict[str, object] = {
            "vendor": "Cisco",
            "model": "C9300-48P",
            "serial": f"FOC{rnd.randint(10**6, 10**7)}",
            "firmware": "17.9.4",
        }
        if t.kind is TargetKind.SERVER:
            data = {
                "hostname": t.name,
                "os": "Debian GNU/Linux",
                "os_version": "12.7",
                "cpu": "Intel Xeon Silver 4314",
                "ram_bytes": 64e9,
                "disks": [{"name": "sda", "size_bytes": 1.2e12}],
                "software": [{"name": f"pkg-{k}", "version": f"1.{k}"} for k in range(300)],
            }
        h.add_inventory(t.name, MONTH.start + 3600, data)
        if t.kind is TargetKind.SERVER:  # the largest tables: first and last day's lists
            for day, grow in ((20261001, 1.0), (20261031, 1.2)):
                tables = [
                    TableSize("app", "public", f"t{k:02d}", int(2e9 / (k + 1) * grow), 10**6)
                    for k in range(20)
                ]
                h.add_table_sizes(t.name, "postgres", MONTH.start + 3600, day, tables)
    h.close()


def _dist(rnd: random.Random, draw: Callable[[random.Random], float], kind: HistKind) -> DistAcc:
    acc = DistAcc()
    for _ in range(1440):  # one reading a minute for a day
        acc.add(draw(rnd), kind)
    return acc


def _copy(d: DistAcc) -> DistAcc:
    return DistAcc(d.n, d.sum, d.min, d.max, dict(d.hist))


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    """Build the month if needed, write every report, print timings and peak RSS."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--ports", type=int, default=48)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--db", type=Path, help="reuse or create this history database")
    ap.add_argument("--keep", action="store_true", help="keep the output directory")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="monitord-bench-report-"))
    db = args.db or work / "monitord.db"
    if not db.exists():
        t = time.perf_counter()
        build(db, args.devices, args.ports)
        print(
            f"history built: {db} {db.stat().st_size / 1e6:.1f} MB in "
            f"{time.perf_counter() - t:.1f} s "
            f"({db.stat().st_size / args.devices / 1e3:.0f} kB per device-month)"
        )
    out = work / "reports"
    load0 = os.getloadavg()
    cpu0 = _cpu()
    t = time.perf_counter()
    files = write_reports(db, MONTH, out, render=write_files, jobs=args.jobs)
    elapsed = time.perf_counter() - t
    cpu = _cpu() - cpu0
    load1 = os.getloadavg()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    pdfs = [f for f in files if f.suffix == ".pdf"]
    print(
        f"reports: {len(files)} files ({len(pdfs)} PDF, "
        f"{sum(f.stat().st_size for f in files) / 1e6:.1f} MB) in {elapsed:.1f} s "
        f"with {args.jobs} worker processes ({elapsed / 60:.2f} of the 60 s budget)"
    )
    print(f"CPU: {cpu:.1f} s (main and workers); wall/CPU {elapsed / cpu:.2f}")
    print(f"peak RSS: main {own:.0f} MB, largest worker {kids:.0f} MB (budget 400 MB)")
    print(
        "load average (1, 5, 15 min): before "
        + " ".join(f"{x:.2f}" for x in load0)
        + ", after "
        + " ".join(f"{x:.2f}" for x in load1)
        + f" on {os.cpu_count()} CPUs"
    )
    for f in pdfs:
        print(f"  {f.name}: {f.stat().st_size / 1e3:.0f} kB")
    if args.keep:
        print(f"output kept in {out}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if elapsed < 60 else 1


if __name__ == "__main__":
    sys.exit(main())
