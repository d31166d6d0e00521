"""Availability arithmetic edge cases on small hand-made histories."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitord.history import Batch, PollAcc, write_batch
from monitord.history.db import History
from monitord.reports.availability import AvailabilityModel
from monitord.reports.period import Period
from monitord.reports.settings import MaintenanceWindow
from monitord.reports.store import HistorySource, TargetInfo
from monitord.state import Event, EventKind
from tests.monitord.reports.month import TZ, at

OCT = Period(2026, 10, TZ)
T = {"r": TargetInfo("r", "127.0.0.1", "router", "centro", None, False, ())}


def _history(tmp_path: Path, sessions: list[tuple[float, float]], events: list[Event]) -> History:
    h = History(tmp_path / "h.db")
    for a, b in sessions:
        batch = Batch()
        hour = int(a // 3600) * 3600
        while hour < b:
            batch.polls[(("r", "icmp", "poll", ""), hour)] = PollAcc(60, 60, 60.0)
            hour += 3600
        write_batch(h, batch, TZ, started=a, last=b)
    h.add_events(events)
    return h


def test_outage_is_cut_where_monitoring_stopped_and_gap_listed(tmp_path: Path) -> None:
    down = at(10, 12)
    stop, restart = at(10, 13), at(10, 15)
    h = _history(
        tmp_path,
        [(OCT.start, stop), (restart, OCT.end)],
        [Event(down, "r", "icmp", EventKind.DOWN, "timeout")],
    )
    av = AvailabilityModel(HistorySource(h), OCT, T)
    d = av.device("r")
    assert d is not None
    assert [(o.start, o.end, o.truncated) for o in d.outages] == [(down, stop, True)]
    assert av.gaps == [(stop, restart)]
    assert d.monitored == pytest.approx(OCT.seconds - 7200)
    assert d.ratio == pytest.approx(1 - 3600 / (OCT.seconds - 7200))
    h.close()


def test_outage_from_last_month_counts_from_the_first_instant(tmp_path: Path) -> None:
    before = OCT.start - 1800
    h = _history(
        tmp_path,
        [(OCT.start - 86400, OCT.end)],
        [
            Event(before, "r", "icmp", EventKind.DOWN),
            Event(at(1, 0, 45), "r", "icmp", EventKind.UP),
        ],
    )
    d = AvailabilityModel(HistorySource(h), OCT, T).device("r")
    assert d is not None and [(o.start, o.end) for o in d.outages] == [(OCT.start, at(1, 0, 45))]
    assert d.down == pytest.approx(45 * 60)
    h.close()


def test_outage_still_open_at_month_end_is_ongoing(tmp_path: Path) -> None:
    h = _history(
        tmp_path, [(OCT.start, OCT.end + 3600)], [Event(at(31, 23), "r", "icmp", EventKind.DOWN)]
    )
    d = AvailabilityModel(HistorySource(h), OCT, T).device("r")
    assert d is not None and [(o.end, o.ongoing) for o in d.outages] == [(OCT.end, True)]
    assert d.down == pytest.approx(3600)
    h.close()


def test_partial_maintenance_is_excluded_from_both_sides(tmp_path: Path) -> None:
    h = _history(
        tmp_path,
        [(OCT.start, OCT.end)],
        [
            Event(at(5, 1), "r", "icmp", EventKind.DOWN),
            Event(at(5, 3), "r", "icmp", EventKind.UP),
        ],
    )
    w = MaintenanceWindow(start=at_naive(5, 0), end=at_naive(5, 2), sites=["centro"])
    d = AvailabilityModel(HistorySource(h), OCT, T, [w]).device("r")
    assert d is not None
    assert d.maintenance == pytest.approx(7200)
    assert d.down == pytest.approx(3600)  # 02:00-03:00 only
    assert d.ratio == pytest.approx(1 - 3600 / (OCT.seconds - 7200))
    assert d.incidents == 1 and d.outages[0].maintenance == pytest.approx(3600)
    h.close()


def at_naive(day: int, hour: int):  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime(2026, 10, day, hour)


def test_completeness_and_last_seen_from_actual_poll_times(tmp_path: Path) -> None:
    """Seven polls every 60 s from 16:04:30 to 16:10:30, the daemon running from 16:04:00 to
    16:10:40: every scheduled poll was made, so coverage is 100 % (not 7/60 from the hour),
    monitoring began at 16:04:30 and the target was last seen at 16:10:30 (not 17:00)."""
    from monitord.history import RollupRecorder
    from monitord.reports.common import ReportContext, since
    from monitord.reports.model import Ts
    from monitord.state import State
    from monitord.types import Sample, Target, TargetKind
    from tests.conftest import FakeClock
    from tests.contract.declared import declared_roles, declared_traits

    first = at(10, 16, 4) + 30
    clock = FakeClock(mono=1000.0, wall=first)
    state = State(clock)
    h = History(tmp_path / "h.db")
    rec = RollupRecorder(h, clock, TZ, roles=declared_roles())
    tgt = Target("r", "127.0.0.1", TargetKind.ROUTER, "centro")
    for _ in range(7):
        state.record(tgt, "icmp", [Sample("monitord_icmp_rtt_seconds", {"target": "r"}, 0.001)],
                     ok=True, interval=60.0)  # fmt: skip
        rec.observe(state.group("r", "icmp"))  # type: ignore[arg-type]
        clock.advance(60.0)
    rec.flush(clock.wall, force=True)
    src = HistorySource(h)
    assert src.seen()["r"] == (first, first + 360)
    av = AvailabilityModel(src, OCT, T)
    d = av.device("r")
    assert d is not None
    assert (d.polls, d.expected, d.coverage) == (7, 7.0, 1.0)
    ctx = ReportContext(src, OCT, collectors=declared_traits())
    ctx.__dict__["availability"] = av
    assert since(ctx, d) == Ts(first, seconds=True)
    h.close()
