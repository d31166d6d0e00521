"""The `interfaces` profile: IF-MIB ifTable + ifXTable → interface series.

Per poll it walks only statuses and counters; names, aliases, types and speeds come
from the device's label cache (re-walked on label refresh). Octet and unicast-packet
counters are the 64-bit HC ones (ifXTable) where a row has them and the 32-bit ifTable
ones otherwise; the 32-bit columns are skipped on ordinary polls when the last refresh
found HC counters on every row that has 32-bit ones. The choice is per interface and
sticky (`IfLabels.hc`): a poll that lacks the HC value of a row that has one gives
no counter sample for it (a gap), never the 32-bit value, and an ifIndex the label
cache does not know yet gives no samples until its labels are walked. Counters leave
as raw ints with their width (`bits` from the SNMP type) and `max_rate` from the
interface speed, so the core state can tell wraps from resets and refuse impossible
rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from collectors._snmpwire.ber import Oid, Tag
from collectors.snmp.cache import DeviceCache, IfLabels
from collectors.snmp.convert import as_int, counter_bits, render, speed_bytes
from collectors.snmp.iftypes import IF_TYPES, iftype_name
from monitord.types import MetricSpec, Role, Sample, SampleKind, role, with_roles

__all__ = [
    "IF_NUMBER",
    "IF_TABLE",
    "IF_TABLE_LAST_CHANGE",
    "IF_TYPES",
    "IF_X_TABLE",
    "METRICS",
    "build_labels",
    "columns_for_poll",
    "samples",
]

IF_NUMBER: Final[Oid] = (1, 3, 6, 1, 2, 1, 2, 1, 0)
IF_TABLE_LAST_CHANGE: Final[Oid] = (1, 3, 6, 1, 2, 1, 31, 1, 5, 0)
IF_TABLE: Final[Oid] = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IF_X_TABLE: Final[Oid] = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)


def _t(n: int) -> Oid:
    return (*IF_TABLE, n)


def _x(n: int) -> Oid:
    return (*IF_X_TABLE, n)


DESCR, TYPE, SPEED, ADMIN, OPER = _t(2), _t(3), _t(5), _t(7), _t(8)
IN_OCTETS, IN_UCAST, IN_DISCARDS, IN_ERRORS = _t(10), _t(11), _t(13), _t(14)
OUT_OCTETS, OUT_UCAST, OUT_DISCARDS, OUT_ERRORS = _t(16), _t(17), _t(19), _t(20)
NAME, HC_IN_OCTETS, HC_IN_UCAST, HC_OUT_OCTETS, HC_OUT_UCAST = _x(1), _x(6), _x(7), _x(10), _x(11)
HIGH_SPEED, ALIAS = _x(15), _x(18)

_STATUS_COLUMNS: Final = (ADMIN, OPER, IN_DISCARDS, IN_ERRORS, OUT_DISCARDS, OUT_ERRORS)
_COUNTER32_COLUMNS: Final = (IN_OCTETS, IN_UCAST, OUT_OCTETS, OUT_UCAST)
_HC_COLUMNS: Final = (HC_IN_OCTETS, HC_IN_UCAST, HC_OUT_OCTETS, HC_OUT_UCAST)
_LABEL_COLUMNS_T: Final = (DESCR, TYPE, SPEED)
_LABEL_COLUMNS_X: Final = (NAME, HIGH_SPEED, ALIAS)

# Interfaces whose ifSpeed says nothing about the traffic they can carry: no max_rate.
_VIRTUAL_TYPES: Final = frozenset({1, 24, 53, 131, 135, 136, 150, 166, 209})

_IF_LABELS = ("target", "ifindex", "ifname")
_PLAIN: Final[tuple[MetricSpec, ...]] = (
    MetricSpec(
        "monitord_interface_in_bytes_total",
        SampleKind.COUNTER,
        "Octets received on the interface (IF-MIB ifHCInOctets/ifInOctets, or the OS counters); "
        "value from the last poll. Raw device counter: 32-bit ones wrap at 2^32, and values above "
        "2^53 lose their lowest bits in float64.",
        _IF_LABELS,
    ),
    MetricSpec(
        "monitord_interface_out_bytes_total",
        SampleKind.COUNTER,
        "Octets sent on the interface (IF-MIB ifHCOutOctets/ifOutOctets, or the OS counters); "
        "value from the last poll. Raw device counter: 32-bit ones wrap at 2^32, and values above "
        "2^53 lose their lowest bits in float64.",
        _IF_LABELS,
    ),
    MetricSpec(
        "monitord_interface_in_packets_total",
        SampleKind.COUNTER,
        "Unicast packets received on the interface (IF-MIB ifHCInUcastPkts/ifInUcastPkts, or the "
        "OS "
        "counters); value from the last poll.",
        _IF_LABELS,
    ),
    MetricSpec(
        "monitord_interface_out_packets_total",
        SampleKind.COUNTER,
        "Unicast packets sent on the interface (IF-MIB ifHCOutUcastPkts/ifOutUcastPkts, or the OS "
        "counters); value from the last poll.",
        _IF_LABELS,
    ),
    MetricSpec(
        "monitord_interface_in_errors_total",
        SampleKind.COUNTER,
        "Inbound packets with errors (IF-MIB ifInErrors, or the OS counters); value from the last "
        "poll.",
        _IF_LABELS,
    ),
    MetricSpec(
        "monitord_interface_out_errors_total",
        SampleKind.COUNTER,
        "Outbound packets that could not be sent because of errors (IF-MIB ifOutErrors, or the OS "
        "counters); value from the last poll.",
        _IF_LABELS,
    ),
    MetricSpec(
        "monitord_interface_in_discards_total",
        SampleKind.COUNTER,
        "Inbound packets discarded without an error, e.g. for lack of buffers (IF-MIB "
        "ifInDiscards, "
        "or the OS counters); value from the last poll.",
        _IF_LABELS,
    ),
    MetricSpec(
        "monitord_interface_out_discards_total",
        SampleKind.COUNTER,
        "Outbound packets discarded without an error (IF-MIB ifOutDiscards, or the OS counters); "
        "value from the last poll.",
        _IF_LABELS,
    ),
    MetricSpec(
        "monitord_interface_oper_up",
        SampleKind.GAUGE,
        "1 if the interface is operationally up (IF-MIB ifOperStatus = up(1), or the OS link "
        "state), "
        "else 0; value from the last poll.",
        _IF_LABELS,
    ),
    MetricSpec(
        "monitord_interface_admin_up",
        SampleKind.GAUGE,
        "1 if the interface is administratively enabled (IF-MIB ifAdminStatus = up(1), or the OS "
        "flag), "
        "else 0; value from the last poll.",
        _IF_LABELS,
    ),
    MetricSpec(
        "monitord_interface_speed_bytes",
        SampleKind.GAUGE,
        "Interface speed in bytes per second (IF-MIB ifHighSpeed x 10^6 / 8, or ifSpeed / 8, or "
        "the OS "
        "link speed); may lag a speed change by one label refresh.",
        _IF_LABELS,
    ),
    MetricSpec(
        "monitord_interface_info",
        SampleKind.INFO,
        "Descriptive labels of an interface: name, alias (description) and IANA type; always 1.",
        ("target", "ifindex", "ifname", "ifalias", "iftype"),
    ),
)
METRICS: Final[tuple[MetricSpec, ...]] = with_roles(
    _PLAIN,
    {
        **{
            f"monitord_interface_{d}_{w}_total": role(Role.INTERFACE_COUNTER, rollup=f"{d}_{w}")
            for d in ("in", "out")
            for w in ("bytes", "errors", "discards")
        },
        "monitord_interface_oper_up": role(Role.INTERFACE_STATUS),
        "monitord_interface_speed_bytes": role(Role.INTERFACE_SPEED),
        "monitord_interface_info": role(Role.INTERFACE_INFO),
    },
)


def columns_for_poll(
    cache: DeviceCache, refresh: bool, version: int
) -> tuple[list[Oid], list[Oid]]:
    """The ifTable and ifXTable columns to walk in this poll."""
    table = list(_STATUS_COLUMNS)
    if refresh or not cache.hc_complete or version == 0:
        table += _COUNTER32_COLUMNS
    if refresh:
        table += _LABEL_COLUMNS_T
    xtable = [] if version == 0 else list(_HC_COLUMNS)
    if refresh:
        xtable += _LABEL_COLUMNS_X
    return sorted(table), sorted(xtable)


Rows = Mapping[Oid, Mapping[Oid, tuple[int, object]]]


def build_labels(
    rows: Rows, previous: Mapping[int, IfLabels] | None = None, *, rename: bool = True
) -> tuple[dict[int, IfLabels], bool]:
    """Interface labels from a refresh walk, and whether HC counters cover every row.

    With `previous` and `rename=False` (a periodic refresh, no change announced by the
    device), an interface already known keeps its name, and its HC flag once set.
    """
    indexes: set[int] = set()
    for col in (
        DESCR,
        TYPE,
        SPEED,
        NAME,
        HIGH_SPEED,
        ALIAS,
        ADMIN,
        OPER,
        *_COUNTER32_COLUMNS,
        *_HC_COLUMNS,
    ):
        indexes.update(i[0] for i in rows.get(col, {}) if len(i) == 1)
    out: dict[int, IfLabels] = {}
    for idx in sorted(indexes):
        key = (idx,)
        name = _text(rows, NAME, key) or _text(rows, DESCR, key) or str(idx)
        alias = _text(rows, ALIAS, key)
        code = _int(rows, TYPE, key)
        speed = speed_bytes(_int(rows, SPEED, key), _int(rows, HIGH_SPEED, key))
        hc = key in rows.get(HC_IN_OCTETS, {}) or key in rows.get(HC_OUT_OCTETS, {})
        old = previous.get(idx) if previous is not None and not rename else None
        if old is not None:
            name, hc = old.ifname, hc or old.hc
        out[idx] = IfLabels(name, alias, iftype_name(code), code, speed, hc)
    hc_complete = all(
        key in rows.get(hc, {})
        for c32, hc in zip(_COUNTER32_COLUMNS, _HC_COLUMNS, strict=True)
        for key in rows.get(c32, {})
    )
    return out, hc_complete


def samples(target: str, rows: Rows, cache: DeviceCache) -> tuple[list[Sample], bool]:
    """Interface samples from this poll's walk; True too when an ifIndex not cached is seen."""
    out: list[Sample] = []
    append = out.append
    counter, gauge, info = SampleKind.COUNTER, SampleKind.GAUGE, SampleKind.INFO
    indexes: set[Oid] = set()
    for col in (
        ADMIN,
        OPER,
        *_COUNTER32_COLUMNS,
        *_HC_COLUMNS,
        IN_ERRORS,
        OUT_ERRORS,
        IN_DISCARDS,
        OUT_DISCARDS,
    ):
        indexes.update(rows.get(col, {}))
    unknown = False
    g = rows.get
    admin, oper = g(ADMIN, {}), g(OPER, {})
    c32 = [g(c, {}) for c in _COUNTER32_COLUMNS]
    hc = [g(c, {}) for c in _HC_COLUMNS]
    errs = [g(c, {}) for c in (IN_ERRORS, OUT_ERRORS, IN_DISCARDS, OUT_DISCARDS)]
    names_c = (
        "monitord_interface_in_bytes_total",
        "monitord_interface_in_packets_total",
        "monitord_interface_out_bytes_total",
        "monitord_interface_out_packets_total",
    )
    names_e = (
        "monitord_interface_in_errors_total",
        "monitord_interface_out_errors_total",
        "monitord_interface_in_discards_total",
        "monitord_interface_out_discards_total",
    )
    known_maps, label_maps = cache.label_maps, {}
    for key in sorted(indexes):
        if len(key) != 1:
            continue
        idx = key[0]
        lab = cache.interfaces.get(idx)
        if lab is None:  # no name yet: a gap, not a series under a stand-in name
            unknown = True
            continue
        maps = known_maps.get(idx)
        if maps is None or maps[1] is not lab or maps[0] != target:
            labels = {"target": target, "ifindex": str(idx), "ifname": lab.ifname}
            info_labels = {**labels, "ifalias": lab.ifalias, "iftype": lab.iftype}
            maps = (target, lab, labels, info_labels)
        label_maps[idx] = maps
        labels, info_labels = maps[2], maps[3]
        speed = lab.speed_bytes or 0
        max_bytes = float(speed) if speed > 0 and lab.iftype_code not in _VIRTUAL_TYPES else 0.0
        max_pkts = max_bytes / 40.0
        width = hc if lab.hc else c32
        for i, name in enumerate(names_c):
            vb = width[i].get(key)
            if (
                vb is not None
                and vb[0] in (Tag.COUNTER32, Tag.COUNTER64)
                and isinstance(vb[1], int)
            ):
                bound = max_bytes if i % 2 == 0 else max_pkts
                append(Sample(name, labels, vb[1], counter, 0.0, counter_bits(vb[0]), False, bound))
        for i, name in enumerate(names_e):
            vb = errs[i].get(key)
            if (
                vb is not None
                and vb[0] in (Tag.COUNTER32, Tag.COUNTER64)
                and isinstance(vb[1], int)
            ):
                append(
                    Sample(name, labels, vb[1], counter, 0.0, counter_bits(vb[0]), False, max_pkts)
                )
        vb = oper.get(key)
        if vb is not None and (v := as_int(*vb)) is not None:
            append(Sample("monitord_interface_oper_up", labels, 1 if v == 1 else 0, gauge))
        vb = admin.get(key)
        if vb is not None and (v := as_int(*vb)) is not None:
            append(Sample("monitord_interface_admin_up", labels, 1 if v == 1 else 0, gauge))
        if lab.speed_bytes is not None:
            append(Sample("monitord_interface_speed_bytes", labels, lab.speed_bytes, gauge))
        append(
            Sample(
                "monitord_interface_info",
                info_labels,
                1,
                info,
            )
        )
    cache.label_maps = label_maps
    return out, unknown


def _text(rows: Rows, col: Oid, key: Oid) -> str:
    vb = rows.get(col, {}).get(key)
    if vb is None or not isinstance(vb[1], bytes):
        return ""
    return render(vb[0], vb[1], "text")


def _int(rows: Rows, col: Oid, key: Oid) -> int | None:
    vb = rows.get(col, {}).get(key)
    return None if vb is None else as_int(*vb)
