"""Health profiles on recordings we wrote for each vendor MIB (no corpus needed).

Each recording is hand-written from the MIB: the values below are what the MIB says
the device reports, and the expected series are worked out by hand (base units).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitord.types import Sample, Target
from tests.collectors.snmp.conftest import by_series, poll_many, run
from tests.peers.snmprec_gen import Record
from tests.peers.snmpsim import SnmpSim

INT, S, OID, G = 2, 4, 6, 66


def _o(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


def _system(sys_object_id: str, descr: str) -> list[Record]:
    return [
        Record(_o("1.3.6.1.2.1.1.1.0"), S, descr.encode()),
        Record(_o("1.3.6.1.2.1.1.2.0"), OID, _o(sys_object_id)),
        Record(_o("1.3.6.1.2.1.1.3.0"), 67, 123400),
        Record(_o("1.3.6.1.2.1.1.5.0"), S, b"dev"),
    ]


def _table(base: str, rows: dict[str, dict[int, tuple[int, object]]]) -> list[Record]:
    out = []
    for index, cols in rows.items():
        for col, (tag, value) in cols.items():
            out.append(Record(_o(f"{base}.{col}.{index}"), tag, value))
    return out


DEVICES: dict[str, list[Record]] = {
    "printer": [
        *_system("1.3.6.1.4.1.367.1.1", "RICOH MP C3004 1.05 / RICOH Network Printer C model"),
        Record(_o("1.3.6.1.2.1.25.3.2.1.3.1"), S, b"RICOH MP C3004"),
        *_table(
            "1.3.6.1.2.1.43.11.1.1",
            {  # type 3 toner; level vs max; -3 some remaining, -2 unknown, max -2 unknown
                "1.1": {5: (INT, 3), 6: (S, b"Black Toner"), 8: (INT, 100), 9: (INT, 40)},
                "1.2": {5: (INT, 3), 6: (S, b"Cyan Toner"), 8: (INT, 100), 9: (INT, -3)},
                "1.3": {5: (INT, 3), 6: (S, b"Magenta Toner"), 8: (INT, 100), 9: (INT, -2)},
                "1.4": {5: (INT, 4), 6: (S, b"Waste Toner"), 8: (INT, -2), 9: (INT, 50)},
            },
        ),
        Record(_o("1.3.6.1.2.1.43.5.1.1.17.1"), S, b"E175M123456"),
    ],
    "hp-ilo": [
        *_system("1.3.6.1.4.1.232.9.4.10", "Integrated Lights-Out 5 2.72 Sep 04 2022"),
        *_table(
            "1.3.6.1.4.1.232.6.2.6.7.1",
            {
                "0.1": {3: (INT, 3), 4: (INT, 3), 9: (INT, 4)},
                "0.2": {3: (INT, 3), 4: (INT, 2), 9: (INT, 1)},
            },
        ),
        *_table(
            "1.3.6.1.4.1.232.6.2.6.8.1",
            {
                "0.1": {3: (INT, 11), 4: (INT, 21), 5: (INT, 42), 6: (INT, 2)},
                "0.2": {3: (INT, 6), 4: (INT, 71), 5: (INT, 70), 6: (INT, 3)},
                "0.3": {3: (INT, 8), 4: (INT, -99), 5: (INT, 60), 6: (INT, 1)},
            },
        ),
        *_table("1.3.6.1.4.1.232.6.2.9.3.1", {"0.1": {3: (INT, 3), 4: (INT, 2)}}),
    ],
    "fortigate": [
        *_system("1.3.6.1.4.1.12356.101.1.644", ""),
        Record(_o("1.3.6.1.4.1.12356.101.4.1.1.0"), S, b"v7.4.3,build2573"),
        Record(_o("1.3.6.1.4.1.12356.101.4.1.3.0"), G, 7),
        Record(_o("1.3.6.1.4.1.12356.101.4.1.4.0"), G, 45),
        Record(_o("1.3.6.1.4.1.12356.101.4.1.5.0"), G, 2000000),
        Record(_o("1.3.6.1.4.1.12356.101.4.1.8.0"), G, 1532),
        *_table(
            "1.3.6.1.4.1.12356.101.12.2.2.1",
            {
                "1": {3: (S, b"to-alcaldia"), 20: (INT, 2)},
                "2": {3: (S, b"to-bodega"), 20: (INT, 1)},
            },
        ),
    ],
    "unifi": [
        *_system("1.3.6.1.4.1.41112.1.6", "UAP-AC-Pro-Gen2 6.5.28.14491"),
        *_table(
            "1.3.6.1.4.1.41112.1.6.1.2.1",
            {
                "1": {6: (S, b"alcaldia"), 7: (S, b"ra0"), 8: (G, 12)},
                "2": {6: (S, b"alcaldia"), 7: (S, b"rai0"), 8: (G, 3)},
            },
        ),
        Record(_o("1.3.6.1.4.1.41112.1.6.3.3.0"), S, b"UAP-AC-Pro"),
        Record(_o("1.3.6.1.4.1.41112.1.6.3.6.0"), S, b"6.5.28.14491"),
    ],
    "entity-sensor": [
        *_system("1.3.6.1.4.1.1916.2.1", "ExtremeXOS (X440G2-24p-10G4) version 31.7.1.4"),
        *_table(
            "1.3.6.1.2.1.47.1.1.1.1",
            {
                "11": {7: (S, b"Temp CPU")},
                "12": {7: (S, b"PSU 3V3")},
                "13": {7: (S, b"Fan 1")},
                "14": {7: (S, b"Temp broken")},
            },
        ),
        *_table(
            "1.3.6.1.2.1.99.1.1.1",  # type, scale, precision, value, status
            {
                "11": {1: (INT, 8), 2: (INT, 9), 3: (INT, 2), 4: (INT, 2750), 5: (INT, 1)},
                "12": {1: (INT, 4), 2: (INT, 8), 3: (INT, 0), 4: (INT, 3300), 5: (INT, 1)},
                "13": {1: (INT, 10), 2: (INT, 9), 3: (INT, 0), 4: (INT, 4000), 5: (INT, 1)},
                "14": {1: (INT, 8), 2: (INT, 9), 3: (INT, 0), 4: (INT, 0), 5: (INT, 2)},
            },
        ),
    ],
    "qnap": [
        *_system("1.3.6.1.4.1.24681.1", "Linux TS-453D 5.10.60-qnap #1 SMP x86_64"),
        Record(_o("1.3.6.1.4.1.24681.1.2.1.0"), S, b"12.5 %"),
        Record(_o("1.3.6.1.4.1.24681.1.2.5.0"), S, b"45 C/113 F"),
        Record(_o("1.3.6.1.4.1.24681.1.2.6.0"), S, b"31 C/87 F"),
        *_table(
            "1.3.6.1.4.1.24681.1.2.11.1",
            {
                "1": {2: (S, b"HDD1"), 3: (S, b"36 C/96 F"), 4: (INT, 0)},
                "2": {2: (S, b"HDD2"), 3: (S, b"-- C/-- F"), 4: (INT, -5)},
            },
        ),
        *_table(
            "1.3.6.1.4.1.24681.1.2.15.1", {"1": {2: (S, b"System FAN 1"), 3: (S, b"1406 RPM")}}
        ),
    ],
    "plain-linux": [*_system("1.3.6.1.4.1.8072.3.2.10", "Linux web1 6.1.0-18-amd64 #1 SMP x86_64")],
}


_UPGRADED = (
    _system("1.3.6.1.4.1.8072.3.2.10", "Linux web2 6.1.0-18-amd64 #1 SMP x86_64"),
    _system("1.3.6.1.4.1.8072.3.2.10", "Linux web2 6.6.15-2-amd64 #1 SMP x86_64"),
)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpSim]:
    with SnmpSim(Path(tmp_path_factory.mktemp("health"))) as s:
        for community, records in DEVICES.items():
            s.add_records(community, sorted(records, key=lambda r: r.oid))
        s.add_records("upgraded", _UPGRADED[0])  # replaced while polled (identity test)
        s.start()
        yield s


def _poll(sim: SnmpSim, community: str) -> list[Sample]:
    opts = {"community": community, "port": sim.port, "walk_budget": "20s"}
    [p] = run(poll_many(opts, Target(community, "127.0.0.1")))
    assert p.error is None, p.error
    return p.samples


def _values(samples: list[Sample], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted((k, v) for k, v in s.labels.items() if k != "target")): s.value
        for s in samples
        if s.name == name
    }


def _info(samples: list[Sample]) -> tuple[str, ...]:
    [s] = [s for s in samples if s.name == "monitord_device_info"]
    return tuple(s.labels[k] for k in ("vendor", "os", "version", "model", "serial"))


@pytest.mark.peer
def test_printer_supplies_level_over_max_and_special_values(sim: SnmpSim) -> None:
    samples = _poll(sim, "printer")
    by_series(samples)
    assert _values(samples, "monitord_printer_supply_level_ratio") == {
        (("supply", "Black Toner"), ("supply_index", "1.1")): 0.4
    }  # -3 "some remaining", -2 unknown and an unknown maximum give no ratio
    info = _values(samples, "monitord_printer_supply_info")
    assert len(info) == 4
    assert (
        ("supply", "Waste Toner"),
        ("supply_index", "1.4"),
        ("supply_type", "wasteToner"),
    ) in info
    assert _info(samples) == ("Ricoh", "", "", "RICOH MP C3004", "E175M123456")


@pytest.mark.peer
def test_hp_cpqhealth_temperatures_thresholds_fans_and_power(sim: SnmpSim) -> None:
    samples = _poll(sim, "hp-ilo")
    assert _values(samples, "monitord_temperature_celsius") == {
        (("sensor", "ambient"), ("sensor_index", "0.1")): 21,
        (("sensor", "cpu"), ("sensor_index", "0.2")): 71,
    }  # -99: not available
    assert (
        _values(samples, "monitord_temperature_high_celsius")[
            (("sensor", "cpu"), ("sensor_index", "0.2"))
        ]
        == 70
    )
    ok = _values(samples, "monitord_temperature_ok")
    assert ok[(("sensor", "ambient"), ("sensor_index", "0.1"))] == 1
    assert ok[(("sensor", "cpu"), ("sensor_index", "0.2"))] == 0
    assert (("sensor", "storage"), ("sensor_index", "0.3")) not in ok  # condition other(1)
    assert _values(samples, "monitord_fan_ok") == {
        (("sensor", "system"), ("sensor_index", "0.1")): 0  # failed(4); 0.2 is absent
    }
    assert _values(samples, "monitord_power_supply_ok") == {
        (("sensor", "0.1"), ("sensor_index", "0.1")): 1
    }
    assert _info(samples)[:2] == ("HP", "iLO")


@pytest.mark.peer
def test_fortigate_system_sessions_and_vpn_tunnels(sim: SnmpSim) -> None:
    samples = _poll(sim, "fortigate")
    assert _values(samples, "monitord_cpu_load_ratio") == {(("cpu", "system"),): 0.07}
    assert _values(samples, "monitord_memory_pool_used_ratio") == {
        (("pool", "system"), ("pool_index", "system")): 0.45
    }
    assert _values(samples, "monitord_memory_pool_size_bytes") == {
        (("pool", "system"), ("pool_index", "system")): 2000000 * 1024
    }
    assert _values(samples, "monitord_firewall_sessions") == {(): 1532}
    assert _values(samples, "monitord_vpn_tunnel_up") == {
        (("tunnel", "to-alcaldia"), ("tunnel_index", "1")): 1,
        (("tunnel", "to-bodega"), ("tunnel_index", "2")): 0,
    }
    assert _info(samples)[:3] == ("Fortinet", "FortiOS", "v7.4.3,build2573")


@pytest.mark.peer
def test_unifi_wireless_clients_per_radio(sim: SnmpSim) -> None:
    samples = _poll(sim, "unifi")
    assert _values(samples, "monitord_wireless_clients") == {
        (("ssid", "alcaldia"), ("vap", "ra0")): 12,
        (("ssid", "alcaldia"), ("vap", "rai0")): 3,
    }
    assert _info(samples) == ("Ubiquiti", "UniFi", "6.5.28.14491", "UAP-AC-Pro", "")


@pytest.mark.peer
def test_entity_sensor_scale_and_precision(sim: SnmpSim) -> None:
    samples = _poll(sim, "entity-sensor")
    assert _values(samples, "monitord_temperature_celsius") == {
        (("sensor", "Temp CPU"), ("sensor_index", "11")): 27.5  # 2750 x 10^-2
    }  # row 14 is unavailable(2): no series
    assert _values(samples, "monitord_voltage_volts") == {
        (("sensor", "PSU 3V3"), ("sensor_index", "12")): 3.3  # 3300 milli-volts
    }
    assert _values(samples, "monitord_fan_speed_rpm") == {
        (("sensor", "Fan 1"), ("sensor_index", "13")): 4000
    }
    assert _info(samples)[0] == "Extreme Networks"


@pytest.mark.peer
def test_qnap_numbers_inside_text(sim: SnmpSim) -> None:
    samples = _poll(sim, "qnap")
    assert _values(samples, "monitord_cpu_load_ratio") == {(("cpu", "0"),): 0.125}
    assert _values(samples, "monitord_temperature_celsius") == {
        (("sensor", "CPU"), ("sensor_index", "cpu")): 45,
        (("sensor", "System"), ("sensor_index", "system")): 31,
        (("sensor", "HDD1"), ("sensor_index", "1")): 36,  # HDD2: no disk
    }
    assert _values(samples, "monitord_fan_speed_rpm") == {
        (("sensor", "System FAN 1"), ("sensor_index", "1")): 1406
    }
    assert _info(samples)[:2] == ("QNAP", "QTS")


@pytest.mark.peer
def test_a_device_without_health_mibs_gets_no_health_series(sim: SnmpSim) -> None:
    samples = _poll(sim, "plain-linux")
    names = {s.name for s in samples}
    assert "monitord_device_info" in names
    health = {
        n
        for n in names
        if n.startswith(
            (
                "monitord_temperature",
                "monitord_fan",
                "monitord_power",
                "monitord_cpu",
                "monitord_memory_pool",
                "monitord_printer",
                "monitord_vpn",
                "monitord_wireless",
                "monitord_firewall",
                "monitord_voltage",
            )
        )
    }
    assert health == set()
    assert _info(samples) == ("net-snmp", "Linux", "6.1.0-18-amd64", "", "")


@pytest.mark.peer
def test_device_identity_follows_the_label_refresh(sim: SnmpSim) -> None:
    """The identity is worked out at a label refresh and kept until the next one: a
    device upgraded between polls shows its new version at the next refresh, not before."""
    from collectors import snmp
    from monitord.types import Shared

    before, after = _UPGRADED
    opts = {"community": "upgraded", "port": sim.port, "walk_budget": "20s", "label_refresh": 2}
    target = Target("upgraded", "127.0.0.1")

    async def polls() -> list[tuple[str, ...]]:
        shared = Shared()
        collector = snmp.build(opts, shared)
        seen = []
        try:
            for i in range(3):  # a refresh, an ordinary poll, a refresh
                sim.replace_records("upgraded", before if i == 0 else after)
                seen.append(_info(await collector.collect(target)))
        finally:
            await shared.aclose()
        return seen

    def fresh(records: list[Record]) -> tuple[str, ...]:
        sim.replace_records("upgraded", records)
        return _info(_poll(sim, "upgraded"))

    old, new = fresh(before), fresh(after)
    assert old[2] == "6.1.0-18-amd64" and new[2] == "6.6.15-2-amd64"  # version, from sysDescr
    assert run(polls()) == [old, old, new]
