"""Generate and read snmpsim recordings (`.snmprec`: `OID|TAG|VALUE` lines sorted by OID).

`switch()` builds a deterministic recording of an N-port switch (system group, IF-MIB
ifTable/ifXTable, ENTITY-MIB chassis/PSUs, LLDP neighbours) with the awkward values real
switches have: non-contiguous ifIndex, Counter32 values near 2^32, Counter64 values
above 2^32 and 2^53, 10G ports whose ifSpeed saturates, aliases with quotes, backslashes,
UTF-8 and control characters, ports that are admin-down or lowerLayerDown.

`read_snmprec()` parses a recording into `{oid_tuple: (tag, python_value)}` on its own
(hex `x` tags decoded), so tests compute expectations without the collector's code.

Run as a script to write the two standard devices into a folder:
    python -m tests.peers.snmprec_gen OUTDIR
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Record",
    "counter_overrides",
    "read_snmprec",
    "render_records",
    "switch",
    "write_snmprec",
]

Oid = tuple[int, ...]

# snmprec type tags
INTEGER, OCTETS, NULL, OID, IPADDR, COUNTER32, GAUGE32, TIMETICKS, COUNTER64 = (
    2,
    4,
    5,
    6,
    64,
    65,
    66,
    67,
    70,
)

IF = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
ENT = (1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1)
LLDP_REM = (1, 0, 8802, 1, 1, 2, 1, 4, 1, 1)
LLDP_LOC_PORT = (1, 0, 8802, 1, 1, 2, 1, 3, 7, 1)


@dataclass(frozen=True, slots=True)
class Record:
    """One recorded OID: its snmprec tag and a Python value (int, bytes, str, or OID tuple)."""

    oid: Oid
    tag: int
    value: object


def _oid(text: str) -> Oid:
    return tuple(int(x) for x in text.strip(".").split("."))


def switch(
    ports: int,
    *,
    seed: int = 1,
    name: str = "gen-switch",
    uptime_ticks: int = 123_456_789,
    with_counter32_octets: bool = True,
    with_hc: bool = True,
    ten_gig_every: int = 12,
) -> list[Record]:
    """A switch with `ports` Ethernet ports plus one VLAN interface and one LAG."""
    rnd = random.Random(seed)
    recs: list[Record] = []

    def add(oid: Oid, tag: int, value: object) -> None:
        recs.append(Record(oid, tag, value))

    sysdescr = f"monitord generated switch, {ports} ports, software 1.2.3\r\nCompiled by tests"
    add((1, 3, 6, 1, 2, 1, 1, 1, 0), OCTETS, sysdescr)
    add((1, 3, 6, 1, 2, 1, 1, 2, 0), OID, (1, 3, 6, 1, 4, 1, 9, 1, 1208))
    add((1, 3, 6, 1, 2, 1, 1, 3, 0), TIMETICKS, uptime_ticks)
    add((1, 3, 6, 1, 2, 1, 1, 4, 0), OCTETS, "noc@example.org")
    add((1, 3, 6, 1, 2, 1, 1, 5, 0), OCTETS, name)
    add((1, 3, 6, 1, 2, 1, 1, 6, 0), OCTETS, 'Edificio Alcaldía, piso 2 "rack 3"')
    add((1, 3, 6, 1, 2, 1, 1, 7, 0), INTEGER, 6)
    indexes = [10100 + p for p in range(1, ports + 1)] + [1, 5001]
    add((1, 3, 6, 1, 2, 1, 2, 1, 0), INTEGER, len(indexes))
    aliases = [
        'uplink "core"',
        "back\\slash",
        "Oficina de Planeación",
        "tab\there",
        "",
        "server-01",
    ]
    for n, idx in enumerate(indexes):
        port = n + 1
        is_port = idx >= 10100 and idx < 10100 + ports + 1
        ten_g = is_port and port % ten_gig_every == 0
        if is_port:
            descr, ifname, iftype = f"GigabitEthernet1/0/{port}", f"Gi1/0/{port}", 6
            high = 10_000 if ten_g else 1000
            speed = 4_294_967_295 if ten_g else 1_000_000_000
        elif idx == 1:
            descr, ifname, iftype, high, speed = "Vlan1", "Vl1", 136, 1000, 1_000_000_000
        else:
            descr, ifname, iftype, high, speed = "Port-channel1", "Po1", 161, 20_000, 4_294_967_295
        admin = 2 if port % 17 == 0 else 1
        oper = 2 if admin == 2 else (7 if port % 5 == 0 else 1)
        hc_in = rnd.randrange(0, 1 << 40)
        hc_out = rnd.randrange(0, 1 << 36)
        if port == 3:
            hc_in = (1 << 53) + 12345  # above float64's exact range
        if port == 4:
            hc_in = 4_294_967_290  # 32-bit view close to the wrap
        hc_in_pk = rnd.randrange(0, 1 << 34)
        hc_out_pk = rnd.randrange(0, 1 << 34)
        cols: dict[int, tuple[int, object]] = {
            1: (INTEGER, idx),
            2: (OCTETS, descr),
            3: (INTEGER, iftype),
            4: (INTEGER, 1500),
            5: (GAUGE32, speed),
            6: (OCTETS, bytes([0x00, 0x1B, 0x54, 0xAA, (idx >> 8) & 0xFF, idx & 0xFF])),
            7: (INTEGER, admin),
            8: (INTEGER, oper),
            9: (TIMETICKS, rnd.randrange(0, uptime_ticks)),
            11: (COUNTER32, hc_in_pk % (1 << 32)),
            12: (COUNTER32, rnd.randrange(0, 1 << 20)),
            13: (COUNTER32, rnd.randrange(0, 1000)),
            14: (COUNTER32, rnd.randrange(0, 1000)),
            15: (COUNTER32, 0),
            17: (COUNTER32, hc_out_pk % (1 << 32)),
            18: (COUNTER32, rnd.randrange(0, 1 << 20)),
            19: (COUNTER32, rnd.randrange(0, 1000)),
            20: (COUNTER32, rnd.randrange(0, 100)),
            21: (GAUGE32, 0),
            22: (OID, (0, 0)),
        }
        if with_counter32_octets:
            cols[10] = (COUNTER32, hc_in % (1 << 32))
            cols[16] = (COUNTER32, hc_out % (1 << 32))
        for col, (tag, value) in cols.items():
            add((*IF, col, idx), tag, value)
        xcols: dict[int, tuple[int, object]] = {
            1: (OCTETS, ifname),
            2: (COUNTER32, rnd.randrange(0, 1 << 20)),
            3: (COUNTER32, rnd.randrange(0, 1 << 20)),
            4: (COUNTER32, rnd.randrange(0, 1 << 20)),
            5: (COUNTER32, rnd.randrange(0, 1 << 20)),
            6: (COUNTER64, hc_in),
            7: (COUNTER64, hc_in_pk),
            8: (COUNTER64, rnd.randrange(0, 1 << 30)),
            9: (COUNTER64, rnd.randrange(0, 1 << 30)),
            10: (COUNTER64, hc_out),
            11: (COUNTER64, hc_out_pk),
            12: (COUNTER64, rnd.randrange(0, 1 << 30)),
            13: (COUNTER64, rnd.randrange(0, 1 << 30)),
            14: (INTEGER, 1),
            15: (GAUGE32, high),
            16: (INTEGER, 2),
            17: (INTEGER, 1 if is_port else 2),
            18: (OCTETS, aliases[n % len(aliases)] + (f" {port}" if port % 7 == 0 else "")),
            19: (TIMETICKS, 0),
        }
        for col, (tag, value) in xcols.items():
            if with_hc or tag != COUNTER64:
                add((*IFX, col, idx), tag, value)
    # ENTITY-MIB: chassis, two power supplies, a module, a port (filtered out by class)
    entities = [
        (
            1,
            "WS-C2960X-48FPS-L",
            3,
            "1",
            "V05",
            "15.0(2a)EX5",
            "FOC1234X0AB",
            "Cisco",
            "WS-C2960X-48FPS-L",
        ),
        (2, "Power Supply 1", 6, "PS1", "", "", "LIT1111AAAA", "Cisco", "PWR-C2-640WAC"),
        (3, "Power Supply 2", 6, "PS2", "", "", "", "Cisco", "PWR-C2-640WAC"),
        (4, "Stack module", 9, "Module 1", "V01", "", "FDO9876ZZZZ", "Cisco", "C2960X-STACK"),
        (1001, "Gi1/0/1", 10, "Gi1/0/1", "", "", "", "", ""),
    ]
    for idx, descr, cls, ename, hw, sw, serial, mfg, model in entities:
        for col, tag, value in (
            (2, OCTETS, descr),
            (5, INTEGER, cls),
            (7, OCTETS, ename),
            (8, OCTETS, hw),
            (9, OCTETS, ""),
            (10, OCTETS, sw),
            (11, OCTETS, serial),
            (12, OCTETS, mfg),
            (13, OCTETS, model),
        ):
            add((*ENT, col, idx), tag, value)
    # LLDP: local ports and two neighbours (one by MAC chassis id, one by name)
    for p in (1, 2):
        add((*LLDP_LOC_PORT, 2, p), INTEGER, 5)
        add((*LLDP_LOC_PORT, 3, p), OCTETS, f"Gi1/0/{p}")
        add((*LLDP_LOC_PORT, 4, p), OCTETS, f"GigabitEthernet1/0/{p}")
    neighbours = [
        (1, 1, 4, bytes.fromhex("001b54aa0102"), 5, "Gi0/1", "core uplink", "core-01"),
        (2, 1, 7, "ap-lobby", 3, bytes.fromhex("f4cfe2000001"), "", "ap-lobby"),
    ]
    for port, rem, csub, cid, psub, pid, pdesc, sysname in neighbours:
        for col, tag, value in (
            (4, INTEGER, csub),
            (5, OCTETS, cid),
            (6, INTEGER, psub),
            (7, OCTETS, pid),
            (8, OCTETS, pdesc),
            (9, OCTETS, sysname),
        ):
            add((*LLDP_REM, col, 0, port, rem), tag, value)
    recs.sort(key=lambda r: r.oid)
    return recs


def counter_overrides(
    records: Iterable[Record], values: Mapping[Oid, int | tuple[int, int]]
) -> list[Record]:
    """A copy of `records` with some values replaced (`{oid: value}` or `{oid: (tag, value)}`)."""
    out = []
    for r in records:
        v = values.get(r.oid)
        if v is None:
            out.append(r)
        elif isinstance(v, tuple):
            out.append(Record(r.oid, v[0], v[1]))
        else:
            out.append(Record(r.oid, r.tag, v))
    return out


def _render_value(tag: int, value: object) -> tuple[str, str]:
    if tag == OCTETS:
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        if (
            raw
            and all(c.isalnum() or c in " ._-/:,@()" for c in raw.decode("latin-1"))
            and raw.isascii()
        ):
            return "4", raw.decode("ascii")
        return "4x", raw.hex()
    if tag == OID:
        assert isinstance(value, tuple)
        return "6", ".".join(map(str, value))
    if tag == IPADDR:
        return "64", str(value)
    return str(tag), str(value)


def render_records(records: Iterable[Record]) -> str:
    """The snmprec text of `records` (they must be sorted by OID)."""
    lines = []
    for r in records:
        tag, text = _render_value(r.tag, r.value)
        lines.append(f"{'.'.join(map(str, r.oid))}|{tag}|{text}")
    return "\n".join(lines) + "\n"


def write_snmprec(path: Path, records: Iterable[Record]) -> Path:
    """Write `records` as an snmprec file."""
    path.write_text(render_records(records), encoding="utf-8")
    return path


def read_snmprec(path: Path) -> dict[Oid, tuple[int, object]]:
    """Parse a recording: `{oid: (tag, value)}`, values int / bytes / OID tuple / str (IpAddress).

    Lines that do not parse (e.g. anonymised OIDs with `xx`) are skipped, as are values
    served through variation modules (`tag:module`).
    """
    out: dict[Oid, tuple[int, object]] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if not line or line.startswith("#"):
            continue
        try:
            oid_text, tag_text, value = line.split("|", 2)
            oid = _oid(oid_text)
        except ValueError:
            continue
        if ":" in tag_text:
            continue
        hexed = tag_text.endswith("x")
        tag_text = tag_text.rstrip("xe")
        try:
            tag = int(tag_text)
        except ValueError:
            continue
        raw = bytes.fromhex(value) if hexed else value.encode("latin-1")
        parsed: object
        if tag in (OCTETS, 68):
            parsed = raw
        elif tag == OID:
            parsed = _oid(raw.decode()) if raw else ()
        elif tag == IPADDR:
            parsed = ".".join(str(b) for b in raw) if hexed else value
        elif tag == NULL:
            parsed = None
        else:
            try:
                parsed = int(raw.decode() if not hexed else int.from_bytes(raw, "big"))
            except ValueError:
                continue
        out[oid] = (tag, parsed)
    return out


def main(argv: list[str]) -> int:
    """Write the two standard generated devices into argv[1]."""
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    write_snmprec(out / "gen-switch-48.snmprec", switch(48, seed=48, name="gen-sw-48"))
    write_snmprec(
        out / "gen-switch-500.snmprec",
        switch(500, seed=500, name="gen-sw-500", with_counter32_octets=False),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
