"""PDU value → Python value and label text: table tests (cf. snmp_exporter's TestPduToSample)."""

from __future__ import annotations

import pytest
from pysnmp.proto.api import v2c

from collectors._snmpwire.ber import Tag
from collectors.snmp.convert import (
    as_int,
    as_number,
    counter_bits,
    from_pysnmp,
    is_printable,
    render,
    render_lldp_id,
    speed_bytes,
    text,
    utilization_ratio,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"GigabitEthernet1/0/1", "GigabitEthernet1/0/1"),
        (b"eth0\x00\x00", "eth0"),  # NUL padding
        (b"  uplink  ", "uplink"),
        (b"Oficina de Planeaci\xc3\xb3n", "Oficina de Planeación"),  # UTF-8
        (b"Planeaci\xf3n", "Planeación"),  # Latin-1 when not UTF-8
        (b"tab\there", "tab\there"),
        (b"line1\r\nline2", "line1\nline2"),
        (b"bell\x07", "bell"),
        (b'quote " and \\ backslash', 'quote " and \\ backslash'),
        (b"x" * 600, "x" * 512),
        (b"", ""),
    ],
    ids=[
        "plain",
        "nul-padded",
        "blanks",
        "utf8",
        "latin1",
        "tab",
        "crlf",
        "control",
        "quotes",
        "capped",
        "empty",
    ],
)
def test_display_string_text(raw: bytes, expected: str) -> None:
    assert text(raw) == expected


@pytest.mark.parametrize(
    ("tag", "raw", "fmt", "expected"),
    [
        (Tag.OCTET_STRING, bytes.fromhex("001b54aa0102"), "auto", "00:1b:54:aa:01:02"),
        (Tag.OCTET_STRING, b"core-01", "auto", "core-01"),
        (Tag.OCTET_STRING, b"core-01", "hex", "63:6f:72:65:2d:30:31"),
        (
            Tag.OCTET_STRING,
            bytes.fromhex("001b54aa0102"),
            "text",
            "T\u00aa",
        ),  # Latin-1, controls dropped
        (Tag.OCTET_STRING, b"eth0\x00", "auto", "eth0"),
        (Tag.IP_ADDRESS, bytes([10, 0, 0, 2]), "auto", "10.0.0.2"),
        (Tag.OBJECT_IDENTIFIER, (1, 3, 6, 1, 4, 1, 9), "auto", "1.3.6.1.4.1.9"),
        (Tag.INTEGER, -5, "auto", "-5"),
        (Tag.COUNTER64, 2**64 - 1, "auto", "18446744073709551615"),
        (Tag.NO_SUCH_INSTANCE, None, "auto", ""),
    ],
    ids=[
        "mac",
        "text",
        "forced-hex",
        "binary-as-text",
        "nul",
        "ipaddress",
        "oid",
        "integer",
        "counter64",
        "nosuch",
    ],
)
def test_render(tag: int, raw: object, fmt: str, expected: str) -> None:
    assert render(tag, raw, fmt) == expected


@pytest.mark.parametrize(
    ("raw", "printable"),
    [
        (b"abc", True),
        (b"abc\x00\x00", True),
        (b"a\tb\nc", True),
        (b"\x00\x1b\x54", False),
        (b"\xff\xfe", False),
    ],
)
def test_is_printable(raw: bytes, printable: bool) -> None:
    assert is_printable(raw) is printable


@pytest.mark.parametrize(
    ("if_speed", "if_high_speed", "expected"),
    [
        (1_000_000_000, 1000, 125_000_000),  # agree: ifSpeed is exact
        (100_000_000, 100, 12_500_000),
        (4_294_967_295, 10_000, 1_250_000_000),  # ifSpeed saturated: ifHighSpeed wins
        (4_294_967_295, 40_000, 5_000_000_000),
        (None, 25_000, 3_125_000_000),  # HC-only partial tables
        (10_000_000, None, 1_250_000),
        (1_544_000, 2, 193_000),  # T1: ifHighSpeed rounds, ifSpeed is exact
        (0, 0, 0),
        (None, 0, 0),
        (None, None, None),
        (10_000_000, 1000, 125_000_000),  # disagree by far more than rounding: ifHighSpeed
        (4_294_967_295, None, None),  # saturated, no ifHighSpeed: unknown, not 4.29 Gb/s
        (4_294_967_295, 0, None),  # ifHighSpeed 0 says nothing more
    ],
)
def test_speed_bytes(if_speed: int | None, if_high_speed: int | None, expected: int | None) -> None:
    assert speed_bytes(if_speed, if_high_speed) == expected


@pytest.mark.parametrize(
    ("tag", "raw", "expected"),
    [
        (Tag.COUNTER32, 7, 7),
        (Tag.INTEGER, -3, -3),
        (Tag.OCTET_STRING, b"0.15", 0.15),
        (Tag.OCTET_STRING, b" 12 ", 12.0),
        (Tag.OCTET_STRING, b"1e3", 1000.0),
        (Tag.OCTET_STRING, b"abc", None),
        (Tag.OCTET_STRING, b"", None),
        (Tag.OCTET_STRING, b"nan", None),
        (Tag.OBJECT_IDENTIFIER, (1, 3), None),
        (Tag.NO_SUCH_OBJECT, None, None),
    ],
)
def test_as_number(tag: int, raw: object, expected: float | None) -> None:
    assert as_number(tag, raw) == expected


def test_as_int_and_counter_bits() -> None:
    assert as_int(Tag.GAUGE32, 5) == 5
    assert as_int(Tag.OCTET_STRING, b"5") is None
    assert [counter_bits(t) for t in (Tag.COUNTER32, Tag.COUNTER64, Tag.GAUGE32, Tag.INTEGER)] == [
        32,
        64,
        0,
        0,
    ]


@pytest.mark.parametrize(
    ("rate", "speed", "expected"),
    [
        (62_500_000.0, 125_000_000, 0.5),
        (None, 125_000_000, None),
        (10.0, 0, None),
        (10.0, None, None),
        (2e9, 125_000_000, 1.0),
    ],
)
def test_utilization_ratio(rate: float | None, speed: float | None, expected: float | None) -> None:
    assert utilization_ratio(rate, speed) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (v2c.Counter64(2**64 - 1), (Tag.COUNTER64, 2**64 - 1)),
        (v2c.Counter32(5), (Tag.COUNTER32, 5)),
        (v2c.Gauge32(5), (Tag.GAUGE32, 5)),
        (v2c.TimeTicks(5), (Tag.TIMETICKS, 5)),
        (v2c.Integer(-5), (Tag.INTEGER, -5)),
        (v2c.OctetString(b"\x00\x01"), (Tag.OCTET_STRING, b"\x00\x01")),
        (v2c.IpAddress("192.0.2.1"), (Tag.IP_ADDRESS, bytes([192, 0, 2, 1]))),
        (v2c.ObjectIdentifier((1, 3, 6)), (Tag.OBJECT_IDENTIFIER, (1, 3, 6))),
        (v2c.EndOfMibView(""), (Tag.END_OF_MIB_VIEW, None)),
        (v2c.NoSuchInstance(""), (Tag.NO_SUCH_INSTANCE, None)),
        (v2c.Null(""), (Tag.NULL, None)),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, tuple) else "",
)
def test_from_pysnmp_matches_the_native_shape(value: object, expected: tuple[int, object]) -> None:
    assert from_pysnmp(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fmt", "subtype", "raw", "expected"),
    [
        ("lldp_chassis_id", 4, bytes.fromhex("e828c13c1cd8"), "e8:28:c1:3c:1c:d8"),
        ("lldp_chassis_id", 4, b"E8:28:C1:3C:1C:D8", "e8:28:c1:3c:1c:d8"),  # RouterOS
        ("lldp_chassis_id", 4, b"e828.c13c.1cd8", "e8:28:c1:3c:1c:d8"),
        ("lldp_chassis_id", 4, b"0:1b:54:aa:1:2", "00:1b:54:aa:01:02"),
        ("lldp_chassis_id", 4, b"not a mac", "not a mac"),
        ("lldp_chassis_id", 5, bytes.fromhex("017f000005"), "127.0.0.5"),
        ("lldp_chassis_id", 5, bytes.fromhex("02") + bytes(15) + b"\x01", "::1"),
        ("lldp_chassis_id", 7, b"sw-core", "sw-core"),
        ("lldp_chassis_id", 1, b"\x00\x01\xff", "00:01:ff"),  # binary component: hex
        ("lldp_port_id", 3, bytes.fromhex("02e854fb7c77"), "02:e8:54:fb:7c:77"),
        ("lldp_port_id", 5, b"ether1", "ether1"),
        ("lldp_port_id", 4, bytes.fromhex("017f000001"), "127.0.0.1"),
        ("lldp_port_id", 4, b"Gi0/1", "Gi0/1"),  # the chassis' MAC subtype is no port's
        ("lldp_chassis_id", None, b"E8:28:C1:3C:1C:D8", "E8:28:C1:3C:1C:D8"),  # no subtype
    ],
    ids=[
        "mac-octets",
        "mac-text",
        "mac-dotted",
        "mac-short-groups",
        "mac-subtype-not-a-mac",
        "ipv4",
        "ipv6",
        "local",
        "binary",
        "port-mac",
        "port-name",
        "port-ipv4",
        "port-subtype-4-text",
        "no-subtype",
    ],
)
def test_render_lldp_id(fmt: str, subtype: int | None, raw: bytes, expected: str) -> None:
    assert render_lldp_id(fmt, subtype, Tag.OCTET_STRING, raw) == expected
