"""The native v1/v2c codec, checked against pysnmp's pyasn1 codec as the independent reference."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto.api import v2c

from collectors._snmpwire.ber import (
    BerError,
    PduType,
    Tag,
    decode_oid,
    decode_response,
    encode_oid,
    encode_request,
    parse_oid,
)

OIDS = [
    (1, 3),
    (1, 3, 6, 1, 2, 1, 1, 3, 0),
    (1, 3, 6, 1, 4, 1, 9, 9, 109, 1, 1, 1, 1, 8, 1),
    (1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 127),
    (1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 128),
    (1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 16383),
    (1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 16384),
    (1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 4294967295),
    (1, 0, 8802, 1, 1, 2, 1, 4, 1, 1, 5, 0, 1, 1),
    (0, 0),
    (2, 999, 3),
]


@pytest.mark.parametrize("oid", OIDS, ids=[".".join(map(str, o)) for o in OIDS])
def test_oid_round_trip_matches_pyasn1(oid: tuple[int, ...]) -> None:
    ours = encode_oid(oid)
    theirs = encoder.encode(v2c.ObjectIdentifier(oid))
    assert theirs[2:] == ours  # pyasn1 adds tag and (short) length
    assert decode_oid(ours) == oid


@pytest.mark.parametrize(
    ("text", "oid"),
    [
        ("1.3.6.1.2.1.1.3.0", (1, 3, 6, 1, 2, 1, 1, 3, 0)),
        (".1.3.6", (1, 3, 6)),
        ("1.0.8802", (1, 0, 8802)),
    ],
)
def test_parse_oid(text: str, oid: tuple[int, ...]) -> None:
    assert parse_oid(text) == oid


@pytest.mark.parametrize("text", ["", "1", "IF-MIB::ifTable", "1.3.x", "3.1", "1.40", "1.3.-1"])
def test_parse_oid_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_oid(text)


@pytest.mark.parametrize("pdu", [PduType.GET, PduType.GET_NEXT, PduType.GET_BULK])
def test_requests_decode_with_pyasn1(pdu: PduType) -> None:
    oids = [(1, 3, 6, 1, 2, 1, 2, 2, 1, 10), (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 200)]
    raw = encode_request(1, b"s3cr\xe9t", pdu, 0x7FFFFFFF, oids, max_repetitions=25)
    msg, rest = decoder.decode(raw, asn1Spec=v2c.Message())
    assert rest == b""
    assert int(v2c.apiMessage.get_version(msg)) == 1
    assert bytes(v2c.apiMessage.get_community(msg)) == b"s3cr\xe9t"
    body = v2c.apiMessage.get_pdu(msg)
    assert int(v2c.apiPDU.get_request_id(body)) == 0x7FFFFFFF
    assert [tuple(o) for o, _ in v2c.apiPDU.get_varbinds(body)] == oids
    if pdu is PduType.GET_BULK:
        assert isinstance(body, v2c.GetBulkRequestPDU)
        assert int(v2c.apiBulkPDU.get_max_repetitions(body)) == 25
        assert int(v2c.apiBulkPDU.get_non_repeaters(body)) == 0


def _response(
    varbinds: list[tuple[tuple[int, ...], object]],
    *,
    request_id: int = 42,
    status: int = 0,
    community: bytes = b"public",
) -> bytes:
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, community)
    pdu = v2c.ResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, request_id)
    v2c.apiPDU.set_error_status(pdu, status)
    v2c.apiPDU.set_varbinds(pdu, varbinds)
    v2c.apiMessage.set_pdu(msg, pdu)
    return encoder.encode(msg)


VALUES = [
    ("integer", v2c.Integer(-2147483648), Tag.INTEGER, -2147483648),
    ("integer-pos", v2c.Integer(2147483647), Tag.INTEGER, 2147483647),
    ("octets", v2c.OctetString(b"GigabitEthernet1/0/1"), Tag.OCTET_STRING, b"GigabitEthernet1/0/1"),
    ("octets-empty", v2c.OctetString(b""), Tag.OCTET_STRING, b""),
    ("octets-long", v2c.OctetString(b"x" * 300), Tag.OCTET_STRING, b"x" * 300),
    (
        "oid",
        v2c.ObjectIdentifier((1, 3, 6, 1, 4, 1, 9, 1, 1208)),
        Tag.OBJECT_IDENTIFIER,
        (1, 3, 6, 1, 4, 1, 9, 1, 1208),
    ),
    ("ipaddress", v2c.IpAddress("10.1.2.3"), Tag.IP_ADDRESS, bytes([10, 1, 2, 3])),
    ("counter32-max", v2c.Counter32(4294967295), Tag.COUNTER32, 4294967295),
    ("gauge32", v2c.Gauge32(1_000_000_000), Tag.GAUGE32, 1_000_000_000),
    ("timeticks", v2c.TimeTicks(123456789), Tag.TIMETICKS, 123456789),
    ("counter64-max", v2c.Counter64(2**64 - 1), Tag.COUNTER64, 2**64 - 1),
    ("counter64-2^53+1", v2c.Counter64(2**53 + 1), Tag.COUNTER64, 2**53 + 1),
    (
        "opaque",
        v2c.Opaque(b"\x9f\x78\x04\x3e\x19\x99\x9a"),
        Tag.OPAQUE,
        b"\x9f\x78\x04\x3e\x19\x99\x9a",
    ),
    ("null", v2c.Null(""), Tag.NULL, None),
    ("no-such-object", v2c.NoSuchObject(""), Tag.NO_SUCH_OBJECT, None),
    ("no-such-instance", v2c.NoSuchInstance(""), Tag.NO_SUCH_INSTANCE, None),
    ("end-of-mib-view", v2c.EndOfMibView(""), Tag.END_OF_MIB_VIEW, None),
]


@pytest.mark.parametrize(
    ("value", "tag", "raw"), [v[1:] for v in VALUES], ids=[v[0] for v in VALUES]
)
def test_response_values_decode_like_pyasn1_encoded_them(
    value: object, tag: int, raw: object
) -> None:
    oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 16384)
    resp = decode_response(_response([(oid, value)]))
    assert resp.request_id == 42 and resp.error_status == 0 and resp.community == b"public"
    assert resp.varbinds == [(oid, tag, raw)]


def test_a_large_response_with_long_form_lengths() -> None:
    vbs = [
        ((1, 3, 6, 1, 2, 1, 2, 2, 1, 2, i), v2c.OctetString(b"port %d" % i)) for i in range(1, 400)
    ]
    resp = decode_response(_response(vbs, request_id=2**31 - 1, status=0))
    assert len(resp.varbinds) == 399 and resp.request_id == 2**31 - 1
    assert resp.varbinds[-1] == ((1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 399), Tag.OCTET_STRING, b"port 399")


def test_error_status_is_reported() -> None:
    resp = decode_response(_response([((1, 3, 6), v2c.Null(""))], status=18))
    assert resp.error_status == 18


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x30",
        b"\x30\x03\x02\x01\x01",
        b"\x04\x03abc",
        _response([((1, 3, 6), v2c.Integer(1))])[:-1],
        _response([((1, 3, 6), v2c.Integer(1))]) + b"\x00",
        encode_request(1, b"public", PduType.GET, 1, [(1, 3, 6)]),  # a request, not a response
    ],
    ids=[
        "empty",
        "header-only",
        "no-pdu",
        "not-a-sequence",
        "truncated",
        "trailing-byte",
        "request-pdu",
    ],
)
def test_malformed_messages_raise_ber_error(data: bytes) -> None:
    with pytest.raises(BerError):
        decode_response(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_raises_anything_but_ber_error(data: bytes) -> None:
    try:
        decode_response(data)
    except BerError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**32 - 1), min_size=1, max_size=20))
def test_any_oid_round_trips(arcs: list[int]) -> None:
    oid = (1, 3, *arcs)
    assert decode_oid(encode_oid(oid)) == oid


# --- values no SNMP type allows (issue 14, point 6) ----------------------------------


def _message(*vbs: bytes) -> bytes:
    from tests.collectors.snmp.hostile import response

    return response(1, b"public", 7, list(vbs))


@pytest.mark.parametrize(
    ("tag", "content", "name_arcs"),
    [
        (0x02, b"\x01" + b"\x00" * 8, ()),  # INTEGER of 2^64
        (0x02, (1 << 31).to_bytes(5, "big"), ()),  # INTEGER one past Integer32
        (0x41, (1 << 32).to_bytes(5, "big"), ()),  # Counter32 of 2^32
        (0x43, (1 << 40).to_bytes(6, "big"), ()),  # TimeTicks past 32 bits
        (0x46, b"\x01" + b"\x00" * 8, ()),  # Counter64 of 2^64
        (0x06, None, ()),  # OID value with an arc of 2^40
        (0x47, b"\x01\x02", ()),  # a type SNMP does not have
        (0x42, b"\x05", (1 << 40,)),  # a good value under a name with an arc of 2^40
    ],
    ids=[
        "integer-2^64",
        "integer-2^31",
        "counter32-2^32",
        "timeticks-2^40",
        "counter64-2^64",
        "oid-arc-2^40",
        "unknown-type",
        "name-arc-2^40",
    ],
)
def test_malformed_varbind_is_marked_and_the_rest_kept(
    tag: int, content: bytes | None, name_arcs: tuple[int, ...]
) -> None:
    from tests.collectors.snmp.hostile import oid_content, tlv, varbind

    good1 = varbind((1, 3, 6, 1, 2, 1, 1, 3, 0), 0x43, b"\x05")
    good2 = varbind((1, 3, 6, 1, 2, 1, 2, 1, 0), 0x02, b"\x03")
    if content is None:
        content = oid_content((1, 3, 6, 1, 4, 1, 1 << 40))
    bad_name = (1, 3, 6, 1, 2, 1, 2, 2, 1, 7, *name_arcs) if name_arcs else (1, 3, 6, 1, 9)
    bad = tlv(0x30, tlv(0x06, oid_content(bad_name)) + tlv(tag, content))
    resp = decode_response(_message(good1, bad, good2))
    assert resp.varbinds[0] == ((1, 3, 6, 1, 2, 1, 1, 3, 0), Tag.TIMETICKS, 5)
    assert resp.varbinds[2] == ((1, 3, 6, 1, 2, 1, 2, 1, 0), Tag.INTEGER, 3)
    name, got_tag, raw = resp.varbinds[1]
    assert (got_tag, raw) == (Tag.MALFORMED, None)
    assert name == (() if name_arcs else bad_name)


def test_values_at_the_limits_of_their_types_are_kept() -> None:
    from tests.collectors.snmp.hostile import int_content, oid_content, varbind

    vbs = [
        varbind((1, 3, 6, 1, 9, 1), 0x02, int_content(-(1 << 31))),
        varbind((1, 3, 6, 1, 9, 2), 0x02, int_content((1 << 31) - 1)),
        varbind((1, 3, 6, 1, 9, 3), 0x41, int_content((1 << 32) - 1)),
        varbind((1, 3, 6, 1, 9, 4), 0x46, int_content((1 << 64) - 1)),
        varbind((1, 3, 6, 1, 9, 5), 0x06, oid_content((1, 3, 6, 1, 4, 1, (1 << 32) - 1))),
    ]
    resp = decode_response(_message(*vbs))
    assert [(t, v) for _, t, v in resp.varbinds] == [
        (Tag.INTEGER, -(1 << 31)),
        (Tag.INTEGER, (1 << 31) - 1),
        (Tag.COUNTER32, (1 << 32) - 1),
        (Tag.COUNTER64, (1 << 64) - 1),
        (Tag.OBJECT_IDENTIFIER, (1, 3, 6, 1, 4, 1, (1 << 32) - 1)),
    ]
