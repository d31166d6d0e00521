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


# --- when monitoring began: gaps, coverage and expected polls (issue 19) ---------------


def polled_history(
    tmp_path: Path,
    runs: dict[str, list[tuple[str, float, float, float]]],
    sessions: list[tuple[float, float]],
) -> History:
    """Routers polled by `collector` every `every` s from `first` to `last` (both made), as
    the recorder writes them (per hour: count, first and last poll time), and the daemon's
    runs (`sessions`: the recorder's start = its first poll, and its last flush)."""
    from collections import defaultdict

    from monitord.types import Target, TargetKind

    h = History(tmp_path / "p.db")
    batch = Batch()
    for name, spans in runs.items():
        batch.targets[name] = (Target(name, "127.0.0.1", TargetKind.ROUTER, "centro"), OCT.start)
        for collector, first, last, every in spans:
            by_hour: dict[int, list[float]] = defaultdict(list)
            for k in range(round((last - first) / every) + 1):
                ts = first + k * every
                by_hour[int(ts // 3600) * 3600].append(ts)
            for hour, ts_ in by_hour.items():
                acc = PollAcc(len(ts_), len(ts_), every, first_ts=ts_[0], last_ts=ts_[-1])
                key = ((name, collector, "poll", ""), hour)
                if key in batch.polls:
                    batch.polls[key].merge(acc)
                else:
                    batch.polls[key] = acc
    for i, (a, b) in enumerate(sessions):
        write_batch(h, batch if i == 0 else Batch(), TZ, started=a, last=b)
    return h


def _network(h: History):  # type: ignore[no-untyped-def]
    """The network report over `h` and its tables by id."""
    from monitord.reports.common import ReportContext
    from monitord.reports.network import build_network
    from tests.contract.declared import declared_traits

    report = build_network(ReportContext(HistorySource(h), OCT, collectors=declared_traits()))
    return report, {t.id: t for t in report.tables()}


def test_daemon_started_at_00_00_17_lists_no_gap_before_it(tmp_path: Path) -> None:
    """The daemon's first poll was 1 Oct 00:00:17: the 17 s before it are not an "interval
    without monitoring" (nothing was monitored yet), every device reads "todo el mes"
    and coverage is 100 %; each target is monitored from its first poll: 31 d - 17 s."""
    from monitord.reports.model import Msg, Pct

    first, last = OCT.start + 17, OCT.end - 43  # 31 Oct 23:59:17
    h = polled_history(
        tmp_path,
        {n: [("icmp", first, last, 60.0)] for n in ("r1", "r2", "r3", "r4")},
        [(first, OCT.end)],
    )
    av = AvailabilityModel(HistorySource(h), OCT, T)
    assert av.gaps == []
    assert (av.began(), av.gaps_of({"r1"}), av.coverage_of()) == (first, [], 1.0)
    d = av.device("r1")
    assert d is not None and d.monitored == 31 * 86400 - 17 and d.ratio == 1.0
    report, tables = _network(h)
    assert tables["gaps"].rows == []
    rows = tables["availability_by_device"].rows
    assert [r[6] for r in rows] == [Msg("words.whole_month")] * 4
    # 44 640 polls x 60 s = 2 678 400 s, the whole of October: both coverages 100 %
    assert [(r[7], r[8]) for r in rows] == [(Pct(1.0, 1), Pct(1.0, 1))] * 4
    completeness = next(s for s in report.intro if s.id == "completeness")
    assert completeness.paragraphs[0] == Msg("intro.coverage", {"coverage": Pct(1.0), "gaps": 0})
    assert not any(m.key == "intro.began" for m in completeness.paragraphs)
    h.close()


def test_monitored_since_mid_month_counts_gaps_and_coverage_from_then(tmp_path: Path) -> None:
    """Installed 10 Oct 16:04:30 (first poll); stopped 20 Oct 10:00:00 (last flush, last
    poll 09:59:30), restarted 12:00:30. The only gap is 20 Oct 10:00:00-12:00:30 (2 h 30 s);
    the 9 days before installation are no gap. Coverage from 10 Oct 16:04:30 to 1 Nov:
    21 d 7 h 55 min 30 s = 1 842 930 s, of which 7 230 without monitoring:
    1 835 700 / 1 842 930 = 0.996076899; the report says since when."""
    from monitord.reports.model import Dur, Msg, Num, Pct, Ts

    t0, stop, back = at(10, 16, 4) + 30, at(20, 10), at(20, 12) + 30
    h = polled_history(
        tmp_path,
        {"r": [("icmp", t0, stop - 30, 60.0), ("icmp", back, OCT.end - 30, 60.0)]},
        [(t0, stop), (back, OCT.end)],
    )
    av = AvailabilityModel(HistorySource(h), OCT, T)
    assert av.gaps == [(stop, back)]
    assert av.began() == t0
    assert av.coverage_of() == pytest.approx(1_835_700 / 1_842_930, abs=1e-12)
    d = av.device("r")
    assert d is not None and d.since == t0 and d.monitored == 1_835_700
    report, tables = _network(h)
    assert tables["gaps"].rows == [(Ts(stop, True), Ts(back, True), Dur(7230))]
    assert tables["availability_by_device"].rows[0][6] == Ts(t0, seconds=True)
    paragraphs = next(s for s in report.intro if s.id == "completeness").paragraphs
    # the month figure beside it: 1 835 700 s monitored of October's 2 678 400 s
    month = Pct(1_835_700 / 2_678_400)
    assert paragraphs[0] == Msg(
        "intro.coverage_since",
        {"coverage": Pct(1_835_700 / 1_842_930), "gaps": 1, "since": Ts(t0, True), "month": month},
    )
    assert Msg("intro.began", {"since": Ts(t0, True)}) in paragraphs
    scope = report.summary[-1]
    assert scope.key == "summary.network.scope_since"
    assert scope.params["coverage"] == Pct(1_835_700 / 1_842_930)
    assert (scope.params["since"], scope.params["month"]) == (Ts(t0, True), month)
    # per device, from the polls: 16:04:30 to 09:59:30 on the 20th every 60 s is
    # 842 100 / 60 + 1 = 14 036 polls; 12:00:30 to 31 Oct 23:59:30 is 993 540 / 60 + 1 =
    # 16 560; 30 596 polls of the 30 716 the span holds (ceil(1 842 930 / 60)) and of the
    # 44 640 October holds (2 678 400 / 60)
    row = tables["availability_by_device"].rows[0]
    assert (row[7], row[8]) == (Pct(30_596 / 30_716, 1), Pct(30_596 / 44_640, 1))
    assert tables["completeness"].rows == [
        ("icmp", Num(30_596), Num(30_716), Pct(30_596 / 30_716), Pct(30_596 / 44_640))
    ]
    h.close()


def test_installed_mid_month_without_gaps_reads_full_since_and_month_share(
    tmp_path: Path,
) -> None:
    """Installed 10 Oct 16:04:30, polled every 60 s without a gap to the month's end:
    1 842 930 s to 1 Nov, ceil(1 842 930 / 60) = 30 716 polls (the last 23:59:30), all
    made. Coverage since then 100 %; against the whole month 30 716 x 60 = 1 842 960 s of
    2 678 400 s = 68.81 % (one 30 s poll past the span counted), the daemon's time
    1 842 930 / 2 678 400 = 68.81 %; never 100 % in the month column."""
    from monitord.reports.model import Msg, Num, Pct, Ts

    t0 = at(10, 16, 4) + 30
    h = polled_history(tmp_path, {"r": [("icmp", t0, OCT.end - 30, 60.0)]}, [(t0, OCT.end)])
    av = AvailabilityModel(HistorySource(h), OCT, T)
    d = av.device("r")
    assert d is not None and (d.polls, d.expected, d.expected_month) == (30_716, 30_716, 44_640)
    assert d.coverage == 1.0
    assert d.coverage_month == pytest.approx(1_842_960 / 2_678_400, abs=1e-12)
    assert av.coverage_of() == 1.0
    assert av.coverage_month_of() == pytest.approx(1_842_930 / 2_678_400, abs=1e-12)
    report, tables = _network(h)
    row = tables["availability_by_device"].rows[0]
    assert (row[6], row[7]) == (Ts(t0, seconds=True), Pct(1.0, 1))
    assert row[8] == Pct(pytest.approx(1_842_960 / 2_678_400, abs=1e-12), 1)  # type: ignore[arg-type]
    assert tables["completeness"].rows == [
        ("icmp", Num(30_716), Num(30_716), Pct(1.0), Pct(30_716 / 44_640))
    ]
    paragraphs = next(s for s in report.intro if s.id == "completeness").paragraphs
    month = Pct(1_842_930 / 2_678_400)
    assert paragraphs[0] == Msg(
        "intro.coverage_since",
        {"coverage": Pct(1.0), "gaps": 0, "since": Ts(t0, True), "month": month},
    )
    scope = report.summary[-1]
    assert scope.key == "summary.network.scope_since"
    assert (scope.params["coverage"], scope.params["month"]) == (Pct(1.0), month)
    h.close()


def test_expected_polls_count_the_first_poll(tmp_path: Path) -> None:
    """Expected polls = the polls that fit in the monitored span, the first counted, so
    they never fall below the polls made (178 559 vs 178 560 before).

    - r1..r4, ICMP every 60 s from 1 Oct 00:00:17: polls at 00:00:17 + k x 60 before
      1 Nov 00:00, k = 0 .. 44 639 (the last 31 Oct 23:59:17): 44 640 each, 178 560.
    - s, SNMP every 300 s from 10 Oct 16:04:30: 1 Nov 00:00 is 1 842 930 s later, so
      k = 0 .. 6 143 (6 143 x 300 = 1 842 900: the last at 31 Oct 23:59:30): 6 144.
    - t, TCP hourly from 1 Oct 00:00:17, last 15 Oct 12:00:17 (removed): 14 d 12 h =
      348 h after the first, 349 polls.
    """
    from monitord.reports.model import Num, Pct

    first = OCT.start + 17
    runs = {n: [("icmp", first, OCT.end - 43, 60.0)] for n in ("r1", "r2", "r3", "r4")}
    runs["s"] = [("snmp", at(10, 16, 4) + 30, OCT.end - 30, 300.0)]
    runs["t"] = [("tcp", first, at(15, 12) + 17, 3600.0)]
    h = polled_history(tmp_path, runs, [(first, OCT.end)])
    av = AvailabilityModel(HistorySource(h), OCT, T)
    got = {n: (d.polls, d.expected) for n in runs if (d := av.device(n)) is not None}
    assert got == {
        "r1": (44_640, 44_640), "r2": (44_640, 44_640), "r3": (44_640, 44_640),
        "r4": (44_640, 44_640), "s": (6_144, 6_144), "t": (349, 349),
    }  # fmt: skip
    _, tables = _network(h)
    assert tables["completeness"].rows == [
        ("icmp", Num(178_560), Num(178_560), Pct(1.0), Pct(1.0)),
        # against the whole month: 6 144 of 2 678 400 / 300 = 8 928; 349 of 744 hours
        ("snmp", Num(6_144), Num(6_144), Pct(1.0), Pct(6_144 / 8_928)),
        ("tcp", Num(349), Num(349), Pct(1.0), Pct(349 / 744)),
    ]
    h.close()
