"""One maintenance calendar: the alerts' windows (weekly, cron-like) and the silences are
excluded from availability in the reports, like `reports.maintenance`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from monitord.alerts.maintenance import MaintenanceWindow as AlertWindow
from monitord.alerts.maintenance import SilenceStore
from monitord.reports.calendar import planned, silences, with_calendar
from monitord.reports.common import ReportContext
from monitord.reports.period import Period
from tests.monitord.reports.month import TZ, at

OCT = Period(2026, 10, TZ)
SUNDAYS = (4, 11, 18, 25)  # 1 Oct 2026 is a Thursday


def test_weekly_cron_windows_and_silences_expand_into_the_month(tmp_path: Path) -> None:
    weekly = AlertWindow(targets=["sw-1"], weekly={"days": ["sun"], "start": "01:00", "end": "03:00"},
                         comment="Respaldo semanal")  # fmt: skip
    cron = AlertWindow(sites=["norte"], schedule="0 22 * * sat", duration=4 * 3600.0)
    only_alert = AlertWindow(alertnames=["CpuHigh"], weekly={"days": ["mon"], "start": "00:00", "end": "23:00"})  # fmt: skip
    store = SilenceStore(tmp_path / "silences.json")
    # (the store forgets silences that ended before a newer one starts: add the later first)
    store.add(starts_at=at(15, 10), ends_at=at(15, 12), alertnames=["CpuHigh"])  # one alert only
    store.add(
        starts_at=at(14, 10), ends_at=at(14, 12), tags=["wan"], comment="Cambio de router ISP"
    )
    got = planned([weekly, cron, only_alert], silences(tmp_path), OCT, "America/Bogota")
    bounds = [(w.bounds(TZ), w.description) for w in got]
    sundays = [((at(d, 1), at(d, 3)), "Respaldo semanal") for d in SUNDAYS]
    # Saturdays 3..31 at 22:00 for 4 h; the one of 30 Sep ends on 1 Oct 02:00 (overlaps)
    saturdays = [((at(d, 22), at(d, 22) + 4 * 3600), "") for d in (3, 10, 17, 24, 31)]
    assert [b for b in bounds if b[1] == "Respaldo semanal"] == sundays
    assert sorted(b for b in bounds if b[1] == "") == sorted(saturdays)
    assert [b for b in bounds if b[1] == "Cambio de router ISP"] == [
        ((at(14, 10), at(14, 12)), "Cambio de router ISP")
    ]
    assert len(got) == 4 + 5 + 1  # nothing from the alert-only window or silence


def test_reports_exclude_the_alerts_weekly_window(ctx: ReportContext, tmp_path: Path) -> None:
    """sw-1: the configured 2 h window (20 Oct) plus four Sundays 01:00-03:00 = 10 h. Its
    outage of 25 Oct 02:00-03:30 is half an hour outside the Sunday window."""
    weekly = AlertWindow(targets=["sw-1"], weekly={"days": ["sun"], "start": "01:00", "end": "03:00"})  # fmt: skip
    cfg = with_calendar(ctx.config, [weekly], [], OCT, "America/Bogota")
    av = replace(ctx, config=cfg).availability
    d = av.device("sw-1")
    assert d is not None
    assert d.maintenance == pytest.approx(10 * 3600)
    o25 = next(o for o in d.outages if o.start == at(25, 2))
    assert (o25.maintenance, o25.counted) == (3600.0, 1800.0)
