"""Per-device memory between polls: labels that change rarely, and what the agent tolerates.

This is not device *data* (that is the core state's): it is the collector's cache of
interface names, aliases, types and speeds, the system group, the rarely-changing
groups (inventory, LLDP), the profiles chosen for the device, and the walk settings
that worked (max-repetitions per table, GETNEXT fallback). Labels are re-walked every
`label_refresh` polls, or at once when sysUpTime goes back, ifNumber or
ifTableLastChange changes, so a normal poll walks only counters and statuses. An
interface keeps its name and its counter width (64-bit once seen) across the periodic
re-walks; only a change the device announces (restart, ifNumber, ifTableLastChange)
renames interfaces, so one port is one series.

One `LabelCache` lives in `Shared` under `"snmp.labelcache"`; entries are keyed by
target name and carry a fingerprint of the options, so a config change starts fresh.
Entries unused for a day are dropped.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Final

from collectors._snmpwire.ber import Oid
from monitord.types import Sample

__all__ = ["DeviceCache", "IfLabels", "LabelCache"]

_IDLE_EXPIRY: Final = 86_400.0


@dataclass(frozen=True, slots=True)
class IfLabels:
    """What the device says about one interface (cached between label refreshes)."""

    ifname: str
    ifalias: str
    iftype: str
    iftype_code: int | None
    speed_bytes: int | None
    hc: bool = False  # the row has 64-bit counters: its counters are those, and only those


@dataclass(slots=True)
class DeviceCache:
    """The collector's memory of one target."""

    fingerprint: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_used: float = 0.0
    polls_since_refresh: int = 0
    refresh_wanted: bool = True
    uptime_ticks: int | None = None
    if_number: int | None = None
    if_last_change: int | None = None  # ifTableLastChange; None: the agent has none
    names_stale: bool = True  # the device announced an interface change: rename on refresh
    sys_object_id: Oid | None = None
    sys_descr: str = ""
    system_info: dict[str, str] = field(default_factory=dict)
    profiles: tuple[str, ...] = ()
    interfaces: dict[int, IfLabels] = field(default_factory=dict)
    hc_complete: bool = False
    cached_groups: dict[str, list[Sample]] = field(default_factory=dict)
    repetitions: dict[str, int] = field(default_factory=dict)
    rep_ceiling: dict[str, int] = field(default_factory=dict)  # table → tooBig limit
    getnext_only: set[str] = field(default_factory=set)
    columns_seen: dict[str, set[Oid]] = field(default_factory=dict)  # table → columns with rows
    broken: dict[str, list[int]] = field(default_factory=dict)  # table → [failures, polls to skip]
    # table → (timeouts in a row, where the walk stalled): an agent silent at the same OIDs
    # poll after poll cannot serve them; one silent at different places is only slow
    table_timeouts: dict[str, tuple[int, tuple[Oid, ...]]] = field(default_factory=dict)
    overrun_logged: bool = False
    ident_scalars: dict[Oid, str] = field(default_factory=dict)  # identity GET (identify.py)
    dead_probes: set[Oid] = field(default_factory=set)  # probe OIDs the agent never answers
    probed: set[Oid] | None = None  # probe OIDs answered at the last label refresh
    limit_logged: bool = False
    # ifIndex → (target, IfLabels, sample labels, info labels): the same label mappings
    # poll after poll until the labels refresh, so the state keys them without a sort.
    label_maps: dict[int, tuple[str, IfLabels, dict[str, str], dict[str, str]]] = field(
        default_factory=dict
    )


class LabelCache:
    """Device caches by target name (a shared resource, created inside the loop)."""

    def __init__(self) -> None:
        self._entries: dict[str, DeviceCache] = {}
        self._last_prune = time.monotonic()

    def entry(self, target: str, fingerprint: str) -> DeviceCache:
        """The cache of `target`, fresh when its options changed."""
        now = time.monotonic()
        if now - self._last_prune > 3600:
            self._last_prune = now
            for name in [n for n, e in self._entries.items() if now - e.last_used > _IDLE_EXPIRY]:
                del self._entries[name]
        e = self._entries.get(target)
        if e is None or e.fingerprint != fingerprint:
            e = self._entries[target] = DeviceCache(fingerprint)
        e.last_used = now
        return e

    def forget(self, target: str) -> None:
        """Drop what is known about `target`."""
        self._entries.pop(target, None)

    def __len__(self) -> int:
        return len(self._entries)
