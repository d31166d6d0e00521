"""Closing the receiver (shutdown, or a SIGHUP that removes its TCP/TLS listeners) while
syslog connections are open: every connection is ended, its handler returns, and asyncio
logs nothing. Python 3.11's StreamReaderProtocol logged "Exception in callback ...
CancelledError" for each connection handler task that ended cancelled.

Real clients keep the connections open: socat (TCP), openssl s_client (TLS) and Python's
asyncio streams (TCP and TLS); each sends one message first, so every connection is past
its handshake and its handler is reading when the receiver closes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from collectors.events.meaning import load_table
from collectors.events.receiver import CLOSE_GRACE, EventReceiver, build_tls_context
from monitord.config import EventsConfig
from monitord.types import EventOrigin
from tests.collectors.events.senders import tool
from tests.collectors.events.test_receiver import Sink, port
from tests.collectors.events.test_tls import CISCO, SSHD, frame, make_cert
from tests.conftest import free_port

CLOSED_WITHIN = 10.0  # seconds a client may take to see the end of its connection


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The receiver's certificate (also the clients' CA) and key."""
    return make_cert(tmp_path_factory.mktemp("close"), "receiver")


def _config(cert: Path, key: Path, *, tcp: bool = True, tls: bool = True) -> EventsConfig:
    syslog: dict[str, object] = {"udp": f"127.0.0.1:{free_port()}"}
    if tcp:
        syslog["tcp"] = f"127.0.0.1:{free_port()}"
    if tls:
        syslog["tls"] = {"listen": f"127.0.0.1:{free_port()}", "cert_file": str(cert),
                         "key_file": str(key), "handshake_timeout": "2s"}  # fmt: skip
    return EventsConfig.model_validate({"syslog": syslog})


class Clients:
    """Four open connections: socat and asyncio over TCP, openssl s_client and asyncio over TLS."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self.streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def open(self, rx: EventReceiver, sink: Sink, cafile: Path) -> None:
        tcp, tls = port(rx, "syslog_tcp"), port(rx, "syslog_tls")
        socat = await asyncio.create_subprocess_exec(
            tool("socat"), "STDIO", f"TCP:127.0.0.1:{tcp}", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        s_client = await asyncio.create_subprocess_exec(
            tool("openssl"), "s_client", "-connect", f"127.0.0.1:{tls}", "-CAfile",
            str(cafile), "-verify_return_error", "-quiet",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self.procs = [socat, s_client]
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(frame(SSHD))
            await proc.stdin.drain()  # stdin stays open: the connection stays open
        self.streams = [
            await asyncio.open_connection("127.0.0.1", tcp),
            await asyncio.open_connection(
                "127.0.0.1", tls, ssl=ssl.create_default_context(cafile=str(cafile))
            ),
        ]
        for _, w in self.streams:
            w.write(frame(CISCO))
            await w.drain()
        await sink.wait(4)

    async def assert_closed(self) -> None:
        """Every client sees the end of its connection (EOF or reset), the programs exit."""
        for reader, writer in self.streams:
            try:
                data = await asyncio.wait_for(reader.read(4096), CLOSED_WITHIN)
            except (ConnectionError, ssl.SSLError):
                data = b""
            assert data == b"", data
            writer.close()
        for proc in self.procs:
            await asyncio.wait_for(proc.wait(), CLOSED_WITHIN)

    async def aclose(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        for _, w in self.streams:
            w.close()


def _run(body, config: EventsConfig, ctx: ssl.SSLContext, caplog: pytest.LogCaptureFixture) -> Sink:  # type: ignore[no-untyped-def]
    sink = Sink()

    async def main() -> None:
        rx = EventReceiver(config, load_table(), sink, sink.drop, tls=ctx)
        await rx.start()
        clients = Clients()
        try:
            await body(rx, sink, clients)
        finally:
            await clients.aclose()
            await rx.aclose()
        await asyncio.sleep(0.1)  # done callbacks of the handler tasks run here at the latest

    caplog.set_level(logging.DEBUG, logger="asyncio")
    asyncio.run(main())
    errors = [r for r in caplog.records if r.name == "asyncio" and r.levelno >= logging.WARNING]
    assert errors == [], [r.getMessage() for r in errors]
    assert "CancelledError" not in caplog.text
    return sink


def test_shutdown_with_open_tcp_and_tls_connections_closes_them_quietly(
    pem: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = pem
    config = _config(cert, key)

    async def body(rx: EventReceiver, sink: Sink, clients: Clients) -> None:
        await clients.open(rx, sink, cert)
        assert rx.connections == 4
        await rx.aclose()
        assert rx.connections == 0
        await clients.assert_closed()
        await rx.aclose()  # a second close is harmless

    sink = _run(body, config, build_tls_context(cert, key, None), caplog)
    assert sorted(e.name for e in sink.events) == [
        "cisco_config_changed", "cisco_config_changed",
        "sshd_failed_password", "sshd_failed_password",
    ]  # fmt: skip
    assert not sink.drops  # closing is no handshake failure, no drop


def test_a_reload_that_removes_the_tcp_and_tls_listeners_closes_their_connections(
    pem: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = pem
    config = _config(cert, key)
    ctx = build_tls_context(cert, key, None)

    async def body(rx: EventReceiver, sink: Sink, clients: Clients) -> None:
        await clients.open(rx, sink, cert)
        udp = rx.addresses["syslog_udp"]
        problems = await rx.reconfigure(_without_streams(config), rx.table)
        assert problems == []
        assert set(rx.addresses) == {"syslog_udp"} and rx.addresses["syslog_udp"] == udp
        assert rx.connections == 0
        await clients.assert_closed()

    sink = _run(body, config, ctx, caplog)
    assert len(sink.events) == 4 and not sink.drops


def test_a_reload_that_keeps_the_listeners_keeps_the_connections(
    pem: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = pem
    config = _config(cert, key)
    ctx = build_tls_context(cert, key, None)

    async def body(rx: EventReceiver, sink: Sink, clients: Clients) -> None:
        await clients.open(rx, sink, cert)
        problems = await rx.reconfigure(config.model_copy(update={"rate_limit": 50.0}),
                                        rx.table, tls=ctx)  # fmt: skip
        assert problems == [] and rx.connections == 4
        for _, w in clients.streams:  # the same connections still deliver
            w.write(frame(SSHD))
            await w.drain()
        await sink.wait(6)
        await rx.aclose()
        await clients.assert_closed()

    sink = _run(body, config, ctx, caplog)
    assert len(sink.events) == 6 and not sink.drops


def _without_streams(config: EventsConfig) -> EventsConfig:
    syslog = config.syslog.model_copy(update={"tcp": None, "tls": None})
    return config.model_copy(update={"syslog": syslog})


def test_messages_still_queued_at_close_reach_the_core(
    pem: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = pem
    config = _config(cert, key)

    async def body(rx: EventReceiver, sink: Sink, clients: Clients) -> None:
        # three lines admitted (as the sockets admit them), the consumer not run since
        for i in range(3):
            rx.offer(EventOrigin.SYSLOG, f"<38>sshd: Failed password for u{i} from x".encode(),
                     ("127.0.0.1", 40000 + i))  # fmt: skip
        assert rx.queued == 3
        await rx.aclose()
        assert rx.queued == 0

    sink = _run(body, config, build_tls_context(cert, key, None), caplog)
    assert [e.fields.get("user") for e in sink.events] == ["u0", "u1", "u2"]


def test_a_tls_peer_that_never_answers_the_close_is_cut_after_the_grace(
    pem: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A blocking TLS client that stops reading never answers close_notify: the receiver
    aborts its connection after CLOSE_GRACE instead of waiting for TLS's own 30 s."""
    cert, key = pem
    config = _config(cert, key, tcp=False)

    async def body(rx: EventReceiver, sink: Sink, clients: Clients) -> None:
        tls_port = port(rx, "syslog_tls")
        ctx = ssl.create_default_context(cafile=str(cert))
        hold = threading.Event()

        def mute_client() -> None:  # handshake, one frame, then silence until released
            with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    s.sendall(frame(SSHD))
                    hold.wait(30)

        thread = threading.Thread(target=mute_client, daemon=True)
        thread.start()
        try:
            await sink.wait(1)
            assert rx.connections == 1
            t0 = time.monotonic()
            await rx.aclose()
            took = time.monotonic() - t0
            assert rx.connections == 0
            assert CLOSE_GRACE <= took < CLOSE_GRACE + 5.0, took
        finally:
            hold.set()
            await asyncio.to_thread(thread.join, 10)

    sink = _run(body, config, build_tls_context(cert, key, None), caplog)
    assert [e.name for e in sink.events] == ["sshd_failed_password"] and not sink.drops
