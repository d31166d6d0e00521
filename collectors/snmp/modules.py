"""What to collect, as data: profiles (scalars and table columns → metrics) and their matching.

A profile is a named set of groups; a group is either scalars (fetched with one GET) or
the columns of one table (walked together). Each metric of a group names the column
its value comes from (or none, for `_info` metrics whose value is 1), its labels (other
columns, the row index or a component of it, or a constant), and optional arithmetic:
`scale`, `multiply` (by another column, e.g. hrStorageAllocationUnits) and `map`
(enumerated value → number, e.g. upsOutputSource battery(5) → 1). Groups marked
`refresh: labels` change rarely (inventory, neighbours) and are walked only when the
device's label cache is refreshed.

The built-in profiles `system` and `interfaces` are code (collector.py, interfaces.py);
the others (`host_resources`, `ucd`, `entity`, `lldp`, `ups`, `ups_apc`) are data in
`profiles.yaml`, in the same format a user writes under the top-level `snmp.modules:`
section of the config (see `parse_profiles`). The YAML format:

    my_cpu:                              # the profile name used in `profiles: [...]`
      description: Cisco CPU load
      match: {sys_object_id: ["1.3.6.1.4.1.9."], sys_descr: "(?i)cisco"}   # optional
      scalars:                           # optional: instance OIDs fetched with GET (a list
        columns: {uptime: 1.3.6.1.2.1.25.1.1.0}  # of such groups is accepted too)
        metrics: [{name: monitord_x_seconds, kind: gauge, value: uptime, scale: 0.01, help: ...}]
      tables:
        - name: cpmCPUTotalTable
          refresh: poll                  # or labels
          columns:
            load5m: 1.3.6.1.4.1.9.9.109.1.1.1.1.8
            kind: {oid: 1.3.6.1.2.1.47.1.1.1.1.5, enum: {3: chassis}, format: text}
          filter: {kind: [3, 9]}         # keep rows whose column value is in the list
          metrics:
            - {name: monitord_cisco_cpu_load_ratio, kind: gauge, value: load5m, scale: 0.01,
               labels: {cpu: index}, help: "5-minute CPU load (CISCO-PROCESS-MIB)."}

Label sources: a column name, `index` (the row index, dotted), `index[N]` (its N-th
component) or `const:TEXT`. Metric names must start with `monitord_`, counters end in
`_total` and info metrics in `_info`.

Roles (optional) say what the history keeps of a metric (see `monitord.types.Role`):
`roles: [distribution], rollup: cpu` puts a vendor CPU ratio into the daily CPU
distribution the servers report reads; `roles: [daily_gauge], rollup: fs_used,
object: storage` keeps first/last/min/max per label value and day; `roles: [uptime]`
marks restarts. A metric that reuses a built-in name inherits its roles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from enum import StrEnum
from importlib import resources
from typing import Final

from collectors._snmpwire.ber import Oid, parse_oid
from collectors.snmp.convert import LLDP_ID_FORMATS
from collectors.snmp.health import HEALTH_METRICS
from monitord.errors import ConfigError, ConfigIssue
from monitord.types import MetricSpec, Role, Roles, SampleKind, role, with_roles
from monitord.yamlfile import parse_yaml

__all__ = [
    "AUTO_ALWAYS",
    "BUILTIN_CODE_PROFILES",
    "PROFILE_METRICS",
    "Column",
    "Group",
    "LabelSource",
    "MetricDef",
    "Profile",
    "ProfileSet",
    "Refresh",
    "load_builtin_profiles",
    "parse_profiles",
]

# The data profiles shipped with monitord (general MIBs, then the health ones).
_BUILTIN_FILES: Final = ("profiles.yaml", "health.yaml")
# Profiles implemented in code, not data.
BUILTIN_CODE_PROFILES: Final = ("system", "interfaces")
# Chosen for every device when `profiles` is omitted (they cost one request when absent).
AUTO_ALWAYS: Final = ("system", "interfaces", "entity", "lldp")

# The contract of the built-in data profiles (profiles.yaml refers to these by name).
_PLAIN: Final[tuple[MetricSpec, ...]] = (
    MetricSpec(
        "monitord_device_os_uptime_seconds",
        SampleKind.GAUGE,
        "Time since the host's operating system started (HOST-RESOURCES-MIB hrSystemUptime "
        "1.3.6.1.2.1.25.1.1.0); value from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_device_users",
        SampleKind.GAUGE,
        "User sessions on the host (HOST-RESOURCES-MIB hrSystemNumUsers 1.3.6.1.2.1.25.1.5.0); "
        "value from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_device_processes",
        SampleKind.GAUGE,
        "Processes running on the host (HOST-RESOURCES-MIB hrSystemProcesses "
        "1.3.6.1.2.1.25.1.6.0); value from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_storage_size_bytes",
        SampleKind.GAUGE,
        "Size of a storage area: hrStorageSize x hrStorageAllocationUnits (HOST-RESOURCES-MIB "
        "1.3.6.1.2.1.25.2.3.1.5); value from the last poll.",
        ("target", "storage"),
    ),
    MetricSpec(
        "monitord_storage_used_bytes",
        SampleKind.GAUGE,
        "Space used in a storage area: hrStorageUsed x hrStorageAllocationUnits "
        "(HOST-RESOURCES-MIB 1.3.6.1.2.1.25.2.3.1.6); value from the last poll.",
        ("target", "storage"),
    ),
    MetricSpec(
        "monitord_storage_info",
        SampleKind.INFO,
        "Storage areas the device reports (HOST-RESOURCES-MIB hrStorageTable); always 1.",
        ("target", "storage", "storage_type"),
    ),
    MetricSpec(
        "monitord_cpu_load_ratio",
        SampleKind.GAUGE,
        "Processor load over the last minute, 0-1 (HOST-RESOURCES-MIB hrProcessorLoad "
        "1.3.6.1.2.1.25.3.3.1.2; cpu is the hrDeviceIndex); value from the last poll.",
        ("target", "cpu"),
    ),
    MetricSpec(
        "monitord_device_load1",
        SampleKind.GAUGE,
        "1-minute load average (UCD-SNMP-MIB laLoad.1 1.3.6.1.4.1.2021.10.1.3.1, or laLoadInt.1 "
        "1.3.6.1.4.1.2021.10.1.5.1 / 100 when the agent has no laLoad); value from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_device_load5",
        SampleKind.GAUGE,
        "5-minute load average (UCD-SNMP-MIB laLoad.2 1.3.6.1.4.1.2021.10.1.3.2, or laLoadInt.2 "
        "1.3.6.1.4.1.2021.10.1.5.2 / 100 when the agent has no laLoad); value from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_device_load15",
        SampleKind.GAUGE,
        "15-minute load average (UCD-SNMP-MIB laLoad.3 1.3.6.1.4.1.2021.10.1.3.3, or laLoadInt.3 "
        "1.3.6.1.4.1.2021.10.1.5.3 / 100 when the agent has no laLoad); value from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_device_memory_total_bytes",
        SampleKind.GAUGE,
        "Total real memory (UCD-SNMP-MIB memTotalReal 1.3.6.1.4.1.2021.4.5.0, kB x 1024); value "
        "from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_device_memory_free_bytes",
        SampleKind.GAUGE,
        "Unused real memory (UCD-SNMP-MIB memAvailReal 1.3.6.1.4.1.2021.4.6.0, kB x 1024); value "
        "from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_device_memory_buffers_bytes",
        SampleKind.GAUGE,
        "Memory used for buffers (UCD-SNMP-MIB memBuffer 1.3.6.1.4.1.2021.4.14.0, kB x 1024); "
        "value from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_device_memory_cached_bytes",
        SampleKind.GAUGE,
        "Memory used for the page cache (UCD-SNMP-MIB memCached 1.3.6.1.4.1.2021.4.15.0, kB x "
        "1024); value from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_device_swap_total_bytes",
        SampleKind.GAUGE,
        "Total swap space (UCD-SNMP-MIB memTotalSwap 1.3.6.1.4.1.2021.4.3.0, kB x 1024); value "
        "from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_device_swap_free_bytes",
        SampleKind.GAUGE,
        "Unused swap space (UCD-SNMP-MIB memAvailSwap 1.3.6.1.4.1.2021.4.4.0, kB x 1024); value "
        "from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_device_cpu_seconds_total",
        SampleKind.COUNTER,
        "CPU time by mode (UCD-SNMP-MIB ssCpuRaw* 1.3.6.1.4.1.2021.11.50-64, ticks of 1/100 s); a "
        "decrease is read as a reset, not a wrap; value from the last poll.",
        ("target", "mode"),
    ),
    MetricSpec(
        "monitord_inventory_info",
        SampleKind.INFO,
        "Physical components (chassis, modules, power supplies, fans, stacks) with model, serial "
        "and firmware (ENTITY-MIB entPhysicalTable 1.3.6.1.2.1.47.1.1.1); refreshed with the "
        "label cache; always 1.",
        (
            "target",
            "entity_index",
            "class",
            "name",
            "descr",
            "model",
            "serial",
            "hardware",
            "firmware",
            "software",
            "mfg",
        ),
    ),
    MetricSpec(
        "monitord_lldp_local_port_info",
        SampleKind.INFO,
        "Local LLDP ports (LLDP-MIB lldpLocPortTable 1.0.8802.1.1.2.1.3.7.1); refreshed with the "
        "label cache; always 1.",
        ("target", "local_port", "port_id", "port_descr"),
    ),
    MetricSpec(
        "monitord_lldp_neighbor_info",
        SampleKind.INFO,
        "LLDP neighbours seen on each local port (LLDP-MIB lldpRemTable 1.0.8802.1.1.2.1.4.1.1; "
        "local_port joins monitord_lldp_local_port_info); refreshed with the label cache; always "
        "1.",
        (
            "target",
            "local_port",
            "remote_index",
            "chassis_id",
            "port_id",
            "port_descr",
            "remote_sysname",
        ),
    ),
    MetricSpec(
        "monitord_ups_info",
        SampleKind.INFO,
        "UPS identity (UPS-MIB upsIdent; PowerNet upsBasicIdent/upsAdvIdent; UPS-MIB has no "
        "serial number); refreshed with the label cache; always 1.",
        ("target", "manufacturer", "model", "firmware", "serial"),
    ),
    MetricSpec(
        "monitord_ups_on_battery",
        SampleKind.GAUGE,
        "1 when the UPS runs on battery (UPS-MIB upsOutputSource = battery(5); PowerNet "
        "upsBasicOutputStatus = onBattery(3)), else 0; value from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_ups_battery_low",
        SampleKind.GAUGE,
        "1 when the battery is low or depleted (UPS-MIB upsBatteryStatus 3/4; PowerNet "
        "upsBasicBatteryStatus batteryLow(3)), else 0; value from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_ups_on_battery_seconds",
        SampleKind.GAUGE,
        "Time on battery, 0 on mains (UPS-MIB upsSecondsOnBattery; PowerNet "
        "upsBasicBatteryTimeOnBattery); value from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_ups_battery_runtime_seconds",
        SampleKind.GAUGE,
        "Estimated run time left on battery (UPS-MIB upsEstimatedMinutesRemaining x 60; PowerNet "
        "upsAdvBatteryRunTimeRemaining); value from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_ups_battery_charge_ratio",
        SampleKind.GAUGE,
        "Battery charge, 0-1 (UPS-MIB upsEstimatedChargeRemaining; PowerNet "
        "upsHighPrecBatteryCapacity); value from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_ups_battery_temperature_celsius",
        SampleKind.GAUGE,
        "Battery temperature in degrees Celsius (UPS-MIB upsBatteryTemperature; PowerNet "
        "upsHighPrecBatteryTemperature); value from the last poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_ups_alarms",
        SampleKind.GAUGE,
        "Active alarms (UPS-MIB upsAlarmsPresent 1.3.6.1.2.1.33.1.6.1.0); value from the last "
        "poll.",
        ("target",),
    ),
    MetricSpec(
        "monitord_ups_input_voltage_volts",
        SampleKind.GAUGE,
        "Input voltage, RMS volts, per input line (UPS-MIB upsInputVoltage; PowerNet "
        "upsHighPrecInputLineVoltage); value from the last poll.",
        ("target", "line"),
    ),
    MetricSpec(
        "monitord_ups_output_voltage_volts",
        SampleKind.GAUGE,
        "Output voltage, RMS volts, per output line (UPS-MIB upsOutputVoltage; PowerNet "
        "upsHighPrecOutputVoltage); value from the last poll.",
        ("target", "line"),
    ),
    MetricSpec(
        "monitord_ups_load_ratio",
        SampleKind.GAUGE,
        "Output load as a share of the UPS capacity, 0-1, per output line (UPS-MIB "
        "upsOutputPercentLoad; PowerNet upsHighPrecOutputLoad); value from the last poll.",
        ("target", "line"),
    ),
    *HEALTH_METRICS,
)
PROFILE_METRICS: Final[tuple[MetricSpec, ...]] = with_roles(
    _PLAIN, {"monitord_inventory_info": role(Role.INVENTORY)}
)

_METRIC_NAME = re.compile(r"^monitord_[a-z][a-z0-9_]*$")
_ROLLUP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_LABEL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PROFILE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_INDEX_PART = re.compile(r"^index\[(-?\d+)\]$")
_RESERVED_LABELS: Final = frozenset({"target", "job", "instance", "le", "quantile"})


class Refresh(StrEnum):
    """When a group is fetched: every poll, or only when the label cache refreshes."""

    POLL = "poll"
    LABELS = "labels"


@dataclass(frozen=True, slots=True)
class Column:
    """One column (table) or instance OID (scalars) and how to render it as a label."""

    name: str
    oid: Oid
    fmt: str = "auto"  # auto | text | hex
    enum: Mapping[str, str] = field(default_factory=dict)
    hex_if: tuple[str, frozenset[str]] | None = None  # (other column, values) → render as hex
    extract: re.Pattern[str] | None = None  # a number inside a string: group 1
    subtype: str | None = None  # the column whose value is this one's LLDP ID subtype


@dataclass(frozen=True, slots=True)
class LabelSource:
    """Where a label's value comes from."""

    name: str
    column: str | None = None
    index_part: int | None = None  # component of the row index; None with no column: whole index
    const: str | None = None


_NO_ROLES: Final = Roles(frozenset())


@dataclass(frozen=True, slots=True)
class MetricDef:
    """One metric a group emits per row."""

    name: str
    kind: SampleKind
    help: str
    value: str | None = None
    labels: tuple[LabelSource, ...] = ()
    scale: float = 1.0
    multiply: str | None = None
    mapping: Mapping[int, float] | None = None
    default: float | None = None
    when: Mapping[str, frozenset[str]] = field(default_factory=dict)  # per-metric row filter
    pow10: tuple[tuple[str, int, int], ...] = ()  # x 10^(sum(factor x column + offset))
    divide: str | None = None  # by another column (a level over its maximum)
    minimum: float | None = None  # raw values below are "no value" (e.g. -2 unknown)
    add: str | None = None  # + another column (used + free = size)
    subtract: str | None = None  # - another column (total - free = used)
    roles: Roles = _NO_ROLES

    def spec(self) -> MetricSpec:
        """The published contract of this metric."""
        r = self.roles
        return MetricSpec(
            self.name,
            self.kind,
            self.help,
            ("target", *(lbl.name for lbl in self.labels)),
            roles=r.roles,
            rollup=r.rollup,
            object=r.object,
            per=r.per,
        )


@dataclass(frozen=True, slots=True)
class Group:
    """Scalars fetched with one GET, or one table's columns walked together."""

    name: str
    scalar: bool
    columns: tuple[Column, ...]
    metrics: tuple[MetricDef, ...]
    filter: Mapping[str, frozenset[str]] = field(default_factory=dict)
    refresh: Refresh = Refresh.POLL

    def column(self, name: str) -> Column:
        """The column called `name`."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class Profile:
    """A named set of groups, and when it is chosen automatically."""

    name: str
    description: str = ""
    object_ids: tuple[Oid, ...] = ()
    descr: re.Pattern[str] | None = None
    groups: tuple[Group, ...] = ()
    code: bool = False
    probes: tuple[Oid, ...] = ()  # chosen when the device answers under one of these

    def _criteria(self, sys_object_id: Oid | None, sys_descr: str) -> bool:
        if sys_object_id is not None and any(sys_object_id[: len(p)] == p for p in self.object_ids):
            return True
        return bool(self.descr is not None and sys_descr and self.descr.search(sys_descr))

    def to_probe(self, sys_object_id: Oid | None, sys_descr: str) -> bool:
        """True when this profile's probe OIDs should be asked of such a device.

        With `probe`, sysObjectID/sysDescr criteria only narrow who is asked (a vendor MIB
        is not probed on other vendors' devices); without criteria everyone is asked.
        """
        if not self.probes:
            return False
        return not (self.object_ids or self.descr) or self._criteria(sys_object_id, sys_descr)

    def matches(
        self, sys_object_id: Oid | None, sys_descr: str, answered: Set[Oid] | None = None
    ) -> bool:
        """True when a device with this sysObjectID/sysDescr should get this profile.

        `answered`: the probe OIDs the device answered (None: not probed, so no
        profile with `probe` is chosen).
        """
        if self.name in AUTO_ALWAYS:
            return True
        if self.probes:
            if answered is None:
                return False
            return self.to_probe(sys_object_id, sys_descr) and any(
                p in answered for p in self.probes
            )
        return self._criteria(sys_object_id, sys_descr)

    def specs(self) -> list[MetricSpec]:
        """Every metric this profile's groups may emit."""
        return [m.spec() for g in self.groups for m in g.metrics]


@dataclass(frozen=True, slots=True)
class ProfileSet:
    """Every known profile (built-in and user-defined), by name."""

    profiles: Mapping[str, Profile]

    def names(self) -> list[str]:
        """Known profile names, sorted."""
        return sorted(self.profiles)

    def auto(
        self, sys_object_id: Oid | None, sys_descr: str, answered: Set[Oid] | None = None
    ) -> tuple[str, ...]:
        """The profiles chosen for a device when the config names none (see `matches`)."""
        return tuple(
            n for n, p in self.profiles.items() if p.matches(sys_object_id, sys_descr, answered)
        )

    def probe_oids(self, sys_object_id: Oid | None, sys_descr: str) -> list[Oid]:
        """The OIDs to GETNEXT at a label refresh to choose the probed profiles."""
        out: dict[Oid, None] = {}
        for p in self.profiles.values():
            if p.to_probe(sys_object_id, sys_descr):
                out.update(dict.fromkeys(p.probes))
        return list(out)

    def specs(self) -> list[MetricSpec]:
        """Every metric the data profiles may emit (first definition of a name wins)."""
        seen: dict[str, MetricSpec] = {}
        for p in self.profiles.values():
            for s in p.specs():
                seen.setdefault(s.name, s)
        return list(seen.values())


def load_builtin_profiles() -> dict[str, Profile]:
    """The built-in data profiles from `profiles.yaml` (plus the code profiles' stubs)."""
    here = resources.files("collectors.snmp")
    profiles: dict[str, Profile] = {}
    for fname in _BUILTIN_FILES:
        text = here.joinpath(fname).read_text(encoding="utf-8")
        data = parse_yaml(text, f"collectors/snmp/{fname}").data
        profiles.update(parse_profiles(data, where=fname, reserved=PROFILE_METRICS))
    declared = {s.name for s in PROFILE_METRICS}
    used = {m.name for p in profiles.values() for g in p.groups for m in g.metrics}
    if used - declared:
        raise ConfigError(
            f"profiles.yaml uses undeclared metrics: {', '.join(sorted(used - declared))}"
        )
    out: dict[str, Profile] = {name: Profile(name, code=True) for name in BUILTIN_CODE_PROFILES}
    out.update(profiles)
    return out


def parse_profiles(
    data: object, *, where: str = "snmp.modules", reserved: Iterable[MetricSpec] = ()
) -> dict[str, Profile]:
    """Validate user profiles (the YAML format in the module docstring); raise ConfigError.

    `reserved` are metric specs already taken (built-in ones): a user metric may reuse
    such a name only with the same kind and labels, and then inherits its HELP.
    """
    issues: list[ConfigIssue] = []
    taken = {s.name: s for s in reserved}
    out: dict[str, Profile] = {}
    if data is None:
        return out
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of profile name → profile", field=where)
    for name, body in data.items():
        loc = f"{where}.{name}"
        try:
            out[str(name)] = _profile(str(name), body, loc, taken)
        except _Invalid as exc:
            issues.append(ConfigIssue("", 0, exc.field, exc.message))
    if issues:
        raise ConfigError(issues)
    return out


# --- parsing -----------------------------------------------------------------------


class _Invalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _mapping(value: object, loc: str, allowed: Sequence[str]) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise _Invalid(loc, "expected a mapping")
    for key in value:
        if key not in allowed:
            raise _Invalid(f"{loc}.{key}", f"unknown key (known: {', '.join(allowed)})")
    return value


def _str(value: object, loc: str) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise _Invalid(loc, "expected a string")
    return str(value)


def _oid(value: object, loc: str) -> Oid:
    try:
        return parse_oid(_str(value, loc))
    except ValueError as exc:
        raise _Invalid(loc, str(exc)) from None


def _profile(name: str, body: object, loc: str, taken: dict[str, MetricSpec]) -> Profile:
    if not _PROFILE_NAME.match(name) or name in BUILTIN_CODE_PROFILES:
        raise _Invalid(loc, f"invalid or reserved profile name {name!r}")
    m = _mapping(body, loc, ("description", "match", "scalars", "tables"))
    object_ids: list[Oid] = []
    probes: list[Oid] = []
    descr: re.Pattern[str] | None = None
    if "match" in m:
        match = _mapping(m["match"], f"{loc}.match", ("sys_object_id", "sys_descr", "probe"))
        raw_probes = match.get("probe", [])
        for i, text in enumerate(raw_probes if isinstance(raw_probes, list) else [raw_probes]):
            probes.append(_oid(text, f"{loc}.match.probe[{i}]"))
        ids = match.get("sys_object_id", [])
        if not isinstance(ids, list):
            ids = [ids]
        for i, text in enumerate(ids):
            object_ids.append(
                _oid(
                    _str(text, f"{loc}.match.sys_object_id[{i}]").rstrip("."),
                    f"{loc}.match.sys_object_id[{i}]",
                )
            )
        if "sys_descr" in match:
            try:
                descr = re.compile(_str(match["sys_descr"], f"{loc}.match.sys_descr"))
            except re.error as exc:
                raise _Invalid(
                    f"{loc}.match.sys_descr", f"invalid regular expression: {exc}"
                ) from None
    groups: list[Group] = []
    scalars = m.get("scalars", [])
    for i, body in enumerate(scalars if isinstance(scalars, list) else [scalars]):
        sloc = f"{loc}.scalars[{i}]" if isinstance(scalars, list) else f"{loc}.scalars"
        groups.append(
            _group(body, sloc, scalar=True, default_name=f"{name}.scalars{i}", taken=taken)
        )
    tables = m.get("tables", [])
    if not isinstance(tables, list):
        raise _Invalid(f"{loc}.tables", "expected a list of tables")
    for i, t in enumerate(tables):
        groups.append(
            _group(
                t, f"{loc}.tables[{i}]", scalar=False, default_name=f"{name}.table{i}", taken=taken
            )
        )
    if not groups:
        raise _Invalid(loc, "a profile needs scalars or tables")
    return Profile(
        name,
        description=_str(m.get("description", ""), f"{loc}.description"),
        object_ids=tuple(object_ids),
        descr=descr,
        groups=tuple(groups),
        probes=tuple(probes),
    )


def _group(
    body: object, loc: str, *, scalar: bool, default_name: str, taken: dict[str, MetricSpec]
) -> Group:
    keys = (
        ("columns", "metrics", "refresh")
        if scalar
        else ("name", "columns", "metrics", "refresh", "filter")
    )
    m = _mapping(body, loc, keys)
    name = _str(m.get("name", default_name), f"{loc}.name")
    raw_cols = m.get("columns")
    if not isinstance(raw_cols, Mapping) or not raw_cols:
        raise _Invalid(f"{loc}.columns", "expected a mapping of column name → OID")
    columns: list[Column] = []
    for cname, spec in raw_cols.items():
        columns.append(_column(str(cname), spec, f"{loc}.columns.{cname}"))
    names = {c.name for c in columns}
    for c in columns:
        if c.hex_if is not None and c.hex_if[0] not in names:
            raise _Invalid(f"{loc}.columns.{c.name}.hex_if", f"unknown column {c.hex_if[0]!r}")
        if c.subtype is not None and c.subtype not in names:
            raise _Invalid(f"{loc}.columns.{c.name}.subtype", f"unknown column {c.subtype!r}")
        if (c.subtype is None) != (c.fmt not in LLDP_ID_FORMATS):
            raise _Invalid(
                f"{loc}.columns.{c.name}.subtype",
                "format lldp_chassis_id / lldp_port_id and subtype go together",
            )
    try:
        refresh = Refresh(_str(m.get("refresh", "poll"), f"{loc}.refresh"))
    except ValueError:
        raise _Invalid(f"{loc}.refresh", "expected poll or labels") from None
    flt: dict[str, frozenset[str]] = {}
    if "filter" in m:
        fm = _mapping(m["filter"], f"{loc}.filter", tuple(names))
        for cname, values in fm.items():
            vals = values if isinstance(values, list) else [values]
            flt[str(cname)] = frozenset(_str(v, f"{loc}.filter.{cname}") for v in vals)
    raw_metrics = m.get("metrics")
    if not isinstance(raw_metrics, list) or not raw_metrics:
        raise _Invalid(f"{loc}.metrics", "expected a list of metrics")
    metrics = [
        _metric(x, f"{loc}.metrics[{i}]", names, scalar, taken) for i, x in enumerate(raw_metrics)
    ]
    return Group(name, scalar, tuple(columns), tuple(metrics), flt, refresh)


def _column(name: str, spec: object, loc: str) -> Column:
    if not _LABEL_NAME.match(name):
        raise _Invalid(loc, "column names are lower-case letters, digits and _")
    if not isinstance(spec, Mapping):
        return Column(name, _oid(spec, loc))
    m = _mapping(spec, loc, ("oid", "format", "enum", "hex_if", "regex", "subtype"))
    fmt = _str(m.get("format", "auto"), f"{loc}.format")
    if fmt not in ("auto", "text", "hex", *LLDP_ID_FORMATS):
        raise _Invalid(f"{loc}.format", "expected auto, text, hex, lldp_chassis_id or lldp_port_id")
    enum: dict[str, str] = {}
    if "enum" in m:
        em = m["enum"]
        if not isinstance(em, Mapping):
            raise _Invalid(f"{loc}.enum", "expected a mapping of value → text")
        enum = {str(k): _str(v, f"{loc}.enum.{k}") for k, v in em.items()}
    hex_if = None
    if "hex_if" in m:
        hm = _mapping(m["hex_if"], f"{loc}.hex_if", ("column", "in"))
        vals = hm.get("in", [])
        vals = vals if isinstance(vals, list) else [vals]
        hex_if = (_str(hm.get("column"), f"{loc}.hex_if.column"), frozenset(str(v) for v in vals))
    extract = None
    if "regex" in m:
        try:
            extract = re.compile(_str(m["regex"], f"{loc}.regex"))
        except re.error as exc:
            raise _Invalid(f"{loc}.regex", f"invalid regular expression: {exc}") from None
    subtype = _str(m["subtype"], f"{loc}.subtype") if "subtype" in m else None
    return Column(name, _oid(m.get("oid"), f"{loc}.oid"), fmt, enum, hex_if, extract, subtype)


def _metric(
    body: object, loc: str, columns: set[str], scalar: bool, taken: dict[str, MetricSpec]
) -> MetricDef:
    m = _mapping(
        body,
        loc,
        (
            "name",
            "kind",
            "help",
            "value",
            "labels",
            "scale",
            "multiply",
            "map",
            "default",
            "when",
            "pow10",
            "divide",
            "min",
            "add",
            "subtract",
            "roles",
            "rollup",
            "object",
        ),
    )
    name = _str(m.get("name"), f"{loc}.name")
    if not _METRIC_NAME.match(name):
        raise _Invalid(
            f"{loc}.name", "metric names are monitord_ followed by lower-case letters, digits and _"
        )
    try:
        kind = SampleKind(_str(m.get("kind", "gauge"), f"{loc}.kind"))
    except ValueError:
        raise _Invalid(f"{loc}.kind", "expected gauge, counter or info") from None
    if kind is SampleKind.COUNTER and not name.endswith("_total"):
        raise _Invalid(f"{loc}.name", "counter names end in _total")
    if kind is SampleKind.INFO and not name.endswith("_info"):
        raise _Invalid(f"{loc}.name", "info metric names end in _info")
    value = m.get("value")
    if kind is SampleKind.INFO:
        if value is not None:
            raise _Invalid(f"{loc}.value", "info metrics have no value (it is 1)")
    elif value is None or str(value) not in columns:
        raise _Invalid(
            f"{loc}.value", f"expected one of the group's columns ({', '.join(sorted(columns))})"
        )
    labels: list[LabelSource] = []
    raw_labels = m.get("labels", {})
    if not isinstance(raw_labels, Mapping):
        raise _Invalid(f"{loc}.labels", "expected a mapping of label name → source")
    for lname, src in raw_labels.items():
        labels.append(_label(str(lname), src, f"{loc}.labels.{lname}", columns, scalar))
    multiply = m.get("multiply")
    if multiply is not None and str(multiply) not in columns:
        raise _Invalid(f"{loc}.multiply", "expected one of the group's columns")
    mapping: dict[int, float] | None = None
    if m.get("map") is not None:
        mm = m["map"]
        if not isinstance(mm, Mapping):
            raise _Invalid(f"{loc}.map", "expected a mapping of integer value → number")
        try:
            mapping = {int(k): float(v) for k, v in mm.items()}
        except (TypeError, ValueError):
            raise _Invalid(f"{loc}.map", "expected a mapping of integer value → number") from None
    try:
        scale = float(m.get("scale", 1.0))  # type: ignore[arg-type]
        default = None if m.get("default") is None else float(m.get("default"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _Invalid(f"{loc}.scale", "expected a number") from None
    help_text = m.get("help")
    when: dict[str, frozenset[str]] = {}
    if "when" in m:
        for cname, values in _mapping(m["when"], f"{loc}.when", tuple(columns)).items():
            vals = values if isinstance(values, list) else [values]
            when[str(cname)] = frozenset(_str(v, f"{loc}.when.{cname}") for v in vals)
    pow10: list[tuple[str, int, int]] = []
    raw_pow10 = m.get("pow10") or []
    if not isinstance(raw_pow10, list):
        raise _Invalid(f"{loc}.pow10", "expected a list of {column, factor, offset}")
    for i, term in enumerate(raw_pow10):
        tm = _mapping(term, f"{loc}.pow10[{i}]", ("column", "factor", "offset"))
        if str(tm.get("column")) not in columns:
            raise _Invalid(f"{loc}.pow10[{i}].column", "expected one of the group's columns")
        try:
            pow10.append((str(tm["column"]), int(tm.get("factor", 1)), int(tm.get("offset", 0))))  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise _Invalid(f"{loc}.pow10[{i}]", "factor and offset are integers") from None
    arith: dict[str, str | None] = {}
    for key in ("divide", "add", "subtract"):
        other = m.get(key)
        if other is not None and str(other) not in columns:
            raise _Invalid(f"{loc}.{key}", "expected one of the group's columns")
        arith[key] = None if other is None else str(other)
    try:
        minimum = None if m.get("min") is None else float(m.get("min"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _Invalid(f"{loc}.min", "expected a number") from None
    roles = _roles(m, loc, [lbl.name for lbl in labels])
    metric = MetricDef(
        name,
        kind,
        _str(help_text, f"{loc}.help") if help_text is not None else "",
        None if value is None else str(value),
        tuple(labels),
        scale,
        None if multiply is None else str(multiply),
        mapping,
        default,
        when,
        tuple(pow10),
        arith["divide"],
        minimum,
        arith["add"],
        arith["subtract"],
        roles,
    )
    spec = metric.spec()
    prior = taken.get(name)
    if prior is not None:
        if (prior.kind, prior.labels) != (spec.kind, spec.labels):
            raise _Invalid(
                f"{loc}.name",
                f"{name} is already defined with kind {prior.kind} "
                f"and labels {', '.join(prior.labels)}",
            )
        if not metric.help:
            metric = replace(metric, help=prior.help)
        if not roles.roles:
            metric = replace(
                metric, roles=Roles(prior.roles, prior.rollup, prior.object, prior.per)
            )
    elif not metric.help:
        raise _Invalid(f"{loc}.help", "a new metric needs a help text (where the value comes from)")
    taken.setdefault(name, metric.spec())
    return metric


# Roles a user profile may give a metric (`roles: [distribution], rollup: cpu`): what the
# history keeps of it. Interface, inventory and check roles belong to code that reads them.
_USER_ROLES: Final = (
    Role.DISTRIBUTION,
    Role.DAILY_GAUGE,
    Role.UPTIME,
    Role.COUNTER_DISTRIBUTION,
)


def _roles(m: Mapping[str, object], loc: str, labels: Sequence[str]) -> Roles:
    raw = m.get("roles", [])
    items = raw if isinstance(raw, list) else [raw]
    out: set[Role] = set()
    for r in items:
        value = Role(str(r)) if str(r) in {k.value for k in Role} else None
        if value is None or value not in _USER_ROLES:
            known = ", ".join(k.value for k in _USER_ROLES)
            raise _Invalid(f"{loc}.roles", f"unknown role {r!r} (known: {known})")
        out.add(value)
    rollup = "" if m.get("rollup") is None else _str(m.get("rollup"), f"{loc}.rollup")
    obj = "" if m.get("object") is None else _str(m.get("object"), f"{loc}.object")
    needs = out & {Role.DISTRIBUTION, Role.DAILY_GAUGE, Role.COUNTER_DISTRIBUTION}
    if needs and not _ROLLUP_NAME.match(rollup):
        raise _Invalid(f"{loc}.rollup", "name the history series kind (e.g. cpu, mem, fs_used)")
    if obj and obj not in labels:
        raise _Invalid(f"{loc}.object", f"expected one of the labels ({', '.join(labels)})")
    return Roles(frozenset(out), rollup, obj)


def _label(name: str, src: object, loc: str, columns: set[str], scalar: bool) -> LabelSource:
    if not _LABEL_NAME.match(name) or name in _RESERVED_LABELS:
        raise _Invalid(loc, f"invalid or reserved label name {name!r}")
    text = _str(src, loc)
    if text.startswith("const:"):
        return LabelSource(name, const=text[len("const:") :])
    if text == "index" and not scalar:
        return LabelSource(name)
    if (mi := _INDEX_PART.match(text)) and not scalar:
        return LabelSource(name, index_part=int(mi.group(1)))
    if text in columns:
        return LabelSource(name, column=text)
    raise _Invalid(
        loc, f"expected a column ({', '.join(sorted(columns))}), index, index[N] or const:TEXT"
    )
