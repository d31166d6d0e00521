"""RollupRecorder: histograms, counters to bytes, WAN slots, windows, flush and crash safety."""

from __future__ import annotations

import math
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from monitord.errors import HistoryError
from monitord.history import (
    HistKind,
    RollupRecorder,
    bucket_of,
    bucket_value,
    day_key,
    quantile,
)
from monitord.history.db import History
from monitord.state import State
from monitord.types import Sample, SampleKind, Target
from tests.conftest import REPO, FakeClock
from tests.contract.declared import declared_roles

TZ = "America/Bogota"
T0 = datetime.fromisoformat("2026-10-05T00:00:00-05:00").timestamp()


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (0.00042, HistKind.LOG),
        (0.0123, HistKind.LOG),
        (1.7, HistKind.LOG),
        (0.0, HistKind.LINEAR),
        (0.374, HistKind.LINEAR),
        (1.0, HistKind.LINEAR),
    ],
    ids=["rtt-sub-ms", "rtt-12ms", "rtt-1.7s", "ratio-zero", "ratio-0.374", "ratio-one"],
)
def test_bucket_value_is_within_documented_precision(value: float, kind: HistKind) -> None:
    rep = bucket_value(bucket_of(value, kind), kind)
    if kind is HistKind.LOG:
        assert abs(rep - value) / value <= 0.01
    else:
        assert abs(rep - value) <= 0.005 + 1e-12


def test_quantile_nearest_rank_on_histogram() -> None:
    values = [0.001 * (i + 1) for i in range(200)]  # 1..200 ms
    hist: dict[int, int] = {}
    for v in values:
        b = bucket_of(v, HistKind.LOG)
        hist[b] = hist.get(b, 0) + 1
    q = quantile(hist, 0.95, HistKind.LOG, min(values), max(values))
    assert q == pytest.approx(0.190, rel=0.01)  # rank ceil(0.95*200)=190 -> 190 ms
    assert quantile({}, 0.95, HistKind.LOG) is None
    assert quantile(hist, 1.0, HistKind.LOG, hi=0.2) == pytest.approx(0.2, rel=0.01)


def test_day_key_uses_local_calendar_day() -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(TZ)
    assert day_key(T0 - 1, tz) == 20261004 and day_key(T0, tz) == 20261005
    assert day_key(T0 + 86400 - 1, tz) == 20261005  # 23:59:59 Bogota is 04:59:59 UTC next day


def _poll(
    state: State,
    rec: RollupRecorder,
    t: Target,
    samples: list[Sample],
    ok: bool = True,
    collector: str = "snmp",
    interval: float = 60.0,
) -> None:
    state.record(t, collector, samples, ok=ok, interval=interval)
    view = state.group(t.name, collector)
    assert view is not None
    rec.observe(view)


def _if(
    name: str,
    v: float,
    ifname: str = "ge0",
    kind: SampleKind = SampleKind.COUNTER,
    target: str = "r1",
    **extra: str,
) -> Sample:
    return Sample(
        name,
        {"target": target, "ifname": ifname, "ifindex": "1", **extra},
        v,
        kind,
        bits=64 if kind is SampleKind.COUNTER else 0,
    )


def test_interface_bytes_peaks_busy_and_flaps(tmp_path: Path) -> None:
    clock = FakeClock(wall=T0)
    h = History(tmp_path / "h.db")
    state, rec = (
        State(clock, uptime_names=declared_roles().uptime),
        RollupRecorder(h, clock, TZ, roles=declared_roles()),
    )
    t = Target("r1", "127.0.0.1")
    counter, rates = 0, [1000.0, 1000.0, 9000.0, 1000.0]  # bytes/s per interval
    opers = [1, 1, 0, 1, 1]
    for i in range(5):
        if i:
            counter += int(rates[i - 1] * 60)
        _poll(
            state,
            rec,
            t,
            [
                _if("monitord_interface_in_bytes_total", counter),
                _if("monitord_interface_speed_bytes", 10000.0, kind=SampleKind.GAUGE),
                _if("monitord_interface_oper_up", opers[i], kind=SampleKind.GAUGE),
            ],
        )
        clock.advance(60)
    assert rec.flush(force=True) > 0
    row = h.query(
        "SELECT secs, in_bytes, in_peak, busy_secs, oper_secs, up_secs, oper_changes,"
        " speed FROM iface_day"
    )
    assert row == [(240.0, 12000 * 60.0, 9000.0, 60.0, 240.0, 180.0, 2, 10000.0)]
    assert h.query("SELECT COUNT(*) FROM rate_5m") == [(0,)]  # not a WAN interface
    h.close()


def test_wan_by_alias_tag_or_list_gets_5_minute_slots(tmp_path: Path) -> None:
    clock = FakeClock(wall=T0)
    h = History(tmp_path / "h.db")
    state = State(clock, uptime_names=declared_roles().uptime)
    rec = RollupRecorder(h, clock, TZ, wan_interfaces=["r3:xe1"], roles=declared_roles())
    targets = [
        Target("r1", "127.0.0.1"),
        Target("r2", "127.0.0.1", tags=("internet",)),
        Target("r3", "127.0.0.1"),
    ]
    for i in range(11):
        for t in targets:
            _poll(
                state,
                rec,
                t,
                [
                    _if("monitord_interface_in_bytes_total", i * 6000, "xe1", target=t.name),
                    _if(
                        "monitord_interface_info",
                        1,
                        "xe1",
                        SampleKind.INFO,
                        target=t.name,
                        ifalias="Canal ISP Claro" if t.name == "r1" else "oficina",
                    ),
                    _if("monitord_interface_in_bytes_total", i * 6000, "xe2", target=t.name),
                ],
            )
        clock.advance(60)
    rec.flush(force=True)
    wan = h.query(
        "SELECT s.target, s.object, SUM(r.secs), SUM(r.in_bytes) FROM rate_5m r "
        "JOIN series s ON s.id = r.sid GROUP BY s.id ORDER BY 1, 2"
    )
    assert wan == [
        ("r1", "xe1", 600.0, 60000.0),
        ("r2", "xe1", 600.0, 60000.0),
        ("r2", "xe2", 600.0, 60000.0),
        ("r3", "xe1", 600.0, 60000.0),
    ]
    slots = h.query(
        "SELECT slot, secs FROM rate_5m r JOIN series s ON s.id = r.sid "
        "WHERE s.target = 'r1' ORDER BY slot"
    )
    assert [s for s, _ in slots] == [T0, T0 + 300, T0 + 600]
    assert [x for _, x in slots] == [240.0, 300.0, 60.0]
    h.close()


def test_polls_per_hour_restarts_and_dists(tmp_path: Path) -> None:
    clock = FakeClock(wall=T0 + 3600 - 120)
    h = History(tmp_path / "h.db")
    state, rec = (
        State(clock, uptime_names=declared_roles().uptime),
        RollupRecorder(h, clock, TZ, roles=declared_roles()),
    )
    t = Target("s1", "127.0.0.1")
    uptimes = [100.0, 160.0, 5.0, 65.0]  # restart between the 2nd and 3rd poll
    for i, up in enumerate(uptimes):
        ok = i != 1
        _poll(
            state,
            rec,
            t,
            [
                Sample("monitord_host_uptime_seconds", {"target": "s1"}, up),
                Sample("monitord_host_cpu_utilization_ratio", {"target": "s1"}, 0.1 * (i + 1)),
                Sample("monitord_host_memory_used_bytes", {"target": "s1"}, 2e9),
                Sample("monitord_host_memory_total_bytes", {"target": "s1"}, 8e9),
            ]
            if ok
            else [],
            ok=ok,
            collector="agent",
        )
        clock.advance(60)
    rec.flush(force=True)
    rows = h.query("SELECT hour, polls, ok, restarts, uptime FROM poll_hour ORDER BY hour")
    assert rows == [(T0, 2, 1, 0, 100.0), (T0 + 3600, 2, 2, 1, 65.0)]
    cpu = h.query(
        "SELECT n, sum, max FROM dist_day d JOIN series s ON s.id = d.sid WHERE s.kind = 'cpu'"
    )
    assert cpu == [(3, pytest.approx(0.1 + 0.3 + 0.4), 0.4)]
    mem = h.query(
        "SELECT n, min, max FROM dist_day d JOIN series s ON s.id = d.sid WHERE s.kind = 'mem'"
    )
    assert mem == [(3, 0.25, 0.25)]
    h.close()


def test_flush_writes_closed_windows_only_unless_forced(tmp_path: Path) -> None:
    clock = FakeClock(wall=T0 + 30)
    h = History(tmp_path / "h.db")
    state, rec = (
        State(clock, uptime_names=declared_roles().uptime),
        RollupRecorder(h, clock, TZ, window=60, roles=declared_roles()),
    )
    t = Target("p1", "127.0.0.1")
    _poll(
        state,
        rec,
        t,
        [Sample("monitord_icmp_rtt_seconds", {"target": "p1"}, 0.002)],
        collector="icmp",
    )
    clock.advance(60)
    _poll(
        state,
        rec,
        t,
        [Sample("monitord_icmp_rtt_seconds", {"target": "p1"}, 0.004)],
        collector="icmp",
    )
    assert rec.pending_windows() == 2
    rec.flush(now=T0 + 60)  # only the first window [T0, T0+60) has closed
    assert h.query("SELECT polls FROM poll_hour") == [(1,)]
    assert rec.pending_windows() == 1
    rec.flush(now=T0 + 90)
    assert h.query("SELECT polls FROM poll_hour") == [(1,)]
    rec.flush(force=True)
    assert h.query("SELECT polls FROM poll_hour") == [(2,)]
    assert h.query("SELECT n, min, max FROM dist_day") == [(2, 0.002, 0.004)]
    assert h.query("SELECT started, clean FROM sessions") == [(T0 + 30, 1)]
    h.close()


def test_a_second_recorder_merges_into_the_same_rows(tmp_path: Path) -> None:
    clock = FakeClock(wall=T0)
    t = Target("p1", "127.0.0.1")
    for run in range(2):
        h = History(tmp_path / "h.db")
        state, rec = (
            State(clock, uptime_names=declared_roles().uptime),
            RollupRecorder(h, clock, TZ, roles=declared_roles()),
        )
        for _ in range(3):
            _poll(
                state,
                rec,
                t,
                [
                    Sample("monitord_icmp_rtt_seconds", {"target": "p1"}, 0.001 * (run + 1)),
                    Sample(
                        "monitord_host_filesystem_used_bytes",
                        {"target": "p1", "mountpoint": "/"},
                        1000.0 * (run + 1) + clock.wall - T0,
                    ),
                ],
                collector="icmp",
            )
            clock.advance(60)
        rec.flush(force=True)
        h.close()
    h = History(tmp_path / "h.db")
    assert h.query("SELECT polls FROM poll_hour") == [(6,)]
    assert h.query("SELECT n, min, max FROM dist_day") == [(6, 0.001, 0.002)]
    assert h.query("SELECT first, last, min, max FROM gauge_day") == [
        (1000.0, 2300.0, 1000.0, 2300.0)
    ]
    assert len(h.query("SELECT * FROM sessions")) == 2
    h.close()


def test_failed_write_keeps_windows_pending(tmp_path: Path) -> None:
    clock = FakeClock(wall=T0)
    h = History(tmp_path / "h.db")
    state, rec = (
        State(clock, uptime_names=declared_roles().uptime),
        RollupRecorder(h, clock, TZ, roles=declared_roles()),
    )
    _poll(
        state,
        rec,
        Target("p1", "127.0.0.1"),
        [Sample("monitord_icmp_rtt_seconds", {"target": "p1"}, 0.002)],
        collector="icmp",
    )
    h._db.execute("DROP TABLE poll_hour")  # the next write fails inside its transaction
    with pytest.raises(HistoryError):
        rec.flush(force=True)
    assert rec.pending_windows() == 1
    assert h.query("SELECT COUNT(*) FROM dist_day") == [(0,)]  # rolled back as a whole
    h.close()


_WRITER = r"""
import sys, time
from monitord.history.db import History
from monitord.history import RollupRecorder
from monitord.state import State
from monitord.types import Sample, SampleKind, Target
from collectors.snmp.interfaces import METRICS
from monitord.contract import RoleIndex

class Clock:
    def __init__(self, wall): self.wall, self.mono = wall, 1000.0
    def time(self): return self.wall
    def monotonic(self): return self.mono

db, t0 = sys.argv[1], float(sys.argv[2])
h = History(db)
last = h.query("SELECT MAX(last) FROM sessions")[0][0]
clock = Clock(t0 if last is None else (last // 60) * 60 + 60)
state, rec = State(clock), RollupRecorder(h, clock, "America/Bogota", roles=RoleIndex.of(METRICS))
targets = [Target(f"sw-{i}", "127.0.0.1") for i in range(60)]
step, counter = 0, 0
while True:
    counter += 6000
    for t in targets:
        samples = [Sample("monitord_interface_in_bytes_total",
                          {"target": t.name, "ifname": f"p{p}", "ifindex": str(p)},
                          counter, SampleKind.COUNTER, bits=64) for p in range(48)]
        state.record(t, "snmp", samples, ok=True, interval=60.0)
        rec.observe(state.group(t.name, "snmp"))
    print(f"flushing {step} {clock.wall}", flush=True)
    rec.flush(clock.wall + 60)
    print(f"flushed {step} {clock.wall}", flush=True)
    step += 1
    clock.wall += 60
    clock.mono += 60
"""


def test_kill_9_while_writing_loses_at_most_the_current_window(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    db = tmp_path / "h.db"
    acked_total = 0
    for round_ in range(3):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(db), str(T0)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert proc.stdout is not None
        acked, deadline = -1, time.monotonic() + 60
        target = 4 + round_
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                proc.stdout.close()
                pytest.fail(f"writer exited early with {proc.wait()}")
            word, step, _ = line.split()
            if word == "flushed":
                acked = int(step)
            elif int(step) >= target:  # it is writing window `step` right now
                time.sleep(0.005)
                proc.send_signal(signal.SIGKILL)
                break
        else:
            proc.kill()
            proc.wait(10)
            proc.stdout.close()
            pytest.fail("writer too slow")
        proc.wait(10)
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        acked_total += acked + 1
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        polls = con.execute("SELECT SUM(polls) FROM poll_hour").fetchone()[0] // 60
        sessions = con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
        con.close()
        # every acknowledged window is there; at most the one being written is missing
        assert acked_total <= polls <= acked_total + 1, (round_, acked_total, polls)
        acked_total = polls
        assert sessions == round_ + 1
    h = History(db)
    assert h.integrity_check() == "ok"
    # the month continues: one row per hour and interface, bytes of every stored poll
    rows = h.query("SELECT COUNT(*), SUM(in_bytes) FROM iface_day")
    assert rows[0][0] == 60 * 48
    assert rows[0][1] > 0 and math.isfinite(rows[0][1])
    h.close()
