"""The metric contract seen from the core: what each declared role asks of it.

`RoleIndex.of(specs)` turns the `MetricSpec`s the running collectors declare (per
instance, see `monitord.types.metrics_of`) into the lookups the state and the history
use: which series mark restarts, which go into which daily distribution or gauge,
which are interface counters. The core never names a metric or a collector kind
itself; a new collector gets its data into the history and the reports by declaring
roles on its specs (docs/development.md).
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from monitord.types import MetricSpec, Role, reach_of

__all__ = [
    "IFACE_FIELDS",
    "CollectorTraits",
    "RoleIndex",
    "collector_traits",
    "metric_owners",
]

# The per-interface sums a spec of role INTERFACE_COUNTER may name as its rollup.
IFACE_FIELDS = frozenset(
    {"in_bytes", "out_bytes", "in_errors", "out_errors", "in_discards", "out_discards"}
)

_IFACE_ROLES = frozenset(
    {Role.INTERFACE_COUNTER, Role.INTERFACE_STATUS, Role.INTERFACE_SPEED, Role.INTERFACE_INFO}
)


@dataclass(frozen=True, slots=True)
class RoleIndex:
    """Lookups by metric name, built from the declared specs (see the module docstring)."""

    uptime: frozenset[str] = frozenset()
    # name -> history kind (and, for `per`, the name of the denominator series)
    dists: Mapping[str, str] = field(default_factory=dict)
    # name -> (history kind, label naming the object): one distribution per object
    object_dists: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    dist_per: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    dist_max: Mapping[str, str] = field(default_factory=dict)
    counter_dists: Mapping[str, str] = field(default_factory=dict)
    # name -> (history kind, label naming the object or "")
    gauges: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    age_gauges: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    iface: frozenset[str] = frozenset()
    iface_counters: Mapping[str, str] = field(default_factory=dict)
    iface_status: frozenset[str] = frozenset()
    iface_speed: frozenset[str] = frozenset()
    iface_info: frozenset[str] = frozenset()
    inventory: frozenset[str] = frozenset()
    check_inputs: frozenset[str] = frozenset()
    # CHECK_INPUT name -> the input key the security checks read it by (its rollup)
    check_keys: Mapping[str, str] = field(default_factory=dict)
    # GAUGE_META name -> (gauge kind, labels kept as that series' meta)
    gauge_meta: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    @classmethod
    def of(cls, specs: Iterable[MetricSpec]) -> RoleIndex:
        """The index of `specs` (first spec of a name wins, as in the runner)."""
        seen: dict[str, MetricSpec] = {}
        for s in specs:
            seen.setdefault(s.name, s)

        def names(r: Role) -> frozenset[str]:
            return frozenset(n for n, s in seen.items() if r in s.roles)

        def kinds(r: Role) -> dict[str, str]:
            return {n: s.rollup for n, s in seen.items() if r in s.roles and s.rollup}

        def objects(r: Role) -> dict[str, tuple[str, str]]:
            return {n: (s.rollup, s.object) for n, s in seen.items() if r in s.roles and s.rollup}

        dists = kinds(Role.DISTRIBUTION)
        return cls(
            uptime=names(Role.UPTIME),
            dists={n: k for n, k in dists.items() if not seen[n].per and not seen[n].object},
            object_dists={
                n: (k, seen[n].object)
                for n, k in dists.items()
                if seen[n].object and not seen[n].per
            },
            dist_per={n: (k, seen[n].per) for n, k in dists.items() if seen[n].per},
            dist_max=kinds(Role.DISTRIBUTION_MAX),
            counter_dists=kinds(Role.COUNTER_DISTRIBUTION),
            gauges=objects(Role.DAILY_GAUGE),
            age_gauges=objects(Role.AGE_GAUGE),
            iface=frozenset(n for n, s in seen.items() if s.roles & _IFACE_ROLES),
            iface_counters={
                n: k for n, k in kinds(Role.INTERFACE_COUNTER).items() if k in IFACE_FIELDS
            },
            iface_status=names(Role.INTERFACE_STATUS),
            iface_speed=names(Role.INTERFACE_SPEED),
            iface_info=names(Role.INTERFACE_INFO),
            inventory=names(Role.INVENTORY),
            check_inputs=names(Role.CHECK_INPUT),
            check_keys=kinds(Role.CHECK_INPUT),
            gauge_meta={
                n: (s.meta_of, s.meta_labels)
                for n, s in seen.items()
                if Role.GAUGE_META in s.roles and s.meta_of
            },
        )

    def consumed(self) -> frozenset[str]:
        """Every metric name the core reads through this index."""
        out: set[str] = set(self.uptime) | set(self.iface) | self.inventory | self.check_inputs
        for m in (
            self.dists,
            self.object_dists,
            self.dist_max,
            self.counter_dists,
            self.gauges,
            self.age_gauges,
            self.gauge_meta,
        ):
            out |= set(m)
        for n, (_, per) in self.dist_per.items():
            out |= {n, per}
        return frozenset(out)


@dataclass(frozen=True, slots=True)
class CollectorTraits:
    """What a collector class declares that the reports read, by kind (never a table of
    kinds in the core). All optional class attributes (`monitord.types.Collector`):

    - `reach`: what an answer says about the target (`Reach`), as the alert rules use it;
    - `availability_rank`: a target's availability in the reports is that of its
      collector with the lowest rank (none ranked: the first by name);
    - `service`: "web" or "database" when the collector's availability is a service the
      users see (the servers report's services table, the web indicator);
    - `check_areas`: the security-check areas its polls run (from its `checks`, RunsChecks)
      and `check_inputs`: the input keys of its CHECK_INPUT specs (the history's checks).
    """

    kind: str
    reach: str = ""
    availability_rank: int | None = None
    service: str = ""
    check_areas: frozenset[str] = frozenset()
    check_inputs: frozenset[str] = frozenset()
    specs: tuple[MetricSpec, ...] = ()  # its class's `metrics` table

    @classmethod
    def of(cls, kind: str, collector: object) -> CollectorTraits:
        """The traits a collector class (or instance) declares."""
        rank = getattr(collector, "availability_rank", None)
        service = getattr(collector, "service", "")
        checks = getattr(collector, "checks", ())
        specs = getattr(collector, "metrics", ())
        return cls(
            kind,
            reach_of(collector),
            rank if isinstance(rank, int) else None,
            service if isinstance(service, str) else "",
            frozenset(c.split(".", 1)[0] for c in checks if isinstance(c, str)),
            frozenset(
                s.rollup for s in specs if isinstance(s, MetricSpec) and Role.CHECK_INPUT in s.roles
            ),
            tuple(s for s in specs if isinstance(s, MetricSpec)),
        )


def collector_traits(factories: Mapping[str, object]) -> dict[str, CollectorTraits]:
    """The traits of every registered collector, from its factory's return type (the
    collector class: `def build(...) -> MyCollector`); handed in by the wiring."""
    out: dict[str, CollectorTraits] = {}
    for kind, factory in factories.items():
        try:
            cls = typing.get_type_hints(factory).get("return")
        except (NameError, TypeError):
            cls = None
        out[kind] = CollectorTraits.of(kind, cls) if cls is not None else CollectorTraits(kind)
    return out


def metric_owners(traits: Mapping[str, CollectorTraits]) -> dict[str, str]:
    """metric name -> the first collector kind (in `traits` order) that declares it: the
    `collector` of a series read back from Prometheus, whose series carry no such label."""
    out: dict[str, str] = {}
    for kind, t in traits.items():
        for spec in t.specs:
            out.setdefault(spec.name, kind)
    return out
