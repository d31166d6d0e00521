"""The SNMPv3 message codec (collectors/_snmpwire/v3message.py) against pysnmp's pyasn1 codec."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import rfc1905
from pysnmp.proto.api import v2c
from pysnmp.proto.mpmod.rfc3412 import ScopedPDU, SNMPv3Message
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

from collectors._snmpwire.ber import BerError, PduType, Tag, encode_pdu
from collectors._snmpwire.v3message import (
    Flags,
    decode_message,
    decode_scoped_pdu,
    encode_message,
    encode_scoped_pdu,
)

ENGINE = bytes.fromhex("80001f8880e9630000d61ff449")
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)


def _theirs(
    *,
    msg_id: int = 4242,
    flags: int = 3,
    auth: bytes = b"A" * 12,
    priv: bytes = b"saltsalt",
    data: object = b"\x01" * 32,
) -> bytes:
    """A v3 message built by pyasn1 (encrypted data, or a ScopedPDU object)."""
    sp = UsmSecurityParameters()
    sp["msgAuthoritativeEngineId"] = ENGINE
    sp["msgAuthoritativeEngineBoots"] = 9
    sp["msgAuthoritativeEngineTime"] = 123456
    sp["msgUserName"] = b"u_SHA_AES"
    sp["msgAuthenticationParameters"] = auth
    sp["msgPrivacyParameters"] = priv
    msg = SNMPv3Message()
    msg["msgVersion"] = 3
    glob = msg["msgGlobalData"]
    glob["msgID"] = msg_id
    glob["msgMaxSize"] = 65507
    glob["msgFlags"] = bytes([flags])
    glob["msgSecurityModel"] = 3
    msg["msgSecurityParameters"] = encoder.encode(sp)
    if isinstance(data, bytes):
        msg["msgData"]["encryptedPDU"] = data
    else:
        msg["msgData"]["plaintext"] = data
    return encoder.encode(msg)


def _scoped_response() -> ScopedPDU:
    pdu = v2c.ResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, 77)
    v2c.apiPDU.set_varbinds(pdu, [(SYS_UPTIME, v2c.TimeTicks(4711))])
    scoped = ScopedPDU()
    scoped["contextEngineId"] = ENGINE
    scoped["contextName"] = b"ctx"
    scoped["data"].setComponentByType(pdu.tagSet, pdu)
    return scoped


def test_encoded_message_decodes_with_pyasn1() -> None:
    scoped = encode_scoped_pdu(
        ENGINE, b"ctx", encode_pdu(PduType.GET_BULK, 77, [SYS_UPTIME], max_repetitions=25)
    )
    msg, at = encode_message(4242, 65507, 7, ENGINE, 9, 123456, b"user", 24, b"saltsalt", scoped)
    msg = msg[:at] + b"M" * 24 + msg[at + 24 :]
    theirs, rest = decoder.decode(msg, asn1Spec=SNMPv3Message())
    assert rest == b""
    glob = theirs["msgGlobalData"]
    assert (int(glob["msgID"]), int(glob["msgMaxSize"]), bytes(glob["msgFlags"])) == (
        4242,
        65507,
        b"\x07",
    )
    sp, _ = decoder.decode(bytes(theirs["msgSecurityParameters"]), asn1Spec=UsmSecurityParameters())
    assert bytes(sp["msgAuthoritativeEngineId"]) == ENGINE
    assert int(sp["msgAuthoritativeEngineBoots"]) == 9
    assert int(sp["msgAuthoritativeEngineTime"]) == 123456
    assert bytes(sp["msgUserName"]) == b"user"
    assert bytes(sp["msgAuthenticationParameters"]) == b"M" * 24
    assert bytes(sp["msgPrivacyParameters"]) == b"saltsalt"
    assert bytes(theirs["msgData"]["encryptedPDU"]) == scoped
    inner, _ = decoder.decode(scoped, asn1Spec=ScopedPDU())
    pdu = inner["data"].getComponent()
    assert isinstance(pdu, rfc1905.GetBulkRequestPDU)
    assert int(pdu["max-repetitions"]) == 25 and int(pdu["request-id"]) == 77


def test_pyasn1_message_decodes_and_unsigned_zeroes_the_mac() -> None:
    data = _theirs(auth=b"Z" * 12, data=b"\xaa" * 40)
    m = decode_message(data)
    assert (m.msg_id, m.max_size, m.flags) == (4242, 65507, 3)
    assert (m.engine_id, m.boots, m.time, m.user) == (ENGINE, 9, 123456, b"u_SHA_AES")
    assert (m.auth, m.priv, m.data) == (b"Z" * 12, b"saltsalt", b"\xaa" * 40)
    assert m.unsigned == data.replace(b"Z" * 12, bytes(12))
    assert "saltsalt" not in repr(m) and "ZZZZ" not in repr(m)


def test_plaintext_scoped_pdu_decodes() -> None:
    data = _theirs(flags=Flags.REPORTABLE, auth=b"", priv=b"", data=_scoped_response())
    m = decode_message(data)
    engine, context, pdu = decode_scoped_pdu(m.data)
    assert (engine, context) == (ENGINE, b"ctx")
    assert pdu.type == PduType.RESPONSE and pdu.request_id == 77
    assert pdu.varbinds == [(SYS_UPTIME, Tag.TIMETICKS, 4711)]
    # DES leaves up to 7 octets of padding after the ScopedPDU: ignored.
    assert decode_scoped_pdu(m.data + b"\x00" * 7)[2] == pdu


def test_encode_message_offset_points_at_the_mac() -> None:
    for n in (0, 12, 16, 24, 32, 48):
        flags = 1 if n else 0
        msg, at = encode_message(1, 1500, flags, ENGINE, 1, 2, b"u" * 32, n, b"", b"\x30\x00")
        m = decode_message(msg[:at] + b"\xff" * n + msg[at + n :])
        assert m.auth == b"\xff" * n and m.unsigned == msg


VALID = _theirs(data=b"\x01" * 32)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        VALID[:-1],
        VALID + b"\x00",
        VALID.replace(b"\x02\x01\x03", b"\x02\x01\x01", 1),  # version 1 header
        _theirs(flags=2),  # privacy without authentication
        _theirs(flags=3, data=_scoped_response()),  # priv flag with a plaintext ScopedPDU
        _theirs(flags=0, data=b"\x01" * 8),  # plaintext flag with an OCTET STRING
        _theirs(msg_id=0).replace(b"\x02\x01\x00", b"\x02\x01\xff", 1),  # negative msgID
    ],
    ids=[
        "empty",
        "truncated",
        "trailing",
        "version-1",
        "priv-without-auth",
        "priv-but-plaintext",
        "plaintext-but-encrypted",
        "negative-msgid",
    ],
)
def test_malformed_messages_raise_ber_error(data: bytes) -> None:
    with pytest.raises(BerError):
        decode_message(data)


def test_every_truncation_is_a_ber_error() -> None:
    for n in range(len(VALID)):
        with pytest.raises(BerError):
            decode_message(VALID[:n])


def test_byte_flips_never_raise_anything_but_ber_error() -> None:
    rng = random.Random(16)
    plain = _theirs(flags=4, auth=b"", priv=b"", data=_scoped_response())
    for _ in range(3000):
        data = bytearray(plain)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            m = decode_message(bytes(data))
            decode_scoped_pdu(m.data)
        except BerError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_never_raises_anything_but_ber_error(data: bytes) -> None:
    try:
        decode_scoped_pdu(decode_message(data).data)
    except BerError:
        pass
    try:
        decode_scoped_pdu(data)
    except BerError:
        pass
