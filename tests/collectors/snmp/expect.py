"""Expected values computed from a recording (or from snmpbulkwalk output), not via the collector.

The rules restated here are the documented ones: HC counters where the row has them,
32-bit otherwise; status 1 → 1 else 0; ifName, else ifDescr, else the ifIndex as the
name; DisplayString text with trailing NULs and control characters (but tab/newline)
dropped; speed from ifHighSpeed when ifSpeed is absent, saturated or disagrees, and
none when ifSpeed is saturated and ifHighSpeed absent or 0.
"""

from __future__ import annotations

import re

from tests.collectors.snmp.conftest import by_series

__all__ = ["check_interfaces", "check_system", "expected_interfaces", "from_netsnmp", "label_text"]

IF = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
COUNTERS = {
    "monitord_interface_in_bytes_total": [(IFX, 6), (IF, 10)],
    "monitord_interface_out_bytes_total": [(IFX, 10), (IF, 16)],
    "monitord_interface_in_packets_total": [(IFX, 7), (IF, 11)],
    "monitord_interface_out_packets_total": [(IFX, 11), (IF, 17)],
    "monitord_interface_in_errors_total": [(IF, 14)],
    "monitord_interface_out_errors_total": [(IF, 20)],
    "monitord_interface_in_discards_total": [(IF, 13)],
    "monitord_interface_out_discards_total": [(IF, 19)],
}
_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def label_text(raw: bytes) -> str:
    """The documented DisplayString rule, written independently of collectors.snmp.convert."""
    raw = raw.rstrip(b"\x00")
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        s = raw.decode("latin-1")
    return _CTRL.sub("", s).strip()[:512]


def expected_interfaces(
    rec: dict[tuple[int, ...], tuple[int, object]],
) -> dict[str, dict[str, object]]:
    """ifindex → {metric: value, 'ifname': ..., 'ifalias': ...} from a recording."""
    rows: dict[int, dict[tuple[tuple[int, ...], int], tuple[int, object]]] = {}
    for oid, vb in rec.items():
        for base in (IF, IFX):
            if oid[: len(base)] == base and len(oid) == len(base) + 2:
                rows.setdefault(oid[-1], {})[(base, oid[len(base)])] = vb
    status_cols = [(IF, 7), (IF, 8)] + [c for cols in COUNTERS.values() for c in cols]
    out: dict[str, dict[str, object]] = {}
    for idx, row in rows.items():
        if not any(c in row for c in status_cols):
            continue  # a row with labels only: no series
        e: dict[str, object] = {}
        for metric, cols in COUNTERS.items():
            for col in cols:
                vb = row.get(col)
                if vb is not None and vb[0] in (65, 70):
                    e[metric] = vb[1]
                    break
        for metric, col in (("monitord_interface_admin_up", 7), ("monitord_interface_oper_up", 8)):
            if (IF, col) in row and row[(IF, col)][0] == 2:
                e[metric] = 1 if row[(IF, col)][1] == 1 else 0
        name = row.get((IFX, 1))
        descr = row.get((IF, 2))
        e["ifname"] = (
            (label_text(name[1]) if name and isinstance(name[1], bytes) else "")
            or (label_text(descr[1]) if descr and isinstance(descr[1], bytes) else "")
            or str(idx)
        )
        alias = row.get((IFX, 18))
        e["ifalias"] = label_text(alias[1]) if alias and isinstance(alias[1], bytes) else ""
        speed, high = row.get((IF, 5)), row.get((IFX, 15))
        s = speed[1] if speed else None
        h = high[1] if high else None
        if h and (s is None or s >= 4_294_967_295 or abs(s - h * 1_000_000) >= 1_000_000):  # type: ignore[operator]
            e["monitord_interface_speed_bytes"] = h * 1_000_000 // 8  # type: ignore[operator]
        elif s is not None and s < 4_294_967_295:  # saturated, no ifHighSpeed: unknown
            e["monitord_interface_speed_bytes"] = s // 8  # type: ignore[operator]
        elif h is not None:
            e["monitord_interface_speed_bytes"] = h * 1_000_000 // 8  # type: ignore[operator]
        out[str(idx)] = e
    return out


def check_interfaces(samples: list, rec: dict, target: str) -> int:
    """Assert every interface series equals the recording; return how many values were checked."""
    series = by_series(samples)
    expected = expected_interfaces(rec)
    info = {s.labels["ifindex"]: s for s in samples if s.name == "monitord_interface_info"}
    assert set(info) == set(expected), "interfaces differ from the recording"
    checked = 0
    for idx, e in expected.items():
        assert info[idx].labels["ifname"] == e["ifname"]
        assert info[idx].labels["ifalias"] == e["ifalias"]
        labels = (("ifindex", idx), ("ifname", str(e["ifname"])), ("target", target))
        for metric, value in e.items():
            if not metric.startswith("monitord_"):
                continue
            s = series.get((metric, labels))
            assert s is not None, f"missing {metric} for ifindex {idx}"
            assert s.value == value and type(s.value) is int, (metric, idx, s.value, value)
            checked += 1
        emitted = {n for (n, lbl) in series if lbl == labels}
        assert emitted - {"monitord_interface_info"} == {m for m in e if m.startswith("monitord_")}
    return checked


def check_system(samples: list, rec: dict, target: str) -> None:
    series = by_series(samples)
    up = rec.get((1, 3, 6, 1, 2, 1, 1, 3, 0))
    got = series.get(("monitord_device_uptime_seconds", (("target", target),)))
    if up is None:
        assert got is None
    else:
        assert got is not None and got.value == up[1] / 100  # type: ignore[operator]
    info = [s for s in samples if s.name == "monitord_snmp_info"]
    assert len(info) == 1
    descr = rec.get((1, 3, 6, 1, 2, 1, 1, 1, 0))
    assert info[0].labels["sysdescr"] == (label_text(descr[1]) if descr else "")  # type: ignore[arg-type]
    oid = rec.get((1, 3, 6, 1, 2, 1, 1, 2, 0))
    assert info[0].labels["sysobjectid"] == (".".join(map(str, oid[1])) if oid else "")  # type: ignore[arg-type]


_NETSNMP_TYPES = {
    "Counter32": 65,
    "Counter64": 70,
    "INTEGER": 2,
    "Gauge32": 66,
    "Timeticks": 67,
    "Hex-STRING": 4,
    "STRING": 4,
    "OID": 6,
    "IpAddress": 64,
    "": 4,
}


def from_netsnmp(
    parsed: dict[tuple[int, ...], tuple[str, str]],
) -> dict[tuple[int, ...], tuple[int, object]]:
    """snmpbulkwalk `-On -Ox -Ot -Oe -OU` output (parsed by parse_snmp_output) → recording form."""
    out: dict[tuple[int, ...], tuple[int, object]] = {}
    for oid, (typ, text) in parsed.items():
        tag = _NETSNMP_TYPES.get(typ)
        if typ == "" and text.isdigit():
            tag = 67  # -Ot prints TimeTicks as a bare number
        if tag is None:
            continue
        value: object
        if tag == 4:
            if typ == "Hex-STRING":
                value = bytes.fromhex(text.replace(" ", ""))
            else:
                value = text[1:-1].encode() if text.startswith('"') else text.encode()
        elif tag == 6:
            value = tuple(int(x) for x in text.strip(".").split("."))
        elif tag == 64:
            value = text
        else:
            value = int(text)
        out[oid] = (tag, value)
    return out
