"""YAML configuration → validated, frozen models.

Every error names the file, the line and the dotted field:
`config/monitord.yaml:42: targets[3].collectors.icmp.count: Input should be a valid integer`.
`load_config()` collects every error it can find before raising one `ConfigError`.

Secrets are `${ENV_VAR}` or `file:/path` references resolved into `Secret` values; an
undefined variable is an error naming the variable, never its value. Collector options
are validated by each collector's own factory (`COLLECTORS` is passed in, so this module
does not import the collectors); `parse_options()` is the helper the factories use.
Checks that belong to an output or a collector (the web config file, the top-level
`snmp:` section) are `ConfigCheck`s handed in by the wiring (`monitord.daemon.CONFIG_CHECKS`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, is_dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import (
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from monitord.alerts.config import AlertsConfig
from monitord.configtypes import (
    Address,
    Duration,
    Language,
    SecretValue,
    StrictModel,
    check_address,
    check_regex,
    format_duration,
    parse_duration,
)
from monitord.errors import ConfigError, ConfigIssue
from monitord.events.config import EventsConfig
from monitord.log import collect_secrets
from monitord.reports.settings import HistoryConfig, ReportsConfig, check_reports
from monitord.secrets import ENV_REF, ExpandedText, Secret, SecretError, expand_env, resolve_secret
from monitord.types import (
    ChecksTarget,
    Collector,
    CollectorFactory,
    SettingsFingerprint,
    Shared,
    Target,
    TargetKind,
)
from monitord.yamlfile import decode_utf8, parse_yaml

__all__ = [
    "CollectorConfig",
    "Config",
    "ConfigCheck",
    "DaemonConfig",
    "Defaults",
    "Duration",
    "EventsConfig",
    "Language",
    "SecretValue",
    "ShardConfig",
    "TargetConfig",
    "check_regex",
    "format_duration",
    "load_config",
    "parse_config_text",
    "parse_duration",
    "parse_listen",
    "parse_options",
    "shard_of",
    "web_config_path",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
# Per-collector keys handled by the scheduler, not by the collector's factory.
SCHEDULING_KEYS = ("interval", "timeout")

T = TypeVar("T")

# A check handed in by the wiring, run on every load: (config file path, the `daemon:`
# section, `shared.settings` with the top-level sections collectors read) -> issues.
# An issue without a path has a dotted field relative to the config's root; this module
# adds the file and line.
ConfigCheck = Callable[[str, "DaemonConfig", Mapping[str, object]], Iterable[ConfigIssue]]


def parse_listen(value: str) -> tuple[str, int]:
    """Parse `host:port` or `[v6]:port`; raise ValueError with a readable message."""
    m = re.match(r"^\[([0-9A-Fa-f:.]+)\]:(\d+)$", value) or re.match(r"^([^:\[\]]+):(\d+)$", value)
    if not m:
        raise ValueError(f"invalid listen address {value!r}: expected HOST:PORT or [IPv6]:PORT")
    host, port = m.group(1), int(m.group(2))
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range 1-65535")
    check_address(host)
    return host, port


def web_config_path(config_path: str | Path, daemon: DaemonConfig) -> Path | None:
    """`daemon.web_config` resolved against the directory of the config file."""
    if daemon.web_config is None:
        return None
    return Path(config_path).parent / daemon.web_config


def shard_of(name: str, count: int) -> int:
    """Stable shard index of a target name (SHA-1, independent of Python's hash seed)."""
    return int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:8], "big") % count


class ShardConfig(StrictModel):
    """This daemon's slice of the targets: those with `shard_of(name, count) == index`."""

    index: int = Field(0, ge=0)
    count: int = Field(1, ge=1)


class DaemonConfig(StrictModel):
    """`daemon:` — process-wide settings."""

    listen: str = "127.0.0.1:9877"
    data_dir: Path = Path("./var")
    language: Language = Language.ES
    timezone: str = "America/Bogota"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    startup_spread: Duration = 10.0
    shard: ShardConfig = ShardConfig()
    # TLS and basic auth on /metrics: a Prometheus exporter-toolkit web config file
    # (exporters/webconfig.py); a relative path is relative to this config file.
    web_config: Path | None = None
    concurrency: dict[str, Annotated[int, Field(ge=1, le=100_000)]] = {}
    # The /metrics server against hostile clients (monitord.httpguard): connections
    # served at once (more are closed on accept), and the whole-request deadline.
    http_max_connections: int = Field(64, ge=1, le=4096)
    http_request_timeout: Duration = 10.0

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        parse_listen(v)
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (e.g. America/Bogota)") from None
        return v


class Defaults(StrictModel):
    """`defaults:` — what each collector block inherits unless it says otherwise."""

    interval: Duration = 60.0
    timeout: Duration = 5.0
    failures_to_down: int = Field(2, ge=1, le=100)
    successes_to_up: int = Field(1, ge=1, le=100)
    stale_after: Duration | None = None  # None: 3 x the collector's interval


class _TargetModel(StrictModel):
    name: str
    address: Address
    kind: TargetKind = TargetKind.OTHER
    site: str = ""
    parent: str | None = None
    tags: list[str] = []
    critical: bool = False
    description: str = ""
    collectors: dict[str, dict[str, Any] | None] = {}

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                f"invalid target name {v!r}: letters, digits and _ . : - only,"
                " starting with a letter or digit"
            )
        return v


class SnmpSection(StrictModel):
    """`snmp:` — named credentials (`auths`) and YAML profiles (`modules`) for SNMP targets.

    Only the shape is checked here (no other keys, mappings by name); the snmp collector
    validates each auth and module when a target uses it.
    """

    auths: dict[str, dict[str, Any]] = {}
    modules: dict[str, Any] = {}


class _ConfigModel(StrictModel):
    daemon: DaemonConfig = DaemonConfig()
    defaults: Defaults = Defaults()
    targets: list[_TargetModel] = []
    # Credentials and modules shared by SNMP targets (snmp_exporter style), read by the
    # snmp collector's factory from `shared.settings["snmp"]`, which checks their content.
    snmp: SnmpSection = SnmpSection()
    alerts: AlertsConfig = AlertsConfig()
    history: HistoryConfig = HistoryConfig()
    reports: ReportsConfig = ReportsConfig()
    # Traps and syslog sent by the devices (monitord/events, collectors/events); off by default.
    events: EventsConfig = EventsConfig()


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """One (target, collector) job: scheduling, and the collector built from its options."""

    kind: str
    interval: float
    timeout: float
    options: object = field(repr=False)  # the collector's validated Options (secrets as Secret)
    collector: Collector = field(compare=False, repr=False)

    def same_job(self, other: CollectorConfig) -> bool:
        """True when a reload may keep the running job (same kind, timing and options,
        and the same settings outside the options, e.g. the SNMP profiles)."""
        return (
            self.kind,
            self.interval,
            self.timeout,
            self.options,
            _fingerprint(self.collector),
        ) == (
            other.kind,
            other.interval,
            other.timeout,
            other.options,
            _fingerprint(other.collector),
        )


def _fingerprint(collector: object) -> str:
    return collector.settings_fingerprint() if isinstance(collector, SettingsFingerprint) else ""


@dataclass(frozen=True, slots=True)
class TargetConfig:
    """A target and its collector jobs."""

    target: Target
    collectors: tuple[CollectorConfig, ...]


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration."""

    path: str
    daemon: DaemonConfig
    defaults: Defaults
    targets: tuple[TargetConfig, ...]
    all_target_names: frozenset[str] = frozenset()
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    secrets: tuple[Secret, ...] = field(default=(), repr=False)  # every secret of the file
    events: EventsConfig = field(default_factory=EventsConfig)

    def stale_after(self, interval: float) -> float:
        """How long a series survives without a refresh."""
        return self.defaults.stale_after or 3.0 * interval


def parse_options(cls: type[T], options: Mapping[str, object] | None) -> T:
    """Validate a collector's options into its frozen `Options` dataclass (unknown keys are errors).

    Fields annotated `Duration` accept `30s`-style strings, `SecretValue` fields accept
    `${ENV}`/`file:` references. Raise ConfigError whose issues name the option.
    """
    if not is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    adapter = _adapter(cls)
    try:
        return adapter.validate_python(dict(options or {}))
    except ValidationError as exc:
        raise ConfigError(
            [ConfigIssue("", 0, _loc(e["loc"]), _msg(e)) for e in exc.errors()]
        ) from None


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[T]) -> TypeAdapter[T]:
    if cls not in _ADAPTERS:
        if "__pydantic_config__" not in vars(cls):
            # Options dataclasses are strict: unknown keys are errors.
            cls.__pydantic_config__ = ConfigDict(extra="forbid", arbitrary_types_allowed=True)  # type: ignore[attr-defined]
        _ADAPTERS[cls] = TypeAdapter(cls)
    return _ADAPTERS[cls]


def load_config(
    path: str | Path,
    registry: Mapping[str, CollectorFactory],
    shared: Shared | None = None,
    environ: Mapping[str, str] | None = None,
    checks: Sequence[ConfigCheck] = (),
) -> Config:
    """Read, validate and build a config file; raise ConfigError listing every issue."""
    p = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            [ConfigIssue(p, 0, "", f"cannot read config file: {exc.strerror}")]
        ) from None
    text = decode_utf8(raw, p)
    return parse_config_text(text, p, registry, shared or Shared(), environ, checks)


def parse_config_text(
    text: str,
    path: str,
    registry: Mapping[str, CollectorFactory],
    shared: Shared,
    environ: Mapping[str, str] | None = None,
    checks: Sequence[ConfigCheck] = (),
) -> Config:
    """Validate config text (see `load_config`)."""
    issues: list[ConfigIssue] = []
    doc = parse_yaml(text, path)
    data = doc.data
    for dup, dup_line in doc.duplicates:
        issues.append(ConfigIssue(path, dup_line, _loc(dup), f"duplicate key {dup[-1]!r}"))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            [
                ConfigIssue(
                    path, 1, "", "the config must be a mapping (daemon:, defaults:, targets:)"
                )
            ]
        )

    line_of = doc.line_of

    data = _expand(data, (), environ, issues, path, line_of)
    secrets = collect_secrets(data)
    raw_targets = data.pop("targets", None) or []
    # A section left with only comments (`history:` and nothing under it) means its defaults.
    data = {k: v for k, v in data.items() if not (v is None and k in _ConfigModel.model_fields)}
    # Each section is validated on its own: a bad section falls back to its defaults
    # without hiding the errors the others' checks (targets, reports) would find.
    good: dict[str, object] = {}
    for key, value in data.items():
        try:
            _ConfigModel.model_validate({key: value})
            good[key] = value
        except ValidationError as exc:
            _add_validation_issues(exc, (), path, line_of, issues)
    model = _ConfigModel.model_validate(good)
    # Targets are validated one by one so that one bad target does not hide the
    # errors of the others (duplicates, unknown collectors, bad options).
    valid: list[tuple[int, _TargetModel]] = []
    if not isinstance(raw_targets, list):
        issues.append(
            ConfigIssue(path, line_of(("targets",)), "targets", "must be a list of targets")
        )
        raw_targets = []
    for i, raw in enumerate(raw_targets):
        try:
            valid.append((i, _TargetModel.model_validate(raw)))
        except ValidationError as exc:
            _add_validation_issues(exc, ("targets", i), path, line_of, issues)
    for i, t in valid:
        if t.name in secrets:
            # The log redaction masks a secret's text: every line naming this target
            # would be garbled. The message does not say which secret it is.
            issues.append(
                ConfigIssue(
                    path,
                    line_of(("targets", i, "name")),
                    f"targets[{i}].name",
                    "is the text of a secret of this config (a community, key or password):"
                    " change the secret or the name",
                )
            )

    # Written into `shared.settings`: on a reload that is a staged view (Shared.staged),
    # committed only when the whole reload succeeds.
    shared.settings["snmp"] = model.snmp.model_dump(exclude_unset=True)
    # Discovery sweeps report addresses that are not any configured target's.
    shared.settings["target_addresses"] = [t.address for _, t in valid]
    # The extra event meaning table, read by a check of the wiring (monitord.daemon).
    shared.settings["events_patterns"] = model.events.patterns
    # The whole section, for the wiring's checks of its v3 users and TLS files.
    shared.settings["events"] = model.events
    raw_names = {str(r["name"]) for r in raw_targets if isinstance(r, dict) and "name" in r}
    targets = _build_targets(model, valid, raw_names, registry, shared, path, line_of, issues)
    for loc, msg in check_reports(model.reports, model.alerts):
        issues.append(ConfigIssue(path, line_of(loc), _loc(loc), msg))
    for check in checks:
        for issue in check(path, model.daemon, shared.settings):
            if issue.path:
                issues.append(issue)
            else:
                line = line_of(_split_field(issue.field))
                issues.append(ConfigIssue(path, line, issue.field, issue.message))
    if issues:
        raise ConfigError(issues)
    return Config(
        path=path,
        daemon=model.daemon,
        defaults=model.defaults,
        targets=tuple(
            t
            for t in targets
            if shard_of(t.target.name, model.daemon.shard.count) == model.daemon.shard.index
        ),
        all_target_names=frozenset(t.target.name for t in targets),
        alerts=model.alerts,
        history=model.history,
        reports=model.reports,
        secrets=tuple(Secret(s) for s in sorted(secrets)),
        events=model.events,
    )


def _add_validation_issues(
    exc: ValidationError,
    prefix: tuple[str | int, ...],
    path: str,
    line_of: Callable[[Sequence[str | int]], int],
    issues: list[ConfigIssue],
) -> None:
    for e in exc.errors():
        loc = (*prefix, *e["loc"])
        issues.append(ConfigIssue(path, line_of(loc), _loc(loc), _msg(e)))


def _build_targets(
    model: _ConfigModel,
    valid: list[tuple[int, _TargetModel]],
    raw_names: set[str],
    registry: Mapping[str, CollectorFactory],
    shared: Shared,
    path: str,
    line_of: Callable[[Sequence[str | int]], int],
    issues: list[ConfigIssue],
) -> list[TargetConfig]:
    if model.daemon.shard.index >= model.daemon.shard.count:
        issues.append(
            ConfigIssue(
                path,
                line_of(("daemon", "shard", "index")),
                "daemon.shard.index",
                "must be less than daemon.shard.count",
            )
        )
    seen: dict[str, int] = {}
    for i, t in valid:
        if t.name in seen:
            issues.append(
                ConfigIssue(
                    path,
                    line_of(("targets", i, "name")),
                    f"targets[{i}].name",
                    f"duplicate target name {t.name!r} (first defined at targets[{seen[t.name]}])",
                )
            )
        else:
            seen[t.name] = i
    for i, t in valid:
        if t.parent is not None and t.parent not in seen and t.parent not in raw_names:
            issues.append(
                ConfigIssue(
                    path,
                    line_of(("targets", i, "parent")),
                    f"targets[{i}].parent",
                    f"unknown target {t.parent!r}",
                )
            )
        elif t.parent == t.name:
            issues.append(
                ConfigIssue(
                    path,
                    line_of(("targets", i, "parent")),
                    f"targets[{i}].parent",
                    "a target cannot be its own parent",
                )
            )
    issues.extend(_parent_cycles(valid, path, line_of))

    out: list[TargetConfig] = []
    for i, t in valid:
        target = Target(
            name=t.name,
            address=t.address,
            kind=t.kind,
            site=t.site,
            parent=t.parent,
            tags=tuple(t.tags),
            critical=t.critical,
            description=t.description,
        )
        jobs: list[CollectorConfig] = []
        for kind, raw in t.collectors.items():
            base = ("targets", i, "collectors", kind)
            fld = f"targets[{i}].collectors.{kind}"
            factory = registry.get(kind)
            if factory is None:
                known = ", ".join(sorted(registry))
                issues.append(
                    ConfigIssue(
                        path, line_of(base), fld, f"unknown collector {kind!r} (known: {known})"
                    )
                )
                continue
            opts = dict(raw or {})
            try:
                interval = parse_duration(opts.pop("interval", model.defaults.interval))
            except ValueError as exc:
                issues.append(
                    ConfigIssue(path, line_of((*base, "interval")), f"{fld}.interval", str(exc))
                )
                continue
            try:
                timeout = parse_duration(opts.pop("timeout", min(model.defaults.timeout, interval)))
            except ValueError as exc:
                issues.append(
                    ConfigIssue(path, line_of((*base, "timeout")), f"{fld}.timeout", str(exc))
                )
                continue
            if timeout > interval:
                issues.append(
                    ConfigIssue(
                        path,
                        line_of((*base, "timeout")),
                        f"{fld}.timeout",
                        f"timeout {format_duration(timeout)} is longer than"
                        f" interval {format_duration(interval)}",
                    )
                )
                continue
            try:
                collector = factory(opts, shared)
                # Optional: checks that need the target (e.g. the agent's default url).
                if isinstance(collector, ChecksTarget):
                    collector.check_target(target)
            except ConfigError as exc:
                for issue in exc.issues:
                    sub = _split_field(issue.field)
                    issues.append(
                        ConfigIssue(
                            path,
                            line_of((*base, *sub)),
                            f"{fld}.{issue.field}" if issue.field else fld,
                            issue.message,
                        )
                    )
                continue
            validated = getattr(collector, "options", None)
            jobs.append(
                CollectorConfig(
                    kind, interval, timeout, validated if validated is not None else opts, collector
                )
            )
        out.append(TargetConfig(target, tuple(jobs)))
    return out


def _parent_cycles(
    valid: list[tuple[int, _TargetModel]], path: str, line_of: Callable[[Sequence[str | int]], int]
) -> Iterator[ConfigIssue]:
    parents = {t.name: t.parent for _, t in valid}
    index = {t.name: i for i, t in valid}
    reported: set[str] = set()
    for name in parents:
        chain, cur = [name], parents.get(name)
        while cur is not None and cur in parents and cur not in chain and cur != name:
            chain.append(cur)
            cur = parents.get(cur)
        if cur == name and len(chain) > 1 and not reported.intersection(chain):
            reported.update(chain)
            i = index[name]
            yield ConfigIssue(
                path,
                line_of(("targets", i, "parent")),
                f"targets[{i}].parent",
                "parent cycle: " + " -> ".join([*chain, name]),
            )


# Keys whose values are secrets wherever they appear (collector options, snmp.auths,
# notifiers): they must be references, so the config file itself holds no secret.
SECRET_KEYS: Final = frozenset(
    {"community", "auth_key", "priv_key", "auth_password", "priv_password", "password", "token",
     "secret"}
)  # fmt: skip
# Lists whose every item is a secret, by their path from the top of the file. Not every
# `communities` list: snmp_hygiene's lists well-known defaults such as `public`.
SECRET_LISTS: Final = frozenset({("events", "traps", "communities")})


def _expand(
    data: object,
    loc: tuple[str | int, ...],
    environ: Mapping[str, str] | None,
    issues: list[ConfigIssue],
    path: str,
    line_of: Callable[[Sequence[str | int]], int],
) -> Any:
    if isinstance(data, dict):
        return {
            k: _expand(v, (*loc, str(k)), environ, issues, path, line_of) for k, v in data.items()
        }
    if isinstance(data, list):
        return [_expand(v, (*loc, i), environ, issues, path, line_of) for i, v in enumerate(data)]
    if not isinstance(data, str):
        return data
    if data and _is_secret_location(loc):
        return _secret_ref(data, loc, environ, issues, path, line_of)
    if "${" in data:
        try:
            # Marked as already expanded: a `file:` or `${` in the variable's value is
            # text, never a second reference (SecretValue takes it literally).
            return ExpandedText(expand_env(data, environ))
        except SecretError as exc:
            issues.append(ConfigIssue(path, line_of(loc), _loc(loc), str(exc)))
            return ""
    return data


def _is_secret_location(loc: tuple[str | int, ...]) -> bool:
    """A secret key's value, or an item of a list in `SECRET_LISTS`."""
    if not loc:
        return False
    last = loc[-1]
    return last in SECRET_KEYS or (isinstance(last, int) and tuple(loc[:-1]) in SECRET_LISTS)


def _secret_ref(
    raw: str,
    loc: tuple[str | int, ...],
    environ: Mapping[str, str] | None,
    issues: list[ConfigIssue],
    path: str,
    line_of: Callable[[Sequence[str | int]], int],
) -> Secret | str:
    """Resolve a secret key's value, once: `file:/path` (the path may use `${VAR}`) or
    text made only of `${VAR}` references. Anything else is a secret written in the
    config (`literal${EMPTY}` too, whatever the variable holds). Messages never hold
    the text."""
    try:
        if raw.startswith("file:"):
            return resolve_secret("file:" + expand_env(raw[len("file:") :], environ))
        if ENV_REF.sub("", raw) == "":
            return Secret(expand_env(raw, environ))
    except SecretError as exc:
        issues.append(ConfigIssue(path, line_of(loc), _loc(loc), str(exc)))
        return ""
    issues.append(
        ConfigIssue(
            path,
            line_of(loc),
            _loc(loc),
            "a secret is written as ${ENV_VAR} or file:/path, not as text in the config",
        )
    )
    return ""


def _loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _split_field(text: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    for piece in re.findall(r"[^.\[\]]+|\[\d+\]", text):
        parts.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return tuple(parts)


def _msg(error: Mapping[str, Any]) -> str:
    msg = str(error["msg"])
    if error.get("type") in ("extra_forbidden", "unexpected_keyword_argument"):
        return "unknown key"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if error.get("type") == "missing":
        return "required field is missing"
    return msg
