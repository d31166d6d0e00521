"""Discovery sweep: 127.77.0.0/29 on loopback (every 127/8 address answers on Linux) and a
namespace host that drops ICMP or vanishes."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import Any

import pytest

from collectors import discovery
from monitord import findings
from monitord.errors import ConfigError
from monitord.state import State
from monitord.types import Sample, Shared, Target, TargetKind
from tests.contract.declared import declared_roles
from tests.peers.netns import netns_host

SWEEP = Target("sweep-lab", "127.0.0.1", TargetKind.OTHER, site="lab")


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [
        s
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0].value


def unknown(samples: list[Sample]) -> list[str]:
    return [
        s.labels["address"] for s in samples if s.name == "monitord_discovery_unknown_host_info"
    ]


def sweep(options: dict[str, Any], targets: list[str] | None = None) -> list[Sample]:
    async def main() -> list[Sample]:
        shared = Shared()
        if targets is not None:
            shared.settings[discovery.KNOWN_ADDRESSES_KEY] = targets
        try:
            return await discovery.build(options, shared).collect(SWEEP)
        finally:
            await shared.aclose()

    return asyncio.run(main())


def test_loopback_range_lists_the_addresses_that_are_neither_targets_nor_known() -> None:
    t0 = time.monotonic()
    samples = sweep(
        {"ranges": ["127.77.0.0/29"], "known": ["127.77.0.6"], "icmp": True, "tcp_ports": []},
        targets=["127.77.0.1", "127.77.0.2", "localhost"],
    )
    assert time.monotonic() - t0 < 5
    specs = {m.name: m for m in discovery.DiscoveryCollector.metrics}
    for s in samples:
        assert set(s.labels) == set(specs[s.name].labels)
    assert value(samples, "monitord_discovery_addresses_scanned") == 6  # .1-.6
    assert value(samples, "monitord_discovery_hosts_up") == 6
    assert value(samples, "monitord_discovery_unknown_hosts") == 3
    assert unknown(samples) == ["127.77.0.3", "127.77.0.4", "127.77.0.5"]
    assert value(samples, "monitord_policy_violation", check="unknown_device") == 1


def test_tcp_probe_alone_finds_hosts_by_their_reset() -> None:
    samples = sweep({"ranges": ["127.77.1.0/30"], "icmp": False, "tcp_ports": [1]})
    assert value(samples, "monitord_discovery_hosts_up") == 2
    assert unknown(samples) == ["127.77.1.1", "127.77.1.2"]


def test_excluded_addresses_and_max_listed_bound_the_series() -> None:
    samples = sweep(
        {
            "ranges": ["127.77.2.0/28"],
            "exclude": ["127.77.2.8/29"],
            "icmp": True,
            "tcp_ports": [],
            "max_listed": 3,
        }
    )
    assert value(samples, "monitord_discovery_addresses_scanned") == 7  # .1-.7
    assert value(samples, "monitord_discovery_unknown_hosts") == 7
    assert unknown(samples) == ["127.77.2.1", "127.77.2.2", "127.77.2.3"]


def test_all_known_is_no_violation() -> None:
    samples = sweep(
        {"ranges": ["127.77.3.0/30"], "icmp": True, "tcp_ports": []},
        targets=["127.77.3.1", "127.77.3.2"],
    )
    assert value(samples, "monitord_discovery_unknown_hosts") == 0
    assert value(samples, "monitord_policy_violation", check="unknown_device") == 0
    assert unknown(samples) == []


@pytest.mark.netns
def test_host_dropping_icmp_is_found_by_tcp_and_a_vanished_host_by_nothing() -> None:
    with netns_host("disc") as host:
        host.sysctl("net.ipv4.icmp_echo_ignore_all", "1")
        opts: dict[str, Any] = {
            "ranges": [host.prefix],
            "icmp": True,
            "probe_timeout": "500ms",
        }
        icmp_only = sweep({**opts, "tcp_ports": []})
        assert host.address not in unknown(icmp_only)
        assert host.host_address in unknown(icmp_only)  # this machine's end answers

        with_tcp = sweep({**opts, "tcp_ports": [9]})
        assert unknown(with_tcp) == sorted(
            [host.host_address, host.address], key=ipaddress.ip_address
        )

        host.link_down("host")
        t0 = time.monotonic()
        gone = sweep({**opts, "tcp_ports": [9]})
        assert time.monotonic() - t0 < 3
        assert value(gone, "monitord_discovery_addresses_scanned") == 2
        assert host.address not in unknown(gone)
        assert value(gone, "monitord_discovery_hosts_up") == len(unknown(gone))


def test_findings_report_unknown_devices_not_in_the_inventory() -> None:
    samples = sweep({"ranges": ["127.77.4.0/30"], "icmp": True, "tcp_ports": []})
    assert unknown(samples) == ["127.77.4.1", "127.77.4.2"]  # the collector knew no target
    state = State()
    inventoried = Target("printer-lab", "127.77.4.2", TargetKind.PRINTER, site="lab")
    state.set_targets([SWEEP, inventoried])
    state.record(SWEEP, discovery.KIND, samples, ok=True)
    found = [
        f
        for f in findings.derive(state.snapshot(), declared_roles())
        if f.check is findings.Check.UNKNOWN_DEVICE
    ]
    assert [(f.target, f.detail, f.iso_control) for f in found] == [
        ("sweep-lab", "address=127.77.4.1", "5.9")
    ]
    assert "127.77.4.1" in findings.render(found[0], "es").detail


@pytest.mark.parametrize(
    ("options", "fld", "message"),
    [
        ({"ranges": ["10.0.0.0/19"]}, "ranges", "limited to 4096 (a /20)"),
        ({"ranges": ["10.0.0.0/21", "10.1.0.0/21", "10.2.0.0/24"]}, "ranges", "4352 addresses"),
        ({"ranges": ["fd00::/64"]}, "ranges", "limited to 4096"),
        ({"ranges": ["10.0.0.0/33"]}, "ranges[0]", "invalid CIDR"),
        ({"ranges": []}, "ranges", "at least one"),
        ({}, "ranges", "required field is missing"),
        ({"ranges": ["10.0.0.0/24"], "exclude": ["x"]}, "exclude[0]", "invalid CIDR"),
        ({"ranges": ["10.0.0.0/24"], "known": ["printer"]}, "known[0]", "invalid address"),
        ({"ranges": ["10.0.0.0/24"], "icmp": False, "tcp_ports": []}, "icmp", "no probe left"),
        ({"ranges": ["10.0.0.0/24"], "tcp_ports": [70000]}, "tcp_ports[0]", "out of range"),
    ],
    ids=[
        "too-big",
        "sum-too-big",
        "ipv6-too-big",
        "bad-cidr",
        "empty",
        "missing",
        "exclude",
        "known",
        "no-probe",
        "port",
    ],
)
def test_build_rejects_bad_options(options: dict[str, object], fld: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        discovery.build(options, Shared())
    issue = info.value.issues[0]
    assert issue.field == fld
    assert message in issue.message


def test_a_slash_20_is_accepted() -> None:
    c = discovery.build({"ranges": ["10.0.0.0/20"]}, Shared())
    assert c.options.icmp == "auto"
    assert c.options.tcp_ports == (22, 80, 443, 445, 3389)
    assert c.options.concurrency == 256


@pytest.mark.parametrize(
    ("ranges", "exclude", "expected"),
    [
        (["192.0.2.0/30"], [], ["192.0.2.1", "192.0.2.2"]),
        (["192.0.2.0/31"], [], ["192.0.2.0", "192.0.2.1"]),
        (["192.0.2.5/32"], [], ["192.0.2.5"]),
        (
            ["192.0.2.0/29", "192.0.2.4/30"],
            ["192.0.2.2"],
            ["192.0.2.1", "192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6"],
        ),
        (["2001:db8::/126"], [], ["2001:db8::1", "2001:db8::2", "2001:db8::3"]),
    ],
    ids=["v4-30", "v4-31", "v4-32", "overlap-exclude", "v6"],
)
def test_sweep_addresses(ranges: list[str], exclude: list[str], expected: list[str]) -> None:
    got = discovery.sweep_addresses(
        [ipaddress.ip_network(r) for r in ranges], [ipaddress.ip_network(e) for e in exclude]
    )
    assert [str(a) for a in got] == expected
