"""The SNMP collector's inventory: sysName/sysDescr, identity and the ENTITY-MIB chassis.

`inventory_from` reads the series of role INVENTORY (`monitord_snmp_info`,
`monitord_device_info`, `monitord_inventory_info`) and gives the document the history
keeps per target (`monitord.history.db.add_inventory`); the daemon calls it after each
good poll
through the `InventoryFromPoll` capability.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monitord.types import Target

__all__ = ["inventory_from"]

_SYSTEM = (
    ("sysname", "sys_name"),
    ("sysdescr", "sys_descr"),
    ("syslocation", "sys_location"),
    ("sysobjectid", "sys_object_id"),
)
_CHASSIS = (
    ("mfg", "manufacturer"),
    ("model", "model"),
    ("serial", "serial"),
    ("software", "software_version"),
    ("firmware", "firmware"),
    ("hardware", "hardware"),
)
# monitord_device_info (identify.py) wins over the chassis row; a change of os_version
# between snapshots is a firmware change in the reports' change tables
_DEVICE = (
    ("vendor", "manufacturer"),
    ("os", "os"),
    ("version", "os_version"),
    ("model", "model"),
    ("serial", "serial"),
)


def inventory_from(
    target: Target, series: Sequence[tuple[str, Mapping[str, str], float]]
) -> dict[str, Any]:
    """An inventory snapshot from an SNMP poll: system group, identity, ENTITY-MIB chassis."""
    out: dict[str, Any] = {}
    parts: list[dict[str, str]] = []
    device: Mapping[str, str] = {}
    for name, labels, _ in series:
        if name == "monitord_device_info":
            device = labels
        elif name == "monitord_snmp_info":
            for src, dst in _SYSTEM:
                if labels.get(src):
                    out[dst] = labels[src]
        elif name == "monitord_inventory_info":
            parts.append({k: v for k, v in labels.items() if k != "target" and v})
    if parts:
        parts.sort(key=lambda p: (p.get("class") != "chassis", _int(p.get("entity_index"))))
        chassis = parts[0]
        for src, dst in _CHASSIS:
            if chassis.get(src):
                out[dst] = chassis[src]
        out["components"] = parts
    for src, dst in _DEVICE:
        if device.get(src):
            out[dst] = device[src]
    if out:
        out["address"] = target.address
    return out


def _int(v: str | None) -> int:
    try:
        return int(v or 0)
    except ValueError:
        return 0
