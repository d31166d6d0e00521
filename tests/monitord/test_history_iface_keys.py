"""A month spanning the upgrade that keyed interface rows by `ifIndex:name`.

Earlier versions stored each interface's rows under its name (`Gi0/1`, meta
`{"ifindex": "1"}`); newer ones under `1:Gi0/1`. The history written here holds both kinds,
as a database upgraded on 15 October would: name-only rows 1-15 October, keyed rows
15-31 October (the 15th has both, written before and after the restart). Opening it
migrates the old rows (schema 6), and the network report shows each port once, with the
traffic of the whole month.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from monitord.history import SLOT, Batch, IfaceAcc, PollAcc, RateAcc, write_batch
from monitord.history.db import History
from monitord.reports.common import ReportContext
from monitord.reports.network import build_network
from monitord.reports.period import Period
from monitord.reports.settings import ReportsConfig
from monitord.reports.store import HistorySource
from monitord.types import Target, TargetKind
from tests.monitord.reports.month import TZ

OCT = Period(2026, 10, TZ)
SW = Target("sw-1", "127.0.0.1", TargetKind.SWITCH, "centro", tags=("wan",))
UPGRADE_DAY = 15
# (name-only key, meta of the old series, new key): the old series becomes the new one
PORTS = {
    "Gi0/1": ({"alias": "", "ifindex": "1"}, "1:Gi0/1"),  # index in its meta
    "Gi0/2": ({"alias": ""}, "2:Gi0/2"),  # no index kept: the only "N:Gi0/2" of the device
}


def _acc(day: int, port: int, part: int) -> IfaceAcc:
    """A distinct day row: 1000 s, in = day*1e6 + port*1e3 + part bytes, 1 error, peak day."""
    return IfaceAcc(
        1000.0, day * 1e6 + port * 1e3 + part, 2.0 * (day * 1e6 + port * 1e3 + part),
        float(day), float(port), 1.0, 0.0, 0.0, 0.0, 1000.0, 1000.0, 0, 0.0, 1e9,
    )  # fmt: skip


def _day(d: int) -> int:
    return 20261000 + d


def _build(db: Path) -> None:
    h = History(db)
    start = datetime(2026, 10, 1, tzinfo=TZ).timestamp()
    slot = int(datetime(2026, 10, UPGRADE_DAY, 12, tzinfo=TZ).timestamp()) // SLOT * SLOT
    for d in range(1, 32):
        b = Batch()
        if d == 1:
            b.targets = {SW.name: (SW, start)}
        day0 = int(datetime(2026, 10, d, tzinfo=TZ).timestamp())
        for hr in range(24):  # polled all month (the report's scope)
            b.polls[((SW.name, "snmp", "poll", ""), day0 + hr * 3600)] = PollAcc(60, 60, 60.0)
        for p, (name, (meta, new)) in enumerate(PORTS.items(), start=1):
            if d <= UPGRADE_DAY:  # before the upgrade (and the morning of the 15th)
                b.ifaces[((SW.name, "snmp", "if", name), _day(d))] = _acc(d, p, 0)
                b.meta[(SW.name, "snmp", "if", name)] = dict(meta)  # type: ignore[arg-type]
            if d >= UPGRADE_DAY:  # after it
                b.ifaces[((SW.name, "snmp", "if", new), _day(d))] = _acc(d, p, 1)
            if d == UPGRADE_DAY:  # the same 5-minute slot, half on each side of the restart
                b.rates[((SW.name, "snmp", "if", name), slot)] = RateAcc(100.0, 1e5, 2e5)
                b.rates[((SW.name, "snmp", "if", new), slot)] = RateAcc(200.0, 3e5, 4e5)
        write_batch(h, b, TZ, started=OCT.start if d == 1 else None)
    # an interface the older version merged: two "WAN Miniport (IP)" under one name, and
    # two keyed series now; no index in its meta and two candidates: left as it was
    b = Batch()
    b.ifaces[((SW.name, "snmp", "if", "WAN Miniport (IP)"), _day(2))] = _acc(2, 9, 0)
    b.ifaces[((SW.name, "snmp", "if", "10:WAN Miniport (IP)"), _day(20))] = _acc(20, 10, 1)
    b.ifaces[((SW.name, "snmp", "if", "11:WAN Miniport (IP)"), _day(20))] = _acc(20, 11, 1)
    write_batch(h, b, TZ)
    h.close()
    with sqlite3.connect(db) as c:  # as written by the version before the migration
        c.execute("PRAGMA user_version=5")


def test_old_name_only_interface_rows_join_the_ifindex_rows_on_open(tmp_path: Path) -> None:
    db = tmp_path / "monitord.db"
    _build(db)
    with sqlite3.connect(db) as c:
        before = {r[0] for r in c.execute("SELECT object FROM series WHERE kind = 'if'")}
    assert before == {"Gi0/1", "Gi0/2", "1:Gi0/1", "2:Gi0/2", "WAN Miniport (IP)",
                      "10:WAN Miniport (IP)", "11:WAN Miniport (IP)"}  # fmt: skip
    h = History(db)  # migrates
    try:
        assert h.schema_version == 6
        objects = sorted(r[0] for r in h.query("SELECT object FROM series WHERE kind = 'if'"))
        assert objects == sorted(["1:Gi0/1", "2:Gi0/2", "10:WAN Miniport (IP)",
                                  "11:WAN Miniport (IP)", "WAN Miniport (IP)"])  # fmt: skip
        src = HistorySource(h)
        ifaces = {i.key: i for i in src.ifaces(OCT)}
        for p, (_, new) in enumerate(PORTS.values(), start=1):
            acc = ifaces[new].acc
            # 15 old days (1..15) and 17 new ones (15..31): 32 day rows of 1000 s
            assert acc.secs == 32 * 1000.0
            old_in = sum(d * 1e6 + p * 1e3 for d in range(1, UPGRADE_DAY + 1))
            new_in = sum(d * 1e6 + p * 1e3 + 1 for d in range(UPGRADE_DAY, 32))
            assert acc.in_bytes == pytest.approx(old_in + new_in, rel=1e-12)
            assert acc.in_errors == 32.0 and acc.in_peak == 31.0
            # the upgrade day's WAN slot: both halves in one slot of 300 s
            slots = src.wan_slots(OCT)[(SW.name, new)]
            assert slots == [pytest.approx(((1e5 + 3e5) / 300.0, (2e5 + 4e5) / 300.0))]
        report = build_network(ReportContext(src, OCT, ReportsConfig(), {}, OCT.end))
        top = next(t for s in report.sections for t in s.tables if t.id == "top_utilization")
        names = [r[1] for r in top.rows if r[0] == SW.name]
        assert sorted(n for n in names if n.startswith("Gi")) == ["Gi0/1", "Gi0/2"]  # once each
        assert ifaces["WAN Miniport (IP)"].acc.secs == 1000.0  # the ambiguous old row, kept
    finally:
        h.close()
    assert History(db).schema_version == 6  # reopening migrates nothing again
