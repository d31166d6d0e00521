"""Mapping of exporter names onto the host collector's series, on recorded windows_exporter
output (tests/collectors/data/windows) and on hand-made readings for the CPU ratios."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.agent import AgentCollector
from collectors.agent.mapping import (
    AgentKind,
    Exclusions,
    cpu_modes,
    cpu_ratios,
    exporter_inventory,
    map_monitord,
    map_windows_exporter,
)
from collectors.agent.parse import parse
from monitord.types import Sample, SampleKind

DATA = Path(__file__).parent / "data" / "windows"
SPECS = {m.name: m for m in AgentCollector.metrics}
NOW = 1_709_650_000.0


def _windows(name: str = "windows_exporter.prom", services: tuple[str, ...] = ()) -> list[Sample]:
    exp = parse((DATA / name).read_text())
    return map_windows_exporter(exp, "srv-archivo", Exclusions.defaults(), services, None, NOW)


def _get(samples: list[Sample], name: str, **labels: str) -> float:
    found = [
        s
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, f"{name}{labels}: {found}"
    return found[0].value


def test_windows_exporter_memory_swap_processes_and_uptime() -> None:
    s = _windows()
    assert _get(s, "monitord_host_memory_total_bytes") == 8_589_463_552
    assert _get(s, "monitord_host_memory_available_bytes") == 3_221_225_472
    assert _get(s, "monitord_host_memory_used_bytes") == 8_589_463_552 - 3_221_225_472
    assert _get(s, "monitord_host_swap_total_bytes") == 1_476_395_008
    assert _get(s, "monitord_host_swap_used_bytes") == 1_476_395_008 - 1_207_959_552
    assert _get(s, "monitord_host_processes") == 143
    assert _get(s, "monitord_host_boot_time_seconds") == 1_709_563_200
    assert _get(s, "monitord_host_uptime_seconds") == 86_400  # exporter clock - boot
    assert _get(s, "monitord_host_cpus") == 2
    assert not [x for x in s if x.name.startswith("monitord_host_load")]  # no load on Windows


def test_windows_exporter_cpu_modes_sum_over_cores_with_monitord_names() -> None:
    s = _windows()
    assert _get(s, "monitord_host_cpu_seconds_total", mode="user") == 35120.75 + 27001
    assert _get(s, "monitord_host_cpu_seconds_total", mode="system") == 20411.5 + 15360.25
    assert _get(s, "monitord_host_cpu_seconds_total", mode="irq") == 301.75 + 250.5
    assert _get(s, "monitord_host_cpu_seconds_total", mode="softirq") == 112.5 + 98.25
    assert _get(s, "monitord_host_cpu_seconds_total", mode="idle") == 861234.25 + 874410
    counters = [x for x in s if x.kind is SampleKind.COUNTER]
    assert counters and all(x.bits == 64 for x in counters)
    assert not [x for x in s if "utilization" in x.name]  # one reading: no ratio


def test_windows_exporter_volumes_skip_unlettered_and_map_free_space() -> None:
    s = _windows()
    mounts = {x.labels["mountpoint"] for x in s if x.name == "monitord_host_filesystem_size_bytes"}
    assert mounts == {"C:", "D:"}
    assert _get(s, "monitord_host_filesystem_size_bytes", mountpoint="C:") == 127_362_088_960
    assert _get(s, "monitord_host_filesystem_avail_bytes", mountpoint="C:") == 42_949_672_960
    assert (
        _get(s, "monitord_host_filesystem_used_bytes", mountpoint="C:")
        == 127_362_088_960 - 42_949_672_960
    )
    assert _get(s, "monitord_host_filesystem_info", mountpoint="D:", device="D:", fstype="") == 1
    assert _get(s, "monitord_host_disk_read_bytes_total", device="D:") == 215_433_068_544
    assert _get(s, "monitord_host_disk_written_bytes_total", device="C:") == 130_214_545_408
    assert not [x for x in s if "inodes" in x.name]


def test_windows_exporter_interfaces_counters_speed_and_status() -> None:
    s = _windows()
    nic = {"ifname": "Intel_R__Ethernet_10G_2P_X710_Adapter", "ifindex": ""}
    assert _get(s, "monitord_interface_in_bytes_total", **nic) == 98_123_456_789
    assert _get(s, "monitord_interface_out_bytes_total", **nic) == 45_678_901_234
    assert _get(s, "monitord_interface_in_errors_total", **nic) == 3
    assert _get(s, "monitord_interface_in_discards_total", **nic) == 17
    assert _get(s, "monitord_interface_speed_bytes", **nic) == 1.25e9
    assert _get(s, "monitord_interface_oper_up", **nic) == 1
    assert _get(s, "monitord_interface_oper_up", ifname="isatap__alcaldia.local_") == 0


def test_windows_exporter_info_and_only_configured_services() -> None:
    s = _windows(services=("Spooler", "wuauserv", "NotInstalled"))
    assert _get(s, "monitord_host_info", hostname="SRV-ARCHIVO") == 1
    info = next(x for x in s if x.name == "monitord_host_info")
    assert info.kind is SampleKind.INFO and dict(info.labels) == {
        "target": "srv-archivo", "hostname": "SRV-ARCHIVO", "os": "Windows Server 2022 Standard",
        "os_version": "10.0.20348", "kernel": "10.0.20348", "arch": "",
    }  # fmt: skip
    up = {x.labels["service"]: x.value for x in s if x.name == "monitord_service_up"}
    assert up == {"Spooler": 1, "wuauserv": 0}  # label = the configured spelling


def test_old_windows_exporter_names_give_the_same_values() -> None:
    new, old = _windows(), _windows("windows_exporter_old.prom")
    for name in (
        "monitord_host_memory_total_bytes", "monitord_host_memory_available_bytes",
        "monitord_host_swap_total_bytes", "monitord_host_swap_used_bytes",
        "monitord_host_processes", "monitord_host_boot_time_seconds",
        "monitord_host_uptime_seconds",
    ):  # fmt: skip
        assert _get(old, name) == _get(new, name), name
    assert _get(old, "monitord_host_filesystem_size_bytes", mountpoint="C:") == 127_362_088_960
    assert _get(old, "monitord_host_info", hostname="SRV-ARCHIVO") == 1


def test_every_mapped_windows_sample_matches_a_published_spec() -> None:
    s = _windows(services=("spooler",))
    assert len(s) > 30
    for x in s:
        spec = SPECS.get(x.name)
        assert spec is not None, x.name
        assert set(x.labels) == set(spec.labels) and x.kind is spec.kind, x
    assert len({(x.name, tuple(sorted(x.labels.items()))) for x in s}) == len(s)


def test_cpu_ratios_node_and_windows_definitions() -> None:
    before = {
        "0": {"user": 10.0, "system": 5.0, "idle": 80.0, "iowait": 5.0},
        "1": {"user": 0.0, "system": 0.0, "idle": 100.0, "iowait": 0.0},
    }
    after = {
        "0": {"user": 10.5, "system": 5.0, "idle": 80.25, "iowait": 5.25},
        "1": {"user": 0.0, "system": 0.0, "idle": 101.0, "iowait": 0.0},
    }
    got = cpu_ratios(before, after, AgentKind.NODE_EXPORTER)
    assert got is not None
    total, per = got
    assert per == {"0": 0.5, "1": 0.0} and total == 0.25  # iowait counts as idle
    # Windows: privileged (system) already holds irq and softirq; they must not add up twice.
    wb = {"0,0": {"user": 1.0, "system": 2.0, "irq": 1.0, "softirq": 1.0, "idle": 7.0}}
    wa = {"0,0": {"user": 1.5, "system": 2.5, "irq": 1.5, "softirq": 1.5, "idle": 8.0}}
    wgot = cpu_ratios(wb, wa, AgentKind.WINDOWS_EXPORTER)
    assert wgot == (0.5, {"0,0": 0.5})
    assert cpu_ratios(before, before, AgentKind.NODE_EXPORTER) is None  # no time passed
    exp = parse((DATA / "windows_exporter.prom").read_text())
    assert set(cpu_modes(exp, AgentKind.WINDOWS_EXPORTER)) == {"0,0", "0,1"}


def test_map_monitord_rewrites_target_and_drops_unknown_or_mislabelled_series() -> None:
    text = (
        'monitord_host_memory_total_bytes{target="agent-name"} 1024\n'
        'monitord_host_cpu_seconds_total{target="agent-name",mode="user"} 12\n'
        'monitord_host_filesystem_size_bytes{target="agent-name"} 5\n'  # missing mountpoint
        'monitord_host_new_thing{target="agent-name"} 1\n'  # not in the specs
        'monitord_host_load1{target="agent-name"} NaN\n'  # not a number
        'monitord_host_info{target="a",hostname="h",os="o",os_version="1",kernel="k",arch="x"} 1\n'
    )
    samples, dropped = map_monitord(parse(text), "srv1", SPECS)
    assert dropped == 3
    assert [(s.name, dict(s.labels), s.value, s.kind, s.bits) for s in samples] == [
        ("monitord_host_memory_total_bytes", {"target": "srv1"}, 1024, SampleKind.GAUGE, 0),
        ("monitord_host_cpu_seconds_total", {"target": "srv1", "mode": "user"}, 12,
         SampleKind.COUNTER, 64),
        ("monitord_host_info", {"target": "srv1", "hostname": "h", "os": "o", "os_version": "1",
                                "kernel": "k", "arch": "x"}, 1, SampleKind.INFO, 0),
    ]  # fmt: skip


def test_exporter_inventory_from_windows_metrics() -> None:
    exp = parse((DATA / "windows_exporter.prom").read_text())
    inv = exporter_inventory(exp, AgentKind.WINDOWS_EXPORTER, "srv-archivo")
    assert inv["hostname"] == "SRV-ARCHIVO" and inv["memory_bytes"] == 8_589_463_552
    assert inv["os"] == {"name": "Windows Server 2022 Standard", "version": "10.0.20348"}
    assert inv["interfaces"] == [
        {"name": "Intel_R__Ethernet_10G_2P_X710_Adapter", "mac": "3C:EC:EF:12:34:56"}
    ]
    fs = {f["mountpoint"]: f["size_bytes"] for f in inv["filesystems"]}  # type: ignore[attr-defined]
    assert fs == {"C:": 127_362_088_960, "D:": 1_999_842_050_048}


@pytest.mark.parametrize(
    ("fstype", "mount", "excluded"),
    [("ext4", "/", False), ("tmpfs", "/tmp", True), ("ext4", "/run/netns", True),
     ("xfs", "/var/lib/docker/overlay2/x", True), ("xfs", "/srv/backups", False)],
)  # fmt: skip
def test_exclusions_are_the_host_collectors_defaults(
    fstype: str, mount: str, excluded: bool
) -> None:
    excl = Exclusions.defaults()
    assert excl.filesystem(fstype, mount) is excluded
    assert excl.disk("sda1") and excl.disk("loop3") and not excl.disk("sda")
    assert excl.interface("veth12ab") and not excl.interface("lo")
