"""Issue 15, hostile configs: `monitord check-config` / `run` as a user runs them.

Durations (NaN, Inf, absurd), YAML alias bombs, non-UTF-8 files, secrets expanded once,
short or name-like communities, agent tokens over plain HTTP; plus the pieces that are
checked in process (staged reload settings, redaction by token).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectors import COLLECTORS
from monitord.config import load_config
from monitord.errors import ConfigError
from monitord.log import RedactionFilter
from monitord.types import Shared
from monitord.yamlload import MAX_EXPANDED_NODES

# Nine levels of nine: 9**9 (387 million) leaves from a file of a few hundred bytes.
BOMB = "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['x'] * 9)}]\n"
    for p, n in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def monitord(
    *args: str, env: dict[str, str] | None = None, limit_mb: int | None = None
) -> subprocess.CompletedProcess[str]:
    def cap() -> None:
        if limit_mb is not None:
            size = limit_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return subprocess.run(
        [sys.executable, "-m", "monitord", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        preexec_fn=cap,
    )


def check(path: Path, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    res = monitord("check-config", "-c", str(path), env=env)
    assert "Traceback" not in res.stderr, res.stderr
    return res.returncode, res.stderr.strip().splitlines()


def test_durations_refuse_nan_inf_and_absurd_with_file_line(tmp_path: Path) -> None:
    cfg = tmp_path / "m.yaml"
    cfg.write_text(
        "defaults:\n"
        "  interval: .nan\n"
        "targets:\n"
        "  - {name: a, address: 127.0.0.1, collectors: {icmp: {interval: .inf}}}\n"
        "  - {name: b, address: 127.0.0.2, collectors: {icmp: {interval: 9999999999d}}}\n"
        "  - {name: c, address: 127.0.0.3, collectors: {icmp: {packet_timeout: -.inf}}}\n"
    )
    code, lines = check(cfg)
    assert code == 1
    assert (
        f"{cfg}:2: defaults.interval: duration must be a finite number (not .nan or .inf)" in lines
    )
    assert (
        f"{cfg}:4: targets[0].collectors.icmp.interval: duration must be a finite number"
        " (not .nan or .inf)" in lines
    )
    assert (
        f"{cfg}:5: targets[1].collectors.icmp.interval: duration '9999999999d' is too long:"
        " at most 3650d" in lines
    )
    assert any(
        line.startswith(f"{cfg}:6: targets[2].collectors.icmp.packet_timeout:") for line in lines
    )
    assert lines[-1] == f"{cfg}: 4 error(s)"
    # `run` refuses the same file with exit code 2, without a traceback.
    res = monitord("run", "-c", str(cfg))
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "defaults.interval: duration must be a finite number" in res.stderr


def test_alias_bomb_refused_quickly_in_little_memory(tmp_path: Path) -> None:
    cfg = tmp_path / "bomb.yaml"
    cfg.write_text(BOMB + "targets: []\n")
    assert len(cfg.read_bytes()) < 400
    t0 = time.monotonic()
    # 1 GiB of address space: expanding the bomb would need far more (8.9 GB measured).
    res = monitord("check-config", "-c", str(cfg), limit_mb=1024)
    took = time.monotonic() - t0
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr and "MemoryError" not in res.stderr
    # Nodes once expanded: each level is a sequence of 9 of the level below; plus the keys,
    # the root mapping and `targets: []`.
    level = [10]
    for _ in range(8):
        level.append(1 + 9 * level[-1])
    nodes = 1 + sum(1 + n for n in level) + 2
    assert (
        f"{cfg}:1: invalid YAML: aliases (*name) expand to {nodes} nodes, more than the"
        f" limit of {MAX_EXPANDED_NODES}: refused" in res.stderr
    )
    assert took < 30
    recursive = tmp_path / "rec.yaml"
    recursive.write_text("targets: &t [*t]\n")
    code, lines = check(recursive)
    assert code == 1 and "an alias refers to a node that contains it" in lines[0]
    # Ordinary anchors still work.
    ok = tmp_path / "ok.yaml"
    ok.write_text(
        "defaults: &d {interval: 30s}\n"
        "targets:\n"
        "  - {name: a, address: 127.0.0.1, collectors: &c {icmp: {count: 1}}}\n"
        "  - {name: b, address: 127.0.0.2, collectors: *c}\n"
    )
    code, lines = check(ok)
    assert code == 0, lines


def test_non_utf8_config_clean_error_and_exit_codes(tmp_path: Path) -> None:
    cfg = tmp_path / "latin1.yaml"
    cfg.write_bytes(
        "daemon:\n  listen: 127.0.0.1:9999\ntargets:\n  - {name: caf\xe9, address: 127.0.0.1}\n".encode(
            "latin-1"
        )
    )
    code, lines = check(cfg)
    assert (code, lines) == (
        1,
        [f"{cfg}:4: not UTF-8 (byte 0xe9): save it as UTF-8", f"{cfg}: 1 error(s)"],
    )
    res = monitord("run", "-c", str(cfg))
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert f"config error: {cfg}:4: not UTF-8 (byte 0xe9)" in res.stderr


def test_one_bad_section_does_not_hide_the_others(tmp_path: Path) -> None:
    cfg = tmp_path / "m.yaml"
    cfg.write_text(
        "daemon:\n"
        "  listen: nowhere\n"
        "snmp:\n"
        "  auths:\n"
        "    lan: {community: '${MONITORD_T15_COMM}'}\n"
        "colour: red\n"
        "targets:\n"
        "  - {name: a, address: 127.0.0.1, collectors: {snmp: {auth: lan}}}\n"
        "  - {name: b, address: 127.0.0.1, collectors: {snmp: {auth: wan}}}\n"
    )
    code, lines = check(cfg, env={"MONITORD_T15_COMM": "lan-community-1"})
    assert code == 1
    assert (
        f"{cfg}:2: daemon.listen: invalid listen address 'nowhere': expected HOST:PORT or [IPv6]:PORT"
        in lines
    )
    assert f"{cfg}:6: colour: unknown key" in lines
    # The snmp section was valid: target a is fine, target b's unknown auth is reported.
    assert any(
        line.startswith(f"{cfg}:9: targets[1].collectors.snmp.auth: unknown auth 'wan'")
        for line in lines
    )
    assert lines[-1] == f"{cfg}: 3 error(s)"


def test_secrets_expanded_once_literals_refused_values_never_echoed(tmp_path: Path) -> None:
    cfg = tmp_path / "m.yaml"
    cfg.write_text(
        "targets:\n"
        "  - {name: a, address: 127.0.0.1, collectors: {snmp: {community: 'lit${MONITORD_T15_EMPTY}'}}}\n"
        "  - {name: b, address: 127.0.0.1, collectors: {snmp: {community: '${MONITORD_T15_FILE}'}}}\n"
        "  - {name: c, address: 127.0.0.1, collectors: {snmp: {community: '${MONITORD_T15_REF}'}}}\n"
    )
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("text-from-the-file\n")
    env = {
        "MONITORD_T15_EMPTY": "",
        "MONITORD_T15_FILE": f"file:{secret_file}",  # taken as text, never read
        "MONITORD_T15_REF": "pre${MONITORD_T15_HIDDEN}post",  # taken as text, never expanded
    }
    res = monitord("check-config", "-c", str(cfg), env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines == [
        f"{cfg}:2: targets[0].collectors.snmp.community: a secret is written as ${{ENV_VAR}}"
        " or file:/path, not as text in the config",
        f"{cfg}:2: targets[0].collectors.snmp.community: version 2c needs a community"
        " (e.g. community: ${SNMP_COMMUNITY})",
        f"{cfg}: 2 error(s)",
    ]
    # Neither variable's value, nor the file it names, nor what that file holds.
    for text in (str(secret_file), "MONITORD_T15_HIDDEN", "prepost", "text-from-the-file"):
        assert text not in res.stderr
    # In process: b's community is the variable's text itself, c's too.
    ok = tmp_path / "ok.yaml"
    ok.write_text("".join(cfg.read_text().splitlines(keepends=True)[i] for i in (0, 2, 3)))
    loaded = load_config(ok, COLLECTORS, Shared(), environ=env)
    communities = [tc.collectors[0].options.community.reveal() for tc in loaded.targets]
    assert communities == [f"file:{secret_file}", "pre${MONITORD_T15_HIDDEN}post"]


def test_short_or_name_like_communities_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "m.yaml"
    cfg.write_text(
        "targets:\n"
        "  - {name: a, address: 127.0.0.1, collectors: {snmp: {community: '${MONITORD_T15_SHORT}'}}}\n"
        "  - {name: sede1-core, address: 127.0.0.2, collectors: {snmp: {community: '${MONITORD_T15_NAME}'}}}\n"
    )
    code, lines = check(cfg, env={"MONITORD_T15_SHORT": "abc", "MONITORD_T15_NAME": "sede1-core"})
    assert code == 1
    assert lines == [
        f"{cfg}:3: targets[1].name: is the text of a secret of this config (a community, key"
        " or password): change the secret or the name",
        f"{cfg}:2: targets[0].collectors.snmp.community: a community must be at least 4"
        " characters (a shorter one is guessed at once, and its text would mask words in the log)",
        f"{cfg}: 2 error(s)",
    ]


def test_redaction_by_token_keeps_names_that_contain_a_secret() -> None:
    red = RedactionFilter()
    red.set_secrets(["sede1", "p@ss!w0rd"])
    assert red.redact("poll failed target=sede1-router reason=timeout") == (
        "poll failed target=sede1-router reason=timeout"
    )
    assert red.redact("host sede1.example.org") == "host sede1.example.org"
    assert (
        red.redact("bad community sede1 from 127.0.0.1") == "bad community <secret> from 127.0.0.1"
    )
    assert (
        red.redact("dsn postgres://u:p@ss!w0rd@127.0.0.1/x")
        == "dsn postgres://u:<secret>@127.0.0.1/x"
    )
    assert red.redact("it was sede1.") == "it was <secret>."


def test_agent_token_over_plain_http_off_host_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "m.yaml"
    body = (
        "targets:\n"
        "  - {name: a, address: srv1.example.invalid, collectors: {agent: {kind: node_exporter, token: '${MONITORD_T15_TOK}'}}}\n"
        "  - {name: b, address: 127.0.0.1, collectors: {agent: {kind: node_exporter, token: '${MONITORD_T15_TOK}'}}}\n"
        "  - {name: c, address: srv2.example.invalid, collectors: {agent: {kind: node_exporter, token: '${MONITORD_T15_TOK}', allow_plain_http: true}}}\n"
        "  - {name: d, address: srv3.example.invalid, collectors: {agent: {kind: node_exporter}}}\n"
    )
    cfg.write_text(body)
    code, lines = check(cfg, env={"MONITORD_T15_TOK": "a-long-agent-token"})
    assert code == 1
    assert lines == [
        f"{cfg}:2: targets[0].collectors.agent.token: the token would cross the network in clear"
        " text: use https:// (agent --tls-cert/--tls-key) or set allow_plain_http: true",
        f"{cfg}: 1 error(s)",
    ]


def test_refused_parse_leaves_the_live_settings_alone(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "targets:\n"
        "  - {name: a, address: 127.0.0.1, collectors: {icmp: {count: 1}}}\n"
        "  - {name: b, address: 127.0.0.2, collectors: {icmp: {count: 1}}}\n"
    )
    shared = Shared()
    load_config(good, COLLECTORS, shared)
    live = shared.settings
    assert live["target_addresses"] == ["127.0.0.1", "127.0.0.2"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "targets:\n  - {name: c, address: 127.0.0.3, collectors: {icmp: {interval: .nan}}}\n"
    )
    staged = shared.staged()
    with pytest.raises(ConfigError):
        load_config(bad, COLLECTORS, staged)
    assert shared.settings is live and live["target_addresses"] == ["127.0.0.1", "127.0.0.2"]
    third = tmp_path / "third.yaml"
    third.write_text("targets:\n  - {name: z, address: 127.0.0.9, collectors: {icmp: {}}}\n")
    staged = shared.staged()
    load_config(third, COLLECTORS, staged)
    assert live["target_addresses"] == ["127.0.0.1", "127.0.0.2"]  # not before commit
    staged.commit()
    assert shared.settings["target_addresses"] == ["127.0.0.9"]
    assert staged.settings is shared.settings
