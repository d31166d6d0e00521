"""The daemon's own machine, read in process with psutil (config key `host: {}`).

The target's address is not used: this collector always reads the machine monitord runs
on. Every psutil call blocks, so one poll runs entirely in a worker thread
(`asyncio.to_thread`). The collector keeps no state between polls: CPU utilization is
computed from two `psutil.cpu_times()` readings `cpu_window` apart inside the poll (never
`psutil.cpu_percent()`, whose baseline is module-global), and disk and network counters
are read with `nowrap=False`, raw, so that `monitord.state` does the wrap/reset handling.

Emits, all with `target` (values from the last poll):
  cpu        monitord_host_cpu_utilization_ratio, monitord_host_cpu_core_utilization_ratio{cpu},
             monitord_host_cpu_seconds_total{mode}, monitord_host_cpus
  load       monitord_host_load1, monitord_host_load5, monitord_host_load15
  memory     monitord_host_memory_{total,used,available}_bytes (used = total - available),
             monitord_host_swap_{total,used}_bytes
  mounts     monitord_host_filesystem_{size,used,avail}_bytes{mountpoint},
             monitord_host_filesystem_inodes{mountpoint}, ..._inodes_free{mountpoint},
             monitord_host_filesystem_info{mountpoint,device,fstype} = 1,
             monitord_host_filesystems_unreadable (mounts whose statvfs failed: skipped)
  disks      monitord_host_disk_{read,written}_bytes_total{device}
  interfaces monitord_interface_{in,out}_{bytes,packets,errors,discards}_total{ifindex,ifname},
             monitord_interface_oper_up, monitord_interface_speed_bytes (omitted when unknown)
  system     monitord_host_uptime_seconds, monitord_host_boot_time_seconds,
             monitord_host_processes

Series budget: 14 + 8 CPU modes + 1 per CPU + 6 per filesystem + 2 per disk + 10 per
interface; e.g. 4 CPUs, 3 filesystems, 2 disks, 3 interfaces (lo included) = 78 series.
Cardinality is bounded by the exclusion options: pseudo and container filesystems,
partitions, loop/ram disks and `veth*` interfaces are excluded by default; `lo` is kept
(10 cheap series that show local service traffic). Each pattern is a regular expression
that must match the whole mount point, device or interface name. Filesystems of size 0
are skipped.

A mount whose statvfs fails (permission, stale network mount returning an error) is
skipped and counted. A network mount that *hangs* blocks the poll's thread: the runner
reports a timeout; exclude its type (e.g. `fs_exclude_types: [..., nfs4]`). Keep
`cpu_window` well below the collector's `timeout`. psutil errors map to PermissionDenied
(access denied) or MalformedResponse (any other failure to read the OS's counters), with
the samples read so far. The reading code itself is collectors/hostagent/hostread.py, shared with
the host agent.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

import psutil

from collectors.hostagent.hostread import (
    DEFAULT_DISKS_EXCLUDE,
    DEFAULT_FS_EXCLUDE_MOUNTPOINTS,
    DEFAULT_FS_EXCLUDE_TYPES,
    DEFAULT_INTERFACES_EXCLUDE,
    METRICS,
    CpuMode,
    HostReader,
)
from monitord.config import Duration, parse_options
from monitord.errors import CollectorError, ConfigError, MalformedResponse, PermissionDenied
from monitord.types import MetricSpec, Sample, Shared, Target

__all__ = ["KIND", "CpuMode", "HostCollector", "Options", "build"]

KIND: Final = "host"
MAX_CPU_WINDOW: Final = 30.0


@dataclass(frozen=True, slots=True)
class Options:
    """Options for the host collector; the defaults here are the documented defaults.

    `cpu_window`: time between the two CPU readings of one poll. The `*_exclude*` lists
    replace (not extend) their defaults; patterns are regular expressions matched against
    the whole name.
    """

    cpu_window: Duration = 1.0
    fs_exclude_types: tuple[str, ...] = DEFAULT_FS_EXCLUDE_TYPES
    fs_exclude_mountpoints: tuple[str, ...] = DEFAULT_FS_EXCLUDE_MOUNTPOINTS
    disks_exclude: tuple[str, ...] = DEFAULT_DISKS_EXCLUDE
    interfaces_exclude: tuple[str, ...] = DEFAULT_INTERFACES_EXCLUDE


class HostCollector:
    """Read the local machine in a worker thread; raise CollectorError subclasses only."""

    kind: ClassVar[str] = KIND
    availability_rank: ClassVar[int] = 3  # the reports: lowest rank = device availability
    metrics: ClassVar[tuple[MetricSpec, ...]] = METRICS

    def __init__(self, options: Options) -> None:
        self.options = options
        self.reader = HostReader(
            options.cpu_window,
            options.fs_exclude_types,
            options.fs_exclude_mountpoints,
            options.disks_exclude,
            options.interfaces_exclude,
        )

    async def collect(self, target: Target) -> list[Sample]:
        """Read the machine once (in a thread, `cpu_window` long); partial data on error."""
        out: list[Sample] = []
        try:
            await asyncio.to_thread(self.reader.read_into, target.name, out)
        except (psutil.Error, OSError) as exc:
            raise _translate(exc, list(out)) from exc
        return out


def build(options: Mapping[str, object], shared: Shared) -> HostCollector:
    """Validate options (raise ConfigError naming the field) and construct the collector."""
    opts = parse_options(Options, options)
    if opts.cpu_window > MAX_CPU_WINDOW:
        raise ConfigError(
            f"cpu_window {opts.cpu_window:g}s is longer than {MAX_CPU_WINDOW:g}s; "
            "keep it well below the collector's timeout",
            field="cpu_window",
        )
    for field in ("fs_exclude_mountpoints", "disks_exclude", "interfaces_exclude"):
        for i, pattern in enumerate(getattr(opts, field)):
            try:
                re.compile(pattern)
            except re.error as exc:
                msg = f"invalid regular expression: {exc}"
                raise ConfigError(msg, field=f"{field}[{i}]") from None
    return HostCollector(opts)


def _translate(exc: psutil.Error | OSError, partial: Sequence[Sample]) -> CollectorError:
    """Map a psutil or OS error to the CollectorError the runner reports."""
    what = f"reading the local machine with psutil failed: {type(exc).__name__}: {exc}"
    if isinstance(exc, psutil.AccessDenied | PermissionError):
        return PermissionDenied(f"{what}; run monitord with access to /proc", samples=partial)
    return MalformedResponse(what, samples=partial)
