"""The rolling state: counter arithmetic, rates, hysteresis, events, pruning, snapshots."""

from __future__ import annotations

import threading

import pytest

from monitord.state import EventKind, State, counter_delta
from monitord.types import Sample, SampleKind, Target

T = Target("sw-1", "127.0.0.1")
C32 = 1 << 32
C64 = 1 << 64


@pytest.mark.parametrize(
    ("prev", "cur", "bits", "max_delta", "expected"),
    [
        (100, 250, 32, 0.0, 150),
        (C32 - 10, 5, 32, 0.0, 15),  # 32-bit wrap
        (C64 - 10, 5, 64, 0.0, 15),  # 64-bit wrap near the top
        (5_000_000_000, 1000, 64, 0.0, None),  # 64-bit going back from low: a reset
        (
            3_000_000_000,
            1_000_000,
            32,
            0.0,
            C32 - 3_000_000_000 + 1_000_000,
        ),  # plausible 32-bit wrap
        (3_000_000_000, 1_000_000, 32, 1e6, None),  # ... but faster than the link allows
        (500, 100, 0, 0.0, None),  # unknown width: a decrease is a reset
        (100, 100, 64, 0.0, 0),
        (100, 10_000, 64, 1000.0, None),  # increase larger than speed x interval
    ],
    ids=[
        "increase",
        "wrap32",
        "wrap64",
        "reset64",
        "wrap32-plausible",
        "wrap32-too-fast",
        "reset-unknown",
        "flat",
        "spike",
    ],
)
def test_counter_delta_table(
    prev: int, cur: int, bits: int, max_delta: float, expected: int | None
) -> None:
    assert counter_delta(prev, cur, bits, max_delta=max_delta) == expected


@pytest.mark.parametrize(
    ("prev", "cur", "max_delta", "expected"),
    [
        (C32 - 1000, 3000, 0.0, None),  # no uptime, no speed: nothing makes a wrap plausible
        (C32 - 1000, 3000, 125e6 * 60, 4000),  # a wrap that fits speed x interval
        (3_000_000_000, 1_000_000, 12.5e6 * 60 * 1.1, None),  # 1.3 GB in 60 s at 100 Mb/s
        (1000, 3000, 0.0, 2000),  # an increase needs no uptime
    ],
    ids=["unbounded-reset", "bounded-wrap", "bounded-reset", "increase"],
)
def test_counter32_decrease_without_uptime(
    prev: int, cur: int, max_delta: float, expected: int | None
) -> None:
    assert counter_delta(prev, cur, 32, max_delta=max_delta, uptime_known=False) == expected


def _bounded(value: int, bits: int, max_rate: float) -> Sample:
    return Sample(
        "monitord_interface_in_bytes_total",
        {"target": "sw-1", "ifname": "ge1"},
        value,
        SampleKind.COUNTER,
        bits=bits,
        max_rate=max_rate,
    )


def test_counter32_going_back_without_uptime_is_a_reset_not_a_spike(clock) -> None:
    # A device without sysUpTime restarts its agent: 3 GB -> 1 MB on a 100 Mb/s port.
    # As a wrap that would be 1.29 GB in 60 s (21 MB/s, past the link); it is a reset.
    st = State(clock)
    st.record(T, "snmp", [_bounded(3_000_000_000, 32, 12.5e6)], ok=True)
    clock.advance(60)
    st.record(T, "snmp", [_bounded(1_000_000, 32, 12.5e6)], ok=True)
    snap = st.snapshot()
    assert snap.value("sw-1", "snmp", "monitord_interface_in_bytes_total", ifname="ge1") == (
        1_000_000
    )
    assert snap.rate("sw-1", "snmp", "monitord_interface_in_bytes_total", ifname="ge1") is None
    # ... while a real wrap of the same port (60 MB in 60 s) still counts.
    clock.advance(60)
    st.record(T, "snmp", [_bounded(C32 - 10_000_000, 32, 12.5e6)], ok=True)
    clock.advance(60)
    st.record(T, "snmp", [_bounded(50_000_000, 32, 12.5e6)], ok=True)
    rate = st.snapshot().rate("sw-1", "snmp", "monitord_interface_in_bytes_total", ifname="ge1")
    assert rate == pytest.approx(60_000_000 / 60)


def test_counter_width_change_is_a_new_baseline(clock) -> None:
    # The same port read as ifHCInOctets, then ifInOctets, then ifHCInOctets again.
    hc = 1_006_632_688_123
    st = State(clock, uptime_names=frozenset({"monitord_device_uptime_seconds"}))
    rates = []
    for bits in (64, 32, 64, 64):
        st.record(
            T,
            "snmp",
            [
                _uptime(100 + clock.monotonic()),
                _bounded(hc if bits == 64 else hc % 2**32, bits, 0.0),
            ],
            ok=True,
        )
        rates.append(
            st.snapshot().rate("sw-1", "snmp", "monitord_interface_in_bytes_total", ifname="ge1")
        )
        clock.advance(60)
    assert rates == [None, None, None, 0.0]


def _counter(value: int, bits: int = 64, **labels: str) -> Sample:
    return Sample(
        "monitord_interface_in_bytes_total",
        {"target": "sw-1", **labels},
        value,
        SampleKind.COUNTER,
        bits=bits,
    )


def _uptime(seconds: float) -> Sample:
    return Sample("monitord_device_uptime_seconds", {"target": "sw-1"}, seconds)


def test_counter32_wrap_accumulates_delta(clock) -> None:
    # The device reports an uptime that did not go back: the decrease is a wrap.
    st = State(clock, uptime_names=frozenset({"monitord_device_uptime_seconds"}))
    st.record(T, "snmp", [_uptime(100), _counter(C32 - 1000, bits=32, ifname="ge1")], ok=True)
    clock.advance(10)
    st.record(T, "snmp", [_uptime(110), _counter(3000, bits=32, ifname="ge1")], ok=True)
    snap = st.snapshot()
    assert snap.value("sw-1", "snmp", "monitord_interface_in_bytes_total", ifname="ge1") == 3000
    assert snap.rate(
        "sw-1", "snmp", "monitord_interface_in_bytes_total", ifname="ge1"
    ) == pytest.approx(400.0)


def test_uptime_going_back_yields_no_rate_then_recovers(clock) -> None:
    # the daemon sets the names of role UPTIME from the collectors' declared specs
    st = State(clock, uptime_names=frozenset({"monitord_device_uptime_seconds"}))
    st.record(T, "snmp", [_uptime(5000), _counter(C32 - 1000, bits=32)], ok=True)
    clock.advance(60)
    # Device rebooted: uptime went back; the counter decrease must not be read as a wrap.
    st.record(T, "snmp", [_uptime(30), _counter(10, bits=32)], ok=True)
    assert st.snapshot().rate("sw-1", "snmp", "monitord_interface_in_bytes_total") is None
    clock.advance(60)
    st.record(T, "snmp", [_uptime(90), _counter(610, bits=32)], ok=True)
    assert st.snapshot().rate("sw-1", "snmp", "monitord_interface_in_bytes_total") == pytest.approx(
        10.0
    )


def test_max_rate_drops_spike(clock) -> None:
    st = State(clock)
    s1 = Sample(
        "monitord_interface_in_bytes_total",
        {"target": "sw-1"},
        0,
        SampleKind.COUNTER,
        bits=64,
        max_rate=1000,
    )
    st.record(T, "snmp", [s1], ok=True)
    clock.advance(10)
    s2 = Sample(
        "monitord_interface_in_bytes_total",
        {"target": "sw-1"},
        10**9,
        SampleKind.COUNTER,
        bits=64,
        max_rate=1000,
    )
    st.record(T, "snmp", [s2], ok=True)
    assert st.snapshot().rate("sw-1", "snmp", "monitord_interface_in_bytes_total") is None


def test_increment_counters_accumulate(clock) -> None:
    st = State(clock)
    for _ in range(4):
        st.record(
            T,
            "icmp",
            [
                Sample(
                    "monitord_icmp_packets_sent_total",
                    {"target": "sw-1"},
                    3,
                    SampleKind.COUNTER,
                    increment=True,
                )
            ],
            ok=True,
        )
    assert st.snapshot().value("sw-1", "icmp", "monitord_icmp_packets_sent_total") == 12


def test_hysteresis_and_events(clock) -> None:
    st = State(clock, failures_to_down=2, successes_to_up=2)
    assert st.record(T, "icmp", [], ok=True) == []  # unknown -> up: no event
    assert st.snapshot().groups[("sw-1", "icmp")].up is True
    assert st.record(T, "icmp", [], ok=False, reason="timeout") == []  # one failure: still up
    assert st.snapshot().groups[("sw-1", "icmp")].up is True
    clock.advance(30)
    events = st.record(T, "icmp", [], ok=False, reason="timeout", message="no reply")
    assert [(e.kind, e.reason, e.ts) for e in events] == [(EventKind.DOWN, "timeout", clock.wall)]
    assert st.record(T, "icmp", [], ok=False, reason="timeout") == []  # already down: no repeat
    assert st.record(T, "icmp", [], ok=True) == []  # one success of two
    up = st.record(T, "icmp", [], ok=True)
    assert [e.kind for e in up] == [EventKind.UP]
    assert [e.kind for e in st.events()] == [EventKind.DOWN, EventKind.UP]


def test_down_from_start_is_an_event(clock) -> None:
    st = State(clock, failures_to_down=1)
    events = st.record(T, "icmp", [], ok=False, reason="unreachable")
    assert [e.kind for e in events] == [EventKind.DOWN]


def test_success_replaces_series_and_failure_keeps_until_stale(clock) -> None:
    st = State(clock)
    st.record(T, "snmp", [_counter(1, ifname="a"), _counter(2, ifname="b")], ok=True, interval=10)
    st.record(
        T, "snmp", [_counter(5, ifname="a")], ok=True, interval=10
    )  # b vanished on the device
    assert len(st.snapshot().groups[("sw-1", "snmp")].series) == 1
    clock.advance(20)
    st.record(T, "snmp", [], ok=False, reason="timeout", interval=10)  # failure keeps last values
    assert st.snapshot().value("sw-1", "snmp", "monitord_interface_in_bytes_total", ifname="a") == 5
    clock.advance(11)  # now 31 s old > 3 x 10 s
    assert st.prune() == 1
    assert st.snapshot().groups[("sw-1", "snmp")].series == {}


def test_set_targets_drops_removed_and_keeps_others(clock) -> None:
    st = State(clock)
    other = Target("sw-2", "127.0.0.2")
    st.set_targets([T, other])
    st.record(T, "icmp", [], ok=True)
    st.record(other, "icmp", [], ok=True)
    before = st.snapshot().groups[("sw-1", "icmp")]
    st.set_targets([T])
    snap = st.snapshot()
    assert set(snap.groups) == {("sw-1", "icmp")}
    assert snap.groups[("sw-1", "icmp")] is before


def test_snapshot_is_consistent_under_concurrent_polls(clock) -> None:
    st = State(clock)
    stop = threading.Event()
    errors: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            snap = st.snapshot()
            for g in snap.groups.values():
                vals = {sv.value for sv in g.series.values()}
                if len(vals) > 1:  # every poll writes the same value to all its series
                    errors.append(f"torn group {vals}")

    th = threading.Thread(target=reader)
    th.start()
    try:
        for i in range(2000):
            st.record(
                T,
                "snmp",
                [Sample("m", {"target": "sw-1", "i": str(k)}, i) for k in range(20)],
                ok=True,
            )
    finally:
        stop.set()
        th.join()
    assert errors == []
    assert st.snapshot().value("sw-1", "snmp", "m", i="7") == 1999
