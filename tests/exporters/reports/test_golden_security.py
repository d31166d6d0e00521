"""The security report of a golden month (a certificate 5 days from expiry, a forbidden
open port, failed logins, a stale backup): every figure against a hand computation, in
the view model, the HTML, the PDF text and the CSV; no word broken and nothing beyond
the right margin on any PDF page."""

from __future__ import annotations

import html as htmlmod
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporters.reports.csv import render_csv
from exporters.reports.html import render_html
from exporters.reports.pdf import render_pdf
from monitord.history.db import History
from monitord.reports.common import ReportContext
from monitord.reports.kpi import measure
from monitord.reports.model import Light, LightColor, Msg, Num, Report, Ts
from monitord.reports.period import Period
from monitord.reports.security import build_security
from monitord.reports.store import HistorySource
from tests.contract.declared import declared_traits
from tests.exporters.reports.layout import assert_layout
from tests.monitord.reports.golden_security import (
    BACKUP_LAST,
    CERT_NOT_AFTER,
    PORT_OPEN_FROM,
    SecMonth,
    build_security_month,
)
from tests.monitord.reports.month import P1, TZ


@pytest.fixture(scope="module")
def sec(tmp_path_factory: pytest.TempPathFactory) -> SecMonth:
    return build_security_month(tmp_path_factory.mktemp("sec") / "h.db")


@pytest.fixture(scope="module")
def report(sec: SecMonth) -> Iterator[Report]:
    h = History(sec.db)
    try:
        yield build_security(
            ReportContext(
                HistorySource(h),
                Period(2026, 10, TZ),
                generated=P1 + 6 * 3600,
                collectors=declared_traits(),
            )
        )
    finally:
        h.close()


@pytest.fixture(scope="module")
def pdf_path(report: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext (poppler-utils) is needed to read the PDF back")
    p = tmp_path_factory.mktemp("pdf") / "security.pdf"
    p.write_bytes(render_pdf(report, "es"))
    return p


def test_figures_by_hand(report: Report, sec: SecMonth) -> None:
    t = {x.id: x for x in report.tables()}
    # 4 open at the close: port 22 (high), stale backup (high), certificate < 7 days
    # (high), failed logins 48/day >= 20 (medium). The checks that ran are the agent's
    # (failed logins, stale and missing backup) and those that found something (port 22,
    # certificate expiry): 5, of which only "backup present" complies -> 1/5
    assert report.summary[0] == Msg(
        "summary.security",
        {"open": Num(4), "checks": Num(5), "compliant": report.summary[0].params["compliant"],
         "critical": Num(3)},
    )  # fmt: skip
    assert report.summary[0].params["compliant"].value == pytest.approx(1 / 5)  # type: ignore[union-attr]
    # certificate inventory: both certificates, days left at the close of the month
    certs = t["certificates"].rows
    assert [r[0] for r in certs] == ["micrositio", "portal"]
    portal = certs[1]
    assert portal[1:7] == (
        "CA Prueba", Ts(CERT_NOT_AFTER), Num(5.0, 1), "TLSv1.3", Msg("words.yes"), Msg("words.yes")
    )  # fmt: skip
    assert portal[7] == Light(LightColor.RED)  # fewer than 7 days left
    assert certs[0][3] == Num(200.0, 1) and certs[0][7] == Light(LightColor.GREEN)
    # one finding per certificate (not one per day): first seen at the first findings run
    # (every 6 h) with fewer than 30 days left: 7 Oct 06:00 (30 days before is 7 Oct 00:00)
    tls = t["findings_tls"].rows
    assert len(tls) == 1
    assert tls[0][1] == Msg(
        "finding.tls.cert_expiry",
        {"port": "443 (HTTPS)", "days": Num(5.0), "not_after": Ts(CERT_NOT_AFTER), "expired": "no"},
    )
    assert tls[0][5] == Ts(CERT_NOT_AFTER - 30 * 86400 + 6 * 3600)
    port = t["findings_exposure"].rows
    assert [(r[0], r[1], r[5], r[7]) for r in port] == [
        ("fw-1", Msg("finding.ports.must_be_closed", {"port": "22 (SSH)"}), Ts(PORT_OPEN_FROM),
         Msg("status.open")),
    ]  # fmt: skip
    # failed logins: 744 hourly readings, 743 increases of 2
    assert sec.logins == 1486
    assert t["failed_logins"].rows == [("srv-1", Num(1486), Num(1486 / 31, 1), Num(2))]
    # stale backup: last copy 20 Oct 02:00; last findings run 31 Oct 18:00 -> 280 h old
    bk = t["findings_backups"].rows
    assert bk[0][1] == Msg(
        "finding.backup.stale", {"backup": "db-dump", "age_hours": Num(280.0, 1)}
    )
    assert t["backup_status"].rows[0][2] == Ts(BACKUP_LAST)
    # IND-09: 1 of 2 certificates with more than 30 days left
    h = History(sec.db)
    try:
        ctx = ReportContext(
            HistorySource(h),
            Period(2026, 10, TZ),
            generated=P1 + 6 * 3600,
            collectors=declared_traits(),
        )
        m = measure(ctx)["IND-09"]
    finally:
        h.close()
    assert (m.value, m.numerator, m.denominator) == (0.5, 1, 2)


def test_spanish_sentences_in_html_pdf_and_csv(report: Report, pdf_path: Path) -> None:
    html = htmlmod.unescape(re.sub(r"<[^>]+>", " ", render_html(report, "es")))
    pdf = subprocess.run(["pdftotext", str(pdf_path), "-"], capture_output=True, text=True).stdout
    pdf_flat = " ".join(pdf.split())
    html_flat = " ".join(html.split())
    for text in (
        "Puerto 22 (SSH) abierto; la política exige que esté cerrado.",
        "El certificado del puerto 443 (HTTPS) vence el 06/11/2026 00:00, en 5 días.",
        "48 intentos fallidos de autenticación por día, por encima del umbral.",
        "La copia «db-dump» tiene 280,0 horas de antigüedad; está vencida según la política.",
        "Hay 4 hallazgos abiertos al cierre del mes (3 críticos o altos)",
    ):
        assert text in html_flat
        assert text in pdf_flat, text
    # no raw keys anywhere; the long policy text only in the annex
    for raw in ("port=", "state=", "ports.must_be", "tls.cert_expiry", "age_hours"):
        assert raw not in pdf and raw not in html
    policy = "Solo los servicios de red autorizados están expuestos"
    assert pdf_flat.count(policy) == 1 and html_flat.count(policy) == 1
    files = render_csv(report, "es")
    exp = next(v for k, v in files.items() if "exposici" in k)
    assert "Puerto 22 (SSH) abierto; la política exige que esté cerrado." in exp
    certs = next(v for k, v in files.items() if "certificados" in k)
    assert "portal;CA Prueba;06/11/2026 00:00;5,0;TLSv1.3;Sí;Sí;Rojo" in certs


def test_no_word_broken_and_nothing_beyond_the_margin(report: Report, pdf_path: Path) -> None:
    """Every word of every table cell appears whole in the PDF text; no word ends right of
    the page's right margin (an overflowing table)."""
    assert assert_layout(report, pdf_path) > 200


@pytest.mark.parametrize("kind", ["network", "servers", "security", "inventory", "kpi"])
def test_every_report_of_the_month_keeps_its_words_whole(
    kind: str, ctx: ReportContext, tmp_path: Path
) -> None:
    from monitord.reports.job import build_report

    report = build_report(kind, ctx)
    pdf = tmp_path / f"{kind}.pdf"
    pdf.write_bytes(render_pdf(report, "es"))
    assert assert_layout(report, pdf) > 20
