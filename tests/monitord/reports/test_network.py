"""The network report's figures against values computed by hand from the built month."""

from __future__ import annotations

import pytest

from monitord.reports.common import ReportContext
from monitord.reports.model import BitRate, Dur, Light, LightColor, Msg, Num, Pct, Report, Table, Ts
from monitord.reports.network import build_network, network_kpis
from tests.monitord.reports.month import MIN, SPEED, Month, at, nearest_rank

PERIOD_MIN = 31 * 24 * 60  # October, America/Bogota (no DST)
MAINT_MIN = 120  # the window 00:30-02:30 on 20/10 applies to sw-1


def _table(report: Report, tid: str) -> Table:
    found = [t for t in report.tables() if t.id == tid]
    assert len(found) == 1, f"table {tid} not found once"
    return found[0]


def test_availability_per_device_matches_hand_computation(ctx: ReportContext) -> None:
    report = build_network(ctx)
    rows = {r[0]: r for r in _table(report, "availability_by_device").rows}
    assert set(rows) == {"core-rtr", "sw-1", "sw-2"}
    sw1 = (PERIOD_MIN - MAINT_MIN - (10 + 30 + 90)) / (PERIOD_MIN - MAINT_MIN)
    rtr = (PERIOD_MIN - 20) / PERIOD_MIN
    sw2 = (PERIOD_MIN - 15) / PERIOD_MIN  # affected by its parent: counted in full
    for name, expected, downtime, incidents in (
        ("sw-1", sw1, 130 * MIN, 3),
        ("core-rtr", rtr, 20 * MIN, 1),
        ("sw-2", sw2, 15 * MIN, 0),
    ):
        r = rows[name]
        assert isinstance(r[3], Pct) and r[3].value == pytest.approx(expected, abs=1e-4)
        assert r[4] == Dur(pytest.approx(downtime)), name  # type: ignore[arg-type]
        assert r[5] == Num(incidents), name
        assert r[6] == Msg("words.whole_month")  # polled from the month's first minute
        assert isinstance(r[7], Pct) and r[7].value == pytest.approx(1.0)
        assert isinstance(r[8], Pct) and r[8].value == pytest.approx(1.0)
        assert r[9] == Light(LightColor.GREEN)
    sites = {r[0]: r for r in _table(report, "availability_by_site").rows}
    assert sites["centro"][2].value == pytest.approx((sw1 + rtr) / 2, abs=1e-4)  # type: ignore[union-attr]
    assert sites["norte"][2].value == pytest.approx(sw2, abs=1e-4)  # type: ignore[union-attr]
    k = network_kpis(ctx)
    assert k["availability"] == pytest.approx((sw1 + rtr + sw2) / 3, abs=1e-4)
    assert k["incidents"] == 4  # sw-1 x3 + core-rtr; not sw-2 (parent), not maintenance
    assert k["downtime"] == pytest.approx(150 * MIN)
    assert k["mttr"] == pytest.approx(150 * MIN / 4)
    assert k["maintenance"] == pytest.approx(MAINT_MIN * MIN)


def test_incidents_list_start_end_duration_cause_and_maintenance(ctx: ReportContext) -> None:
    rows = _table(build_network(ctx), "incidents").rows
    got = [(r[0], r[2], r[3], r[5], r[6], r[7]) for r in rows]
    yes, no = Msg("words.yes"), Msg("words.no")
    own = Msg("cause.own")
    assert got == [
        (Ts(at(3, 10), True), Dur(600), "sw-1", own, Num(2), no),
        (Ts(at(8, 9), True), Dur(1200), "core-rtr", own, Num(0), no),
        (
            Ts(at(8, 9, 1), True),
            Dur(900),
            "sw-2",
            Msg("cause.parent", {"parent": "core-rtr"}),
            Num(0),
            no,
        ),
        (Ts(at(12, 15, 30), True), Dur(1800), "sw-1", own, Num(0), no),
        (Ts(at(20, 1), True), Dur(3600), "sw-1", own, Num(0), yes),
        (Ts(at(25, 2), True), Dur(5400), "sw-1", own, Num(0), no),
    ]
    assert rows[0][1] == Ts(at(3, 10, 10), True)
    maint = _table(build_network(ctx), "maintenance").rows
    assert [(r[0], r[1], r[2], r[3]) for r in maint] == [
        (Ts(at(20, 0, 30), True), Ts(at(20, 2, 30), True), Dur(7200), "Cambio de UPS")
    ]
    # the 12 Oct alert never left (SMTP down): listed, not counted
    assert _table(build_network(ctx), "undelivered").rows == [
        (Ts(at(12, 15, 32), True), "sw-1", "TargetDown", "correo",
         Msg("delivery.retries_exhausted"), Ts(at(12, 15, 32) + 1, True)),
    ]  # fmt: skip


def test_latency_mean_p95_max(ctx: ReportContext, month: Month) -> None:
    rows = {r[0]: r for r in _table(build_network(ctx), "latency").rows}
    for name in ("core-rtr", "sw-1", "sw-2"):
        vals = month.rtt_values[name]
        r = rows[name]
        assert r[1].value == pytest.approx(sum(vals) / len(vals) * 1000, rel=1e-9)  # type: ignore[union-attr]
        assert r[2].value == pytest.approx(nearest_rank(vals, 0.95) * 1000, rel=0.01)  # type: ignore[union-attr]
        assert r[3].value == pytest.approx(max(vals) * 1000)  # type: ignore[union-attr]
    failed = 10 + 30 + 90 + 60
    assert rows["sw-1"][4] == Pct(pytest.approx(failed / PERIOD_MIN))  # type: ignore[arg-type]
    assert rows["sw-1"][5] == Pct(0.0)  # 0.43 % of polls lost: the 95th percentile is 0
    assert rows["sw-1"][6] == Pct(1.0)


def test_wan_channel_mean_peak_p95_and_utilization(ctx: ReportContext, month: Month) -> None:
    report = build_network(ctx)
    rows = _table(report, "wan").rows
    assert [r[:3] for r in rows] == [("core-rtr", "wan0", "Canal internet ISP")]
    r = rows[0]
    assert r[3] == "—"  # no ISP configured
    assert r[4] == BitRate(SPEED) and r[5] == Msg("capacity.port_speed")  # labelled as such
    assert r[6].value == pytest.approx(month.wan_bytes_in / month.wan_secs, rel=1e-9)  # type: ignore[union-attr]
    assert r[7] == BitRate(2e6)
    assert r[10].value == pytest.approx(nearest_rank(month.wan_slots_in, 0.95))  # type: ignore[union-attr]
    assert r[10].value == pytest.approx(2e6)  # type: ignore[union-attr]
    assert r[12].value == pytest.approx(2e6 / SPEED)  # type: ignore[union-attr]
    chart = next(c for s in report.sections for c in s.charts)
    assert len(chart.categories) == 31 and chart.reference == SPEED
    day1 = chart.series[0][1][0]
    # 1 Oct: the first poll gives no rate; 10 busy hours at 2e6, the rest at 0.5e6
    assert day1 == pytest.approx((10 * 3600 * 2e6 + (14 * 3600 - 300) * 0.5e6) / (86400 - 300))


def test_wan_against_the_contracted_bandwidth_and_isp(ctx: ReportContext, month: Month) -> None:
    """wan0 (ifIndex 1) contracted at 20 Mb/s down, 10 Mb/s up with "Operador Uno": the p95
    in (2 MB/s = 16 Mb/s) is 80 % of it; out p95 (1 MB/s = 8 Mb/s) is 80 % of 10 Mb/s."""
    from dataclasses import replace

    from monitord.reports.settings import Link

    link = Link(target="core-rtr", ifindex=1, isp="Operador Uno", contracted_mbps=20,
                contracted_up_mbps=10)  # fmt: skip
    cfg = ctx.config.model_copy(update={"links": [link]})
    report = build_network(replace(ctx, config=cfg))
    r = _table(report, "wan").rows[0]
    assert r[3] == "Operador Uno"
    assert r[4] == BitRate(20e6 / 8) and r[5] == Msg("capacity.contracted")
    assert r[12].value == pytest.approx(0.8)  # type: ignore[union-attr]
    chart = next(c for s in report.sections for c in s.charts)
    assert chart.reference == 20e6 / 8


def test_interfaces_errors_flaps_and_no_capacity_warning(ctx: ReportContext, month: Month) -> None:
    report = build_network(ctx)
    errs = _table(report, "errors").rows
    assert [(r[0], r[1], r[2]) for r in errs] == [("core-rtr", "lan0", Num(month.lan_errors))]
    down = _table(report, "interfaces_down").rows
    assert [(r[0], r[1], r[3], r[4]) for r in down] == [("core-rtr", "lan0", Num(2), Dur(3600))]
    top = _table(report, "top_utilization").rows
    assert [r[1] for r in top] == ["wan0", "lan0"]
    assert top[0][4].value == pytest.approx(month.wan_bytes_in / month.wan_secs / SPEED)  # type: ignore[union-attr]
    assert _table(report, "capacity_warnings").rows == []
    firmware = _table(report, "firmware_changes").rows
    assert [(r[0], r[1], r[4], r[5]) for r in firmware] == [
        ("core-rtr", Ts(at(15, 3)), "17.3.4", "17.6.1")
    ]
    assert _table(report, "devices_added_removed").rows == []


def test_first_page_states_period_coverage_and_gaps(ctx: ReportContext) -> None:
    report = build_network(ctx)
    assert report.month == "2026-10" and report.tz == "America/Bogota"
    comp = {r[0]: r for r in _table(report, "completeness").rows}
    assert set(comp) == {"icmp", "snmp"}  # the network targets' collectors only
    assert comp["icmp"][1] == Num(3 * PERIOD_MIN)
    assert comp["icmp"][3] == Pct(pytest.approx(1.0))  # type: ignore[arg-type]
    assert _table(report, "gaps").rows == []
    assert report.summary[0].key == "summary.network.availability"


def test_interfaces_sharing_a_name_stay_apart(ctx: ReportContext, month: Month) -> None:
    """Two "WAN Miniport (IP)" (ifIndex 10 and 11): two series, two rows, their own bytes."""
    got = {
        i.ifname: i for i in ctx.source.ifaces(ctx.period) if i.ifname.startswith("WAN Miniport")
    }
    assert set(got) == {"WAN Miniport (IP) (ifIndex 10)", "WAN Miniport (IP) (ifIndex 11)"}
    secs = got["WAN Miniport (IP) (ifIndex 10)"].acc.secs
    assert secs == pytest.approx(month.wan_secs)
    assert got["WAN Miniport (IP) (ifIndex 10)"].acc.in_bytes == pytest.approx(1000 * secs)
    assert got["WAN Miniport (IP) (ifIndex 11)"].acc.in_bytes == pytest.approx(3000 * secs)
    assert {i.key for i in got.values()} == {"10:WAN Miniport (IP)", "11:WAN Miniport (IP)"}


def test_completeness_says_how_many_snmp_polls_returned_partial_data(ctx: ReportContext) -> None:
    from exporters.reports.text import Formatter

    report = build_network(ctx)
    [section] = [s for s in report.intro if s.id == "completeness"]
    polls = 31 * 24 * 3600 // 300  # core-rtr polled by SNMP every 5 min all October: 8,928
    partial = 12  # 9/10 10:00-11:00
    assert (
        Msg("intro.partial", {"partial": Num(partial), "polls": Num(polls), "devices": "core-rtr"})
        in section.paragraphs
    )
    es = Formatter("es", "America/Bogota")
    text = es.msg(
        Msg("intro.partial", {"partial": Num(partial), "polls": Num(polls), "devices": "core-rtr"})
    )
    assert text.startswith("12 sondeos SNMP devolvieron datos parciales (de 8.928 en el periodo;")
    assert text.endswith(": core-rtr. Los valores que faltaron no se rellenan.")
    one = es.msg(Msg("intro.partial", {"partial": Num(1), "polls": Num(polls), "devices": "x"}))
    assert one.startswith("1 sondeo SNMP devolvió datos parciales")
    en = Formatter("en", "America/Bogota").msg(Msg("intro.partial_none", {"polls": Num(polls)}))
    assert en == "All 8,928 SNMP polls of the period returned complete data."
