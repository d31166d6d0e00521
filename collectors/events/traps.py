"""SNMP v1 Trap, v2c SNMPv2-Trap and InformRequest PDUs on the wire (pure decode/encode).

`decode_trap()` turns one datagram into a `Trap` whose shape no longer depends on the
version: a v1 trap is translated to its v2 trap OID as RFC 3584 §3.1 says (generic
traps 0-5 to `snmpTraps.N+1`, enterprise-specific to `enterprise.0.specific`). Values
are rendered to text for the meaning table and the history. `inform_response()` builds
the Response PDU that acknowledges an InformRequest (same request-id and varbinds).
SNMPv3 messages are recognised and refused here (`TrapError("unsupported_version")`):
they go to `v3.py` (USM), which decodes the PDU inside the ScopedPDU with `decode_pdu()`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

from collectors.events.syslog import DropError

__all__ = [
    "PDU_INFORM",
    "PDU_TRAP_V1",
    "PDU_TRAP_V2",
    "SNMP_TRAP_OID",
    "Trap",
    "TrapError",
    "decode_pdu",
    "decode_trap",
    "inform_response",
    "oid_text",
]

PDU_TRAP_V1 = 0xA4
PDU_INFORM = 0xA6
PDU_TRAP_V2 = 0xA7
Oid = tuple[int, ...]
SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
SNMP_TRAPS: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 5)  # coldStart = .1 ... egpNeighborLoss = .6
MAX_VARBINDS = 64


class TrapError(DropError):
    """A datagram that is not a trap we can use."""


@dataclass(frozen=True, slots=True)
class Trap:
    """One decoded trap or inform; `varbinds` maps dotted OIDs to rendered values."""

    version: int  # 0 = v1, 1 = v2c, 3 = v3
    community: bytes = field(repr=False)
    pdu: int
    request_id: int
    trap_oid: Oid
    agent_addr: str = ""  # v1 only
    uptime: int = 0  # hundredths of a second
    varbinds: dict[str, str] = field(default_factory=dict)
    raw_varbinds: bytes = b""  # the varbind list TLV as received (echoed in inform responses)
    user: str = ""  # v3: the USM user that sent it


def oid_text(oid: Oid) -> str:
    """Dotted form of an OID."""
    return ".".join(str(a) for a in oid)


def decode_trap(data: bytes) -> Trap:
    """Decode one trap/inform datagram; raise TrapError with a drop reason on anything else."""
    try:
        return _decode(data)
    except TrapError:
        raise
    except (IndexError, ValueError, OverflowError):
        raise TrapError("malformed", "truncated or malformed SNMP message") from None


def inform_response(trap: Trap) -> bytes:
    """The Response PDU acknowledging an InformRequest (RFC 3416 §4.2.7)."""
    body = encode_int(trap.request_id) + encode_int(0) + encode_int(0) + trap.raw_varbinds
    msg = encode_int(trap.version) + encode_tlv(0x04, trap.community) + encode_tlv(0xA2, body)
    return encode_tlv(0x30, msg)


def _decode(data: bytes) -> Trap:
    tag, pos, end = read_tlv(data, 0)
    if tag != 0x30 or end != len(data):
        raise TrapError("malformed", "not an SNMP message")
    tag, p, pos = read_tlv(data, pos)
    if tag != 0x02:
        raise TrapError("malformed", "bad version field")
    version = int.from_bytes(data[p:pos], "big", signed=True)
    if version == 3:
        raise TrapError("unsupported_version", "SNMPv3: the USM receiver (v3.py) decodes it")
    if version not in (0, 1):
        raise TrapError("malformed", f"unknown SNMP version {version}")
    tag, p, pos = read_tlv(data, pos)
    if tag != 0x04:
        raise TrapError("malformed", "bad community field")
    community = data[p:pos]
    pdu, pos, pdu_end = read_tlv(data, pos)
    if pdu_end != end:
        raise TrapError("malformed", "PDU length mismatch")
    if version == 0 and pdu == PDU_TRAP_V1:
        return _decode_v1(data, pos, end, community)
    if version == 1 and pdu in (PDU_TRAP_V2, PDU_INFORM):
        return _decode_v2(data, pos, end, community, pdu, 1)
    raise TrapError("not_a_trap", f"PDU type 0x{pdu:02x} is not a trap or inform")


def _decode_v1(data: bytes, pos: int, end: int, community: bytes) -> Trap:
    tag, p, pos = read_tlv(data, pos)
    if tag != 0x06:
        raise TrapError("malformed", "bad enterprise field")
    enterprise = decode_oid(data[p:pos])
    tag, p, pos = read_tlv(data, pos)
    if tag != 0x40 or pos - p != 4:
        raise TrapError("malformed", "bad agent-addr field")
    agent = str(ipaddress.IPv4Address(data[p:pos]))
    nums = []
    for expect in (0x02, 0x02, 0x43):
        tag, p, pos = read_tlv(data, pos)
        if tag != expect:
            raise TrapError("malformed", "bad v1 trap header")
        nums.append(int.from_bytes(data[p:pos], "big", signed=expect == 0x02))
    generic, specific, uptime = nums
    vstart = pos
    varbinds = _varbinds(data, pos, end)
    if 0 <= generic <= 5:
        trap_oid: Oid = (*SNMP_TRAPS, generic + 1)
    else:
        trap_oid = (*enterprise, 0, specific)
    varbinds.setdefault("enterprise", oid_text(enterprise))
    return Trap(0, community, PDU_TRAP_V1, 0, trap_oid, agent, uptime, varbinds, data[vstart:end])


def decode_pdu(data: bytes, pos: int, version: int = 3, user: str = "") -> Trap:
    """The SNMPv2-Trap or InformRequest PDU whose TLV starts at `pos` (a v3 ScopedPDU's).

    Raise TrapError (`not_a_trap` for another PDU type, `malformed`).
    """
    try:
        pdu, start, end = read_tlv(data, pos)
        if pdu not in (PDU_TRAP_V2, PDU_INFORM):
            raise TrapError("not_a_trap", f"PDU type 0x{pdu:02x} is not a trap or inform")
        trap = _decode_v2(data[:end], start, end, b"", pdu, version)
    except TrapError:
        raise
    except (IndexError, ValueError, OverflowError):
        raise TrapError("malformed", "truncated or malformed PDU") from None
    return replace(trap, user=user) if user else trap


def _decode_v2(data: bytes, pos: int, end: int, community: bytes, pdu: int, version: int) -> Trap:
    fields = []
    for _ in range(3):
        tag, p, pos = read_tlv(data, pos)
        if tag != 0x02:
            raise TrapError("malformed", "bad PDU header")
        fields.append(int.from_bytes(data[p:pos], "big", signed=True))
    vstart = pos
    pairs = _varbind_list(data, pos, end)
    uptime = 0
    trap_oid: Oid | None = None
    varbinds: dict[str, str] = {}
    for name, tag, content in pairs:
        if name == SYS_UPTIME and tag == 0x43:
            uptime = int.from_bytes(content, "big")
        elif name == SNMP_TRAP_OID and tag == 0x06:
            trap_oid = decode_oid(content)
        else:
            varbinds[oid_text(name)] = _render(tag, content)
    if trap_oid is None:
        raise TrapError("malformed", "no snmpTrapOID.0 varbind")
    return Trap(
        version, community, pdu, fields[0], trap_oid, "", uptime, varbinds, data[vstart:end]
    )


def _varbinds(data: bytes, pos: int, end: int) -> dict[str, str]:
    return {oid_text(n): _render(t, c) for n, t, c in _varbind_list(data, pos, end)}


def _varbind_list(data: bytes, pos: int, end: int) -> list[tuple[Oid, int, bytes]]:
    tag, pos, vend = read_tlv(data, pos)
    if tag != 0x30 or vend != end:
        raise TrapError("malformed", "bad varbind list")
    out: list[tuple[Oid, int, bytes]] = []
    while pos < vend:
        tag, pos, vb_end = read_tlv(data, pos)
        if tag != 0x30:
            raise TrapError("malformed", "bad varbind")
        tag, p, pos = read_tlv(data, pos)
        if tag != 0x06:
            raise TrapError("malformed", "bad varbind name")
        name = decode_oid(data[p:pos])
        vtag, p, pos = read_tlv(data, pos)
        if pos != vb_end:
            raise TrapError("malformed", "varbind length mismatch")
        if len(out) < MAX_VARBINDS:
            out.append((name, vtag, data[p:pos]))
    return out


def _render(tag: int, content: bytes) -> str:
    if tag in (0x41, 0x42, 0x43, 0x46):
        return str(int.from_bytes(content, "big"))
    if tag == 0x02:
        return str(int.from_bytes(content, "big", signed=True))
    if tag == 0x06:
        return oid_text(decode_oid(content))
    if tag == 0x40 and len(content) == 4:
        return str(ipaddress.IPv4Address(content))
    if tag == 0x04:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            return content.hex(":")
        if text.isprintable():
            return text[:256]
        return content.hex(":")
    if tag == 0x05:
        return ""
    return content.hex(":")[:256]


# --- BER, the little a trap receiver needs (collectors do not import each other) --------


def read_tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the TLV at `pos`; TrapError when it overruns."""
    if pos + 2 > len(data):
        raise TrapError("malformed", "truncated TLV")
    tag, first, start = data[pos], data[pos + 1], pos + 2
    if first & 0x80:
        width = first & 0x7F
        if not 1 <= width <= 4 or start + width > len(data):
            raise TrapError("malformed", "unsupported length form")
        size = int.from_bytes(data[start : start + width], "big")
        start += width
    else:
        size = first
    if start + size > len(data):
        raise TrapError("malformed", "length past the end of the message")
    return tag, start, start + size


def decode_oid(raw: bytes) -> Oid:
    """Content octets of an OBJECT IDENTIFIER → arcs (at most 128, each below 2^32)."""
    if not raw or raw[-1] & 0x80 or len(raw) > 640:
        raise TrapError("malformed", "bad OID")
    arcs: list[int] = []
    acc = 0
    for byte in raw:
        acc = (acc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(acc)
            acc = 0
    if len(arcs) > 127 or max(arcs) > 0xFFFFFFFF + 80:
        raise TrapError("malformed", "OID past SNMP's limits")
    top = min(arcs[0] // 40, 2)
    return (top, arcs[0] - 40 * top, *arcs[1:])


def encode_tlv(tag: int, content: bytes) -> bytes:
    """tag, definite length, content."""
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + content


def encode_int(value: int) -> bytes:
    """An INTEGER TLV (two's complement, shortest form)."""
    return encode_tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))
