"""Security report: "Sin datos" with the reason when no check ran; findings when they did."""

from __future__ import annotations

from pathlib import Path

from monitord.history.db import Finding, History
from monitord.reports.common import ReportContext
from monitord.reports.model import Msg, Num
from monitord.reports.period import Period
from monitord.reports.security import area_collector, build_security
from monitord.reports.store import HistorySource
from tests.contract.declared import declared_roles, declared_traits
from tests.monitord.reports.month import TZ, at


def test_no_checks_every_section_says_no_data_and_why(ctx: ReportContext) -> None:
    report = build_security(ctx)
    # the four targets of the month were monitored (icmp, snmp, host, postgres): none runs
    # a security check, and the summary says so without denying that they were monitored
    assert report.summary == (Msg("summary.security_no_checks", {"targets": Num(4)}),)
    by_id = {s.id: s for s in report.sections}
    # the collector whose polls run each section's checks, as the classes declare them
    # (`checks`, or CHECK_INPUT specs the history turns into checks)
    expected = {
        "tls": "http",
        "exposure": "tcp",
        "snmp": "snmp_hygiene",
        "auth": "agent",
        "updates": "agent",
        "backups": "agent",
        "unknown_devices": "discovery",
    }
    assert {a: area_collector(ctx, a) for a in expected} == expected
    for area, col in expected.items():
        assert by_id[area].empty == Msg(
            "empty.security_no_collector",
            {
                "area": Msg(f"security.{area}"),
                "checks": Msg(f"security.{area}_checks"),
                "collector": col,
            },
        )
        assert not by_id[area].tables  # never a table of zeros beside "Sin datos"
    assert by_id["findings_summary"].empty == Msg(
        "empty.security_none_ran", {"collectors": "host, icmp, postgres, snmp"}
    )
    assert not by_id["findings_summary"].tables


def test_findings_open_resolved_and_changes(tmp_path: Path) -> None:
    h = History(tmp_path / "h.db")
    sept, octo = Period(2026, 9, TZ), Period(2026, 10, TZ)
    tls = Finding(
        "tls.expiry", "portal", "high", "Certificados vigentes", "8.24", "vence en 10 días"
    )
    snmp = Finding("snmp.default_community", "sw-9", "critical", "SNMP v3", "8.20", "public")
    h.upsert_findings([tls, snmp], sept.start + 86400)
    h.upsert_findings([tls], at(2, 3))  # snmp fixed before October's first run
    h.upsert_findings([], at(20, 3), checks=["tls.expiry", "snmp.default_community"])
    report = build_security(ReportContext(HistorySource(h), octo, collectors=declared_traits()))
    tables = {t.id: t for t in report.tables()}
    assert [r[0] for r in tables["findings_tls"].rows] == ["portal"]
    assert tables["findings_tls"].rows[0][7] == Msg("status.resolved")
    # a check the catalogs do not know is shown with its recorded facts, not hidden
    assert tables["findings_tls"].rows[0][1] == Msg(
        "finding.other", {"check": "tls.expiry", "detail": "vence en 10 días"}
    )
    changes = {(r[0], r[3]) for r in tables["findings_changes"].rows}
    assert changes == {("portal", Msg("change.resolved")), ("sw-9", Msg("change.resolved"))}
    assert tables["findings_snmp"].rows == []
    assert tables["findings_snmp"].empty == Msg("empty.no_findings", {"runs": Num(1)})
    assert report.summary[0].key == "summary.security"
    assert report.summary[0].params["open"] == Num(0)
    h.close()


def test_agent_security_sections_from_recorded_month(tmp_path: Path) -> None:
    """A month of agent polls (hourly) through State, the recorder and the findings job."""
    from monitord.history import RollupRecorder
    from monitord.history.service import history_checks
    from monitord.reports.model import Dur, Ts
    from monitord.state import State
    from monitord.types import Sample, SampleKind, Target, TargetKind
    from tests.conftest import FakeClock
    from tests.monitord.reports.month import P0, P1

    srv = Target("srv-1", "127.0.0.4", TargetKind.SERVER, "centro")
    clock = FakeClock(mono=1000.0, wall=P0)
    state = State(clock, uptime_names=declared_roles().uptime)
    h = History(tmp_path / "h.db")
    rec = RollupRecorder(h, clock, TZ, roles=declared_roles())
    restart, k = 14 * 24, 0  # the agent restarts on 15 Oct 00:00: its counter starts again
    last_backup = P0 - 3600.0
    last_weekly = P0 - 3 * 86400.0  # a weekly copy (policy 8 days) on days 4, 11, 18, 25
    while clock.wall < P1:
        now = clock.wall
        d = int((now - P0) // 86400) + 1  # day of the month
        if d <= 28 and (now - P0) % 86400 == 2 * 3600:
            last_backup = now  # a copy at 02:00 every day until the 28th
        if d % 7 == 4 and (now - P0) % 86400 == 2 * 3600:
            last_weekly = now
        logins = 5 * (k if k < restart else k - restart)
        lb = {"target": "srv-1"}
        bk = {"target": "srv-1", "backup": "db-dump"}
        wk = {"target": "srv-1", "backup": "weekly"}
        samples = [
            Sample("monitord_host_failed_logins_total", lb, logins, SampleKind.COUNTER),
            Sample("monitord_host_pending_updates", lb, 3.0 if d < 20 else 0.0),
            Sample("monitord_host_firewall_enabled", lb, 0.0 if d >= 25 else 1.0),
            Sample("monitord_backup_newest_age_seconds", bk, now - last_backup),
            Sample("monitord_backup_files", bk, 7.0),
            # the weekly one carries its own policy: 3-6 days old is fine for it
            Sample("monitord_backup_newest_age_seconds", wk, now - last_weekly),
            Sample("monitord_backup_max_age_seconds", wk, 8 * 86400.0),
            Sample("monitord_backup_files", wk, 4.0),
        ]
        state.record(srv, "agent", samples, ok=True, interval=3600.0)
        rec.observe(state.group("srv-1", "agent"))  # type: ignore[arg-type]
        if k % 6 == 0:
            found, ran = history_checks(
                state.snapshot(), 26 * 3600.0, 1000.0, roles=declared_roles()
            )
            h.upsert_findings(found, now, ran)
        k += 1
        clock.advance(3600.0)
        if k % 24 == 0:
            rec.flush(clock.wall)
    rec.flush(P1, force=True)
    octo = Period(2026, 10, TZ)
    report = build_security(
        ReportContext(HistorySource(h), octo, generated=P1 + 3600, collectors=declared_traits())
    )
    tables = {t.id: t for t in report.tables()}
    # by hand: 5 per hour except the hour of the restart (the counter went back to 0)
    total = 5 * 335 + 5 * (743 - 336)
    assert tables["failed_logins"].rows == [("srv-1", Num(total), Num(total / 31, 1), Num(5))]
    assert tables["patch_status"].rows == [
        ("srv-1", Num(0.0), Num(3.0), Msg("words.no"), Ts(P1 - 3600))
    ]
    last_copy = P0 + 27 * 86400 + 2 * 3600  # 28 Oct 02:00
    last_weekly_copy = P0 + 24 * 86400 + 2 * 3600  # 25 Oct 02:00
    assert tables["backup_status"].rows == [
        ("srv-1", "db-dump", Ts(last_copy), Dur(P1 - last_copy), Msg("backup.overdue")),
        ("srv-1", "weekly", Ts(last_weekly_copy), Dur(P1 - last_weekly_copy), Msg("backup.ok")),
    ]
    upd = {(r[1].key, r[7]) for r in tables["findings_updates"].rows}
    assert upd == {
        ("finding.updates.pending", Msg("status.resolved")),
        ("finding.firewall.disabled", Msg("status.open")),
    }
    assert Msg("finding.updates.pending", {"pending": Num(3.0)}) in [
        r[1] for r in tables["findings_updates"].rows
    ]
    policies = {(r[1].key, r[3], r[4]) for r in tables["findings_updates"].rows}
    assert policies == {
        ("finding.updates.pending", Msg("policy_short.patching"), "8.8"),
        ("finding.firewall.disabled", Msg("policy_short.host_firewall"), "8.20"),
    }
    bks = [(r[1].key, r[7]) for r in tables["findings_backups"].rows]
    assert bks == [("finding.backup.stale", Msg("status.open"))]
    by_id = {s.id: s for s in report.sections}
    for area in ("tls", "exposure", "snmp", "unknown_devices"):
        assert by_id[area].empty is not None
        assert by_id[area].empty.key == "empty.security_no_collector"
    assert tables["failed_logins"].rows[0][1] == Num(3710)
    h.close()
