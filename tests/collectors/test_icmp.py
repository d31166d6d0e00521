"""The ICMP collector against real peers: loopback (127/8, ::1) and netns test hosts.

Privileged tests run as root (raw sockets). Unprivileged and no-CAP_NET_RAW cases run in a
child process inside a namespace the test creates, where net.ipv4.ping_group_range (a
per-namespace sysctl) is set without touching this host's value.
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from typing import IO, Any

import pytest

from collectors import _pinger, icmp
from monitord.errors import (
    CollectorError,
    ConfigError,
    NameResolutionFailed,
    PermissionDenied,
    TargetUnreachable,
)
from monitord.types import Sample, SampleKind, Shared, Target
from tests.peers.netns import NetnsHost, netns_host

FAST: dict[str, object] = {"packet_interval": "50ms", "packet_timeout": "300ms"}


def values(samples: Sequence[Sample]) -> dict[str, float]:
    """Samples by metric name, after checking every one is declared and labelled."""
    declared = {m.name: m.kind for m in icmp.IcmpCollector.metrics}
    out: dict[str, float] = {}
    for s in samples:
        assert s.name in declared, s.name
        assert s.kind is declared[s.name]
        assert s.labels.keys() == {"target"}
        out[s.name] = s.value
    return out


async def collect(
    target: Target, options: dict[str, object], shared: Shared | None = None
) -> list[Sample]:
    """One poll with a fresh collector (and a fresh Shared unless one is given)."""
    own = shared is None
    shared = shared or Shared()
    try:
        return await icmp.build(options, shared).collect(target)
    finally:
        if own:
            await shared.aclose()


def poll(address: str, **options: object) -> dict[str, float]:
    """One poll of `address` in a fresh loop; the values by metric name."""
    return values(asyncio.run(collect(Target("t", address), options)))


def unreachable(address: str, **options: object) -> TargetUnreachable:
    with pytest.raises(TargetUnreachable) as info:
        asyncio.run(collect(Target("t", address), options))
    return info.value


def assert_all_answered(v: dict[str, float], count: int = 3) -> None:
    assert v["monitord_icmp_packets_sent_total"] == count
    assert v["monitord_icmp_packets_received_total"] == count
    assert v["monitord_icmp_packet_loss_ratio"] == 0.0
    lo, mean, hi = (
        v["monitord_icmp_rtt_min_seconds"],
        v["monitord_icmp_rtt_seconds"],
        v["monitord_icmp_rtt_max_seconds"],
    )
    assert 0 < lo <= mean <= hi < 0.3
    assert 0 <= v["monitord_icmp_jitter_seconds"] <= hi - lo


# -- pure helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (bytes([0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7]), 0x220D),  # RFC 1071 §3
        (b"", 0xFFFF),
        (b"\x01", 0xFEFF),  # odd length: padded with a zero byte
        (b"\xff\xff", 0x0000),
        (b"\x08\x00\x00\x00\x12\x34\x00\x01", 0xE5CA),  # echo request id=0x1234 seq=1
    ],
    ids=["rfc1071", "empty", "odd-length", "all-ones", "echo-header"],
)
def test_internet_checksum(data: bytes, expected: int) -> None:
    assert _pinger.internet_checksum(data) == expected


@pytest.mark.parametrize(
    ("icmp_type", "ident", "seq", "payload"),
    [
        (8, 0x1234, 1, b""),
        (8, 0xFFFF, 0xFFFF, b"\xff" * 56),
        (8, 1, 0, bytes(range(57))),
        (128, 0xBEEF, 0x8000, b"monitord"),
    ],
    ids=["no-payload", "carry-heavy", "odd-payload", "icmpv6"],
)
def test_echo_request_checksum_verifies(
    icmp_type: int, ident: int, seq: int, payload: bytes
) -> None:
    packet = _pinger.build_echo_request(icmp_type, ident, seq, payload)
    assert packet[0] == icmp_type and packet[1] == 0
    assert int.from_bytes(packet[4:6], "big") == ident
    assert int.from_bytes(packet[6:8], "big") == seq
    assert packet[8:] == payload
    assert _pinger.internet_checksum(packet) == 0  # a correct checksum sums to zero
    # The precomputed payload sum gives the same packet as summing it each time.
    payload_sum = sum(
        int.from_bytes((payload + b"\0")[i : i + 2], "big") for i in range(0, len(payload), 2)
    )
    assert _pinger.build_echo_request(icmp_type, ident, seq, payload, payload_sum) == packet


@pytest.mark.parametrize(
    ("rtts", "expected"),
    [
        ([], None),
        ([0.010], None),
        ([0.010, 0.020], 0.010),
        ([0.010, 0.030, 0.020], 0.015),
        ([0.005, 0.005, 0.005], 0.0),
        ([0.030, 0.010, 0.030, 0.010], 0.020),
    ],
    ids=["none", "one", "two", "up-down", "flat", "zigzag"],
)
def test_jitter_is_mean_absolute_consecutive_difference(
    rtts: list[float], expected: float | None
) -> None:
    got = _pinger.jitter(rtts)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


@pytest.mark.parametrize(
    ("rtts", "expected"),
    [
        ([None, None, None], _pinger.EchoSummary(3, 0, 1.0, None, None, None, None)),
        ([0.001, 0.002, 0.003], _pinger.EchoSummary(3, 3, 0.0, 0.001, 0.002, 0.003, 0.001)),
        ([0.001, None, 0.003], _pinger.EchoSummary(3, 2, 1 / 3, 0.001, 0.002, 0.003, 0.002)),
        ([None, 0.004], _pinger.EchoSummary(2, 1, 0.5, 0.004, 0.004, 0.004, None)),
        ([], _pinger.EchoSummary(0, 0, 0.0, None, None, None, None)),
    ],
    ids=["all-lost", "all-back", "one-lost", "one-back", "nothing-sent"],
)
def test_summarize(rtts: list[float | None], expected: _pinger.EchoSummary) -> None:
    got = _pinger.summarize(rtts)
    assert (got.sent, got.received) == (expected.sent, expected.received)
    for name in ("loss", "rtt_min", "rtt_avg", "rtt_max", "jitter"):
        want = getattr(expected, name)
        assert getattr(got, name) == (None if want is None else pytest.approx(want)), name


# -- options ----------------------------------------------------------------------------------


def test_default_options_are_the_documented_defaults() -> None:
    opts = icmp.build({}, Shared()).options
    assert opts == icmp.Options(3, 0.2, 1.0, "auto", 56, _pinger.Family.AUTO)


def test_options_parse_durations_and_modes() -> None:
    opts = icmp.build(
        {
            "packet_interval": "500ms",
            "packet_timeout": "2s",
            "privileged": False,
            "family": "ipv6",
            "count": 5,
        },
        Shared(),
    ).options
    assert (opts.packet_interval, opts.packet_timeout) == (0.5, 2.0)
    assert opts.privileged is False and opts.family is _pinger.Family.IPV6 and opts.count == 5


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"interval_between": "1s"}, "interval_between"),
        ({"count": 0}, "count"),
        ({"count": 101}, "count"),
        ({"payload_size": 70_000}, "payload_size"),
        ({"privileged": "maybe"}, "privileged"),
        ({"family": "ipv5"}, "family"),
        ({"packet_timeout": "-1s"}, "packet_timeout"),
    ],
    ids=["unknown-key", "count-zero", "count-high", "payload", "privileged", "family", "timeout"],
)
def test_bad_options_name_the_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        icmp.build(options, Shared())
    assert {i.field.split(".")[0] for i in info.value.issues} == {field}


def test_metric_specs_follow_the_naming_rules() -> None:
    names = [m.name for m in icmp.IcmpCollector.metrics]
    assert len(names) == len(set(names)) == 7
    for m in icmp.IcmpCollector.metrics:
        assert m.name.startswith("monitord_icmp_") and m.labels == ("target",) and m.help
        assert m.name.endswith("_total") == (m.kind is SampleKind.COUNTER)
    assert "consecutive" in next(
        m.help for m in icmp.IcmpCollector.metrics if m.name == "monitord_icmp_jitter_seconds"
    )


# -- loopback ---------------------------------------------------------------------------------


@pytest.mark.peer
def test_thousand_loopback_targets_at_once_report_no_loss() -> None:
    targets = [Target(f"lo-{i}", f"127.1.{i // 250}.{i % 250 + 1}") for i in range(1000)]
    assert len({t.address for t in targets}) == 1000

    async def scenario() -> tuple[list[list[Sample]], int, float]:
        shared = Shared()
        collector = icmp.build({}, shared)
        start = time.monotonic()
        try:
            results = await asyncio.gather(*(collector.collect(t) for t in targets))
            pinger = shared.peek(_pinger.PINGER_KEY)
            assert isinstance(pinger, _pinger.Pinger)
            return results, pinger.outstanding, time.monotonic() - start
        finally:
            await shared.aclose()

    results, outstanding, elapsed = asyncio.run(scenario())
    assert len(results) == 1000
    for target, samples in zip(targets, results, strict=True):
        assert {s.labels["target"] for s in samples} == {target.name}
        assert_all_answered(values(samples))
    assert outstanding == 0
    assert elapsed < 3.0  # 2 x 0.2 s between packets + replies; no timeouts waited out


@pytest.mark.peer
def test_ipv6_loopback_answers() -> None:
    assert_all_answered(poll("::1", **FAST))


@pytest.mark.peer
def test_host_name_is_resolved() -> None:
    assert_all_answered(poll("localhost", family="ipv4", **FAST))


def test_name_that_does_not_resolve_is_name_resolution_failure() -> None:
    with pytest.raises(NameResolutionFailed) as info:
        asyncio.run(collect(Target("t", "nohost.invalid"), FAST))
    assert "nohost.invalid" in str(info.value)
    assert info.value.samples == ()


def test_literal_of_the_other_family_is_name_resolution_failure() -> None:
    with pytest.raises(NameResolutionFailed, match="not ipv6"):
        asyncio.run(collect(Target("t", "127.0.0.1"), {**FAST, "family": "ipv6"}))


@pytest.mark.peer
def test_closing_the_pinger_mid_poll_is_not_reported_as_loss() -> None:
    async def scenario() -> None:
        shared = Shared()
        collector = icmp.build({"packet_interval": "1s"}, shared)
        task = asyncio.create_task(collector.collect(Target("t", "127.0.0.1")))
        deadline = time.monotonic() + 5
        while not isinstance(shared.peek(_pinger.PINGER_KEY), _pinger.Pinger):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.005)
        pinger = shared.peek(_pinger.PINGER_KEY)
        assert isinstance(pinger, _pinger.Pinger)
        await shared.aclose()  # shutdown while the poll waits for its second request
        with pytest.raises(CollectorError, match="closed during the poll") as info:
            await task
        assert type(info.value) is CollectorError and info.value.samples == ()
        assert pinger.outstanding == 0
        with pytest.raises(CollectorError, match="closed"):
            await pinger.ping(
                socket.AF_INET,
                "127.0.0.1",
                ("127.0.0.1", 0),
                privileged="auto",
                count=1,
                interval=0.1,
                timeout=0.1,
                payload_size=8,
            )

    asyncio.run(scenario())


# -- netns test host ------------------------------------------------------------------------


@pytest.fixture
def host() -> Iterator[NetnsHost]:
    with netns_host("icmp") as h:
        yield h


@pytest.mark.peer
@pytest.mark.netns
def test_netns_host_answers_goes_unreachable_on_link_down_and_comes_back(
    host: NetnsHost,
) -> None:
    assert_all_answered(poll(host.address, **FAST))
    assert_all_answered(poll(host.address6, **FAST))

    host.link_down()  # inside the namespace: requests leave, nothing answers
    for address in (host.address, host.address6):
        err = unreachable(address, **FAST)
        assert str(err) == f"no echo reply from {address} (3/3 lost)"
        assert values(err.samples) == {
            "monitord_icmp_packets_sent_total": 3,
            "monitord_icmp_packets_received_total": 0,
            "monitord_icmp_packet_loss_ratio": 1.0,
        }
        assert all(s.increment for s in err.samples if s.kind is SampleKind.COUNTER)

    host.link_up()
    assert_all_answered(poll(host.address, **FAST))
    assert_all_answered(poll(host.address6, **FAST))

    host.link_down("host")  # our end: the kernel refuses to send (guard route, no route)
    err = unreachable(host.address, **FAST)
    assert "(3/3 lost); send failed: No route to host" in str(err)
    assert values(err.samples)["monitord_icmp_packets_sent_total"] == 3
    host.link_up("host")
    assert_all_answered(poll(host.address, **FAST))


# A slow or lossy peer: a raw-socket echo responder inside the namespace, with the kernel's
# own echo replies switched off there. Independent of the code under test.
_RESPONDER = r"""
import socket, struct, sys, time
delay, drop = float(sys.argv[1]), {int(n) for n in sys.argv[2].split(",") if n}
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)

def checksum(b):
    b += b"\0" * (len(b) % 2)
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

print("ready", flush=True)
seen = 0
while True:
    data, (src, _) = sock.recvfrom(65535)
    icmp = data[(data[0] & 15) * 4 :]
    if len(icmp) < 8 or icmp[0] != 8:
        continue
    seen += 1
    print(f"request {seen}", flush=True)
    if seen in drop:
        continue
    time.sleep(delay)
    rest = icmp[4:]
    sock.sendto(struct.pack("!BBH", 0, 0, checksum(b"\0\0\0\0" + rest)) + rest, (src, 0))
"""


def start_responder(host: NetnsHost, delay: float, drop: Sequence[int] = ()) -> IO[str]:
    """Answer echo requests to `host` after `delay` s, except the `drop`-th ones (1-based)."""
    host.sysctl("net.ipv4.icmp_echo_ignore_all", "1")
    argv = [sys.executable, "-c", _RESPONDER, str(delay), ",".join(map(str, drop))]
    proc = host.spawn(argv, ready="ready")
    assert proc.stdout is not None
    return proc.stdout


@pytest.mark.peer
@pytest.mark.netns
def test_some_replies_lost_is_success_with_partial_loss(host: NetnsHost) -> None:
    start_responder(host, 0.0, drop=[2])
    v = poll(host.address, **FAST)
    assert v["monitord_icmp_packets_sent_total"] == 3
    assert v["monitord_icmp_packets_received_total"] == 2
    assert v["monitord_icmp_packet_loss_ratio"] == pytest.approx(1 / 3)
    assert 0 < v["monitord_icmp_rtt_min_seconds"] <= v["monitord_icmp_rtt_max_seconds"] < 0.3
    assert "monitord_icmp_jitter_seconds" in v  # two replies: one difference


@pytest.mark.peer
@pytest.mark.netns
def test_replies_waiting_while_the_loop_is_stalled_are_not_lost(host: NetnsHost) -> None:
    requests = start_responder(host, 0.1)  # the reply reaches us 0.1 s after the request

    async def scenario() -> tuple[list[Sample], float]:
        start = time.monotonic()
        task = asyncio.create_task(
            collect(Target("t", host.address), {"count": 1, "packet_timeout": "500ms"})
        )
        while not select.select([requests], [], [], 0)[0]:  # until the request is out
            assert time.monotonic() - start < 5, "the responder never saw the request"
            await asyncio.sleep(0.001)
        assert requests.readline().startswith("request 1")
        # Stall the event loop (a busy daemon) well past the packet timeout; the reply comes
        # in 0.1 s after the request and waits in the socket buffer meanwhile.
        time.sleep(0.8)
        return await task, time.monotonic() - start

    samples, elapsed = asyncio.run(scenario())
    v = values(samples)
    assert elapsed >= 0.8
    assert v["monitord_icmp_packets_received_total"] == 1
    # The kernel's receive stamp, not the late read, gives the round-trip time.
    assert 0.09 <= v["monitord_icmp_rtt_seconds"] < 0.4


@pytest.mark.peer
@pytest.mark.netns
def test_cancelled_polls_leave_nothing_registered(host: NetnsHost) -> None:
    host.sysctl("net.ipv4.icmp_echo_ignore_all", "1")  # requests stay unanswered

    async def scenario() -> None:
        shared = Shared()
        collector = icmp.build({"packet_interval": "100ms", "packet_timeout": "5s"}, shared)
        try:
            silent = [Target(f"s{i}", host.address) for i in range(20)]
            answering = [Target(f"l{i}", f"127.2.0.{i + 1}") for i in range(20)]
            tasks = [asyncio.create_task(collector.collect(t)) for t in silent + answering]
            deadline = time.monotonic() + 5
            while True:
                pinger = shared.peek(_pinger.PINGER_KEY)
                if isinstance(pinger, _pinger.Pinger) and pinger.outstanding >= 20:
                    break
                assert time.monotonic() < deadline, "requests never registered"
                await asyncio.sleep(0.005)
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results)
            assert pinger.outstanding == 0
            # Past the next scheduled requests of the cancelled polls: none comes back.
            await asyncio.sleep(0.25)
            assert pinger.outstanding == 0
            # The runner's deadline cancels the same way.
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await collector.collect(silent[0])
            assert pinger.outstanding == 0
            # And the shared pinger still works.
            assert_all_answered(values(await collector.collect(Target("lo", "127.0.0.1"))))
        finally:
            await shared.aclose()

    asyncio.run(scenario())


# -- modes and permissions (in a child process inside a namespace) --------------------------

_CHILD = """
import asyncio, json, socket, sys
from collectors import _pinger, icmp
from monitord.errors import CollectorError
from monitord.types import Shared, Target

async def main(address, options):
    shared = Shared()
    try:
        try:
            samples = await icmp.build(options, shared).collect(Target("child", address))
        except CollectorError as exc:
            return {"error": type(exc).__name__, "message": str(exc)}
        pinger = shared.peek(_pinger.PINGER_KEY)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        raw = pinger.mode(family, options.get("privileged", "auto"))
        return {"values": {s.name: s.value for s in samples}, "raw": raw}
    finally:
        await shared.aclose()

print(json.dumps(asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))))
"""

_NO_CAP_NET_RAW = ["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw"]


def run_child(
    host: NetnsHost, address: str, options: dict[str, Any], *, drop_cap: bool = False
) -> dict[str, Any]:
    argv = [
        *(_NO_CAP_NET_RAW if drop_cap else []),
        sys.executable,
        "-c",
        _CHILD,
        address,
        json.dumps({**FAST, **options}),
    ]
    proc = host.run(argv, check=False, timeout=30)
    if proc.returncode != 0:
        pytest.fail(f"child poll failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="module")
def ns() -> Iterator[NetnsHost]:
    with netns_host("icmpmode") as h:
        yield h


@pytest.mark.peer
@pytest.mark.netns
def test_unprivileged_mode_uses_ping_sockets_when_ping_group_range_allows(ns: NetnsHost) -> None:
    ns.sysctl("net.ipv4.ping_group_range", "0 2147483647")
    for address in ("127.0.0.1", "::1"):
        out = run_child(ns, address, {"privileged": False})
        assert out.get("raw") is False, out
        assert_all_answered(out["values"])


@pytest.mark.peer
@pytest.mark.netns
def test_unprivileged_mode_outside_ping_group_range_is_permission_denied(ns: NetnsHost) -> None:
    ns.sysctl("net.ipv4.ping_group_range", "1 0")  # nobody
    out = run_child(ns, "127.0.0.1", {"privileged": False})
    assert out.get("error") == PermissionDenied.__name__, out
    assert "ping_group_range" in out["message"] and "now '1 0'" in out["message"]
    assert "CAP_NET_RAW" in out["message"]


@pytest.mark.peer
@pytest.mark.netns
def test_without_cap_net_raw_auto_falls_back_to_ping_sockets(ns: NetnsHost) -> None:
    ns.sysctl("net.ipv4.ping_group_range", "0 2147483647")
    out = run_child(ns, "127.0.0.1", {"privileged": "auto"}, drop_cap=True)
    assert out.get("raw") is False, out
    assert_all_answered(out["values"])

    out = run_child(ns, "127.0.0.1", {"privileged": True}, drop_cap=True)
    assert out.get("error") == PermissionDenied.__name__, out
    assert "CAP_NET_RAW" in out["message"]


@pytest.mark.peer
@pytest.mark.netns
def test_without_cap_net_raw_or_ping_group_range_auto_is_permission_denied(
    ns: NetnsHost,
) -> None:
    ns.sysctl("net.ipv4.ping_group_range", "1 0")
    out = run_child(ns, "::1", {"privileged": "auto"}, drop_cap=True)
    assert out.get("error") == PermissionDenied.__name__, out
    for hint in ("IPv6", "CAP_NET_RAW", "ping_group_range", "now '1 0'"):
        assert hint in out["message"]


@pytest.mark.peer
def test_privileged_auto_as_root_uses_raw_sockets() -> None:
    async def scenario() -> bool:
        shared = Shared()
        try:
            assert values(await collect(Target("t", "127.0.0.1"), FAST, shared))
            pinger = shared.peek(_pinger.PINGER_KEY)
            assert isinstance(pinger, _pinger.Pinger)
            return pinger.mode(socket.AF_INET, "auto")
        finally:
            await shared.aclose()

    assert asyncio.run(scenario()) is True
