"""Client CPU per varbind: monitord's SNMP collector vs net-snmp's snmpbulkwalk, same devices.

Devices are generated switches (tests/peers/snmprec_gen.py) replayed by snmpsim on
127.0.0.1: one with 500 ports, and 100 with 48 ports each (own communities). For each
scenario it measures this process's CPU (time.process_time) for

- monitord, end to end: the polls (walk + decode + samples), `State.record` and the
  Prometheus exposition of the state, over the ordinary polls that follow the first
  (label-refresh) one; the first poll is reported apart;
- snmpbulkwalk (-Cr25, numeric output, no MIBs): one run per device per table
  (ifTable, ifXTable), CPU from getrusage(RUSAGE_CHILDREN);

and prints CPU per varbind (varbinds received, for monitord; varbinds printed, for
snmpbulkwalk) and the ratio. `--clients` chooses what monitord runs: `native` (v2c, own
codec), `pysnmp` (v2c through pysnmp's engine), `v3` (SNMPv3 authPriv SHA-256/AES with
the native codec and USM) and `v3-pysnmp` (the same through pysnmp). With a v3 client,
`snmpbulkwalk -v3` with the same user and contexts is measured too, and v3 rows are
compared with it (its CPU includes, per run, engine discovery and the two 1 MB
password-to-key hashes: net-snmp's own price for a poll from a fresh process).
`--profile` prints the functions where monitord's CPU goes.

Reference figures (issue 3): pysnmp hlapi ~300 us/varbind with MIB lookup, ~140 us
without; snmpbulkwalk 7-14 us; snmp_exporter 13-15 us. Goal: at most 5 x snmp_exporter
end to end, i.e. about 70 us per varbind. Issue 16: v3 authPriv through pysnmp 243 us;
goal for the native v3 client at most 2 x snmp_exporter (30 us).

Run: python bench/snmp.py [--polls 3] [--clients native,pysnmp,v3,v3-pysnmp] [--rounds 3]
     [--only-48] [--devices48 100] [--ref-devices N] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import collectors.snmp as snmp
from exporters.prometheus import ExpositionRenderer
from monitord.errors import CollectorError
from monitord.state import State
from monitord.types import Shared, Target
from tests.peers.snmprec_gen import switch
from tests.peers.snmpsim import SnmpSim, V3User

V3 = V3User("bench", "SHA256", "bench-auth-key", "AES", "bench-priv-key")
SNMP_EXPORTER_US = 14.0


@dataclass
class Result:
    name: str
    cpu: float
    varbinds: int
    series: int = 0
    phases: tuple[float, ...] = ()  # CPU of poll (walk+decode+samples), state, exposition

    @property
    def us_per_varbind(self) -> float:
        return self.cpu / max(1, self.varbinds) * 1e6


def options(client: str, community: str, port: int) -> dict[str, object]:
    base: dict[str, object] = {
        "port": port,
        "profiles": ["system", "interfaces"],
        # generous: one snmpsim serves every device, slowly on a loaded machine
        "walk_budget": "300s",
        "request_timeout": "20s",
        "max_repetitions": 25,
    }
    if client in ("v3", "v3-pysnmp"):
        return base | {
            "client": "pysnmp" if client == "v3-pysnmp" else "native",
            "version": 3,
            "user": V3.user,
            "auth_protocol": "SHA256",
            "auth_key": V3.auth_key,
            "priv_protocol": "AES",
            "priv_key": V3.priv_key,
            "context": community,
        }
    return base | {"community": community, "client": client}


async def run_monitord(
    client: str, communities: Sequence[str], port: int, polls: int, profile: cProfile.Profile | None
) -> tuple[Result, Result]:
    """First (label refresh) poll, then `polls` ordinary ones: CPU of polls + state + exposition."""
    shared = Shared(limits={"snmp": 64})
    state = State()
    targets = [Target(c, "127.0.0.1") for c in communities]
    state.set_targets(targets)
    collectors = [snmp.build(options(client, c, port), shared) for c in communities]
    renderer = ExpositionRenderer(snmp.SnmpCollector.metrics)
    sem = asyncio.Semaphore(16)  # like the runner's per-kind cap: several devices in flight

    async def one(c: snmp.SnmpCollector, t: Target) -> list:  # type: ignore[type-arg]
        async with sem:
            try:
                return await c.collect(t)
            except CollectorError as exc:
                raise SystemExit(f"poll of {t.name} failed: {exc}") from exc

    async def round_() -> tuple[float, int, int, tuple[float, float, float]]:
        cpu0 = time.process_time()
        results = await asyncio.gather(
            *(one(c, t) for c, t in zip(collectors, targets, strict=True))
        )
        cpu1 = time.process_time()
        for t, samples in zip(targets, results, strict=True):
            state.record(t, "snmp", samples, ok=True, interval=60)
        cpu2 = time.process_time()
        body = renderer.render(state.snapshot())
        cpu3 = time.process_time()
        vbs = sum(
            int(s.value) for r in results for s in r if s.name == "monitord_snmp_varbinds_total"
        )
        return cpu3 - cpu0, vbs, body.count(b"\n"), (cpu1 - cpu0, cpu2 - cpu1, cpu3 - cpu2)

    try:
        cpu, vbs, lines, _ = await round_()
        first = Result(f"monitord {client}, first poll (labels)", cpu, vbs, lines)
        total_cpu, total_vbs = 0.0, 0
        phases = [0.0, 0.0, 0.0]
        if profile is not None:
            profile.enable()
        for _ in range(polls):
            cpu, vbs, lines, split = await round_()
            total_cpu += cpu
            total_vbs += vbs
            phases = [a + b for a, b in zip(phases, split, strict=True)]
        if profile is not None:
            profile.disable()
        steady = Result(f"monitord {client}, ordinary polls", total_cpu, total_vbs, lines)
        steady.phases = tuple(phases)
        return first, steady
    finally:
        await shared.aclose()


def median(results: Sequence[Result]) -> Result:
    """The result with the median CPU per varbind."""
    return sorted(results, key=lambda r: r.us_per_varbind)[len(results) // 2]


def run_snmpbulkwalk(communities: Sequence[str], port: int, v3: bool = False) -> Result:
    exe = shutil.which("snmpbulkwalk")
    if exe is None:
        raise SystemExit("snmpbulkwalk not found (apt-get install snmp)")
    env = dict(os.environ, MIBS="", MIBDIRS="/nonexistent")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = 0
    for c in communities:
        if v3:
            auth = ["-v3", "-l", "authPriv", "-u", V3.user, "-a", "SHA-256", "-A", V3.auth_key]
            auth += ["-x", "AES", "-X", V3.priv_key, "-n", c]
        else:
            auth = ["-v2c", "-c", c]
        for oid in ("1.3.6.1.2.1.2.2", "1.3.6.1.2.1.31.1.1"):
            out = subprocess.run(
                [exe, *auth, "-On", "-Cr25", "-t", "5", f"127.0.0.1:{port}", oid],
                capture_output=True,
                env=env,
                check=True,
            )
            lines += out.stdout.count(b"\n")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    name = "snmpbulkwalk -v3 authPriv SHA-256/AES" if v3 else "snmpbulkwalk -v2c -Cr25"
    return Result(f"{name} (ifTable + ifXTable)", cpu, lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--polls", type=int, default=3, help="ordinary polls measured after the first one"
    )
    ap.add_argument(
        "--clients", default="native", help="comma list of native, pysnmp, v3, v3-pysnmp"
    )
    ap.add_argument("--devices48", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds; medians shown")
    ap.add_argument("--only-48", action="store_true", help="skip the 500-port device")
    ap.add_argument(
        "--ref-devices",
        type=int,
        default=0,
        help="snmpbulkwalk only the first N devices (per-varbind CPU; saves snmpsim time)",
    )
    ap.add_argument("--profile", action="store_true", help="print where monitord's CPU goes")
    args = ap.parse_args(argv)
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    work = Path(tempfile.mkdtemp(prefix="monitord-bench-snmp-"))
    try:
        with SnmpSim(work, max_var_binds=256, v3_user=V3) as sim:
            sim.add_records("sw500", switch(500, seed=500, name="sw500"))
            names48 = [f"sw48-{i:03d}" for i in range(args.devices48)]
            for i, n in enumerate(names48):
                sim.add_records(n, switch(48, seed=1000 + i, name=n))
            t0 = time.monotonic()
            sim.start(timeout=300)
            print(
                f"snmpsim ready on 127.0.0.1:{sim.port} in {time.monotonic() - t0:.1f}s "
                f"({1 + len(names48)} devices)\n"
            )
            scenarios = [("1 x 500 ports", ["sw500"]), (f"{len(names48)} x 48 ports", names48)]
            for title, comms in [sc for sc in scenarios if sc[1]]:
                if args.only_48 and len(comms) == 1:
                    continue
                print(f"== {title}")
                prof = cProfile.Profile() if args.profile else None
                runs: dict[str, list[Result]] = {}
                for round_ in range(args.rounds):  # interleaved: every client once per round
                    walked = comms[: args.ref_devices or None]
                    got = [run_snmpbulkwalk(walked, sim.port)]
                    if any(c.startswith("v3") for c in clients):
                        got.append(run_snmpbulkwalk(walked, sim.port, v3=True))
                    for client in clients:
                        got += asyncio.run(
                            run_monitord(
                                client, comms, sim.port, args.polls, prof if not round_ else None
                            )
                        )
                    for r in got:
                        runs.setdefault(r.name, []).append(r)
                rows = [median(rs) for rs in runs.values()]
                ref, ref3 = rows[0], rows[1] if rows[1].name.startswith("snmpbulkwalk") else None
                compared = [
                    (r, ref3 if r.name.startswith("monitord v3") and ref3 else ref)
                    for r in rows
                    if r.phases
                ]
                if args.rounds > 1:
                    print(f"  (median of {args.rounds} interleaved rounds)")
                for r in rows:
                    extra = f", {r.series} exposition lines" if r.series else ""
                    print(
                        f"  {r.name:45} {r.us_per_varbind:7.1f} us/varbind  "
                        f"({r.cpu:.3f}s CPU, {r.varbinds} varbinds{extra})"
                    )
                for r in rows:
                    if r.phases:
                        us = [p / max(1, r.varbinds) * 1e6 for p in r.phases]
                        print(
                            f"    {r.name.split(',')[0]} ordinary polls, us/varbind by phase: "
                            f"poll (walk, decode, samples) {us[0]:.1f}, state.record {us[1]:.1f}, "
                            f"exposition {us[2]:.1f}"
                        )
                for r, against in compared:
                    name = r.name.split(",")[0]
                    vs_walk = r.us_per_varbind / against.us_per_varbind
                    vs_exporter = r.us_per_varbind / SNMP_EXPORTER_US
                    walker = against.name.split(" (")[0]
                    print(
                        f"  ratio {name} / {walker}: {vs_walk:.1f}x; "
                        f"/ snmp_exporter ({SNMP_EXPORTER_US:g} us): {vs_exporter:.1f}x"
                    )
                steady = {r.name.split(",")[0]: r.us_per_varbind for r, _ in compared}
                if "monitord v3" in steady and "monitord native" in steady:
                    v3, v2 = steady["monitord v3"], steady["monitord native"]
                    print(f"  v3 over v2c, both native: {v3 - v2:+.1f} us/varbind, {v3 / v2:.2f}x")
                if prof is not None:
                    buf = io.StringIO()
                    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(18)
                    print("\n".join(buf.getvalue().splitlines()[:40]))
                print()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
