"""Benchmark: monitord's ICMP collector against fping, N loopback targets x 3 packets.

    python bench/icmp.py                      # 1,000 and 5,000 targets, 3 runs each, median
    python bench/icmp.py --targets 5000 --runs 5 --fping-default --icmplib

Prints, per target count, the wall time and CPU time of one whole cycle and the loss each
tool saw, then the monitord/fping ratios, and checks the goals: zero loss at 5,000 targets,
a cycle under 5 s (exit status 1 when missed), and says whether CPU stayed at or below
fping's.

- monitord: one `Shared`, one collector, `asyncio.gather` of `collect()` over every target
  with the default options (count 3, 0.2 s between a target's packets, 1 s timeout). CPU is
  `time.process_time()` around the cycle (user + system, this process, no interpreter start).
- fping (Debian package `fping`): `fping -c 3 -q -i 0 -p 200 -f LIST`, the same pacing (all
  targets at once, 200 ms between packets of one target); CPU from getrusage(RUSAGE_CHILDREN).
  Stock `fping -c 3 -q` (10 ms between sends: 30 s for 1,000 targets, 150 s for 5,000) runs
  once at the largest size in the same run (`--fping-default`: at every size; `--no-stock`:
  never). The machine's load average is printed beside each row; the goal "CPU <= paced
  fping" (issue 16) is checked on the same-run ratio.
- `--icmplib` adds icmplib's `async_multiping` with one task per target, which opens a raw
  socket per task: the false loss this collector exists to avoid.

Traffic goes to 127.0.0.0/8 only (127.1.0.1 upward). Needs root or CAP_NET_RAW (raw
sockets) or ping_group_range for monitord; fping is setuid or run as root.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors import icmp
from monitord.errors import CollectorError
from monitord.types import Shared, Target

__all__ = ["main"]

COUNT = 3
FPING_TIMEOUT = 600.0  # seconds; a stock fping run over 5,000 targets takes ~150 s
_FPING_LINE = re.compile(r"^\s*(\S+)\s*:\s*xmt/rcv/%loss\s*=\s*(\d+)/(\d+)/", re.MULTILINE)


@dataclass(frozen=True)
class Run:
    """One cycle of one tool: times in seconds, packet counts."""

    wall: float
    cpu: float
    sent: int
    received: int

    @property
    def lost(self) -> int:
        return self.sent - self.received


def loopback_targets(n: int) -> list[str]:
    """n distinct loopback addresses from 127.1.0.1 upward (250 per /24)."""
    if n > 250 * 250 * 254:
        raise ValueError("too many targets for 127.1.0.0-127.254.255.255")
    return [f"127.{1 + i // 62_500}.{(i // 250) % 250}.{i % 250 + 1}" for i in range(n)]


def run_monitord(addresses: Sequence[str]) -> Run:
    """One collector cycle over every address at once."""
    targets = [Target(f"t{i}", a) for i, a in enumerate(addresses)]

    async def cycle() -> tuple[int, int]:
        shared = Shared()
        collector = icmp.build({"count": COUNT}, shared)
        try:
            results = await asyncio.gather(
                *(collector.collect(t) for t in targets), return_exceptions=True
            )
        finally:
            await shared.aclose()
        sent = received = 0
        for r in results:
            if isinstance(r, CollectorError):
                samples = list(r.samples)
            elif isinstance(r, BaseException):
                raise r
            else:
                samples = r
            for s in samples:
                if s.name == "monitord_icmp_packets_sent_total":
                    sent += int(s.value)
                elif s.name == "monitord_icmp_packets_received_total":
                    received += int(s.value)
        return sent, received

    wall0, cpu0 = time.perf_counter(), time.process_time()
    sent, received = asyncio.run(cycle())
    return Run(time.perf_counter() - wall0, time.process_time() - cpu0, sent, received)


def run_fping(addresses: Sequence[str], extra: Sequence[str]) -> Run:
    """One fping run over every address; loss parsed from its per-target summary lines."""
    fping = shutil.which("fping")
    if fping is None:
        raise SystemExit("fping not found: apt-get install -y fping")
    with tempfile.NamedTemporaryFile("w", suffix=".targets") as f:
        f.write("\n".join(addresses) + "\n")
        f.flush()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall0 = time.perf_counter()
        proc = subprocess.run(
            [fping, "-c", str(COUNT), "-q", *extra, "-f", f.name],
            capture_output=True,
            text=True,
            timeout=FPING_TIMEOUT,
            check=False,
        )
        wall = time.perf_counter() - wall0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rows = _FPING_LINE.findall(proc.stderr)
    if len(rows) != len(addresses):
        raise SystemExit(
            f"fping reported {len(rows)} of {len(addresses)} targets:\n{proc.stderr[-2000:]}"
        )
    return Run(wall, cpu, sum(int(r[1]) for r in rows), sum(int(r[2]) for r in rows))


def run_icmplib(addresses: Sequence[str]) -> Run:
    """icmplib's async_multiping with one concurrent task (one raw socket) per target."""
    from icmplib import async_multiping

    async def cycle() -> tuple[int, int]:
        hosts = await async_multiping(
            list(addresses),
            count=COUNT,
            interval=0.2,
            timeout=1,
            concurrent_tasks=len(addresses),
            privileged=True,
        )
        return sum(h.packets_sent for h in hosts), sum(h.packets_received for h in hosts)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    sent, received = asyncio.run(cycle())
    return Run(time.perf_counter() - wall0, time.process_time() - cpu0, sent, received)


def median_run(fn: Callable[[], Run], runs: int) -> tuple[Run, list[Run]]:
    """Run `fn` `runs` times; the median by CPU, and all of them."""
    all_runs = [fn() for _ in range(runs)]
    ordered = sorted(all_runs, key=lambda r: r.cpu)
    return ordered[len(ordered) // 2], all_runs


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table; exit 1 when a goal is missed."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--targets", type=int, nargs="+", default=[1000, 5000])
    p.add_argument("--runs", type=int, default=3, help="cycles per tool and size (median shown)")
    p.add_argument(
        "--fping-default",
        action="store_true",
        help="also stock fping -c 3 -q at every size (default: at the largest size only)",
    )
    p.add_argument("--no-stock", action="store_true", help="no stock fping run at all")
    p.add_argument("--icmplib", action="store_true", help="also icmplib async_multiping")
    args = p.parse_args(argv)

    print(
        f"{'targets':>7}  {'tool':<28} {'wall s':>7} {'cpu s':>7} {'sent':>7} "
        f"{'recv':>7} {'lost':>6} {'loss':>7}"
    )
    ok = True
    for n in args.targets:
        addresses = loopback_targets(n)
        tools: list[tuple[str, Callable[[], Run], int]] = [
            ("monitord icmp", partial(run_monitord, addresses), args.runs),
            (
                "fping -i 0 -p 200",
                partial(run_fping, addresses, ["-i", "0", "-p", "200"]),
                args.runs,
            ),
        ]
        stock = args.fping_default or n == max(args.targets)
        if stock and not args.no_stock:
            tools.append(("fping (stock: -i 10 -p 1000)", partial(run_fping, addresses, []), 1))
        if args.icmplib:
            tools.append(("icmplib async_multiping", partial(run_icmplib, addresses), 1))
        medians: dict[str, Run] = {}
        for name, fn, runs in tools:
            med, all_runs = median_run(fn, runs)
            medians[name] = med
            print(
                f"{n:>7}  {name:<28} {med.wall:>7.3f} {med.cpu:>7.3f} {med.sent:>7} "
                f"{med.received:>7} {med.lost:>6} {med.lost / max(med.sent, 1):>7.2%}"
                f"  load {os.getloadavg()[0]:.2f}"
            )
            if name == "monitord icmp":
                worst = max(r.lost for r in all_runs)
                if worst:
                    ok = False
                    print(f"         GOAL MISSED: monitord lost {worst} packets in a run")
        mon = medians["monitord icmp"]
        for name, run in medians.items():
            if name.startswith("fping"):
                print(
                    f"{'':>9}monitord / {name}: wall x{mon.wall / run.wall:.2f}, "
                    f"cpu x{mon.cpu / max(run.cpu, 1e-9):.2f} "
                    f"({'cpu <= fping' if mon.cpu <= run.cpu else 'cpu ABOVE fping'})"
                )
        paced = medians["fping -i 0 -p 200"]
        if mon.cpu > paced.cpu:
            print(f"         goal missed: CPU above paced fping's (x{mon.cpu / paced.cpu:.2f})")
        if mon.wall >= 5.0:
            ok = False
            print(f"         GOAL MISSED: cycle took {mon.wall:.2f} s (goal < 5 s)")
    print("goals: zero loss, cycle < 5 s: " + ("met" if ok else "MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
