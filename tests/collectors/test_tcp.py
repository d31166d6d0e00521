"""TCP port policy against listeners the test opens: on loopback and in a network namespace."""

from __future__ import annotations

import asyncio
import gc
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from collectors import tcp
from monitord.errors import ConfigError, NameResolutionFailed, TargetUnreachable
from monitord.types import Sample, Shared, Target, TargetKind
from tests.peers.netns import netns_host


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [
        s
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0].value


def violation(samples: list[Sample], check: str, port: int) -> float:
    return value(samples, "monitord_policy_violation", check=check, port=str(port))


def collect(target: Target, **options: Any) -> list[Sample]:
    c = tcp.build(options, Shared())
    return asyncio.run(c.collect(target))


@contextmanager
def listeners(address: str, count: int) -> Iterator[list[int]]:
    """`count` listening sockets on `address` (ephemeral ports); closed on exit."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            s = stack.enter_context(socket.socket())
            s.bind((address, 0))
            s.listen(8)
            ports.append(s.getsockname()[1])
        yield ports


def free_ports(address: str, count: int) -> list[int]:
    """Ports nothing listens on (bound then released)."""
    with listeners(address, count) as ports:
        pass
    return ports


@contextmanager
def silent_port(address: str) -> Iterator[int]:
    """A port whose SYNs are dropped: a listener with a full accept queue never answers."""
    with ExitStack() as stack:
        srv = stack.enter_context(socket.socket())
        srv.bind((address, 0))
        srv.listen(0)
        port = srv.getsockname()[1]
        for _ in range(3):
            c = stack.enter_context(socket.socket())
            c.setblocking(False)
            try:
                c.connect((address, port))
            except BlockingIOError:
                pass
        time.sleep(0.05)  # let the handshakes fill the queue
        yield port


LOOP = Target("srv-a", "127.0.0.1", TargetKind.SERVER)


def test_forbidden_port_open_and_required_port_closed_are_violations() -> None:
    with listeners("127.0.0.1", 2) as (forbidden_open, required_open):
        forbidden_closed, required_closed = free_ports("127.0.0.1", 2)
        samples = collect(
            LOOP,
            must_be_open=[required_open, required_closed],
            must_be_closed=[forbidden_open, forbidden_closed],
            connect_timeout="1s",
        )
    specs = {m.name: m for m in tcp.TcpCollector.metrics}
    for s in samples:
        assert set(s.labels) == set(specs[s.name].labels)
    assert value(samples, "monitord_tcp_port_open", port=str(forbidden_open)) == 1
    assert value(samples, "monitord_tcp_port_open", port=str(required_open)) == 1
    assert value(samples, "monitord_tcp_port_open", port=str(forbidden_closed)) == 0
    assert value(samples, "monitord_tcp_port_open", port=str(required_closed)) == 0
    assert violation(samples, "tcp_must_be_closed", forbidden_open) == 1
    assert violation(samples, "tcp_must_be_closed", forbidden_closed) == 0
    assert violation(samples, "tcp_must_be_open", required_open) == 0
    assert violation(samples, "tcp_must_be_open", required_closed) == 1
    assert 0 < value(samples, "monitord_tcp_connect_seconds", port=str(required_open)) < 1
    assert not [
        s
        for s in samples
        if s.name == "monitord_tcp_connect_seconds" and s.labels["port"] == str(required_closed)
    ]
    assert value(samples, "monitord_tcp_port_filtered", port=str(required_closed)) == 0


def test_dropped_syn_is_filtered_and_counts_as_closed_for_the_policy() -> None:
    with silent_port("127.0.0.1") as dropped, listeners("127.0.0.1", 1) as (up,):
        t0 = time.monotonic()
        samples = collect(LOOP, must_be_open=[dropped, up], connect_timeout="300ms")
        elapsed = time.monotonic() - t0
    assert value(samples, "monitord_tcp_port_filtered", port=str(dropped)) == 1
    assert value(samples, "monitord_tcp_port_open", port=str(dropped)) == 0
    assert violation(samples, "tcp_must_be_open", dropped) == 1
    assert violation(samples, "tcp_must_be_open", up) == 0
    assert elapsed < 1.5  # ports are probed concurrently, each bounded by connect_timeout


@pytest.mark.netns
def test_policy_on_a_namespace_host_with_telnet_ftp_smb_rdp_listening() -> None:
    """The issue's example policy against a host that really listens on 21, 23, 445, 3389."""
    listener = (
        "import socket, sys, time\n"
        "socks = []\n"
        "for p in (21, 23, 443, 3389):\n"
        "    s = socket.socket(); s.bind(('0.0.0.0', p)); s.listen(8); socks.append(s)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    with netns_host("tcp") as host:
        host.spawn([sys.executable, "-c", listener], ready="ready")
        target = Target("srv-ns", host.address, TargetKind.SERVER)
        samples = collect(target, must_be_open=[443, 80], must_be_closed=[21, 23, 445, 3389])
        assert violation(samples, "tcp_must_be_open", 443) == 0
        assert violation(samples, "tcp_must_be_open", 80) == 1
        assert violation(samples, "tcp_must_be_closed", 21) == 1
        assert violation(samples, "tcp_must_be_closed", 23) == 1
        assert violation(samples, "tcp_must_be_closed", 3389) == 1
        assert violation(samples, "tcp_must_be_closed", 445) == 0
        assert value(samples, "monitord_tcp_port_filtered", port="445") == 0

        # With the link down the guard route makes every connect fail "unreachable": the
        # poll fails, and still carries the samples.
        host.link_down("host")
        with pytest.raises(TargetUnreachable) as info:
            collect(target, must_be_open=[443], must_be_closed=[23], connect_timeout="1s")
        assert host.address in str(info.value)
        got = info.value.samples
        assert value(list(got), "monitord_tcp_port_open", port="443") == 0
        assert violation(list(got), "tcp_must_be_open", 443) == 1


def test_unresolvable_name_fails_the_poll() -> None:
    target = Target("bad", "no-such-host.invalid", TargetKind.SERVER)
    with pytest.raises(NameResolutionFailed):
        collect(target, must_be_closed=[23])


@pytest.mark.parametrize(
    ("options", "fld", "message"),
    [
        ({}, "", "at least one port"),
        ({"must_be_closed": [0]}, "must_be_closed[0]", "out of range"),
        ({"must_be_open": [22], "must_be_closed": [22]}, "must_be_closed", "both open and closed"),
        ({"must_be_open": list(range(1, 300))}, "must_be_closed", "at most 256"),
        ({"must_be_closed": [23], "ports": [1]}, "ports", "unknown key"),
        ({"must_be_closed": [23], "connect_timeout": "soon"}, "connect_timeout", "duration"),
    ],
    ids=["empty", "range", "overlap", "too-many", "unknown-key", "bad-duration"],
)
def test_build_rejects_bad_options(options: dict[str, object], fld: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        tcp.build(options, Shared())
    assert info.value.issues[0].field == fld
    assert message in info.value.issues[0].message


def test_issue_example_block_is_accepted_with_documented_defaults() -> None:
    c = tcp.build({"must_be_open": [443], "must_be_closed": [21, 23, 3389]}, Shared())
    assert c.options.must_be_open == (443,)
    assert c.options.must_be_closed == (21, 23, 3389)
    assert c.options.connect_timeout == 2.0


def test_cancelled_poll_releases_its_sockets() -> None:
    """The runner's deadline cancels the poll mid-connect: no socket may leak (a leak is a
    ResourceWarning, an error in this suite)."""
    with silent_port("127.0.0.1") as dropped:
        c = tcp.build({"must_be_open": [dropped], "connect_timeout": "5s"}, Shared())

        async def main() -> None:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await c.collect(LOOP)

        t0 = time.monotonic()
        asyncio.run(main())
        assert time.monotonic() - t0 < 1
        gc.collect()
