"""The sockets of the event receiver: UDP traps, UDP and TCP syslog, with flood limits.

Per datagram (or TCP frame), on the event loop and before any parsing: a size check,
a token bucket per source address (`rate_limit` per second, `burst`), then a bounded
queue. A drop at any of these steps only increments a counter (`on_drop(reason)`),
so a flood costs a dictionary lookup per message and never grows memory. One consumer
task parses queued messages in batches, gives them their meaning, answers informs, and
hands the events to the core (`sink`), yielding to the loop between batches so polls
keep their schedule.

Each TCP or TLS connection is read by a task of the receiver's own. Closing (shutdown,
or a SIGHUP that removes the listener) goes in order: stop listening, close each
connection's transport so its task reads the end of the stream and returns, await
those tasks (a peer that does not answer the TLS close within `CLOSE_GRACE` is
aborted), then stop the consumer and hand the core what was still queued. No connection
task ends cancelled, so Python 3.11's streams never log "Exception in callback ...
CancelledError" for one.

SNMPv3 messages go to `v3.UsmReceiver` (USM users, the receiver's engine for informs),
which may answer them (inform Response, discovery and error Reports).

Drop reasons: `rate_limit`, `queue_full`, `too_large`, `malformed`, `community`,
`unsupported_version`, `not_a_trap`, `connections`, and SNMPv3's `unknown_user`,
`unknown_engine_id`, `security_level`, `wrong_digest`, `decryption`,
`not_in_time_window`; `tls_handshake` (syslog over TLS: a failed or timed-out
handshake, plain text sent to the TLS port).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import ssl
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard, cast

from collectors.events.meaning import MeaningTable
from collectors.events.syslog import SyslogError, TcpFramer, parse_syslog
from collectors.events.traps import PDU_INFORM, TrapError, decode_trap, inform_response
from collectors.events.v3 import UsmReceiver, V3User, is_v3, new_engine_id
from monitord.config import EventsConfig, parse_listen
from monitord.errors import ConfigError
from monitord.types import Clock, DeviceEvent, EventOrigin, SystemClock

__all__ = ["BATCH", "EventReceiver", "TokenBuckets", "build_tls_context"]

log = logging.getLogger(__name__)

BATCH = 256  # messages parsed per turn of the consumer before it yields to the loop
RCVBUF = 4 << 20  # bytes of socket receive buffer asked for the UDP sockets
MAX_SOURCES = 4096  # token buckets kept; the least recently seen source is forgotten
CLOSE_GRACE = 2.0  # seconds a closing connection may take (TLS close_notify) before abort


class TokenBuckets:
    """A token bucket per source address, bounded in the number of sources."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, source: str) -> bool:
        """Take one token for `source`; False when its bucket is empty."""
        now = self.clock.monotonic()
        b = self._buckets.get(source)
        if b is None:
            tokens = self.burst
            if len(self._buckets) >= MAX_SOURCES:
                self._buckets.popitem(last=False)
        else:
            tokens = min(self.burst, b[0] + (now - b[1]) * self.rate)
            self._buckets.move_to_end(source)
        if tokens < 1.0:
            self._buckets[source] = (tokens, now)
            return False
        self._buckets[source] = (tokens - 1.0, now)
        return True


@dataclass(frozen=True, slots=True)
class _Raw:
    origin: EventOrigin
    data: bytes
    addr: tuple[str, int]
    ts: float
    transport: asyncio.DatagramTransport | None


class EventReceiver:
    """Listens where `config` says; `sink` gets lists of events, `on_drop` counts drops."""

    def __init__(
        self,
        config: EventsConfig,
        table: MeaningTable,
        sink: Callable[[list[DeviceEvent]], None],
        on_drop: Callable[[str], None],
        *,
        clock: Clock | None = None,
        v3_users: Sequence[V3User] = (),
        engine: tuple[bytes, int] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.table = table
        self.sink = sink
        self.on_drop = on_drop
        self.clock = clock or SystemClock()
        self.buckets = TokenBuckets(config.rate_limit, config.burst, self.clock)
        # "traps" / "syslog_udp" / "syslog_tcp" / "syslog_tls" → the bound (host, port)
        self.addresses: dict[str, tuple[str, int]] = {}
        self.tls = tls
        self._queue: asyncio.Queue[_Raw] | None = None
        self._listeners: dict[str, _Listener] = {}
        self._consumer: asyncio.Task[None] | None = None
        self._conns: dict[asyncio.Task[None], _Conn] = {}
        self._communities = [s.reveal().encode() for s in config.traps.communities]
        engine_id, boots = engine if engine is not None else (new_engine_id(), 1)
        self.usm = UsmReceiver(v3_users, engine_id, boots, self.clock.monotonic())

    async def start(self) -> None:
        """Bind every configured socket and start the consumer; raise OSError if one fails."""
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(self.config.queue_size)
        try:
            for key, listen in self._wanted(self.config).items():
                await self._bind(key, listen)
        except OSError:
            await self.aclose()
            raise
        self._consumer = loop.create_task(self._consume(), name="events-consumer")

    async def reconfigure(
        self,
        config: EventsConfig,
        table: MeaningTable,
        *,
        v3_users: Sequence[V3User] = (),
        engine: tuple[bytes, int] | None = None,
        tls: ssl.SSLContext | None = None,
        tls_changed: bool = False,
    ) -> list[str]:
        """Apply a new `events:` section without a restart; return what could not be applied.

        Limits, communities, v3 users and the meaning table are swapped at once. A
        listener whose address changed is bound anew first and the old one closed
        after, so a failed bind (a port in use, a port below 1024 without
        CAP_NET_BIND_SERVICE) keeps the old listener and is returned as a problem.
        A listener removed from the config is closed; `tls_changed` rebinds the TLS one
        with the new certificate (open connections keep the old one until they end).
        """
        old = self.config
        self.config = config
        self.table = table
        self.buckets.rate, self.buckets.burst = config.rate_limit, float(config.burst)
        self._communities = [s.reveal().encode() for s in config.traps.communities]
        if engine is not None and engine[0] != self.usm.engine_id:
            self.usm = UsmReceiver(v3_users, engine[0], engine[1], self.clock.monotonic())
        else:
            self.usm.set_users(v3_users)
        if config.queue_size != old.queue_size:
            await self._resize_queue(config.queue_size)
        self.tls = tls
        problems: list[str] = []
        wanted = self._wanted(config)
        current = self._wanted(old)
        for key in sorted(set(self._listeners) - set(wanted)):
            removed = self._listeners.pop(key)
            removed.close()
            self.addresses.pop(key, None)
            await self._close_connections([c for c in self._conns.values() if c.key == key])
            await removed.wait_closed()
            log.info("event receiver stopped listening %s=%s", key, current.get(key))
        for key, listen in wanted.items():
            if key in self._listeners and current.get(key) == listen:
                if key != "syslog_tls" or not tls_changed:
                    continue
            previous = self._listeners.pop(key, None)
            previous_addr = self.addresses.pop(key, None)
            try:
                if previous is not None and current.get(key) == listen:
                    previous.close()  # same address (new certificate): free it first
                    previous = None
                    await self._listeners_closed()
                await self._bind(key, listen)
            except OSError as exc:
                why = _bind_error(exc)
                if previous is not None:
                    self._listeners[key] = previous
                    if previous_addr is not None:
                        self.addresses[key] = previous_addr
                    problems.append(
                        f"events: cannot listen on {key}={listen} ({why}); still listening"
                        f" on {current.get(key)}"
                    )
                else:
                    problems.append(f"events: cannot listen on {key}={listen} ({why})")
                continue
            if previous is not None:
                previous.close()
            log.info("event receiver listening %s=%s", key, listen)
        return problems

    async def aclose(self) -> None:
        """Stop listening, close the TCP/TLS connections and await their tasks, then stop
        the consumer (in that order; see the module docstring). Closing twice is harmless."""
        listeners = list(self._listeners.values())
        self._listeners.clear()
        for listener in listeners:
            listener.close()
        await self._close_connections(list(self._conns.values()))
        for listener in listeners:
            await listener.wait_closed()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.cancel()
            try:
                await consumer
            except asyncio.CancelledError:
                pass
            self._drain()
        await self._listeners_closed()

    def offer(self, origin: EventOrigin, data: bytes, addr: tuple[str, int],
              transport: asyncio.DatagramTransport | None = None) -> None:  # fmt: skip
        """Admit one received message (size, rate limit, queue) or count why not."""
        if origin is EventOrigin.SYSLOG and len(data) > self.config.syslog.max_message_bytes:
            self.on_drop("too_large")
            return
        if not self.buckets.allow(addr[0]):
            self.on_drop("rate_limit")
            return
        assert self._queue is not None
        try:
            self._queue.put_nowait(_Raw(origin, data, addr, self.clock.time(), transport))
        except asyncio.QueueFull:
            self.on_drop("queue_full")

    @property
    def connections(self) -> int:
        """Open TCP and TLS syslog connections."""
        return len(self._conns)

    @property
    def queued(self) -> int:
        """Messages waiting for the consumer."""
        return 0 if self._queue is None else self._queue.qsize()

    # --- sockets ----------------------------------------------------------------

    @staticmethod
    def _wanted(config: EventsConfig) -> dict[str, str]:
        out: dict[str, str] = {}
        if config.traps.listen:
            out["traps"] = config.traps.listen
        if config.syslog.udp:
            out["syslog_udp"] = config.syslog.udp
        if config.syslog.tcp:
            out["syslog_tcp"] = config.syslog.tcp
        if config.syslog.tls:
            out["syslog_tls"] = config.syslog.tls.listen
        return out

    async def _bind(self, key: str, listen: str) -> None:
        host, port = parse_listen(listen)
        loop = asyncio.get_running_loop()
        if key in ("traps", "syslog_udp"):
            origin = EventOrigin.TRAP if key == "traps" else EventOrigin.SYSLOG
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self, origin), local_addr=(host, port)
            )
            sock = transport.get_extra_info("socket")
            if sock is not None:  # absorb bursts; the kernel caps it at net.core.rmem_max
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            self._listeners[key] = _Listener(transport=transport)
            self.addresses[key] = transport.get_extra_info("sockname")[:2]
            return
        tls = key == "syslog_tls"
        if tls and self.tls is None:
            raise OSError(0, "no TLS certificate loaded")

        def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # a plain function, not a coroutine: the connection's task is the receiver's
            # (asyncio's own task wrapper logs a cancelled one as an error on Python 3.11)
            self._accept(key, reader, writer, tls)

        server = await asyncio.start_server(
            client, host, port, limit=self.config.syslog.max_message_bytes
        )
        self._listeners[key] = _Listener(server=server)
        self.addresses[key] = server.sockets[0].getsockname()[:2]

    async def _listeners_closed(self) -> None:
        await asyncio.sleep(0)  # let the closed transports release their sockets

    async def _resize_queue(self, size: int) -> None:
        """A new bounded queue of `size`; what waits in the old one moves over (to `size`)."""
        old = self._queue
        self._queue = asyncio.Queue(size)
        if self._consumer is not None:
            self._consumer.cancel()
            try:
                await self._consumer
            except asyncio.CancelledError:
                pass
        while old is not None and not old.empty():
            item = old.get_nowait()
            try:
                self._queue.put_nowait(item)
            except asyncio.QueueFull:
                self.on_drop("queue_full")
        if self._consumer is not None:
            self._consumer = asyncio.get_running_loop().create_task(
                self._consume(), name="events-consumer"
            )

    def _accept(
        self, key: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tls: bool
    ) -> None:
        """A new connection: refused beyond `max_tcp_connections`, else read by a task."""
        if len(self._conns) >= self.config.syslog.max_tcp_connections:
            self.on_drop("connections")
            writer.close()
            return
        conn = _Conn(key, writer)
        task = asyncio.get_running_loop().create_task(
            self._stream_client(reader, conn, tls), name=f"events-{key}"
        )
        self._conns[task] = conn
        task.add_done_callback(self._connection_done)

    def _connection_done(self, task: asyncio.Task[None]) -> None:
        self._conns.pop(task, None)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("syslog connection handler failed: %r", exc, exc_info=exc)

    async def _close_connections(self, conns: list[_Conn]) -> None:
        """Close the transports of `conns`, then await their tasks (bounded: abort, cancel)."""
        if not conns:
            return
        for c in conns:
            c.closing = True
            c.writer.close()  # the task reads the end of the stream and returns
        tasks = {t for t, c in list(self._conns.items()) if c in conns}
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=CLOSE_GRACE)
        if pending:  # a TLS peer that does not answer close_notify
            for t in pending:
                self._conns[t].writer.transport.abort()
            _, pending = await asyncio.wait(pending, timeout=CLOSE_GRACE)
        for t in pending:  # never seen; our own tasks, so a cancel logs nothing
            t.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _stream_client(self, reader: asyncio.StreamReader, conn: _Conn, tls: bool) -> None:
        writer = conn.writer
        peer = writer.get_extra_info("peername") or ("", 0)
        addr = (str(peer[0]), int(peer[1]))
        framer = TcpFramer(self.config.syslog.max_message_bytes)
        try:
            if tls:
                context, tls_cfg = self.tls, self.config.syslog.tls
                if context is None or tls_cfg is None:
                    return
                try:
                    async with asyncio.timeout(tls_cfg.handshake_timeout):
                        await writer.start_tls(context)
                except (ssl.SSLError, TimeoutError, ConnectionError) as exc:
                    if conn.closing:  # closed by the receiver during the handshake
                        return
                    self.on_drop("tls_handshake")
                    log.debug("syslog TLS handshake failed source=%s: %s", addr[0], exc)
                    return
            while True:
                async with asyncio.timeout(self.config.syslog.tcp_idle_timeout):
                    data = await reader.read(65536)
                if not data:
                    break
                big, bad = framer.oversized, framer.malformed
                for msg in framer.feed(data):
                    self.offer(EventOrigin.SYSLOG, msg, addr)
                for _ in range(framer.oversized - big):
                    self.on_drop("too_large")
                for _ in range(framer.malformed - bad):
                    self.on_drop("malformed")
        except (TimeoutError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    # --- consumer ---------------------------------------------------------------

    async def _consume(self) -> None:
        assert self._queue is not None
        q = self._queue
        while True:
            items = [await q.get()]
            while len(items) < BATCH and not q.empty():
                items.append(q.get_nowait())
            events = [e for e in (self._meaning(r) for r in items) if e is not None]
            if events:
                self.sink(events)
            await asyncio.sleep(0)

    def _drain(self) -> None:
        """Give the core what is still queued (at close; bounded by `queue_size`)."""
        q = self._queue
        items = []
        while q is not None and not q.empty():
            items.append(q.get_nowait())
        events = [e for e in (self._meaning(r) for r in items) if e is not None]
        if events:
            self.sink(events)

    def _meaning(self, raw: _Raw) -> DeviceEvent | None:
        address = raw.addr[0]
        if address.startswith("::ffff:"):
            address = address[7:]
        if raw.origin is EventOrigin.SYSLOG:
            try:
                msg = parse_syslog(raw.data)
            except SyslogError as exc:
                self.on_drop(exc.reason)
                return None
            return self.table.syslog_event(msg, address, raw.ts)
        if is_v3(raw.data):
            res = self.usm.receive(raw.data, self.clock.monotonic())
            if res.reply is not None and _open(raw.transport):
                raw.transport.sendto(res.reply, raw.addr)
            if res.drop is not None:
                self.on_drop(res.drop)
                log.debug("v3 message dropped source=%s reason=%s", address, res.drop)
            return None if res.trap is None else self.table.trap_event(res.trap, address, raw.ts)
        try:
            trap = decode_trap(raw.data)
        except TrapError as exc:
            self.on_drop(exc.reason)
            log.debug("trap dropped source=%s reason=%s", address, exc.reason)
            return None
        if self._communities and not any(
            hmac.compare_digest(trap.community, c) for c in self._communities
        ):
            self.on_drop("community")
            return None
        if trap.pdu == PDU_INFORM and _open(raw.transport):
            raw.transport.sendto(inform_response(trap), raw.addr)
        return self.table.trap_event(trap, address, raw.ts)


@dataclass(slots=True, eq=False)
class _Conn:
    """One open TCP or TLS syslog connection, by the listener (key) it came through."""

    key: str
    writer: asyncio.StreamWriter
    closing: bool = False  # the receiver is closing it


@dataclass(slots=True)
class _Listener:
    """One bound socket: a datagram transport or a stream server."""

    transport: asyncio.BaseTransport | None = None
    server: asyncio.Server | None = None

    def close(self) -> None:
        """Stop listening (open TCP connections are the receiver's to end)."""
        if self.transport is not None:
            self.transport.close()
        if self.server is not None:
            self.server.close()

    async def wait_closed(self) -> None:
        """Wait for a closed stream server to let go of its connections (none left open)."""
        if self.server is not None:
            await self.server.wait_closed()


def build_tls_context(
    cert_file: Path, key_file: Path, client_ca_file: Path | None
) -> ssl.SSLContext:
    """The server context of the syslog TLS listener (TLS 1.2+); raise ConfigError on bad files."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert_file, key_file)
        if client_ca_file is not None:
            ctx.load_verify_locations(client_ca_file)
            ctx.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the syslog TLS certificate or key ({exc.strerror or exc})",
            field="events.syslog.tls",
        ) from None
    return ctx


def _open(transport: asyncio.DatagramTransport | None) -> TypeGuard[asyncio.DatagramTransport]:
    """A socket to answer on (not one closed since the message arrived: at close)."""
    return transport is not None and not transport.is_closing()


def _bind_error(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied: ports below 1024 need CAP_NET_BIND_SERVICE"
    return exc.strerror or str(exc)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, receiver: EventReceiver, origin: EventOrigin) -> None:
        self.receiver = receiver
        self.origin = origin
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.receiver.offer(self.origin, data, (str(addr[0]), int(str(addr[1]))), self.transport)

    def error_received(self, exc: Exception) -> None:
        log.debug("event socket error: %s", exc)
