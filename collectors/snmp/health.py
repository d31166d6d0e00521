"""Device health as data: the metric contract of the health profiles, their arithmetic, probing.

The health profiles (processors, memory pools, sensors, printer supplies, firewall
sessions, VPN tunnels, wireless clients) are data in `health.yaml`, in the profile
format of `modules.py`. This module holds what they share:

- `HEALTH_METRICS`: every series they may emit (names, labels, HELP), in base units:
  `_ratio` 0-1, `_bytes`, `_celsius`, `_volts`, `_amperes`, `_watts`, `_rpm`. States
  are gauges: `*_ok` is 1 when the device reports the part normal and 0 when it
  reports it degraded or failed; a part reported absent or unknown has no series.
- `passes` / `value_of`: the per-metric row filter (`when`) and arithmetic beyond
  `scale`/`multiply`/`map` (`pow10` for ENTITY-SENSOR's scale and precision, `divide`
  for a level over its maximum, `add`/`subtract` of another column, `min` for the
  negative "unknown" codes, a column `regex` for numbers inside strings).
- `probe`: which subtrees the device answers (one GETNEXT per OID, at label refreshes
  only), so a profile is chosen by what the device serves, not by its sysObjectID.
  An OID the agent never answers (some agents go silent past a point of the MIB)
  counts as absent and is not asked again until the agent restarts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from collectors._snmpwire.ber import Oid, PduType, Tag
from collectors.snmp.client import ClientError, RequestTimeout, Session
from collectors.snmp.convert import as_number, render
from monitord.types import MetricSpec, SampleKind

__all__ = ["HEALTH_METRICS", "computed", "passes", "probe", "value_of"]

_G = SampleKind.GAUGE
_S = ("target", "sensor", "sensor_index")
_P = ("target", "pool", "pool_index")
_LAST = "value from the last poll."

HEALTH_METRICS: Final[tuple[MetricSpec, ...]] = (
    MetricSpec(
        "monitord_memory_pool_size_bytes",
        _G,
        "Size of a memory pool (CISCO-MEMORY-POOL used+free, CISCO-ENHANCED-MEMPOOL "
        "HCUsed+HCFree, HP-ICF hpLocalMemTotalBytes, JUNIPER jnxOperatingMemory, FORTINET "
        f"fgSysMemCapacity, EdgeSwitch agentSwitchCpuProcessMemAvailable); {_LAST}",
        _P,
    ),
    MetricSpec(
        "monitord_memory_pool_used_bytes",
        _G,
        f"Used bytes of a memory pool (same sources as monitord_memory_pool_size_bytes); {_LAST}",
        _P,
    ),
    MetricSpec(
        "monitord_memory_pool_used_ratio",
        _G,
        "Used share of a memory pool, 0-1, where the device gives a percentage only "
        f"(JUNIPER jnxOperatingBuffer, FORTINET fgSysMemUsage); {_LAST}",
        _P,
    ),
    MetricSpec(
        "monitord_temperature_celsius",
        _G,
        "Temperature of a sensor in degrees Celsius (ENTITY-SENSOR-MIB, CISCO-ENTITY-SENSOR, "
        "CISCO-ENVMON, JUNIPER jnxOperatingTemp, FORTINET fgHwSensors, MIKROTIK, EdgeSwitch, "
        f"Synology, Dell iDRAC, HP CPQHLTH, HP-ICF transceivers); {_LAST}",
        _S,
    ),
    MetricSpec(
        "monitord_temperature_high_celsius",
        _G,
        "The device's own high-temperature threshold for a sensor, degrees Celsius "
        "(CISCO-ENVMON ciscoEnvMonTemperatureThreshold, iDRAC upper critical, CPQHLTH "
        "cpqHeTemperatureThreshold); only where the device gives one; "
        f"{_LAST}",
        _S,
    ),
    MetricSpec(
        "monitord_temperature_ok",
        _G,
        "1 when the device reports a temperature sensor normal, 0 when warning, critical or "
        f"shutdown (CISCO-ENVMON, EdgeSwitch, CPQHLTH, iDRAC, Synology system status); {_LAST}",
        _S,
    ),
    MetricSpec(
        "monitord_fan_speed_rpm",
        _G,
        "Fan speed in revolutions per minute (ENTITY-SENSOR-MIB, CISCO-ENTITY-SENSOR, "
        f"EdgeSwitch, MIKROTIK, Dell iDRAC); {_LAST}",
        _S,
    ),
    MetricSpec(
        "monitord_fan_ok",
        _G,
        "1 when the device reports a fan normal, 0 when warning, critical, failed or not "
        "functioning; no series for an absent fan (CISCO-ENVMON, HP-ICF hpicfFanState, "
        f"EdgeSwitch, Synology, iDRAC, CPQHLTH); {_LAST}",
        _S,
    ),
    MetricSpec(
        "monitord_power_supply_ok",
        _G,
        "1 when the device reports a power supply normal, 0 when warning, critical, failed or "
        "not functioning; no series for an empty bay (CISCO-ENVMON, HP-ICF hpicfPsState, "
        f"Synology, iDRAC, CPQHLTH); {_LAST}",
        _S,
    ),
    MetricSpec(
        "monitord_voltage_volts",
        _G,
        "Voltage of a sensor in volts (ENTITY-SENSOR-MIB, CISCO-ENTITY-SENSOR, MIKROTIK, "
        f"Dell iDRAC); {_LAST}",
        _S,
    ),
    MetricSpec(
        "monitord_current_amperes",
        _G,
        "Electric current of a sensor in amperes (ENTITY-SENSOR-MIB, CISCO-ENTITY-SENSOR); "
        f"{_LAST}",
        _S,
    ),
    MetricSpec(
        "monitord_power_watts",
        _G,
        "Power of a sensor in watts (ENTITY-SENSOR-MIB, CISCO-ENTITY-SENSOR, MIKROTIK, HP-ICF "
        f"hpicfPsWattageCur); {_LAST}",
        _S,
    ),
    MetricSpec(
        "monitord_printer_supply_level_ratio",
        _G,
        "Level of a printer supply over its maximum, 0-1 (Printer-MIB prtMarkerSuppliesLevel / "
        "prtMarkerSuppliesMaxCapacity); no series while the printer reports the level unknown "
        f"(-2), 'some remaining' (-3) or no maximum; {_LAST}",
        ("target", "supply", "supply_index"),
    ),
    MetricSpec(
        "monitord_printer_supply_info",
        SampleKind.INFO,
        "A printer supply (Printer-MIB prtMarkerSuppliesDescription, Type); refreshed with "
        "the label cache; always 1.",
        ("target", "supply", "supply_index", "supply_type"),
    ),
    MetricSpec(
        "monitord_firewall_sessions",
        _G,
        f"Sessions open on the firewall (FORTINET-FORTIGATE fgSysSesCount); {_LAST}",
    ),
    MetricSpec(
        "monitord_vpn_tunnel_up",
        _G,
        f"1 when an IPsec VPN tunnel is up, else 0 (FORTINET-FORTIGATE fgVpnTunEntStatus); {_LAST}",
        ("target", "tunnel", "tunnel_index"),
    ),
    MetricSpec(
        "monitord_wireless_clients",
        _G,
        "Wireless clients associated, per access point radio/SSID (UBNT-UniFi "
        f"unifiVapNumStations); {_LAST}",
        ("target", "ssid", "vap"),
    ),
)

_MAX_PROBES_PER_REQUEST: Final = 16
_MAX_SILENT: Final = 3  # unanswered probe requests per label refresh, at most


def passes(
    metric_when: Mapping[str, frozenset[str]], row: Mapping[str, tuple[int, object]]
) -> bool:
    """True when the row satisfies a metric's `when` (values, or `re:` regexes, per column).

    The value `absent` also accepts a row without that column (agents that skip it).
    """
    for cname, allowed in metric_when.items():
        vb = row.get(cname)
        if vb is None:
            if "absent" in allowed:
                continue
            return False
        text = render(vb[0], vb[1], "text")
        if text in allowed:
            continue
        if not any(a.startswith("re:") and re.search(a[3:], text) for a in allowed):
            return False
    return True


def computed(
    pow10: Sequence[object], divide: str | None, add: str | None, subtract: str | None
) -> bool:
    """True when a metric needs `value_of` (beyond the collector's scale/multiply)."""
    return bool(pow10) or divide is not None or add is not None or subtract is not None


def value_of(
    number: float,
    row: Mapping[str, tuple[int, object]],
    *,
    scale: float,
    pow10: Iterable[tuple[str, int, int]] = (),
    divide: str | None = None,
    add: str | None = None,
    subtract: str | None = None,
) -> float | None:
    """`number` (already read from the value column) with the profile arithmetic applied.

    Order: + add - subtract, x 10^(pow10 terms), / divide, x scale. None when a needed
    column is missing or the divisor is not positive.
    """
    value = float(number)
    for cname, sign in ((add, 1), (subtract, -1)):
        if cname is not None:
            other = _number(row, cname)
            if other is None:
                return None
            value += sign * other
    exponent = 0
    for cname, factor, offset in pow10:
        got = _number(row, cname)
        if got is None:
            return None
        exponent += factor * int(got) + offset
    if exponent > 0:
        value *= 10**exponent
    elif exponent < 0:
        value /= 10**-exponent
    if divide is not None:
        den = _number(row, divide)
        if den is None or den <= 0:
            return None
        value /= den
    if scale != 1.0:
        inverse = 1 / scale if scale else 0
        if 0 < scale < 1 and abs(inverse - round(inverse)) < 1e-9:
            value /= round(inverse)
        else:
            value *= scale
    return value if math.isfinite(value) else None


def _number(row: Mapping[str, tuple[int, object]], cname: str) -> float | None:
    vb = row.get(cname)
    return None if vb is None else as_number(vb[0], vb[1])


def numeric(tag: int, raw: object, extract: re.Pattern[str] | None) -> float | int | None:
    """A varbind as a number; `extract` takes group 1 of a string (`5 Secs ( 31.1%)`)."""
    if extract is not None and isinstance(raw, bytes):
        m = extract.search(render(tag, raw, "text"))
        if m is None:
            return None
        try:
            return float(m.group(1))
        except ValueError:
            return None
    return as_number(tag, raw)


async def probe(session: Session, oids: Sequence[Oid], dead: set[Oid]) -> set[Oid]:
    """The probe OIDs under which the device has at least one object (GETNEXT).

    Asked together (chunks of 16), without retries; when a chunk gets no answer, one by
    one, and an OID that still gets none is added to `dead` and not asked again. A
    call stops after `_MAX_SILENT` unanswered requests (an agent that goes silent past
    some point of its MIB): what was not asked counts as not answered this time and is
    asked at the next label refresh. Other errors count as "not answered".
    """
    answered: set[Oid] = set()
    silent = 0
    todo = [o for o in oids if o not in dead]
    for start in range(0, len(todo), _MAX_PROBES_PER_REQUEST):
        chunk = todo[start : start + _MAX_PROBES_PER_REQUEST]
        try:
            answered |= await _getnext(session, chunk)
            continue
        except RequestTimeout:
            silent += 1
        except ClientError:
            pass
        for oid in chunk:
            if silent >= _MAX_SILENT:
                return answered
            try:
                answered |= await _getnext(session, [oid])
            except RequestTimeout:
                dead.add(oid)
                silent += 1
            except ClientError:
                continue
    return answered


async def _getnext(session: Session, oids: Sequence[Oid]) -> set[Oid]:
    vbs, _ = await session.request(PduType.GET_NEXT, list(oids), retries=0)
    out: set[Oid] = set()
    for asked, (name, tag, _raw) in zip(oids, vbs, strict=False):
        if tag in (Tag.END_OF_MIB_VIEW, Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE):
            continue
        if name[: len(asked)] == asked:
            out.add(asked)
    return out
