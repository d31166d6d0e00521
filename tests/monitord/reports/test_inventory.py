"""Inventory: records from snapshots in either shape, month changes, no secrets."""

from __future__ import annotations

from monitord.history.db import InventorySnapshot
from monitord.reports.common import ReportContext
from monitord.reports.inventory import build_inventory, changes, normalize
from monitord.reports.model import Msg, Num, Ts
from tests.monitord.reports.month import at


def test_normalize_reads_snmp_and_agent_names_and_drops_secrets() -> None:
    snmp = normalize(
        {
            "sysName": "rtr",
            "vendor": "Cisco",
            "entPhysicalSerialNum": "X1",
            "firmware": "17.6",
            "community": "public",
        }
    )
    assert snmp["hostname"] == "rtr" and snmp["manufacturer"] == "Cisco"
    assert snmp["serial"] == "X1" and snmp["os_version"] == "17.6"
    agent = normalize(
        {
            "hostname": "srv",
            "os": "Debian",
            "ram_bytes": 8e9,
            "password": "x",
            "disks": [{"name": "sda", "size_bytes": 5e11}],
            "software": [{"name": "nginx", "version": "1.22"}, "curl"],
        }
    )
    assert agent["ram"] == 8e9 and agent["disks"] == [("sda", 5e11)]
    assert agent["software"] == {"nginx": "1.22", "curl": ""}
    assert "password" not in agent and "community" not in snmp


def test_changes_between_snapshots() -> None:
    snaps = [
        InventorySnapshot(
            "s",
            1.0,
            {"os": "Debian", "os_version": "12.1", "software": [{"name": "a", "version": "1"}]},
        ),
        InventorySnapshot(
            "s",
            5.0,
            {
                "os": "Debian",
                "os_version": "12.2",
                "software": [{"name": "a", "version": "2"}, {"name": "b", "version": "1"}],
            },
        ),
    ]
    assert changes(snaps, 2.0) == [
        (5.0, "os", "os_version", "12.1", "12.2"),
        (5.0, "software_updated", "a", "1", "2"),
        (5.0, "software_added", "b", "", "1"),
    ]
    assert changes(snaps, 6.0) == []


def test_inventory_report_records_and_changes(ctx: ReportContext) -> None:
    report = build_inventory(ctx)
    reg = {r[0]: r for t in report.tables() if t.id == "asset_register" for r in t.rows}
    assert set(reg) == {"core-rtr", "sw-1", "sw-2", "srv-1"}
    assert reg["core-rtr"][4:7] == ("Cisco", "ISR4331", "FDO1234")
    assert reg["core-rtr"][10:12] == ("—", "17.6.1")
    assert reg["srv-1"][10] == "Debian GNU/Linux 12" and reg["srv-1"][15] == Num(2)
    # the CSV register carries MAC, disks and location
    assert reg["srv-1"][8] == "00:11:22:33:44:55"
    assert reg["srv-1"][14] == "sda 500 GB, sdb 2000 GB"
    ch = next(t for t in report.tables() if t.id == "inventory_changes").rows
    assert [(r[0], r[1], r[3], r[4], r[5]) for r in ch] == [
        ("core-rtr", Ts(at(15, 3)), Msg("fields.os_version"), "17.3.4", "17.6.1"),
        ("srv-1", Ts(at(22, 8)), "postgresql", "—", "15.4"),
    ]
    soft = next(t for t in report.tables() if t.id == "software_all")
    assert soft.csv_only and [r[1] for r in soft.rows] == ["nginx", "postgresql"]
    assert "hunter2" not in repr(report)


def test_hoja_de_vida_with_plate_location_and_incidents(ctx: ReportContext) -> None:
    """The plate number and location come from reports.assets; the device's own incidents
    of the month are in its record (sw-1: 10, 30, 60 in maintenance, 90 minutes)."""
    from dataclasses import replace

    from monitord.reports.model import Dur
    from monitord.reports.settings import Asset

    assets = {"sw-1": Asset(plate="INV-000123", location="Piso 3, rack A", responsible="TIC")}
    report = build_inventory(replace(ctx, config=ctx.config.model_copy(update={"assets": assets})))
    reg = {r[0]: r for t in report.tables() if t.id == "asset_register" for r in t.rows}
    assert reg["sw-1"][3] == "INV-000123" and reg["sw-1"][9] == "Piso 3, rack A"
    summary = next(t for t in report.tables() if t.id == "asset_summary").rows
    assert next(r for r in summary if r[0] == "sw-1")[3] == "INV-000123"
    rec = next(
        s for sec in report.sections if sec.id == "records" for s in sec.subsections
        if s.heading == "sw-1"
    )  # fmt: skip
    fields = {r[0].key: r[1] for r in rec.tables[0].rows}  # type: ignore[union-attr]
    assert fields["fields.plate"] == "INV-000123"
    assert fields["fields.location"] == "Piso 3, rack A"
    assert fields["fields.custodian"] == "TIC"
    inc = next(t for t in rec.tables if t.id == "record_incidents").rows
    assert [r[2] for r in inc] == [Dur(600), Dur(1800), Dur(3600), Dur(5400)]
    assert [r[4] for r in inc] == [
        Msg("words.no"),
        Msg("words.no"),
        Msg("words.yes"),
        Msg("words.no"),
    ]


def test_inventory_pdf_split_in_parts(ctx: ReportContext) -> None:
    """Hojas de vida split over PDF parts: the first with everything else, the next with
    records only; no record lost or repeated."""
    from monitord.reports.model import split_records

    report = build_inventory(ctx)
    parts = split_records(report, per_part=3)
    assert [p.part for p in parts] == [(1, 2), (2, 2)]
    heads = [
        s.heading for p in parts for sec in p.sections if sec.id == "records"
        for s in sec.subsections
    ]  # fmt: skip
    assert heads == ["core-rtr", "srv-1", "sw-1", "sw-2"]
    assert parts[0].summary and parts[0].intro and not parts[1].summary and not parts[1].intro
    assert split_records(report) == [report]  # 4 records fit in one file
