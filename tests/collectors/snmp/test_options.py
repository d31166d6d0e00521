"""Option validation at config load: errors name the field, and never contain a secret."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import collectors.snmp as snmp
from collectors.snmp.client import AuthProtocol, Community, PrivProtocol, UsmUser
from collectors.snmp.options import Options, resolve_credentials
from monitord.config import parse_config_text, parse_options
from monitord.errors import ConfigError
from monitord.secrets import Secret
from monitord.types import Shared

SECRET = "Sup3r-s3cret-value"


def build(
    options: dict[str, object], settings: dict[str, object] | None = None
) -> snmp.SnmpCollector:
    shared = Shared()
    if settings is not None:
        shared.settings["snmp"] = settings
    return snmp.build(options, shared)


def error_of(options: dict[str, object], settings: dict[str, object] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        build(options, settings)
    return info.value


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"version": "2c"}, "community", "needs a community"),
        ({"version": 1, "community": ""}, "community", "needs a community"),
        ({"version": 3}, "user", "needs a user"),
        ({"version": 3, "user": "u", "community": SECRET}, "community", "not a community"),
        ({"version": "2c", "community": SECRET, "user": "u"}, "user", "SNMPv3 setting"),
        ({"version": 3, "user": "u", "auth_protocol": "SHA256"}, "auth_key", "needs auth_key"),
        (
            {"version": 3, "user": "u", "auth_key": SECRET},
            "auth_protocol",
            "auth_protocol is missing",
        ),
        (
            {
                "version": 3,
                "user": "u",
                "auth_protocol": "SHA",
                "auth_key": SECRET,
                "priv_protocol": "AES",
            },
            "priv_key",
            "needs priv_key",
        ),
        (
            {"version": 3, "user": "u", "priv_protocol": "AES", "priv_key": SECRET},
            "priv_protocol",
            "needs authentication",
        ),
        (
            {"version": 3, "user": "u", "auth_protocol": "SHA", "auth_key": "short"},
            "auth_key",
            "at least 8",
        ),
        (
            {"version": 3, "user": "u", "auth_protocol": "SHA1024", "auth_key": SECRET},
            "auth_protocol",
            "unknown",
        ),
        (
            {
                "version": 3,
                "user": "u",
                "auth_protocol": "SHA",
                "auth_key": SECRET,
                "priv_protocol": "ROT13",
                "priv_key": SECRET,
            },
            "priv_protocol",
            "unknown",
        ),
        ({"version": "4", "community": SECRET}, "version", "unknown SNMP version"),
        ({"community": SECRET, "port": 0}, "port", "between 1 and 65535"),
        ({"community": SECRET, "max_repetitions": 0}, "max_repetitions", "between 1 and 200"),
        ({"community": SECRET, "retries": 11}, "retries", "between 0 and 10"),
        (
            {"community": SECRET, "request_timeout": "5s", "walk_budget": "2s"},
            "walk_budget",
            "at least",
        ),
        ({"community": SECRET, "request_timeout": "fast"}, "request_timeout", "invalid duration"),
        ({"community": SECRET, "client": "netsnmp"}, "client", "native or pysnmp"),
        (
            {"community": SECRET, "profiles": ["system", "if_mib"]},
            "profiles",
            "unknown profile 'if_mib'",
        ),
        ({"community": SECRET, "profiles": []}, "profiles", "at least one profile"),
        (
            {"community": SECRET, "profiles": ["system"], "modules": ["system"]},
            "modules",
            "not both",
        ),
        ({"community": SECRET, "colour": "blue"}, "colour", "unknown key"),
        ({"community": SECRET, "auth": "campus"}, "auth", "not both"),
        ({"auth": "campus_v2"}, "auth", "unknown auth 'campus_v2'"),
    ],
)
def test_bad_options_name_the_field(options: dict[str, object], field: str, message: str) -> None:
    err = error_of(options)
    assert [i.field for i in err.issues] == [field], err
    assert message in str(err)
    assert SECRET not in str(err)


def test_good_inline_options_give_credentials() -> None:
    opts = parse_options(
        Options,
        {
            "version": 3,
            "user": "monitord",
            "auth_protocol": "sha-256",
            "auth_key": SECRET,
            "priv_protocol": "AES128",
            "priv_key": SECRET + "2",
            "context": "vlan-10",
        },
    )
    creds = resolve_credentials(opts, None)
    assert creds == UsmUser(
        "monitord",
        AuthProtocol.SHA256,
        Secret(SECRET),
        PrivProtocol.AES,
        Secret(SECRET + "2"),
        "vlan-10",
    )
    assert creds.security_level == "authPriv"
    assert resolve_credentials(
        parse_options(Options, {"version": 1, "community": SECRET}), None
    ) == Community(0, Secret(SECRET))
    assert SECRET not in repr(opts) and SECRET not in repr(creds)


def test_documented_defaults() -> None:
    o = Options()
    assert (
        o.version,
        o.port,
        o.max_repetitions,
        o.retries,
        o.request_timeout,
        o.walk_budget,
        o.label_refresh,
        o.client,
        o.profiles,
    ) == ("2c", 161, 25, 1, 1.0, None, 10, "native", None)


def test_named_auth_from_the_top_level_section(tmp_path: Path) -> None:
    keyfile = tmp_path / "priv"
    keyfile.write_text(SECRET + "-priv\n")
    settings = {
        "auths": {
            "campus_v3": {
                "version": 3,
                "username": "monitord",
                "auth_protocol": "SHA256",
                "auth_password": SECRET,
                "priv_protocol": "AES",
                "priv_password": f"file:{keyfile}",
                "security_level": "authPriv",
            },
            "legacy": {"version": "2c", "community": SECRET},
        }
    }
    c = build({"auth": "campus_v3", "profiles": ["system"]}, settings)
    assert c._describe == "version=3 user=monitord"
    assert build({"auth": "legacy"}, settings)._describe == "version=2c community"
    assert snmp.validate_settings(settings) == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {
                "version": 3,
                "username": "u",
                "auth_protocol": "SHA",
                "auth_password": SECRET,
                "priv_protocol": "AES",
            },
            "priv_protocol needs priv_key",
        ),
        ({"version": 3, "username": "u", "user": "v"}, "given twice"),
        (
            {
                "version": 3,
                "username": "u",
                "auth_protocol": "SHA",
                "auth_password": SECRET,
                "security_level": "authPriv",
            },
            "does not match",
        ),
        ({"version": 3, "usr": "u"}, "unknown key 'usr'"),
        (
            {
                "version": 3,
                "username": "u",
                "auth_protocol": "SHA",
                "auth_password": "file:/nonexistent/k",
            },
            "cannot read secret file",
        ),
    ],
)
def test_bad_named_auth_is_a_config_error(entry: dict[str, object], message: str) -> None:
    settings = {"auths": {"campus": entry}}
    err = error_of({"auth": "campus"}, settings)
    assert err.issues[0].field == "auth" and message in str(err) and "snmp.auths.campus" in str(err)
    assert SECRET not in str(err)
    issues = snmp.validate_settings(settings)
    assert [i.field for i in issues] == ["auths.campus"]


def test_config_file_errors_carry_file_line_and_field(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SNMP_AUTH", SECRET)
    text = """
targets:
  - name: core-sw-01
    address: 127.0.0.1
    collectors:
      snmp:
        version: 3
        user: monitord
        auth_protocol: SHA256
        auth_key: ${SNMP_AUTH}
        priv_protocol: AES
"""
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, "monitord.yaml", {"snmp": snmp.build}, Shared())
    [issue] = info.value.issues
    assert issue.field == "targets[0].collectors.snmp.priv_key"
    assert issue.path == "monitord.yaml" and issue.line == 6  # the collector block
    assert SECRET not in str(info.value) and SECRET not in caplog.text


def test_metrics_tables_follow_the_naming_rules() -> None:
    import re

    names = [m.name for m in snmp.SnmpCollector.metrics]
    assert len(names) == len(set(names))
    for m in snmp.SnmpCollector.metrics:
        assert re.match(r"^monitord_[a-z0-9_]+$", m.name)
        assert m.labels[0] == "target" and len(set(m.labels)) == len(m.labels)
        assert m.help and (m.help[0].isupper() or m.help[0].isdigit())
        assert (m.kind.value == "counter") == m.name.endswith("_total")
        assert (m.kind.value == "info") == m.name.endswith("_info")
        assert not {"type", "env", "region", "datacenter", "job", "instance"} & set(m.labels)
    shared_names = {
        "monitord_interface_in_bytes_total",
        "monitord_interface_out_bytes_total",
        "monitord_interface_in_packets_total",
        "monitord_interface_out_packets_total",
        "monitord_interface_in_errors_total",
        "monitord_interface_out_errors_total",
        "monitord_interface_in_discards_total",
        "monitord_interface_out_discards_total",
        "monitord_interface_oper_up",
        "monitord_interface_admin_up",
        "monitord_interface_speed_bytes",
    }
    for m in snmp.SnmpCollector.metrics:
        if m.name in shared_names:
            assert m.labels == ("target", "ifindex", "ifname")
