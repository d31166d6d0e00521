"""The shared vocabulary of monitord: samples, metric specs, targets, failure reasons, clocks.

Collectors and exporters import only this module, `monitord.errors` and
`monitord.config`; everything that crosses the core's boundary is one of these types.

The metric contract: a collector declares every series it may emit as a `MetricSpec`
(per class in `metrics`, and per instance in `extra_metrics` when its config adds some,
see `metrics_of`). A spec's `roles` say what the core may do with the series (`Role`):
the history's rollups, restarts and inventory are built from the declared roles, never
from collector kinds or metric names. Optional capabilities (`ChecksTarget`, `FetchesInventory`,
`InventoryFromPoll`, `RunsChecks`, `InstanceMetrics`, `SettingsFingerprint`) replace
checks of the collector's kind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

__all__ = [
    "LEGACY_SEVERITY_WORDS",
    "POLL_DEADLINE",
    "SYSLOG_SEVERITY",
    "ChecksTarget",
    "Clock",
    "Closable",
    "Collector",
    "CollectorFactory",
    "DeviceEvent",
    "DeviceEventKind",
    "EventOrigin",
    "FailureReason",
    "FetchesInventory",
    "FetchesTableSizes",
    "InstanceMetrics",
    "InventoryFromPoll",
    "MetricSpec",
    "Reach",
    "Role",
    "Roles",
    "RunsChecks",
    "Sample",
    "SampleKind",
    "SettingsFingerprint",
    "Severity",
    "Shared",
    "SystemClock",
    "TableSize",
    "Target",
    "TargetKind",
    "concurrency_of",
    "metrics_of",
    "reach_of",
    "role",
    "with_roles",
]


# The event-loop time (loop.time()) at which the runner cancels the poll in progress, set
# around each collect(); None outside a poll. A collector with its own inner deadline (the
# SNMP walk budget) keeps it below this one, so an overrun returns partial data, not nothing.
POLL_DEADLINE: ContextVar[float | None] = ContextVar("monitord_poll_deadline", default=None)


class SampleKind(StrEnum):
    """How a sample's value is to be read."""

    GAUGE = "gauge"
    COUNTER = "counter"
    INFO = "info"


class FailureReason(StrEnum):
    """Closed set of reasons a poll can fail; used as the `reason` label."""

    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    DNS = "dns"
    AUTH = "auth"
    REFUSED = "refused"
    MALFORMED = "malformed"
    PERMISSION = "permission"
    TLS = "tls"
    CONFIG = "config"
    INTERNAL = "internal"


class TargetKind(StrEnum):
    """What a target is; drives report grouping and default profiles."""

    ROUTER = "router"
    SWITCH = "switch"
    FIREWALL = "firewall"
    SERVER = "server"
    DATABASE = "database"
    UPS = "ups"
    WEBSITE = "website"
    ACCESS_POINT = "access_point"
    PRINTER = "printer"
    STORAGE = "storage"
    OTHER = "other"


class Role(StrEnum):
    """What the core may do with a series (closed set; a spec may carry several).

    `rollup` on the spec names the history's series kind the value is kept under
    (the reports read those kinds: "rtt", "cpu", "fs_used", "in_bytes"...); `object`
    names the label that tells objects apart (mountpoint, database, backup).
    """

    UPTIME = "uptime"  # seconds since start; a decrease is a restart (counters reset)
    DISTRIBUTION = "distribution"  # daily distribution of the value (RTT, loss, CPU);
    # with `object`: one distribution per object (a service's share of polls running)
    DISTRIBUTION_MAX = "distribution_max"  # raises the max of that distribution (RTT max)
    RATIO_PART = "ratio_part"  # numerator of a ratio kept as a distribution (memory used)
    RATIO_WHOLE = "ratio_whole"  # its denominator (memory total)
    COUNTER_DISTRIBUTION = "counter_distribution"  # increase per poll as a distribution
    DAILY_GAUGE = "daily_gauge"  # first/last/min/max per object and day (sizes)
    AGE_GAUGE = "age_gauge"  # an age, kept as the time it points at (ts - value)
    INTERFACE_COUNTER = "interface_counter"  # rolled up per interface: rate x elapsed
    INTERFACE_STATUS = "interface_status"  # per interface: up seconds, changes
    INTERFACE_SPEED = "interface_speed"  # per interface: bytes/s, for busy seconds
    INTERFACE_INFO = "interface_info"  # per interface: ifalias (WAN by alias), ifindex
    INVENTORY = "inventory"  # inventory facts, read by the collector's InventoryFromPoll
    CHECK_INPUT = "check_input"  # input of a security check (findings)
    GAUGE_META = "gauge_meta"  # info series: its `meta_labels` are kept as the meta of the
    # history series of gauge kind `meta_of` in the same group (certificate issuer, engine)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One series family a collector may emit: its published contract.

    The HELP text says where the value comes from (MIB object and OID, psutil call...)
    and that it is the value from the last poll. `labels` lists every label the
    collector sets, `target` first. `roles`, `rollup` and `object` say what the core
    does with it (see `Role`); a spec with no roles is exposed and alertable only.
    """

    name: str
    kind: SampleKind
    help: str
    labels: tuple[str, ...] = ("target",)
    unit: str = ""
    roles: frozenset[Role] = frozenset()
    rollup: str = ""
    object: str = ""
    per: str = ""  # DISTRIBUTION of value / the series named here (memory used / total)
    meta_of: str = ""  # GAUGE_META: the gauge kind whose series keep the labels below
    meta_labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Roles:
    """What `with_roles` gives one spec: its roles and where the history keeps it."""

    roles: frozenset[Role]
    rollup: str = ""
    object: str = ""
    per: str = ""


def role(*roles: Role, rollup: str = "", object: str = "", per: str = "") -> Roles:
    """Roles of one spec, for `with_roles`."""
    return Roles(frozenset(roles), rollup, object, per)


def with_roles(specs: Iterable[MetricSpec], table: Mapping[str, Roles]) -> tuple[MetricSpec, ...]:
    """`specs` with the roles of `table` (by metric name) set; a name not in specs raises."""
    out = list(specs)
    names = {s.name for s in out}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ValueError(f"roles for undeclared metrics: {', '.join(unknown)}")
    return tuple(
        replace(s, roles=r.roles, rollup=r.rollup, object=r.object, per=r.per)
        if (r := table.get(s.name)) is not None
        else s
        for s in out
    )


@dataclass(frozen=True, slots=True, init=False)
class Sample:
    """One value of one series, as a collector saw it.

    `value` is in base units. Counters carry the raw device counter (an int where the
    device gives one, so the wrap arithmetic stays exact); `bits` is the counter's
    width (32, 64, or 0 when unknown); `increment=True` means the value is to be
    added to the running total instead of replacing it; `max_rate` (per second, 0 when
    unknown) bounds a plausible rate, e.g. the interface speed, so a reset read as a
    wrap cannot produce a spike.
    """

    name: str
    labels: Mapping[str, str]
    value: float
    kind: SampleKind = SampleKind.GAUGE
    ts: float = 0.0
    bits: int = 0
    increment: bool = False
    max_rate: float = 0.0

    def __init__(
        self,
        name: str,
        labels: Mapping[str, str],
        value: float,
        kind: SampleKind = SampleKind.GAUGE,
        ts: float = 0.0,
        bits: int = 0,
        increment: bool = False,
        max_rate: float = 0.0,
    ) -> None:
        # The dataclass's own __init__ of a frozen class goes through object.__setattr__
        # per field; the slots' setters straight away cost 40 % less, and a poll of a
        # switch builds hundreds of samples (fields, defaults and order are unchanged).
        _SAMPLE_SET[0](self, name)
        _SAMPLE_SET[1](self, labels)
        _SAMPLE_SET[2](self, value)
        _SAMPLE_SET[3](self, kind)
        _SAMPLE_SET[4](self, ts)
        _SAMPLE_SET[5](self, bits)
        _SAMPLE_SET[6](self, increment)
        _SAMPLE_SET[7](self, max_rate)


_SAMPLE_SET: tuple[Callable[[Sample, Any], None], ...] = tuple(
    getattr(Sample, f.name).__set__ for f in fields(Sample)
)


@dataclass(frozen=True, slots=True)
class Target:
    """A named thing to watch, as the collectors see it (no secrets here)."""

    name: str
    address: str
    kind: TargetKind = TargetKind.OTHER
    site: str = ""
    parent: str | None = None
    tags: tuple[str, ...] = ()
    critical: bool = False
    description: str = ""


class Severity(StrEnum):
    """The one severity vocabulary: alert rules, notifier filters, security findings and
    the reports (most urgent first; `rank` orders them).

    Alerts leave monitord with the Alertmanager words their receivers route on
    (`alert_label`): critical -> "critical"; high, medium -> "warning"; low, info -> "info".
    Config and rules still accept the former alert word "warning" (= medium). The
    reports' labels come from the message catalogues (`severity.<value>`, es/en).
    """

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical ... 4 for info."""
        return _SEVERITY_ORDER.index(self)

    @property
    def alert_label(self) -> str:
        """The word an alert carries (label `severity`, notifications, the event log)."""
        return _ALERT_LABEL[self]

    @classmethod
    def from_syslog(cls, level: int) -> Severity:
        """The severity of a syslog message of `level` 0-7 (RFC 5424 6.2.1; `SYSLOG_SEVERITY`)."""
        return SYSLOG_SEVERITY[min(max(int(level), 0), 7)]

    @classmethod
    def parse(cls, word: object) -> Severity:
        """A severity from its word, the former alert word "warning" included (= medium);
        ValueError naming the accepted words otherwise."""
        if isinstance(word, Severity):
            return word
        w = str(word).strip().lower()
        if w in LEGACY_SEVERITY_WORDS:
            return LEGACY_SEVERITY_WORDS[w]
        try:
            return cls(w)
        except ValueError:
            known = ", ".join([*(s.value for s in cls), *LEGACY_SEVERITY_WORDS])
            raise ValueError(f"unknown severity {word!r} (known: {known})") from None


_SEVERITY_ORDER: tuple[Severity, ...] = tuple(Severity)
_ALERT_LABEL: dict[Severity, str] = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "warning",
    Severity.MEDIUM: "warning",
    Severity.LOW: "info",
    Severity.INFO: "info",
}
# former words -> the vocabulary (alerts said critical / warning / info)
LEGACY_SEVERITY_WORDS: dict[str, Severity] = {"warning": Severity.MEDIUM}
# syslog severity 0-7 (RFC 5424 6.2.1) -> the vocabulary (docs/events.md, "Severity"):
# emerg, alert, crit -> critical; err -> high; warning -> medium (as the former word);
# notice ("normal but significant") -> low; info, debug -> info
SYSLOG_SEVERITY: tuple[Severity, ...] = (
    Severity.CRITICAL,  # 0 emerg
    Severity.CRITICAL,  # 1 alert
    Severity.CRITICAL,  # 2 crit
    Severity.HIGH,  # 3 err
    Severity.MEDIUM,  # 4 warning
    Severity.LOW,  # 5 notice
    Severity.INFO,  # 6 info
    Severity.INFO,  # 7 debug
)


class EventOrigin(StrEnum):
    """How a device told us something on its own (the `source` label of event counters)."""

    TRAP = "trap"
    SYSLOG = "syslog"


class DeviceEventKind(StrEnum):
    """What a device event means (the `kind` label of event counters); a closed set."""

    INTERFACE = "interface"
    REBOOT = "reboot"
    FAILED_LOGIN = "failed_login"
    CONFIG_CHANGE = "config_change"
    HEALTH = "health"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """One message a device sent (trap, inform or syslog line), already given its meaning.

    `address` is the sender's IP as seen on the socket; `agent` the agent-addr of a v1
    trap or the HOSTNAME of a syslog line (either may name the device when a relay
    sent it); `name` the table entry that matched (`linkDown`, `cisco_login_failed`) or
    the trap OID for an unknown trap; `fields` what the entry extracted (`ifindex`,
    `user`...), and for unknown traps the varbinds as `oid -> value`; `repoll` asks the
    core for a fresh poll of the device (its state changed: a link went down);
    `severity` in the one vocabulary: the table entry's, else a syslog message's own
    level (`Severity.from_syslog`), else info.
    """

    ts: float
    origin: EventOrigin
    address: str
    kind: DeviceEventKind
    name: str
    message: str = ""
    agent: str = ""
    severity: Severity = Severity.INFO
    fields: Mapping[str, str] = field(default_factory=dict)
    repoll: bool = False


class Clock(Protocol):
    """Time source injected into the state and the scheduler glue."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes back."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch."""


@dataclass(frozen=True, slots=True)
class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes back."""
        return time.monotonic()

    def time(self) -> float:
        """Wall-clock seconds since the epoch."""
        return time.time()


class Reach(StrEnum):
    """What a collector's answer says about its target (`reach` on the collector class).

    The built-in `down` rules select collectors by reach, never by kind: `target_down` is
    "every DEVICE collector of the target is down", `database_down` "a DATABASE collector
    is down". A collector without `reach` only counts for rules that name its kind.
    """

    DEVICE = "device"  # an answer means the device itself is up (ping, SNMP, agent, ...)
    DATABASE = "database"  # the database server on the target answers


class Collector(Protocol):
    """One poll of one target; stateless between calls.

    Optional class attributes the core reads (absent: the default in brackets):
    `concurrency: ClassVar[int]`, the polls of this kind in flight at once
    (`daemon.concurrency` overrides it) [64]; `reach: ClassVar[Reach]`, what an answer
    says about the target (see `Reach`) [none].
    """

    kind: ClassVar[str]
    metrics: ClassVar[tuple[MetricSpec, ...]]

    async def collect(self, target: Target) -> list[Sample]:
        """Poll `target` once; raise `CollectorError` subclasses only."""
        ...


class CollectorFactory(Protocol):
    """Validates options at config load and builds a collector."""

    def __call__(self, options: Mapping[str, object], shared: Shared) -> Collector:
        """Raise `ConfigError` naming the field on bad options."""
        ...


@runtime_checkable
class InstanceMetrics(Protocol):
    """Capability: an instance declares metrics beyond its class's `metrics` table.

    The SNMP collector's user profiles (`snmp.modules:`) add metrics per instance.
    """

    extra_metrics: tuple[MetricSpec, ...]


def concurrency_of(collector: object, default: int = 64) -> int:
    """The polls of this collector's kind in flight at once, as its class declares."""
    value = getattr(collector, "concurrency", default)
    return value if isinstance(value, int) and value >= 1 else default


def reach_of(collector: object) -> str:
    """The collector's declared `Reach` value, or "" when it declares none."""
    value = getattr(collector, "reach", "")
    return str(value) if isinstance(value, Reach) else ""


def metrics_of(collector: object) -> tuple[MetricSpec, ...]:
    """Every spec a collector instance declares: its class table, then its extra ones."""
    own: tuple[MetricSpec, ...] = getattr(collector, "metrics", ())
    if isinstance(collector, InstanceMetrics):
        return (*own, *collector.extra_metrics)
    return tuple(own)


@runtime_checkable
class SettingsFingerprint(Protocol):
    """Capability: built also from settings outside its options (SNMP profiles).

    A reload replaces the running job when the fingerprint changes.
    """

    def settings_fingerprint(self) -> str:
        """A digest of those settings."""
        ...


@runtime_checkable
class ChecksTarget(Protocol):
    """Capability: config-time checks that need the target (the agent's default url)."""

    def check_target(self, target: Target) -> None:
        """Raise ConfigError when the options do not suit `target`."""
        ...


@runtime_checkable
class FetchesInventory(Protocol):
    """Capability: fetches a target's inventory on its own schedule (the host agent)."""

    inventory_every: float  # polls between two fetches

    async def inventory(self, target: Target) -> dict[str, object]:
        """The inventory document; raise `CollectorError` subclasses only."""
        ...


@dataclass(frozen=True, slots=True)
class TableSize:
    """One of the largest tables of a database, for the monthly report (never a label).

    `bytes` is the table's total on-disk size (data, indexes and TOAST/LOB where the
    engine reports them); `rows` the engine's row estimate, None when it has none.
    `schema` is empty where the engine has no schema inside a database (MySQL).
    """

    database: str
    schema: str
    table: str
    bytes: int
    rows: int | None = None


@runtime_checkable
class FetchesTableSizes(Protocol):
    """Capability: lists a database server's largest tables on a slow schedule (the
    servers report's database section); the history keeps one snapshot a day."""

    tables_every: float  # seconds between two fetches

    async def largest_tables(self, target: Target, n: int | None = None) -> list[TableSize]:
        """The largest tables (the collector's own top N when `n` is None); raise
        `CollectorError` subclasses only."""
        ...


@runtime_checkable
class InventoryFromPoll(Protocol):
    """Capability: derives an inventory from a poll's series of role INVENTORY (SNMP)."""

    def inventory_from(
        self, target: Target, series: list[tuple[str, Mapping[str, str], float]]
    ) -> dict[str, object]:
        """The inventory from (name, labels, value) of the INVENTORY series; {} if none."""
        ...


@runtime_checkable
class RunsChecks(Protocol):
    """Capability: a successful poll runs these security checks (history check names).

    A check that ran and found nothing is recorded as passed for the period.
    """

    checks: ClassVar[tuple[str, ...]]


@runtime_checkable
class Closable(Protocol):
    """Optional capability of a collector or shared resource that holds sockets."""

    async def aclose(self) -> None:
        """Release what it holds."""
        ...


T = TypeVar("T")


class Shared:
    """Expensive resources shared by the collectors (one SNMP engine, one ICMP socket...).

    Resources are created lazily, on first use inside the running event loop, by the
    factory the collector passes; `aclose()` closes every resource that is `Closable`,
    newest first. `limits` carries the configured concurrency caps by collector kind.

    `settings` holds config-wide data the collectors read (the `snmp:` section, the list
    of target addresses). A reload builds its collectors against `staged()`, a view with
    its own settings and the same resources; `commit()` makes those settings the live
    ones for every collector at once, so a refused reload changes nothing.
    """

    def __init__(self, limits: Mapping[str, int] | None = None) -> None:
        self.limits: dict[str, int] = dict(limits or {})
        self._settings: dict[str, object] = {}
        self._resources: dict[str, object] = {}
        self._root: Shared = self
        self._staged: dict[str, object] | None = None

    @property
    def settings(self) -> dict[str, object]:
        """The live settings, or the pending ones of a staged view not yet committed."""
        return self._staged if self._staged is not None else self._root._settings

    def staged(self) -> Shared:
        """A view sharing this object's resources, with empty pending settings."""
        view = Shared.__new__(Shared)
        view.limits, view._resources = self.limits, self._resources
        view._settings, view._root, view._staged = {}, self._root, {}
        return view

    def commit(self) -> None:
        """Make a staged view's settings the live ones (no-op on a committed object)."""
        if self._staged is None:
            return
        live = self._root._settings
        live.clear()
        live.update(self._staged)
        self._staged = None

    def get(self, key: str, factory: Callable[[], T]) -> T:
        """Return the resource stored under `key`, creating it with `factory` once."""
        if key not in self._resources:
            self._resources[key] = factory()
        return self._resources[key]  # type: ignore[return-value]

    def peek(self, key: str) -> object | None:
        """Return the resource under `key` if it was created, else None."""
        return self._resources.get(key)

    async def aclose(self) -> None:
        """Close every Closable resource, newest first, and forget them all."""
        items = list(self._resources.values())
        self._resources.clear()
        for res in reversed(items):
            if isinstance(res, Closable):
                await res.aclose()
