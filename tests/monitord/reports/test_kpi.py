"""Indicators: this month's values, numerators and denominators, lights, 12-month trend."""

from __future__ import annotations

import pytest

from monitord.reports.common import ReportContext
from monitord.reports.kpi import build_kpi, measure
from monitord.reports.model import Light, LightColor, Msg, Spark
from tests.monitord.reports.month import MIN

PERIOD = 31 * 86400


def test_indicator_values_by_hand(ctx: ReportContext) -> None:
    m = measure(ctx)
    sw1 = (PERIOD - 7200 - 130 * MIN) / (PERIOD - 7200)
    rtr, sw2 = (PERIOD - 20 * MIN) / PERIOD, (PERIOD - 15 * MIN) / PERIOD
    assert m["IND-01"].value == pytest.approx((sw1 + rtr + sw2) / 3, abs=1e-6)
    assert m["IND-01"].denominator == 3
    assert m["IND-02"].value == pytest.approx(1.0) and m["IND-02"].denominator == 1
    assert m["IND-03"].value is None  # no web checks: no data, not 100 %
    assert m["IND-04"].value == 4
    assert m["IND-05"].value == pytest.approx(150 * MIN / 4 / 3600)
    up = (PERIOD - 7200 - 130 * MIN) + (PERIOD - 20 * MIN) + (PERIOD - 15 * MIN) + PERIOD
    assert m["IND-06"].value == pytest.approx(up / 4 / 3600)
    assert m["IND-07"].value is None and m["IND-09"].value is None and m["IND-10"].value is None
    assert m["IND-08"].value == 1.0 and (m["IND-08"].numerator, m["IND-08"].denominator) == (1, 1)


def test_kpi_report_summary_lights_and_trend(ctx: ReportContext) -> None:
    report = build_kpi(ctx)
    summary = next(t for t in report.tables() if t.id == "indicators")
    rows = {r[0]: r for r in summary.rows}
    assert len(rows) == 10
    assert rows["IND-01"][4] == Light(LightColor.GREEN)
    assert rows["IND-05"][4] == Light(LightColor.GREEN)  # 0.625 h <= 4 h
    assert rows["IND-07"][2] == Msg("words.no_data") and rows["IND-07"][4] == Light(LightColor.NONE)
    spark = rows["IND-01"][5]
    assert isinstance(spark, Spark) and len(spark.values) == 12
    assert spark.values[:11] == (None,) * 11 and spark.values[11] == pytest.approx(99.876, abs=1e-3)
    hist = next(t for t in report.tables() if t.id == "indicators_history")
    assert hist.csv_only and len(hist.rows) == 120
    assert next(r[2] for r in hist.rows[:12]) == "2025-11"


def test_fixed_baseline_responsible_formula_and_status_coloured_sparkline(
    ctx: ReportContext,
) -> None:
    """The baseline comes from the config (it never moves with the data), with the person
    responsible and the formula; the sparkline's dot follows the status; the trend chart of
    a 99.9 % indicator has its own axis (not 0-100)."""
    from dataclasses import replace

    from monitord.reports.model import Pct
    from monitord.reports.settings import IndicatorSettings

    own = IndicatorSettings(
        baseline=99.2, baseline_period="2025", responsible="Profesional de redes",
        formula="Promedio de disponibilidad de los equipos de red",
    )  # fmt: skip
    cfg = ctx.config.model_copy(update={"indicators": {"IND-01": own}})
    report = build_kpi(replace(ctx, config=cfg))
    sheet = next(s for s in report.sections if s.id == "sheets").subsections[0]
    fields = {r[0].key: r[1] for r in sheet.tables[0].rows}  # type: ignore[union-attr]
    assert fields["kpi.fields.baseline"] == Msg(
        "kpi.baseline_of", {"value": Pct(0.992), "period": "2025"}
    )
    assert fields["kpi.fields.responsible"] == "Profesional de redes"
    assert fields["kpi.fields.formula"] == "Promedio de disponibilidad de los equipos de red"
    rows = {r[0]: r for r in next(t for t in report.tables() if t.id == "indicators").rows}
    assert rows["IND-01"][5].color is LightColor.GREEN  # type: ignore[union-attr]
    chart = sheet.charts[0]
    assert chart.low is not None and 99.0 <= chart.low < 99.5  # values 99.88, meta 99.5
    other = next(s for s in report.sections if s.id == "sheets").subsections[1]
    other_fields = {r[0].key: r[1] for r in other.tables[0].rows}  # type: ignore[union-attr]
    assert other_fields["kpi.fields.baseline"] == Msg("kpi.no_baseline")
