"""Informe de monitoreo de la seguridad de los sistemas de información (REPORTS.md §3).

Reads the `findings` and `check_runs` tables that the security checks write, the
certificate gauges of the http collector and the host agent's security readings. A
check is named `<area>.<name>` (e.g. `tls.cert_expiry`, `ports.must_be_closed`); the
area picks the section. Each finding is written as a sentence of the catalog
(`finding.<check>`, with the facts of its `detail`), never as raw `key=value` text;
the long policy texts go to an annex (legend) that the tables point to by short name.

A section with data shows the data; a section whose checks never ran says which checks
did not run and why (no target with the collector that runs them, or no successful
poll), and shows no table. Nothing is invented.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from monitord.history.db import StoredFinding
from monitord.history.service import AGENT_CHECKS
from monitord.reports.common import ReportContext, assemble
from monitord.reports.model import (
    Column,
    Dur,
    Light,
    LightColor,
    Msg,
    Num,
    Pct,
    Report,
    Section,
    Table,
    Ts,
    Value,
)
from monitord.reports.store import GaugeStat
from monitord.types import Severity

__all__ = [
    "AREAS",
    "Certificate",
    "agent_tables",
    "area_collector",
    "build_security",
    "certificates",
    "finding_text",
    "open_findings",
    "parse_detail",
]

# section id -> check areas it shows (ISO/IEC 27001:2022 Annex A control in the catalog)
AREAS: Mapping[str, tuple[str, ...]] = {
    "tls": ("tls",),
    "exposure": ("ports", "exposure"),
    "snmp": ("snmp",),
    "auth": ("auth",),
    "updates": ("updates", "firewall"),
    "backups": ("backup", "backups"),
    "unknown_devices": ("unknown_device", "discovery"),
}
# the one vocabulary (monitord.types.Severity), most urgent first; labels `severity.<v>`
SEVERITIES = tuple(s.value for s in Severity)
# policy keys the catalogs translate (`policy.<key>`, `policy_short.<key>`)
POLICIES = frozenset(
    {
        "network_ports", "snmp_management", "web_tls", "web_https", "web_integrity",
        "asset_inventory", "authentication", "patching", "host_firewall", "backup",
    }
)  # fmt: skip
# checks whose finding sentence the catalogs hold (`finding.<check>`, `checks.<check>`)
CHECKS = frozenset(
    {
        "ports.must_be_closed", "ports.must_be_open", "snmp.default_community",
        "snmp.v3_required", "tls.cert_expiry", "tls.chain_invalid", "tls.hostname_mismatch",
        "tls.obsolete_protocol", "tls.http_no_hsts", "tls.http_no_https_redirect",
        "tls.http_content_mismatch", "discovery.unknown_device", "auth.failed_logins",
        "updates.pending", "firewall.disabled", "backup.stale", "backup.missing",
    }
)  # fmt: skip
# well-known TCP ports named in the finding sentences
SERVICES: Mapping[str, str] = {
    "21": "FTP", "22": "SSH", "23": "Telnet", "25": "SMTP", "53": "DNS", "80": "HTTP",
    "110": "POP3", "135": "RPC", "139": "NetBIOS", "143": "IMAP", "161": "SNMP",
    "443": "HTTPS", "445": "SMB", "1433": "SQL Server", "1521": "Oracle", "3306": "MySQL",
    "3389": "RDP", "5432": "PostgreSQL", "5900": "VNC", "8080": "HTTP",
}  # fmt: skip
_DETAIL = re.compile(r"(\w+)=(.*?)(?=\s\w+=|$)")
_NUMERIC = frozenset({"days", "per_day", "pending", "age_hours", "files"})
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Certificate:
    """One certificate seen by the http collector in the month (its last reading)."""

    target: str
    issuer: str
    version: str
    not_after: float
    days_left: float | None  # at the close of the month (or the report's generation)
    hostname_match: bool | None
    chain_valid: bool | None
    last_seen: float


def open_findings(
    findings: Sequence[StoredFinding], runs: Mapping[str, list[float]], at: float
) -> list[StoredFinding]:
    """Findings open at `at`: seen by the last run of their check before `at`."""
    out = []
    for f in findings:
        before = [t for t in runs.get(f.check, []) if t < at]
        if not before or f.first_seen >= at:
            continue
        if f.last_seen >= max(before):
            out.append(f)
    return out


def certificates(ctx: ReportContext) -> list[Certificate]:
    """Every certificate seen in the month, with its state at the close of the month."""
    gs = ctx.source.gauges(("tls_not_after", "tls_hostname_match", "tls_cert_valid"), ctx.period)
    by: dict[str, dict[str, GaugeStat]] = {}
    for g in gs:
        by.setdefault(g.target, {})[g.kind] = g
    ref = min(ctx.period.end, ctx.generated)
    out = []
    for target, kinds in sorted(by.items()):
        na = kinds.get("tls_not_after")
        if na is None:
            continue
        host, valid = kinds.get("tls_hostname_match"), kinds.get("tls_cert_valid")
        out.append(
            Certificate(
                target,
                na.meta.get("issuer", ""),
                na.meta.get("version", ""),
                na.last,
                (na.last - ref) / DAY,
                None if host is None else host.last >= 1,
                None if valid is None else valid.last >= 1,
                na.last_ts,
            )
        )
    return out


def parse_detail(detail: str) -> dict[str, str]:
    """`port=22 state=refused` -> {'port': '22', 'state': 'refused'} (values may hold spaces)."""
    return {k: v for k, v in _DETAIL.findall(detail or "")}


def finding_text(f: StoredFinding) -> Msg:
    """The finding as a catalog sentence (`finding.<check>`) with its facts as parameters."""
    raw = parse_detail(f.detail)
    if f.check not in CHECKS:
        return Msg("finding.other", {"check": f.check, "detail": f.detail or "—"})
    params: dict[str, Value] = {}
    for k, v in raw.items():
        if k in _NUMERIC:
            try:
                params[k] = Num(float(v), 1 if k == "age_hours" else 0)
            except ValueError:
                params[k] = v
        elif k == "port":
            params[k] = f"{v} ({SERVICES[v]})" if v in SERVICES else v
        elif k == "state":
            params[k] = Msg(f"port_state.{v}") if v in ("refused", "filtered", "closed") else v
        elif k == "v3":
            params[k] = Msg("words.yes" if v == "yes" else "words.no")
        elif k == "not_after":
            params[k] = _utc(v)
        else:
            params[k] = v
    key = f"finding.{f.check}"
    if f.check == "tls.cert_expiry" and raw.get("expired") == "yes":
        key = "finding.tls.cert_expired"
    return Msg(key, params)


def build_security(ctx: ReportContext) -> Report:
    """Build the security report."""
    p = ctx.period
    found = ctx.source.findings(p.shift(-1).start, p.end)
    runs = ctx.source.check_runs(p.shift(-1).start, p.end)
    month_runs = {c: [t for t in ts if t >= p.start] for c, ts in runs.items()}
    month_runs = {c: ts for c, ts in month_runs.items() if ts}
    now_open = open_findings(found, runs, p.end)
    prev_open = open_findings(found, runs, p.start)
    in_month = [f for f in found if f.last_seen >= p.start]
    agent = agent_tables(ctx)
    certs = certificates(ctx)
    summary = _summary(ctx, month_runs, now_open, bool(agent) or bool(certs))
    sections = [_findings_summary(ctx, month_runs, now_open)]
    open_keys = {(f.check, f.target, f.key) for f in now_open}
    for sec, areas in AREAS.items():
        ran = [c for c in month_runs if c.split(".", 1)[0] in areas]
        extra = list(agent.get(sec, ()))
        if sec == "tls" and certs:
            extra.insert(0, _cert_table(certs))
        if not ran and not extra:
            sections.append(Section(sec, f"security.{sec}", empty=_why(ctx, sec)))
            continue
        tables: list[Table] = []
        if ran:
            rows = [
                (
                    f.target,
                    finding_text(f),
                    Msg(f"severity.{f.severity}"),
                    _policy_short(f.policy),
                    f.iso_control or "—",
                    Ts(f.first_seen),
                    Ts(f.last_seen),
                    Msg(
                        "status.open"
                        if (f.check, f.target, f.key) in open_keys
                        else "status.resolved"
                    ),
                )
                for f in in_month
                if f.check.split(".", 1)[0] in areas
            ]
            tables.append(
                Table(
                    f"findings_{sec}",
                    (
                        Column("target", width=1.3),
                        Column("finding", width=4.2),
                        Column("severity", width=1.0),
                        Column("policy", width=1.4),
                        Column("iso_control", "center", 0.9),
                        Column("first_seen", width=1.3),
                        Column("last_seen", width=1.3),
                        Column("status", width=1.0),
                    ),
                    rows,
                    note=Msg("security.policy_note") if rows else None,
                    empty=Msg(
                        "empty.no_findings", {"runs": Num(sum(len(month_runs[c]) for c in ran))}
                    ),
                )
            )
        sections.append(
            Section(sec, f"security.{sec}", (Msg(f"security.{sec}_intro"),), (*tables, *extra))
        )
    sections.append(_changes(found, open_keys, prev_open, bool(month_runs)))
    sections.append(Section("methodology", "methodology", (Msg("method.security"),)))
    return assemble(
        ctx,
        "security",
        summary,
        tuple(sections),
        annexes=(_legend(month_runs, in_month),),
        scope_targets=list(ctx.targets.values()),
    )


def agent_tables(ctx: ReportContext) -> dict[str, tuple[Table, ...]]:
    """Tables of the host agent's security readings, per section (absent: no data)."""
    from monitord.reports.servers import backups

    out: dict[str, tuple[Table, ...]] = {}
    logins = ctx.source.dists("failed_logins", ctx.period)
    if logins:
        out["auth"] = (
            Table(
                "failed_logins",
                (
                    Column("server"),
                    Column("failed_logins", "right"),
                    Column("failed_logins_day", "right"),
                    Column("failed_logins_max_poll", "right"),
                ),
                [
                    (t, Num(d.sum), Num(d.sum / len(ctx.period.days()), 1), Num(d.max))
                    for (t, _c), d in sorted(logins.items())
                ],
            ),
        )
    devices = _device_logins(ctx)
    if devices is not None:
        out["auth"] = (*out.get("auth", ()), devices)
    gs = ctx.source.gauges(("pending_updates", "firewall"), ctx.period)
    by_target: dict[str, dict[str, GaugeStat]] = {}
    for g in gs:
        if g.kind in ("pending_updates", "firewall"):
            by_target.setdefault(g.target, {})[g.kind] = g
    if by_target:
        rows = []
        for name, kinds in sorted(by_target.items()):
            upd, fw = kinds.get("pending_updates"), kinds.get("firewall")
            last = max(x.last_ts for x in kinds.values())
            rows.append(
                (
                    name,
                    Num(upd.last) if upd else Msg("words.no_data"),
                    Num(upd.max) if upd else Msg("words.no_data"),
                    Msg("words.yes" if fw.last >= 1 else "words.no")
                    if fw
                    else Msg("words.no_data"),
                    Ts(last),
                )
            )
        out["updates"] = (
            Table(
                "patch_status",
                (
                    Column("server"),
                    Column("pending_updates", "right"),
                    Column("pending_max", "right"),
                    Column("firewall_on", "center"),
                    Column("last_reading"),
                ),
                rows,
            ),
        )
    bk = backups(ctx)
    if bk:
        end = min(ctx.period.end, ctx.generated)
        out["backups"] = (
            Table(
                "backup_status",
                (
                    Column("server"),
                    Column("backup"),
                    Column("last_copy"),
                    Column("age", "right"),
                    Column("state"),
                ),
                [(t, p, Ts(ts), Dur(end - ts), Msg(f"backup.{st}")) for t, p, ts, _, st in bk],
            ),
        )
    return out


def _device_logins(ctx: ReportContext) -> Table | None:
    """Failed logins the devices reported (traps, syslog: events of kind failed_login):
    per device, the messages received, the first and last, and the users named."""
    p = ctx.period
    by: dict[str, list[tuple[float, float, int, str]]] = {}
    for e in ctx.source.device_events(p.start, p.end, ("failed_login",)):
        by.setdefault(e.target or e.address, []).append(
            (e.ts, e.last_ts, e.count, e.fields.get("user", ""))
        )
    if not by:
        return None
    rows = [
        (
            name,
            Num(sum(x[2] for x in ev)),
            Ts(min(x[0] for x in ev), True),
            Ts(max(x[1] for x in ev), True),
            ", ".join(sorted({x[3] for x in ev if x[3]})) or "—",
        )
        for name, ev in sorted(by.items())
    ]
    return Table(
        "device_failed_logins",
        (
            Column("device"),
            Column("failed_logins", "right"),
            Column("first_seen"),
            Column("last_seen"),
            Column("users"),
        ),
        rows,
    )


# --- sections ------------------------------------------------------------------


def _summary(
    ctx: ReportContext,
    month_runs: Mapping[str, list[float]],
    now_open: list[StoredFinding],
    readings: bool,
) -> tuple[Msg, ...]:
    if not month_runs:
        monitored = len({t for (t, _c), a in ctx.availability.pairs.items() if a.polls})
        key = "summary.security_readings_only" if readings else "summary.security_no_checks"
        return (Msg(key, {"targets": Num(monitored)}),)
    checks_ok = sum(1 for c in month_runs if not any(f.check == c for f in now_open))
    sev = Counter(f.severity for f in now_open)
    return (
        Msg(
            "summary.security",
            {
                "open": Num(len(now_open)),
                "checks": Num(len(month_runs)),
                "compliant": Pct(checks_ok / len(month_runs), 1),
                "critical": Num(sev.get(Severity.CRITICAL, 0) + sev.get(Severity.HIGH, 0)),
            },
        ),
    )


def _findings_summary(
    ctx: ReportContext, month_runs: Mapping[str, list[float]], now_open: list[StoredFinding]
) -> Section:
    if not month_runs:
        return Section("findings_summary", "security.summary", empty=_why_none(ctx))
    sev_rows = [
        (Msg(f"severity.{s}"), Num(sum(1 for f in now_open if f.severity == s))) for s in SEVERITIES
    ]
    info = _check_info()
    check_rows = [
        (
            Msg(f"checks.{c}") if c in CHECKS else c,
            _policy_short(info.get(c, ("", ""))[0]),
            info.get(c, ("", "—"))[1],
            Num(len(ts)),
            Num(sum(1 for f in now_open if f.check == c)),
            Msg("words.yes" if not any(f.check == c for f in now_open) else "words.no"),
        )
        for c, ts in sorted(month_runs.items())
    ]
    return Section(
        "findings_summary",
        "security.summary",
        tables=(
            Table(
                "findings_by_severity",
                (Column("severity"), Column("open", "right")),
                sev_rows,
            ),
            Table(
                "checks",
                (
                    Column("check", width=3.4),
                    Column("policy", width=1.6),
                    Column("iso_control", "center", 0.9),
                    Column("runs", "right", 1.0),
                    Column("open", "right", 1.0),
                    Column("compliant", "center", 1.0),
                ),
                check_rows,
            ),
        ),
    )


def _cert_table(certs: list[Certificate]) -> Table:
    rows = []
    for c in certs:
        valid = bool(c.chain_valid) and bool(c.hostname_match)
        ok = valid and (c.days_left or 0) > 30
        soon = valid and (c.days_left or 0) >= 7
        color = LightColor.GREEN if ok else (LightColor.YELLOW if soon else LightColor.RED)
        rows.append(
            (
                c.target,
                c.issuer or "—",
                Ts(c.not_after),
                Num(c.days_left, 1),
                c.version or "—",
                _yes_no(c.hostname_match),
                _yes_no(c.chain_valid),
                Light(color),
            )
        )
    return Table(
        "certificates",
        (
            Column("target", width=1.4),
            Column("issuer", width=2.0),
            Column("expiry", width=1.4),
            Column("days_left", "right", 0.9),
            Column("tls_version", width=0.9),
            Column("hostname_match", "center", 0.9),
            Column("chain_valid", "center", 0.9),
            Column("state", "center", 1.0),
        ),
        rows,
        note=Msg("security.certificates_note"),
    )


def _changes(
    found: list[StoredFinding],
    open_keys: set[tuple[str, str, str]],
    prev_open: list[StoredFinding],
    ran: bool,
) -> Section:
    if not ran:
        return Section("changes", "security.changes", empty=Msg("empty.security_not_run"))
    prev_keys = {(f.check, f.target, f.key) for f in prev_open}
    change_rows = []
    for f in sorted(found, key=lambda f: (f.check, f.target, f.key)):
        k = (f.check, f.target, f.key)
        if k in open_keys and k not in prev_keys:
            state = "new"
        elif k in open_keys:
            state = "persisting"
        elif k in prev_keys:
            state = "resolved"
        else:
            continue
        change_rows.append(
            (f.target, finding_text(f), Msg(f"severity.{f.severity}"), Msg(f"change.{state}"))
        )
    return Section(
        "changes",
        "security.changes",
        tables=(
            Table(
                "findings_changes",
                (
                    Column("target", width=1.3),
                    Column("finding", width=4.5),
                    Column("severity", width=1.0),
                    Column("change", width=1.1),
                ),
                change_rows,
                empty=Msg("empty.no_findings_changes"),
            ),
        ),
    )


def _legend(month_runs: Mapping[str, list[float]], in_month: list[StoredFinding]) -> Section:
    """Annex: the full text of every policy the report refers to, with its ISO control."""
    info = _check_info()
    used: dict[str, set[str]] = {}
    for c in month_runs:
        if c in info:
            used.setdefault(info[c][0], set()).add(info[c][1])
    for f in in_month:
        used.setdefault(f.policy, set()).add(f.iso_control)
    rows = [
        (
            _policy_short(k),
            Msg(f"policy.{k}") if k in POLICIES else (k or "—"),
            ", ".join(sorted(i for i in isos if i)) or "—",
        )
        for k, isos in sorted(used.items())
        if k
    ]
    return Section(
        "policies",
        "security.policies",
        (Msg("security.policies_intro"),),
        (
            Table(
                "policies",
                (
                    Column("policy", width=1.4),
                    Column("policy_text", width=5.0),
                    Column("iso_control", "center", 0.9),
                ),
                rows,
                empty=Msg("empty.security_not_run"),
            ),
        ),
    )


def _why(ctx: ReportContext, sec: str) -> Msg:
    """Why a section has no data: which checks did not run and the reason."""
    col = area_collector(ctx, sec)
    with_col = [a for (t, c), a in ctx.availability.pairs.items() if c == col and a.polls]
    area = Msg(f"security.{sec}")
    checks = Msg(f"security.{sec}_checks")
    if not with_col:
        params: dict[str, Value] = {"area": area, "checks": checks, "collector": col}
        return Msg("empty.security_no_collector", params)
    if not any(a.ok for a in with_col):
        return Msg(
            "empty.security_no_ok_poll",
            {"area": area, "checks": checks, "collector": col, "targets": Num(len(with_col))},
        )
    return Msg(
        "empty.security_no_readings",
        {"area": area, "checks": checks, "collector": col, "targets": Num(len(with_col))},
    )


def area_collector(ctx: ReportContext, sec: str) -> str:
    """The collector whose polls run the checks of section `sec` (for "why no data"):
    the kind whose class declares checks of one of the section's areas (`checks`), or
    check inputs (CHECK_INPUT specs) the history turns into checks of those areas."""
    areas = set(AREAS[sec])
    for kind, t in sorted(ctx.collectors.items()):
        fed = {AGENT_CHECKS[k][0].split(".", 1)[0] for k in t.check_inputs if k in AGENT_CHECKS}
        if (t.check_areas | fed) & areas:
            return kind
    return "—"


def _why_none(ctx: ReportContext) -> Msg:
    cols = sorted({c for (_t, c), a in ctx.availability.pairs.items() if a.polls})
    return Msg("empty.security_none_ran", {"collectors": ", ".join(cols) or "—"})


# --- helpers -------------------------------------------------------------------


@cache
def _check_info() -> dict[str, tuple[str, str]]:
    """History check name -> (policy key, ISO/IEC 27001:2022 control)."""
    from monitord.findings import CHECKS as FINDING_CHECKS
    from monitord.history.service import AGENT_CHECKS, CHECK_NAMES

    out = {
        name: (FINDING_CHECKS[c].policy, FINDING_CHECKS[c].iso_control)
        for c, name in CHECK_NAMES.items()
    }
    out.update({check: (policy, iso) for check, _sev, policy, iso in AGENT_CHECKS.values()})
    return out


def _policy_short(key: str) -> Msg | str:
    return Msg(f"policy_short.{key}") if key in POLICIES else (key or "—")


def _yes_no(v: bool | None) -> Msg:
    return Msg("words.no_data" if v is None else ("words.yes" if v else "words.no"))


def _utc(v: str) -> Ts | str:
    """'2026-10-06 12:00 UTC' (the findings' date format) as an instant."""
    try:
        return Ts(datetime.strptime(v, "%Y-%m-%d %H:%M UTC").replace(tzinfo=UTC).timestamp())
    except ValueError:
        return v
