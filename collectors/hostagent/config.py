"""The host agent's configuration: the YAML file, validated strictly without pydantic.

Unknown keys and wrong types are errors naming the dotted field (`services.ssh.systemd`),
like the daemon's own config; durations are written `30s`, `5m`, `500ms`, `1h`, `1d`.
Command-line flags override the file. Kept apart from the daemon's `monitord.config` so
that the agent does not load pydantic (see docs/agent.md, Cost).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Final, Literal, TypeVar, get_args, get_origin, get_type_hints

from collectors.hostagent import hostread
from monitord.errors import ConfigError, ConfigIssue
from monitord.yamlfile import read_yaml

__all__ = [
    "DEFAULT_FAILED_LOGIN_PATTERNS",
    "DEFAULT_PORT",
    "MIN_TOKEN_LENGTH",
    "UNIT_NAME",
    "AgentConfig",
    "BackupCheck",
    "HostOptions",
    "SecurityConfig",
    "ServiceCheck",
    "load_config",
    "parse_listen",
    "read_token",
]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

DEFAULT_PORT: Final = 9878
MIN_TOKEN_LENGTH: Final = 16
MAX_CPU_WINDOW: Final = 30.0
UNIT_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@:._\\-]{0,255}$")
DEFAULT_FAILED_LOGIN_PATTERNS: Final = (
    r"Failed (password|keyboard-interactive/pam) for ",
    r"FAILED LOGIN",
    r"FAILED SU",
)
_LABEL_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")

# A duration in the config: "30s", "5m", "500ms", "1h", "1d" or a number of seconds.
Seconds = Annotated[float, "duration"]


@dataclass(frozen=True, slots=True)
class HostOptions:
    """`host:` — the options of the daemon's `host` collector, same names and defaults."""

    cpu_window: Seconds = 1.0
    fs_exclude_types: tuple[str, ...] = hostread.DEFAULT_FS_EXCLUDE_TYPES
    fs_exclude_mountpoints: tuple[str, ...] = hostread.DEFAULT_FS_EXCLUDE_MOUNTPOINTS
    disks_exclude: tuple[str, ...] = hostread.DEFAULT_DISKS_EXCLUDE
    interfaces_exclude: tuple[str, ...] = hostread.DEFAULT_INTERFACES_EXCLUDE


@dataclass(frozen=True, slots=True)
class ServiceCheck:
    """One watched service: exactly one of `systemd` (a unit), `process` (a process name)
    or `windows` (a Windows service name)."""

    systemd: str = ""
    process: str = ""
    windows: str = ""


@dataclass(frozen=True, slots=True)
class BackupCheck:
    """A backup location: a folder, a shell-style pattern for its files, and its policy.

    `max_age`: the newest copy must be younger than this (the `backup_stale` alert and
    the security report's backups section read it as monitord_backup_max_age_seconds).
    """

    path: str
    pattern: str = "*"
    recursive: bool = False
    max_files: int = 100_000
    max_age: Seconds = 93600.0


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    """Inputs of the security report; `auto` picks what the platform has."""

    failed_logins: Literal["auto", "file", "journal", "windows", "none"] = "auto"
    auth_log: str = "/var/log/auth.log"
    failed_login_patterns: tuple[str, ...] = DEFAULT_FAILED_LOGIN_PATTERNS
    journal_identifiers: tuple[str, ...] = ("sshd", "login", "su")
    journal_directory: str = ""  # journalctl -D DIR; empty: the system journal
    updates: Literal["auto", "apt", "dnf", "windows", "none"] = "auto"
    firewall: Literal["auto", "linux", "windows", "none"] = "auto"
    firewall_units: tuple[str, ...] = (
        "nftables.service",
        "firewalld.service",
        "netfilter-persistent.service",
        "iptables.service",
    )
    ufw_conf: str = "/etc/ufw/ufw.conf"


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """The agent's config file (all keys optional); command-line flags override it."""

    name: str = ""
    listen: str = f"127.0.0.1:{DEFAULT_PORT}"
    token_file: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    host: HostOptions = field(default_factory=HostOptions)
    services: dict[str, ServiceCheck] = field(default_factory=dict)
    backups: dict[str, BackupCheck] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    checks_interval: Seconds = 15.0
    updates_interval: Seconds = 21600.0
    command_timeout: Seconds = 10.0
    inventory_cache: Seconds = 600.0
    request_timeout: Seconds = 10.0
    max_connections: int = 16
    auth_failures_burst: int = 10
    auth_failures_per_minute: float = 6.0


def load_config(path: str | None, overrides: Mapping[str, object] | None = None) -> AgentConfig:
    """Read and validate the agent's YAML config (None: defaults), then apply `overrides`."""
    data: dict[str, object] = {}
    if path:
        loaded = read_yaml(path, "agent config").data
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError([ConfigIssue(path, 0, "", "expected a mapping at the top")])
        data = dict(loaded or {})
    data.update({k: v for k, v in (overrides or {}).items() if v not in (None, "")})
    try:
        cfg = _validate(AgentConfig, data, "")
        _check(cfg)
    except ConfigError as exc:
        issues = [ConfigIssue(path or "", 0, i.field, i.message) for i in exc.issues]
        raise ConfigError(issues) from None
    return cfg


def read_token(path: str) -> bytes:
    """Read the token file (trailing newline stripped); ConfigError if unusable."""
    try:
        with open(path, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            token = fh.read(4096).strip()
    except OSError as exc:
        msg = f"cannot read token file {path}: {exc.strerror}"
        raise ConfigError(msg, field="token_file") from None
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"token in {path} is shorter than {MIN_TOKEN_LENGTH} characters;"
            " generate one with: openssl rand -hex 32",
            field="token_file",
        )
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("token file readable by group or others path=%s; chmod 600 it", path)
    return token


def _check(cfg: AgentConfig) -> None:
    """Cross-field rules the dataclass types cannot say."""
    for section in ("services", "backups", "files"):
        for label in getattr(cfg, section):
            if not _LABEL_NAME.match(label):
                raise ConfigError(
                    "names are 1-64 letters, digits, _ . : -", field=f"{section}.{label}"
                )
    for label, backup in cfg.backups.items():
        if backup.max_age <= 0:
            raise ConfigError("must be greater than 0", field=f"backups.{label}.max_age")
    for label, svc in cfg.services.items():
        given = [k for k in ("systemd", "process", "windows") if getattr(svc, k)]
        if len(given) != 1:
            raise ConfigError(
                "give exactly one of systemd, process, windows", field=f"services.{label}"
            )
        if svc.systemd and not UNIT_NAME.match(svc.systemd):
            raise ConfigError("not a systemd unit name", field=f"services.{label}.systemd")
    for unit in cfg.security.firewall_units:
        if not UNIT_NAME.match(unit):
            raise ConfigError(f"not a systemd unit name: {unit!r}", field="security.firewall_units")
    for i, pattern in enumerate(cfg.security.failed_login_patterns):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(
                f"invalid regular expression: {exc}", field=f"security.failed_login_patterns[{i}]"
            ) from None
    for key in ("max_connections", "auth_failures_burst"):
        if getattr(cfg, key) < 1:
            raise ConfigError("must be at least 1", field=key)
    if cfg.auth_failures_per_minute <= 0:
        raise ConfigError("must be greater than 0", field="auth_failures_per_minute")
    if cfg.tls_key and not cfg.tls_cert:
        raise ConfigError("tls_key given without tls_cert", field="tls_key")
    try:
        parse_listen(cfg.listen)
    except ValueError as exc:
        raise ConfigError(str(exc), field="listen") from None
    if cfg.host.cpu_window > MAX_CPU_WINDOW:
        raise ConfigError(f"longer than {MAX_CPU_WINDOW:g}s", field="host.cpu_window")
    for name in ("fs_exclude_mountpoints", "disks_exclude", "interfaces_exclude"):
        for i, pattern in enumerate(getattr(cfg.host, name)):
            try:
                re.compile(pattern)
            except re.error as exc:
                msg = f"invalid regular expression: {exc}"
                raise ConfigError(msg, field=f"host.{name}[{i}]") from None
    if not cfg.token_file:
        raise ConfigError(
            "a token file is required (--token-file or token_file)", field="token_file"
        )


def parse_listen(value: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` → (host, port); ValueError with a readable message."""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)", value) or re.fullmatch(
        r"([^:\[\]]+):(\d+)", value
    )
    if m is None:
        raise ValueError(f"invalid listen address {value!r}: expected HOST:PORT or [IPv6]:PORT")
    host, port = m.group(1), int(m.group(2))
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range 1-65535")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})", host):
            raise ValueError(f"invalid listen address {value!r}") from None
    return host, port


_DURATION: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*")
_UNIT: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def _duration(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.fullmatch(value)):
        seconds = float(m.group(1)) * _UNIT[m.group(2)]
    else:
        raise ValueError(f"invalid duration {value!r}: expected e.g. 30s, 5m, 500ms")
    if seconds <= 0:
        raise ValueError("duration must be greater than zero")
    return seconds


def _validate(cls: type[_T], data: object, path: str) -> _T:
    """Build dataclass `cls` from YAML data; unknown keys and wrong types are errors."""
    if not isinstance(data, Mapping):
        raise ConfigError("expected a mapping", field=path.rstrip("."))
    hints = get_type_hints(cls, include_extras=True)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, object] = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError("unknown key", field=f"{path}{key}")
        kwargs[key] = _coerce(hints[key], value, f"{path}{key}")
    try:
        return cls(**kwargs)
    except TypeError:
        missing = [
            f.name
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.name not in kwargs
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        where = f"{path}{missing[0] if missing else ''}"
        raise ConfigError("required key missing", field=where) from None


def _coerce(tp: object, value: object, field_: str) -> object:
    origin, args = get_origin(tp), get_args(tp)
    try:
        if origin is Annotated:
            return _duration(value)
        if origin is Literal:
            if value not in args:
                raise ValueError(f"expected one of {', '.join(map(str, args))}")
            return value
        if origin is tuple:
            if not isinstance(value, list | tuple):
                raise ValueError("expected a list")
            return tuple(_coerce(args[0], v, f"{field_}[{i}]") for i, v in enumerate(value))
        if origin is dict:
            if not isinstance(value, Mapping):
                raise ValueError("expected a mapping")
            return {str(k): _coerce(args[1], v, f"{field_}.{k}") for k, v in value.items()}
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return _validate(tp, value, f"{field_}.")
        if tp is bool and isinstance(value, bool):
            return value
        if tp is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if tp is str and isinstance(value, str):
            return value
        raise ValueError(f"expected {getattr(tp, '__name__', tp)}, got {type(value).__name__}")
    except ValueError as exc:
        raise ConfigError(str(exc), field=field_) from None
