"""The sockets of the event receiver: UDP traps, UDP and TCP syslog, with flood limits.

Per datagram (or TCP frame), on the event loop and before any parsing: a size check,
a token bucket per source address (`rate_limit` per second, `burst`), then a bounded
queue. A drop at any of these steps only increments a counter (`on_drop(reason)`),
so a flood costs a dictionary lookup per message and never grows memory. One consumer
task parses queued messages in batches, gives them their meaning, answers informs, and
hands the events to the core (`sink`), yielding to the loop between batches so polls
keep their schedule.

Drop reasons: `rate_limit`, `queue_full`, `too_large`, `malformed`, `community`,
`unsupported_version`, `not_a_trap`, `connections`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from collectors.events.meaning import MeaningTable
from collectors.events.syslog import SyslogError, TcpFramer, parse_syslog
from collectors.events.traps import PDU_INFORM, TrapError, decode_trap, inform_response
from monitord.config import EventsConfig, parse_listen
from monitord.types import Clock, DeviceEvent, EventOrigin, SystemClock

__all__ = ["BATCH", "EventReceiver", "TokenBuckets"]

log = logging.getLogger(__name__)

BATCH = 256  # messages parsed per turn of the consumer before it yields to the loop
RCVBUF = 4 << 20  # bytes of socket receive buffer asked for the UDP sockets
MAX_SOURCES = 4096  # token buckets kept; the least recently seen source is forgotten


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
    ) -> None:
        self.config = config
        self.table = table
        self.sink = sink
        self.on_drop = on_drop
        self.clock = clock or SystemClock()
        self.buckets = TokenBuckets(config.rate_limit, config.burst, self.clock)
        self.addresses: dict[str, tuple[str, int]] = {}  # "traps"/"syslog_udp"/"syslog_tcp"
        self._queue: asyncio.Queue[_Raw] | None = None
        self._transports: list[asyncio.BaseTransport] = []
        self._server: asyncio.Server | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._communities = [s.reveal().encode() for s in config.traps.communities]

    async def start(self) -> None:
        """Bind every configured socket and start the consumer; raise OSError if one fails."""
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(self.config.queue_size)
        try:
            if self.config.traps.listen:
                await self._udp("traps", self.config.traps.listen, EventOrigin.TRAP)
            if self.config.syslog.udp:
                await self._udp("syslog_udp", self.config.syslog.udp, EventOrigin.SYSLOG)
            if self.config.syslog.tcp:
                host, port = parse_listen(self.config.syslog.tcp)
                self._server = await asyncio.start_server(
                    self._tcp_client, host, port, limit=self.config.syslog.max_message_bytes
                )
                self.addresses["syslog_tcp"] = self._server.sockets[0].getsockname()[:2]
        except OSError:
            await self.aclose()
            raise
        self._consumer = loop.create_task(self._consume(), name="events-consumer")

    async def aclose(self) -> None:
        """Close the sockets, stop the consumer and the TCP connections."""
        for t in self._transports:
            t.close()
        self._transports.clear()
        if self._server is not None:
            self._server.close()
        for task in [*self._conns, *([self._consumer] if self._consumer else [])]:
            task.cancel()
        for task in [*self._conns, *([self._consumer] if self._consumer else [])]:
            try:
                await task
            except asyncio.CancelledError:
                pass
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self._consumer = None

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
    def queued(self) -> int:
        """Messages waiting for the consumer."""
        return 0 if self._queue is None else self._queue.qsize()

    # --- sockets ----------------------------------------------------------------

    async def _udp(self, key: str, listen: str, origin: EventOrigin) -> None:
        host, port = parse_listen(listen)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self, origin), local_addr=(host, port)
        )
        sock = transport.get_extra_info("socket")
        if sock is not None:  # absorb bursts; the kernel caps it at net.core.rmem_max
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        self._transports.append(transport)
        self.addresses[key] = transport.get_extra_info("sockname")[:2]

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._conns) >= self.config.syslog.max_tcp_connections:
            self.on_drop("connections")
            writer.close()
            return
        self._conns.add(task)
        peer = writer.get_extra_info("peername") or ("", 0)
        addr = (str(peer[0]), int(peer[1]))
        framer = TcpFramer(self.config.syslog.max_message_bytes)
        try:
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
        except (TimeoutError, ConnectionError):
            pass
        finally:
            self._conns.discard(task)
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
        if trap.pdu == PDU_INFORM and raw.transport is not None:
            raw.transport.sendto(inform_response(trap), raw.addr)
        return self.table.trap_event(trap, address, raw.ts)


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
