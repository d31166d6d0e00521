"""The core side of device events: matching, folding, windows, findings, retention, config."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monitord.config import parse_config_text
from monitord.errors import ConfigError
from monitord.events.config import EventsConfig
from monitord.events.service import UNKNOWN_SOURCE_CHECK, EventsService
from monitord.events.store import DAY_CAP
from monitord.history.db import History
from monitord.state import State
from monitord.types import (
    DeviceEvent,
    DeviceEventKind,
    EventOrigin,
    Severity,
    Shared,
    Target,
    TargetKind,
)
from tests.conftest import FakeClock

SW = Target("sw", "127.0.0.3", TargetKind.SWITCH)
FW = Target("fw", "127.0.0.1", TargetKind.FIREWALL)
K = DeviceEventKind


def ev(clock: FakeClock, kind: K = K.FAILED_LOGIN, address: str = "127.0.0.3", name: str = "x",
       agent: str = "", repoll: bool = False, **fields: str) -> DeviceEvent:  # fmt: skip
    return DeviceEvent(clock.time(), EventOrigin.SYSLOG, address, kind, name, "m", agent,
                       Severity.MEDIUM, fields, repoll)  # fmt: skip


def service(tmp_path: Path, clock: FakeClock, **cfg: object) -> tuple[EventsService, list[str]]:
    asked: list[str] = []
    h = History(tmp_path / "h.db")
    svc = EventsService(
        EventsConfig.model_validate(cfg),
        [SW, FW],
        State(clock),
        CollectorRegistry(),
        history=h,
        repoll=lambda t: asked.append(t) is None,
        clock=clock,
    )
    return svc, asked


def rows(svc: EventsService) -> list[tuple[str, str, int]]:
    assert svc.store is not None
    return [(e.target or e.address, e.name, e.count) for e in svc.store.events()]


def test_match_by_address_then_agent_addr_or_hostname(tmp_path: Path, clock: FakeClock) -> None:
    svc, _ = service(tmp_path, clock)
    assert svc.match(ev(clock, address="127.0.0.3")) == SW
    assert svc.match(ev(clock, address="127.0.0.9", agent="127.0.0.1")) == FW
    assert svc.match(ev(clock, address="127.0.0.9", agent="FW.example.org")) == FW
    assert svc.match(ev(clock, address="127.0.0.9", agent="other")) is None


def test_duplicates_fold_within_the_window_then_open_a_new_row(
    tmp_path: Path, clock: FakeClock
) -> None:
    svc, _ = service(tmp_path, clock, dedupe_window="60s")
    svc.handle([ev(clock, name="linkDown", ifindex="3") for _ in range(5)])
    svc.handle([ev(clock, name="linkDown", ifindex="4")])
    asyncio.run(svc.flush())
    assert rows(svc) == [("sw", "linkDown", 5), ("sw", "linkDown", 1)]
    clock.advance(30)
    svc.handle([ev(clock, name="linkDown", ifindex="3")])
    asyncio.run(svc.flush())
    assert rows(svc) == [("sw", "linkDown", 6), ("sw", "linkDown", 1)]
    clock.advance(61)
    svc.handle([ev(clock, name="linkDown", ifindex="3")])
    asyncio.run(svc.flush())
    assert rows(svc) == [("sw", "linkDown", 6), ("sw", "linkDown", 1), ("sw", "linkDown", 1)]
    snap = svc.state.snapshot()
    assert snap.groups[("sw", "events")].series  # counted in the state, every one of them
    assert snap.value("sw", "events", "monitord_device_events_total", kind="failed_login") == 8


def test_recent_failed_logins_slide_out_of_the_window(tmp_path: Path, clock: FakeClock) -> None:
    svc, _ = service(tmp_path, clock, failed_logins_window="10m")
    svc.handle([ev(clock, user="a") for _ in range(4)])
    value = lambda: svc.state.snapshot().value(  # noqa: E731
        "sw", "events", "monitord_device_recent_failed_logins"
    )
    assert value() == 4
    clock.advance(300)
    svc.handle([ev(clock, user="b")])
    assert value() == 5
    clock.advance(320)
    asyncio.run(svc.refresh())
    assert value() == 1
    clock.advance(300)
    asyncio.run(svc.refresh())
    assert value() == 0
    total = svc.state.snapshot().value("sw", "events", "monitord_device_failed_logins_total")
    assert total == 5


def test_unknown_senders_become_findings(tmp_path: Path, clock: FakeClock) -> None:
    svc, _ = service(tmp_path, clock)
    svc.handle([ev(clock, address="127.0.0.50", kind=K.OTHER, name="1.3.6.1.4.1.9.0.1")] * 2)
    assert svc.unknown_senders == {"127.0.0.50": 2}
    assert asyncio.run(svc.record_findings()) == 1
    assert svc.history is not None
    (f,) = svc.history.findings()
    assert (f.check, f.target, f.severity) == (UNKNOWN_SOURCE_CHECK, "127.0.0.50", "medium")
    assert f.detail == "dispositivo desconocido envía syslog: address=127.0.0.50 messages=2"
    unknown = svc.registry.get_sample_value(
        "monitord_events_unknown_source_total", {"source": "syslog"}
    )
    assert unknown == 2


def test_rows_per_target_and_day_are_capped_and_counted(tmp_path: Path, clock: FakeClock) -> None:
    svc, _ = service(tmp_path, clock)
    svc.handle([ev(clock, user=str(i)) for i in range(DAY_CAP + 7)])
    asyncio.run(svc.flush())
    assert len(rows(svc)) == DAY_CAP
    dropped = svc.registry.get_sample_value(
        "monitord_events_dropped_total", {"reason": "history_cap"}
    )
    assert dropped == 7


def test_repoll_is_asked_at_most_once_per_gap(tmp_path: Path, clock: FakeClock) -> None:
    svc, asked = service(tmp_path, clock)
    svc.handle([ev(clock, kind=K.INTERFACE, repoll=True, ifindex="1") for _ in range(3)])
    clock.advance(2)
    svc.handle([ev(clock, kind=K.INTERFACE, repoll=True, ifindex="2")])
    assert asked == ["sw"]
    clock.advance(5)
    svc.handle([ev(clock, kind=K.INTERFACE, repoll=True, ifindex="2")])
    assert asked == ["sw", "sw"]
    svc, asked = service(tmp_path / "b", clock, repoll_on_link_change=False)
    svc.handle([ev(clock, kind=K.INTERFACE, repoll=True)])
    assert asked == []


def test_prune_applies_the_retention(tmp_path: Path, clock: FakeClock) -> None:
    svc, _ = service(tmp_path, clock)
    svc.handle([ev(clock, name="old")])
    asyncio.run(svc.flush())
    clock.advance(400 * 86400)
    svc.handle([ev(clock, name="new")])
    asyncio.run(svc.flush())
    assert asyncio.run(svc.prune()) == 1
    assert [r[1] for r in rows(svc)] == ["new"]


def test_events_are_off_by_default_and_validated_strictly() -> None:
    cfg = parse_config_text("targets: []\n", "m.yaml", {}, Shared())
    assert not cfg.events.enabled
    text = (
        "events:\n"
        "  traps:\n"
        "    listen: 127.0.0.1:99999\n"
        "    communities: [public]\n"
        "  syslog: {udp: '127.0.0.1:514', tpc: '127.0.0.1:514'}\n"
        "  rate_limit: 0\n"
    )
    with pytest.raises(ConfigError) as exc:
        parse_config_text(text, "m.yaml", {}, Shared())
    got = {(i.line, i.field): i.message for i in exc.value.issues}
    assert got == {
        (3, "events.traps.listen"): "port 99999 out of range 1-65535",
        (4, "events.traps.communities[0]"): "a secret is written as ${ENV_VAR} or file:/path, "
        "not as text in the config",
        (5, "events.syslog.tpc"): "unknown key",
        (6, "events.rate_limit"): "Input should be greater than 0",
    }


def test_check_config_reads_the_extra_patterns_file(tmp_path: Path) -> None:
    from monitord.config import load_config
    from monitord.daemon import CONFIG_CHECKS

    cfg = tmp_path / "m.yaml"
    cfg.write_text("events:\n  syslog: {udp: '127.0.0.1:5514'}\n  patterns: extra.yaml\n")
    (tmp_path / "extra.yaml").write_text("syslog:\n  - {name: x, kind: failed_login, regex: '('}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(cfg, {}, Shared(), checks=CONFIG_CHECKS)
    (issue,) = exc.value.issues
    assert issue.path.endswith("extra.yaml") and issue.field == "syslog.0.regex"
    assert issue.message.startswith("Value error, invalid regular expression")
    (tmp_path / "extra.yaml").write_text("syslog:\n  - {name: x, kind: failed_login, regex: 'y'}\n")
    assert load_config(cfg, {}, Shared(), checks=CONFIG_CHECKS).events.patterns == Path(
        "extra.yaml"
    )


def test_docs_list_every_built_in_entry() -> None:
    import yaml

    from tests.conftest import REPO

    table = yaml.safe_load((REPO / "collectors/events/patterns.yaml").read_text())
    doc = (REPO / "docs/events.md").read_text()
    for entry in table["syslog"]:
        assert f"| {entry['name']} |" in doc, entry["name"]
    for entry in table["traps"]:
        assert f"| {entry['oid']} | {entry['name']} | {entry['kind']} |" in doc, entry
