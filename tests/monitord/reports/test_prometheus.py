"""`--source prometheus`: the reports from a real Prometheus (Debian package) whose TSDB
the test fills with October 2026 via `promtool tsdb create-blocks-from openmetrics`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from monitord.reports.common import ReportContext
from monitord.reports.model import Dur, Num, Pct, Table, Ts
from monitord.reports.network import build_network
from monitord.reports.period import Period
from monitord.reports.prometheus import PrometheusSource
from tests.conftest import free_port, http_get, wait_for
from tests.contract.declared import declared_traits
from tests.monitord.reports.month import TZ, nearest_rank

P0 = datetime(2026, 10, 1, tzinfo=TZ).timestamp()
P1 = datetime(2026, 11, 1, tzinfo=TZ).timestamp()
STEP = 60
OUTAGES = [  # sw-1 down from (day, hour, minute) for n minutes
    ((3, 10, 0), 10),
    ((12, 15, 30), 30),
    ((25, 2, 0), 90),
]
SPEED = 12.5e6


def _at(d: int, h: int, m: int) -> float:
    return datetime(2026, 10, d, h, m, tzinfo=TZ).timestamp()


def _rtt(i: int) -> float:
    return 0.001 + (i % 100) * 0.00005


def _rate(t: float) -> float:
    h = datetime.fromtimestamp(t - 1, TZ).hour
    return 2e6 if 8 <= h < 18 else 0.5e6


def _openmetrics() -> tuple[str, list[float], list[float]]:
    """The month as OpenMetrics text, the RTT values and the WAN 5-minute rates."""
    down = [(_at(*s), _at(*s) + n * 60) for s, n in OUTAGES]
    up: dict[str, list[str]] = {"core-rtr": [], "sw-1": []}
    rtt: list[str] = []
    rtts: list[float] = []
    info: list[str] = []
    octets: list[str] = []
    speed: list[str] = []
    rates: list[float] = []
    counter = 0.0
    i = 0
    t = P0
    while t < P1:
        ts = int(t)
        for name in up:
            is_down = name == "sw-1" and any(a <= t < b for a, b in down)
            up[name].append(
                f'monitord_target_up{{target="{name}",collector="icmp"}} {0 if is_down else 1} {ts}'
            )
        v = _rtt(i)
        rtts.append(v)
        rtt.append(f'monitord_icmp_rtt_seconds{{target="core-rtr"}} {v} {ts}')
        if ts % 300 == 0:
            for name, kind in (("core-rtr", "router"), ("sw-1", "switch")):
                info.append(
                    f'monitord_target_info{{target="{name}",kind="{kind}",site="centro",'
                    f'address="127.0.0.1"}} 1 {ts}'
                )
            if t > P0:
                r = _rate(t)
                counter += r * 300
                rates.append(r)
            lb = 'target="core-rtr",ifname="wan0",ifindex="1"'
            octets.append(f"monitord_interface_in_bytes_total{{{lb}}} {counter:.0f} {ts}")
            speed.append(f"monitord_interface_speed_bytes{{{lb}}} {SPEED} {ts}")
            speed.append(f'monitord_interface_info{{{lb},ifalias="Canal internet ISP"}} 1 {ts}')
        i += 1
        t += STEP
    lines = ["# TYPE monitord_target_up gauge", *up["core-rtr"], *up["sw-1"]]
    lines += ["# TYPE monitord_icmp_rtt_seconds gauge", *rtt]
    lines += ["# TYPE monitord_target_info gauge", *info]
    lines += ["# TYPE monitord_interface_in_bytes_total counter", *octets]
    # gauges of two families: split by name (OpenMetrics wants one family's samples together)
    lines += ["# TYPE monitord_interface_speed_bytes gauge", *[s for s in speed if "speed" in s]]
    lines += ["# TYPE monitord_interface_info gauge", *[s for s in speed if "_info" in s]]
    return "\n".join(lines) + "\n# EOF\n", rtts, rates


def _tool(name: str) -> str:
    path = shutil.which(name) or f"/usr/bin/{name}"
    if not Path(path).exists():
        pytest.fail(f"{name} not found: apt-get install prometheus")
    return path


@pytest.fixture(scope="module")
def prom(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, list[float], list[float]]]:
    base = tmp_path_factory.mktemp("prom")
    text, rtts, rates = _openmetrics()
    (base / "month.om").write_text(text)
    data = base / "data"
    res = subprocess.run(
        [_tool("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(base / "month.om"),
         str(data)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    (base / "prometheus.yml").write_text("global: {scrape_interval: 1m}\nscrape_configs: []\n")
    port = free_port()
    log = open(base / "prometheus.log", "w")
    proc = subprocess.Popen(
        [_tool("prometheus"), f"--config.file={base / 'prometheus.yml'}",
         f"--storage.tsdb.path={data}", "--storage.tsdb.retention.time=100y",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"prometheus exited: {(base / 'prometheus.log').read_text()[-2000:]}")
            try:
                return http_get(url + "/-/ready", timeout=1)[0] == 200
            except OSError:
                return False

        wait_for(ready, 60, "prometheus ready")
        yield url, rtts, rates
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def _table(tables: list[Table], tid: str) -> Table:
    found = [t for t in tables if t.id == tid]
    assert len(found) == 1, tid
    return found[0]


def test_network_report_from_prometheus_matches_hand_values(
    prom: tuple[str, list[float], list[float]],
) -> None:
    url, rtts, rates = prom
    ctx = ReportContext(
        PrometheusSource(url, collectors=declared_traits()),
        Period(2026, 10, TZ),
        generated=P1 + 3600,
        collectors=declared_traits(),
    )
    report = build_network(ctx)
    tables = list(report.tables())
    rows = {r[0]: r for r in _table(tables, "availability_by_device").rows}
    period_min = 31 * 24 * 60
    assert set(rows) == {"core-rtr", "sw-1"}
    sw1 = rows["sw-1"]
    assert isinstance(sw1[3], Pct)
    assert sw1[3].value == pytest.approx((period_min - 130) / period_min, abs=1e-4)
    assert sw1[4] == Dur(pytest.approx(130 * 60))  # type: ignore[arg-type]
    assert sw1[5] == Num(3)
    assert rows["core-rtr"][3].value == pytest.approx(1.0)  # type: ignore[union-attr]
    incidents = [(r[0], r[3], r[2]) for r in _table(tables, "incidents").rows]
    assert incidents == [(Ts(_at(*s), True), "sw-1", Dur(n * 60)) for s, n in OUTAGES]
    lat = {r[0]: r for r in _table(tables, "latency").rows}["core-rtr"]
    assert lat[1].value == pytest.approx(sum(rtts) / len(rtts) * 1000, rel=1e-9)  # type: ignore[union-attr]
    assert lat[2].value == pytest.approx(nearest_rank(rtts, 0.95) * 1000, rel=0.01)  # type: ignore[union-attr]
    assert lat[3].value == pytest.approx(max(rtts) * 1000)  # type: ignore[union-attr]
    wan = _table(tables, "wan").rows
    assert [r[:3] for r in wan] == [("core-rtr", "wan0", "Canal internet ISP")]
    assert wan[0][6].value == pytest.approx(sum(rates) / len(rates), rel=1e-6)  # type: ignore[union-attr]
    assert wan[0][7].value == pytest.approx(2e6)  # type: ignore[union-attr]
    assert wan[0][10].value == pytest.approx(nearest_rank(rates, 0.95))  # type: ignore[union-attr]


def test_report_cli_with_source_prometheus(
    prom: tuple[str, list[float], list[float]], tmp_path: Path
) -> None:
    url = prom[0]
    cfg = tmp_path / "monitord.yaml"
    cfg.write_text(f"daemon: {{data_dir: {tmp_path / 'var'}}}\n")
    t0 = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "monitord", "report", "-c", str(cfg), "--month", "2026-10",
         "--source", "prometheus", "--url", url, "--kind", "network,security",
         "--format", "html,csv", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    html = (tmp_path / "out" / "2026-10" / "2026-10_red.html").read_text()
    assert "sw-1" in html and "99,709\u00a0%" in html
    sec = (tmp_path / "out" / "2026-10" / "2026-10_seguridad.html").read_text()
    assert "Sin datos en el periodo" in sec
    print(f"\nreport from prometheus in {time.monotonic() - t0:.1f} s")


def test_prometheus_source_takes_parent_critical_and_tags_from_the_config(
    prom: tuple[str, list[float], list[float]],
) -> None:
    """monitord_target_info carries no parent, critical or tags: the config supplies them."""
    from monitord.reports.store import TargetInfo

    url = prom[0]
    configured = {
        "sw-1": TargetInfo("sw-1", "127.0.0.2", "switch", "centro", "core-rtr", True, ("wan",)),
    }
    src = PrometheusSource(url, configured=configured, collectors=declared_traits())
    ctx = ReportContext(
        src,
        Period(2026, 10, TZ),
        generated=P1 + 3600,
        configured=configured,
        collectors=declared_traits(),
    )
    t = ctx.targets["sw-1"]
    assert (t.parent, t.critical, t.tags) == ("core-rtr", True, ("wan",))
    assert src.targets()["sw-1"].tags == ("wan",)  # WAN detection by tag works again
    assert (
        PrometheusSource(url, collectors=declared_traits()).targets()["sw-1"].parent is None
    )  # what Prometheus holds
