"""SNMPv1/v2c messages on the wire: a small BER encoder and a fast response decoder (pure).

Only what a command generator needs: GetRequest, GetNextRequest and GetBulkRequest out,
Response in. Varbind values come back as `(tag, raw)` pairs (see `Tag`), with `raw` an
`int` for the integer types, `bytes` for OCTET STRING / Opaque / IpAddress, an OID
tuple for OBJECT IDENTIFIER and `None` for NULL and the v2c exceptions. The PDU itself
(`encode_pdu`, `decode_pdu`) is shared with the SNMPv3 message codec (`v3message.py`).

A well-formed message may still carry values no SNMP type allows (RFC 2578: INTEGER is
32-bit, Counter32/Gauge32/TimeTicks at most 2^32-1, Counter64 at most 2^64-1, OID arcs
at most 2^32-1 and 128 of them); such a varbind comes back as `Tag.MALFORMED` with
`None`, and the rest of the message is kept. Only a message whose structure cannot be
read raises `BerError`.

Why not pyasn1: decoding a GETBULK response with pysnmp's pyasn1 codec costs about
100 us of CPU per varbind; this decoder costs 1-2 us (see bench/snmp.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "MAX_ARC",
    "MAX_OID_ARCS",
    "BerError",
    "Oid",
    "Pdu",
    "PduType",
    "Response",
    "Tag",
    "VarBind",
    "decode_oid",
    "decode_pdu",
    "decode_response",
    "encode_oid",
    "encode_pdu",
    "encode_request",
    "parse_oid",
]

Oid = tuple[int, ...]
VarBind = tuple[Oid, int, object]  # (name, tag, raw value)


class BerError(ValueError):
    """The bytes are not a well-formed SNMP message (or not one we can use)."""


class Tag(IntEnum):
    """BER tags of SNMP values (universal, application and context classes)."""

    INTEGER = 0x02
    OCTET_STRING = 0x04
    NULL = 0x05
    OBJECT_IDENTIFIER = 0x06
    IP_ADDRESS = 0x40
    COUNTER32 = 0x41
    GAUGE32 = 0x42
    TIMETICKS = 0x43
    OPAQUE = 0x44
    COUNTER64 = 0x46
    NO_SUCH_OBJECT = 0x80
    NO_SUCH_INSTANCE = 0x81
    END_OF_MIB_VIEW = 0x82
    # Not a BER tag: a varbind whose value (or name) no SNMP type allows, e.g. an
    # INTEGER past 32 bits, a Counter32 past 2^32-1, an OID arc past 2^32-1 or an
    # unknown type. Its raw value is None; a bad name decodes as the empty OID.
    MALFORMED = -1


class PduType(IntEnum):
    """Context tags of the PDUs a command generator sends or receives."""

    GET = 0xA0
    GET_NEXT = 0xA1
    RESPONSE = 0xA2
    GET_BULK = 0xA5
    REPORT = 0xA8


@dataclass(frozen=True, slots=True)
class Response:
    """A decoded Response PDU."""

    version: int
    community: bytes
    request_id: int
    error_status: int
    error_index: int
    varbinds: list[VarBind]


@dataclass(frozen=True, slots=True)
class Pdu:
    """A decoded PDU of any version (Response, or Report for SNMPv3)."""

    type: int
    request_id: int
    error_status: int
    error_index: int
    varbinds: list[VarBind]


_UNSIGNED = frozenset({0x41, 0x42, 0x43, 0x46})
_BYTES = frozenset({0x04, 0x44, 0x40})
_EMPTY = frozenset({0x05, 0x80, 0x81, 0x82})


def parse_oid(text: str) -> Oid:
    """Parse a dotted OID (`1.3.6.1.2.1.1.3.0`, a leading dot allowed); raise ValueError."""
    parts = text.strip().lstrip(".").split(".")
    try:
        oid = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"invalid OID {text!r}: expected dotted numbers such as 1.3.6.1.2.1.2.2"
        ) from None
    if len(oid) < 2 or oid[0] > 2 or (oid[0] < 2 and oid[1] >= 40) or min(oid) < 0:
        raise ValueError(f"invalid OID {text!r}")
    return oid


def encode_oid(oid: Oid) -> bytes:
    """Content octets of an OBJECT IDENTIFIER (without tag and length)."""
    if len(oid) < 2:
        raise BerError("an OID needs at least two arcs")
    out = bytearray()
    for i, arc in enumerate((oid[0] * 40 + oid[1], *oid[2:])):
        if arc < 0x80:
            out.append(arc)
            continue
        if arc < 0 or (i and arc >= 1 << 32):
            raise BerError("OID arc out of range")
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


MAX_OID_ARCS = 128
MAX_ARC = 0xFFFFFFFF
_MAX_OID_OCTETS = MAX_OID_ARCS * 5  # 128 arcs of at most 5 octets (32 bits in 7-bit groups)


def decode_oid(raw: bytes) -> Oid:
    """Decode the content octets of an OBJECT IDENTIFIER; raise BerError past SNMP's limits."""
    if not raw:
        raise BerError("empty OID")
    if raw.isascii():  # every arc below 128: the common case, done in C
        if len(raw) >= MAX_OID_ARCS:
            raise BerError("OID longer than 128 arcs")
        first = raw[0]
        head = (first // 40, first % 40) if first < 80 else (2, first - 80)
        return head + tuple(raw[1:])
    if raw[-1] & 0x80:
        raise BerError("truncated OID arc")
    if len(raw) > _MAX_OID_OCTETS:
        raise BerError("OID longer than 128 arcs")
    arcs: list[int] = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = (first // 40, first % 40) if first < 80 else (2, first - 80)
    out = (*head, *arcs[1:])
    # an arc past 2^28 takes 4 continuation octets: fewer in all (octets - arcs + 1),
    # and no arc can pass 2^32-1; the exact check runs for the others alone
    n = len(out)
    if n > MAX_OID_ARCS or (len(raw) - n >= 3 and max(out) > MAX_ARC):
        raise BerError("OID past SNMP's limits (128 arcs, arcs up to 2^32-1)")
    return out


def encode_request(
    version: int,
    community: bytes,
    pdu: PduType,
    request_id: int,
    oids: Sequence[Oid],
    *,
    non_repeaters: int = 0,
    max_repetitions: int = 0,
) -> bytes:
    """Encode a v1 (version 0) or v2c (version 1) request with NULL values."""
    body = encode_pdu(
        pdu, request_id, oids, non_repeaters=non_repeaters, max_repetitions=max_repetitions
    )
    return _tlv(0x30, _int(version) + _tlv(0x04, community) + body)


def encode_pdu(
    pdu: PduType,
    request_id: int,
    oids: Sequence[Oid],
    *,
    non_repeaters: int = 0,
    max_repetitions: int = 0,
) -> bytes:
    """Encode a request PDU (tag, length and content) with NULL values."""
    vbs = b"".join(_tlv(0x30, _tlv(0x06, encode_oid(o)) + b"\x05\x00") for o in oids)
    a, b = (non_repeaters, max_repetitions) if pdu is PduType.GET_BULK else (0, 0)
    return _tlv(int(pdu), _int(request_id) + _int(a) + _int(b) + _tlv(0x30, vbs))


def decode_response(data: bytes) -> Response:
    """Decode a Response PDU of a v1/v2c message; raise BerError on anything malformed."""
    try:
        return _decode(data)
    except (IndexError, ValueError) as exc:
        if isinstance(exc, BerError):
            raise
        raise BerError("truncated or malformed message") from None


def _decode(data: bytes) -> Response:
    tag, pos, end = _header(data, 0)
    if tag != 0x30 or end != len(data):
        raise BerError("not an SNMP message")
    tag, p, pos = _header(data, pos)
    if tag != 0x02:
        raise BerError("bad version field")
    version = int.from_bytes(data[p:pos], "big", signed=True)
    tag, p, pos = _header(data, pos)
    if tag != 0x04:
        raise BerError("bad community field")
    community = data[p:pos]
    pdu = _decode_pdu(data, pos, len(data))
    if pdu.type != PduType.RESPONSE:
        raise BerError(f"unexpected PDU type 0x{pdu.type:02x}")
    return Response(
        version, community, pdu.request_id, pdu.error_status, pdu.error_index, pdu.varbinds
    )


def decode_pdu(data: bytes, pos: int, end: int) -> Pdu:
    """Decode the PDU whose TLV spans `data[pos:end]` exactly; raise BerError if malformed."""
    try:
        return _decode_pdu(data, pos, end)
    except (IndexError, ValueError) as exc:
        if isinstance(exc, BerError):
            raise
        raise BerError("truncated or malformed PDU") from None


def _decode_pdu(data: bytes, pos: int, stop: int) -> Pdu:
    pdu_type, pos, end = _header(data, pos)
    if end != stop:
        raise BerError("PDU length mismatch")
    fields = []
    for _ in range(3):
        tag, p, pos = _header(data, pos)
        if tag != 0x02:
            raise BerError("bad PDU header")
        fields.append(int.from_bytes(data[p:pos], "big", signed=True))
    tag, pos, vend = _header(data, pos)
    if tag != 0x30 or vend != end:
        raise BerError("bad varbind list")
    varbinds: list[VarBind] = []
    append = varbinds.append
    unsigned, as_bytes, empty = _UNSIGNED, _BYTES, _EMPTY
    max_arcs = MAX_OID_ARCS
    from_bytes = int.from_bytes
    while pos < vend:
        # varbind SEQUENCE header
        if data[pos] != 0x30:
            raise BerError("bad varbind")
        n = data[pos + 1]
        if n < 0x80:
            pos += 2
            vb_end = pos + n
        else:
            k = n & 0x7F
            vb_end = pos + 2 + k + from_bytes(data[pos + 2 : pos + 2 + k], "big")
            pos += 2 + k
        # name
        if data[pos] != 0x06:
            raise BerError("bad varbind name")
        n = data[pos + 1]
        if n < 0x80:
            pos += 2
        else:
            k = n & 0x7F
            n = from_bytes(data[pos + 2 : pos + 2 + k], "big")
            pos += 2 + k
        raw = data[pos : pos + n]
        if len(raw) != n:
            raise BerError("truncated varbind name")
        pos += n
        bad = False
        if raw.isascii() and 0 < n < max_arcs:
            first = raw[0]
            name: Oid = ((first // 40, first % 40) if first < 80 else (2, first - 80)) + tuple(
                raw[1:]
            )
        else:
            try:
                name = decode_oid(raw)
            except BerError:
                name, bad = (), True
        # value
        tag = data[pos]
        n = data[pos + 1]
        if n < 0x80:
            pos += 2
        else:
            k = n & 0x7F
            n = from_bytes(data[pos + 2 : pos + 2 + k], "big")
            pos += 2 + k
        content = data[pos : pos + n]
        pos += n
        if pos != vb_end or len(content) != n:
            raise BerError("varbind length mismatch")
        value: object
        if tag in unsigned:
            value = from_bytes(content, "big")
            if value > 0xFFFFFFFF and (tag != 0x46 or value >> 64):
                bad = True
        elif tag in as_bytes:
            value = content
        elif tag == 0x02:
            value = from_bytes(content, "big", signed=True)
            if not -0x80000000 <= value <= 0x7FFFFFFF:
                bad = True
        elif tag in empty:
            value = None
        elif tag == 0x06:
            try:
                value = decode_oid(content)
            except BerError:
                bad = True
        else:
            bad = True
        if bad:
            append((name, -1, None))
        else:
            append((name, tag, value))
    if pos != vend:
        raise BerError("varbind list length mismatch")
    return Pdu(pdu_type, fields[0], fields[1], fields[2], varbinds)


def _header(data: bytes, pos: int) -> tuple[int, int, int]:
    """Return (tag, content start, content end) of the TLV at `pos`."""
    tag = data[pos]
    n = data[pos + 1]
    if n < 0x80:
        start = pos + 2
    else:
        k = n & 0x7F
        if k == 0 or k > 4:
            raise BerError("unsupported length form")
        n = int.from_bytes(data[pos + 2 : pos + 2 + k], "big")
        start = pos + 2 + k
    end = start + n
    if end > len(data):
        raise BerError("length past the end of the message")
    return tag, start, end


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _len(len(content)) + content


def _int(value: int) -> bytes:
    size = max(1, (value.bit_length() + 8) // 8)
    return _tlv(0x02, value.to_bytes(size, "big", signed=True))
