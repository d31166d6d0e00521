"""Config sections `reports:` and `history:` (pydantic models, strict like the rest).

The defaults here are the documented defaults; `monitord.config` hangs these models on
the top-level config as `reports` and `history`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from monitord.alerts.config import AlertsConfig, EmailConfig
from monitord.alerts.maintenance import MaintenanceWindow, report_window
from monitord.configtypes import Duration, Language, StrictModel, check_regex

__all__ = [
    "Action",
    "Asset",
    "HistoryConfig",
    "IndicatorSettings",
    "Link",
    "MaintenanceWindow",
    "ReportKind",
    "ReportsConfig",
    "Schedule",
    "Signatory",
    "Targets",
    "check_reports",
    "email_settings",
]

ReportKind = Literal["network", "servers", "security", "inventory", "kpi"]
ALL_KINDS: tuple[ReportKind, ...] = ("network", "servers", "security", "inventory", "kpi")


class HistoryConfig(StrictModel):
    """`history:` — the on-disk history (SQLite, WAL) that the reports read."""

    path: Path | None = None  # default: <daemon.data_dir>/monitord.db
    retention_months: int = Field(13, ge=2, le=120)
    flush_interval: Duration = 60.0  # rollup window: what a crash can lose at most
    findings_interval: Duration = 300.0  # security findings recorded from the state
    prune_time: str = "03:30"  # local time of the daily retention prune
    wan_alias: str = r"(?i)\b(wan|internet|uplink|isp|mpls)\b"  # ifAlias regex of WAN links
    wan_interfaces: list[str] = []  # extra WAN links as "target:ifname"

    @field_validator("prune_time")
    @classmethod
    def _time(cls, v: str) -> str:
        return _check_hhmm(v)

    @field_validator("wan_alias")
    @classmethod
    def _regex(cls, v: str) -> str:
        return check_regex(v)


class Targets(StrictModel):
    """Metas (targets) of the indicators; percentages are 0-100."""

    network_availability: float = Field(99.5, ge=0, le=100)
    server_availability: float = Field(99.7, ge=0, le=100)
    web_availability: float = Field(99.5, ge=0, le=100)
    mttr_hours: float = Field(4.0, gt=0)
    backups_ok: float = Field(100.0, ge=0, le=100)
    storage_ok: float = Field(90.0, ge=0, le=100)
    certificates_ok: float = Field(100.0, ge=0, le=100)
    yellow_margin: float = Field(0.5, ge=0, le=100)  # points below a meta still yellow
    link_utilization: float = Field(80.0, gt=0, le=100)  # p95 above this: capacity warning
    filesystem_use: float = Field(85.0, gt=0, le=100)
    days_to_full_warning: float = Field(30.0, gt=0)
    backup_max_age_hours: float = Field(26.0, gt=0)  # newer copies are "al día"
    failed_logins_day: float = Field(20.0, gt=0)  # failed logins per day that make a finding


class Schedule(StrictModel):
    """When the daemon writes last month's reports."""

    enabled: bool = True
    day: int = Field(1, ge=1, le=28)
    time: str = "06:00"
    kinds: list[ReportKind] = list(ALL_KINDS)
    formats: list[Literal["html", "pdf", "csv"]] = ["html", "pdf", "csv"]
    email_to: list[str] = []
    email_notifier: str | None = None  # an `alerts.notify` e-mail entry's name; default: first

    @field_validator("time")
    @classmethod
    def _time(cls, v: str) -> str:
        return _check_hhmm(v)

    @field_validator("email_to")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for a in v:
            if not re.match(r"^[^@\s<>]+@[^@\s<>]+$", a):
                raise ValueError(f"invalid e-mail address {a!r}")
        return v


class Signatory(StrictModel):
    """A person in the sign-off block."""

    name: str = ""
    position: str = ""


INDICATOR_CODES = tuple(f"IND-{i:02d}" for i in range(1, 11))


class IndicatorSettings(StrictModel):
    """One indicator's fixed fields (hoja de vida del indicador) that the office owns."""

    baseline: float | None = None  # in the indicator's unit: percent 0-100, hours or a count
    baseline_period: str = ""  # where the baseline comes from, e.g. "2025" or "2025-12"
    responsible: str = ""  # position responsible for the indicator
    formula: str = ""  # replaces the catalog's formula text when set


class Action(StrictModel):
    """An improvement action (acción de mejora)."""

    id: str
    text: str
    responsible: str = ""
    due: date | None = None
    reports: list[ReportKind] = []
    status: Literal["open", "closed"] = "open"
    closed_on: date | None = None
    since: str = ""  # the month it was first written (filled when loading)


class Link(StrictModel):
    """An internet channel or WAN link: its contracted bandwidth and provider.

    `interface` is the interface name (ifName/ifDescr) and `ifindex` its index; give the
    index when two interfaces share a name (it wins over the name).
    """

    target: str
    interface: str = ""
    ifindex: int | None = None
    isp: str = ""  # provider (operador)
    contracted_mbps: float = Field(gt=0)  # contracted bandwidth, megabits per second
    contracted_up_mbps: float | None = Field(None, gt=0)  # upload, when asymmetric
    circuit: str = ""  # circuit or contract number

    @model_validator(mode="after")
    def _named(self) -> Link:
        if not self.interface and self.ifindex is None:
            raise ValueError("a link needs its interface name or ifindex")
        return self

    def matches(self, target: str, ifname: str, ifindex: str) -> bool:
        """True when this link is the interface (target, ifname, ifindex)."""
        if target != self.target:
            return False
        if self.ifindex is not None:
            return ifindex == str(self.ifindex)
        return ifname == self.interface


class Asset(StrictModel):
    """What the office's asset register knows of a device and the network cannot tell."""

    plate: str = ""  # número de placa de inventario
    location: str = ""  # where it is (building, floor, room, rack)
    responsible: str = ""  # custodian


class ReportsConfig(StrictModel):
    """`reports:` — the monthly reports (REPORTS.md)."""

    entity: str = "Entidad"
    logo: Path | None = None  # PNG/JPEG/SVG, inlined into the documents
    process: str = "Gestión de Comunicación y Tecnologías de la Información — TIC"
    office: str = "Oficina de Sistemas"
    code: str = "GTI-FO-01"  # Código of the format in the quality system
    version: str = "1"
    language: Language | None = None  # default: daemon.language
    paper: Literal["A4", "Letter"] = "A4"
    output_dir: Path | None = None  # default: <daemon.data_dir>/reports
    top_n: int = Field(20, ge=1, le=500)
    targets: Targets = Targets()
    schedule: Schedule = Schedule()
    elaboro: Signatory = Signatory()
    reviso: Signatory = Signatory()
    aprobo: Signatory = Signatory()
    observations: dict[str, list[str]] = {}  # per kind: the office's own text
    # windows the reports exclude from availability but that mute no alert; the same
    # model as alerts.maintenance (define windows there: they also count here)
    maintenance: list[MaintenanceWindow] = []
    indicators: dict[str, IndicatorSettings] = {}  # IND-01..IND-10: baseline, responsible
    links: list[Link] = []  # contracted bandwidth and ISP of the internet/WAN links
    assets: dict[str, Asset] = {}  # target name -> plate number, location, custodian
    # improvement actions of the month and those carried forward (monitord.reports.
    # observations fills this from <data_dir>/observations/; not usually set by hand)
    actions: list[Action] = []

    @field_validator("maintenance", mode="before")
    @classmethod
    def _windows(cls, v: object) -> object:
        return [report_window(w) for w in v] if isinstance(v, list) else v

    @field_validator("indicators")
    @classmethod
    def _codes(cls, v: dict[str, IndicatorSettings]) -> dict[str, IndicatorSettings]:
        unknown = sorted(set(v) - set(INDICATOR_CODES))
        if unknown:
            raise ValueError(f"unknown indicator(s) {unknown} (known: IND-01 .. IND-10)")
        return v

    @field_validator("observations")
    @classmethod
    def _kinds(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(v) - set(ALL_KINDS))
        if unknown:
            raise ValueError(f"unknown report kind(s) {unknown} (known: {list(ALL_KINDS)})")
        return v


def check_reports(
    reports: ReportsConfig, alerts: AlertsConfig
) -> list[tuple[tuple[str, ...], str]]:
    """Cross-section checks: (config location, message) for each problem found.

    Report e-mails reuse the SMTP settings of an `alerts.notify` e-mail entry (server,
    sender, credentials, TLS); only the recipients are the report's own.
    """
    out: list[tuple[tuple[str, ...], str]] = []
    sched = reports.schedule
    if sched.email_to:
        emails = [name for name, cfg in alerts.notifiers() if isinstance(cfg, EmailConfig)]
        if not emails:
            out.append(
                (
                    ("reports", "schedule", "email_to"),
                    "reports are e-mailed through an alerts.notify e-mail entry's SMTP "
                    "settings; add one (- email: {smtp: HOST:PORT, from: ..., to: [...]})",
                )
            )
        elif sched.email_notifier is not None and sched.email_notifier not in emails:
            out.append(
                (
                    ("reports", "schedule", "email_notifier"),
                    f"no e-mail notifier named {sched.email_notifier!r} in alerts.notify "
                    f"(known: {', '.join(emails)})",
                )
            )
    if reports.logo is not None and not reports.logo.is_file():
        out.append((("reports", "logo"), f"logo file not found: {reports.logo}"))
    return out


def email_settings(reports: ReportsConfig, alerts: AlertsConfig) -> EmailConfig | None:
    """The SMTP settings the monthly e-mail uses, or None when it is not configured."""
    if not reports.schedule.email_to:
        return None
    for name, cfg in alerts.notifiers():
        if isinstance(cfg, EmailConfig) and reports.schedule.email_notifier in (None, name):
            return cfg
    return None


def _check_hhmm(v: str) -> str:
    m = re.match(r"^([01]\d|2[0-3]):([0-5]\d)$", v)
    if not m:
        raise ValueError(f"invalid time {v!r}: expected HH:MM (24 h)")
    return v


def parse_hhmm(v: str) -> tuple[int, int]:
    """'06:30' -> (6, 30)."""
    h, m = v.split(":")
    return int(h), int(m)


def now_local(ts: float, tz: ZoneInfo) -> datetime:
    """Epoch seconds as an aware local datetime."""
    return datetime.fromtimestamp(ts, tz)
