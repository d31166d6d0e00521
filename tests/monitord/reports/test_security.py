"""Security report: "Sin datos" with the reason when no check ran; findings when they did."""

from __future__ import annotations

from pathlib import Path

from monitord.history import Finding, History
from monitord.reports.common import ReportContext
from monitord.reports.model import Msg, Num
from monitord.reports.period import Period
from monitord.reports.security import AREAS, build_security
from monitord.reports.store import HistorySource
from tests.monitord.reports.month import TZ, at


def test_no_checks_every_section_says_no_data_and_why(ctx: ReportContext) -> None:
    report = build_security(ctx)
    assert report.summary == (Msg("summary.security_no_checks"),)
    by_id = {s.id: s for s in report.sections}
    for area in AREAS:
        assert by_id[area].empty == Msg("empty.security_area", {"area": Msg(f"security.{area}")})
        assert not by_id[area].tables
    assert by_id["findings_summary"].empty == Msg("empty.security_not_run")


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
    report = build_security(ReportContext(HistorySource(h), octo))
    tables = {t.id: t for t in report.tables()}
    assert [r[0] for r in tables["findings_tls"].rows] == ["portal"]
    assert tables["findings_tls"].rows[0][8] == Msg("status.resolved")
    changes = {(r[0], r[3]) for r in tables["findings_changes"].rows}
    assert changes == {("portal", Msg("change.resolved")), ("sw-9", Msg("change.resolved"))}
    assert tables["findings_snmp"].rows == []
    assert tables["findings_snmp"].empty == Msg("empty.no_findings", {"runs": Num(1)})
    assert report.summary[0].key == "summary.security"
    assert report.summary[0].params["open"] == Num(0)
    h.close()
