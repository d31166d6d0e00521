"""What a device is: vendor, OS, version, model, serial and probable kind, from data.

The table is `vendors.yaml` (next to this module): the enterprise number of
sysObjectID picks the vendor; per vendor, ordered rules on sysObjectID/sysDescr give
the OS and the kind (router, switch, firewall, wireless, ups, printer, server,
storage...), regular expressions on sysDescr give a version/model/serial, and
`scalars` name vendor MIB objects read with one GET at each label refresh
(`scalar_oids`). A `refine` entry switches to another vendor when the device answers
an OID (a Synology or QNAP NAS announces itself as net-snmp).

Precedence per field: vendor scalar, then the ENTITY-MIB chassis (the first
entPhysicalTable row of class chassis, else row 1), then sysDescr. Pure functions:
the collector does the I/O and passes the values in.

`monitord_device_info{target,vendor,os,version,model,serial}` = 1 carries the result.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Final

from collectors._snmpwire.ber import Oid, parse_oid
from monitord.types import MetricSpec, Role, Sample, SampleKind, role, with_roles
from monitord.yamlfile import parse_yaml

__all__ = [
    "DEVICE_INFO",
    "ENTITY_ROW1",
    "FIELDS",
    "Identity",
    "VendorTable",
    "chassis_of",
    "device_info",
    "load_vendors",
]

FIELDS: Final = ("vendor", "os", "version", "model", "serial")
DEVICE_INFO: Final = with_roles(
    [
        MetricSpec(
            "monitord_device_info",
            SampleKind.INFO,
            "What the device is: vendor (from the sysObjectID enterprise number), os and "
            "version (sysDescr or the vendor MIB), model and serial (vendor MIB, else the "
            "ENTITY-MIB chassis entPhysicalModelName/SerialNum); refreshed with the label "
            "cache; always 1.",
            ("target", *FIELDS),
        )
    ],
    {"monitord_device_info": role(Role.INVENTORY)},
)[0]
_ENT = (1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1)
# entPhysicalDescr/ModelName/SerialNum/SoftwareRev of row 1: the chassis when no row
# says class chassis (FortiGate, EdgeRouter).
ENTITY_ROW1: Final[Mapping[str, Oid]] = {
    "descr": (*_ENT, 2, 1),
    "model": (*_ENT, 13, 1),
    "serial": (*_ENT, 11, 1),
    "software": (*_ENT, 10, 1),
}
_ENTERPRISES: Final[Oid] = (1, 3, 6, 1, 4, 1)


@dataclass(frozen=True, slots=True)
class Identity:
    """The identification of one device; empty strings where unknown."""

    vendor: str = ""
    os: str = ""
    version: str = ""
    model: str = ""
    serial: str = ""
    kind: str = ""

    def labels(self) -> dict[str, str]:
        """The labels of monitord_device_info (without target)."""
        return {f: getattr(self, f) for f in FIELDS}


@dataclass(frozen=True, slots=True)
class _Extract:
    """A regular expression whose group 1 (or `expand` template) is the value."""

    regex: re.Pattern[str] | None
    expand: str = ""

    def apply(self, text: str) -> str:
        text = " ".join(text.split())
        if self.regex is None:
            return text
        m = self.regex.search(text)
        if m is None:
            return ""
        if self.expand:
            return m.expand(self.expand).strip()
        return (m.group(1) if m.groups() else m.group(0)).strip()


@dataclass(frozen=True, slots=True)
class _Rule:
    """sysObjectID prefix and/or sysDescr regex → a value (OS or kind)."""

    value: str
    prefix: Oid | None = None
    descr: re.Pattern[str] | None = None

    def matches(self, sys_object_id: Oid | None, sys_descr: str) -> bool:
        if self.prefix is not None and (
            sys_object_id is None or sys_object_id[: len(self.prefix)] != self.prefix
        ):
            return False
        return self.descr is None or bool(self.descr.search(sys_descr))


@dataclass(frozen=True, slots=True)
class _Scalar:
    oids: tuple[Oid, ...]
    extract: _Extract


@dataclass(frozen=True, slots=True)
class Vendor:
    """How one vendor's devices are identified."""

    key: str
    name: str
    kind: str = ""
    kinds: tuple[_Rule, ...] = ()
    os: tuple[_Rule, ...] = ()
    descr: Mapping[str, _Extract] = field(default_factory=dict)
    scalars: Mapping[str, _Scalar] = field(default_factory=dict)
    refine: tuple[tuple[Oid, str], ...] = ()
    entity_row1: bool = False  # also GET ENTITY-MIB row 1 (agents without entPhysicalClass)


@dataclass(frozen=True, slots=True)
class VendorTable:
    """The enterprise → vendor table and each vendor's rules."""

    enterprises: Mapping[int, str]
    vendors: Mapping[str, Vendor]

    def vendor_of(self, sys_object_id: Oid | None) -> Vendor | None:
        """The vendor of a sysObjectID (None when the enterprise is not in the table)."""
        if sys_object_id is None or sys_object_id[:6] != _ENTERPRISES or len(sys_object_id) < 7:
            return None
        key = self.enterprises.get(sys_object_id[6])
        return self.vendors.get(key) if key else None

    def scalar_oids(self, sys_object_id: Oid | None) -> list[Oid]:
        """What to GET at a label refresh to identify this device (the vendor's scalars)."""
        oids: list[Oid] = []
        vendor = self.vendor_of(sys_object_id)
        if vendor is None:
            return oids
        related = [vendor, *(self.vendors[k] for _, k in vendor.refine if k in self.vendors)]
        oids.extend(oid for oid, _ in vendor.refine)
        if vendor.entity_row1:
            oids.extend(ENTITY_ROW1.values())
        for v in related:
            for s in v.scalars.values():
                oids.extend(s.oids)
        return list(dict.fromkeys(oids))

    def identify(
        self,
        sys_object_id: Oid | None,
        sys_descr: str,
        scalars: Mapping[Oid, str],
        chassis: Mapping[str, str] | None = None,
    ) -> Identity:
        """The identity from the system group, the GET of `scalar_oids`, the chassis row.

        `scalars` holds the rendered text of each answered OID; `chassis` the labels
        (model, serial, software, descr) of the ENTITY-MIB chassis row when known.
        """
        vendor = self.vendor_of(sys_object_id)
        if vendor is not None:
            for oid, other in vendor.refine:
                if scalars.get(oid) and other in self.vendors:
                    vendor = self.vendors[other]
                    break
        ent = dict(chassis or {})
        if not any(ent.get(k) for k in ("model", "serial")):
            ent = {k: scalars.get(oid, "") for k, oid in ENTITY_ROW1.items()}
        values: dict[str, str] = {}
        for name in ("version", "model", "serial"):
            values[name] = self._field(vendor, name, sys_descr, scalars, ent)
        os_name = kind = ""
        if vendor is not None:
            os_name = next((r.value for r in vendor.os if r.matches(sys_object_id, sys_descr)), "")
            kind = next(
                (r.value for r in vendor.kinds if r.matches(sys_object_id, sys_descr)),
                vendor.kind,
            )
        return Identity(
            vendor.name if vendor else "",
            os_name,
            values["version"],
            values["model"],
            values["serial"],
            kind,
        )

    @staticmethod
    def _field(
        vendor: Vendor | None,
        name: str,
        sys_descr: str,
        scalars: Mapping[Oid, str],
        ent: Mapping[str, str],
    ) -> str:
        if vendor is not None and name in vendor.scalars:
            s = vendor.scalars[name]
            for oid in s.oids:
                got = s.extract.apply(scalars.get(oid, ""))
                if got:
                    return got
        entity_value = ent.get("software" if name == "version" else name, "")
        if entity_value.strip():
            return " ".join(entity_value.split())
        if vendor is not None and name in vendor.descr and sys_descr:
            return vendor.descr[name].apply(sys_descr)
        return ""


def chassis_of(samples: Iterable[Sample]) -> dict[str, str] | None:
    """The labels of the ENTITY-MIB chassis row among `monitord_inventory_info` samples."""
    best: tuple[int, Mapping[str, str]] | None = None
    for s in samples:
        if s.name != "monitord_inventory_info" or s.labels.get("class") != "chassis":
            continue
        idx = s.labels.get("entity_index", "")
        key = int(idx) if idx.isdigit() else 1 << 62
        if best is None or key < best[0]:
            best = (key, s.labels)
    return None if best is None else {k: best[1].get(k, "") for k in ENTITY_ROW1}


def device_info(
    target: str,
    sys_object_id: Oid | None,
    sys_descr: str,
    scalars: Mapping[Oid, str],
    samples: Iterable[Sample],
) -> Sample:
    """The `monitord_device_info` sample of a device (from the built-in vendor table)."""
    ident = load_vendors().identify(sys_object_id, sys_descr, scalars, chassis_of(samples))
    return Sample(DEVICE_INFO.name, {"target": target, **ident.labels()}, 1, SampleKind.INFO)


@functools.cache
def load_vendors() -> VendorTable:
    """The built-in table from `vendors.yaml` (parsed once)."""
    text = resources.files("collectors.snmp").joinpath("vendors.yaml").read_text(encoding="utf-8")
    return parse_vendors(parse_yaml(text, "collectors/snmp/vendors.yaml").data)


def parse_vendors(data: object) -> VendorTable:
    """Validate the vendors.yaml structure; raise ValueError naming the bad entry."""
    if not isinstance(data, Mapping):
        raise ValueError("vendors.yaml: expected a mapping")
    raw_ent = data.get("enterprises") or {}
    raw_vendors = data.get("vendors") or {}
    if not isinstance(raw_ent, Mapping) or not isinstance(raw_vendors, Mapping):
        raise ValueError("vendors.yaml: enterprises and vendors are mappings")
    vendors = {str(k): _vendor(str(k), v) for k, v in raw_vendors.items()}
    enterprises: dict[int, str] = {}
    for number, key in raw_ent.items():
        if str(key) not in vendors:
            raise ValueError(f"vendors.yaml: enterprises.{number}: unknown vendor {key!r}")
        enterprises[int(number)] = str(key)
    for v in vendors.values():
        for _, other in v.refine:
            if other not in vendors:
                raise ValueError(f"vendors.yaml: vendors.{v.key}.refine: unknown vendor {other!r}")
    return VendorTable(enterprises, vendors)


def _vendor(key: str, body: object) -> Vendor:
    where = f"vendors.yaml: vendors.{key}"
    if not isinstance(body, Mapping):
        raise ValueError(f"{where}: expected a mapping")
    unknown = set(body) - {
        "name",
        "kind",
        "kinds",
        "os",
        "descr",
        "scalars",
        "refine",
        "entity_row1",
    }
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    descr = {
        str(k): _extract(v, f"{where}.descr.{k}") for k, v in (body.get("descr") or {}).items()
    }
    scalars: dict[str, _Scalar] = {}
    for name, spec in (body.get("scalars") or {}).items():
        if not isinstance(spec, Mapping) or "oid" not in spec:
            raise ValueError(f"{where}.scalars.{name}: expected {{oid: ..., regex: ...}}")
        oids = spec["oid"] if isinstance(spec["oid"], list) else [spec["oid"]]
        scalars[str(name)] = _Scalar(
            tuple(parse_oid(str(o)) for o in oids), _extract(spec, f"{where}.scalars.{name}")
        )
    refine = tuple((parse_oid(str(r["oid"])), str(r["vendor"])) for r in (body.get("refine") or []))
    return Vendor(
        key,
        str(body.get("name", key)),
        str(body.get("kind", "")),
        _rules(body.get("kinds") or [], "kind", where),
        _rules(body.get("os") or [], "os", where),
        descr,
        scalars,
        refine,
        bool(body.get("entity_row1", False)),
    )


def _extract(spec: object, where: str) -> _Extract:
    if isinstance(spec, str):
        return _Extract(re.compile(spec))
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where}: expected a regex or {{regex, expand}}")
    regex = spec.get("regex")
    return _Extract(re.compile(str(regex)) if regex else None, str(spec.get("expand", "")))


def _rules(raw: Sequence[object], value_key: str, where: str) -> tuple[_Rule, ...]:
    out: list[_Rule] = []
    for i, r in enumerate(raw):
        if not isinstance(r, Mapping) or value_key not in r:
            raise ValueError(f"{where}.{value_key}[{i}]: expected {{{value_key}: ..., sys_descr}}")
        prefix = r.get("sys_object_id")
        descr = r.get("sys_descr")
        out.append(
            _Rule(
                str(r[value_key]),
                parse_oid(str(prefix)) if prefix else None,
                re.compile(str(descr)) if descr else None,
            )
        )
    return tuple(out)
