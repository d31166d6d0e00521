"""The servers and databases report against hand-computed figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitord.reports.common import ReportContext
from monitord.reports.model import Bytes, Msg, Num, Pct, Report, Table
from monitord.reports.servers import build_servers, server_kpis
from tests.contract.declared import declared_traits
from tests.monitord.reports.month import DB_END, DB_START, FS_SIZE, Month, nearest_rank


def _table(report: Report, tid: str) -> Table:
    found = [t for t in report.tables() if t.id == tid]
    assert len(found) == 1
    return found[0]


def test_server_availability_resources_and_services(ctx: ReportContext, month: Month) -> None:
    report = build_servers(ctx)
    av = _table(report, "server_availability").rows
    assert [r[0] for r in av] == ["srv-1"]
    assert av[0][2] == Pct(1.0, 3) and av[0][3] == Num(0) and av[0][5] == Num(0)
    res = _table(report, "server_resources").rows[0]
    cpu = month.cpu_values
    assert res[1].value == pytest.approx(sum(cpu) / len(cpu), rel=1e-9)  # type: ignore[union-attr]
    assert res[2].value == pytest.approx(nearest_rank(cpu, 0.95), abs=0.005 + 1e-9)  # type: ignore[union-attr]
    assert res[3].value == pytest.approx(max(cpu))  # type: ignore[union-attr]
    assert res[4].value == pytest.approx(0.5)  # type: ignore[union-attr]
    services = _table(report, "services").rows
    # the database is a service; monitord's own host collector is not
    assert [(r[1], r[2], r[3]) for r in services] == [
        (
            Msg("service_kind.database_name", {"collector": "postgres"}),
            Msg("service_kind.database"),
            Pct(1.0, 3),
        )
    ]


def test_filesystem_growth_and_days_to_full(ctx: ReportContext, month: Month) -> None:
    rows = _table(build_servers(ctx), "filesystems").rows
    assert [(r[0], r[1]) for r in rows] == [("srv-1", "/")]
    r = rows[0]
    growth = month.fs_last - month.fs_first
    rate = growth / (month.fs_last_ts - month.fs_first_ts)
    assert r[2] == Bytes(FS_SIZE) and r[3] == Bytes(pytest.approx(month.fs_last))  # type: ignore[arg-type]
    assert r[4].value == pytest.approx(month.fs_last / FS_SIZE)  # type: ignore[union-attr]
    assert r[5].value == pytest.approx(growth)  # type: ignore[union-attr]
    assert growth == pytest.approx(0.5e9 * (31 * 86400 - 300) / 86400)
    assert r[6].value == pytest.approx((FS_SIZE - month.fs_last) / rate / 86400)  # type: ignore[union-attr]
    assert server_kpis(ctx)["fs_under"] == 1 and server_kpis(ctx)["fs_total"] == 1


def test_database_size_start_end_growth(ctx: ReportContext, month: Month) -> None:
    rows = _table(build_servers(ctx), "database_sizes").rows
    assert [(r[0], r[1]) for r in rows] == [("srv-1", "app")]
    r = rows[0]
    assert month.db_first == DB_START and month.db_last == pytest.approx(DB_END, rel=1e-4)
    assert r[2] == Bytes(month.db_first) and r[3] == Bytes(pytest.approx(month.db_last))  # type: ignore[arg-type]
    assert r[4].value == pytest.approx(month.db_last - month.db_first)  # type: ignore[union-attr]
    assert r[5].value == pytest.approx((month.db_last - month.db_first) / month.db_first)  # type: ignore[union-attr]


def test_backups_say_no_data_rather_than_inventing(ctx: ReportContext) -> None:
    report = build_servers(ctx)
    sec = next(s for s in report.sections if s.id == "backups")
    assert sec.empty == Msg("empty.no_backups") and not sec.tables


def test_database_servers_engine_version_and_connections(ctx: ReportContext) -> None:
    """postgresql 15.4 from the info series; peak 37 of max 100 (8 + 29, by hand)."""
    from monitord.reports.model import Pct

    rows = {t.id: t for t in build_servers(ctx).tables()}["database_servers"].rows
    assert rows == [("srv-1", "postgresql", "15.4", Num(37.0), Num(100.0), Pct(0.37, 1))]


def test_no_projection_from_a_few_minutes_of_data(tmp_path: Path) -> None:
    """Six minutes of readings: no days-to-full (never "0 días" in green), and it says why."""
    from monitord.reports.servers import FsStat
    from monitord.reports.store import GaugeStat

    used = GaugeStat("s", "host", "fs_used", "/", 40e9, 0.0, 41e9, 360.0, 40e9, 41e9)
    f = FsStat(
        used, None, GaugeStat("s", "host", "fs_avail", "/", 60e9, 0.0, 59e9, 360.0, 59e9, 60e9)
    )
    assert f.days_to_full is None
    assert f.projection() == Msg("servers.projection_short", {"days": Num(360 / 86400, 1)})
    long = GaugeStat("s", "host", "fs_used", "/", 40e9, 0.0, 44e9, 8 * 86400.0, 40e9, 44e9)
    g = FsStat(
        long,
        None,
        GaugeStat("s", "host", "fs_avail", "/", 60e9, 0.0, 56e9, 8 * 86400.0, 56e9, 60e9),
    )
    assert g.days_to_full == pytest.approx(56e9 / (4e9 / 8))  # 112 days at 0.5 GB/day
    assert g.basis() == Msg(
        "servers.projection_basis", {"days": Num(8.0, 1), "rate": Bytes(pytest.approx(0.5e9))}
    )  # type: ignore[arg-type]


def test_critical_services_are_the_servers_units(tmp_path: Path) -> None:
    """The agent's systemd units with their availability (share of polls running)."""
    from monitord.history.db import History
    from monitord.reports.period import Period
    from monitord.reports.store import HistorySource
    from tests.monitord.reports.golden_security import build_security_month
    from tests.monitord.reports.month import P1, TZ

    sec = build_security_month(tmp_path / "h.db")
    h = History(sec.db)
    try:
        ctx = ReportContext(
            HistorySource(h), Period(2026, 10, TZ), generated=P1, collectors=declared_traits()
        )
        rows = _table(build_servers(ctx), "services").rows
    finally:
        h.close()
    units = {r[1]: r for r in rows if r[2] == Msg("service_kind.unit")}
    assert set(units) == {"nginx", "postgresql"}
    assert units["nginx"][3] == Pct(738 / 744, 3) and units["nginx"][6] == Num(744)
    assert units["postgresql"][3] == Pct(1.0, 3)
