"""Counter wraps and resets, end to end: recordings whose values change between polls,
served by snmpsim, polled by the collector, fed through `monitord.state.State`.

Between two polls the test rewrites the recording (snmpsim re-indexes it on the next
request) and moves the state's clock by 60 s.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import collectors.snmp as snmp
from collectors.snmp.convert import utilization_ratio
from monitord.state import State
from monitord.types import Shared, Target
from tests.conftest import FakeClock
from tests.contract.declared import declared_roles
from tests.peers.snmprec_gen import counter_overrides, switch
from tests.peers.snmpsim import SnmpSim

IF = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
PORT1 = 10101
IN32 = (*IF, 10, PORT1)
IN64 = (*IFX, 6, PORT1)
TARGET = Target("wrapdev", "127.0.0.1")
LABELS = {"ifindex": str(PORT1), "ifname": "Gi1/0/1"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpSim]:
    with SnmpSim(tmp_path_factory.mktemp("snmpsim-wrap")) as s:
        s.add_records("dev32", switch(2, seed=7, with_hc=False))
        s.add_records("dev64", switch(2, seed=8))
        s.start()
        yield s


class Scenario:
    """One device whose recording the test rewrites between polls, and a State on a fake clock."""

    def __init__(self, sim: SnmpSim, community: str, **base: int) -> None:
        self.sim = sim
        self.community = community
        self.base = switch(2, seed=7 if community == "dev32" else 8, with_hc=community != "dev32")
        self.clock = FakeClock()
        self.state = State(clock=self.clock, uptime_names=declared_roles().uptime)
        self.shared = Shared()
        self.collector = snmp.build(
            {"community": community, "port": sim.port, "profiles": ["system", "interfaces"]},
            self.shared,
        )

    def serve(self, values: dict[tuple[int, ...], int | tuple[int, int]]) -> None:
        self.sim.replace_records(self.community, counter_overrides(self.base, values))

    def poll(self, values: dict[tuple[int, ...], int | tuple[int, int]]) -> float | None:
        """Serve `values`, poll, record 60 s after the previous poll; return the in-octets rate."""
        import asyncio

        self.serve(values)
        self.clock.advance(60)
        samples = asyncio.run(self._collect())
        self.state.record(TARGET, "snmp", samples, ok=True, interval=60)
        return self.state.snapshot().rate(
            "wrapdev", "snmp", "monitord_interface_in_bytes_total", **LABELS
        )

    async def _collect(self) -> list:  # type: ignore[type-arg]
        try:
            return await self.collector.collect(TARGET)
        finally:
            await self.shared.aclose()


@pytest.mark.peer
def test_counter32_wrap_yields_the_wrapped_delta(sim: SnmpSim) -> None:
    sc = Scenario(sim, "dev32")
    assert sc.poll({IN32: 2**32 - 1000, UPTIME: 100_000}) is None  # first reading: no rate
    rate = sc.poll({IN32: 4000, UPTIME: 106_000})
    assert rate == pytest.approx(5000 / 60)
    value = sc.state.snapshot().value(
        "wrapdev", "snmp", "monitord_interface_in_bytes_total", **LABELS
    )
    assert value == 4000  # the exposed counter is the raw device counter
    speed = sc.state.snapshot().value("wrapdev", "snmp", "monitord_interface_speed_bytes", **LABELS)
    assert utilization_ratio(rate, speed) == pytest.approx(5000 / 60 / 125_000_000)


@pytest.mark.peer
def test_counter64_wrap_yields_the_wrapped_delta(sim: SnmpSim) -> None:
    sc = Scenario(sim, "dev64")
    sc.poll({IN64: 2**64 - 100, UPTIME: 100_000})
    assert sc.poll({IN64: 50, UPTIME: 106_000}) == pytest.approx(150 / 60)


@pytest.mark.peer
def test_device_restart_gives_no_rate_not_a_spike(sim: SnmpSim) -> None:
    """sysUpTime goes back: every counter of the device is reset, whatever its value did."""
    sc = Scenario(sim, "dev32")
    sc.poll({IN32: 3_000_000_000, UPTIME: 9_000_000})
    assert sc.poll({IN32: 3_000_100_000, UPTIME: 9_006_000}) == pytest.approx(100_000 / 60)
    assert sc.poll({IN32: 2_000, UPTIME: 500}) is None  # rebooted: would read as a 1.3 GB wrap
    assert sc.poll({IN32: 8_000, UPTIME: 6_500}) == pytest.approx(6_000 / 60)  # rates resume


@pytest.mark.peer
def test_counter64_going_back_is_a_reset(sim: SnmpSim) -> None:
    """A 64-bit counter that decreases was cleared; 2^64 bytes of traffic is not plausible."""
    sc = Scenario(sim, "dev64")
    sc.poll({IN64: 10**12, UPTIME: 100_000})
    assert sc.poll({IN64: 10**6, UPTIME: 106_000}) is None


@pytest.mark.peer
def test_implausible_wrap_on_a_slow_interface_is_dropped(sim: SnmpSim) -> None:
    """Counters cleared on a 10 Mb/s port: a 32-bit 'wrap' would mean 1.3 GB in 60 s."""
    slow = {(*IF, 5, PORT1): 10_000_000, (*IFX, 15, PORT1): 10}
    sc = Scenario(sim, "dev32")
    sc.poll({IN32: 3_000_000_000, UPTIME: 100_000, **slow})
    assert (
        sc.poll({IN32: 3_500_000_000, UPTIME: 106_000, **slow}) is None
    )  # 8.3 MB/s > 10 Mb/s x 1.1
    assert sc.poll({IN32: 3_560_000_000, UPTIME: 112_000, **slow}) == pytest.approx(1_000_000)
    assert sc.poll({IN32: 1_000, UPTIME: 118_000, **slow}) is None  # cleared, not a 735 MB wrap
    assert sc.poll({IN32: 61_000, UPTIME: 124_000, **slow}) == pytest.approx(1_000)
