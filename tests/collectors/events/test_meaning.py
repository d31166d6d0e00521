"""The meaning table: every built-in syslog pattern on a real-looking line, traps by OID."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.events.meaning import load_table
from collectors.events.syslog import parse_syslog
from collectors.events.traps import decode_trap
from monitord.errors import ConfigError
from monitord.types import DeviceEventKind, EventOrigin, Severity
from tests.collectors.events.senders import capture_trap

K = DeviceEventKind


@pytest.mark.parametrize(
    ("line", "name", "kind", "fields"),
    [
        (b"<189>12: *Mar  1 00:01:02: %SEC_LOGIN-4-LOGIN_FAILED: Login failed [user: admin] "
         b"[Source: 127.0.0.9] [localport: 22] [Reason: Login Authentication Failed]",
         "cisco_login_failed", K.FAILED_LOGIN, {"user": "admin", "from": "127.0.0.9"}),
        (b"<36>Dec  3 03:40:00 sw-hp 00419 auth: Invalid user name/password on SSH session "
         b"user 'manager' from 127.0.0.8",
         "hp_login_failed", K.FAILED_LOGIN,
         {"service": "SSH", "user": "manager", "from": "127.0.0.8"}),
        (b"<36>Dec  3 03:40:00 cx-1 hpe-restd[41]: User admin login failed from 127.0.0.4",
         "aruba_cx_login_failed", K.FAILED_LOGIN, {"user": "admin", "from": "127.0.0.4"}),
        (b'<185>date=2026-12-03 time=03:40:00 devname="FGT60F" logid="0100032002" type="event" '
         b'subtype="system" level="alert" logdesc="Admin login failed" user="admin" '
         b'ui="ssh(127.0.0.3)" method="ssh" srcip=127.0.0.3 action="login" status="failed"',
         "fortigate_login_failed", K.FAILED_LOGIN, {"user": "admin", "from": "127.0.0.3"}),
        (b"<36>Dec  3 03:40:00 MikroTik system,error,critical login failure for user admin "
         b"from 127.0.0.6 via ssh",
         "mikrotik_login_failed", K.FAILED_LOGIN,
         {"user": "admin", "from": "127.0.0.6", "service": "ssh"}),
        (b"<38>Dec  3 03:40:00 mx-1 sshd[1234]: SSHD_LOGIN_FAILED: Login failed for user 'root' "
         b"from host '127.0.0.7'",
         "juniper_login_failed", K.FAILED_LOGIN, {"user": "root", "from": "127.0.0.7"}),
        (b"<38>Dec  3 03:40:00 srv-1 sshd[99]: Failed password for invalid user oracle from "
         b"127.0.0.2 port 51514 ssh2",
         "sshd_failed_password", K.FAILED_LOGIN, {"user": "oracle", "from": "127.0.0.2"}),
        (b"<189>33: *Mar  1 00:01:02: %SYS-5-CONFIG_I: Configured from console by admin on vty0",
         "cisco_config_changed", K.CONFIG_CHANGE, {"by": "console by admin on vty0"}),
        (b"<189>Dec  3 03:40:00 mx-1 mgd[5]: UI_COMMIT: User 'ops' requested 'commit' operation",
         "juniper_commit", K.CONFIG_CHANGE, {"user": "ops"}),
        (b"<189>Dec  3 03:40:00 MikroTik system,info address 127.0.0.10/8 added by admin",
         "mikrotik_config_changed", K.CONFIG_CHANGE, {"user": "admin"}),
        (b"<187>44: *Mar  1 00:01:02: %LINK-3-UPDOWN: Interface GigabitEthernet0/1, "
         b"changed state to down",
         "cisco_link_updown", K.INTERFACE, {"ifname": "GigabitEthernet0/1", "state": "down"}),
        (b"<186>45: %PLATFORM_ENV-1-PWR: Faulty internal power supply A",
         "cisco_environment", K.HEALTH, {}),
        (b"<190>47: %SYS-6-LOGGINGHOST_STARTSTOP: Logging to host 127.0.0.1 started",
         "", K.OTHER, {}),
        (b"<188>46: %ENVMON-4-FAN_LOW_RPM: Fan 2 not rotating",
         "cisco_environment", K.HEALTH, {}),
    ],
    ids=["cisco", "hp", "aruba-cx", "fortigate", "mikrotik", "juniper", "sshd", "cisco-config",
         "junos-commit", "mikrotik-config", "cisco-link", "cisco-psu", "no-match", "cisco-env"],
)  # fmt: skip
def test_syslog_patterns(line: bytes, name: str, kind: DeviceEventKind, fields: dict) -> None:
    table = load_table()
    ev = table.syslog_event(parse_syslog(line), "127.0.0.1", 1000.0)
    assert ev.kind is kind
    assert ev.origin is EventOrigin.SYSLOG
    if kind is not K.OTHER:
        assert ev.name == name
        assert dict(ev.fields) == fields
        assert ev.repoll == (kind is K.INTERFACE)


def test_link_down_trap_takes_ifindex_and_name_from_varbinds() -> None:
    data = capture_trap(
        ["-v", "2c", "-c", "public"],
        ["", "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.7", "i", "7",
         "1.3.6.1.2.1.31.1.1.1.1.7", "s", "Gi0/7"],
    )  # fmt: skip
    ev = load_table().trap_event(decode_trap(data), "127.0.0.1", 5.0)
    assert (ev.kind, ev.name, ev.severity, ev.repoll) == (
        K.INTERFACE,
        "linkDown",
        Severity.MEDIUM,
        True,
    )
    assert dict(ev.fields) == {"ifindex": "7", "ifname": "Gi0/7", "state": "down"}


def test_link_up_without_ifindex_varbind_takes_it_from_the_instance() -> None:
    data = capture_trap(
        ["-v", "2c", "-c", "public"],
        ["", "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.2.1.2.2.1.2.12", "s", "Fa0/12"],
    )
    ev = load_table().trap_event(decode_trap(data), "127.0.0.1", 5.0)
    assert dict(ev.fields) == {"ifindex": "12", "ifdescr": "Fa0/12", "state": "up"}


def test_unknown_trap_is_named_by_oid_with_its_varbinds() -> None:
    data = capture_trap(
        ["-v", "2c", "-c", "public"], ["", "1.3.6.1.4.1.99.0.5", "1.3.6.1.4.1.99.1.1", "s", "psu"]
    )
    ev = load_table().trap_event(decode_trap(data), "127.0.0.1", 5.0)
    assert (ev.kind, ev.name) == (K.OTHER, "1.3.6.1.4.1.99.0.5")
    assert dict(ev.fields) == {"1.3.6.1.4.1.99.1.1": "psu"}
    assert ev.message == "1.3.6.1.4.1.99.1.1=psu"


def test_extra_table_comes_first_and_is_validated(tmp_path: Path) -> None:
    extra = tmp_path / "patterns.yaml"
    extra.write_text(
        "traps:\n  - {oid: 1.3.6.1.4.1.99.0.5, name: acmePsuFailed, kind: health,"
        " severity: critical}\nsyslog:\n  - {name: acme_fail, kind: failed_login,"
        " regex: 'Failed password for (?P<user>\\S+)'}\n"
    )
    table = load_table(extra)
    ev = table.syslog_event(parse_syslog(b"<38>sshd: Failed password for bob from x"), "a", 1)
    assert (ev.name, dict(ev.fields)) == ("acme_fail", {"user": "bob"})
    assert table.traps[(1, 3, 6, 1, 4, 1, 99, 0, 5)].name == "acmePsuFailed"
    extra.write_text("syslog:\n  - {name: x, kind: nonsense, regex: '('}\n")
    with pytest.raises(ConfigError) as exc:
        load_table(extra)
    fields = {i.field for i in exc.value.issues}
    assert fields == {"syslog.0.kind", "syslog.0.regex"}
