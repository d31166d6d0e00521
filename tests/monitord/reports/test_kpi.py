"""Indicators: this month's values, numerators and denominators, lights, 12-month trend."""

from __future__ import annotations

import pytest

from monitord.reports.common import ReportContext
from monitord.reports.kpi import build_kpi, measure
from monitord.reports.model import Light, LightColor, Msg, Num, Pct, Spark
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


def test_month_with_too_little_data_reads_insufficient_data_without_a_light(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    """A router polled every minute in three runs of the daemon: 27 Jul 00:00:17 - 30 Jul
    23:59:17 (4 days - 60 s of July's 31: 345 540 / 2 678 400 = 12,9 %: measured),
    30 Aug 00:00:17 - 31 Aug 23:59:17 (2 days - 60 s: 6,4 % of August: too little) and from
    30 Sep 23:59:17 to 31 Oct 23:59:17 (43 s of September: too little). The trend and the
    12-month history show August and September as "datos insuficientes" with no light,
    and the summary names them; months never monitored stay "sin datos"."""
    from monitord.reports.kpi import MIN_DATA_SHARE, data_share
    from monitord.reports.period import Period
    from monitord.reports.store import HistorySource
    from tests.contract.declared import declared_traits
    from tests.monitord.reports.month import TZ
    from tests.monitord.reports.test_availability import polled_history

    def ts(m: int, d: int, h: int, mi: int, s: int) -> float:
        from datetime import datetime

        return datetime(2026, m, d, h, mi, s, tzinfo=TZ).timestamp()

    runs = [
        (ts(7, 27, 0, 0, 17), ts(7, 30, 23, 59, 17)),
        (ts(8, 30, 0, 0, 17), ts(8, 31, 23, 59, 17)),
        (ts(9, 30, 23, 59, 17), ts(10, 31, 23, 59, 17)),
    ]
    h = polled_history(tmp_path, {"r": [("icmp", a, b, 60.0) for a, b in runs]}, runs)
    oct_ = ReportContext(HistorySource(h), Period(2026, 10, TZ), collectors=declared_traits())
    shares = [data_share(oct_.previous(k)) for k in (3, 2, 1, 0)]
    # October: to the last run's last flush, 31 Oct 23:59:17
    month = 2_678_400
    assert shares == pytest.approx(
        [345_540 / month, 172_740 / month, 43 / 2_592_000, (month - 43) / month], abs=1e-12
    )
    assert MIN_DATA_SHARE == 0.10
    report = build_kpi(oct_)
    sheet = next(s for s in report.sections if s.id == "sheets").subsections[0]
    trend = {r[0]: r[1:] for r in sheet.tables[1].rows}
    insufficient = (Msg("words.insufficient_data"), "—")
    assert trend["2026-06"] == (Msg("words.no_data"), Light(LightColor.NONE))
    assert trend["2026-07"] == (Pct(1.0), Light(LightColor.GREEN))
    assert trend["2026-08"] == insufficient and trend["2026-09"] == insufficient
    assert trend["2026-10"] == (Pct(1.0), Light(LightColor.GREEN))
    hist = next(t for t in report.tables() if t.id == "indicators_history")
    by_month = {r[2]: r[3] for r in hist.rows if r[0] == "IND-02"}
    assert by_month["2026-09"] == Msg("words.insufficient_data")
    assert by_month["2026-05"] == Msg("words.no_data")
    # the sparkline and the chart leave the scarce months out (July and October are 100)
    rows = {r[0]: r for r in next(t for t in report.tables() if t.id == "indicators").rows}
    spark = rows["IND-01"][5]
    assert isinstance(spark, Spark) and spark.values[8:] == (100.0, None, None, 100.0)
    assert sheet.charts[0].series[0][1][8:] == (100.0, None, None, 100.0)  # type: ignore[attr-defined]
    summary = next(s for s in report.sections if s.id == "kpi_summary")
    assert summary.paragraphs == (
        Msg("kpi.insufficient", {"months": "2026-08, 2026-09", "count": 2, "share": Num(10)}),
    )
    # September's own report: every indicator reads "datos insuficientes", no light
    sep = build_kpi(oct_.previous(1))
    sep_rows = next(t for t in sep.tables() if t.id == "indicators").rows
    assert {(r[2], r[4]) for r in sep_rows} == {insufficient}
    h.close()
