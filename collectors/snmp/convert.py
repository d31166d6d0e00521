"""SNMP values → Python values and label text (pure functions, no I/O).

A varbind value travels as `(tag, raw)` (see `ber.Tag`): `raw` is an int for INTEGER,
Counter32/64, Gauge32 and TimeTicks, bytes for OCTET STRING, Opaque and IpAddress, an
OID tuple for OBJECT IDENTIFIER, None for NULL and the exceptions. Values from pysnmp
are brought to the same shape by `from_pysnmp`, so everything after the client is one
code path whatever the SNMP version.

Rendering rules for strings (documented, and what the tests check against):
- text: trailing NUL bytes and surrounding blanks are stripped; UTF-8 is decoded, and
  bytes that are not UTF-8 are read as Latin-1; C0 control characters other than tab
  and newline are dropped. Label values are capped at `MAX_LABEL_LENGTH` characters.
- `auto` (no MIB at hand): text when the bytes are printable text, otherwise
  colon-separated lower-case hex (`00:1b:54:aa:01:02` for a MAC address).
- LLDP chassis and port IDs (`render_lldp_id`) by their subtype: a MAC address as
  `aa:bb:cc:dd:ee:ff` whether the agent sends 6 octets or the MAC as text (RouterOS
  sends `E8:28:C1:3C:1C:D8`), a network address as an IP address, the rest as `auto`.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable
from typing import Final, Protocol, SupportsInt, cast

from collectors._snmpwire.ber import Oid, Tag

__all__ = [
    "COUNTER_TAGS",
    "EXCEPTION_TAGS",
    "INTEGER_TAGS",
    "LLDP_ID_FORMATS",
    "MAX_LABEL_LENGTH",
    "as_int",
    "as_number",
    "counter_bits",
    "format_hex",
    "from_pysnmp",
    "is_printable",
    "oid_text",
    "render",
    "render_lldp_id",
    "speed_bytes",
    "text",
    "utilization_ratio",
]

MAX_LABEL_LENGTH: Final = 512
INTEGER_TAGS: Final = frozenset(
    {Tag.INTEGER, Tag.COUNTER32, Tag.GAUGE32, Tag.TIMETICKS, Tag.COUNTER64}
)
COUNTER_TAGS: Final = frozenset({Tag.COUNTER32, Tag.COUNTER64})
EXCEPTION_TAGS: Final = frozenset(
    {Tag.NULL, Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE, Tag.END_OF_MIB_VIEW}
)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_NUMBER = re.compile(rb"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")
# ifSpeed saturates at 2^32-1 bit/s; ifHighSpeed (Mb/s) then carries the real speed.
_IF_SPEED_SATURATED: Final = 4_294_967_295
# Label formats of LLDP IDs, decoded by the subtype column (LLDP-MIB LldpChassisIdSubtype,
# LldpPortIdSubtype): which subtype value is a MAC address and which a network address.
LLDP_ID_FORMATS: Final = ("lldp_chassis_id", "lldp_port_id")
_LLDP_MAC_SUBTYPE: Final = {"lldp_chassis_id": 4, "lldp_port_id": 3}
_LLDP_ADDR_SUBTYPE: Final = {"lldp_chassis_id": 5, "lldp_port_id": 4}
_MAC_TEXT = re.compile(
    rb"^\s*([0-9a-fA-F]{1,2})[:-]([0-9a-fA-F]{1,2})[:-]([0-9a-fA-F]{1,2})[:-]"
    rb"([0-9a-fA-F]{1,2})[:-]([0-9a-fA-F]{1,2})[:-]([0-9a-fA-F]{1,2})\s*$"
)
_MAC_DOTTED = re.compile(rb"^\s*([0-9a-fA-F]{4})\.([0-9a-fA-F]{4})\.([0-9a-fA-F]{4})\s*$")


class _Tag(Protocol):
    """One pyasn1 tag."""

    tagClass: int
    tagFormat: int
    tagId: int


class _TagSet(Protocol):
    """A pyasn1 tag set: the effective tag is the last one."""

    def __getitem__(self, index: int) -> _Tag: ...


class _Asn1Value(Protocol):
    """The part of a pyasn1 value `from_pysnmp` relies on."""

    @property
    def tagSet(self) -> _TagSet: ...


def counter_bits(tag: int) -> int:
    """Counter width for the state's wrap arithmetic: 32, 64, or 0 for non-counters."""
    if tag == Tag.COUNTER64:
        return 64
    if tag == Tag.COUNTER32:
        return 32
    return 0


def as_int(tag: int, raw: object) -> int | None:
    """The integer value of an integer-typed varbind, else None."""
    if tag in INTEGER_TAGS and isinstance(raw, int):
        return raw
    return None


def as_number(tag: int, raw: object) -> int | float | None:
    """A number from an integer type, or from a numeric string (UCD laLoad is `"0.15"`)."""
    if tag in INTEGER_TAGS and isinstance(raw, int):
        return raw
    if tag in (Tag.OCTET_STRING, Tag.OPAQUE) and isinstance(raw, bytes) and _NUMBER.match(raw):
        value = float(raw)
        return value if math.isfinite(value) else None
    return None


def text(raw: bytes) -> str:
    """DisplayString → str (see the module docstring for the rule)."""
    raw = raw.rstrip(b"\x00")
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        s = raw.decode("latin-1")
    s = _CONTROL.sub("", s).strip()
    return s[:MAX_LABEL_LENGTH]


def is_printable(raw: bytes) -> bool:
    """True when `raw` reads as text: UTF-8 with no control characters but tab/CR/LF.

    Trailing NUL bytes are allowed (many agents pad DisplayStrings with them).
    """
    raw = raw.rstrip(b"\x00")
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c >= " " or c in "\t\r\n" for c in s) and "\x7f" not in s


def format_hex(raw: bytes) -> str:
    """Colon-separated lower-case hex: `00:1b:54:aa:01:02`."""
    return raw.hex(":")


def oid_text(oid: Oid) -> str:
    """Dotted text of an OID."""
    return ".".join(map(str, oid))


def render(tag: int, raw: object, fmt: str = "auto") -> str:
    """Label text for any varbind value.

    `fmt`: `auto` (text when printable, else hex), `text`, `hex` (colon hex). Integers
    render in decimal, OIDs dotted, IpAddress as a dotted quad; NULL and the exceptions
    as the empty string.
    """
    if isinstance(raw, bytes):
        if tag == Tag.IP_ADDRESS:
            return str(ipaddress.IPv4Address(raw)) if len(raw) == 4 else format_hex(raw)
        if fmt == "hex" or (fmt == "auto" and not is_printable(raw)):
            return format_hex(raw)
        return text(raw)
    if isinstance(raw, tuple):
        return oid_text(raw)
    if isinstance(raw, int):
        return str(raw)
    return ""


def render_lldp_id(fmt: str, subtype: int | None, tag: int, raw: object) -> str:
    """An LLDP chassis ID (`fmt="lldp_chassis_id"`) or port ID (`"lldp_port_id"`) as text.

    MAC-address subtype: `aa:bb:cc:dd:ee:ff` from 6 octets or from the MAC written as
    text (`E8:28:C1:3C:1C:D8`, `e828.c13c.1cd8`); network-address subtype: the IANA
    address family octet then the address, as an IP address; anything else (names,
    aliases, locally assigned IDs) as `auto`: text when printable, hex otherwise.
    """
    if not isinstance(raw, bytes):
        return render(tag, raw)
    if subtype == _LLDP_MAC_SUBTYPE.get(fmt):
        if len(raw) == 6:
            return format_hex(raw)
        m = _MAC_TEXT.match(raw) or _MAC_DOTTED.match(raw)
        if m is not None:
            digits = b"".join(g.rjust(2, b"0") for g in m.groups()).decode().lower()
            return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    elif subtype == _LLDP_ADDR_SUBTYPE.get(fmt) and len(raw) in (5, 17) and raw[0] in (1, 2):
        if raw[0] == 1 and len(raw) == 5:
            return str(ipaddress.IPv4Address(raw[1:]))
        if raw[0] == 2 and len(raw) == 17:
            return str(ipaddress.IPv6Address(raw[1:]))
    return render(tag, raw, "auto")


def speed_bytes(if_speed: int | None, if_high_speed: int | None) -> int | None:
    """Interface speed in bytes/s from ifSpeed (bit/s) and ifHighSpeed (Mb/s).

    ifHighSpeed wins when it is non-zero and ifSpeed is absent, saturated (2^32-1) or
    disagrees by more than rounding; ifSpeed is exact below 4.29 Gb/s. A saturated
    ifSpeed without a non-zero ifHighSpeed says only "4.29 Gb/s or more": unknown
    (None), never 4.29 Gb/s. None when the device gives neither, 0 when it says 0.
    """
    if if_high_speed:
        high = if_high_speed * 1_000_000
        if if_speed is None or if_speed >= _IF_SPEED_SATURATED or abs(if_speed - high) >= 1_000_000:
            return high // 8
    if if_speed is not None and if_speed >= _IF_SPEED_SATURATED:
        return None
    if if_speed is not None:
        return if_speed // 8
    if if_high_speed is not None:
        return if_high_speed * 1_000_000 // 8
    return None


def utilization_ratio(rate_bytes_per_second: float | None, speed: float | None) -> float | None:
    """Interface utilization (0-1) from a rate (bytes/s, from the state) and speed (bytes/s)."""
    if rate_bytes_per_second is None or not speed or speed <= 0:
        return None
    return min(1.0, max(0.0, rate_bytes_per_second / speed))


def from_pysnmp(value: object) -> tuple[int, object]:
    """A pysnmp (pyasn1) value → `(tag, raw)`, the shape the native decoder produces."""
    v = cast(_Asn1Value, value)
    last = v.tagSet[-1]
    tag = int(last.tagClass) | int(last.tagFormat) | int(last.tagId)
    if tag in INTEGER_TAGS:
        return tag, int(cast(SupportsInt, value))
    if tag in (Tag.OCTET_STRING, Tag.OPAQUE, Tag.IP_ADDRESS):
        return tag, bytes(cast(bytes, value))
    if tag == Tag.OBJECT_IDENTIFIER:
        return tag, tuple(cast(Iterable[int], value))
    return tag, None
