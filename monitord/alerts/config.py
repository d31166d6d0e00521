"""Alert rules: the `alerts:` config section, the built-in rules, and the message catalog.

Pure definitions, no I/O besides reading the packaged catalog: `monitord.alerts.rules` turns a
rule and a state snapshot into observations, `monitord.alerts.engine` runs the rule state
machine and hands `Notification`s to the senders in `exporters/notify`.

A rule is one of four kinds:
- `down`: a target whose collectors (all of `collectors`, or any of them with
  `any_collector: true`) are down in the state (after the state's own hysteresis);
  instead of naming kinds, `reach` selects the collectors that declare that reach
  (`device`, `database`: `monitord.types.Reach`), so a new collector needs no rule edit;
- `threshold`: a series (`metric`, optionally its `rate`, optionally divided by
  another series) compared with `threshold` (`op`), cleared by `clear` (hysteresis);
- `trend`: a linear fit of a series over `window` reaching zero within `horizon`;
- `growth`: the relative growth of a series over `window` above `threshold`.
A rule whose metric no collector emits simply never fires.

The built-in rules (monitord/alerts/rules.yaml) are on by default; `alerts.rules.<name>`
overrides any field of a built-in rule (`{target_down: {for: 60s}}`) or defines a new
rule (with `kind`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator

from monitord.alerts.maintenance import MaintenanceWindow
from monitord.configtypes import (
    Duration,
    Language,
    SecretValue,
    SeverityWord,
    StrictModel,
    parse_duration,
)
from monitord.history.db import AlertEvent
from monitord.types import Reach, Severity, Target, TargetKind

__all__ = [
    "AlertEvent",
    "AlertEventKind",
    "AlertmanagerConfig",
    "AlertsConfig",
    "EmailConfig",
    "FlappingConfig",
    "InfoJoin",
    "Notification",
    "NotificationStatus",
    "NotifierEntry",
    "Op",
    "RetryConfig",
    "RuleConfig",
    "RuleKind",
    "Scope",
    "Severity",
    "Text",
    "WebhookConfig",
    "builtin_rules",
    "catalog",
    "render",
    "text",
]

_ALERTNAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _non_negative_duration(value: object) -> float:
    if value in (0, 0.0, "0", "0s"):
        return 0.0
    return parse_duration(value)


Delay = Annotated[float, BeforeValidator(_non_negative_duration)]


class RuleKind(StrEnum):
    """How a rule's condition is computed (see the module docstring)."""

    DOWN = "down"
    THRESHOLD = "threshold"
    TREND = "trend"
    GROWTH = "growth"


class Op(StrEnum):
    """Comparison of an observed value with a threshold."""

    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="

    def holds(self, value: float, threshold: float) -> bool:
        """True when `value op threshold`."""
        if self is Op.GT:
            return value > threshold
        if self is Op.GE:
            return value >= threshold
        if self is Op.LT:
            return value < threshold
        return value <= threshold


class Text(StrictModel):
    """A message template in both languages; `{placeholders}` as in docs/alerts.md."""

    es: str
    en: str

    def get(self, language: Language) -> str:
        """The template in `language`."""
        return self.es if language is Language.ES else self.en


class Scope(StrictModel):
    """Which targets something applies to: any listed name, site, tag or kind (empty: all)."""

    targets: list[str] = []
    sites: list[str] = []
    tags: list[str] = []
    kinds: list[TargetKind] = []

    def matches(self, target: Target) -> bool:
        """True when `target` is in scope."""
        if not (self.targets or self.sites or self.tags or self.kinds):
            return True
        return (
            target.name in self.targets
            or (bool(target.site) and target.site in self.sites)
            or bool(set(target.tags) & set(self.tags))
            or target.kind in self.kinds
        )


class InfoJoin(StrictModel):
    """Keep only series whose `_info` companion (joined `on` labels) matches `where`."""

    metric: str
    on: list[str]
    where: dict[str, str]

    @field_validator("where")
    @classmethod
    def _regexes(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_regexes(v)


class RuleConfig(StrictModel):
    """One rule; every field of a built-in rule may be overridden in the config.
    `severity` (and a notifier's `severities`) also accepts the former alert word
    `warning`, read as medium; alerts leave as critical, warning or info."""

    model_config = ConfigDict(populate_by_name=True)

    kind: RuleKind | None = None
    enabled: bool = True
    severity: SeverityWord = Severity.MEDIUM  # leaves as "warning" (Severity.alert_label)
    for_: Delay = Field(0.0, alias="for")
    clear_for: Delay = 0.0
    labels: dict[str, str] = {}
    scope: Scope = Scope()
    summary: Text | None = None
    description: Text | None = None
    unit: Literal["ratio", "seconds", "bytes", "bytes_per_second", "number"] = "number"
    # down: the collectors named, else those declaring `reach`, else all
    collectors: list[str] = []
    reach: Reach | None = None
    any_collector: bool = False
    # threshold, trend, growth
    metric: str = ""
    where: dict[str, str] = {}
    info: InfoJoin | None = None
    rate: bool = False
    divide_by: str = ""
    divide_on: list[str] = []
    op: Op = Op.GT
    threshold: float | None = None
    clear: float | None = None
    threshold_metric: str = ""
    # trend, growth
    window: Duration = 86400.0
    horizon: Duration = 7 * 86400.0
    min_points: int = Field(6, ge=3, le=1000)

    @field_validator("where")
    @classmethod
    def _regexes(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_regexes(v)

    def clear_threshold(self) -> float | None:
        """The value that clears a firing alert (the threshold when no `clear` is set)."""
        return self.clear if self.clear is not None else self.threshold

    def check(self, name: str) -> list[str]:
        """Problems that make this (merged) rule unusable, as messages."""
        problems: list[str] = []
        if not _ALERTNAME.match(name):
            problems.append("rule names are lower case letters, digits and _")
        if self.kind is None:
            problems.append("kind is required for a rule that is not built in")
        elif self.kind is not RuleKind.DOWN and not self.metric:
            problems.append(f"a {self.kind.value} rule needs metric")
        if self.kind in (RuleKind.THRESHOLD, RuleKind.GROWTH) and self.threshold is None:
            problems.append(f"a {self.kind.value} rule needs threshold")
        if (
            self.kind is RuleKind.THRESHOLD
            and self.clear is not None
            and self.threshold is not None
        ):
            if self.op in (Op.GT, Op.GE) and self.clear > self.threshold:
                problems.append("clear must not be above threshold for op > (hysteresis)")
            if self.op in (Op.LT, Op.LE) and self.clear < self.threshold:
                problems.append("clear must not be below threshold for op < (hysteresis)")
        return problems


class FlappingConfig(StrictModel):
    """An alert whose condition changes `threshold` times within `window` is flapping."""

    enabled: bool = True
    window: Duration = 600.0
    threshold: int = Field(6, ge=2, le=1000)
    clear_threshold: int | None = Field(None, ge=0)

    def clears_at(self) -> int:
        """Flapping ends when the changes in the window drop to this number or fewer."""
        return self.clear_threshold if self.clear_threshold is not None else self.threshold // 2


class RetryConfig(StrictModel):
    """Delivery retries: exponential backoff from `initial_backoff`, capped, then dropped."""

    max_attempts: int = Field(8, ge=1, le=100)
    initial_backoff: Duration = 2.0
    max_backoff: Duration = 300.0


class _NotifierBase(StrictModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str = ""
    timeout: Duration = 10.0
    severities: list[SeverityWord] = []  # by alert word: [warning] = high and medium
    send_resolved: bool = True


class _HttpBase(_NotifierBase):
    url: str
    ca_file: Path | None = None
    tls_verify: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"invalid url {v!r}: expected http://host[:port][/path] or https://")
        return v.rstrip("/")


class AlertmanagerConfig(_HttpBase):
    """`- alertmanager: {url: http://127.0.0.1:9093}`: Alertmanager v2 API."""

    resend_interval: Duration = 60.0


class WebhookConfig(_HttpBase):
    """`- webhook: {url: ..., secret: ${WEBHOOK_SECRET}}`: JSON POST, HMAC-SHA256 signed."""

    secret: SecretValue | None = None


class EmailConfig(_NotifierBase):
    """`- email: {smtp: host:587, from: ..., to: [...], user: ..., password: ${SMTP_PASSWORD}}`."""

    smtp: str
    from_: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    user: str | None = None
    password: SecretValue | None = None
    tls: Literal["starttls", "tls", "none"] | None = None  # None: tls on port 465, else starttls
    ca_file: Path | None = None
    tls_verify: bool = True
    subject_prefix: str = "[monitord]"
    language: Language | None = None

    @field_validator("smtp")
    @classmethod
    def _smtp(cls, v: str) -> str:
        host, _, port = v.rpartition(":") if ":" in v else (v, "", "587")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"invalid smtp server {v!r}: expected HOST:PORT")
        return v

    @field_validator("from_", "to")
    @classmethod
    def _addresses(cls, v: str | list[str]) -> str | list[str]:
        for a in [v] if isinstance(v, str) else v:
            if not re.match(r"^[^@\s<>]+@[^@\s<>]+$", a):
                raise ValueError(f"invalid e-mail address {a!r}")
        return v

    def host_port(self) -> tuple[str, int]:
        """The SMTP server's host and port."""
        host, _, port = self.smtp.rpartition(":")
        return (host, int(port)) if host else (self.smtp, 587)

    def tls_mode(self) -> str:
        """`starttls`, `tls` (implicit, port 465) or `none`."""
        return self.tls or ("tls" if self.host_port()[1] == 465 else "starttls")

    @model_validator(mode="after")
    def _no_plaintext_auth(self) -> EmailConfig:
        if (self.user or self.password) and self.tls_mode() == "none":
            raise ValueError("user/password need tls: starttls or tls (never sent in clear)")
        if bool(self.user) != bool(self.password):
            raise ValueError("user and password go together")
        return self


class NotifierEntry(StrictModel):
    """One item of `alerts.notify`: exactly one of alertmanager, email, webhook."""

    alertmanager: AlertmanagerConfig | None = None
    email: EmailConfig | None = None
    webhook: WebhookConfig | None = None

    @model_validator(mode="after")
    def _one(self) -> NotifierEntry:
        if sum(x is not None for x in (self.alertmanager, self.email, self.webhook)) != 1:
            raise ValueError("each notify item is exactly one of: alertmanager, email, webhook")
        return self

    def kind_and_config(self) -> tuple[str, AlertmanagerConfig | EmailConfig | WebhookConfig]:
        """The notifier kind and its settings."""
        for kind in ("alertmanager", "email", "webhook"):
            cfg = getattr(self, kind)
            if cfg is not None:
                return kind, cfg
        raise AssertionError("validated: one notifier per entry")


class AlertsConfig(StrictModel):
    """`alerts:` — rules, notifiers, maintenance windows, and the engine's timing."""

    enabled: bool = True
    evaluation_interval: Duration = 10.0
    repeat_interval: Duration = 4 * 3600.0
    send_resolved: bool = True
    missing_resolve_after: Duration = 3600.0
    language: Language | None = None
    external_url: str = ""
    queue_size: int = Field(1000, ge=1, le=1_000_000)
    flapping: FlappingConfig = FlappingConfig()
    retry: RetryConfig = RetryConfig()
    rules: dict[str, RuleConfig | None] = {}
    notify: list[NotifierEntry] = []
    maintenance: list[MaintenanceWindow] = []

    @model_validator(mode="after")
    def _merged_rules_valid(self) -> AlertsConfig:
        problems = []
        for name in self.rules:
            rule = self.effective_rules().get(name)
            if rule is not None:
                problems += [f"rules.{name}: {p}" for p in rule.check(name)]
        names = [n for n, _ in self.notifiers()]
        if len(set(names)) != len(names):
            problems.append("notify: notifier names must be unique (set name:)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def effective_rules(self) -> dict[str, RuleConfig]:
        """Built-in rules with the config's overrides, plus custom rules; enabled ones only."""
        out = dict(builtin_rules())
        for name, override in self.rules.items():
            if override is None:
                continue
            base = out.get(name)
            changes = {k: getattr(override, k) for k in override.model_fields_set}
            out[name] = base.model_copy(update=changes) if base is not None else override
        return {n: r for n, r in out.items() if r.enabled}

    def notifiers(self) -> list[tuple[str, AlertmanagerConfig | EmailConfig | WebhookConfig]]:
        """(name, settings) of each notifier; the name defaults to its kind, then kind-2..."""
        out: list[tuple[str, AlertmanagerConfig | EmailConfig | WebhookConfig]] = []
        counts: dict[str, int] = {}
        for entry in self.notify:
            kind, cfg = entry.kind_and_config()
            counts[kind] = counts.get(kind, 0) + 1
            name = cfg.name or (kind if counts[kind] == 1 else f"{kind}-{counts[kind]}")
            out.append((name, cfg))
        return out


class NotificationStatus(StrEnum):
    """What a notification says about an alert."""

    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Notification:
    """One alert's state as told to the senders; texts already rendered in `language`."""

    fingerprint: str
    alertname: str
    target: str
    severity: Severity
    status: NotificationStatus
    starts_at: float
    ends_at: float | None
    labels: Mapping[str, str]
    summary: str
    description: str
    language: Language
    site: str = ""
    value: str = ""
    generator_url: str = ""
    repeat: bool = False


class AlertEventKind(StrEnum):
    """Alert event kinds written to the event log."""

    START = "start"
    RESOLVE = "resolve"


@cache
def catalog() -> Mapping[str, Any]:
    """The packaged message catalog (monitord/alerts/messages.yaml), read once."""
    raw = resources.files("monitord.alerts").joinpath("messages.yaml").read_text("utf-8")
    data = yaml.safe_load(raw)
    if not isinstance(data, dict):
        raise RuntimeError("monitord/alerts/messages.yaml must be a mapping")
    return data


def text(key: str, language: Language, **values: object) -> str:
    """A catalog text (`text.<key>`) rendered in `language`."""
    entry = catalog()["text"][key]
    return render(entry[language.value], values)


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill `{name}` placeholders; unknown names render as `?`, never raise."""
    return template.format_map(_Values(values))


class _Values(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "?"


def _check_regexes(v: dict[str, str]) -> dict[str, str]:
    for label, pattern in v.items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression for {label}: {exc}") from None
    return v


def builtin_rules() -> Mapping[str, RuleConfig]:
    """The built-in rules (monitord/alerts/rules.yaml), read and validated once."""
    return _builtin_rules()


@cache
def _builtin_rules() -> Mapping[str, RuleConfig]:
    raw = resources.files("monitord.alerts").joinpath("rules.yaml").read_text("utf-8")
    data = yaml.safe_load(raw)
    return MappingProxyType({n: RuleConfig.model_validate(r) for n, r in data.items()})
