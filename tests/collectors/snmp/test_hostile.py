"""Hostile agents (issue 14, points 5 and 6): real UDP responders on 127.0.0.1.

`hostile.py` runs as a subprocess and speaks hand-encoded BER: one agent sends values
no SNMP type allows, another returns endlessly increasing OIDs. The first is polled by
the collector directly; the second by the real daemon next to healthy ICMP and SNMP
targets, which must keep every poll of their interval.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import collectors.snmp as snmp
from monitord.errors import CollectorError
from monitord.types import Sample, Shared, Target
from tests.collectors.snmp.conftest import by_series
from tests.conftest import REPO, wait_for
from tests.peers.snmprec_gen import switch
from tests.peers.snmpsim import SnmpSim


class Hostile:
    """One hostile agent process; `port` once it listens."""

    def __init__(self, mode: str, lifetime: float = 300.0, community: str = "hostile") -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.collectors.snmp.hostile",
                "--mode",
                mode,
                "--lifetime",
                str(lifetime),
                "--community",
                community,
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("port "):
            self.stop()
            pytest.fail(f"hostile agent did not start: {line!r}")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def hostile_malformed() -> Iterator[Hostile]:
    h = Hostile("malformed")
    yield h
    h.stop()


def _poll(port: int, times: int) -> list[tuple[list[Sample], CollectorError | None]]:
    async def go() -> list[tuple[list[Sample], CollectorError | None]]:
        shared = Shared()
        c = snmp.build(
            {
                "community": "hostile",
                "port": port,
                "profiles": ["system", "interfaces"],
                "label_refresh": 100,
            },
            shared,
        )
        out: list[tuple[list[Sample], CollectorError | None]] = []
        try:
            for _ in range(times):
                try:
                    out.append((await c.collect(Target("bad", "127.0.0.1")), None))
                except CollectorError as exc:
                    out.append((list(exc.samples), exc))
        finally:
            await shared.aclose()
        return out

    return asyncio.run(go())


def _v(series: dict, name: str, **labels: str) -> float | None:  # type: ignore[type-arg]
    s = series.get((name, tuple(sorted({"target": "bad", **labels}.items()))))
    return None if s is None else s.value


@pytest.mark.peer
def test_values_no_snmp_type_allows_are_malformed_varbinds_the_rest_is_kept(
    hostile_malformed: Hostile,
) -> None:
    """An INTEGER of 2^64, a Counter32 of 2^40, an OID value and a name with an arc past
    2^32-1, a value of type 0x47: each is dropped and counted, every poll succeeds."""
    polls = _poll(hostile_malformed.port, 3)
    for i, (samples, error) in enumerate(polls):
        assert error is None, error
        s = by_series(samples)
        # the label walk (poll 0) also meets sysObjectID and ifAlias.1; later polls do not
        assert _v(s, "monitord_snmp_malformed_varbinds_total") == (5 if i == 0 else 3)
        assert _v(s, "monitord_snmp_poll_partial") == 0
        # ifAdminStatus.2 (2^64) is gone, the others are there
        admin = {x.labels["ifname"]: x.value for x in samples if x.name.endswith("admin_up")}
        assert admin == {"e1": 1, "e3": 1}
        # ifInErrors.3 (Counter32 of 2^40) is gone
        errors = {
            x.labels["ifname"]: x.value for x in samples if x.name.endswith("in_errors_total")
        }
        assert errors == {"e1": 2, "e2": 4}
        # the HC column ended at the bad name, after its three good rows
        octets = {x.labels["ifname"]: x.value for x in samples if x.name.endswith("in_bytes_total")}
        assert octets == {"e1": (1 << 40) + 1, "e2": (1 << 40) + 2, "e3": (1 << 40) + 3}
        info = {
            x.labels["ifname"]: x.labels["ifalias"]
            for x in samples
            if x.name == "monitord_interface_info"
        }
        assert info == {"e1": "", "e2": "alias 2", "e3": "alias 3"}
        assert _v(s, "monitord_device_uptime_seconds") == 1234.56
    system = [x for x in polls[0][0] if x.name == "monitord_snmp_info"]
    assert [x.labels["sysobjectid"] for x in system] == [""]  # the bad OID value, dropped
    assert [x.labels["sysname"] for x in system] == ["hostile"]


# --- the endless agent next to healthy targets, in the real daemon ----------------------

RUN_SECONDS = 16.0
CONFIG = """\
daemon:
  listen: 127.0.0.1:{{port}}
  data_dir: {{data_dir}}
  startup_spread: 0.2s
defaults: {{{{interval: 2s, timeout: 1800ms, failures_to_down: 1}}}}
history: {{{{flush_interval: 2s}}}}
targets:
  - {{{{name: hostile, address: 127.0.0.1, collectors: {{{{snmp: {{{{community: "${{{{C_HOSTILE}}}}", port: {hostile}, profiles: [system, interfaces, entity, lldp], interval: 12s, timeout: 11s}}}}}}}}}}}}
  - {{{{name: healthy-sw, address: 127.0.0.1, collectors: {{{{snmp: {{{{community: "${{{{C_HEALTHY}}}}", port: {sim}, profiles: [system, interfaces]}}}}}}}}}}}}
{icmp}"""
ICMP = [f"127.0.0.{i}" for i in (1, 2, 3, 4)]


def _families(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.mark.peer
def test_endless_agent_costs_healthy_targets_nothing(start_daemon, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Endless OIDs: bounded by max_varbinds (LimitExceeded, partial), while four ICMP
    targets and a healthy switch keep every poll of their 2 s interval, never down."""
    # Its community differs from the target's name (a secret equal to a name is refused).
    hostile = Hostile("endless", lifetime=120, community="hostile-agent")
    try:
        with SnmpSim(tmp_path / "sim") as sim:
            sim.add_records("healthy", switch(24, seed=3, name="healthy-sw"))
            sim.start()
            icmp = "".join(
                f"  - {{{{name: ping-{i}, address: {a}, collectors: {{{{icmp: {{{{count: 1}}}}}}}}}}}}\n"
                for i, a in enumerate(ICMP)
            )
            d = start_daemon(
                CONFIG.format(hostile=hostile.port, sim=sim.port, icmp=icmp),
                env={"C_HOSTILE": "hostile-agent", "C_HEALTHY": "healthy"},
            )
            t0 = time.monotonic()

            def limited() -> bool:
                m = _families(d.metrics())
                key = (
                    "monitord_snmp_limit_exceeded_total",
                    (("limit", "max_varbinds"), ("target", "hostile")),
                )
                return m.get(key, 0) >= 2

            wait_for(limited, 60, "the hostile agent to hit max_varbinds twice")
            remaining = RUN_SECONDS - (time.monotonic() - t0)
            if remaining > 0:
                time.sleep(remaining)  # let the healthy targets run a known span, not a fix
            text = d.metrics()
            ran = time.monotonic() - t0
            assert d.stop() == 0
    finally:
        hostile.stop()
    m = _families(text)
    # the hostile target is bounded and says so
    hostile_series = [k for k in m if ("target", "hostile") in k[1]]
    assert 0 < len(hostile_series) < 100  # 50,000 varbinds walked, no interface named
    assert m[("monitord_snmp_poll_partial", (("target", "hostile"),))] == 1
    assert "error=LimitExceeded limits=max_varbinds=50000" in d.log()
    # the healthy ones kept every poll and never went down
    for collector in ("icmp", "snmp"):
        assert m.get(("monitord_scheduler_missed_runs_total", (("collector", collector),))) == 0
    for t in [f"ping-{i}" for i in range(len(ICMP))] + ["healthy-sw"]:
        col = "snmp" if t == "healthy-sw" else "icmp"
        assert m[("monitord_target_up", (("collector", col), ("target", t)))] == 1
    for t in [f"ping-{i}" for i in range(len(ICMP))] + ["healthy-sw"]:
        assert f"target down target={t} " not in d.log()
    with sqlite3.connect(tmp_path / "var" / "monitord.db") as c:
        rows = dict(
            ((t, col), (polls, ok))
            for t, col, polls, ok in c.execute(
                "SELECT s.target, s.collector, SUM(p.polls), SUM(p.ok) FROM poll_hour p "
                "JOIN series s ON s.id = p.sid GROUP BY s.target, s.collector"
            )
        )
        downs = c.execute("SELECT target FROM events WHERE kind = 'down'").fetchall()
    assert [t for (t,) in downs if t != "hostile"] == []
    expected = int(ran // 2.0) - 1  # one 2 s interval of slack for the startup spread
    for t in [f"ping-{i}" for i in range(len(ICMP))] + ["healthy-sw"]:
        col = "snmp" if t == "healthy-sw" else "icmp"
        polls, ok = rows[(t, col)]
        assert polls >= expected and ok == polls, (t, polls, ok, expected)
