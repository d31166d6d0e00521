"""Devices that misbehave between polls (issue 14, points 1-4), end to end.

A recording served by snmpsim is replaced between polls (or the scripted agent's faults
switched), the collector polls it, `monitord.state.State` and the history rollup
(`RollupRecorder` into a real SQLite `History`) take the samples on a fake clock that
moves 60 s per poll, and the tests assert the exact series and rollup rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import collectors.snmp as snmp
from monitord.errors import CollectorError
from monitord.history import RollupRecorder
from monitord.history.db import History
from monitord.state import State
from monitord.types import Sample, Shared, Target
from tests.collectors.snmp.agent import Faults, ScriptedAgent, interface_table
from tests.conftest import FakeClock
from tests.contract.declared import declared_roles
from tests.peers.snmprec_gen import Record, counter_overrides, switch
from tests.peers.snmpsim import SnmpSim

IF = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
IF_LAST_CHANGE = (1, 3, 6, 1, 2, 1, 31, 1, 5, 0)
PORT1 = 10101
VL1 = 1
HC = 1_006_632_688_123  # a counter that never moves, above 2^32 (the repro's sw-060 Vl1)
HC_COLUMNS = {6, 7, 10, 11}
T0 = 1_790_000_000.0


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpSim]:
    with SnmpSim(tmp_path_factory.mktemp("snmpsim-misbehave")) as s:
        s.add_records("flip", switch(2, seed=8))
        s.add_records("noup", switch(2, seed=7, with_hc=False))
        s.add_records("rename", switch(2, seed=9))
        s.start()
        yield s


class Run:
    """One device polled through the collector into a State and a rollup on a fake clock.

    All polls of one `Run` go through one collector (one label cache) in one event loop.
    """

    def __init__(self, port: int, community: str, tmp: Path, **options: object) -> None:
        self.target = Target(community, "127.0.0.1")
        self.clock = FakeClock(wall=T0)
        self.state = State(clock=self.clock, uptime_names=declared_roles().uptime)
        self.history = History(tmp / f"{community}.db")
        self.rollup = RollupRecorder(
            self.history, self.clock, "America/Bogota", roles=declared_roles()
        )
        self.shared = Shared()
        self.collector = snmp.build(
            {"community": community, "port": port, "profiles": ["system", "interfaces"]} | options,
            self.shared,
        )

    async def poll(self) -> tuple[list[Sample], CollectorError | None]:
        """Poll once, 60 s after the previous poll; feed the state and the rollup."""
        self.clock.advance(60)
        try:
            samples, error = await self.collector.collect(self.target), None
        except CollectorError as exc:
            samples, error = list(exc.samples), exc
        self.state.record(
            self.target,
            "snmp",
            samples,
            ok=error is None,
            reason=error.reason.value if error else "",
            interval=60,
        )
        group = self.state.group(self.target.name, "snmp")
        assert group is not None
        self.rollup.observe(group)
        return samples, error

    def rate(self, name: str, ifindex: int) -> float | None:
        g = self.state.group(self.target.name, "snmp")
        assert g is not None
        found = [
            v.rate
            for (n, lbl), v in g.series.items()
            if n == name and ("ifindex", str(ifindex)) in lbl
        ]
        assert len(found) <= 1
        return found[0] if found else None

    def stored(self, sql: str) -> list[tuple[object, ...]]:
        self.rollup.flush(force=True)
        return self.history.query(sql)

    async def close(self) -> None:
        await self.shared.aclose()
        self.history.close()


def _without(records: list[Record], drop: set[int], table: tuple[int, ...]) -> list[Record]:
    n = len(table)
    return [r for r in records if not (r.oid[:n] == table and r.oid[n] in drop)]


IFACE_ROWS = (
    "SELECT s.object, d.secs, d.in_bytes, d.out_bytes, d.in_peak FROM iface_day d "
    "JOIN series s ON s.id = d.sid WHERE s.kind = 'if' ORDER BY s.object"
)


@pytest.mark.peer
def test_counter_width_flip_records_no_traffic_and_one_name(sim: SnmpSim, tmp_path: Path) -> None:
    """A poll whose ifXTable lacks the HC columns (label walk on every poll) gives a gap for
    the interfaces that have them, never their 32-bit counter: 0 bytes, one name per port."""
    base = counter_overrides(switch(2, seed=8), {(*IFX, 6, VL1): HC, (*IF, 10, VL1): HC % 2**32})
    run = Run(sim.port, "flip", tmp_path, label_refresh=1)

    async def scenario() -> tuple[list, list]:  # type: ignore[type-arg]
        hc_rates = []
        for records in (base, _without(base, HC_COLUMNS, IFX), base, base):
            sim.replace_records("flip", records)
            samples, error = await run.poll()
            assert error is None, error
            vl1 = [
                s
                for s in samples
                if s.name == "monitord_interface_in_bytes_total" and s.labels["ifindex"] == str(VL1)
            ]
            hc_rates.append(
                (
                    [(s.value, s.bits, s.labels["ifname"]) for s in vl1],
                    run.rate("monitord_interface_in_bytes_total", VL1),
                )
            )
        rows = run.stored(IFACE_ROWS)
        await run.close()
        return hc_rates, rows

    hc_rates, rows = asyncio.run(scenario())
    assert hc_rates == [
        ([(HC, 64, "Vl1")], None),  # first reading
        ([], None),  # no HC column on this poll: a gap, not ifInOctets
        ([(HC, 64, "Vl1")], None),  # back: no previous reading in the state
        ([(HC, 64, "Vl1")], 0.0),  # the counter did not move
    ]
    # one name per port; the rollup keys an interface by ifIndex and name
    assert [r[0] for r in rows] == [
        f"{PORT1}:Gi1/0/1", f"{PORT1 + 1}:Gi1/0/2", f"{VL1}:Vl1", "5001:Po1"
    ]  # fmt: skip
    assert {r[0]: r[1:] for r in rows}[f"{VL1}:Vl1"] == (60.0, 0.0, 0.0, 0.0)
    assert all(r[2] == 0.0 and r[3] == 0.0 for r in rows)  # no counter moved: no traffic


@pytest.mark.peer
def test_counter32_going_back_without_sysuptime_is_a_reset(sim: SnmpSim, tmp_path: Path) -> None:
    """No sysUpTime: a 32-bit counter that goes back is a reset unless ifSpeed x interval
    admits the wrap (100 Mb/s port: 1.3 GB in 60 s is not a wrap; Vl1, no bound: never)."""
    slow = {(*IF, 5, PORT1): 100_000_000, (*IFX, 15, PORT1): 100}
    base = [r for r in switch(2, seed=7, with_hc=False) if r.oid != UPTIME]
    run = Run(sim.port, "noup", tmp_path)
    steps = [  # (port1 ifInOctets, Vl1 ifInOctets)
        (3_000_000_000, 2**32 - 1000),
        (1_000_000, 3000),  # both back: agent restarted (as a wrap: 21.6 MB/s and 4 kB)
        (61_000_000, 63_000),  # rates again
        (2**32 - 1_000_000, 123_000),
        (5_000_000, 183_000),  # port 1 wraps: 6 MB in 60 s fits 100 Mb/s
    ]

    async def scenario() -> tuple[list, dict]:  # type: ignore[type-arg]
        got = []
        for port1, vl1 in steps:
            sim.replace_records(
                "noup",
                counter_overrides(base, {**slow, (*IF, 10, PORT1): port1, (*IF, 10, VL1): vl1}),
            )
            samples, error = await run.poll()
            assert error is None, error
            assert not [s for s in samples if s.name == "monitord_device_uptime_seconds"]
            got.append(
                (
                    run.rate("monitord_interface_in_bytes_total", PORT1),
                    run.rate("monitord_interface_in_bytes_total", VL1),
                )
            )
        rows = {r[0]: r[1:] for r in run.stored(IFACE_ROWS)}
        await run.close()
        return got, rows

    got, rows = asyncio.run(scenario())
    assert got == [
        (None, None),
        (None, None),
        (60_000_000 / 60, 60_000 / 60),
        (None, 60_000 / 60),  # 4.2 GB in 60 s on 100 Mb/s: not plausible, no rate
        (6_000_000 / 60, 60_000 / 60),
    ]
    # secs observed (out rates known), in_bytes: the known intervals only, no spike
    assert rows[f"{PORT1}:Gi1/0/1"][:2] == (240.0, 66_000_000.0)
    assert rows[f"{VL1}:Vl1"][:2] == (240.0, 180_000.0)


@pytest.mark.peer
def test_names_change_only_when_the_device_announces_it(sim: SnmpSim, tmp_path: Path) -> None:
    """A periodic label walk keeps the names; a new ifTableLastChange renames."""
    base = [*switch(2, seed=9), Record(IF_LAST_CHANGE, 0x43, 1000)]
    base.sort(key=lambda r: r.oid)
    renamed = counter_overrides(base, {(*IFX, 1, PORT1): (0x04, "Te1/0/1")})
    announced = counter_overrides(renamed, {IF_LAST_CHANGE: 5000})
    run = Run(sim.port, "rename", tmp_path, label_refresh=1)

    async def scenario() -> list[list[str]]:
        names = []
        for records in (base, renamed, announced):
            sim.replace_records("rename", records)
            samples, error = await run.poll()
            assert error is None, error
            names.append(
                sorted(
                    s.labels["ifname"]
                    for s in samples
                    if s.name == "monitord_interface_info" and s.labels["ifindex"] == str(PORT1)
                )
            )
        await run.close()
        return names

    assert asyncio.run(scenario()) == [["Gi1/0/1"], ["Gi1/0/1"], ["Te1/0/1"]]


def _with_agent(values: dict, faults: Faults, body):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        agent = ScriptedAgent(values, faults=faults)
        await agent.start()
        try:
            return await body(agent)
        finally:
            await agent.stop()

    return asyncio.run(go())


def _reps(samples: list[Sample], table: str) -> float | None:
    for s in samples:
        if s.name == "monitord_snmp_max_repetitions" and s.labels["table"] == table:
            return s.value
    return None


@pytest.mark.peer
def test_max_repetitions_grows_back_after_a_passing_timeout() -> None:
    """One poll where the agent drops big GETBULKs: max-repetitions falls to 1, then doubles
    on each good poll and is back at the configured 25 within 5 good polls."""
    values = interface_table(40)

    async def body(agent: ScriptedAgent) -> list[tuple[float | None, CollectorError | None]]:
        shared = Shared()
        c = snmp.build(
            {
                "community": "public",
                "port": agent.port,
                "profiles": ["system", "interfaces"],
                "request_timeout": "1s",
                "walk_budget": "5s",
                "label_refresh": 100,
            },
            shared,
        )
        out = []
        try:
            for i in range(7):
                agent.faults.drop_bulk_above = 3 if i == 1 else 0
                try:
                    samples, err = await c.collect(Target("sw", "127.0.0.1")), None
                except CollectorError as exc:
                    samples, err = list(exc.samples), exc
                out.append((_reps(samples, "ifTable"), err))
        finally:
            await shared.aclose()
        return out

    polls = _with_agent(values, Faults(), body)
    assert all(err is None for _, err in polls), polls
    assert [r for r, _ in polls] == [25, 1, 2, 4, 8, 16, 25]


@pytest.mark.peer
def test_a_table_that_timed_out_is_walked_on_the_next_poll(tmp_path: Path) -> None:
    """ifXTable times out on one poll: that poll is partial (and says so in the rollup), the
    next poll walks it again and the interfaces are complete at once."""
    values = interface_table(12)
    run_dir = tmp_path

    async def body(agent: ScriptedAgent) -> list[tuple[list[Sample], CollectorError | None]]:
        shared = Shared()
        c = snmp.build(
            {
                "community": "public",
                "port": agent.port,
                "profiles": ["system", "interfaces"],
                "request_timeout": "1s",
                "retries": 0,
                "walk_budget": "5s",
                "label_refresh": 100,
            },
            shared,
        )
        out = []
        try:
            for i in range(4):
                agent.faults.drop_under = IFX if i == 1 else None
                try:
                    out.append((await c.collect(Target("sw", "127.0.0.1")), None))
                except CollectorError as exc:
                    out.append((list(exc.samples), exc))
        finally:
            await shared.aclose()
        return out

    polls = _with_agent(values, Faults(), body)
    clock = FakeClock(wall=T0)
    state = State(clock=clock, uptime_names=declared_roles().uptime)
    history = History(run_dir / "h.db")
    rollup = RollupRecorder(history, clock, "America/Bogota", roles=declared_roles())
    summary = []
    for samples, err in polls:
        clock.advance(60)
        state.record(Target("sw", "127.0.0.1"), "snmp", samples, ok=err is None, interval=60)
        g = state.group("sw", "snmp")
        assert g is not None
        rollup.observe(g)
        fresh = [s for s in samples if s.name == "monitord_interface_in_bytes_total"]
        partial = [s.value for s in samples if s.name == "monitord_snmp_poll_partial"]
        summary.append((err is not None and err.reason.value, len(fresh), partial))
    rollup.flush(force=True)
    dist = history.query(
        "SELECT d.n, d.sum FROM dist_day d JOIN series s ON s.id = d.sid WHERE s.kind = 'partial'"
    )
    history.close()
    assert summary == [
        (False, 12, [0]),
        ("timeout", 0, [1]),  # ifTable's statuses came, the HC counters did not
        (False, 12, [0]),  # walked again at once, not skipped for ten polls
        (False, 12, [0]),
    ]
    assert dist == [(4, 1.0)]  # 4 polls, 1 of them partial
