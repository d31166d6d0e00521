"""HTML rendering: self-contained, Spanish by default with es-CO numbers, English on request,
catalog complete in both languages, escaping of data."""

from __future__ import annotations

import re

import pytest

from exporters.reports.html import render_html
from exporters.reports.text import Formatter, load_catalog
from monitord.reports.common import ReportContext
from monitord.reports.job import build_report
from monitord.reports.model import Column, Meta, Msg, Report, Section, Table
from monitord.reports.settings import ALL_KINDS


def test_network_html_in_spanish_has_headings_and_colombian_numbers(ctx: ReportContext) -> None:
    html = render_html(build_report("network", ctx), "es")
    for heading in (
        "Reporte de monitoreo de red",
        "Resumen ejecutivo",
        "Disponibilidad por sede y por dispositivo",
        "Incidentes",
        "Latencia y pérdida de paquetes",
        "Canales de internet y enlaces WAN",
        "Observaciones y acciones de mejora",
        "Elaboró",
        "Revisó",
        "Aprobó",
        "Código",
        "Versión",
        "GTI-FO-07",
        "Alcaldía de Prueba",
    ):
        assert heading in html, heading
    assert "Periodo: 01/10/2026 a 31/10/2026 (America/Bogota)" in html
    assert "99,708\u00a0%" in html  # sw-1: (44640 - 120 - 130) / (44640 - 120)
    assert "03/10/2026 10:00:00" in html and "1\u00a0h 30\u00a0min" in html
    assert (
        "La disponibilidad global de la red fue 99,88\u00a0%, por encima de la meta de 99,50\u00a0%"
        in html
    )
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert html.count("<svg") >= 1


def test_english_rendering(ctx: ReportContext) -> None:
    html = render_html(build_report("network", ctx), "en")
    assert "Network monitoring report" in html and "Period: 2026-10-01 to 2026-10-31" in html
    assert "99.708%" in html and "Disponibilidad" not in html


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("lang", ["es", "en"])
def test_every_report_renders_in_both_languages(ctx: ReportContext, kind: str, lang: str) -> None:
    html = render_html(build_report(kind, ctx), lang)
    assert html.startswith("<!DOCTYPE html>") and "</html>" in html
    assert "{" not in re.sub(
        r"<style>.*?</style>", "", html, flags=re.S
    )  # no unfilled {placeholders}


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    es, en = load_catalog("es"), load_catalog("en")
    assert set(es.messages) == set(en.messages)
    for key in es.messages:
        assert es.fields(key) == en.fields(key), key


def test_data_is_escaped() -> None:
    rep = Report(
        kind="network",
        month="2026-10",
        period_start=0,
        period_end=86400,
        generated=0,
        tz="America/Bogota",
        meta=Meta("E&Co <b>", "p", "o", "c", "1"),
        intro=(),
        summary=(),
        sections=(
            Section(
                "x",
                "network.incidents",
                tables=(Table("incidents", (Column("device"),), [("<script>alert(1)</script>",)]),),
            ),
        ),
    )
    html = render_html(rep, "es")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "E&amp;Co &lt;b&gt;" in html


def test_formatter_units_and_durations() -> None:
    f = Formatter("es")
    from monitord.reports.model import BitRate, Bytes, Dur, Num, Pct

    nb = "\u00a0"  # a number and its unit or percent sign are never split across lines
    assert f.text(Pct(0.99623)) == f"99,62{nb}%"
    assert f.text(Num(1234567.891, 2)) == "1.234.567,89"
    assert f.text(Bytes(1.5e9)) == f"1,5{nb}GB" and f.text(BitRate(12.5e6)) == f"100,0{nb}Mb/s"
    assert f.text(Dur(5400)) == f"1{nb}h 30{nb}min" and f.text(Dur(90061)) == f"1{nb}d 1{nb}h"
    assert f.text(Num(5, unit="days")) == f"5{nb}días"
    # catalog sentences too ("# días" of a plural, a literal "30 días"), not "3 sedes"
    assert f.msg(Msg("servers.projection_short", {"days": Num(2)})) == (
        f"Sin proyección: 2{nb}días de datos (se requieren al menos 3)"
    )
    # the plural rules of each language, not "1 días" / "1 days"
    assert f.msg(Msg("intro.partial_none", {"polls": Num(1)})) == (
        "El único sondeo SNMP del periodo devolvió datos completos."
    )
    assert f.msg(Msg("intro.partial_none", {"polls": Num(1200)})) == (
        "Los 1.200 sondeos SNMP del periodo devolvieron datos completos."
    )
    assert f.msg(Msg("kpi.meta_hours", {"op": "≤", "value": Num(1, 1)})) == f"≤ 1,0{nb}hora"
    assert Formatter("en").msg(Msg("kpi.meta_hours", {"op": "≤", "value": Num(4, 1)})) == (
        f"≤ 4.0{nb}hours"
    )
    assert f.msg(Msg("servers.projection_short", {"days": Num(1)})) == (
        f"Sin proyección: 1{nb}día de datos (se requieren al menos 3)"
    )
    assert Formatter("en").msg(Msg("servers.projection_short", {"days": Num(1)})) == (
        f"No projection: 1{nb}day of data (at least 3 needed)"
    )
    assert Formatter("en").msg(Msg("servers.projection_short", {"days": Num(0.5, 1)})) == (
        f"No projection: 0.5{nb}days of data (at least 3 needed)"
    )
    assert (
        f.msg(Msg("summary.network.scope", {"devices": 2, "sites": 3, "coverage": Pct(1.0)}))
        == f"Se monitorearon 2 dispositivos en 3 sedes, con una cobertura de datos del 100,00{nb}%."
    )
    # a grouping space (a locale that groups with spaces: fr) never breaks a number either
    spaced = Formatter("es")
    spaced.locale = "fr_FR"
    assert spaced.text(Num(1300.43, 2)) == f"1{nb}300,43"
    # CSV: plain numbers; words and sentences with plain spaces, as before
    assert f.csv(Pct(0.99623)) == "99,623" and f.csv(Dur(5400)) == "90,00"
    assert f.csv(Msg("servers.projection_short", {"days": Num(2)})) == (
        "Sin proyección: 2 días de datos (se requieren al menos 3)"
    )
    assert Formatter("en").text(Pct(0.99623)) == "99.62%"
    assert f.msg(Msg("cause.parent", {"parent": "core"})) == "Afectado por core"
