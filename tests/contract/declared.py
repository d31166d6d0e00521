"""What the registered collectors declare (class tables), for tests that drive the core
without a daemon: the specs, and the `RoleIndex` the daemon would build from them."""

from __future__ import annotations

import inspect
import sys
from functools import cache

from collectors import COLLECTORS
from monitord.contract import CollectorTraits, RoleIndex, collector_traits
from monitord.types import MetricSpec, reach_of

__all__ = [
    "collector_class",
    "declared_reach",
    "declared_roles",
    "declared_specs",
    "declared_traits",
]


def collector_class(kind: str) -> type:
    """The collector class registered under `kind` (one per module)."""
    module = sys.modules[COLLECTORS[kind].__module__]
    found = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and getattr(obj, "kind", None) == kind and hasattr(obj, "metrics")
    ]
    assert len(found) == 1, f"{kind}: expected one collector class in {module.__name__}: {found}"
    return found[0]


@cache
def declared_specs() -> tuple[MetricSpec, ...]:
    """Every spec of every registered collector class, in registry order."""
    return tuple(s for kind in COLLECTORS for s in collector_class(kind).metrics)


@cache
def declared_roles() -> RoleIndex:
    """The roles the daemon would use with every registered collector."""
    return RoleIndex.of(declared_specs())


def declared_reach(kind: str) -> str:
    """The `Reach` the collector registered under `kind` declares ("" for none or for a
    kind that is not a registered collector): what the runner records in the state."""
    return reach_of(collector_class(kind)) if kind in COLLECTORS else ""


@cache
def declared_traits() -> dict[str, CollectorTraits]:
    """The traits of every registered collector, as the wiring hands them to the reports."""
    return collector_traits(COLLECTORS)
