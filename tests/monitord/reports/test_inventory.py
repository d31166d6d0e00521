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
    assert reg["core-rtr"][4:9] == ("Cisco", "ISR4331", "FDO1234", "—", "17.6.1")
    assert reg["srv-1"][7] == "Debian GNU/Linux 12" and reg["srv-1"][11] == Num(2)
    ch = next(t for t in report.tables() if t.id == "inventory_changes").rows
    assert [(r[0], r[1], r[3], r[4], r[5]) for r in ch] == [
        ("core-rtr", Ts(at(15, 3)), Msg("fields.os_version"), "17.3.4", "17.6.1"),
        ("srv-1", Ts(at(22, 8)), "postgresql", "—", "15.4"),
    ]
    soft = next(t for t in report.tables() if t.id == "software_all")
    assert soft.csv_only and [r[1] for r in soft.rows] == ["nginx", "postgresql"]
    assert "hunter2" not in repr(report)
