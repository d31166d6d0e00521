"""What a trap or a syslog line means: the table in `patterns.yaml`, as data.

A trap entry matches the trap OID exactly and copies selected varbinds into the event's
fields (`fields: {ifindex: <OID prefix>}` takes the value of the first varbind under
that prefix); a syslog entry is a regular expression searched in the message text
whose named groups become fields. `set:` adds constant fields. Traps no entry knows
become `other` events named by their OID, with their varbinds as fields; syslog lines
no entry knows are `other` events that the core counts but does not store.

`severity:` is a word of `monitord.types.Severity` (critical, high, medium, low, info);
the former words of this table still read, through the same mapping as the alert
rules (`Severity.parse`: warning = medium). A syslog entry without one gives its events
the message's own level (0-7, `Severity.from_syslog`); a trap entry without one, info.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from collectors.events.syslog import SyslogMessage
from collectors.events.traps import Trap, oid_text
from monitord.config import check_regex
from monitord.configtypes import SeverityWord
from monitord.errors import ConfigError, ConfigIssue
from monitord.types import DeviceEvent, DeviceEventKind, EventOrigin, Severity

__all__ = ["MeaningTable", "SyslogRule", "TrapRule", "load_table"]

MAX_TEXT = 1000


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: DeviceEventKind
    severity: SeverityWord | None = None  # the vocabulary; former words read (warning)
    repoll: bool = False
    set: dict[str, str] = {}
    vendor: str = ""


class _TrapEntry(_Entry):
    oid: str
    fields: dict[str, str] = {}

    @field_validator("oid")
    @classmethod
    def _oid(cls, v: str) -> str:
        _oid(v)
        return v


class _SyslogEntry(_Entry):
    regex: str

    @field_validator("regex")
    @classmethod
    def _regex(cls, v: str) -> str:
        return check_regex(v)


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    traps: list[_TrapEntry] = []
    syslog: list[_SyslogEntry] = []


@dataclass(frozen=True, slots=True)
class TrapRule:
    """One known trap."""

    oid: tuple[int, ...]
    name: str
    kind: DeviceEventKind
    severity: Severity
    repoll: bool
    fields: Mapping[str, str]  # field name -> dotted OID prefix
    set: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class SyslogRule:
    """One known syslog message."""

    name: str
    kind: DeviceEventKind
    severity: Severity | None  # None: the message's own level
    repoll: bool
    regex: re.Pattern[str]
    set: Mapping[str, str]
    vendor: str = ""


@dataclass(frozen=True, slots=True)
class MeaningTable:
    """The merged table: extra entries first, then the built-in ones."""

    traps: Mapping[tuple[int, ...], TrapRule]
    syslog: tuple[SyslogRule, ...]

    def trap_event(self, trap: Trap, address: str, ts: float) -> DeviceEvent:
        """The event a decoded trap stands for."""
        rule = self.traps.get(trap.trap_oid)
        if rule is None:
            name = oid_text(trap.trap_oid)
            vbs = dict(list(trap.varbinds.items())[:32])
            text = " ".join(f"{k}={v}" for k, v in vbs.items())
            return DeviceEvent(
                ts, EventOrigin.TRAP, address, DeviceEventKind.OTHER, name,
                text[:MAX_TEXT], trap.agent_addr, Severity.INFO, vbs,
            )  # fmt: skip
        fields: dict[str, str] = dict(rule.set)
        for fname, prefix in rule.fields.items():
            pre = prefix + "."
            for oid, value in trap.varbinds.items():
                if oid.startswith(pre) or oid == prefix:
                    fields.setdefault(fname, value)
                    break
        if "ifindex" not in fields and "ifindex" in rule.fields:
            # the instance of ifDescr/ifName is the ifIndex when ifIndex itself is absent
            for oid in trap.varbinds:
                for prefix in rule.fields.values():
                    if oid.startswith(prefix + "."):
                        fields["ifindex"] = oid[len(prefix) + 1 :]
                        break
                if "ifindex" in fields:
                    break
        text = " ".join(f"{k}={v}" for k, v in sorted(fields.items()))
        return DeviceEvent(
            ts, EventOrigin.TRAP, address, rule.kind, rule.name, text[:MAX_TEXT],
            trap.agent_addr, rule.severity, fields, rule.repoll,
        )  # fmt: skip

    def syslog_event(self, msg: SyslogMessage, address: str, ts: float) -> DeviceEvent:
        """The event a parsed syslog message stands for (`other` when no rule matches)."""
        text = msg.text[:MAX_TEXT]
        for rule in self.syslog:
            m = rule.regex.search(msg.text)
            if m is None:
                continue
            fields = dict(rule.set)
            fields.update({k: v[:128] for k, v in m.groupdict().items() if v})
            return DeviceEvent(
                ts, EventOrigin.SYSLOG, address, rule.kind, rule.name, text, msg.hostname,
                msg.level if rule.severity is None else rule.severity, fields, rule.repoll,
            )  # fmt: skip
        return DeviceEvent(
            ts, EventOrigin.SYSLOG, address, DeviceEventKind.OTHER, msg.app or "syslog", text,
            msg.hostname, msg.level,
        )  # fmt: skip


def load_table(extra: Path | None = None) -> MeaningTable:
    """The built-in table, with the entries of `extra` (a YAML file) tried first."""
    raw = resources.files("collectors.events").joinpath("patterns.yaml").read_text("utf-8")
    tables = [_parse(raw, "collectors/events/patterns.yaml")]
    if extra is not None:
        try:
            text = extra.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                [ConfigIssue(str(extra), 0, "", f"cannot read patterns file: {exc.strerror}")]
            ) from None
        tables.insert(0, _parse(text, str(extra)))
    traps: dict[tuple[int, ...], TrapRule] = {}
    rules: list[SyslogRule] = []
    for t in tables:
        for e in t.traps:
            oid = _oid(e.oid)
            traps.setdefault(
                oid,
                TrapRule(
                    oid, e.name, e.kind, e.severity or Severity.INFO, e.repoll, e.fields, e.set
                ),
            )
        rules.extend(
            SyslogRule(e.name, e.kind, e.severity, e.repoll, re.compile(e.regex), e.set, e.vendor)
            for e in t.syslog
        )
    return MeaningTable(traps, tuple(rules))


def _parse(text: str, path: str) -> _Table:
    try:
        data: Any = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigIssue(path, 0, "", f"invalid YAML: {exc}")]) from None
    try:
        return _Table.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            [ConfigIssue(path, 0, _loc(e["loc"]), e["msg"]) for e in exc.errors()]
        ) from None


def _loc(loc: Iterable[str | int]) -> str:
    return ".".join(str(p) for p in loc)


def _oid(text: str) -> tuple[int, ...]:
    arcs = text.strip().lstrip(".").split(".")
    if len(arcs) < 2 or not all(a.isdigit() for a in arcs):
        raise ValueError(
            f"invalid OID {text!r}: expected dotted numbers such as 1.3.6.1.6.3.1.1.5.3"
        )
    return tuple(map(int, arcs))
