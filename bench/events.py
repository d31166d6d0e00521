"""CPU per device message on the receive path, against references measured in the same run.

Traps: one v2c linkDown datagram as net-snmp's snmptrap sends it (captured on loopback)
goes through monitord's path: `decode_trap` → meaning table → `EventsService.handle`
(target match, fold, counters, state). Reference: decoding the same datagram with
pysnmp's pyasn1 codec alone (`pysnmp.proto.api`), what a pysnmp-based receiver pays
before doing anything with the trap.

Messages go to the core in batches of 100, as the receiver's consumer hands them over.

SNMPv3: the same linkDown sent by `snmptrap -v3` at authPriv (SHA, AES-128) goes
through `UsmReceiver.receive` (digest check, decryption, time window; keys localised
once and cached) and the same path; reference: the v2c path of the same run, so the
ratio is the price of USM.

Syslog: one OpenSSH failed-password line through `parse_syslog` → meaning table (the
15 built-in patterns) → `EventsService.handle`. Reference: one `re.search` of the sshd
pattern on the line, the least any pattern-based receiver does.

Also: the cost of refusing a datagram of a flood (`EventReceiver.offer` with an empty
token bucket), which is what bounds the CPU a flood can take.

Run: python bench/events.py [--n 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import CollectorRegistry

from collectors.events.meaning import load_table
from collectors.events.receiver import EventReceiver
from collectors.events.syslog import parse_syslog
from collectors.events.traps import decode_trap
from collectors.events.v3 import UsmReceiver, V3User
from monitord.events.config import EventsConfig
from monitord.events.service import EventsService
from monitord.state import State
from monitord.types import EventOrigin, Target, TargetKind
from tests.collectors.events.senders import capture_trap

BATCH = 100
LINE = b"<38>Dec  3 03:40:00 fw-01 sshd[812]: Failed password for root from 127.0.0.5 port 22 ssh2"


def cpu_per_call(fn: object, n: int) -> float:
    """CPU seconds per call of `fn()` over `n` calls (best of three)."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(n):
            fn()  # type: ignore[operator]
        best = min(best, (time.process_time() - start) / n)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20000)
    n = ap.parse_args().n
    table = load_table()
    svc = EventsService(
        EventsConfig(), [Target("sw", "127.0.0.1", TargetKind.SWITCH)], State(), CollectorRegistry()
    )
    datagram = capture_trap(
        ["-v", "2c", "-c", "public"],
        ["", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.5", "i", "5",
         "1.3.6.1.2.1.31.1.1.1.1.5", "s", "Gi0/5", "1.3.6.1.2.1.2.2.1.8.5", "i", "2"],
    )  # fmt: skip

    v3_datagram = capture_trap(
        ["-v", "3", "-u", "bench", "-l", "authPriv", "-a", "SHA", "-A", "authpass123",
         "-x", "AES", "-X", "privpass123", "-e", "0x8000000001020304"],
        ["", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.5", "i", "5",
         "1.3.6.1.2.1.31.1.1.1.1.5", "s", "Gi0/5", "1.3.6.1.2.1.2.2.1.8.5", "i", "2"],
    )  # fmt: skip
    usm = UsmReceiver(
        [V3User("bench", "SHA", b"authpass123", "AES", b"privpass123")],
        bytes.fromhex("80001f8805aabbccdd"), 1, 0.0,
    )  # fmt: skip

    def v3_trap() -> object:
        trap = usm.receive(v3_datagram, 1.0).trap
        assert trap is not None
        return table.trap_event(trap, "127.0.0.1", 1.0)

    def v3_path() -> None:
        svc.handle([v3_trap() for _ in range(BATCH)])  # type: ignore[misc]

    def trap_path() -> None:  # a batch of BATCH messages, as the receiver hands them over
        svc.handle([table.trap_event(decode_trap(datagram), "127.0.0.1", 1.0)
                    for _ in range(BATCH)])  # fmt: skip

    from pyasn1.codec.ber import decoder
    from pysnmp.proto import api

    proto = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]

    def trap_reference() -> None:
        decoder.decode(datagram, asn1Spec=proto.Message())

    def syslog_path() -> None:
        svc.handle([table.syslog_event(parse_syslog(LINE), "127.0.0.1", 1.0)
                    for _ in range(BATCH)])  # fmt: skip

    sshd = re.compile(r"Failed (?:password|publickey) for (?:invalid user )?(?P<user>\S+) from")

    def syslog_reference() -> None:
        sshd.search(LINE.decode())

    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"load average: {load}")
    ours_t = cpu_per_call(trap_path, n // BATCH) / BATCH
    ours_v3 = cpu_per_call(v3_path, n // BATCH) / BATCH
    ref_t = cpu_per_call(trap_reference, n // 4)
    ours_s = cpu_per_call(syslog_path, n // BATCH) / BATCH
    ref_s = cpu_per_call(syslog_reference, n)
    print(
        f"trap  (v2c linkDown, 3 varbinds): monitord {ours_t * 1e6:7.1f} us/message, "
        f"pysnmp decode only {ref_t * 1e6:7.1f} us  ratio {ours_t / ref_t:5.2f}"
    )
    print(
        f"trap  (v3 authPriv SHA/AES):      monitord {ours_v3 * 1e6:7.1f} us/message, "
        f"v2c path above    {ours_t * 1e6:7.1f} us  ratio {ours_v3 / ours_t:5.2f}"
    )
    print(f"syslog (sshd failed password):    monitord {ours_s * 1e6:7.1f} us/message, "
          f"one re.search    {ref_s * 1e6:7.1f} us  ratio {ours_s / ref_s:5.2f}")  # fmt: skip

    async def refusals() -> float:
        cfg = EventsConfig.model_validate({"rate_limit": 1, "burst": 1})
        rx = EventReceiver(cfg, table, lambda evs: None, lambda reason: None)
        await rx.start()  # no listen address: no sockets, offer() alone is measured
        try:
            return cpu_per_call(lambda: rx.offer(EventOrigin.SYSLOG, LINE, ("127.0.0.9", 1)), n)
        finally:
            await rx.aclose()

    drop = asyncio.run(refusals())
    print(f"flood: one refused datagram costs {drop * 1e6:.2f} us of CPU "
          f"({1 / drop:,.0f} refusals per CPU second) vs {ours_s / drop:.0f}x for an accepted "
          f"syslog message")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
