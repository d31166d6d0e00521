"""The alert engine with real timing: the daemon's own stack, in process.

Each test runs the real Scheduler, Runner, State and AlertEngine on short intervals,
with real notifiers to real peers on loopback (a webhook receiver that checks the HMAC,
aiosmtpd, Alertmanager) and real targets: netns test hosts polled by the ICMP collector,
or a `probe` collector the test switches up and down (a target that answers or not).
Nothing calls engine internals: the tests look at what reaches the peers, at the event
sink and at the exposed metrics.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from collectors import icmp
from exporters.notify import build_notifiers
from exporters.prometheus import specs_by_name
from monitord.alerts.config import AlertEvent, AlertsConfig
from monitord.alerts.control import ControlServer, add_parser, run
from monitord.alerts.engine import AlertEngine
from monitord.config import parse_config_text
from monitord.configtypes import Language
from monitord.daemon import collector_specs
from monitord.errors import TargetUnreachable
from monitord.runner import Runner, SelfMetrics
from monitord.scheduler import Scheduler
from monitord.state import State
from monitord.types import MetricSpec, Sample, Shared, Target
from tests.peers.alertmanager import Alertmanager
from tests.peers.netns import netns_host
from tests.peers.smtp import SmtpServer
from tests.peers.webhook import WebhookReceiver

SECRET = "alert-hook-secret"


class Probe:
    """A collector whose targets answer unless the test put them in `down`."""

    kind: ClassVar[str] = "probe"
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()

    def __init__(self, down: set[str]) -> None:
        self.down = down

    async def collect(self, target: Target) -> list[Sample]:
        await asyncio.sleep(0.005)
        if target.name in self.down:
            raise TargetUnreachable(f"{target.name} switched off by the test")
        return []


@dataclass
class Stack:
    """What a test sees of the running stack."""

    engine: AlertEngine
    metrics: SelfMetrics
    events: list[AlertEvent] = field(default_factory=list)
    down: set[str] = field(default_factory=set)

    def active(self, alertname: str, target: str, severity: str = "critical") -> float | None:
        labels = {"alertname": alertname, "target": target, "severity": severity}
        return self.metrics.registry.get_sample_value("monitord_alert_active", labels)

    def rows(self, alertname: str | None = None) -> list[tuple[str, str, str, bool, bool]]:
        return [
            (e.alertname, e.target, e.kind.value, e.silenced, e.notified)
            for e in self.events
            if alertname is None or e.alertname == alertname
        ]


@asynccontextmanager
async def stack(
    targets_yaml: str, alerts: Mapping[str, Any], failures_to_down: int = 1
) -> AsyncIterator[Stack]:
    """The daemon's pieces wired as daemon.py does, on the running loop."""
    down: set[str] = set()
    registry = {"icmp": icmp.build, "probe": lambda opts, shared: Probe(down)}
    text = (
        f"defaults: {{failures_to_down: {failures_to_down}, successes_to_up: 1}}\n"
        f"targets:\n{targets_yaml}"
    )
    shared = Shared()
    cfg = parse_config_text(text, "test.yaml", registry, shared)  # type: ignore[arg-type]
    acfg = AlertsConfig.model_validate(alerts)
    state = State(failures_to_down=failures_to_down, successes_to_up=1)
    metrics = SelfMetrics()
    engine = AlertEngine(
        acfg,
        state.snapshot,
        build_notifiers(acfg, Language.ES, "America/Bogota"),
        language=Language.ES,
        registry=metrics.registry,
        generator_url="http://127.0.0.1:9877/metrics",
    )
    st = Stack(engine, metrics, down=down)
    engine.sink = st.events.extend
    runner = Runner(
        state, metrics, specs_by_name(collector_specs(cfg)), on_events=lambda evs: engine.poke()
    )
    sched = Scheduler(runner, state, metrics, startup_spread=0)
    engine.start()
    sched.start()
    sched.sync(cfg)
    try:
        yield st
    finally:
        await sched.shutdown()
        await engine.aclose(flush_timeout=0.5)
        await shared.aclose()


def _probe_targets(*names: str, parent: Mapping[str, str] | None = None) -> str:
    lines = []
    for n in names:
        p = f", parent: {parent[n]}" if parent and n in parent else ""
        lines.append(
            f"  - {{name: {n}, address: 127.0.0.1, site: centro{p},"
            f" collectors: {{probe: {{interval: 0.2s, timeout: 0.15s}}}}}}"
        )
    return "\n".join(lines) + "\n"


def _alerts(hook: WebhookReceiver, **extra: Any) -> dict[str, Any]:
    return {
        "evaluation_interval": "0.2s",
        "rules": {"target_down": {"collectors": ["icmp", "probe"]}},
        "notify": [{"webhook": {"url": hook.url, "secret": SECRET, "timeout": "2s"}}],
        "retry": {"initial_backoff": "0.1s", "max_backoff": "0.5s"},
        **extra,
    }


async def _until(cond: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def _hook_alerts(hook: WebhookReceiver) -> list[tuple[str, str, str, bool]]:
    assert all(r.valid_signature for r in hook.snapshot()), "every body carries a valid HMAC"
    return [(a["alertname"], a["target"], a["status"], a["repeat"]) for a in hook.alerts()]


# -- target down, end to end, to e-mail and Alertmanager ------------------------------------


@pytest.mark.netns
@pytest.mark.peer
def test_link_down_reaches_email_and_alertmanager_within_the_bound_and_resolves(
    tmp_path: Path,
) -> None:
    interval, timeout, failures, for_, evaluation = 0.5, 0.4, 2, 1.0, 0.2
    with (
        netns_host("alert") as host,
        SmtpServer(tmp_path) as smtp,
        WebhookReceiver() as am_hook,
        Alertmanager(tmp_path, webhook_url=am_hook.url) as am,
    ):
        targets = (
            f"  - {{name: sw-acceso-1, address: {host.address}, kind: switch, site: centro,"
            f" collectors: {{icmp: {{interval: {interval}s, timeout: {timeout}s, count: 1,"
            f" packet_timeout: 0.3s}}}}}}\n"
        )
        alerts = {
            "evaluation_interval": f"{evaluation}s",
            "rules": {"target_down": {"for": f"{for_}s"}},
            "notify": [
                {"alertmanager": {"url": am.url, "timeout": "2s"}},
                {
                    "email": {
                        "smtp": f"127.0.0.1:{smtp.port}",
                        "from": "monitord@alcaldia.gov.co",
                        "to": ["oncall@alcaldia.gov.co"],
                        "user": "monitord",
                        "password": "pw",
                        "ca_file": str(smtp.ca_file),
                        "timeout": "5s",
                    }
                },
            ],
        }
        # Worst case from link down to notification: the first failing poll starts up to one
        # interval later, `failures` polls must fail (each ends within its timeout), then
        # `for` must pass, seen at the next evaluation; plus delivery.
        bound = failures * interval + timeout + for_ + evaluation + 1.0

        async def main() -> tuple[float, float, float, float, Stack]:
            async with stack(targets, alerts, failures_to_down=failures) as st:
                polls = {"collector": "icmp"}
                await _until(
                    lambda: (
                        (st.metrics.registry.get_sample_value("monitord_polls_total", polls) or 0)
                        >= 2
                    ),
                    5,
                    "two polls",
                )
                assert st.events == []
                assert smtp.messages == []
                t0 = time.monotonic()
                await asyncio.to_thread(host.link_down)
                await asyncio.to_thread(smtp.wait_for, 1, bound + 5)
                t_mail = smtp.received[0] - t0
                await asyncio.to_thread(am.wait_alert, lambda a: len(a) == 1, bound + 5, "alert")
                t_am = time.monotonic() - t0
                assert st.active("target_down", "sw-acceso-1") == 1
                t1 = time.monotonic()
                await asyncio.to_thread(host.link_up)
                await asyncio.to_thread(smtp.wait_for, 2, 10)
                t_resolved = smtp.received[1] - t1
                await asyncio.to_thread(am.wait_alert, lambda a: a == [], 10, "resolution")
                t_am_resolved = time.monotonic() - t1
                return t_mail, t_am, t_resolved, t_am_resolved, st

        t_mail, t_am, t_resolved, t_am_resolved, st = asyncio.run(main())
        am_hook.wait_for(
            lambda rs: any(r.json["status"] == "resolved" for r in rs),
            10,
            "alertmanager's own resolved notification",
        )
        first, second = smtp.messages[0], smtp.messages[1]
    print(
        f"link down -> e-mail {t_mail:.2f}s, -> alertmanager {t_am:.2f}s (bound {bound:.2f}s);"
        f" link up -> e-mail {t_resolved:.2f}s, -> alertmanager {t_am_resolved:.2f}s"
    )
    assert for_ <= t_mail <= bound
    assert for_ <= t_am <= bound + 0.5
    assert t_resolved <= interval + timeout + evaluation + 1.0
    assert first["Subject"] == "[monitord] ALERTA: sw-acceso-1 no responde"
    assert second["Subject"] == "[monitord] RESUELTA: sw-acceso-1 no responde"
    assert st.rows() == [
        ("target_down", "sw-acceso-1", "start", False, True),
        ("target_down", "sw-acceso-1", "resolve", False, True),
    ]
    assert st.active("target_down", "sw-acceso-1") is None


# -- parent / child -------------------------------------------------------------------------


@pytest.mark.netns
def test_parent_down_suppresses_the_child_and_names_the_parent_as_cause() -> None:
    with (
        netns_host("parent") as router,
        netns_host("child") as ap,
        WebhookReceiver(secret=SECRET.encode()) as hook,
    ):
        opts = "interval: 0.3s, timeout: 0.25s, count: 1, packet_timeout: 0.2s"
        targets = (
            f"  - {{name: router-1, address: {router.address}, collectors: {{icmp: {{{opts}}}}}}}\n"
            f"  - {{name: ap-1, address: {ap.address}, parent: router-1,"
            f" collectors: {{icmp: {{{opts}}}}}}}\n"
        )

        async def main() -> Stack:
            async with stack(targets, _alerts(hook), failures_to_down=1) as st:
                await asyncio.sleep(1.0)
                assert hook.snapshot() == []
                # the child's link goes first: the child must wait for its parent's verdict
                await asyncio.to_thread(ap.link_down)
                await asyncio.to_thread(router.link_down)
                await asyncio.to_thread(hook.wait_for, lambda rs: len(rs) >= 1, 5, "router alert")
                await asyncio.sleep(1.0)  # time for a (wrong) child notification to show up
                assert [a[:3] for a in _hook_alerts(hook)] == [
                    ("target_down", "router-1", "firing")
                ]
                assert st.active("target_down", "ap-1") == 1  # recorded and exposed all the same
                # the router comes back, the AP is still down: now the AP is its own problem
                await asyncio.to_thread(router.link_up)
                await asyncio.to_thread(
                    hook.wait_for,
                    lambda rs: len(hook.alerts()) >= 3,
                    5,
                    "router resolved and ap alert",
                )
                await asyncio.to_thread(ap.link_up)
                await asyncio.to_thread(
                    hook.wait_for, lambda rs: len(hook.alerts()) >= 4, 5, "ap resolved"
                )
                return st

        st = asyncio.run(main())
        body = hook.alerts()
    assert [a[:3] for a in _hook_alerts(hook)] == [
        ("target_down", "router-1", "firing"),
        ("target_down", "router-1", "resolved"),
        ("target_down", "ap-1", "firing"),
        ("target_down", "ap-1", "resolved"),
    ] or [a[:3] for a in _hook_alerts(hook)] == [
        ("target_down", "router-1", "firing"),
        ("target_down", "ap-1", "firing"),
        ("target_down", "router-1", "resolved"),
        ("target_down", "ap-1", "resolved"),
    ]
    assert "Equipos dependientes afectados (1): ap-1" in body[0]["description"]
    assert "la causa es router-1" in body[0]["description"]
    child_start = next(e for e in st.events if e.target == "ap-1" and e.kind.value == "start")
    assert child_start.silenced is True and child_start.notified is False
    assert "router-1" in child_start.message and "padre" in child_start.message


# -- flapping -------------------------------------------------------------------------------


def test_flapping_target_sends_one_flapping_alert_instead_of_a_stream() -> None:
    with WebhookReceiver(secret=SECRET.encode()) as hook:
        flapping = {"window": "4s", "threshold": 4, "clear_threshold": 0}

        async def main() -> tuple[Stack, int]:
            async with stack(_probe_targets("wan-1"), _alerts(hook, flapping=flapping)) as st:
                await asyncio.sleep(0.5)
                toggles = 0
                for _ in range(12):  # 12 changes, 0.45 s apart
                    if "wan-1" in st.down:
                        st.down.discard("wan-1")
                    else:
                        st.down.add("wan-1")
                    toggles += 1
                    await asyncio.sleep(0.45)
                sent_while_flapping = len(hook.alerts())
                st.down.discard("wan-1")
                # stable again: after the window the flapping alert resolves
                await asyncio.to_thread(
                    hook.wait_for,
                    lambda rs: (
                        ("target_down_flapping", "wan-1", "resolved", False) in _hook_alerts(hook)
                    ),
                    10,
                    "flapping resolved",
                )
                return st, sent_while_flapping

        st, sent_while_flapping = asyncio.run(main())
    got = _hook_alerts(hook)
    # down, up, down notified; the 4th change starts flapping: one alert, then silence
    assert got[:4] == [
        ("target_down", "wan-1", "firing", False),
        ("target_down", "wan-1", "resolved", False),
        ("target_down", "wan-1", "firing", False),
        ("target_down_flapping", "wan-1", "firing", False),
    ]
    assert sent_while_flapping == 4
    assert got[4:] == [
        ("target_down_flapping", "wan-1", "resolved", False),
        ("target_down", "wan-1", "resolved", False),
    ] or got[4:] == [
        ("target_down", "wan-1", "resolved", False),
        ("target_down_flapping", "wan-1", "resolved", False),
    ]
    flap = next(a for a in hook.alerts() if a["alertname"] == "target_down_flapping")
    assert flap["labels"]["rule"] == "target_down"
    assert "oscila" in flap["summary"]
    # every change was still recorded for the report, the held ones as silenced
    starts = [r for r in st.rows("target_down") if r[2] == "start"]
    assert len(starts) == 6
    assert [r[3] for r in starts] == [False, False, True, True, True, True]


# -- repeat interval ------------------------------------------------------------------------


def test_unresolved_alert_is_repeated_every_repeat_interval() -> None:
    with WebhookReceiver(secret=SECRET.encode()) as hook:
        repeat = 1.0

        async def main() -> None:
            alerts = _alerts(hook, repeat_interval=f"{repeat}s")
            async with stack(_probe_targets("srv-1"), alerts) as st:
                await asyncio.sleep(0.4)
                st.down.add("srv-1")
                await asyncio.to_thread(hook.wait_for, lambda rs: len(rs) >= 4, 6, "3 repeats")
                st.down.discard("srv-1")
                await asyncio.to_thread(
                    hook.wait_for,
                    lambda rs: rs[-1].json["alerts"][0]["status"] == "resolved",
                    5,
                    "resolution",
                )

        asyncio.run(main())
        reqs = hook.snapshot()
    got = _hook_alerts(hook)
    assert (
        got[:4]
        == [("target_down", "srv-1", "firing", False)]
        + [("target_down", "srv-1", "firing", True)] * 3
    )
    assert got[-1] == ("target_down", "srv-1", "resolved", False)
    firing = [r.received for r in reqs[:4]]
    gaps = [b - a for a, b in itertools.pairwise(firing)]
    assert all(repeat - 0.05 <= g <= repeat + 0.2 + 0.3 for g in gaps), gaps
    starts = {a["startsAt"] for a in hook.alerts()}
    assert len(starts) == 1  # the same alert, not new ones


# -- maintenance window ---------------------------------------------------------------------


def test_maintenance_window_mutes_then_notifies_when_it_ends() -> None:
    with WebhookReceiver(secret=SECRET.encode()) as hook:

        async def main() -> tuple[Stack, float]:
            end = time.time() + 2.0
            window = {
                "targets": ["sw-core-1"],
                "start": datetime.fromtimestamp(time.time() - 60, UTC).isoformat(),
                "end": datetime.fromtimestamp(end, UTC).isoformat(),
            }
            alerts = _alerts(hook, maintenance=[window])
            async with stack(_probe_targets("sw-core-1", "sw-core-2"), alerts) as st:
                await asyncio.sleep(0.4)
                st.down.update({"sw-core-1", "sw-core-2"})
                await asyncio.to_thread(hook.wait_for, lambda rs: len(rs) >= 1, 5, "sw-core-2")
                assert [a[1] for a in _hook_alerts(hook)] == ["sw-core-2"]
                await asyncio.to_thread(hook.wait_for, lambda rs: len(rs) >= 2, 5, "window end")
                return st, end

        st, end = asyncio.run(main())
        reqs = hook.snapshot()
    assert _hook_alerts(hook) == [
        ("target_down", "sw-core-2", "firing", False),
        ("target_down", "sw-core-1", "firing", False),
    ]
    assert reqs[1].received >= reqs[0].received
    assert time.time() >= end
    assert ("target_down", "sw-core-1", "start", True, False) in st.rows()
    msg = next(e.message for e in st.events if e.target == "sw-core-1")
    assert "ventana de mantenimiento" in msg


# -- run-time silences over the control socket ----------------------------------------------


def test_silence_added_with_the_cli_mutes_and_removing_it_notifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    sock = tmp_path / "control.sock"

    def cli(*argv: str) -> int:
        return run(parser.parse_args(["silence", "--socket", str(sock), *argv]))

    with WebhookReceiver(secret=SECRET.encode()) as hook:

        async def main() -> Stack:
            async with stack(_probe_targets("db-1"), _alerts(hook)) as st:
                server = ControlServer(sock, st.engine)
                await server.start()
                try:
                    assert sock.stat().st_mode & 0o777 == 0o600
                    rc = await asyncio.to_thread(
                        cli,
                        "add",
                        "--target",
                        "db-1",
                        "--for",
                        "1h",
                        "--comment",
                        "cambio de disco",
                    )
                    assert rc == 0
                    st.down.add("db-1")
                    await _until(lambda: st.rows() != [], 5, "the muted alert start")
                    await asyncio.sleep(0.6)
                    assert hook.snapshot() == []
                    assert await asyncio.to_thread(cli, "list") == 0
                    sid = st.engine.silences.list(time.time())[0].id
                    assert await asyncio.to_thread(cli, "remove", sid) == 0
                    await asyncio.to_thread(hook.wait_for, lambda rs: len(rs) >= 1, 5, "alert")
                    assert await asyncio.to_thread(cli, "remove", sid) == 1
                finally:
                    await server.aclose()
                return st

        st = asyncio.run(main())
    out = capsys.readouterr()
    assert "silence " in out.out and "cambio de disco" in out.out and "target=db-1" in out.out
    assert "no silence with id" in out.err
    assert _hook_alerts(hook) == [("target_down", "db-1", "firing", False)]
    assert st.rows()[0] == ("target_down", "db-1", "start", True, False)
    assert not sock.exists()


def test_cli_without_a_daemon_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["silence", "--socket", str(tmp_path / "none.sock"), "list"])
    assert run(args) == 1
    assert "is the daemon running" in capsys.readouterr().err


# -- never blocking -------------------------------------------------------------------------


def test_an_unreachable_notifier_never_delays_the_others_or_the_loop() -> None:
    with WebhookReceiver(secret=SECRET.encode()) as hook:
        # a TCP listener that accepts and never answers: every POST times out
        import socket

        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        dead = f"http://127.0.0.1:{srv.getsockname()[1]}/hook"
        alerts = _alerts(hook)
        alerts["notify"] = [
            {"webhook": {"url": dead, "timeout": "1s", "name": "dead"}},
            *alerts["notify"],
        ]

        async def main() -> tuple[float, float]:
            async with stack(_probe_targets("r-1", "r-2"), alerts) as st:
                await asyncio.sleep(0.3)
                t0 = time.monotonic()
                st.down.update({"r-1", "r-2"})
                await asyncio.to_thread(
                    hook.wait_for,
                    lambda rs: len(hook.alerts()) >= 2,
                    5,
                    "both alerts on the working notifier",
                )
                delay = time.monotonic() - t0
                # the loop stays responsive: a 10 ms sleep takes about 10 ms
                lag = 0.0
                for _ in range(20):
                    s = time.monotonic()
                    await asyncio.sleep(0.01)
                    lag = max(lag, time.monotonic() - s - 0.01)
                return delay, lag

        delay, lag = asyncio.run(main())
        srv.close()
    assert delay < 1.5
    assert lag < 0.05
