"""Parsed exposition → the core's samples, for the three kinds of endpoint (pure).

- `monitord`: the agent already speaks the host collector's names; keep the series whose
  name and label names match the published specs, set `target` to the daemon's name.
- `node_exporter` and `windows_exporter`: map their standard names onto the same
  `monitord_host_*` / `monitord_interface_*` series, with the host collector's exclusions
  (pseudo filesystems, partitions, veth...) so both sources give the same series set.

CPU utilization needs two readings: `cpu_ratios(first, second)` computes the total and
per-core busy share between two scrapes of an exporter. Windows counts interrupt and DPC
time inside privileged time, so its busy share is 1 - idle / (idle + user + privileged)
and `mode="system"` (privileged) includes `irq` (interrupt) and `softirq` (DPC).
Exporters carry no ifindex for Windows NICs: `ifindex` is then "" (absent in Prometheus).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from collectors.agent.parse import Exposition
from collectors.hostagent.hostread import (
    DEFAULT_DISKS_EXCLUDE,
    DEFAULT_FS_EXCLUDE_MOUNTPOINTS,
    DEFAULT_FS_EXCLUDE_TYPES,
    DEFAULT_INTERFACES_EXCLUDE,
    CpuMode,
)
from monitord.types import MetricSpec, Sample, SampleKind

__all__ = [
    "NODE_WANTED",
    "WINDOWS_WANTED",
    "AgentKind",
    "Exclusions",
    "cpu_ratios",
    "exporter_inventory",
    "map_monitord",
    "map_node_exporter",
    "map_windows_exporter",
]

_G, _C, _I = SampleKind.GAUGE, SampleKind.COUNTER, SampleKind.INFO


class AgentKind(StrEnum):
    """What answers at the agent's URL."""

    MONITORD = "monitord"
    NODE_EXPORTER = "node_exporter"
    WINDOWS_EXPORTER = "windows_exporter"


NODE_WANTED: Final = frozenset({
    "node_cpu_seconds_total", "node_load1", "node_load5", "node_load15",
    "node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes",
    "node_memory_SwapTotal_bytes", "node_memory_SwapFree_bytes",
    "node_filesystem_size_bytes", "node_filesystem_free_bytes", "node_filesystem_avail_bytes",
    "node_filesystem_files", "node_filesystem_files_free", "node_filesystem_device_error",
    "node_disk_read_bytes_total", "node_disk_written_bytes_total",
    "node_network_receive_bytes_total", "node_network_transmit_bytes_total",
    "node_network_receive_packets_total", "node_network_transmit_packets_total",
    "node_network_receive_errs_total", "node_network_transmit_errs_total",
    "node_network_receive_drop_total", "node_network_transmit_drop_total",
    "node_network_iface_id", "node_network_flags", "node_network_up",
    "node_network_speed_bytes", "node_network_info", "node_boot_time_seconds",
    "node_time_seconds", "node_processes_pids", "node_uname_info", "node_os_info",
    "node_systemd_unit_state",
})  # fmt: skip

WINDOWS_WANTED: Final = frozenset({
    "windows_cpu_time_total", "windows_memory_physical_total_bytes",
    "windows_cs_physical_memory_bytes", "windows_memory_available_bytes",
    "windows_os_physical_memory_free_bytes", "windows_pagefile_limit_bytes",
    "windows_pagefile_free_bytes", "windows_os_paging_limit_bytes",
    "windows_os_paging_free_bytes", "windows_logical_disk_size_bytes",
    "windows_logical_disk_free_bytes", "windows_logical_disk_read_bytes_total",
    "windows_logical_disk_write_bytes_total", "windows_net_bytes_received_total",
    "windows_net_bytes_sent_total", "windows_net_packets_received_total",
    "windows_net_packets_sent_total", "windows_net_packets_received_errors_total",
    "windows_net_packets_outbound_errors_total", "windows_net_packets_received_discarded_total",
    "windows_net_packets_outbound_discarded_total", "windows_net_current_bandwidth_bytes",
    "windows_net_nic_operation_status", "windows_net_nic_info",
    "windows_system_boot_time_timestamp_seconds", "windows_system_boot_time_timestamp",
    "windows_system_system_up_time", "windows_time_current_timestamp_seconds", "windows_os_time",
    "windows_system_processes", "windows_os_processes", "windows_os_info",
    "windows_os_hostname", "windows_cs_hostname", "windows_service_state",
})  # fmt: skip

_WINDOWS_MODES: Final = {
    "user": "user",
    "privileged": "system",
    "interrupt": "irq",
    "dpc": "softirq",
    "idle": "idle",
}
_WIN_VOLUME_SKIP: Final = re.compile(r"_Total|HarddiskVolume\d+")


@dataclass(frozen=True, slots=True)
class Exclusions:
    """The host collector's exclusion options, compiled (whole-name regular expressions)."""

    fs_types: frozenset[str]
    fs_mounts: re.Pattern[str] | None
    disks: re.Pattern[str] | None
    interfaces: re.Pattern[str] | None

    @classmethod
    def defaults(cls) -> Exclusions:
        """The host collector's documented defaults."""
        return cls(
            frozenset(DEFAULT_FS_EXCLUDE_TYPES),
            _compile(DEFAULT_FS_EXCLUDE_MOUNTPOINTS),
            _compile(DEFAULT_DISKS_EXCLUDE),
            _compile(DEFAULT_INTERFACES_EXCLUDE),
        )

    def filesystem(self, fstype: str, mountpoint: str) -> bool:
        """True if this filesystem is excluded."""
        return fstype in self.fs_types or _match(self.fs_mounts, mountpoint)

    def disk(self, name: str) -> bool:
        """True if this disk is excluded."""
        return _match(self.disks, name)

    def interface(self, name: str) -> bool:
        """True if this interface is excluded."""
        return _match(self.interfaces, name)


CoreModes = dict[str, dict[str, float]]


def map_monitord(
    exp: Exposition, target: str, specs: Mapping[str, MetricSpec]
) -> tuple[list[Sample], int]:
    """Keep the agent's series that match a published spec; return (samples, dropped)."""
    out: list[Sample] = []
    dropped = 0
    for name, labels, value in exp.samples:
        spec = specs.get(name)
        if spec is None or set(labels) | {"target"} != set(spec.labels) or not _finite(value):
            dropped += 1
            continue
        lbl = {**labels, "target": target}
        if spec.kind is _C:
            out.append(Sample(name, lbl, _int(value), _C, bits=64))
        else:
            out.append(Sample(name, lbl, value, spec.kind))
    return out, dropped


def map_node_exporter(
    exp: Exposition,
    target: str,
    excl: Exclusions,
    services: Sequence[str] = (),
    ratios: tuple[float, dict[str, float]] | None = None,
) -> list[Sample]:
    """node_exporter's standard names → monitord series."""
    out: list[Sample] = []
    put = _Put(target, out)
    mem_total = exp.first("node_memory_MemTotal_bytes")
    mem_avail = exp.first("node_memory_MemAvailable_bytes")
    if mem_total is not None and mem_avail is not None:
        put("host_memory_total_bytes", mem_total)
        put("host_memory_used_bytes", mem_total - mem_avail)
        put("host_memory_available_bytes", mem_avail)
    swap_total, swap_free = (
        exp.first("node_memory_SwapTotal_bytes"),
        exp.first("node_memory_SwapFree_bytes"),
    )
    if swap_total is not None and swap_free is not None:
        put("host_swap_total_bytes", swap_total)
        put("host_swap_used_bytes", swap_total - swap_free)
    for minutes in (1, 5, 15):
        if (load := exp.first(f"node_load{minutes}")) is not None:
            put(f"host_load{minutes}", load)
    modes = cpu_modes(exp, AgentKind.NODE_EXPORTER)
    _cpu(put, modes, ratios)
    boot, now = exp.first("node_boot_time_seconds"), exp.first("node_time_seconds")
    if boot is not None:
        put("host_boot_time_seconds", boot)
        if now is not None:
            put("host_uptime_seconds", max(0.0, now - boot))
    if (pids := exp.first("node_processes_pids")) is not None:
        put("host_processes", pids)
    _node_filesystems(put, exp, excl)
    for src, dst in (("read", "read"), ("written", "written")):
        for lbl, v in exp.values(f"node_disk_{src}_bytes_total"):
            dev = lbl.get("device", "")
            if dev and not excl.disk(dev):
                put(f"host_disk_{dst}_bytes_total", v, _C, device=dev)
    _node_interfaces(put, exp, excl)
    uname = _labels_of(exp, "node_uname_info")
    osinfo = _labels_of(exp, "node_os_info")
    if uname:
        put(
            "host_info",
            1,
            _I,
            hostname=uname.get("nodename", ""),
            os=osinfo.get("name", uname.get("sysname", "")),
            os_version=osinfo.get("version_id", ""),
            kernel=uname.get("release", ""),
            arch=uname.get("machine", ""),
        )
    wanted = {s: s for s in services}
    for lbl, v in exp.values("node_systemd_unit_state"):
        unit = lbl.get("name", "")
        if unit in wanted and lbl.get("state") == "active":
            put("service_up", 1 if v == 1 else 0, service=wanted[unit])
    return out


def map_windows_exporter(
    exp: Exposition,
    target: str,
    excl: Exclusions,
    services: Sequence[str] = (),
    ratios: tuple[float, dict[str, float]] | None = None,
    now: float = 0.0,
) -> list[Sample]:
    """windows_exporter's names (0.2x and 0.30+ spellings) → monitord series."""
    out: list[Sample] = []
    put = _Put(target, out)
    total = exp.first("windows_memory_physical_total_bytes", "windows_cs_physical_memory_bytes")
    avail = exp.first("windows_memory_available_bytes", "windows_os_physical_memory_free_bytes")
    if total is not None and avail is not None:
        put("host_memory_total_bytes", total)
        put("host_memory_used_bytes", total - avail)
        put("host_memory_available_bytes", avail)
    limit = _sum(exp, "windows_pagefile_limit_bytes", "windows_os_paging_limit_bytes")
    free = _sum(exp, "windows_pagefile_free_bytes", "windows_os_paging_free_bytes")
    if limit is not None and free is not None:
        put("host_swap_total_bytes", limit)
        put("host_swap_used_bytes", max(0.0, limit - free))
    _cpu(put, cpu_modes(exp, AgentKind.WINDOWS_EXPORTER), ratios)
    boot = exp.first(
        "windows_system_boot_time_timestamp_seconds",
        "windows_system_boot_time_timestamp",
        "windows_system_system_up_time",
    )
    clock = exp.first("windows_time_current_timestamp_seconds", "windows_os_time") or now
    if boot is not None:
        put("host_boot_time_seconds", boot)
        if clock:
            put("host_uptime_seconds", max(0.0, clock - boot))
    if (procs := exp.first("windows_system_processes", "windows_os_processes")) is not None:
        put("host_processes", procs)
    free_by_vol = {
        lbl.get("volume", ""): v for lbl, v in exp.values("windows_logical_disk_free_bytes")
    }
    for lbl, size in exp.values("windows_logical_disk_size_bytes"):
        vol = lbl.get("volume", "")
        if not vol or _WIN_VOLUME_SKIP.fullmatch(vol) or excl.filesystem("", vol) or size <= 0:
            continue
        vfree = free_by_vol.get(vol)
        put("host_filesystem_size_bytes", size, mountpoint=vol)
        if vfree is not None:
            put("host_filesystem_used_bytes", max(0.0, size - vfree), mountpoint=vol)
            put("host_filesystem_avail_bytes", vfree, mountpoint=vol)
        put("host_filesystem_info", 1, _I, mountpoint=vol, device=vol, fstype="")
    put("host_filesystems_unreadable", 0)
    for src, dst in (("read", "read"), ("write", "written")):
        for lbl, v in exp.values(f"windows_logical_disk_{src}_bytes_total"):
            vol = lbl.get("volume", "")
            if vol and not _WIN_VOLUME_SKIP.fullmatch(vol) and not excl.disk(vol):
                put(f"host_disk_{dst}_bytes_total", v, _C, device=vol)
    _windows_interfaces(put, exp, excl)
    osinfo = _labels_of(exp, "windows_os_info")
    hostname = _labels_of(exp, "windows_os_hostname") or _labels_of(exp, "windows_cs_hostname")
    if osinfo:
        put(
            "host_info",
            1,
            _I,
            hostname=hostname.get("hostname", ""),
            os=osinfo.get("product", "Windows"),
            os_version=osinfo.get("version", ""),
            kernel=osinfo.get("version", ""),
            arch="",
        )
    wanted = {s.lower(): s for s in services}
    for lbl, v in exp.values("windows_service_state"):
        svc = lbl.get("name", "").lower()
        if svc in wanted and lbl.get("state") == "running":
            put("service_up", 1 if v == 1 else 0, service=wanted[svc])
    return out


def cpu_modes(exp: Exposition, kind: AgentKind) -> CoreModes:
    """Per-core seconds by monitord mode name, from an exporter's CPU counter."""
    out: CoreModes = {}
    if kind is AgentKind.NODE_EXPORTER:
        for lbl, v in exp.values("node_cpu_seconds_total"):
            core, mode = lbl.get("cpu"), lbl.get("mode", "")
            if core is not None:
                out.setdefault(core, {})[mode] = v
    else:
        for lbl, v in exp.values("windows_cpu_time_total"):
            core, wmode = lbl.get("core"), _WINDOWS_MODES.get(lbl.get("mode", ""))
            if core is not None and wmode is not None:
                out.setdefault(core, {})[wmode] = v
    return out


def cpu_ratios(
    first: CoreModes, second: CoreModes, kind: AgentKind
) -> tuple[float, dict[str, float]] | None:
    """Busy share (0-1) over all cores and per core between two readings; None if no time."""
    per: dict[str, float] = {}
    busy_sum = total_sum = 0.0
    for core, after in second.items():
        before = first.get(core)
        if before is None:
            continue
        total = _core_total(after, kind) - _core_total(before, kind)
        idle = after.get("idle", 0.0) - before.get("idle", 0.0)
        if kind is AgentKind.NODE_EXPORTER:
            idle += after.get("iowait", 0.0) - before.get("iowait", 0.0)
        if total <= 0:
            continue
        per[core] = min(1.0, max(0.0, 1.0 - idle / total))
        busy_sum += total - idle
        total_sum += total
    if total_sum <= 0:
        return None
    return min(1.0, max(0.0, busy_sum / total_sum)), per


def exporter_inventory(exp: Exposition, kind: AgentKind, target: str) -> dict[str, object]:
    """The part of an inventory an exporter's /metrics can tell (no software list)."""
    samples = (map_node_exporter if kind is AgentKind.NODE_EXPORTER else map_windows_exporter)(
        exp, target, Exclusions.defaults()
    )
    info = next((s.labels for s in samples if s.name == "monitord_host_info"), {})
    value = {s.name: s.value for s in samples if set(s.labels) == {"target"}}
    fs = [
        {
            "mountpoint": s.labels["mountpoint"],
            "device": s.labels["device"],
            "fstype": s.labels["fstype"],
        }
        for s in samples
        if s.name == "monitord_host_filesystem_info"
    ]
    sizes = {
        s.labels["mountpoint"]: s.value
        for s in samples
        if s.name == "monitord_host_filesystem_size_bytes"
    }
    for f in fs:
        f["size_bytes"] = sizes.get(str(f["mountpoint"]))  # type: ignore[assignment]
    macs = {
        lbl.get("device", lbl.get("nic", "")): lbl.get("address", lbl.get("mac", ""))
        for name in ("node_network_info", "windows_net_nic_info")
        for lbl, _ in exp.values(name)
    }
    return {
        "schema": 1,
        "source": kind.value,
        "target": target,
        "hostname": info.get("hostname", ""),
        "os": {"name": info.get("os", ""), "version": info.get("os_version", "")},
        "kernel": info.get("kernel", ""),
        "arch": info.get("arch", ""),
        "cpu": {"threads": int(value.get("monitord_host_cpus", 0)) or None},
        "memory_bytes": value.get("monitord_host_memory_total_bytes"),
        "swap_bytes": value.get("monitord_host_swap_total_bytes"),
        "filesystems": fs,
        "interfaces": [{"name": n, "mac": m} for n, m in sorted(macs.items()) if n],
        "boot_time": value.get("monitord_host_boot_time_seconds"),
        "software_source": "none",
        "software": [],
    }


# -- helpers -------------------------------------------------------------------------------


class _Put:
    def __init__(self, target: str, out: list[Sample]) -> None:
        self._target, self._out = target, out

    def __call__(self, name: str, value: float, kind: SampleKind = _G, /, **labels: str) -> None:
        if not _finite(value):
            return
        lbl = {"target": self._target, **labels}
        if kind is _C:
            self._out.append(Sample(f"monitord_{name}", lbl, _int(value), _C, bits=64))
        else:
            self._out.append(Sample(f"monitord_{name}", lbl, value, kind))


def _cpu(put: _Put, modes: CoreModes, ratios: tuple[float, dict[str, float]] | None) -> None:
    if not modes:
        return
    put("host_cpus", len(modes))
    for mode in CpuMode:
        values = [m[mode.value] for m in modes.values() if mode.value in m]
        if values:
            put("host_cpu_seconds_total", sum(values), _C, mode=mode.value)
    if ratios is not None:
        put("host_cpu_utilization_ratio", ratios[0])
        for core, ratio in sorted(ratios[1].items()):
            put("host_cpu_core_utilization_ratio", ratio, cpu=core)


def _core_total(modes: Mapping[str, float], kind: AgentKind) -> float:
    if kind is AgentKind.WINDOWS_EXPORTER:  # privileged already holds interrupt and DPC
        return sum(modes.get(m, 0.0) for m in ("idle", "user", "system"))
    return sum(modes.values())


def _node_filesystems(put: _Put, exp: Exposition, excl: Exclusions) -> None:
    def by_mount(name: str) -> dict[str, float]:
        return {lbl.get("mountpoint", ""): v for lbl, v in exp.values(name)}

    free, avail = by_mount("node_filesystem_free_bytes"), by_mount("node_filesystem_avail_bytes")
    files, ffree = by_mount("node_filesystem_files"), by_mount("node_filesystem_files_free")
    unreadable = 0
    for lbl, err in exp.values("node_filesystem_device_error"):
        if err == 1 and not excl.filesystem(lbl.get("fstype", ""), lbl.get("mountpoint", "")):
            unreadable += 1
    mounts: dict[str, tuple[dict[str, str], float]] = {}
    for lbl, size in exp.values("node_filesystem_size_bytes"):
        mp = lbl.get("mountpoint", "")
        if mp and not excl.filesystem(lbl.get("fstype", ""), mp) and size > 0:
            mounts[mp] = (lbl, size)
    for mp, (lbl, size) in sorted(mounts.items()):
        put("host_filesystem_size_bytes", size, mountpoint=mp)
        if mp in free:
            put("host_filesystem_used_bytes", size - free[mp], mountpoint=mp)
        if mp in avail:
            put("host_filesystem_avail_bytes", avail[mp], mountpoint=mp)
        if mp in files:
            put("host_filesystem_inodes", files[mp], mountpoint=mp)
        if mp in ffree:
            put("host_filesystem_inodes_free", ffree[mp], mountpoint=mp)
        put(
            "host_filesystem_info",
            1,
            _I,
            mountpoint=mp,
            device=lbl.get("device", ""),
            fstype=lbl.get("fstype", ""),
        )
    put("host_filesystems_unreadable", unreadable)


_NODE_IF: Final = (
    ("receive_bytes", "in_bytes"), ("transmit_bytes", "out_bytes"),
    ("receive_packets", "in_packets"), ("transmit_packets", "out_packets"),
    ("receive_errs", "in_errors"), ("transmit_errs", "out_errors"),
    ("receive_drop", "in_discards"), ("transmit_drop", "out_discards"),
)  # fmt: skip
_WIN_IF: Final = (
    ("bytes_received", "in_bytes"), ("bytes_sent", "out_bytes"),
    ("packets_received", "in_packets"), ("packets_sent", "out_packets"),
    ("packets_received_errors", "in_errors"), ("packets_outbound_errors", "out_errors"),
    ("packets_received_discarded", "in_discards"), ("packets_outbound_discarded", "out_discards"),
)  # fmt: skip
_IFF_UP: Final = 0x1


def _node_interfaces(put: _Put, exp: Exposition, excl: Exclusions) -> None:
    def by_dev(name: str) -> dict[str, float]:
        return {lbl.get("device", ""): v for lbl, v in exp.values(name)}

    index, flags, up = (
        by_dev("node_network_iface_id"),
        by_dev("node_network_flags"),
        by_dev("node_network_up"),
    )
    speed = by_dev("node_network_speed_bytes")
    operstate = {
        lbl.get("device", ""): lbl.get("operstate", "")
        for lbl, _ in exp.values("node_network_info")
    }
    counters = {dst: by_dev(f"node_network_{src}_total") for src, dst in _NODE_IF}
    for dev in sorted(counters["in_bytes"]):
        if not dev or excl.interface(dev):
            continue
        lbl = {"ifindex": str(int(index[dev])) if dev in index else "", "ifname": dev}
        for _, dst in _NODE_IF:
            if dev in counters[dst]:
                put(f"interface_{dst}_total", counters[dst][dev], _C, **lbl)
        if dev in flags and dev in operstate:
            # psutil's isup = IFF_UP and IFF_RUNNING; sysfs flags lack RUNNING, which the
            # kernel derives from the operational state (up or unknown, as for lo).
            running = operstate[dev] in ("up", "unknown")
            put("interface_oper_up", 1 if int(flags[dev]) & _IFF_UP and running else 0, **lbl)
        elif dev in up:
            put("interface_oper_up", up[dev], **lbl)
        if speed.get(dev, 0) > 0:
            put("interface_speed_bytes", speed[dev], **lbl)


def _windows_interfaces(put: _Put, exp: Exposition, excl: Exclusions) -> None:
    def by_nic(name: str) -> dict[str, float]:
        return {lbl.get("nic", ""): v for lbl, v in exp.values(name)}

    counters = {dst: by_nic(f"windows_net_{src}_total") for src, dst in _WIN_IF}
    speed = by_nic("windows_net_current_bandwidth_bytes")
    status = {
        lbl.get("nic", ""): v
        for lbl, v in exp.values("windows_net_nic_operation_status")
        if lbl.get("status") == "up"
    }
    for nic in sorted(counters["in_bytes"]):
        if not nic or excl.interface(nic):
            continue
        lbl = {"ifindex": "", "ifname": nic}
        for _, dst in _WIN_IF:
            if nic in counters[dst]:
                put(f"interface_{dst}_total", counters[dst][nic], _C, **lbl)
        if nic in status:
            put("interface_oper_up", 1 if status[nic] == 1 else 0, **lbl)
        if speed.get(nic, 0) > 0:
            put("interface_speed_bytes", speed[nic], **lbl)


def _labels_of(exp: Exposition, name: str) -> dict[str, str]:
    found = exp.values(name)
    return dict(found[0][0]) if found else {}


def _sum(exp: Exposition, *names: str) -> float | None:
    for name in names:
        found = exp.values(name)
        if found:
            return sum(v for _, v in found)
    return None


def _finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


def _int(value: float) -> float:
    """Counters as ints where exact, so the state's wrap arithmetic stays exact."""
    return int(value) if value.is_integer() and abs(value) < 2**63 else value


def _compile(patterns: Iterable[str]) -> re.Pattern[str] | None:
    pats = list(patterns)
    return re.compile("|".join(f"(?:{p})" for p in pats)) if pats else None


def _match(pattern: re.Pattern[str] | None, name: str) -> bool:
    return pattern is not None and pattern.fullmatch(name) is not None
