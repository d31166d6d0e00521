"""Reading the local machine with psutil: the code shared by the in-process `host` collector
(collectors/host.py) and the host agent (collectors/hostagent/server.py), and the metric specs
both publish.

Kept free of the daemon's config machinery (no pydantic) so the agent stays small: it
imports psutil and `monitord.types` only. See collectors/host.py for what is emitted,
the series budget and the exclusion rules; the defaults of the exclusion options live
here (`DEFAULT_*`) and are the host collector's `Options` defaults.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Final

import psutil

from monitord.types import MetricSpec, Role, Sample, SampleKind, role, with_roles

__all__ = [
    "DEFAULT_DISKS_EXCLUDE",
    "DEFAULT_FS_EXCLUDE_MOUNTPOINTS",
    "DEFAULT_FS_EXCLUDE_TYPES",
    "DEFAULT_INTERFACES_EXCLUDE",
    "METRICS",
    "CpuMode",
    "HostReader",
]


class CpuMode(StrEnum):
    """Values of the `mode` label (psutil.cpu_times fields; guest time is already in user)."""

    USER = "user"
    NICE = "nice"
    SYSTEM = "system"
    IDLE = "idle"
    IOWAIT = "iowait"
    IRQ = "irq"
    SOFTIRQ = "softirq"
    STEAL = "steal"


DEFAULT_FS_EXCLUDE_TYPES: Final[tuple[str, ...]] = (
    "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts",
    "devtmpfs", "efivarfs", "erofs", "fuse.lxcfs", "fusectl", "hugetlbfs", "mqueue",
    "nsfs", "overlay", "proc", "pstore", "ramfs", "rpc_pipefs", "securityfs",
    "selinuxfs", "squashfs", "sysfs", "tmpfs", "tracefs",
)  # fmt: skip
DEFAULT_FS_EXCLUDE_MOUNTPOINTS: Final[tuple[str, ...]] = (
    r"/(proc|sys|dev|run|snap)(/.*)?",
    r"/var/lib/(docker|containers|kubelet)/.+",
)
DEFAULT_DISKS_EXCLUDE: Final[tuple[str, ...]] = (
    r"(loop|ram|zram|fd|sr)\d+",
    r"(h|s|v|xv)d[a-z]+\d+",
    r"(nvme\d+n\d+|mmcblk\d+)p\d+",
)
DEFAULT_INTERFACES_EXCLUDE: Final[tuple[str, ...]] = (r"veth.*",)


_G, _C, _I = SampleKind.GAUGE, SampleKind.COUNTER, SampleKind.INFO
_FS = ("target", "mountpoint")
_IF = ("target", "ifindex", "ifname")
_LAST = "value from the last poll."


def _spec(
    name: str, kind: SampleKind, help_: str, labels: tuple[str, ...] = ("target",)
) -> MetricSpec:
    return MetricSpec(f"monitord_{name}", kind, f"{help_}; {_LAST}", labels)


def _if_spec(name: str, field: str, what: str) -> MetricSpec:
    return _spec(f"interface_{name}_total", _C, f"{what} (psutil.net_io_counters {field})", _IF)


_PLAIN: Final[tuple[MetricSpec, ...]] = (
    _spec("host_cpu_utilization_ratio", _G, "Busy share of all CPUs, 0-1, over cpu_window:"
          " 1 - (idle+iowait)/total of psutil.cpu_times deltas"),
    _spec("host_cpu_core_utilization_ratio", _G, "Busy share of one CPU, 0-1, over"
          " cpu_window (psutil.cpu_times(percpu=True) deltas)", ("target", "cpu")),
    _spec("host_cpu_seconds_total", _C, "CPU time spent in each mode, all CPUs"
          " (psutil.cpu_times)", ("target", "mode")),
    _spec("host_cpus", _G, "Logical CPUs (psutil.cpu_count)"),
    _spec("host_load1", _G, "1-minute load average (psutil.getloadavg)"),
    _spec("host_load5", _G, "5-minute load average (psutil.getloadavg)"),
    _spec("host_load15", _G, "15-minute load average (psutil.getloadavg)"),
    _spec("host_memory_total_bytes", _G, "Physical memory (psutil.virtual_memory total)"),
    _spec("host_memory_used_bytes", _G, "Memory in use: total - available"
          " (psutil.virtual_memory)"),
    _spec("host_memory_available_bytes", _G, "Memory available without swapping"
          " (psutil.virtual_memory available)"),
    _spec("host_swap_total_bytes", _G, "Swap space (psutil.swap_memory total)"),
    _spec("host_swap_used_bytes", _G, "Swap in use (psutil.swap_memory used)"),
    _spec("host_filesystem_size_bytes", _G, "Size: f_blocks x f_frsize (os.statvfs)", _FS),
    _spec("host_filesystem_used_bytes", _G, "Used space, as df: (f_blocks - f_bfree) x"
          " f_frsize (os.statvfs)", _FS),
    _spec("host_filesystem_avail_bytes", _G, "Space available to unprivileged users:"
          " f_bavail x f_frsize (os.statvfs)", _FS),
    _spec("host_filesystem_inodes", _G, "Inodes: f_files (os.statvfs)", _FS),
    _spec("host_filesystem_inodes_free", _G, "Free inodes: f_ffree (os.statvfs)", _FS),
    _spec("host_filesystem_info", _I, "Device and type of a mounted filesystem"
          " (psutil.disk_partitions); always 1", (*_FS, "device", "fstype")),
    _spec("host_filesystems_unreadable", _G, "Mounts skipped because os.statvfs failed"
          " (permission, stale network mount)"),
    _spec("host_disk_read_bytes_total", _C, "Bytes read from the disk"
          " (psutil.disk_io_counters read_bytes)", ("target", "device")),
    _spec("host_disk_written_bytes_total", _C, "Bytes written to the disk"
          " (psutil.disk_io_counters write_bytes)", ("target", "device")),
    _if_spec("in_bytes", "bytes_recv", "Octets received on the interface"),
    _if_spec("out_bytes", "bytes_sent", "Octets sent on the interface"),
    _if_spec("in_packets", "packets_recv", "Packets received on the interface"),
    _if_spec("out_packets", "packets_sent", "Packets sent on the interface"),
    _if_spec("in_errors", "errin", "Receive errors on the interface"),
    _if_spec("out_errors", "errout", "Transmit errors on the interface"),
    _if_spec("in_discards", "dropin", "Received packets dropped on the interface"),
    _if_spec("out_discards", "dropout", "Outgoing packets dropped on the interface"),
    _spec("interface_oper_up", _G, "1 if the interface is up, else 0"
          " (psutil.net_if_stats isup)", _IF),
    _spec("interface_speed_bytes", _G, "Link speed in bytes per second (psutil.net_if_stats"
          " speed, Mb/s x 125000); absent when unknown", _IF),
    _spec("host_uptime_seconds", _G, "Seconds since boot (CLOCK_BOOTTIME, else now -"
          " psutil.boot_time)"),
    _spec("host_boot_time_seconds", _G, "Boot time in seconds since the epoch"
          " (psutil.boot_time)"),
    _spec("host_processes", _G, "Processes on the machine (psutil.pids)"),
)  # fmt: skip

_FS_LABEL = "mountpoint"
METRICS: Final[tuple[MetricSpec, ...]] = with_roles(
    _PLAIN,
    {
        "monitord_host_cpu_utilization_ratio": role(Role.DISTRIBUTION, rollup="cpu"),
        "monitord_host_memory_used_bytes": role(
            Role.DISTRIBUTION, rollup="mem", per="monitord_host_memory_total_bytes"
        ),
        "monitord_host_memory_total_bytes": role(Role.DAILY_GAUGE, rollup="mem_total"),
        "monitord_host_filesystem_size_bytes": role(
            Role.DAILY_GAUGE, rollup="fs_size", object=_FS_LABEL
        ),
        "monitord_host_filesystem_used_bytes": role(
            Role.DAILY_GAUGE, rollup="fs_used", object=_FS_LABEL
        ),
        "monitord_host_filesystem_avail_bytes": role(
            Role.DAILY_GAUGE, rollup="fs_avail", object=_FS_LABEL
        ),
        "monitord_host_uptime_seconds": role(Role.UPTIME),
        **{
            f"monitord_interface_{d}_{w}_total": role(Role.INTERFACE_COUNTER, rollup=f"{d}_{w}")
            for d in ("in", "out")
            for w in ("bytes", "errors", "discards")
        },
        "monitord_interface_oper_up": role(Role.INTERFACE_STATUS),
        "monitord_interface_speed_bytes": role(Role.INTERFACE_SPEED),
    },
)


class HostReader:
    """Reads the local machine (blocking; call it from a worker thread)."""

    def __init__(
        self,
        cpu_window: float = 1.0,
        fs_exclude_types: Sequence[str] = DEFAULT_FS_EXCLUDE_TYPES,
        fs_exclude_mountpoints: Sequence[str] = DEFAULT_FS_EXCLUDE_MOUNTPOINTS,
        disks_exclude: Sequence[str] = DEFAULT_DISKS_EXCLUDE,
        interfaces_exclude: Sequence[str] = DEFAULT_INTERFACES_EXCLUDE,
    ) -> None:
        self.cpu_window = cpu_window
        self.fs_exclude_types = tuple(fs_exclude_types)
        self.fs_exclude_mountpoints = tuple(fs_exclude_mountpoints)
        self._fs_types = frozenset(fs_exclude_types)
        self._fs_mounts = _compile(fs_exclude_mountpoints)
        self._disks = _compile(disks_exclude)
        self._ifaces = _compile(interfaces_exclude)

    def read_into(self, name: str, out: list[Sample]) -> None:
        """Read the machine once, blocking, appending samples labelled target=`name` to `out`.

        Raises psutil.Error or OSError with the samples read so far left in `out`.
        """
        start = time.monotonic()
        cpu0, per0 = psutil.cpu_times(), psutil.cpu_times(percpu=True)
        put = _Put(name, out)
        vm, sw = psutil.virtual_memory(), psutil.swap_memory()
        put("host_memory_total_bytes", vm.total)
        put("host_memory_used_bytes", vm.total - vm.available)
        put("host_memory_available_bytes", vm.available)
        put("host_swap_total_bytes", sw.total)
        put("host_swap_used_bytes", sw.used)
        for minutes, load in zip((1, 5, 15), psutil.getloadavg(), strict=True):
            put(f"host_load{minutes}", load)
        put("host_cpus", psutil.cpu_count(logical=True) or len(per0))
        boot = psutil.boot_time()
        boottime = getattr(time, "CLOCK_BOOTTIME", None)
        uptime = time.clock_gettime(boottime) if boottime is not None else time.time() - boot
        put("host_uptime_seconds", uptime)
        put("host_boot_time_seconds", boot)
        put("host_processes", len(psutil.pids()))
        self._filesystems(put)
        for dev, dio in sorted((psutil.disk_io_counters(perdisk=True, nowrap=False) or {}).items()):
            if not _excluded(self._disks, dev):
                put("host_disk_read_bytes_total", dio.read_bytes, _C, 64, device=dev)
                put("host_disk_written_bytes_total", dio.write_bytes, _C, 64, device=dev)
        self._interfaces(put)
        time.sleep(max(0.0, self.cpu_window - (time.monotonic() - start)))
        cpu1, per1 = psutil.cpu_times(), psutil.cpu_times(percpu=True)
        if (ratio := _busy_ratio(cpu0, cpu1)) is not None:
            put("host_cpu_utilization_ratio", ratio)
        for i, (a, b) in enumerate(zip(per0, per1, strict=False)):
            if (ratio := _busy_ratio(a, b)) is not None:
                put("host_cpu_core_utilization_ratio", ratio, cpu=str(i))
        for mode in CpuMode:
            if (seconds := getattr(cpu1, mode.value, None)) is not None:
                put("host_cpu_seconds_total", seconds, _C, mode=mode.value)

    def _filesystems(self, put: _Put) -> None:
        mounts = {  # a mount point mounted over keeps the last (visible) entry
            p.mountpoint: p
            for p in psutil.disk_partitions(all=True)
            if p.fstype not in self._fs_types and not _excluded(self._fs_mounts, p.mountpoint)
        }
        unreadable = 0
        for mountpoint, part in sorted(mounts.items()):
            try:
                st = os.statvfs(mountpoint)
            except OSError:
                unreadable += 1
                continue
            if st.f_blocks == 0:
                continue
            put("host_filesystem_size_bytes", st.f_blocks * st.f_frsize, mountpoint=mountpoint)
            put(
                "host_filesystem_used_bytes",
                (st.f_blocks - st.f_bfree) * st.f_frsize,
                mountpoint=mountpoint,
            )
            put("host_filesystem_avail_bytes", st.f_bavail * st.f_frsize, mountpoint=mountpoint)
            put("host_filesystem_inodes", st.f_files, mountpoint=mountpoint)
            put("host_filesystem_inodes_free", st.f_ffree, mountpoint=mountpoint)
            put(
                "host_filesystem_info",
                1,
                _I,
                mountpoint=mountpoint,
                device=part.device,
                fstype=part.fstype,
            )
        put("host_filesystems_unreadable", unreadable)

    def _interfaces(self, put: _Put) -> None:
        stats = psutil.net_if_stats()
        for ifname, io in sorted(psutil.net_io_counters(pernic=True, nowrap=False).items()):
            if _excluded(self._ifaces, ifname):
                continue
            try:
                ifindex = str(socket.if_nametoindex(ifname))
            except OSError:  # the interface went away between the two reads
                continue
            st = stats.get(ifname)
            speed = st.speed * 125_000.0 if st is not None and st.speed > 0 else 0.0
            # Virtual links (tun, bridges) report nominal speeds they can exceed: only a
            # physical NIC's speed bounds a plausible rate.
            physical = os.path.exists(f"/sys/class/net/{ifname}/device")
            limit = speed if physical else 0.0
            lbl = {"ifindex": ifindex, "ifname": ifname}
            put("interface_in_bytes_total", io.bytes_recv, _C, 64, limit, lbl)
            put("interface_out_bytes_total", io.bytes_sent, _C, 64, limit, lbl)
            put("interface_in_packets_total", io.packets_recv, _C, 64, 0.0, lbl)
            put("interface_out_packets_total", io.packets_sent, _C, 64, 0.0, lbl)
            put("interface_in_errors_total", io.errin, _C, 64, 0.0, lbl)
            put("interface_out_errors_total", io.errout, _C, 64, 0.0, lbl)
            put("interface_in_discards_total", io.dropin, _C, 64, 0.0, lbl)
            put("interface_out_discards_total", io.dropout, _C, 64, 0.0, lbl)
            if st is not None:
                put("interface_oper_up", 1 if st.isup else 0, lbl=lbl)
            if speed:
                put("interface_speed_bytes", speed, lbl=lbl)


class _Put:
    """Appends samples of one poll, adding the `monitord_` prefix and the target label."""

    def __init__(self, target: str, out: list[Sample]) -> None:
        self._target, self._out = target, out

    def __call__(
        self,
        name: str,
        value: float,
        kind: SampleKind = _G,
        bits: int = 0,
        max_rate: float = 0.0,
        lbl: Mapping[str, str] | None = None,
        **labels: str,
    ) -> None:
        labels = {"target": self._target, **(lbl or {}), **labels}
        self._out.append(
            Sample(f"monitord_{name}", labels, value, kind, bits=bits, max_rate=max_rate)
        )


def _compile(patterns: Sequence[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


def _excluded(pattern: re.Pattern[str] | None, name: str) -> bool:
    return pattern is not None and pattern.fullmatch(name) is not None


def _busy_ratio(a: tuple[float, ...], b: tuple[float, ...]) -> float | None:
    """1 - idle/total over the interval between two cpu_times readings; None if no time passed."""
    total = _total(b) - _total(a)
    if total <= 0:
        return None
    idle = _idle(b) - _idle(a)
    return min(1.0, max(0.0, 1.0 - idle / total))


def _total(t: tuple[float, ...]) -> float:
    # guest and guest_nice are already counted in user and nice (Linux).
    return sum(t) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)


def _idle(t: tuple[float, ...]) -> float:
    return float(getattr(t, "idle", 0.0)) + float(getattr(t, "iowait", 0.0))
