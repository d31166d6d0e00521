"""Alert rules, config section, catalog, maintenance windows: pure logic and table tests.

The engine's behaviour with real timing and real peers is in test_alerting.py; here the
state is fed by `State.record` with the injected clock and `AlertEngine.evaluate()` is
called directly, to pin down conditions, hysteresis and message texts exactly.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from monitord.alerts.config import (
    AlertEvent,
    AlertsConfig,
    NotificationStatus,
    RuleKind,
    builtin_rules,
    catalog,
    render,
)
from monitord.alerts.engine import AlertEngine
from monitord.alerts.maintenance import Cron, MaintenanceWindow, SilenceStore
from monitord.alerts.rules import linear_fit
from monitord.alerts.texts import format_value
from monitord.configtypes import Language
from monitord.state import State
from monitord.types import Sample, SampleKind, Target, TargetKind
from tests.conftest import FakeClock
from tests.contract.declared import declared_reach

SW = Target("sw-1", "10.0.0.2", TargetKind.SWITCH, site="centro", tags=("core",))
SRV = Target("srv-1", "10.0.0.3", TargetKind.SERVER, site="norte")


# -- config ---------------------------------------------------------------------------------


def test_issue_config_keys_work_as_written() -> None:
    cfg = AlertsConfig.model_validate(
        {
            "rules": {"target_down": {"for": "60s"}},
            "notify": [
                {"alertmanager": {"url": "http://127.0.0.1:9093"}},
                {
                    "email": {
                        "smtp": "mail.example.gov.co:587",
                        "from": "monitord@example.gov.co",
                        "to": ["oncall@example.gov.co"],
                        "user": "monitord",
                        "password": "s3cret",
                    }
                },
                {"webhook": {"url": "https://hooks.example.gov.co/x", "secret": "k"}},
            ],
            "maintenance": [
                {"targets": ["sw-core-1"], "start": "2026-12-05T22:00", "end": "2026-12-06T02:00"}
            ],
        }
    )
    rules = cfg.effective_rules()
    assert rules["target_down"].for_ == 60.0
    assert rules["target_down"].severity.value == "critical"  # the rest of the built-in stays
    assert [n for n, _ in cfg.notifiers()] == ["alertmanager", "email", "webhook"]
    assert "s3cret" not in repr(cfg) and "s3cret" not in cfg.model_dump_json()


def test_every_builtin_rule_is_valid_and_has_texts_in_both_languages() -> None:
    rules = builtin_rules()
    assert set(rules) >= {
        "target_down",
        "interface_down",
        "interface_in_utilization",
        "icmp_loss",
        "icmp_rtt",
        "cpu_high",
        "memory_high",
        "filesystem_full",
        "filesystem_full_predicted",
        "database_down",
        "database_growth",
        "backup_stale",
        "tls_cert_expiring",
        "ups_on_battery",
        "temperature_high",
        "fan_failed",
        "power_supply_failed",
        "printer_supply_low",
    }
    texts = catalog()["rules"]
    for name, rule in rules.items():
        assert rule.check(name) == [], name
        for part in ("summary", "description"):
            for lang in ("es", "en"):
                assert texts[name][part][lang].strip(), (name, part, lang)
    for key in ("flapping", "_down", "_threshold", "_trend", "_growth"):
        assert set(texts[key]["summary"]) == {"es", "en"}


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"mine": {"metric": "x", "threshold": 1}}, "rules.mine: kind is required"),
        ({"mine": {"kind": "threshold", "threshold": 1}}, "needs metric"),
        ({"mine": {"kind": "threshold", "metric": "x"}}, "needs threshold"),
        ({"cpu_high": {"clear": 0.95}}, "clear must not be above threshold"),
        ({"Bad-Name": {"kind": "down"}}, "lower case"),
        ({"cpu_high": {"for": "soon"}}, "invalid duration"),
        ({"cpu_high": {"treshold": 0.5}}, "Extra inputs are not permitted"),
        ({"icmp_rtt": {"where": {"x": "("}}}, "invalid regular expression"),
    ],
    ids=[
        "no-kind",
        "no-metric",
        "no-threshold",
        "clear-above",
        "name",
        "duration",
        "typo",
        "regex",
    ],
)
def test_bad_rules_are_refused_with_the_reason(rules: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AlertsConfig.model_validate({"rules": rules})


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            {
                "email": {
                    "smtp": "m:25",
                    "from": "a@b.co",
                    "to": ["c@d.co"],
                    "user": "u",
                    "password": "p",
                    "tls": "none",
                }
            },
            "never sent in clear",
        ),
        ({"email": {"smtp": "m:587", "from": "a@b.co", "to": []}}, "at least 1"),
        (
            {"email": {"smtp": "m:587", "from": "not-an-address", "to": ["c@d.co"]}},
            "invalid e-mail address",
        ),
        ({"webhook": {"url": "ftp://x"}}, "invalid url"),
        ({"webhook": {"url": "http://x"}, "alertmanager": {"url": "http://y"}}, "exactly one"),
    ],
    ids=["plaintext-auth", "no-recipient", "bad-from", "bad-url", "two-in-one"],
)
def test_bad_notifiers_are_refused(item: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AlertsConfig.model_validate({"notify": [item]})


def test_disabling_a_builtin_and_adding_a_custom_rule() -> None:
    cfg = AlertsConfig.model_validate(
        {
            "rules": {
                "icmp_rtt": {"enabled": False},
                "temp_high": {
                    "kind": "threshold",
                    "metric": "monitord_x_celsius",
                    "threshold": 40,
                    "severity": "critical",
                },
            }
        }
    )
    rules = cfg.effective_rules()
    assert "icmp_rtt" not in rules
    assert rules["temp_high"].kind is RuleKind.THRESHOLD


# -- maintenance windows and silences -------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "when", "expected"),
    [
        ("0 22 * * sat", "2026-12-05 22:00", True),  # a Saturday
        ("0 22 * * sat", "2026-12-06 22:00", False),
        ("*/15 * * * *", "2026-12-06 10:45", True),
        ("*/15 * * * *", "2026-12-06 10:46", False),
        ("0 2 1 * *", "2026-12-01 02:00", True),
        ("0 2 1,15 jan-mar *", "2026-02-15 02:00", True),
        ("0 2 1,15 jan-mar *", "2026-04-15 02:00", False),
        ("0 3 1 * mon", "2026-12-07 03:00", True),  # dom OR dow when both are restricted
    ],
)
def test_cron_matches(expr: str, when: str, expected: bool) -> None:
    dt = datetime.fromisoformat(when)
    c = Cron.parse(expr)
    got = c.day_matches(dt.date()) and dt.hour in c.hours and dt.minute in c.minutes
    assert got is expected


@pytest.mark.parametrize(
    "expr", ["0 22 * *", "61 * * * *", "0 22 * * funday", "*/0 * * * *"], ids=str
)
def test_bad_cron_is_refused(expr: str) -> None:
    with pytest.raises(ValidationError, match="cron"):
        MaintenanceWindow.model_validate({"targets": ["x"], "schedule": expr, "duration": "1h"})


def _ts(local: str, tz: str = "America/Bogota") -> float:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(tz)).timestamp()


@pytest.mark.parametrize(
    ("window", "target", "when", "expected"),
    [
        (
            {"targets": ["sw-1"], "start": "2026-12-05T22:00", "end": "2026-12-06T02:00"},
            SW,
            "2026-12-06 01:59",
            True,
        ),
        (
            {"targets": ["sw-1"], "start": "2026-12-05T22:00", "end": "2026-12-06T02:00"},
            SW,
            "2026-12-06 02:00",
            False,
        ),
        (
            {"targets": ["sw-1"], "start": "2026-12-05T22:00", "end": "2026-12-06T02:00"},
            SRV,
            "2026-12-06 01:00",
            False,
        ),
        (
            {"sites": ["centro"], "schedule": "0 22 * * sat", "duration": "4h"},
            SW,
            "2026-12-06 01:30",
            True,
        ),  # Saturday 22:00 + 4 h, into Sunday
        (
            {"sites": ["centro"], "schedule": "0 22 * * sat", "duration": "4h"},
            SW,
            "2026-12-06 02:00",
            False,
        ),
        (
            {"tags": ["core"], "weekly": {"days": ["sun"], "start": "23:00", "end": "01:00"}},
            SW,
            "2026-12-07 00:30",
            True,
        ),  # Sunday 23:00 to Monday 01:00
        (
            {"tags": ["core"], "weekly": {"days": ["sun"], "start": "23:00", "end": "01:00"}},
            SW,
            "2026-12-08 00:30",
            False,
        ),
        (
            {
                "tags": ["core"],
                "alertnames": ["cpu_high"],
                "weekly": {"days": ["sun"], "start": "00:00", "end": "23:59"},
            },
            SW,
            "2026-12-06 12:00",
            False,
        ),  # only cpu_high is muted
    ],
)
def test_maintenance_windows(
    window: dict[str, Any], target: Target, when: str, expected: bool
) -> None:
    w = MaintenanceWindow.model_validate(window)
    assert w.active(target, "target_down", _ts(when), "America/Bogota") is expected


def test_window_without_scope_or_with_two_forms_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs targets"):
        MaintenanceWindow.model_validate({"start": "2026-01-01T00:00", "end": "2026-01-02T00:00"})
    with pytest.raises(ValidationError, match="exactly one"):
        MaintenanceWindow.model_validate(
            {
                "targets": ["x"],
                "schedule": "0 1 * * *",
                "duration": "1h",
                "start": "2026-01-01T00:00",
                "end": "2026-01-02T00:00",
            }
        )
    with pytest.raises(ValidationError, match="end must be after start"):
        MaintenanceWindow.model_validate(
            {"targets": ["x"], "start": "2026-01-02T00:00", "end": "2026-01-01T00:00"}
        )


def test_silences_persist_with_mode_0600_and_expire(tmp_path: Path) -> None:
    path = tmp_path / "silences.json"
    store = SilenceStore(path)
    s = store.add(starts_at=1000, ends_at=2000, sites=["centro"], comment="obra")
    assert path.stat().st_mode & 0o777 == 0o600
    again = SilenceStore(path)
    assert [x.id for x in again.list(1500)] == [s.id]
    assert again.muting(SW, "target_down", 1500) is not None
    assert again.muting(SRV, "target_down", 1500) is None
    assert again.list(2000) == []
    assert json.loads(path.read_text())["silences"] == []
    with pytest.raises(ValueError, match="needs --target"):
        store.add(starts_at=1, ends_at=2)


# -- rules over a real State, engine evaluated by hand ---------------------------------------


class Rig:
    """A State and an engine on a FakeClock, with every notification and event kept."""

    def __init__(self, alerts: dict[str, Any], clock: FakeClock) -> None:
        self.clock = clock
        self.state = State(clock, failures_to_down=1)
        self.state.set_targets([SW, SRV])
        self.events: list[AlertEvent] = []
        self.engine = AlertEngine(
            AlertsConfig.model_validate(alerts),
            self.state.snapshot,
            sink=self.events.extend,
            clock=clock,
            language=Language.ES,
        )

    def record(self, target: Target, collector: str, *samples: Sample, ok: bool = True) -> None:
        reach = declared_reach(collector)
        self.state.record(target, collector, samples, ok=ok, interval=60, reach=reach)

    def step(self, seconds: float) -> list[tuple[str, str, str]]:
        self.clock.advance(seconds)
        return [(n.alertname, n.target, n.status.value) for n in self.engine.evaluate()]


def _g(name: str, value: float, target: Target = SRV, **labels: str) -> Sample:
    return Sample(name, {"target": target.name, **labels}, value)


def test_threshold_for_and_hysteresis(clock: FakeClock) -> None:
    rig = Rig({"rules": {"cpu_high": {"for": "60s"}}}, clock)
    cpu = "monitord_host_cpu_utilization_ratio"
    rig.record(SRV, "host", _g(cpu, 0.95))
    assert rig.step(1) == []  # pending
    assert rig.step(30) == []
    assert rig.step(30) == [("cpu_high", "srv-1", "firing")]
    rig.record(SRV, "host", _g(cpu, 0.85))  # below the threshold, above `clear`
    assert rig.step(10) == []
    rig.record(SRV, "host", _g(cpu, 0.79))
    assert rig.step(10) == [("cpu_high", "srv-1", "resolved")]
    (start, end) = rig.events
    assert (start.kind.value, end.kind.value) == ("start", "resolve")
    assert start.message == "CPU alta en srv-1: 95,0 %"


def test_ratio_filesystem_rule_fires_per_mountpoint(clock: FakeClock) -> None:
    rig = Rig({"rules": {"filesystem_full": {"for": "0s"}}}, clock)
    avail, size = "monitord_host_filesystem_avail_bytes", "monitord_host_filesystem_size_bytes"
    rig.record(
        SRV,
        "host",
        _g(avail, 5, mountpoint="/"),
        _g(size, 100, mountpoint="/"),
        _g(avail, 50, mountpoint="/var"),
        _g(size, 100, mountpoint="/var"),
    )
    (n,) = rig.engine.evaluate()
    assert n.labels["mountpoint"] == "/"
    assert n.summary == "Disco casi lleno en srv-1 /: queda 5,0 %"


def test_interface_down_only_on_uplinks_and_names_the_alias(clock: FakeClock) -> None:
    rig = Rig({}, clock)
    up, info = "monitord_interface_oper_up", "monitord_interface_info"
    rig.record(
        SW,
        "snmp",
        _g(up, 0, SW, ifindex="1", ifname="Gi0/1"),
        _g(up, 0, SW, ifindex="2", ifname="Gi0/2"),
        Sample(
            info,
            {"target": "sw-1", "ifindex": "1", "ifname": "Gi0/1", "ifalias": "Uplink ETB fibra"},
            1,
            SampleKind.INFO,
        ),
        Sample(
            info,
            {"target": "sw-1", "ifindex": "2", "ifname": "Gi0/2", "ifalias": "oficina 12"},
            1,
            SampleKind.INFO,
        ),
    )
    assert rig.step(1) == []
    clock.advance(60)
    (n,) = rig.engine.evaluate()
    assert (n.alertname, n.labels["ifname"], n.labels["ifindex"]) == (
        "interface_down",
        "Gi0/1",
        "1",
    )
    assert "Gi0/1 (Uplink ETB fibra)" in n.description
    assert rig.events[0].message == "Enlace Gi0/1 caído en sw-1"


def test_filesystem_full_predicted_from_the_trend(clock: FakeClock) -> None:
    rig = Rig(
        {"rules": {"filesystem_full_predicted": {"window": "1h", "horizon": "1d", "for": "0s"}}},
        clock,
    )
    avail = "monitord_host_filesystem_avail_bytes"
    out = []
    for i in range(30):  # 1 GB lost every 5 minutes, 20 GB left at the end → about 1.7 h
        rig.record(SRV, "host", _g(avail, (50 - i) * 1e9, mountpoint="/data"))
        out += rig.step(300)
    assert out == [("filesystem_full_predicted", "srv-1", "firing")]
    assert "se llenará en" in rig.events[0].message


def test_database_growth_over_the_window(clock: FakeClock) -> None:
    rig = Rig({"rules": {"database_growth": {"window": "1h"}}}, clock)
    size = "monitord_database_size_bytes"
    out = []
    for i in range(13):  # +3 % every 5 minutes: 36 % in an hour
        rig.record(SRV, "postgres", _g(size, 1e9 * (1 + 0.03 * i), database="catastro"))
        out += rig.step(300)
    assert out == [("database_growth", "srv-1", "firing")]
    assert rig.events[0].message.startswith("La base catastro en srv-1 crece")


def test_missing_metric_never_fires_and_target_down_mutes_its_other_alerts(
    clock: FakeClock,
) -> None:
    rig = Rig({"rules": {"icmp_loss": {"for": "0s"}}}, clock)
    rig.record(SRV, "icmp", _g("monitord_icmp_packet_loss_ratio", 1.0), ok=False)
    assert rig.step(1) == [("target_down", "srv-1", "firing")]
    kinds = {(e.alertname, e.silenced) for e in rig.events}
    assert kinds == {("target_down", False), ("icmp_loss", True)}
    assert "el equipo no responde" in next(e for e in rig.events if e.silenced).message


def test_active_alert_metric(clock: FakeClock) -> None:
    from prometheus_client import CollectorRegistry

    reg = CollectorRegistry()
    state = State(clock, failures_to_down=1)
    state.set_targets([SW])
    engine = AlertEngine(AlertsConfig(), state.snapshot, registry=reg, clock=clock)
    state.record(SW, "icmp", [], ok=False, reach=declared_reach("icmp"))
    engine.evaluate()
    labels = {"alertname": "target_down", "target": "sw-1", "severity": "critical"}
    assert reg.get_sample_value("monitord_alert_active", labels) == 1
    assert reg.get_sample_value("monitord_alert_muted", labels) == 0
    state.record(SW, "icmp", [], ok=True, reach=declared_reach("icmp"))
    engine.evaluate()
    assert reg.get_sample_value("monitord_alert_active", labels) is None


def test_english_texts(clock: FakeClock) -> None:
    rig = Rig({"language": "en"}, clock)
    rig.record(SW, "icmp", ok=False)
    (n,) = rig.engine.evaluate()
    assert n.status is NotificationStatus.FIRING
    assert n.summary == "sw-1 is down"
    assert "does not answer: icmp" in n.description


# -- pure helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "lang", "text"),
    [
        (0.934, "ratio", Language.ES, "93,4 %"),
        (0.934, "ratio", Language.EN, "93.4 %"),
        (0.25, "seconds", Language.EN, "250 ms"),
        (5400, "seconds", Language.EN, "1.5 h"),
        (3 * 86400, "seconds", Language.ES, "3,0 d"),
        (1.5 * 2**30, "bytes", Language.EN, "1.5 GiB"),
        (2048, "bytes_per_second", Language.EN, "2.0 KiB/s"),
        (None, "ratio", Language.EN, "-"),
        (float("inf"), "seconds", Language.EN, "∞"),
    ],
)
def test_format_value(value: float | None, unit: str, lang: Language, text: str) -> None:
    assert format_value(value, unit, lang) == text


def test_linear_fit() -> None:
    fit = linear_fit([(0, 10), (1, 8), (2, 6)])
    assert fit is not None and fit[0] == pytest.approx(-2) and fit[1] == pytest.approx(10)
    assert linear_fit([(1, 1), (1, 2)]) is None


def test_render_leaves_unknown_placeholders_as_question_marks() -> None:
    assert render("{target} {nope}", {"target": "x"}) == "x ?"


def test_reconfigure_keeps_alert_state_and_applies_new_rules(clock: FakeClock) -> None:
    import asyncio

    rig = Rig({}, clock)
    rig.record(SW, "icmp", ok=False)
    assert rig.step(1) == [("target_down", "sw-1", "firing")]
    new = AlertsConfig.model_validate({"rules": {"target_down": {"severity": "warning"}}})
    asyncio.run(rig.engine.reconfigure(new, []))
    assert rig.step(1) == []  # still firing, already notified: no duplicate
    assert rig.engine.active() == [("target_down", "sw-1", "warning", False)]


def test_backup_stale_reads_the_agents_backup_checks_and_their_policy(
    clock: FakeClock, tmp_path: Path
) -> None:
    """The rule's inputs are exactly what the agent's backup check serves."""
    import os
    import time

    from collectors.hostagent.checks import Checks
    from collectors.hostagent.config import BackupCheck, SecurityConfig

    nightly, weekly = tmp_path / "nightly", tmp_path / "weekly"
    for folder, age_h in ((nightly, 30), (weekly, 30)):
        folder.mkdir()
        f = folder / "db.sql.gz"
        f.write_bytes(b"x" * 10)
        os.utime(f, (time.time() - age_h * 3600, time.time() - age_h * 3600))
    checks = Checks(
        SRV.name,
        {},
        {
            "nightly": BackupCheck(str(nightly), "*.sql.gz"),  # default policy 26 h
            "weekly": BackupCheck(str(weekly), "*.sql.gz", max_age=8 * 86400.0),
        },
        {},
        SecurityConfig(failed_logins="none", updates="none", firewall="none"),
    )
    checks.run_once()
    rig = Rig({"rules": {"backup_stale": {"for": "0s"}}}, clock)
    rig.record(SRV, "agent", *checks.samples())
    (n,) = rig.engine.evaluate()
    assert (n.alertname, n.target, n.labels["backup"]) == ("backup_stale", "srv-1", "nightly")


def test_evaluate_async_gives_the_loop_turns_and_the_same_alerts(clock) -> None:
    import asyncio

    def engine_with_state() -> tuple[AlertEngine, State]:
        state = State(clock, failures_to_down=1)
        state.set_targets([SW, SRV])
        reach = declared_reach("icmp")
        state.record(SW, "icmp", [], ok=False, reach=reach)  # target_down fires
        state.record(
            SRV,
            "icmp",
            [Sample("monitord_icmp_rtt_seconds", {"target": "srv-1"}, 5.0)],
            ok=True,
            reach=reach,
        )
        return AlertEngine(AlertsConfig(), state.snapshot, clock=clock), state

    sync_engine, _ = engine_with_state()
    sync_engine.evaluate()
    async_engine, _ = engine_with_state()

    async def run() -> int:
        turns = 0
        done = False

        async def ticker() -> None:
            nonlocal turns
            while not done:
                turns += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        await async_engine.evaluate_async()
        done = True
        await task
        return turns

    turns = asyncio.run(run())
    rules = len(async_engine._evaluators)
    assert rules > 10 and turns >= rules  # a turn for others after each rule
    assert async_engine.active() == sync_engine.active()
    assert ("target_down", "sw-1", "critical", False) in async_engine.active()
