"""Hostile SNMPv2c agents on 127.0.0.1, in a process of their own (raw BER, hand-encoded).

Real agents can send what no SNMP type allows, and broken or hostile ones walk
forever. pysnmp's codec refuses to encode either, so this agent encodes BER by hand
(it shares no code with the collector's codec) and runs as a subprocess, so its CPU
is not the event loop's of the daemon under test:

    python -m tests.collectors.snmp.hostile --mode endless|malformed [--community c]

It binds a free UDP port on 127.0.0.1, prints `port N` on stdout, and answers until
killed (or for `--lifetime` seconds at most, so it always stops by itself).

- `endless`: GET answers the system group (sysUpTime, ifNumber 8); GETNEXT and GETBULK
  answer, for any OID asked, a strictly larger one in the same subtree, forever: every
  table is endless (211,000 series in the issue's run).
- `malformed`: a 3-interface device (see `MALFORMED_DEVICE`) where some varbinds carry
  values no SNMP type allows: an INTEGER of 9 octets, a Counter32 of 2^40, an OID value
  and a varbind name with an arc past 2^32-1, a value of an unknown type (0x47).
"""

from __future__ import annotations

import argparse
import bisect
import socket
import sys
import time
from typing import Final

Oid = tuple[int, ...]

INTEGER, OCTETS, NULL, OID_T = 0x02, 0x04, 0x05, 0x06
COUNTER32, GAUGE32, TIMETICKS, COUNTER64 = 0x41, 0x42, 0x43, 0x46
END_OF_MIB, NO_SUCH_INSTANCE = 0x82, 0x81

SYS = (1, 3, 6, 1, 2, 1, 1)
IF = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
HUGE: Final = 1 << 40  # an OID arc past 2^32-1


# --- BER, by hand ----------------------------------------------------------------------


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def tlv(tag: int, content: bytes) -> bytes:
    """One TLV."""
    return bytes((tag,)) + _len(len(content)) + content


def int_content(value: int) -> bytes:
    """Two's complement content octets of an INTEGER, minimal length."""
    size = max(1, (value.bit_length() + 8) // 8)
    return value.to_bytes(size, "big", signed=True)


def uint_content(value: int) -> bytes:
    """Content octets of an unsigned application type (a leading 0 when the top bit is set)."""
    return int_content(value)


def oid_content(oid: Oid) -> bytes:
    """Content octets of an OID; arcs of any size (also past what SNMP allows)."""
    out = bytearray()
    for arc in (oid[0] * 40 + oid[1], *oid[2:]):
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def _parse(data: bytes, pos: int) -> tuple[int, int, int]:
    tag = data[pos]
    n = data[pos + 1]
    if n < 0x80:
        start = pos + 2
    else:
        k = n & 0x7F
        n = int.from_bytes(data[pos + 2 : pos + 2 + k], "big")
        start = pos + 2 + k
    return tag, start, start + n


def _decode_oid(raw: bytes) -> Oid:
    arcs, value = [], 0
    for b in raw:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = (first // 40, first % 40) if first < 80 else (2, first - 80)
    return (*head, *arcs[1:])


def parse_request(data: bytes) -> tuple[int, bytes, int, int, int, int, list[Oid]]:
    """(version, community, pdu tag, request id, non-repeaters, max-repetitions, OIDs)."""
    _, pos, _ = _parse(data, 0)
    _, a, pos = _parse(data, pos)
    version = int.from_bytes(data[a:pos], "big")
    _, a, pos = _parse(data, pos)
    community = data[a:pos]
    pdu, pos, _ = _parse(data, pos)
    fields = []
    for _ in range(3):
        _, a, pos = _parse(data, pos)
        fields.append(int.from_bytes(data[a:pos], "big", signed=True))
    _, pos, vend = _parse(data, pos)
    oids = []
    while pos < vend:
        _, vpos, vb_end = _parse(data, pos)
        _, a, b = _parse(data, vpos)
        oids.append(_decode_oid(data[a:b]))
        pos = vb_end
    return version, community, pdu, fields[0], fields[1], fields[2], oids


def response(version: int, community: bytes, rid: int, varbinds: list[bytes]) -> bytes:
    """A Response PDU around pre-encoded varbinds."""
    body = (
        tlv(INTEGER, int_content(rid))
        + tlv(INTEGER, b"\x00")
        + tlv(INTEGER, b"\x00")
        + tlv(0x30, b"".join(varbinds))
    )
    msg = tlv(INTEGER, int_content(version)) + tlv(OCTETS, community) + tlv(0xA2, body)
    return tlv(0x30, msg)


def varbind(name: Oid, tag: int, content: bytes) -> bytes:
    """One encoded varbind."""
    return tlv(0x30, tlv(OID_T, oid_content(name)) + tlv(tag, content))


# --- the devices -----------------------------------------------------------------------

Value = tuple[int, bytes]  # (tag, content octets)


def _system(if_number: int) -> dict[Oid, Value]:
    return {
        (*SYS, 1, 0): (OCTETS, b"hostile agent"),
        (*SYS, 2, 0): (OID_T, oid_content((1, 3, 6, 1, 4, 1, 99999))),
        (*SYS, 3, 0): (TIMETICKS, uint_content(123_456)),
        (*SYS, 5, 0): (OCTETS, b"hostile"),
        (1, 3, 6, 1, 2, 1, 2, 1, 0): (INTEGER, int_content(if_number)),
    }


def malformed_device() -> dict[Oid, Value]:
    """Three interfaces; five varbinds no SNMP type allows (see the module docstring)."""
    values = _system(3)
    values[(*SYS, 2, 0)] = (OID_T, oid_content((1, 3, 6, 1, 4, 1, HUGE)))  # bad OID value
    for i in (1, 2, 3):
        values |= {
            (*IF, 2, i): (OCTETS, f"port{i}".encode()),
            (*IF, 3, i): (INTEGER, int_content(6)),
            (*IF, 5, i): (GAUGE32, uint_content(1_000_000_000)),
            (*IF, 7, i): (INTEGER, int_content(1)),
            (*IF, 8, i): (INTEGER, int_content(1)),
            (*IF, 10, i): (COUNTER32, uint_content(1000 * i)),
            (*IF, 11, i): (COUNTER32, uint_content(10 * i)),
            (*IF, 13, i): (COUNTER32, uint_content(i)),
            (*IF, 14, i): (COUNTER32, uint_content(2 * i)),
            (*IF, 16, i): (COUNTER32, uint_content(3000 * i)),
            (*IF, 17, i): (COUNTER32, uint_content(30 * i)),
            (*IF, 19, i): (COUNTER32, uint_content(3 * i)),
            (*IF, 20, i): (COUNTER32, uint_content(4 * i)),
            (*IFX, 1, i): (OCTETS, f"e{i}".encode()),
            (*IFX, 6, i): (COUNTER64, uint_content((1 << 40) + i)),
            (*IFX, 7, i): (COUNTER64, uint_content(100 * i)),
            (*IFX, 10, i): (COUNTER64, uint_content((1 << 41) + i)),
            (*IFX, 11, i): (COUNTER64, uint_content(300 * i)),
            (*IFX, 15, i): (GAUGE32, uint_content(1000)),
            (*IFX, 18, i): (OCTETS, f"alias {i}".encode()),
        }
    values[(*IF, 7, 2)] = (INTEGER, b"\x01" + b"\x00" * 8)  # over-long INTEGER (9 octets, 2^64)
    values[(*IF, 14, 3)] = (COUNTER32, uint_content(1 << 40))  # Counter32 past 2^32-1
    values[(*IFX, 18, 1)] = (0x47, b"\x01\x02")  # a type SNMP does not have
    values[(*IFX, 6, HUGE)] = (COUNTER64, uint_content(1))  # a name with an arc past 2^32-1
    return values


MALFORMED_VARBINDS: Final = 5  # per label walk: sysObjectID, ifAdminStatus.2, ifInErrors.3,
# ifAlias.1 and the ifHCInOctets name; 3 on ordinary polls (no sysObjectID, no ifAlias)


class Agent:
    """Answer requests for one mode."""

    def __init__(self, mode: str, community: bytes) -> None:
        self.mode = mode
        self.community = community
        self.values = malformed_device() if mode == "malformed" else _system(8)
        self.oids = sorted(self.values)

    def _next(self, oid: Oid) -> tuple[Oid, Value] | None:
        if self.mode == "endless":  # deeper, then sideways: always larger, in the subtree
            nxt = (*oid, 1) if len(oid) < 12 else (*oid[:-1], oid[-1] + 1)
            text = nxt[:10] == (*IF, 2) or nxt[:11] in ((*IFX, 1), (*IFX, 18))
            return nxt, (OCTETS, b"x%d" % nxt[-1]) if text else (COUNTER32, uint_content(7))
        i = bisect.bisect_right(self.oids, oid)
        if i >= len(self.oids):
            return None
        return self.oids[i], self.values[self.oids[i]]

    def answer(self, data: bytes) -> bytes | None:
        version, community, pdu, rid, _nonrep, reps, oids = parse_request(data)
        if community != self.community:
            return None
        out: list[bytes] = []
        if pdu == 0xA0:  # GET
            for o in oids:
                v = self.values.get(o)
                out.append(varbind(o, *(v or (NO_SUCH_INSTANCE, b""))))
        elif pdu == 0xA1:  # GETNEXT
            for o in oids:
                nv = self._next(o)
                out.append(varbind(nv[0], *nv[1]) if nv else varbind(o, END_OF_MIB, b""))
        elif pdu == 0xA5:  # GETBULK
            cursors = list(oids)
            for _ in range(max(1, min(reps, 250 // max(1, len(oids))))):
                for i, c in enumerate(cursors):
                    nv = self._next(c)
                    if nv is None:
                        out.append(varbind(c, END_OF_MIB, b""))
                        continue
                    out.append(varbind(nv[0], *nv[1]))
                    cursors[i] = nv[0]
        return response(version, community, rid, out)


def main(argv: list[str]) -> int:
    """Serve until killed or until --lifetime seconds have passed."""
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=("endless", "malformed"), required=True)
    p.add_argument("--community", default="hostile")
    p.add_argument("--lifetime", type=float, default=600.0)
    args = p.parse_args(argv)
    agent = Agent(args.mode, args.community.encode())
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.5)
    print(f"port {sock.getsockname()[1]}", flush=True)
    end = time.monotonic() + args.lifetime
    while time.monotonic() < end:
        try:
            data, addr = sock.recvfrom(65535)
        except TimeoutError:
            continue
        try:
            msg = agent.answer(data)
        except (IndexError, ValueError):
            continue
        if msg is not None:
            sock.sendto(msg, addr)
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
