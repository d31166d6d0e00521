"""The receiver's sockets with real senders: snmptrap, snmpinform, logger (UDP, TCP)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from collectors.events.meaning import load_table
from collectors.events.receiver import EventReceiver
from monitord.config import EventsConfig
from monitord.secrets import Secret
from monitord.types import DeviceEvent, DeviceEventKind, EventOrigin
from tests.collectors.events.senders import logger, snmptrap
from tests.conftest import free_port

V2 = ["-v", "2c", "-c", "public"]


class Sink:
    """Collects what the receiver hands to the core, and the drops by reason."""

    def __init__(self) -> None:
        self.events: list[DeviceEvent] = []
        self.drops: Counter[str] = Counter()

    def __call__(self, events: list[DeviceEvent]) -> None:
        self.events.extend(events)

    def drop(self, reason: str) -> None:
        self.drops[reason] += 1

    async def wait(self, n: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.events) < n:
            assert time.monotonic() < deadline, f"{len(self.events)} events of {n}: {self.drops}"
            await asyncio.sleep(0.02)


def run(
    body: Callable[[EventReceiver, Sink], Awaitable[None]],
    receiver: Mapping[str, Any] | None = None,
    **cfg: object,
) -> Sink:
    """Start a receiver on free loopback ports (`receiver`: its keyword arguments), run `body`."""
    base: dict[str, object] = {
        "traps": {"listen": "127.0.0.1:0"},
        "syslog": {"udp": "127.0.0.1:0", "tcp": "127.0.0.1:0"},
    }
    config = EventsConfig.model_validate(_ports({**base, **cfg}))
    sink = Sink()

    async def main() -> None:
        rx = EventReceiver(config, load_table(), sink, sink.drop, **(receiver or {}))
        await rx.start()
        try:
            await body(rx, sink)
        finally:
            await rx.aclose()

    asyncio.run(main())
    return sink


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ports(cfg: dict[str, object]) -> dict[str, object]:
    """Replace the `:0` of listen addresses with free ports (the config wants 1-65535)."""
    out: dict[str, object] = {}
    for k, v in cfg.items():
        if isinstance(v, dict):
            out[k] = _ports(v)
        elif isinstance(v, str) and v == "127.0.0.1:0":
            out[k] = f"127.0.0.1:{free_port() if k == 'tcp' else free_udp_port()}"
        else:
            out[k] = v
    return out


def port(rx: EventReceiver, key: str) -> int:
    return int(rx.addresses[key][1])


def test_v1_v2c_traps_and_an_answered_inform() -> None:
    async def body(rx: EventReceiver, sink: Sink) -> None:
        p = port(rx, "traps")
        await asyncio.to_thread(
            snmptrap, p, V2, ["", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.4", "i", "4"]
        )
        await asyncio.to_thread(
            snmptrap, p, ["-v", "1", "-c", "public"], ["1.3.6.1.4.1.9", "127.0.0.77", "0", "0", ""]
        )
        # snmpinform exits 0 only when it got the Response PDU
        await asyncio.to_thread(
            snmptrap, p, [*V2, "-r", "0", "-t", "3"], ["", "1.3.6.1.6.3.1.1.5.5"], inform=True
        )
        await sink.wait(3)

    sink = run(body)
    by_name = {e.name: e for e in sink.events}
    assert set(by_name) == {"linkDown", "coldStart", "authenticationFailure"}
    assert by_name["linkDown"].fields["ifindex"] == "4"
    assert by_name["coldStart"].agent == "127.0.0.77"
    assert by_name["authenticationFailure"].kind is DeviceEventKind.FAILED_LOGIN
    assert all(e.address == "127.0.0.1" and e.origin is EventOrigin.TRAP for e in sink.events)
    assert not sink.drops


def test_wrong_community_is_dropped_and_the_inform_not_answered() -> None:
    async def body(rx: EventReceiver, sink: Sink) -> None:
        p = port(rx, "traps")
        r = await asyncio.to_thread(
            snmptrap, p, ["-v", "2c", "-c", "guess", "-r", "0", "-t", "1"],
            ["", "1.3.6.1.6.3.1.1.5.1"], inform=True, check=False,
        )  # fmt: skip
        assert r.returncode != 0 and "Timeout" in r.stderr
        await asyncio.to_thread(
            snmptrap, p, ["-v", "2c", "-c", "s3cret"], ["", "1.3.6.1.6.3.1.1.5.1"]
        )
        await sink.wait(1)

    sink = run(body, traps={"listen": "127.0.0.1:0", "communities": [Secret("s3cret")]})
    assert [e.name for e in sink.events] == ["coldStart"]
    assert sink.drops == {"community": 1}


def test_syslog_udp_tcp_newline_and_octet_counted_both_rfcs() -> None:
    msgs = {
        (False, 3164, False): "Failed password for root from 127.0.0.5 port 1 ssh2",
        (False, 5424, False): "Failed password for admin from 127.0.0.5 port 2 ssh2",
        (True, 3164, False): "%SYS-5-CONFIG_I: Configured from console by ops on vty0",
        (True, 5424, False): "%SEC_LOGIN-4-LOGIN_FAILED: Login failed [user: a] [Source: x]",
        (True, 5424, True): "SSHD_LOGIN_FAILED: Login failed for user 'root' from host 'h'",
    }

    async def body(rx: EventReceiver, sink: Sink) -> None:
        for (tcp, rfc, octets), text in msgs.items():
            p = port(rx, "syslog_tcp" if tcp else "syslog_udp")
            await asyncio.to_thread(logger, p, text, tcp=tcp, rfc=rfc, octet_count=octets)
        await sink.wait(len(msgs))

    sink = run(body)
    names = sorted(e.name for e in sink.events)
    assert names == sorted(
        ["sshd_failed_password", "sshd_failed_password", "cisco_config_changed",
         "cisco_login_failed", "juniper_login_failed"]
    )  # fmt: skip
    assert {e.fields.get("user") for e in sink.events if e.name == "sshd_failed_password"} == {
        "root",
        "admin",
    }
    assert not sink.drops


def test_bad_input_is_counted_by_reason() -> None:
    async def body(rx: EventReceiver, sink: Sink) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"\x30\x03\x02\x01", ("127.0.0.1", port(rx, "traps")))  # truncated
            s.sendto(b"\xff" * 40, ("127.0.0.1", port(rx, "traps")))  # garbage
            s.sendto(b"no header at all", ("127.0.0.1", port(rx, "syslog_udp")))
            s.sendto(b"<13>" + b"x" * 1000, ("127.0.0.1", port(rx, "syslog_udp")))  # > 600
            s.sendto(
                b"<13>Dec  3 03:00:00 h app: still fine", ("127.0.0.1", port(rx, "syslog_udp"))
            )
        with socket.create_connection(("127.0.0.1", port(rx, "syslog_tcp"))) as c:
            c.sendall(b"2000 " + b"y" * 2000 + b"\n<13>after the big one\n")
        await sink.wait(2)
        deadline = time.monotonic() + 5
        while sum(sink.drops.values()) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    sink = run(body, syslog={"udp": "127.0.0.1:0", "tcp": "127.0.0.1:0", "max_message_bytes": 600})
    assert sorted(e.message for e in sink.events) == ["after the big one", "app: still fine"]
    assert sink.drops == {"malformed": 3, "too_large": 2}


def test_a_flood_from_one_source_is_rate_limited_and_bounded() -> None:
    n = 20_000

    async def body(rx: EventReceiver, sink: Sink) -> None:
        line = b"<38>Dec  3 03:00:00 h sshd[1]: Failed password for root from 127.0.0.5 port 2"
        addr = ("127.0.0.1", port(rx, "syslog_udp"))

        def blast() -> float:
            start = time.monotonic()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for i in range(n):
                    s.sendto(line, addr)
                    if i % 500 == 0 and time.monotonic() - start > 5:
                        break
            return time.monotonic() - start

        took = await asyncio.to_thread(blast)
        assert took <= 6.0
        await asyncio.sleep(0.5)
        assert rx.queued == 0

    sink = run(body, rate_limit=100, burst=200, queue_size=1000)
    # the burst plus at most rate x duration got through; everything else was counted
    assert 200 <= len(sink.events) <= 200 + 100 * 7
    assert sink.drops["rate_limit"] >= n // 4
    assert set(sink.drops) <= {"rate_limit", "queue_full"}
