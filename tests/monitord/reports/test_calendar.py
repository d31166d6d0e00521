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


# -- one model: reports.maintenance takes the alerts' window syntax, and its own ----------


def test_reports_maintenance_keeps_its_syntax_and_empty_scope_means_every_target() -> None:
    """The `reports.maintenance` form of before the merge still loads: `description`, YAML
    datetimes or ISO strings, and no targets/sites/tags covering every target."""
    from datetime import datetime

    from monitord.reports.settings import ReportsConfig

    cfg = ReportsConfig.model_validate(
        {
            "maintenance": [
                {"start": datetime(2026, 10, 20, 0, 30), "end": "2026-10-20T02:30",
                 "description": "Cambio de UPS"},
                {"start": "2026-10-21 01:00", "end": "2026-10-21 02:00", "targets": ["sw-1"]},
            ]
        }
    )  # fmt: skip
    every, one = cfg.maintenance
    assert every.all_targets and every.description == "Cambio de UPS"
    assert every.bounds(TZ) == (at(20, 0, 30), at(20, 2, 30))
    assert every.applies("srv-9", "", ()) and every.applies("sw-1", "centro", ("wan",))
    assert not one.all_targets and one.applies("sw-1", "", ()) and not one.applies("sw-2", "", ())


def test_alerts_maintenance_refuses_an_empty_scope_but_takes_all_targets() -> None:
    from pydantic import ValidationError

    from monitord.alerts.config import AlertsConfig
    from monitord.types import Target, TargetKind

    with pytest.raises(ValidationError, match="needs targets, sites, tags or alertnames"):
        AlertsConfig.model_validate(
            {"maintenance": [{"start": "2026-10-20T00:30", "end": "2026-10-20T02:30"}]}
        )
    cfg = AlertsConfig.model_validate(
        {"maintenance": [{"all_targets": True, "start": "2026-10-20T00:30",
                          "end": "2026-10-20T02:30", "description": "Corte de energía"}]}
    )  # fmt: skip
    w = cfg.maintenance[0]
    anyone = Target("x", "127.0.0.9", TargetKind.SERVER, "")
    assert w.comment == "Corte de energía"
    assert w.active(anyone, "target_down", at(20, 1), "America/Bogota")
    assert not w.active(anyone, "target_down", at(20, 2, 30), "America/Bogota")


def test_a_weekly_window_in_reports_maintenance_is_excluded_like_the_alerts_one(
    ctx: ReportContext,
) -> None:
    """The same weekly window given in `reports.maintenance` (it mutes no alert) counts
    exactly as in test_reports_exclude_the_alerts_weekly_window: 2 h + 4 Sundays x 2 h."""
    weekly = AlertWindow(targets=["sw-1"], weekly={"days": ["sun"], "start": "01:00", "end": "03:00"})  # fmt: skip
    only_alert = AlertWindow(targets=["sw-1"], alertnames=["CpuHigh"], start="2026-10-25T00:00",
                             end="2026-10-26T00:00")  # fmt: skip
    cfg = ctx.config.model_copy(
        update={"maintenance": [*ctx.config.maintenance, weekly, only_alert]}
    )
    d = replace(ctx, config=cfg).availability.device("sw-1")
    assert d is not None
    assert d.maintenance == pytest.approx(10 * 3600)
    o25 = next(o for o in d.outages if o.start == at(25, 2))
    assert (o25.maintenance, o25.counted) == (3600.0, 1800.0)
