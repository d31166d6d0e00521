"""The metric contract seen from the core: what each declared role asks of it.

`RoleIndex.of(specs)` turns the `MetricSpec`s the running collectors declare (per
instance, see `monitord.types.metrics_of`) into the lookups the state and the history
use: which series mark restarts, which go into which daily distribution or gauge,
which are interface counters. The core never names a metric or a collector kind
itself; a new collector gets its data into the history and the reports by declaring
roles on its specs (docs/development.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from monitord.types import MetricSpec, Role

__all__ = ["IFACE_FIELDS", "RoleIndex"]

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
            dists={n: k for n, k in dists.items() if not seen[n].per},
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
        )

    def consumed(self) -> frozenset[str]:
        """Every metric name the core reads through this index."""
        out: set[str] = set(self.uptime) | set(self.iface) | self.inventory | self.check_inputs
        for m in (self.dists, self.dist_max, self.counter_dists, self.gauges, self.age_gauges):
            out |= set(m)
        for n, (_, per) in self.dist_per.items():
            out |= {n, per}
        return frozenset(out)
