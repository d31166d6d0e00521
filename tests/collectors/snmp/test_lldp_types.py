"""LLDP neighbours, interface types and speeds, load averages (issue 14, points 7 and 8).

A recording of our own (a RouterOS-like agent: chassis IDs as MAC text, no
lldpLocPortTable, no laLoad but laLoadInt, a saturated ifSpeed without ifHighSpeed),
served by snmpsim; and, when MONITORD_DEVICES is set, the real RouterOS recording.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitord.types import Sample, Target
from tests.collectors.snmp.conftest import Recordings, by_series, poll_many, run
from tests.peers.snmprec_gen import (
    COUNTER32,
    GAUGE32,
    INTEGER,
    OCTETS,
    OID,
    TIMETICKS,
    Record,
)
from tests.peers.snmpsim import SnmpSim

IF = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
REM = (1, 0, 8802, 1, 1, 2, 1, 4, 1, 1)  # lldpRemEntry
LA = (1, 3, 6, 1, 4, 1, 2021, 10, 1)  # laEntry

# (timemark, local port, remote index) → (chassis subtype, chassis id, port subtype,
# port id, remote sysname); expected labels below
NEIGHBOURS: dict[tuple[int, int, int], tuple[int, bytes, int, bytes, str]] = {
    (0, 6, 2): (4, b"E8:28:C1:3C:1C:D8", 5, b"trunk: Up (p24)", "sw11"),  # MAC as text
    (0, 6, 3): (4, bytes.fromhex("02e854fb7c76"), 3, bytes.fromhex("02e854fb7c77"), "r1"),
    (0, 10, 1): (7, b"chassis-local-7", 7, b"port 7", "ap-3"),  # locally assigned: text
    (1500, 7, 1): (5, bytes.fromhex("017f000005"), 5, b"ether1", "core"),  # IPv4 address
    (1500, 7, 2): (4, b"e828.c13c.1cd9", 5, b"ether2", "ap-4"),  # MAC, Cisco-dotted text
}
EXPECTED = {
    ("6", "2"): ("e8:28:c1:3c:1c:d8", "trunk: Up (p24)", "sw11"),
    ("6", "3"): ("02:e8:54:fb:7c:76", "02:e8:54:fb:7c:77", "r1"),
    ("10", "1"): ("chassis-local-7", "port 7", "ap-3"),
    ("7", "1"): ("127.0.0.5", "ether1", "core"),
    ("7", "2"): ("e8:28:c1:3c:1c:d9", "ether2", "ap-4"),
}


def _device() -> list[Record]:
    recs = [
        Record((1, 3, 6, 1, 2, 1, 1, 1, 0), OCTETS, "RouterOS RB750Gr3"),
        Record((1, 3, 6, 1, 2, 1, 1, 2, 0), OID, (1, 3, 6, 1, 4, 1, 14988, 1)),
        Record((1, 3, 6, 1, 2, 1, 1, 3, 0), TIMETICKS, 500_000),
        Record((1, 3, 6, 1, 2, 1, 1, 5, 0), OCTETS, "hex"),
        Record((1, 3, 6, 1, 2, 1, 2, 1, 0), INTEGER, 3),
    ]
    # ifIndex 1: 10G port whose ifSpeed saturates and that has no ifHighSpeed (old agent);
    # 2: a LAG (ifType 54 propMultiplexor) with both; 3: a 100 Mb/s port
    ifs = {
        1: ("sfp1", 6, 4_294_967_295, None),
        2: ("bond1", 54, 4_294_967_295, 20_000),
        3: ("ether3", 6, 100_000_000, None),
    }
    for i, (name, iftype, speed, high) in ifs.items():
        recs += [
            Record((*IF, 2, i), OCTETS, name),
            Record((*IF, 3, i), INTEGER, iftype),
            Record((*IF, 5, i), GAUGE32, speed),
            Record((*IF, 7, i), INTEGER, 1),
            Record((*IF, 8, i), INTEGER, 1),
            Record((*IF, 10, i), COUNTER32, 1000 * i),
            Record((*IF, 16, i), COUNTER32, 2000 * i),
        ]
        if high is not None:
            recs.append(Record((*IFX, 15, i), GAUGE32, high))
    for (tm, port, idx), (csub, cid, psub, pid, name) in NEIGHBOURS.items():
        key = (tm, port, idx)
        recs += [
            Record((*REM, 4, *key), INTEGER, csub),
            Record((*REM, 5, *key), OCTETS, cid),
            Record((*REM, 6, *key), INTEGER, psub),
            Record((*REM, 7, *key), OCTETS, pid),
            Record((*REM, 9, *key), OCTETS, name),
        ]
    # UCD: laLoadInt (load x 100) only, as some agents serve it
    recs += [Record((*LA, 5, n), INTEGER, v) for n, v in ((1, 42), (2, 137), (3, 5))]
    return sorted(recs, key=lambda r: r.oid)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpSim]:
    with SnmpSim(tmp_path_factory.mktemp("snmpsim-lldp")) as s:
        s.add_records("rb-dev", _device())
        s.start()
        yield s


def _neighbours(samples: list[Sample]) -> dict[tuple[str, str], tuple[str, str, str]]:
    out = {}
    for s in samples:
        if s.name == "monitord_lldp_neighbor_info":
            key = (s.labels["local_port"], s.labels["remote_index"])
            assert key not in out, key
            out[key] = (s.labels["chassis_id"], s.labels["port_id"], s.labels["remote_sysname"])
    return out


@pytest.mark.peer
def test_lldp_ids_by_subtype_and_neighbours_by_local_port_and_index(sim: SnmpSim) -> None:
    opts = {"community": "rb-dev", "port": sim.port, "profiles": ["system", "lldp"]}
    (poll,) = run(poll_many(opts, Target("rb", "127.0.0.1")))
    assert poll.error is None, poll.error
    assert _neighbours(poll.samples) == EXPECTED


@pytest.mark.peer
def test_interface_types_speeds_and_load_from_lainteger(sim: SnmpSim) -> None:
    opts = {"community": "rb-dev", "port": sim.port, "profiles": ["system", "interfaces", "ucd"]}
    (poll,) = run(poll_many(opts, Target("rb", "127.0.0.1")))
    assert poll.error is None, poll.error
    s = by_series(poll.samples)
    info = {
        x.labels["ifname"]: x.labels["iftype"]
        for x in poll.samples
        if x.name == "monitord_interface_info"
    }
    assert info == {
        "sfp1": "ethernetCsmacd",
        "bond1": "propMultiplexor",
        "ether3": "ethernetCsmacd",
    }
    speeds = {
        x.labels["ifname"]: x.value
        for x in poll.samples
        if x.name == "monitord_interface_speed_bytes"
    }
    # sfp1: saturated ifSpeed and no ifHighSpeed: unknown, not 4.29 Gb/s
    assert speeds == {"bond1": 20_000 * 1_000_000 / 8, "ether3": 100_000_000 / 8}
    t = (("target", "rb"),)
    assert s[("monitord_device_load1", t)].value == pytest.approx(0.42)
    assert s[("monitord_device_load5", t)].value == pytest.approx(1.37)
    assert s[("monitord_device_load15", t)].value == pytest.approx(0.05)
    bounds = {
        x.labels["ifname"]: x.max_rate
        for x in poll.samples
        if x.name == "monitord_interface_in_bytes_total"
    }
    assert bounds == {"sfp1": 0.0, "bond1": 2.5e9, "ether3": 12.5e6}  # no bound when unknown


ROUTEROS = "routeros_rb750gr3"


@pytest.mark.peer
@pytest.mark.skipif(
    not (
        os.environ.get("MONITORD_DEVICES")
        and Path(os.environ["MONITORD_DEVICES"], ROUTEROS + ".snmprec").exists()
    ),
    reason="MONITORD_DEVICES is not set",
)
def test_routeros_recording_lldp_neighbours(recordings: Recordings) -> None:
    """The real RouterOS 7.20 recording: chassis IDs are MAC addresses sent as text."""
    community = "dev-" + ROUTEROS
    opts = {"community": community, "port": recordings.sim.port, "profiles": ["system", "lldp"]}
    (poll,) = run(poll_many(opts, Target(community, "127.0.0.1")))
    assert poll.error is None, poll.error
    assert _neighbours(poll.samples) == {
        ("6", "2"): ("e8:28:c1:3c:1c:d8", "trunk: Up (p24)", "sw11.mzmol"),
        ("10", "1"): (
            "02:e8:54:fb:7c:76",
            "trunk: switch (br1)/trunk: MzMol (eoip1)",
            "r1.soada",
        ),
    }
