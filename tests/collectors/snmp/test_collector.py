"""The snmp collector against recordings replayed by snmpsim: values equal what was recorded.

Expectations are computed here from the `.snmprec` text (tests.peers.snmprec_gen.read_snmprec),
not through the collector's code: HC counters where the row has them, 32-bit otherwise;
oper/admin status 1 → 1; ifName, else ifDescr, else the ifIndex as the name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.snmp import SnmpCollector
from monitord.errors import TargetTimeout
from monitord.types import SampleKind, Shared, Target
from tests.collectors.snmp.conftest import Recordings, by_series, device_files, poll_many, run
from tests.collectors.snmp.expect import check_interfaces, check_system, label_text
from tests.peers.snmpsim import bundled_recordings

# --- generated switches ------------------------------------------------------------


@pytest.mark.peer
@pytest.mark.parametrize("community", ["gen-switch-48", "gen-switch-500"])
def test_generated_switch_values_equal_recording(recordings: Recordings, community: str) -> None:
    from tests.peers.snmprec_gen import read_snmprec

    rec = read_snmprec(recordings.files[community])
    opts = {"community": community, "port": recordings.sim.port, "walk_budget": "20s"}
    polls = run(poll_many(opts, Target(community, "127.0.0.1"), times=2))
    for p in polls:  # the refresh poll and an ordinary (counters only) poll
        assert p.error is None, p.error
        checked = check_interfaces(p.samples, rec, community)
        ports = int(community.rsplit("-", 1)[1])
        assert checked >= 10 * ports
        check_system(p.samples, rec, community)
    # Counter64 above 2^53 stays an exact int; the 500-port one has HC octets only.
    s = by_series(polls[1].samples)
    key = (
        "monitord_interface_in_bytes_total",
        (("ifindex", "10103"), ("ifname", "Gi1/0/3"), ("target", community)),
    )
    assert s[key].value == (1 << 53) + 12345 and s[key].bits == 64
    assert s[key].max_rate == 125_000_000  # 1 Gb/s in bytes/s


@pytest.mark.peer
def test_second_poll_walks_only_counters(recordings: Recordings) -> None:
    community = "gen-switch-48"
    opts = {"community": community, "port": recordings.sim.port, "label_refresh": 3}
    polls = run(poll_many(opts, Target(community, "127.0.0.1"), times=4))
    vb = [
        next(s.value for s in p.samples if s.name == "monitord_snmp_varbinds_total") for p in polls
    ]
    # poll 1 refreshes labels; polls 2 and 3 walk statuses and HC counters only; poll 4 refreshes
    assert vb[1] == vb[2] and vb[1] < vb[0] * 0.6, vb
    assert vb[3] == vb[0], vb
    # the cached labels are identical on every poll
    infos = [
        sorted(
            tuple(sorted(s.labels.items()))
            for s in p.samples
            if s.name == "monitord_interface_info"
        )
        for p in polls
    ]
    assert infos[0] == infos[1] == infos[2] == infos[3] and len(infos[0]) == 50


@pytest.mark.peer
def test_series_budget_of_a_48_port_switch(recordings: Recordings) -> None:
    community = "gen-switch-48"
    opts = {"community": community, "port": recordings.sim.port}
    [p] = run(poll_many(opts, Target(community, "127.0.0.1")))
    ports = 50  # 48 + VLAN + LAG
    device_series = [s for s in p.samples if not s.name.startswith("monitord_snmp_")]
    assert len(device_series) <= 12 * ports + 10 + 4 + 4  # + inventory rows + LLDP rows
    assert len([s for s in p.samples if s.name.startswith("monitord_interface_")]) == 12 * ports
    assert all(s.name in {m.name for m in SnmpCollector.metrics} for s in p.samples)


@pytest.mark.peer
def test_auto_profiles_inventory_and_lldp(recordings: Recordings) -> None:
    community = "gen-switch-48"
    opts = {"community": community, "port": recordings.sim.port}
    [p] = run(poll_many(opts, Target(community, "127.0.0.1")))
    inv = sorted(
        (s.labels["entity_index"], s.labels["class"], s.labels["serial"], s.labels["model"])
        for s in p.samples
        if s.name == "monitord_inventory_info"
    )
    assert inv == [
        ("1", "chassis", "FOC1234X0AB", "WS-C2960X-48FPS-L"),
        ("2", "power_supply", "LIT1111AAAA", "PWR-C2-640WAC"),
        ("3", "power_supply", "", "PWR-C2-640WAC"),
        ("4", "module", "FDO9876ZZZZ", "C2960X-STACK"),
    ]
    nb = sorted(
        (
            s.labels["local_port"],
            s.labels["chassis_id"],
            s.labels["port_id"],
            s.labels["remote_sysname"],
        )
        for s in p.samples
        if s.name == "monitord_lldp_neighbor_info"
    )
    assert nb == [
        ("1", "00:1b:54:aa:01:02", "Gi0/1", "core-01"),
        ("2", "ap-lobby", "f4:cf:e2:00:00:01", "ap-lobby"),
    ]
    assert not [s for s in p.samples if s.name.startswith(("monitord_storage_", "monitord_ups_"))]


@pytest.mark.peer
def test_v1_walks_with_getnext_and_reads_32bit_counters(recordings: Recordings) -> None:
    from tests.peers.snmprec_gen import read_snmprec

    community = "gen-switch-48"
    rec = {
        o: v for o, v in read_snmprec(recordings.files[community]).items() if v[0] != 70
    }  # no Counter64 in v1
    opts = {
        "version": 1,
        "community": community,
        "port": recordings.sim.port,
        "profiles": ["system", "interfaces"],
        "walk_budget": "10s",
    }
    [p] = run(poll_many(opts, Target(community, "127.0.0.1")))
    assert p.error is None, p.error
    assert check_interfaces(p.samples, rec, community) >= 10 * 50
    check_system(p.samples, rec, community)
    octets = [s for s in p.samples if s.name == "monitord_interface_in_bytes_total"]
    assert octets and all(s.bits == 32 for s in octets)


@pytest.mark.peer
def test_v3_with_a_context_reads_the_same_values(recordings: Recordings) -> None:
    """snmpsim selects the recording by SNMPv3 context name: authPriv SHA-256/AES."""
    from tests.collectors.snmp.conftest import SIM_V3_USER
    from tests.peers.snmprec_gen import read_snmprec

    community = "gen-switch-48"
    rec = read_snmprec(recordings.files[community])
    u = SIM_V3_USER
    opts = {
        "version": 3,
        "user": u.user,
        "auth_protocol": u.auth_proto,
        "auth_key": u.auth_key,
        "priv_protocol": u.priv_proto,
        "priv_key": u.priv_key,
        "context": community,
        "port": recordings.sim.port,
        "profiles": ["system", "interfaces"],
        "walk_budget": "10s",
    }
    [p] = run(poll_many(opts, Target(community, "127.0.0.1")))
    assert p.error is None, p.error
    assert check_interfaces(p.samples, rec, community) >= 11 * 50
    check_system(p.samples, rec, community)


# --- snmpsim's bundled recordings --------------------------------------------------

BUNDLED = [f.stem for f in bundled_recordings()]


@pytest.mark.peer
@pytest.mark.parametrize("stem", BUNDLED)
def test_bundled_recording_values_equal_recording(recordings: Recordings, stem: str) -> None:
    from tests.peers.snmprec_gen import read_snmprec

    community = "bundled-" + stem
    rec = read_snmprec(recordings.files[community])
    opts = {"community": community, "port": recordings.sim.port, "walk_budget": "10s"}
    [p] = run(poll_many(opts, Target(community, "127.0.0.1")))
    assert p.error is None, p.error
    check_interfaces(p.samples, rec, community)
    has_system = (1, 3, 6, 1, 2, 1, 1, 2, 0) in rec
    if has_system:
        check_system(p.samples, rec, community)
    assert any(s.name == "monitord_snmp_requests_total" and s.value > 0 for s in p.samples)


@pytest.mark.peer
def test_host_resources_and_ucd_from_linux_recording(recordings: Recordings) -> None:
    from tests.peers.snmprec_gen import read_snmprec

    community = "bundled-linux-full-walk"
    rec = read_snmprec(recordings.files[community])
    [p] = run(
        poll_many({"community": community, "port": recordings.sim.port}, Target("lx", "127.0.0.1"))
    )
    assert p.error is None
    s = by_series(p.samples)
    st = (1, 3, 6, 1, 2, 1, 25, 2, 3, 1)
    storage = [o[-1] for o in rec if o[: len(st) + 1] == (*st, 3)]
    assert len(storage) == 8
    for idx in storage:
        name = label_text(rec[(*st, 3, idx)][1])  # type: ignore[arg-type]
        size = rec[(*st, 5, idx)][1] * rec[(*st, 4, idx)][1]  # type: ignore[operator]
        assert (
            s[("monitord_storage_size_bytes", (("storage", name), ("target", "lx")))].value == size
        )
    load1 = float(rec[(1, 3, 6, 1, 4, 1, 2021, 10, 1, 3, 1)][1])  # type: ignore[arg-type]
    assert s[("monitord_device_load1", (("target", "lx"),))].value == load1
    mem = rec[(1, 3, 6, 1, 4, 1, 2021, 4, 5, 0)][1] * 1024  # type: ignore[operator]
    assert s[("monitord_device_memory_total_bytes", (("target", "lx"),))].value == mem
    cpu = s[("monitord_device_cpu_seconds_total", (("mode", "user"), ("target", "lx")))]
    assert (
        cpu.kind is SampleKind.COUNTER
        and cpu.value == rec[(1, 3, 6, 1, 4, 1, 2021, 11, 50, 0)][1] * 0.01
    )


@pytest.mark.peer
def test_user_profile_in_yaml_without_python(recordings: Recordings) -> None:
    """An Eaton XUPS-MIB profile written as data, reusing the built-in UPS metric names."""
    shared = Shared()
    shared.settings["snmp"] = {
        "modules": {
            "xups": {
                "match": {"sys_object_id": ["1.3.6.1.4.1.705", "1.3.6.1.4.1.534"]},
                "scalars": {
                    "columns": {
                        "runtime": "1.3.6.1.4.1.534.1.2.1.0",
                        "capacity": "1.3.6.1.4.1.534.1.2.4.0",
                        "load": "1.3.6.1.4.1.534.1.4.1.0",
                        "source": "1.3.6.1.4.1.534.1.4.5.0",
                    },
                    "metrics": [
                        {"name": "monitord_ups_battery_runtime_seconds", "value": "runtime"},
                        {
                            "name": "monitord_ups_battery_charge_ratio",
                            "value": "capacity",
                            "scale": 0.01,
                        },
                        {
                            "name": "monitord_ups_on_battery",
                            "value": "source",
                            "map": {5: 1},
                            "default": 0,
                        },
                        {
                            "name": "monitord_xups_output_load_ratio",
                            "value": "load",
                            "scale": 0.01,
                            "help": "Output load, 0-1 (XUPS-MIB xupsOutputLoad).",
                        },
                    ],
                },
            }
        }
    }
    community = "bundled-eaton-9PX-partial-walk"
    opts = {"community": community, "port": recordings.sim.port, "profiles": ["system", "xups"]}

    async def go() -> list:
        import collectors.snmp as snmp

        c = snmp.build(opts, shared)
        assert [m.name for m in c.extra_metrics] == ["monitord_xups_output_load_ratio"]
        try:
            return await c.collect(Target("ups1", "127.0.0.1"))
        finally:
            await shared.aclose()

    s = by_series(run(go()))  # type: ignore[arg-type]
    t = (("target", "ups1"),)
    assert s[("monitord_ups_battery_runtime_seconds", t)].value == 17218
    assert s[("monitord_ups_battery_charge_ratio", t)].value == 1.0
    assert s[("monitord_ups_on_battery", t)].value == 0
    assert s[("monitord_xups_output_load_ratio", t)].value == pytest.approx(0.09)


# --- $MONITORD_DEVICES -------------------------------------------------------------

DEVICES = [f.stem for f in device_files()]
DEVICE_PARAMS = DEVICES or [
    pytest.param("", marks=pytest.mark.skip(reason="MONITORD_DEVICES is not set"))
]


@pytest.mark.peer
@pytest.mark.parametrize("stem", DEVICE_PARAMS)
def test_monitord_devices_values_equal_recording(recordings: Recordings, stem: str) -> None:
    """Every real recording: counters and statuses equal the recorded values exactly.

    An agent that stops answering part-way (the Windows recording) yields partial
    polls (TargetTimeout with samples) whose interface values must still be right: the
    table is walked again once (a timeout may pass), then skipped, and the third poll
    succeeds.
    """
    from tests.peers.snmprec_gen import read_snmprec

    community = "dev-" + stem
    rec = read_snmprec(recordings.files[community])
    opts = {"community": community, "port": recordings.sim.port, "walk_budget": "10s"}
    polls = run(poll_many(opts, Target(community, "127.0.0.1"), times=3))
    for p in polls:
        assert p.error is None or isinstance(p.error, TargetTimeout), p.error
        named = [s for s in p.samples if s.name == "monitord_interface_info"]
        if p.error is None or named:  # a cut-short first poll may not have named them yet
            check_interfaces(p.samples, rec, community)
        check_system(p.samples, rec, community)
    assert polls[-1].error is None, polls[-1].error


WINDOWS = "windows_svr_2019_1809"
WINDOWS_PARAMS = (
    [WINDOWS]
    if WINDOWS in DEVICES
    else [pytest.param(WINDOWS, marks=pytest.mark.skip(reason="MONITORD_DEVICES is not set"))]
)


@pytest.mark.peer
@pytest.mark.parametrize("stem", WINDOWS_PARAMS)
def test_agent_that_stops_answering_mid_walk_gives_a_partial_poll(
    recordings: Recordings, stem: str
) -> None:
    """The Windows agent goes silent when a GETNEXT reaches its anonymised `xx` OIDs.

    The auto-chosen entity walk runs past the end of the recording into them: the first
    poll is a TargetTimeout that carries the samples it got (interfaces exact, marked
    partial, the silent table named); the next poll walks it again (a timeout may pass)
    and times out again; the one after skips that table and is complete.
    """
    from tests.peers.snmprec_gen import read_snmprec

    community = "dev-" + stem
    rec = read_snmprec(recordings.files[community])
    opts = {"community": community, "port": recordings.sim.port, "request_timeout": "0.5s"}
    first, again, second = run(poll_many(opts, Target(community, "127.0.0.1"), times=3))

    t = (("target", community),)
    skipped = (("table", "entPhysicalTable"), ("target", community))
    # one timeout may pass (a hang): the table is walked again on the next poll; silent on
    # it twice in a row while the rest answers, it is skipped from then on
    for p, skipping in ((first, 0), (again, 1)):
        assert isinstance(p.error, TargetTimeout), p.error
        assert "tables=entPhysicalTable" in str(p.error)
        assert "stopped answering during a walk" in str(p.error)
        s1 = by_series(p.samples)
        assert s1[("monitord_snmp_poll_partial", t)].value == 1
        assert s1[("monitord_snmp_timeouts_total", t)].value >= 1
        assert s1[("monitord_snmp_table_skipped", skipped)].value == skipping
        assert check_interfaces(p.samples, rec, community) >= 24 * 10  # 24 interfaces
        check_system(p.samples, rec, community)

    assert second.error is None, second.error
    s2 = by_series(second.samples)
    assert s2[("monitord_snmp_poll_partial", t)].value == 0
    assert s2[("monitord_snmp_timeouts_total", t)].value == 0
    assert s2[("monitord_snmp_table_skipped", skipped)].value == 1
    assert check_interfaces(second.samples, rec, community) >= 24 * 10


def test_devices_folder_is_optional() -> None:
    """Without MONITORD_DEVICES the device list is empty, not an error."""
    import os

    if os.environ.get("MONITORD_DEVICES"):
        assert DEVICES and all(
            Path(os.environ["MONITORD_DEVICES"], f + ".snmprec").exists() for f in DEVICES
        )
    else:
        assert DEVICES == []
