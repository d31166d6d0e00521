"""The state's keying without per-sample rework, and the rule index over it (issue 16).

- `State.record` builds a series' sorted label tuple once per labels mapping and reuses it
  while the collector hands the same mapping again (until its labels refresh);
- `SnapshotIndex` reads only the metric names the rules use, and its companion lookups
  (`divide_by`, `threshold_metric`) agree with a plain scan of the group's series.
"""

from __future__ import annotations

import random

from monitord.alerts.rules import SnapshotIndex
from monitord.state import LabelSet, SeriesValue, State
from monitord.types import Sample, SampleKind, Target

T = Target("sw-1", "127.0.0.1")


def _keys(st: State, name: str) -> dict[LabelSet, SeriesValue]:
    g = st.group("sw-1", "snmp")
    assert g is not None
    return {k[1]: v for k, v in g.series.items() if k[0] == name}


def test_same_labels_mapping_reuses_its_label_tuple(clock) -> None:
    st = State(clock)
    port = {"target": "sw-1", "ifname": "Gi0/1", "ifindex": "1"}
    samples = [
        Sample("in_bytes_total", port, 100, SampleKind.COUNTER, bits=64),
        Sample("out_bytes_total", port, 50, SampleKind.COUNTER, bits=64),
    ]
    st.record(T, "snmp", samples, ok=True)
    first = _keys(st, "in_bytes_total")
    clock.advance(10)
    st.record(
        T,
        "snmp",
        [Sample("in_bytes_total", port, 1100, SampleKind.COUNTER, bits=64)],
        ok=True,
    )
    second = _keys(st, "in_bytes_total")
    (labels1,) = first
    (labels2,) = second
    assert labels1 == (("ifindex", "1"), ("ifname", "Gi0/1"), ("target", "sw-1"))
    assert labels2 is labels1  # the same tuple object: not rebuilt nor sorted again
    assert second[labels2].rate == 100.0  # and the series continued (same key)


def test_refreshed_labels_key_the_series_by_their_new_content(clock) -> None:
    st = State(clock)
    st.record(T, "snmp", [Sample("m", {"target": "sw-1", "ifname": "a"}, 1)], ok=True)
    clock.advance(10)
    st.record(T, "snmp", [Sample("m", {"target": "sw-1", "ifname": "b"}, 2)], ok=True)
    assert set(_keys(st, "m")) == {(("ifname", "b"), ("target", "sw-1"))}
    snap = st.snapshot()
    assert snap.value("sw-1", "snmp", "m", ifname="b") == 2
    assert snap.value("sw-1", "snmp", "m", ifname="a") is None


def _scan(series: list[SeriesValue], labels: LabelSet, on: list[str]) -> SeriesValue | None:
    """The companion lookup as a linear scan (the behaviour the index keeps)."""
    want = dict(labels)
    for sv in series:
        have = dict(sv.labels)
        keys = on or [k for k in want if k != "target"]
        if all(have.get(k) == want.get(k) for k in keys):
            if on or len(have) == len(want):
                return sv
    return None


def test_companion_lookups_agree_with_a_scan(clock) -> None:
    rng = random.Random(16)
    st = State(clock)
    samples = []
    for i in range(200):
        port = {"target": "sw-1", "ifindex": str(rng.randrange(60)), "ifname": f"p{i % 7}"}
        samples.append(Sample("used", port, rng.random()))
        if rng.random() < 0.7:
            samples.append(Sample("size", dict(port), rng.random()))
        if rng.random() < 0.1:  # odd ones: no target label, an extra label
            odd = {"ifindex": port["ifindex"], "ifname": port["ifname"], "x": "1"}
            samples.append(Sample("size", odd, rng.random()))
        if rng.random() < 0.2:
            samples.append(Sample("size", {**port, "unit": "b"}, rng.random()))
    st.record(T, "snmp", samples, ok=True)
    index = SnapshotIndex(st.snapshot())
    g = st.group("sw-1", "snmp")
    assert g is not None
    sizes = [sv for sv in g.series.values() if sv.name == "size"]
    checked = 0
    for _, sv in index.series("used"):
        for on in ([], ["ifindex"], ["ifname"], ["ifindex", "ifname"]):
            assert index.companion(g, "size", sv.labels, on) is _scan(sizes, sv.labels, on)
            checked += 1
    assert checked > 200


def test_series_by_name_across_groups_in_order(clock) -> None:
    st = State(clock)
    for t in ("sw-1", "sw-2"):
        st.record(
            Target(t, "127.0.0.1"),
            "snmp",
            [Sample(f"m{i}", {"target": t, "i": str(i % 3)}, i) for i in range(50)],
            ok=True,
        )
    index = SnapshotIndex(st.snapshot())
    assert [(g.target.name, sv.value) for g, sv in index.series("m7")] == [
        ("sw-1", 7),
        ("sw-2", 7),
    ]
    assert index.series("absent") == []


def test_threshold_observations_follow_new_polls_and_info_from_other_groups(clock) -> None:
    from monitord.alerts.config import InfoJoin, RuleConfig, RuleKind
    from monitord.alerts.rules import Evaluator

    rule = RuleConfig(
        kind=RuleKind.THRESHOLD,
        metric="errors",
        threshold=5.0,
        info=InfoJoin(metric="port_info", on=["port"], where={"role": "uplink"}),
    )
    ev = Evaluator("uplink_errors", rule)
    st = State(clock)
    st.set_targets([T])
    port = {"target": "sw-1", "port": "1"}
    st.record(T, "snmp", [Sample("errors", port, 9)], ok=True)
    st.record(T, "inventory", [Sample("port_info", {**port, "role": "access"}, 1)], ok=True)

    def observe() -> list[tuple[float | None, bool]]:
        return [(o.value, o.firing) for o in ev.observe(SnapshotIndex(st.snapshot()), 0.0)]

    assert observe() == []  # the port is not an uplink
    st.record(T, "inventory", [Sample("port_info", {**port, "role": "uplink"}, 1)], ok=True)
    assert observe() == [(9, True)]  # the other group's new info is seen
    assert observe() == [(9, True)]  # nothing changed: the same answer
    st.record(T, "snmp", [Sample("errors", port, 1)], ok=True)
    assert observe() == [(1, False)]  # a new poll of the group is seen


def test_rules_on_one_interface_share_its_instance_labels(clock) -> None:
    from monitord.alerts.config import RuleConfig, RuleKind
    from monitord.alerts.rules import Evaluator, InstanceLabels

    st = State(clock)
    st.set_targets([T])
    port = {"target": "sw-1", "ifname": "Gi0/1", "ifindex": "1"}
    st.record(T, "snmp", [Sample("in_errors", port, 9), Sample("out_errors", port, 2)], ok=True)
    rules = {
        name: Evaluator(name, RuleConfig(kind=RuleKind.THRESHOLD, metric=metric, threshold=5.0))
        for name, metric in (("in", "in_errors"), ("out", "out_errors"))
    }
    labels = InstanceLabels()
    labels.next_generation()
    index = SnapshotIndex(st.snapshot(), labels)
    (a,) = rules["in"].observe(index, 0.0)
    (b,) = rules["out"].observe(index, 0.0)
    assert (a.value, a.firing, b.value, b.firing) == (9, True, 2, False)
    assert a.labels == {"ifindex": "1", "ifname": "Gi0/1"}  # without target
    assert a.key == b.key == ("sw-1", (("ifindex", "1"), ("ifname", "Gi0/1")))
    assert a.labels is b.labels and a.key[1] is b.key[1]  # one per interface, not per rule
    # the next evaluation reuses what this one made; one that used other label sets only
    # lets it go (an evaluation that looked nothing up, all reused, drops nothing)
    (group,) = st.snapshot().groups.values()
    sv_labels = next(iter(group.series.values())).labels
    labels.next_generation()
    labels.next_generation()
    assert labels.of(sv_labels)[0] is a.labels
    labels.next_generation()
    labels.of((("target", "sw-2"),))
    labels.next_generation()
    fresh = labels.of(sv_labels)[0]
    assert fresh == a.labels and fresh is not a.labels
