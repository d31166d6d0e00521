"""100 switches, a 3-minute hang of every agent: is each switch's data complete right after?

Generated 48-port switches (tests/peers/snmprec_gen.py) are served by four snmpsim processes
on 127.0.0.11-14; monitord's own Runner polls every switch every 60 s (timeout 50 s), as the
example configuration does. After a warm-up of two polls, every responder is stopped with
SIGSTOP for 180 s and continued with SIGCONT (the agents hang, as a switch's SNMP process
does under load); the run then goes on for two polls. For each switch it prints when its
first good poll after the hang came and whether that poll had complete interface data (octet
counters and statuses of all 50 interfaces), and it exits 1 if any switch's did not.

Takes about 8-9 minutes (responders' start-up + 125 s + 180 s + 125 s). Traffic goes to
127.0.0.0/8 only; every phase is bounded in time.

Run: python bench/snmp_hang.py [--switches 100] [--hang 180] [--interval 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.collectors.snmp.hang import run_hang


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--switches", type=int, default=100)
    p.add_argument("--ports", type=int, default=48)
    p.add_argument("--processes", type=int, default=4)
    p.add_argument("--interval", type=float, default=60.0)
    p.add_argument("--timeout", type=float, default=50.0)
    p.add_argument("--warmup", type=float, default=125.0)
    p.add_argument("--hang", type=float, default=180.0)
    p.add_argument("--after", type=float, default=125.0)
    args = p.parse_args(argv)
    t0 = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f}s] {text}", flush=True)

    with tempfile.TemporaryDirectory(prefix="snmp-hang-") as tmp:
        res = run_hang(
            Path(tmp),
            switches=args.switches,
            ports=args.ports,
            processes=args.processes,
            interval=args.interval,
            timeout=args.timeout,
            warmup=args.warmup,
            hang=args.hang,
            after=args.after,
            say=say,
        )
    firsts = res.first_good_after()
    came = [f for f in firsts.values() if f is not None]
    before = [
        sum(1 for t, ok, _, _ in log.polls if ok and t < res.resumed_at - args.hang)
        for log in res.logs.values()
    ]
    start = res.resumed_at - args.hang
    during = [
        sum(1 for t, ok, _, _ in log.polls if ok and start < t <= res.resumed_at)
        for log in res.logs.values()
    ]
    incomplete = res.incomplete()
    print()
    print(f"switches: {res.switches} x {res.interfaces} interfaces; hang {args.hang:.0f}s")
    print(f"good polls per switch before the hang: min {min(before)}, during it: max {max(during)}")
    if came:
        delays = [f[0] for f in came]
        print(
            f"first good poll after the hang: {len(came)}/{res.switches} switches, "
            f"after {min(delays):.1f}s..{max(delays):.1f}s "
            f"(median {statistics.median(delays):.1f}s)"
        )
    print(
        "complete interface data on that poll: "
        f"{res.switches - len(incomplete)}/{res.switches} switches"
        + (f"; incomplete: {', '.join(incomplete)}" if incomplete else "")
    )
    later_partial = sum(
        1 for log in res.logs.values() for t, _, _, part in log.polls if t > res.resumed_at and part
    )
    print(f"partial polls after the hang (all switches): {later_partial}")
    say("done")
    return 1 if incomplete or len(came) < res.switches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
