"""Inventario de hardware y software — hojas de vida (REPORTS.md §4): data → view model.

Inventory snapshots are stored as given (SNMP system/entity data, or the host agent's
`/inventory` JSON); this module reads the fields below under any of their usual
names, so both sources fill the same record. Software is a list of
`{"name": ..., "version": ...}`, disks a list of `{"name": ..., "size_bytes": ...}`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from monitord.history.db import InventorySnapshot
from monitord.reports.common import NETWORK_KINDS, SERVER_KINDS, ReportContext, assemble
from monitord.reports.model import Bytes, Column, Msg, Num, Report, Section, Table, Ts, Value

__all__ = ["FIELDS", "build_inventory", "changes", "changes_table", "normalize"]

# canonical field -> names it may have in a snapshot (first found wins)
FIELDS: Mapping[str, tuple[str, ...]] = {
    "hostname": ("hostname", "sys_name", "sysName", "name"),
    "manufacturer": ("manufacturer", "vendor", "sys_vendor"),
    "model": ("model", "product_name", "entPhysicalModelName"),
    "serial": ("serial", "serial_number", "entPhysicalSerialNum"),
    "os": ("os", "os_name", "system"),
    "os_version": ("os_version", "firmware", "firmware_version", "software_version", "version"),
    "cpu": ("cpu", "cpu_model", "processor"),
    "cpu_count": ("cpu_count", "cpus", "cores"),
    "ram": ("ram_bytes", "memory_bytes", "memory_total_bytes"),
    "ip": ("ip", "ips", "addresses"),
    "mac": ("mac", "macs", "mac_addresses"),
    "location": ("location", "sys_location", "sysLocation"),
    "description": ("description", "sys_descr", "sysDescr"),
}
HARDWARE = ("manufacturer", "model", "serial", "cpu", "cpu_count", "ram", "disks")
OS = ("os", "os_version")
_SECRET_WORDS = ("password", "secret", "community", "token", "licen", "key", "credential")


def normalize(data: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical fields of a snapshot; secrets-like keys are dropped, never shown."""
    out: dict[str, Any] = {}
    for canon, names in FIELDS.items():
        for n in names:
            if n in data and data[n] not in (None, "", []):
                out[canon] = data[n]
                break
    disks = data.get("disks") or []
    out["disks"] = [
        (str(d.get("name") or d.get("device") or "?"), _num(d.get("size_bytes") or d.get("size")))
        for d in disks
        if isinstance(d, Mapping)
    ]
    soft = data.get("software") or data.get("packages") or []
    items: dict[str, str] = {}
    for s in soft:
        if isinstance(s, Mapping) and s.get("name"):
            items[str(s["name"])] = str(s.get("version") or "")
        elif isinstance(s, str):
            items[s] = ""
    out["software"] = items
    return {k: v for k, v in out.items() if not any(w in k.lower() for w in _SECRET_WORDS)}


def changes(
    snaps: Sequence[InventorySnapshot], since: float
) -> list[tuple[float, str, str, str, str]]:
    """(ts, area, field, before, after) between consecutive snapshots taken at or after `since`."""
    out: list[tuple[float, str, str, str, str]] = []
    for prev, cur in itertools.pairwise(snaps):
        if cur.ts < since:
            continue
        a, b = normalize(prev.data), normalize(cur.data)
        for f in (*HARDWARE, *OS):
            if f in ("disks",):
                if a.get("disks") != b.get("disks"):
                    out.append((cur.ts, "hardware", f, _disks(a), _disks(b)))
                continue
            if a.get(f) != b.get(f):
                area = "os" if f in OS else "hardware"
                out.append((cur.ts, area, f, _text(a.get(f)), _text(b.get(f))))
        sa, sb = a["software"], b["software"]
        for name in sorted(set(sa) | set(sb)):
            if name not in sa:
                out.append((cur.ts, "software_added", name, "", sb[name]))
            elif name not in sb:
                out.append((cur.ts, "software_removed", name, sa[name], ""))
            elif sa[name] != sb[name]:
                out.append((cur.ts, "software_updated", name, sa[name], sb[name]))
    return out


def changes_table(ctx: ReportContext, names: set[str], kind: str) -> Table:
    """Changes recorded in the month for these targets (network report: OS/firmware only)."""
    inv = ctx.source.inventory(ctx.period.start, ctx.period.end)
    rows: list[Sequence[Value]] = []
    for target in sorted(names & set(inv)):
        for ts, area, field, before, after in changes(inv[target], ctx.period.start):
            if kind == "network" and area != "os":
                continue
            label: Value = Msg(f"fields.{field}") if field in FIELDS or field == "disks" else field
            rows.append((target, Ts(ts), Msg(f"areas.{area}"), label, before or "—", after or "—"))
    return Table(
        "inventory_changes" if kind != "network" else "firmware_changes",
        (
            Column("device"),
            Column("date"),
            Column("area"),
            Column("field"),
            Column("before"),
            Column("after"),
        ),
        rows,
        empty=Msg("empty.no_inventory_changes"),
    )


def build_inventory(ctx: ReportContext, software_max: int = 50) -> Report:
    """Build the inventory report: one record per device and server."""
    kinds = NETWORK_KINDS | SERVER_KINDS
    targets = [t for t in sorted(ctx.targets.values(), key=lambda t: t.name) if t.kind in kinds]
    inv = ctx.source.inventory(ctx.period.start, ctx.period.end)
    seen = ctx.availability.seen
    records: list[Section] = []
    register: list[Sequence[Value]] = []
    software_rows: list[Sequence[Value]] = []
    summary_rows: list[Sequence[Value]] = []
    for t in targets:
        snaps = inv.get(t.name, [])
        data = normalize(snaps[-1].data) if snaps else {}
        first, last = seen.get(t.name, (None, None))
        ident: list[tuple[str, Value]] = [
            ("kind", Msg(f"kinds.{t.kind}")),
            ("site", t.site or "—"),
            ("address", t.address),
        ]
        for f in FIELDS:
            if f in data:
                value: Value = Bytes(_num(data[f])) if f == "ram" else _text(data[f])
                ident.append((f, value))
        for name, size in data.get("disks", []):
            ident.append(("disks", Msg("inventory.disk", {"name": name, "size": Bytes(size)})))
        ident += [
            ("software_count", Num(len(data.get("software", {})))),
            ("first_seen", Ts(first)),
            ("last_seen", Ts(last)),
            ("snapshot", Ts(snaps[-1].ts) if snaps else Msg("empty.no_snapshot")),
        ]
        soft = sorted(data.get("software", {}).items())
        software_rows.extend((t.name, n, v or "—") for n, v in soft)
        month_changes = changes(snaps, ctx.period.start)
        tables = [
            Table(
                "record",
                (Column("field"), Column("value")),
                [(Msg(f"fields.{k}"), v) for k, v in ident],
                csv=False,
            )
        ]
        if soft:
            tables.append(
                Table(
                    "software",
                    (Column("software"), Column("version")),
                    [(n, v or "—") for n, v in soft[:software_max]],
                    total_rows=len(soft),
                    note=Msg("inventory.software_more", {"n": len(soft)})
                    if len(soft) > software_max
                    else None,
                    csv=False,
                )
            )
        tables.append(
            Table(
                "changes",
                (
                    Column("date"),
                    Column("area"),
                    Column("field"),
                    Column("before"),
                    Column("after"),
                ),
                [
                    (
                        Ts(ts),
                        Msg(f"areas.{a}"),
                        Msg(f"fields.{f}") if f in FIELDS or f == "disks" else f,
                        b or "—",
                        c or "—",
                    )
                    for ts, a, f, b, c in month_changes
                ],
                empty=Msg("empty.no_inventory_changes"),
                csv=False,
            )
        )
        records.append(
            Section(f"record-{t.name}", "inventory.record", heading=t.name, tables=tuple(tables))
        )
        # The asset register and the summary both begin with these columns.
        identity = (
            t.name,
            Msg(f"kinds.{t.kind}"),
            t.site or "—",
            t.address,
            _text(data.get("manufacturer")),
            _text(data.get("model")),
            _text(data.get("serial")),
        )
        register.append(
            (
                *identity,
                _text(data.get("os")),
                _text(data.get("os_version")),
                _text(data.get("cpu")),
                Bytes(_num(data.get("ram"))),
                Num(len(data.get("software", {}))),
                Ts(first),
                Ts(last),
                Num(len(month_changes)),
            )
        )
        os_text = (
            " ".join(x for x in (_text(data.get("os")), _text(data.get("os_version"))) if x != "—")
            or "—"
        )
        summary_rows.append(
            (
                *identity,
                os_text,
                Num(len(month_changes)),
            )
        )
    summary = (
        Msg(
            "summary.inventory",
            {
                "devices": Num(len(targets)),
                "with_data": Num(sum(1 for t in targets if inv.get(t.name))),
            },
        ),
    )
    identity_cols = tuple(
        Column(name)
        for name in ("device", "kind", "site", "address", "manufacturer", "model", "serial")
    )
    reg_cols = (
        *identity_cols,
        Column("os"),
        Column("os_version"),
        Column("cpu"),
        Column("ram", "right"),
        Column("software_count", "right"),
        Column("first_seen"),
        Column("last_seen"),
        Column("changes", "right"),
    )
    sections = (
        Section(
            "register",
            "inventory.register",
            (Msg("inventory.register_intro"),),
            (
                Table(
                    "asset_summary",
                    (
                        *identity_cols,
                        Column("os", width=2.0),
                        Column("changes", "right"),
                    ),
                    summary_rows,
                    empty=Msg("empty.no_devices"),
                    csv=False,
                ),
                Table("asset_register", reg_cols, register, csv_only=True),
            ),
        ),
        Section(
            "records",
            "inventory.records",
            subsections=tuple(records),
            empty=None if records else Msg("empty.no_devices"),
        ),
        Section(
            "changes",
            "inventory.changes",
            tables=(changes_table(ctx, {t.name for t in targets}, "inventory"),),
        ),
    )
    annex = Section(
        "software_annex",
        "inventory.software_annex",
        (Msg("inventory.software_annex_intro"),),
        (
            Table(
                "software_all",
                (Column("device"), Column("software"), Column("version")),
                software_rows,
                empty=Msg("empty.no_software"),
                csv_only=True,
            ),
        ),
    )
    return assemble(ctx, "inventory", summary, sections, (annex,), scope_targets=targets)


def _text(v: Any) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v)
    return str(v)


def _num(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _disks(d: Mapping[str, Any]) -> str:
    return ", ".join(f"{n} {int(s or 0)}" for n, s in d.get("disks", []))
