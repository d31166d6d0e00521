"""The collectors' published contracts: every MetricSpec obeys the naming rules, one name
means one thing across collectors, and what a real poll emits stays inside the table."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest

from collectors import COLLECTORS
from monitord.types import MetricSpec, SampleKind, Shared, Target
from tests.contract.declared import collector_class as _collector_class

_NAME = re.compile(r"^monitord_[a-z][a-z0-9_]*[a-z0-9]$")
# Units that must be converted to base units before a value leaves a collector.
_BAD_UNITS = re.compile(
    r"_(ms|msec|milliseconds|us|microseconds|percent|percentage|pct|kb|mb|gb|kbytes|bits|mbps)(_|$)"
)
# Labels that are never allowed (STYLE.md D): free text, clashes with Prometheus' own.
_FORBIDDEN_LABELS = {"type", "env", "region", "datacenter", "error", "message", "timestamp"}
# Descriptive labels that may only appear on an _info series.
_INFO_ONLY_LABELS = {"address", "sysdescr", "ifalias", "syslocation", "descr", "version"}


def _specs() -> Iterator[tuple[str, MetricSpec]]:
    for kind in COLLECTORS:
        for spec in _collector_class(kind).metrics:
            yield kind, spec


def test_every_registered_collector_publishes_a_table() -> None:
    counts = {kind: len(_collector_class(kind).metrics) for kind in COLLECTORS}
    assert set(counts) >= {"icmp", "host", "snmp", "agent", "postgres", "mysql", "http", "tcp"}
    assert all(n > 0 for n in counts.values()), counts


@pytest.mark.parametrize(
    ("kind", "spec"), list(_specs()), ids=[f"{k}:{s.name}" for k, s in _specs()]
)
def test_spec_obeys_the_naming_rules(kind: str, spec: MetricSpec) -> None:
    assert _NAME.match(spec.name), f"{kind}: {spec.name} is not monitord_snake_case"
    assert not _BAD_UNITS.search(spec.name), f"{kind}: {spec.name} is not in base units"
    if spec.kind is SampleKind.COUNTER:
        assert spec.name.endswith("_total"), f"{kind}: counter {spec.name} must end in _total"
    else:
        assert not spec.name.endswith("_total"), f"{kind}: {spec.name} ends in _total"
    if spec.kind is SampleKind.INFO:
        assert spec.name.endswith("_info"), f"{kind}: info series {spec.name} must end in _info"
    assert spec.help.strip(), f"{kind}: {spec.name} has no HELP"
    assert spec.labels and spec.labels[0] == "target", f"{kind}: {spec.name} labels {spec.labels}"
    assert len(set(spec.labels)) == len(spec.labels), f"{kind}: {spec.name} repeats a label"
    assert not set(spec.labels) & _FORBIDDEN_LABELS, f"{kind}: {spec.name} {spec.labels}"
    if not spec.name.endswith("_info"):
        bad = set(spec.labels) & _INFO_ONLY_LABELS
        assert not bad, f"{kind}: {spec.name} carries {bad}, which belong on an _info series"


def test_a_name_means_the_same_series_in_every_collector() -> None:
    seen: dict[str, tuple[str, SampleKind, tuple[str, ...]]] = {}
    clashes = []
    for kind, spec in _specs():
        first = seen.setdefault(spec.name, (kind, spec.kind, spec.labels))
        if (first[1], first[2]) != (spec.kind, spec.labels):
            clashes.append(f"{spec.name}: {first} vs {(kind, spec.kind, spec.labels)}")
    assert not clashes, clashes
    # host and agent publish the same host series, so dashboards need one query for both.
    host = {s.name for s in _collector_class("host").metrics}
    agent = {s.name for s in _collector_class("agent").metrics}
    assert len(host & agent) >= 20, sorted(host & agent)


@pytest.mark.parametrize("kind", ["host", "icmp"])
def test_a_real_poll_emits_only_what_the_table_declares(kind: str) -> None:
    shared = Shared()

    async def poll() -> list[object]:
        collector = COLLECTORS[kind]({"count": 2} if kind == "icmp" else {}, shared)
        try:
            return list(await collector.collect(Target("contract", "127.0.0.1")))
        finally:
            await shared.aclose()

    samples = asyncio.run(poll())
    specs = {s.name: s for s in _collector_class(kind).metrics}
    assert len(samples) >= 5, samples
    for sample in samples:
        spec = specs.get(sample.name)  # type: ignore[attr-defined]
        assert spec is not None, f"{kind} emitted {sample.name}, not in its table"  # type: ignore[attr-defined]
        assert sample.kind is spec.kind, sample  # type: ignore[attr-defined]
        assert tuple(sample.labels) == spec.labels or set(sample.labels) == set(spec.labels), (  # type: ignore[attr-defined]
            f"{sample.name}: labels {sorted(sample.labels)} vs table {spec.labels}"  # type: ignore[attr-defined]
        )
        assert sample.labels["target"] == "contract"  # type: ignore[attr-defined]
