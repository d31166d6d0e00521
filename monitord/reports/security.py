"""Informe de monitoreo de la seguridad de los sistemas de información (REPORTS.md §3).

Reads the `findings` and `check_runs` tables that the security checks write. A check
is named `<area>.<name>` (e.g. `tls.expiry`, `ports.forbidden_open`); the area picks
the section. A section whose checks never ran in the month says "Sin datos en el
periodo" and why; one whose checks ran and found nothing says so — nothing invented.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from monitord.history.db import StoredFinding
from monitord.reports.common import ReportContext, assemble
from monitord.reports.model import Column, Dur, Msg, Num, Pct, Report, Section, Table, Ts
from monitord.reports.store import GaugeStat

__all__ = ["AREAS", "agent_tables", "build_security", "open_findings"]

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
SEVERITIES = ("critical", "high", "medium", "low", "info")
# policy keys the catalogs translate (`policy.<key>`); others are shown as recorded
POLICIES = frozenset(
    {
        "network_ports", "snmp_management", "web_tls", "web_https", "web_integrity",
        "asset_inventory", "authentication", "patching", "host_firewall", "backup",
    }
)  # fmt: skip


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
    if not month_runs:
        summary = (Msg("summary.security_no_checks"),)
    else:
        checks_ok = sum(1 for c in month_runs if not any(f.check == c for f in now_open))
        sev = Counter(f.severity for f in now_open)
        summary = (
            Msg(
                "summary.security",
                {
                    "open": Num(len(now_open)),
                    "checks": Num(len(month_runs)),
                    "compliant": Pct(checks_ok / len(month_runs), 1),
                    "critical": Num(sev.get("critical", 0) + sev.get("high", 0)),
                },
            ),
        )
    sev_rows = [
        (Msg(f"severity.{s}"), Num(sum(1 for f in now_open if f.severity == s))) for s in SEVERITIES
    ]
    check_rows = [
        (
            c,
            Num(len(ts)),
            Num(sum(1 for f in now_open if f.check == c)),
            Msg("words.yes" if not any(f.check == c for f in now_open) else "words.no"),
        )
        for c, ts in sorted(month_runs.items())
    ]
    sections = [
        Section(
            "findings_summary",
            "security.summary",
            tables=(
                Table(
                    "findings_by_severity", (Column("severity"), Column("open", "right")), sev_rows
                ),
                Table(
                    "checks",
                    (
                        Column("check"),
                        Column("runs", "right"),
                        Column("open", "right"),
                        Column("compliant", "center"),
                    ),
                    check_rows,
                    empty=Msg("empty.security_not_run"),
                ),
            ),
            empty=None if month_runs else Msg("empty.security_not_run"),
        )
    ]
    open_keys = {(f.check, f.target, f.key) for f in now_open}
    agent = agent_tables(ctx)
    for sec, areas in AREAS.items():
        ran = [c for c in month_runs if c.split(".", 1)[0] in areas]
        extra = agent.get(sec, ())
        rows = [
            (
                f.target,
                f.check,
                Msg(f"severity.{f.severity}"),
                _policy(f.policy),
                f.iso_control or "—",
                f.detail or "—",
                Ts(f.first_seen),
                Ts(f.last_seen),
                Msg(
                    "status.open" if (f.check, f.target, f.key) in open_keys else "status.resolved"
                ),
            )
            for f in in_month
            if f.check.split(".", 1)[0] in areas
        ]
        if not ran and not extra:
            sections.append(
                Section(
                    sec,
                    f"security.{sec}",
                    empty=Msg("empty.security_area", {"area": Msg(f"security.{sec}")}),
                )
            )
            continue
        if not ran:
            sections.append(Section(sec, f"security.{sec}", (Msg(f"security.{sec}_intro"),), extra))
            continue
        sections.append(
            Section(
                sec,
                f"security.{sec}",
                (Msg(f"security.{sec}_intro"),),
                (
                    Table(
                        f"findings_{sec}",
                        (
                            Column("target"),
                            Column("check"),
                            Column("severity"),
                            Column("policy"),
                            Column("iso_control"),
                            Column("detail"),
                            Column("first_seen"),
                            Column("last_seen"),
                            Column("status"),
                        ),
                        rows,
                        empty=Msg(
                            "empty.no_findings", {"runs": Num(sum(len(month_runs[c]) for c in ran))}
                        ),
                    ),
                    *extra,
                ),
            )
        )
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
            (f.target, f.check, Msg(f"severity.{f.severity}"), Msg(f"change.{state}"))
        )
    sections.append(
        Section(
            "changes",
            "security.changes",
            tables=(
                Table(
                    "findings_changes",
                    (Column("target"), Column("check"), Column("severity"), Column("change")),
                    change_rows,
                    empty=Msg("empty.security_not_run")
                    if not month_runs
                    else Msg("empty.no_findings_changes"),
                ),
            ),
        )
    )
    sections.append(Section("methodology", "methodology", (Msg("method.security"),)))
    return assemble(
        ctx, "security", summary, tuple(sections), scope_targets=list(ctx.targets.values())
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
                (Column("server"), Column("collector"), Column("failed_logins", "right")),
                [(t, c, Num(d.sum)) for (t, c), d in sorted(logins.items())],
            ),
        )
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


def _policy(key: str) -> Msg | str:
    return Msg(f"policy.{key}") if key in POLICIES else (key or "—")
