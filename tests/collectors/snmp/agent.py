"""A scripted SNMPv2c agent on loopback, for the behaviours real agents show only when broken.

snmpsim and snmpd cannot be made to return non-increasing OIDs, to answer tooBig or
genErr to GETBULK only, to drop big requests, or to answer slowly on purpose; real
devices do all of that. This agent serves a table of OIDs over UDP on 127.0.0.1 with
those faults switchable, and records what it was asked (request types, repetitions,
requests in flight). It encodes and decodes with pysnmp's pyasn1 codec, so it shares
no code with the collector's own BER codec.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto.api import v2c

Oid = tuple[int, ...]


@dataclass
class Faults:
    """What the agent does wrong (all off by default)."""

    repeat_after: Oid | None = None  # past this OID, answer it again instead of its successor
    too_big_above: int = 0  # GETBULK asking more than this many varbinds → tooBig
    gen_err_on_bulk: bool = False  # GETBULK → genErr (GETNEXT works)
    drop_bulk_above: int = 0  # GETBULK asking more than this many repetitions → no answer
    drop_all: bool = False  # never answer
    delay: float = 0.0  # seconds before each answer
    max_response_varbinds: int = 0  # truncate GETBULK responses (0: no limit)
    drop_under: Oid | None = None  # never answer a request that names an OID under this


@dataclass
class Seen:
    """What the agent was asked."""

    pdus: list[str] = field(default_factory=list)
    repetitions: list[int] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0


class ScriptedAgent(asyncio.DatagramProtocol):
    """Serve `values` (OID → pysnmp value) to community `community` on 127.0.0.1."""

    def __init__(
        self, values: dict[Oid, object], community: str = "public", faults: Faults | None = None
    ) -> None:
        self.values = dict(values)
        self.oids = sorted(self.values)
        self.community = community.encode()
        self.faults = faults or Faults()
        self.seen = Seen()
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0)
        )
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        return self.port

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.transport is not None:
            self.transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        task = asyncio.get_running_loop().create_task(self._answer(data, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _next(self, oid: Oid) -> tuple[Oid, object]:
        f = self.faults
        if f.repeat_after is not None and oid >= f.repeat_after:
            return oid, v2c.Integer(1)
        i = bisect.bisect_right(self.oids, oid)
        if i >= len(self.oids):
            return oid, v2c.EndOfMibView()
        nxt = self.oids[i]
        return nxt, self.values[nxt]

    async def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
        f = self.faults
        msg, _ = decoder.decode(data, asn1Spec=v2c.Message())
        if bytes(v2c.apiMessage.get_community(msg)) != self.community:
            return
        req = v2c.apiMessage.get_pdu(msg)
        kind = req.__class__.__name__
        self.seen.pdus.append(kind)
        self.seen.in_flight += 1
        self.seen.max_in_flight = max(self.seen.max_in_flight, self.seen.in_flight)
        try:
            if f.delay:
                await asyncio.sleep(f.delay)
            oids = [tuple(o) for o, _ in v2c.apiPDU.get_varbinds(req)]
            status = 0
            out: list[tuple[Oid, object]] = []
            if f.drop_all:
                return
            under = f.drop_under
            if under is not None and any(o[: len(under)] == under for o in oids):
                return
            if isinstance(req, v2c.GetBulkRequestPDU):
                reps = int(v2c.apiBulkPDU.get_max_repetitions(req))
                self.seen.repetitions.append(reps)
                if f.drop_bulk_above and reps > f.drop_bulk_above:
                    return
                if f.gen_err_on_bulk:
                    status = 5
                elif f.too_big_above and reps * len(oids) > f.too_big_above:
                    status = 1
                else:
                    cursors = list(oids)
                    for _ in range(reps):
                        for i, c in enumerate(cursors):
                            nxt, val = self._next(c)
                            out.append((nxt, val))
                            cursors[i] = nxt
                    if f.max_response_varbinds:
                        out = out[: f.max_response_varbinds]
            elif isinstance(req, v2c.GetNextRequestPDU):
                out = [self._next(o) for o in oids]
            else:
                out = [(o, self.values.get(o, v2c.NoSuchInstance())) for o in oids]
            rsp = v2c.apiMessage.get_response(msg)
            pdu = v2c.apiMessage.get_pdu(rsp)
            if status:
                v2c.apiPDU.set_error_status(pdu, status)
                v2c.apiPDU.set_error_index(pdu, 1)
                v2c.apiPDU.set_varbinds(pdu, [(o, v2c.Null("")) for o in oids])
            else:
                v2c.apiPDU.set_varbinds(pdu, out)
            assert self.transport is not None
            self.transport.sendto(encoder.encode(rsp), addr)
        finally:
            self.seen.in_flight -= 1


def interface_table(count: int, *, hc: bool = True, uptime: int = 100_000) -> dict[Oid, object]:
    """A small IF-MIB device: sysUpTime, ifNumber, ifTable and ifXTable for `count` interfaces."""
    values: dict[Oid, object] = {
        (1, 3, 6, 1, 2, 1, 1, 1, 0): v2c.OctetString(b"scripted agent"),
        (1, 3, 6, 1, 2, 1, 1, 2, 0): v2c.ObjectIdentifier((1, 3, 6, 1, 4, 1, 99999)),
        (1, 3, 6, 1, 2, 1, 1, 3, 0): v2c.TimeTicks(uptime),
        (1, 3, 6, 1, 2, 1, 1, 5, 0): v2c.OctetString(b"scripted"),
        (1, 3, 6, 1, 2, 1, 2, 1, 0): v2c.Integer(count),
    }
    for i in range(1, count + 1):
        t = (1, 3, 6, 1, 2, 1, 2, 2, 1)
        x = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
        values |= {
            (*t, 2, i): v2c.OctetString(f"eth{i}".encode()),
            (*t, 3, i): v2c.Integer(6),
            (*t, 5, i): v2c.Gauge32(1_000_000_000),
            (*t, 7, i): v2c.Integer(1),
            (*t, 8, i): v2c.Integer(1 if i % 2 else 2),
            (*t, 10, i): v2c.Counter32(1000 * i),
            (*t, 11, i): v2c.Counter32(10 * i),
            (*t, 13, i): v2c.Counter32(i),
            (*t, 14, i): v2c.Counter32(2 * i),
            (*t, 16, i): v2c.Counter32(3000 * i),
            (*t, 17, i): v2c.Counter32(30 * i),
            (*t, 19, i): v2c.Counter32(3 * i),
            (*t, 20, i): v2c.Counter32(4 * i),
            (*x, 1, i): v2c.OctetString(f"e{i}".encode()),
            (*x, 15, i): v2c.Gauge32(1000),
            (*x, 18, i): v2c.OctetString(b""),
        }
        if hc:
            values |= {
                (*x, 6, i): v2c.Counter64((1 << 40) + i),
                (*x, 7, i): v2c.Counter64(100 * i),
                (*x, 10, i): v2c.Counter64((1 << 41) + i),
                (*x, 11, i): v2c.Counter64(300 * i),
            }
    return values


def columns(values: Iterable[Oid], prefix: Oid) -> list[Oid]:
    """The distinct column OIDs under a table entry prefix."""
    return sorted({o[: len(prefix) + 1] for o in values if o[: len(prefix)] == prefix})
