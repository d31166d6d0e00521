"""Config loading: strict validation, FILE:LINE: field: message errors, secrets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from monitord.config import Duration, SecretValue, load_config, parse_duration, parse_options
from monitord.errors import ConfigError
from monitord.secrets import Secret
from monitord.types import MetricSpec, Sample, Shared, Target


@dataclass(frozen=True, slots=True)
class _Opts:
    count: int = 3
    wait: Duration = 1.0
    password: SecretValue | None = None


class _Probe:
    kind: ClassVar[str] = "probe"
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()

    def __init__(self, options: _Opts) -> None:
        self.options = options

    async def collect(self, target: Target) -> list[Sample]:
        return []


def _build(options: Mapping[str, object], shared: Shared) -> _Probe:
    return _Probe(parse_options(_Opts, options))


REGISTRY = {"probe": _build}


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None):
    p = tmp_path / "m.yaml"
    p.write_text(text)
    return load_config(p, REGISTRY, Shared(), environ=env or {}), p


def _errors(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as ei:
        _load(tmp_path, text, env)
    p = tmp_path / "m.yaml"
    return [str(i).replace(str(p), "F") for i in ei.value.issues]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("500ms", 0.5),
        ("1h", 3600.0),
        ("2d", 172800.0),
        (15, 15.0),
        ("1.5s", 1.5),
    ],
)
def test_parse_duration_table(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["30", "5x", "-1s", "0s", "", True, "s"])
def test_parse_duration_rejects(bad: object) -> None:
    if bad == "30":  # a bare number string is seconds
        assert parse_duration(bad) == 30.0
        return
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_issue_example_loads(tmp_path: Path) -> None:
    cfg, _ = _load(
        tmp_path,
        """\
daemon:
  listen: 127.0.0.1:9877
  data_dir: ./var
  language: es
defaults: {interval: 60s, timeout: 5s}
targets:
  - name: gw-palacio
    address: 127.0.0.1
    kind: router
    site: Palacio Municipal
    parent: null
    collectors:
      probe: {interval: 30s, count: 3}
""",
    )
    (tc,) = cfg.targets
    assert tc.target.name == "gw-palacio" and tc.target.site == "Palacio Municipal"
    (job,) = tc.collectors
    assert (job.kind, job.interval, job.timeout) == ("probe", 30.0, 5.0)
    assert job.collector.options == _Opts(count=3)


def test_a_section_with_only_comments_takes_its_defaults(tmp_path: Path) -> None:
    cfg, _ = _load(
        tmp_path,
        "history:\n  # retention_months: 13\nreports:\nalerts:\ntargets: []\n",
    )
    assert cfg.history.retention_months == 13
    assert cfg.reports.paper == "A4"


def test_every_error_has_file_line_field(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        """\
daemon:
  listen: 127.0.0.1:99999
  colour: blue
defaults: {interval: 10 parsecs}
targets:
  - name: a
    address: 127.0.0.1
    kind: toaster
""",
    )
    assert errors == [
        "F:2: daemon.listen: port 99999 out of range 1-65535",
        "F:3: daemon.colour: unknown key",
        "F:4: defaults.interval: invalid duration '10 parsecs': expected a number and a unit (ms, s, m, h, d), e.g. 30s",
        "F:8: targets[0].kind: Input should be 'router', 'switch', 'firewall', 'server', 'database', 'ups', "
        "'website', 'access_point', 'printer', 'storage' or 'other'",
    ]


def test_semantic_errors(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        """\
targets:
  - name: a
    address: 127.0.0.1
    collectors:
      probe: {count: many, colour: red}
      nope: {}
  - name: a
    address: 127.0.0.2
    parent: ghost
    collectors:
      probe: {interval: 10s, timeout: 20s}
""",
    )
    assert errors == [
        "F:7: targets[1].name: duplicate target name 'a' (first defined at targets[0])",
        "F:9: targets[1].parent: unknown target 'ghost'",
        "F:5: targets[0].collectors.probe.count: Input should be a valid integer, unable to parse string as an integer",
        "F:5: targets[0].collectors.probe.colour: unknown key",
        "F:6: targets[0].collectors.nope: unknown collector 'nope' (known: probe)",
        "F:11: targets[1].collectors.probe.timeout: timeout 20s is longer than interval 10s",
    ]


def test_bad_address_and_duplicate_key(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        """\
targets:
  - name: a
    address: 300.1.1.1
    address: 127.0.0.1
""",
    )
    assert "F:4: targets[0].address: duplicate key 'address'" in errors


def test_parent_cycle(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        """\
targets:
  - {name: a, address: 127.0.0.1, parent: b}
  - {name: b, address: 127.0.0.2, parent: a}
""",
    )
    assert errors == ["F:2: targets[0].parent: parent cycle: a -> b -> a"]


def test_undefined_env_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        """\
targets:
  - name: a
    address: 127.0.0.1
    collectors:
      probe: {password: "${PROBE_PASSWORD}"}
""",
    )
    assert errors == [
        "F:5: targets[0].collectors.probe.password: environment variable PROBE_PASSWORD is not defined"
    ]


def test_secret_from_env_and_file_never_prints(tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("s3cr3t-from-file\n")
    text = f"""\
targets:
  - name: a
    address: 127.0.0.1
    collectors:
      probe: {{password: "${{PROBE_PASSWORD}}"}}
  - name: b
    address: 127.0.0.1
    collectors:
      probe: {{password: "file:{secret_file}"}}
"""
    cfg, _ = _load(tmp_path, text, {"PROBE_PASSWORD": "hunter2-env"})
    a, b = (t.collectors[0].collector.options.password for t in cfg.targets)
    assert isinstance(a, Secret) and a.reveal() == "hunter2-env"
    assert isinstance(b, Secret) and b.reveal() == "s3cr3t-from-file"
    dumped = (
        repr(cfg) + str(cfg.targets) + "".join(repr(t.collectors[0].options) for t in cfg.targets)
    )
    assert "hunter2-env" not in dumped and "s3cr3t-from-file" not in dumped
    assert "<secret>" in dumped


def test_missing_secret_file(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        """\
targets:
  - name: a
    address: 127.0.0.1
    collectors:
      probe: {password: "file:/nonexistent/monitord.pw"}
""",
    )
    assert errors == [
        "F:5: targets[0].collectors.probe.password: cannot read secret file /nonexistent/monitord.pw: No such file or directory"
    ]


def test_shard_filters_targets(tmp_path: Path) -> None:
    names = [f"t{i}" for i in range(30)]
    body = "".join(f"  - {{name: {n}, address: 127.0.0.1}}\n" for n in names)
    seen: list[str] = []
    for idx in range(3):
        cfg, _ = _load(tmp_path, f"daemon: {{shard: {{index: {idx}, count: 3}}}}\ntargets:\n{body}")
        seen += [t.target.name for t in cfg.targets]
    assert sorted(seen) == sorted(names)
    assert len({*seen}) == 30


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    errors = _errors(tmp_path, "targets:\n  - name: a\n   address: [\n")
    assert len(errors) == 1 and errors[0].startswith("F:3: invalid YAML")


def test_a_secret_written_as_text_is_refused_without_repeating_it(tmp_path: Path) -> None:
    text = """\
snmp:
  auths:
    lab: {version: 3, username: u, auth_protocol: SHA, auth_password: "hunter2-auth"}
alerts:
  notify:
    - webhook: {url: "http://127.0.0.1:9/hook", secret: hunter2-hook}
targets: []
"""
    errors = _errors(tmp_path, text)
    assert errors == [
        "F:3: snmp.auths.lab.auth_password: a secret is written as ${ENV_VAR} or file:/path,"
        " not as text in the config",
        "F:6: alerts.notify[0].webhook.secret: a secret is written as ${ENV_VAR} or file:/path,"
        " not as text in the config",
    ]
    assert not any("hunter2" in e for e in errors)
    # the same secrets as references load
    pw = tmp_path / "hook.secret"
    pw.write_text("hunter2-hook\n")
    ok = text.replace('"hunter2-auth"', '"${AUTH}"').replace("hunter2-hook", f"file:{pw}")
    cfg, _ = _load(tmp_path, ok, {"AUTH": "hunter2-auth"})
    ((name, hook),) = cfg.alerts.notifiers()
    assert name == "webhook" and hook.secret.reveal() == "hunter2-hook"  # type: ignore[union-attr]


def test_snmp_section_keys_are_checked(tmp_path: Path) -> None:
    errors = _errors(tmp_path, "snmp:\n  auths: {}\n  authz: {lab: {}}\ntargets: []\n")
    assert errors == ["F:3: snmp.authz: unknown key"]
    cfg, _ = _load(tmp_path, "snmp:\n  modules: {}\ntargets: []\n")
    assert cfg.targets == ()
