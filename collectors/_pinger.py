"""The daemon's ICMP echo engine, shared by the `icmp` and `discovery` collectors.

One `Pinger` per daemon (`shared` key `icmp.pinger`) holds one socket per (address family,
mode): one `loop.add_reader` callback per socket matches replies by (address, identifier,
sequence); sends go out in batches sized from the receive buffer (4 MiB asked); the gap
between a target's requests and the reply deadline run on shared delay lines, not a timer
per packet. RTTs use the kernel's receive timestamp (SO_TIMESTAMPNS), and replies already
queued are read before any request is declared lost, so a busy event loop neither inflates
RTTs nor invents loss.

Why not icmplib's `async_multiping`: it opens one raw socket per concurrent task and every
raw socket receives (and parses) every echo reply, so at 1,000 targets its buffers overflow
and it reports two thirds of the packets lost that were answered. icmplib is used for what
it does well here: resolving host names (`icmplib.async_resolve`, see `resolve()`).

Modes (`privileged`): `true` uses raw sockets (root or CAP_NET_RAW); `false` uses Linux
ping sockets (SOCK_DGRAM ICMP; the process's group must be in net.ipv4.ping_group_range,
which also governs IPv6; the kernel rewrites the identifier, so replies are matched by
address and sequence on that socket's own identifier); `auto` tries raw, then ping sockets,
and raises PermissionDenied with the fix when neither is allowed (see deploy/README.md).
An echo request that the kernel refuses to send (no route, link down) counts as sent and
lost.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import os
import random
import socket
import struct
import time
from collections import deque
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from icmplib import NameLookupError, async_resolve

from collectors._delayline import DelayLine
from monitord.errors import (
    CollectorError,
    NameResolutionFailed,
    PermissionDenied,
    TargetUnreachable,
)

__all__ = [
    "MAX_PAYLOAD",
    "PINGER_KEY",
    "EchoSummary",
    "Family",
    "Pinger",
    "Resolved",
    "build_echo_request",
    "internet_checksum",
    "jitter",
    "resolve",
    "summarize",
]

log = logging.getLogger(__name__)

PINGER_KEY: Final = "icmp.pinger"
MAX_PAYLOAD: Final = 65_507  # largest ICMP payload in an IPv4 datagram

_RCVBUF: Final = 4 << 20  # bytes asked for; the kernel doubles it for bookkeeping
_SNDBUF: Final = 1 << 20
_SO_SNDBUFFORCE: Final = 32  # Linux; not exported by the socket module
_SO_RCVBUFFORCE: Final = 33
_SOL_RAW: Final = 255
_ICMP_FILTER: Final = 1  # level SOL_RAW, a bitmask of ICMP types to drop (Linux)
_ICMP6_FILTER: Final = 1  # level IPPROTO_ICMPV6, 256-bit mask of types to drop (Linux)
_ECHO_REQUEST: Final[Mapping[int, int]] = {socket.AF_INET: 8, socket.AF_INET6: 128}
_ECHO_REPLY: Final[Mapping[int, int]] = {socket.AF_INET: 0, socket.AF_INET6: 129}
_FAMILY_NAME: Final[Mapping[int, str]] = {socket.AF_INET: "IPv4", socket.AF_INET6: "IPv6"}
_RETRY_SEND_AFTER: Final = 0.002  # seconds, when the send buffer is full
_SO_TIMESTAMPNS: Final = 35  # Linux SO_TIMESTAMPNS_OLD == SCM_TIMESTAMPNS
_TIMESPEC = struct.Struct("@ll")
_ANC_SIZE: Final = socket.CMSG_SPACE(_TIMESPEC.size)
_HEADER = struct.Struct("!BBHHH")
_ID_SEQ = struct.Struct("!HH")


class Family(StrEnum):
    """Which address family to ping a host name over."""

    AUTO = "auto"
    IPV4 = "ipv4"
    IPV6 = "ipv6"


@dataclass(frozen=True, slots=True)
class EchoSummary:
    """What one poll saw: counts, RTT statistics (seconds, None without replies), jitter."""

    sent: int
    received: int
    loss: float
    rtt_min: float | None
    rtt_avg: float | None
    rtt_max: float | None
    jitter: float | None


class Pinger:
    """The daemon's ICMP sockets (one per family and mode), bound to the running event loop.

    `ping()` registers each echo request under (address, identifier, sequence) and queues
    it; sends go out in batches no larger than the receive buffer can absorb, and one reader
    callback per socket resolves the replies. Timing (the gap between a target's requests,
    the reply deadline) runs on delay lines: one timer per distinct delay, not per packet.
    `outstanding` counts registered requests (0 once every ping ended); `aclose()` releases
    the sockets.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._channels: dict[tuple[int, bool], _Channel] = {}
        self._auto: dict[int, bool] = {}
        self._pending: dict[tuple[str, int, int], tuple[_Probe, int]] = {}
        self._probes: set[_Probe] = set()  # every ping() in progress
        self._queue: deque[tuple[_Probe, int, int]] = deque()
        self._next_send: dict[float, DelayLine[tuple[_Probe, int]]] = {}
        self._expiry: dict[float, DelayLine[_Probe]] = {}
        self._payloads: dict[int, tuple[bytes, int]] = {}
        self._flush_handle: asyncio.Handle | None = None
        self._batch = 1 << 12
        self._seq = random.getrandbits(16)
        self._closed = False

    @property
    def outstanding(self) -> int:
        """Echo requests registered and not yet answered, expired or cancelled."""
        return len(self._pending)

    def mode(self, family: int, privileged: bool | Literal["auto"]) -> bool:
        """Open (or reuse) the socket for `family`; return True for raw, False for ping sockets.

        Raise PermissionDenied (with the fix) when the mode is not allowed.
        """
        return self._channel(family, privileged).raw

    async def ping(
        self,
        family: int,
        address: str,
        sockaddr: tuple[str, int] | tuple[str, int, int, int],
        *,
        privileged: bool | Literal["auto"],
        count: int,
        interval: float,
        timeout: float,
        payload_size: int,
    ) -> tuple[list[float | None], int]:
        """Send `count` echo requests `interval` apart; return the RTTs in send order.

        An RTT is None for a request without a reply within `timeout`. The second value is
        the errno of the last refused send (0 when the kernel sent them all).
        """
        if self._closed:
            raise CollectorError("the ICMP pinger is closed (daemon shutting down)")
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("Pinger used from another event loop than the one that made it")
        ch = self._channel(family, privileged)
        next_send = self._next_send.get(interval)
        if next_send is None:
            next_send = self._next_send[interval] = DelayLine(self._loop, interval, self._resume)
        expiry = self._expiry.get(timeout)
        if expiry is None:
            expiry = self._expiry[timeout] = DelayLine(
                self._loop, timeout, _Probe.finish, before=self._drain
            )
        probe = _Probe(
            ch,
            address,
            sockaddr,
            self._payload(payload_size),
            count,
            timeout,
            next_send,
            expiry,
            self._loop.create_future(),
        )
        self._probes.add(probe)
        try:
            self._enqueue(probe, 0)
            await probe.waiter
            if self._closed:  # woken by aclose(): what is missing was not lost
                raise CollectorError("the ICMP pinger was closed during the poll (shutdown)")
            return probe.rtts, probe.send_error
        finally:
            probe.finish()
            self._probes.discard(probe)
            pending = self._pending
            for key in probe.keys:
                entry = pending.get(key)
                if entry is not None and entry[0] is probe:
                    del pending[key]

    async def aclose(self) -> None:
        """Close every socket; pings still waiting raise CollectorError (not reported as loss)."""
        self._closed = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        for sends in self._next_send.values():
            sends.clear()
        for expiry in self._expiry.values():
            expiry.clear()
        for ch in self._channels.values():
            self._loop.remove_reader(ch.sock.fileno())
            ch.sock.close()
        self._channels.clear()
        self._queue.clear()
        for probe in list(self._probes):
            probe.finish()
        self._pending.clear()

    # -- sockets ---------------------------------------------------------------------------

    def _channel(self, family: int, privileged: bool | Literal["auto"]) -> _Channel:
        if privileged != "auto":
            return self._open(family, privileged is True)
        raw = self._auto.get(family)
        if raw is not None:
            return self._open(family, raw)
        try:
            ch = self._open(family, True)
        except PermissionDenied:
            try:
                ch = self._open(family, False)
            except PermissionDenied as exc:
                raise PermissionDenied(
                    f"cannot open an ICMP socket for {_FAMILY_NAME[family]}: raw sockets need root "
                    f"or CAP_NET_RAW, and ping sockets need this process's group in "
                    f"net.ipv4.ping_group_range ({_group_range_hint()}); grant CAP_NET_RAW "
                    "(systemd: AmbientCapabilities=CAP_NET_RAW) or widen ping_group_range"
                ) from exc.__cause__
        self._auto[family] = ch.raw
        log.info(
            "icmp socket opened family=%s mode=%s",
            _FAMILY_NAME[family],
            "raw" if ch.raw else "ping-socket",
        )
        return ch

    def _open(self, family: int, raw: bool) -> _Channel:
        ch = self._channels.get((family, raw))
        if ch is not None:
            return ch
        proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
        try:
            sock = socket.socket(family, socket.SOCK_RAW if raw else socket.SOCK_DGRAM, proto)
        except PermissionError as exc:
            raise PermissionDenied(_permission_message(family, raw)) from exc
        except OSError as exc:
            raise TargetUnreachable(
                f"cannot open an ICMP socket for {_FAMILY_NAME[family]}: {exc.strerror}"
            ) from exc
        with ExitStack() as undo:
            undo.callback(sock.close)
            sock.setblocking(False)
            _set_buffer(sock, socket.SO_RCVBUF, _SO_RCVBUFFORCE, _RCVBUF)
            _set_buffer(sock, socket.SO_SNDBUF, _SO_SNDBUFFORCE, _SNDBUF)
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            if raw:
                _pass_only_echo_replies(sock, family)
                ident = random.randrange(1, 1 << 16)
            else:
                sock.bind(("0.0.0.0", 0) if family == socket.AF_INET else ("::", 0))
                ident = int(sock.getsockname()[1])  # the kernel writes this identifier
            ch = _Channel(sock, family, raw, ident)
            self._loop.add_reader(sock.fileno(), self._on_readable, ch)
            undo.pop_all()
        self._channels[(family, raw)] = ch
        rcvbuf = int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        # Never put more replies in flight per loop turn than the receive buffer can hold.
        self._batch = min(self._batch, max(32, rcvbuf // 4096))
        return ch

    def _payload(self, size: int) -> tuple[bytes, int]:
        cached = self._payloads.get(size)
        if cached is None:
            data = bytes((0x20 + i % 95) for i in range(size))
            cached = self._payloads[size] = (data, _word_sum(data))
        return cached

    def _enqueue(self, probe: _Probe, index: int) -> None:
        """Register request `index` of `probe` under a free sequence number and queue it."""
        pending, address, ident = self._pending, probe.address, probe.channel.ident
        for _ in range(1 << 16):
            self._seq = seq = (self._seq + 1) & 0xFFFF
            key = (address, ident, seq)
            if key not in pending:
                pending[key] = (probe, index)
                probe.keys.append(key)
                self._queue.append((probe, index, seq))
                if self._flush_handle is None:
                    self._flush_handle = self._loop.call_soon(self._flush)
                break
        else:  # 65536 requests to this address in flight: this one cannot be told apart
            probe.refused(errno.ENOBUFS)
            if index + 1 == probe.count and not probe.done:
                probe.expiry.add(probe)
        if index + 1 < probe.count:
            probe.next_send.add((probe, index + 1))

    def _resume(self, item: tuple[_Probe, int]) -> None:
        if not item[0].done:
            self._enqueue(*item)

    # -- I/O callbacks (no awaits: these run straight from the event loop) -----------------

    def _flush(self) -> None:
        self._flush_handle = None
        queue, budget, now, wall = self._queue, self._batch, time.perf_counter, time.time_ns
        pack = _HEADER.pack
        while queue and budget:
            probe, i, seq = queue[0]
            if probe.done:
                queue.popleft()
                continue
            ch = probe.channel
            payload = probe.payload[0]
            # build_echo_request inlined (once per packet): the checksum of type, ident and
            # payload is summed once per probe, the sequence number added and folded here
            total = probe.partial_sum + seq
            total = (total & 0xFFFF) + (total >> 16)
            total = (total & 0xFFFF) + (total >> 16)
            packet = pack(ch.request_type, 0, ~total & 0xFFFF, ch.ident, seq) + payload
            probe.sent_wall[i] = wall()
            probe.sent_at[i] = now()
            try:
                ch.sock.sendto(packet, probe.sockaddr)
            except (BlockingIOError, InterruptedError):
                self._flush_handle = self._loop.call_later(_RETRY_SEND_AFTER, self._flush)
                return
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self._flush_handle = self._loop.call_later(_RETRY_SEND_AFTER, self._flush)
                    return
                queue.popleft()
                probe.refused(exc.errno or errno.EIO)
            else:
                queue.popleft()
            budget -= 1
            if i == probe.count - 1 and not probe.done:
                probe.expiry.add(probe)
        if queue:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _drain(self) -> None:
        """Read every reply already queued, so none is declared lost while it waits unread."""
        for ch in list(self._channels.values()):
            self._on_readable(ch, 1 << 30)

    def _on_readable(self, ch: _Channel, limit: int = 0) -> None:
        recv, bufs, buf, pending = ch.sock.recvmsg_into, ch.bufs, ch.buf, self._pending
        now, unpack_ts = time.perf_counter, _TIMESPEC.unpack_from
        ip_header, reply_type = ch.ip_header, ch.reply_type
        for _ in range(limit or self._batch * 2):
            try:
                n, anc, _flags, src = recv(bufs, _ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error queued on a ping socket; consumed by this read
            t = now()
            off = (buf[0] & 0x0F) << 2 if ip_header else 0
            if n < off + 8 or buf[off] != reply_type:
                continue
            entry = pending.pop((src[0], *_ID_SEQ.unpack_from(buf, off + 4)), None)
            if entry is None:
                continue
            kernel = 0
            if anc:  # the only control message asked for: SCM_TIMESTAMPNS
                _level, kind, data = anc[0]
                if kind == _SO_TIMESTAMPNS and len(data) == _TIMESPEC.size:
                    sec, nsec = unpack_ts(data)
                    kernel = sec * 1_000_000_000 + nsec
            entry[0].replied(entry[1], t, kernel)


def summarize(rtts: Sequence[float | None]) -> EchoSummary:
    """Counts, min/avg/max RTT and jitter of one poll (None marks a lost request)."""
    got = [r for r in rtts if r is not None]
    sent, n = len(rtts), len(got)
    loss = (sent - n) / sent if sent else 0.0
    if not n:
        return EchoSummary(sent, 0, loss, None, None, None, None)
    jit = None
    if n > 1:  # jitter() inlined: this runs once per target and poll
        prev, diffs = got[0], 0.0
        for r in got:
            diffs += abs(r - prev)
            prev = r
        jit = diffs / (n - 1)
    return EchoSummary(sent, n, loss, min(got), sum(got) / n, max(got), jit)


def jitter(rtts: Sequence[float]) -> float | None:
    """Mean absolute difference of consecutive RTTs; None with fewer than two."""
    if len(rtts) < 2:
        return None
    return sum(abs(b - a) for a, b in itertools.pairwise(rtts)) / (len(rtts) - 1)


def internet_checksum(data: bytes) -> int:
    """RFC 1071 checksum of `data` (odd length padded with a zero byte)."""
    return _fold(_word_sum(data))


def build_echo_request(
    icmp_type: int, ident: int, seq: int, payload: bytes, payload_sum: int | None = None
) -> bytes:
    """An ICMP echo request with its checksum; `payload_sum` is `_word_sum(payload)` if known."""
    total = (_word_sum(payload) if payload_sum is None else payload_sum) + (icmp_type << 8)
    return _HEADER.pack(icmp_type, 0, _fold(total + ident + seq), ident, seq) + payload


# -- private helpers --------------------------------------------------------------------------


class _Channel:
    """One socket: its family, mode, identifier and receive buffer."""

    __slots__ = (
        "buf",
        "bufs",
        "family",
        "ident",
        "ip_header",
        "raw",
        "reply_type",
        "request_type",
        "sock",
    )

    def __init__(self, sock: socket.socket, family: int, raw: bool, ident: int) -> None:
        self.sock = sock
        self.family = family
        self.raw = raw
        self.ident = ident
        self.ip_header = raw and family == socket.AF_INET  # raw IPv4 reads include the IP header
        self.request_type = _ECHO_REQUEST[family]
        self.reply_type = _ECHO_REPLY[family]
        self.buf = bytearray(1 << 16)
        self.bufs = [self.buf]


class _Probe:
    """The echo requests of one ping() call and what became of them."""

    __slots__ = (
        "address",
        "channel",
        "count",
        "done",
        "expiry",
        "keys",
        "left",
        "next_send",
        "partial_sum",
        "payload",
        "rtts",
        "send_error",
        "sent_at",
        "sent_wall",
        "sockaddr",
        "timeout",
        "waiter",
    )

    def __init__(
        self,
        channel: _Channel,
        address: str,
        sockaddr: tuple[str, int] | tuple[str, int, int, int],
        payload: tuple[bytes, int],
        count: int,
        timeout: float,
        next_send: DelayLine[tuple[_Probe, int]],
        expiry: DelayLine[_Probe],
        waiter: asyncio.Future[None],
    ) -> None:
        self.channel = channel
        self.address = address
        self.sockaddr = sockaddr
        self.payload = payload
        # RFC 1071 sum of the request without its sequence number (type, ident, payload)
        partial = payload[1] + (channel.request_type << 8) + channel.ident
        while partial >> 16:
            partial = (partial & 0xFFFF) + (partial >> 16)
        self.partial_sum = partial  # < 2^16: with a sequence number, two folds suffice
        self.count = count
        self.timeout = timeout
        self.next_send = next_send
        self.expiry = expiry
        self.waiter = waiter
        self.keys: list[tuple[str, int, int]] = []
        self.sent_at = [0.0] * count  # perf_counter
        self.sent_wall = [0] * count  # time.time_ns, to compare with kernel receive stamps
        self.rtts: list[float | None] = [None] * count
        self.left = count
        self.send_error = 0
        self.done = False

    def replied(self, index: int, now: float, kernel_stamp: int) -> None:
        """Record a reply read at `now` (perf_counter), stamped by the kernel (epoch ns) if > 0.

        The kernel's receive stamp keeps event-loop lag out of the RTT; it is used only when
        it is consistent with the monotonic measure (a wall-clock step cannot skew it).
        """
        rtt = now - self.sent_at[index]
        if kernel_stamp:
            precise = (kernel_stamp - self.sent_wall[index]) * 1e-9
            if 0.0 < precise <= rtt:
                rtt = precise
        if rtt <= self.timeout:
            self.rtts[index] = rtt
        self._account()

    def refused(self, error: int) -> None:
        """The kernel refused to send one request: it is lost."""
        self.send_error = error
        self._account()

    def finish(self) -> None:
        """End the ping: whatever has no reply yet is lost."""
        self.done = True
        if not self.waiter.done():
            self.waiter.set_result(None)

    def _account(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.finish()


Resolved = tuple[int, str, tuple[str, int] | tuple[str, int, int, int]]


async def resolve(address: str, family: Family) -> Resolved:
    """Address family, canonical address text and socket address of `address`."""
    literal = _parse_literal(address)
    if literal is not None:
        fam, text = literal
        if family is not Family.AUTO and fam != _AF[family]:
            raise NameResolutionFailed(f"address {address} is not {family.value} (family option)")
        return fam, text, ((text, 0) if fam == socket.AF_INET else (text, 0, 0, 0))
    # icmplib's resolver: IPv4 (A) first, then IPv6 (AAAA), unless a family is asked for.
    try:
        found = await async_resolve(address, _ICMPLIB_FAMILY.get(family))
    except (NameLookupError, UnicodeError) as exc:
        raise NameResolutionFailed(
            f"cannot resolve {address!r}; check the name and the resolver"
        ) from exc
    for text in found:
        literal = _parse_literal(text.split("%", 1)[0])
        if literal is not None:
            fam = literal[0]
            return fam, text, ((text, 0) if fam == socket.AF_INET else (text, 0, 0, 0))
    raise NameResolutionFailed(f"{address!r} has no IPv4 or IPv6 address")


_AF: Final[Mapping[Family, int]] = {Family.IPV4: socket.AF_INET, Family.IPV6: socket.AF_INET6}
_ICMPLIB_FAMILY: Final[Mapping[Family, int]] = {Family.IPV4: 4, Family.IPV6: 6}


def _parse_literal(address: str) -> tuple[int, str] | None:
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            return fam, socket.inet_ntop(fam, socket.inet_pton(fam, address))
        except OSError:
            continue
    return None


def _word_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _set_buffer(sock: socket.socket, option: int, force: int, size: int) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, force, size)  # past rmem_max/wmem_max; needs privilege
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, option, size)  # capped at the sysctl maximum


def _pass_only_echo_replies(sock: socket.socket, family: int) -> None:
    """Have the kernel drop every ICMP type but echo reply before it reaches this raw socket."""
    if family == socket.AF_INET:
        sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("=I", ~(1 << 0) & 0xFFFFFFFF))
    else:
        words = [0xFFFFFFFF] * 8
        words[129 >> 5] &= ~(1 << (129 & 31))
        sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("=8I", *words))


def _permission_message(family: int, raw: bool) -> str:
    fam = _FAMILY_NAME[family]
    if raw:
        return (
            f"cannot open a raw ICMP socket for {fam} (privileged: true): run as root or grant "
            "CAP_NET_RAW (systemd: AmbientCapabilities=CAP_NET_RAW), or use privileged: false "
            "with net.ipv4.ping_group_range covering this process's group"
        )
    return (
        f"cannot open an unprivileged ICMP (ping) socket for {fam}: this process's group "
        f"(gid {os.getgid()}) is not in net.ipv4.ping_group_range ({_group_range_hint()}); "
        f"widen it, e.g. sysctl -w net.ipv4.ping_group_range='{os.getgid()} {os.getgid()}', "
        "or grant CAP_NET_RAW and use privileged: true or auto"
    )


def _group_range_hint() -> str:
    try:
        with open("/proc/sys/net/ipv4/ping_group_range", encoding="ascii") as f:
            return "now '" + " ".join(f.read().split()) + "'"
    except OSError:
        return "unreadable"
