"""SNMPv3 messages on the wire (RFC 3412 6, RFC 3414 2.4): encoder and strict decoder (pure).

    SNMPv3Message ::= SEQUENCE { msgVersion INTEGER (3),
        msgGlobalData SEQUENCE { msgID, msgMaxSize INTEGER, msgFlags OCTET STRING (1),
                                 msgSecurityModel INTEGER (3 = USM) },
        msgSecurityParameters OCTET STRING (a BER SEQUENCE { msgAuthoritativeEngineID,
            msgAuthoritativeEngineBoots, msgAuthoritativeEngineTime, msgUserName,
            msgAuthenticationParameters, msgPrivacyParameters }),
        msgData: ScopedPDU SEQUENCE { contextEngineID, contextName, PDU }
                 or encryptedPDU OCTET STRING }

The PDU inside is `ber.py`'s. Authentication covers the whole message with a zeroed
msgAuthenticationParameters: the encoder returns where that field is, and the decoder
returns the message with the field zeroed, ready to be signed again and compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from collectors._snmpwire.ber import BerError, Pdu, _header, _int, _tlv, decode_pdu

__all__ = [
    "USM",
    "Flags",
    "Message",
    "decode_message",
    "decode_scoped_pdu",
    "encode_message",
    "encode_scoped_pdu",
]

USM: Final = 3  # msgSecurityModel of the User-based Security Model
_MAX_INT: Final = 0x7FFFFFFF


class Flags:
    """msgFlags bits (plain ints: `enum.IntFlag` arithmetic costs microseconds a message)."""

    AUTH: Final = 1
    PRIV: Final = 2
    REPORTABLE: Final = 4


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded SNMPv3 message; `data` is the plaintext ScopedPDU or the encryptedPDU."""

    msg_id: int
    max_size: int
    flags: int
    engine_id: bytes
    boots: int
    time: int
    user: bytes
    auth: bytes = field(repr=False)
    priv: bytes = field(repr=False)
    data: bytes = field(repr=False)
    unsigned: bytes = field(repr=False)  # the whole message, msgAuthenticationParameters zeroed


def encode_scoped_pdu(context_engine_id: bytes, context_name: bytes, pdu: bytes) -> bytes:
    """A ScopedPDU around an encoded PDU (`ber.encode_pdu`)."""
    return _tlv(0x30, _tlv(0x04, context_engine_id) + _tlv(0x04, context_name) + pdu)


def encode_message(
    msg_id: int,
    max_size: int,
    flags: int,
    engine_id: bytes,
    boots: int,
    time: int,
    user: bytes,
    mac_length: int,
    priv: bytes,
    data: bytes,
) -> tuple[bytes, int]:
    """Encode a message with a zeroed MAC; return it and the MAC's offset.

    `data` is the ScopedPDU, or the ciphertext (wrapped here as an OCTET STRING) when
    `flags` asks for privacy.
    """
    if len(engine_id) > 32 or len(user) > 32 or len(priv) > 32 or mac_length > 64:
        raise BerError("msgSecurityParameters field too long")
    # every field below is shorter than 128 octets: short-form lengths written inline
    glob = _tlv(0x30, _int(msg_id) + _int(max_size) + bytes((0x04, 1, flags, 0x02, 1, USM)))
    head = b"".join(
        (
            bytes((0x04, len(engine_id))),
            engine_id,
            _int(boots),
            _int(time),
            bytes((0x04, len(user))),
            user,
            bytes((0x04, mac_length)),
        )
    )
    tail = bytes((0x04, len(priv))) + priv
    params = _tlv(0x30, head + bytes(mac_length) + tail)
    payload = _tlv(0x04, data) if flags & Flags.PRIV else data
    msg = _tlv(0x30, b"\x02\x01\x03" + glob + _tlv(0x04, params) + payload)
    return msg, len(msg) - len(payload) - len(tail) - mac_length


def decode_message(data: bytes) -> Message:
    """Decode an SNMPv3 message (not its PDU); raise BerError on anything malformed."""
    try:
        return _decode(data)
    except (IndexError, ValueError) as exc:
        if isinstance(exc, BerError):
            raise
        raise BerError("truncated or malformed SNMPv3 message") from None


def decode_scoped_pdu(data: bytes) -> tuple[bytes, bytes, Pdu]:
    """A plaintext ScopedPDU → (contextEngineID, contextName, PDU).

    Anything after the ScopedPDU (DES padding) is ignored.
    """
    try:
        pos, end = _field(data, 0, 0x30)
        engine_id, pos = _octets(data, pos)
        name, pos = _octets(data, pos)
    except IndexError:
        raise BerError("truncated ScopedPDU") from None
    return engine_id, name, decode_pdu(data, pos, end)


def _decode(data: bytes) -> Message:
    start, end = _field(data, 0, 0x30)
    if start > 4 or end != len(data):
        raise BerError("not an SNMP message")
    version, pos = _integer(data, start)
    if version != 3:
        raise BerError("not an SNMPv3 message")
    pos, gend = _field(data, pos, 0x30)
    msg_id, pos = _integer(data, pos)
    max_size, pos = _integer(data, pos)
    flag_octets, pos = _octets(data, pos)
    model, pos = _integer(data, pos)
    if pos != gend or len(flag_octets) != 1 or model != USM or max_size < 484:
        raise BerError("bad msgGlobalData")
    flags = flag_octets[0]
    if flags & Flags.PRIV and not flags & Flags.AUTH:
        raise BerError("privacy without authentication")
    pos, send = _field(data, pos, 0x04)
    pos, pend = _field(data, pos, 0x30)
    if pend != send:
        raise BerError("bad msgSecurityParameters")
    engine_id, pos = _octets(data, pos)
    boots, pos = _integer(data, pos)
    time, pos = _integer(data, pos)
    user, pos = _octets(data, pos)
    mac_at, pos = _field(data, pos, 0x04)
    auth = data[mac_at:pos]
    priv, pos = _octets(data, pos)
    if pos != pend or len(engine_id) > 32 or len(user) > 32:
        raise BerError("bad msgSecurityParameters")
    if flags & Flags.PRIV:  # the encryptedPDU OCTET STRING
        start, pos = _field(data, pos, 0x04)
        payload = data[start:pos]
    else:  # the ScopedPDU SEQUENCE, whole
        start = pos
        pos = _field(data, pos, 0x30)[1]
        payload = data[start:pos]
    if pos != len(data):
        raise BerError("trailing data after msgData")
    unsigned = data[:mac_at] + bytes(len(auth)) + data[mac_at + len(auth) :] if auth else data
    return Message(
        msg_id, max_size, flags, engine_id, boots, time, user, auth, priv, payload, unsigned
    )


def _field(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    """(content start, content end) of the TLV at `pos`, which must carry `tag`."""
    found, start, end = _header(data, pos)
    if found != tag:
        raise BerError(f"tag 0x{tag:02x} expected")
    return start, end


def _integer(data: bytes, pos: int) -> tuple[int, int]:
    """A non-negative INTEGER up to 2^31-1 at `pos`; return it and the next position."""
    start, end = _field(data, pos, 0x02)
    if not 0 < end - start <= 5:
        raise BerError("bad INTEGER")
    value = int.from_bytes(data[start:end], "big", signed=True)
    if not 0 <= value <= _MAX_INT:
        raise BerError("INTEGER out of range")
    return value, end


def _octets(data: bytes, pos: int) -> tuple[bytes, int]:
    start, end = _field(data, pos, 0x04)
    return data[start:end], end
