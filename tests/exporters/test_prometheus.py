"""Exposition from the state: values, escaping, caching, promtool check metrics, HTTP."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from exporters.prometheus import (
    CORE_SPECS,
    ExpositionRenderer,
    MetricsServer,
    Packed,
    format_value,
)
from monitord.state import State
from monitord.types import MetricSpec, Sample, SampleKind, Target

SPECS = (
    MetricSpec(
        "monitord_interface_in_bytes_total",
        SampleKind.COUNTER,
        "Octets received on the interface (IF-MIB ifHCInOctets); value from the last poll.",
        ("target", "ifindex", "ifname"),
    ),
    MetricSpec(
        "monitord_interface_info",
        SampleKind.INFO,
        "Descriptive labels of an interface; always 1.",
        ("target", "ifindex", "ifname", "ifalias"),
    ),
    MetricSpec(
        "monitord_icmp_rtt_seconds",
        SampleKind.GAUGE,
        "Mean round-trip time of the last poll.",
        ("target",),
    ),
)


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: install Debian's prometheus package (scripts/test does)")
    return path


def _state(clock) -> State:
    st = State(clock)
    sw = Target("sw-1", "127.0.0.1", site='Sede "Norte"')
    st.set_targets([sw, Target("gw", "::1")])
    samples = [
        Sample(
            "monitord_interface_in_bytes_total",
            {"target": "sw-1", "ifindex": "1", "ifname": "Gi0/1"},
            2**64 - 1,
            SampleKind.COUNTER,
            bits=64,
        ),
        Sample(
            "monitord_interface_in_bytes_total",
            {"target": "sw-1", "ifindex": "2", "ifname": "Gi0/2"},
            12345,
            SampleKind.COUNTER,
            bits=64,
        ),
        Sample(
            "monitord_interface_info",
            {"target": "sw-1", "ifindex": "1", "ifname": "Gi0/1", "ifalias": 'uplink "core"\\a\nb'},
            1,
            SampleKind.INFO,
        ),
    ]
    st.record(sw, "snmp", samples, ok=True, duration=0.25)
    st.record(
        Target("gw", "::1"),
        "icmp",
        [Sample("monitord_icmp_rtt_seconds", {"target": "gw"}, 0.000123)],
        ok=True,
    )
    return st


def test_values_and_labels_round_trip(clock) -> None:
    text = ExpositionRenderer(SPECS).render(_state(clock).snapshot()).decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    inb = {s.labels["ifname"]: s.value for s in fams["monitord_interface_in_bytes"].samples}
    assert inb == {"Gi0/1": 2**64 - 1, "Gi0/2": 12345}
    assert (
        'monitord_interface_in_bytes_total{ifindex="1",ifname="Gi0/1",target="sw-1"} 18446744073709551615'
        in text
    )
    (info,) = fams["monitord_interface_info"].samples
    assert info.labels["ifalias"] == 'uplink "core"\\a\nb'
    rtt = fams["monitord_icmp_rtt_seconds"].samples[0]
    assert rtt.value == pytest.approx(0.000123)
    up = {
        (s.labels["target"], s.labels["collector"]): s.value
        for s in fams["monitord_target_up"].samples
    }
    assert up == {("sw-1", "snmp"): 1.0, ("gw", "icmp"): 1.0}
    tinfo = {s.labels["target"]: s.labels for s in fams["monitord_target_info"].samples}
    assert tinfo["sw-1"]["site"] == 'Sede "Norte"' and tinfo["gw"]["address"] == "::1"
    dur = fams["monitord_last_poll_duration_seconds"].samples
    assert {s.labels["target"]: s.value for s in dur}["sw-1"] == pytest.approx(0.25)


def test_promtool_check_metrics_is_clean(clock) -> None:
    text = ExpositionRenderer(SPECS).render(_state(clock).snapshot())
    res = subprocess.run(
        [_promtool(), "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    assert res.returncode == 0 and res.stdout == b"" and res.stderr == b"", (res.stdout, res.stderr)


def test_cache_reuses_unchanged_groups(clock) -> None:
    st = _state(clock)
    r = ExpositionRenderer(SPECS)
    first = r.render(st.snapshot())
    assert r.render(st.snapshot()) is first  # nothing changed: same bytes object
    st.record(
        Target("gw", "::1"),
        "icmp",
        [Sample("monitord_icmp_rtt_seconds", {"target": "gw"}, 0.5)],
        ok=True,
    )
    second = r.render(st.snapshot()).decode()
    assert 'monitord_icmp_rtt_seconds{target="gw"} 0.5' in second
    assert second.count("18446744073709551615") == 1  # the snmp group came from the cache, once


def test_removed_group_disappears(clock) -> None:
    st = _state(clock)
    r = ExpositionRenderer(SPECS)
    assert b"Gi0/2" in r.render(st.snapshot())
    st.remove("sw-1", "snmp")
    assert b"Gi0/2" not in r.render(st.snapshot())


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (0.5, "0.5"),
        (2.0, "2"),
        (float("nan"), "NaN"),
        (float("inf"), "+Inf"),
        (2**64 - 1, "18446744073709551615"),
        (1e-7, "1e-07"),
    ],
)
def test_format_value_table(value: float, text: str) -> None:
    assert format_value(value) == text


def test_http_server_serves_metrics_and_health(clock) -> None:
    st = _state(clock)
    r = ExpositionRenderer(SPECS)
    healthy = [True]
    srv = MetricsServer(
        "127.0.0.1", 0, lambda: r.render(st.snapshot()), CollectorRegistry(), lambda: healthy[0]
    )
    srv.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/metrics", timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert b'monitord_icmp_rtt_seconds{target="gw"}' in resp.read()
        req = urllib.request.Request(
            f"http://127.0.0.1:{srv.port}/metrics", headers={"Accept-Encoding": "gzip"}
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            import gzip

            assert resp.headers["Content-Encoding"] == "gzip"
            assert b"monitord_target_up" in gzip.decompress(resp.read())
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/healthz", timeout=5) as resp:
            assert resp.status == 200
        healthy[0] = False
        with pytest.raises(urllib.error.HTTPError) as ei:
            urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/healthz", timeout=5)
        assert ei.value.code == 503
        ei.value.close()
    finally:
        srv.stop()


def test_core_specs_follow_naming_rules() -> None:
    for spec in CORE_SPECS:
        assert spec.name.startswith("monitord_") and spec.help
        assert spec.labels[0] == "target"


def test_scrape_served_in_pieces_is_the_rendered_text_plain_and_gzip(clock) -> None:
    # 300 groups x 24 interfaces, kept packed: the body is unpacked and written in several
    # chunks; plain and gzip bodies must both equal render().
    st = State(clock)
    targets = [Target(f"sw-{i}", "127.0.0.1") for i in range(300)]
    st.set_targets(targets)
    for t in targets:
        st.record(
            t,
            "snmp",
            [
                Sample(
                    "monitord_interface_in_bytes_total",
                    {"target": t.name, "ifindex": str(i), "ifname": f"Gi0/{i}"},
                    1000 * i + len(t.name),
                    SampleKind.COUNTER,
                    bits=64,
                )
                for i in range(24)
            ],
            ok=True,
        )
    r = ExpositionRenderer(SPECS)
    body = r.render_body(st.snapshot())
    assert len(body.pieces) > 256 and len(list(body.chunks(batch=4096))) > 1
    whole = r.render(st.snapshot())
    assert body.join() == whole and body.size == len(whole)
    assert r.render_body(st.snapshot()) is body  # nothing changed: the same pieces
    packed = [p for p in body.pieces if isinstance(p, Packed)]
    assert len(packed) == 300  # one per switch: its interfaces' lines; short texts stay plain
    assert sum(len(p.data) for p in packed) < sum(p.size for p in packed) / 3
    registry = CollectorRegistry()
    srv = MetricsServer("127.0.0.1", 0, lambda: r.render_body(st.snapshot()), registry, bool)
    srv.start()
    try:
        url = f"http://127.0.0.1:{srv.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            plain = resp.read()
            assert int(resp.headers["Content-Length"]) == len(plain)
        req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            packed = resp.read()
            assert int(resp.headers["Content-Length"]) == len(packed)
    finally:
        srv.stop()
    import gzip

    assert plain == whole  # an empty self-metrics registry adds nothing
    assert gzip.decompress(packed) == plain
    fams = {f.name: f for f in text_string_to_metric_families(plain.decode())}
    values = {
        (s.labels["target"], s.labels["ifindex"]): s.value
        for s in fams["monitord_interface_in_bytes"].samples
    }
    assert len(values) == 7200 and values[("sw-299", "23")] == 23000 + len("sw-299")
