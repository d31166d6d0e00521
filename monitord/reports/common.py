"""What every report shares: context, header, first page (objective, scope, method,
data completeness), traffic lights, observations and the sign-off block."""

from __future__ import annotations

import base64
import mimetypes
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from monitord.contract import CollectorTraits
from monitord.reports.availability import Availability, AvailabilityModel
from monitord.reports.model import (
    Column,
    Day,
    Dur,
    Light,
    LightColor,
    Meta,
    Msg,
    Num,
    Pct,
    Report,
    Section,
    Signatory,
    Table,
    Ts,
    Value,
)
from monitord.reports.period import Period
from monitord.reports.settings import ReportsConfig
from monitord.reports.store import Source, TargetInfo

__all__ = [
    "NETWORK_KINDS",
    "SERVER_KINDS",
    "ReportContext",
    "assemble",
    "began_in_month",
    "light",
    "since",
]

NETWORK_KINDS = frozenset(
    {"router", "switch", "firewall", "access_point", "ups", "printer", "other"}
)
SERVER_KINDS = frozenset({"server", "database", "storage"})
WEB_KINDS = frozenset({"website"})


@dataclass
class ReportContext:
    """Inputs shared by the builders of one month's reports."""

    source: Source
    period: Period
    config: ReportsConfig = field(default_factory=ReportsConfig)
    configured: Mapping[str, TargetInfo] = field(default_factory=dict)
    generated: float = field(default_factory=time.time)
    intervals: Mapping[str, float] = field(default_factory=dict)  # collector -> seconds
    # what each collector kind declares (monitord.contract.collector_traits, handed in by
    # the wiring): which collector is a device's availability, which are services
    collectors: Mapping[str, CollectorTraits] = field(default_factory=dict)

    @cached_property
    def targets(self) -> dict[str, TargetInfo]:
        """Targets from the source, completed by the current config.

        A source that cannot hold `parent`, `critical` and `tags` (Prometheus: the
        target info series does not carry them) gets them from the configuration, so
        outages are attributed to parents, critical servers and WAN tags still count.
        """
        merged = dict(self.source.targets())
        for name, info in self.configured.items():
            got = merged.get(name)
            if got is None:
                merged[name] = info
                continue
            merged[name] = replace(
                got,
                parent=got.parent or info.parent,
                critical=got.critical or info.critical,
                tags=got.tags or info.tags,
                site=got.site or info.site,
                description=got.description or info.description,
            )
        return merged

    @cached_property
    def availability(self) -> AvailabilityModel:
        """The month's availability model."""
        ranks = {
            k: t.availability_rank
            for k, t in self.collectors.items()
            if t.availability_rank is not None
        }
        return AvailabilityModel(
            self.source, self.period, self.targets, self.config.maintenance, ranks
        )

    def service(self, collector: str) -> str:
        """ "web", "database" or "" : the service a collector's availability stands for."""
        t = self.collectors.get(collector)
        return t.service if t is not None else ""

    def of_kinds(self, kinds: frozenset[str]) -> list[TargetInfo]:
        """Targets of these kinds that were polled in the month, by name."""
        av = self.availability
        return sorted(
            (t for t in self.targets.values() if t.kind in kinds and av.device(t.name)),
            key=lambda t: t.name,
        )

    def meta(self) -> Meta:
        """The header fields."""
        c = self.config
        return Meta(c.entity, c.process, c.office, c.code, c.version, _logo(c.logo), c.paper)

    def previous(self, months: int = 1) -> ReportContext:
        """The same context for an earlier month."""
        return ReportContext(
            self.source,
            self.period.shift(-months),
            self.config,
            self.configured,
            self.generated,
            self.intervals,
            self.collectors,
        )


def since(ctx: ReportContext, a: Availability) -> Ts | Msg:
    """When monitoring of a target began, if within the month (else "todo el mes")."""
    if a.since is not None and a.since > ctx.period.start + max(a.interval, 1.0):
        return Ts(a.since, seconds=True)
    return Msg("words.whole_month")


def began_in_month(ctx: ReportContext, names: Collection[str] | None) -> bool:
    """Every device in scope (or all) started being monitored within the month."""
    av = ctx.availability
    scoped = av.primary if names is None else names
    devices = [d for t in scoped if (d := av.device(t)) is not None]
    return bool(devices) and all(isinstance(since(ctx, d), Ts) for d in devices)


def light(value: float | None, meta: float, margin: float, higher_better: bool = True) -> Light:
    """Green when the meta is met, yellow within `margin` of it, red beyond, none without data."""
    if value is None:
        return Light(LightColor.NONE)
    gap = (meta - value) if higher_better else (value - meta)
    if gap <= 1e-9:
        return Light(LightColor.GREEN)
    if gap <= margin:
        return Light(LightColor.YELLOW)
    return Light(LightColor.RED)


def assemble(
    ctx: ReportContext,
    kind: str,
    summary: tuple[Msg, ...],
    sections: tuple[Section, ...],
    annexes: tuple[Section, ...] = (),
    scope_targets: list[TargetInfo] | None = None,
) -> Report:
    """Wrap a builder's sections with the header, first page and sign-off."""
    c = ctx.config
    sigs = tuple(
        Signatory(role, s.name, s.position)
        for role, s in (("elaboro", c.elaboro), ("reviso", c.reviso), ("aprobo", c.aprobo))
    )
    return Report(
        kind=kind,
        month=ctx.period.label,
        period_start=ctx.period.start,
        period_end=ctx.period.end,
        generated=ctx.generated,
        tz=ctx.period.tz.key,
        meta=ctx.meta(),
        intro=_intro(ctx, kind, scope_targets),
        summary=summary,
        sections=sections,
        observations=tuple(c.observations.get(kind, [])),
        actions=_actions(ctx, kind),
        annexes=annexes,
        signatories=sigs,
    )


def _intro(ctx: ReportContext, kind: str, scope: list[TargetInfo] | None) -> tuple[Section, ...]:
    av = ctx.availability
    names = {t.name for t in scope} if scope is not None else None
    sites = sorted({t.site for t in (scope or []) if t.site})
    scope_msgs = [Msg(f"intro.scope.{kind}", {"targets": len(scope or []), "sites": len(sites)})]
    if sites:
        scope_msgs.append(Msg("intro.sites", {"sites": ", ".join(sites)}))
    intervals = sorted(
        {
            (c, a.interval)
            for (t, c), a in av.pairs.items()
            if a.interval and (names is None or t in names)
        }
    )
    method = [Msg(f"intro.method.{kind}")]
    if intervals:
        listed = ", ".join(f"{c} {int(i)} s" for c, i in intervals)
        method.append(Msg("intro.intervals", {"intervals": listed}))
    rows = []
    for col, (got, exp, whole) in av.by_collector(names).items():
        rows.append(
            (
                col,
                Num(got),
                Num(round(exp)),
                Pct(min(1.0, got / exp) if exp else None),
                Pct(min(1.0, got / whole) if whole else None),
            )
        )
    completeness = Table(
        "completeness",
        (
            Column("collector"),
            Column("polls_obtained", "right"),
            Column("polls_expected", "right"),
            Column("coverage", "right"),
            Column("coverage_month", "right"),
        ),
        rows,
        empty=Msg("empty.no_polls"),
    )
    # counted from when monitoring of the scope began (a daemon started on the 1st at
    # 00:00:17 has no 17 s "gap"): the same start the "monitored since" column shows
    gap_list = av.gaps_of(names)
    gaps = Table(
        "gaps",
        (Column("gap_start"), Column("gap_end"), Column("duration", "right")),
        [(Ts(a, True), Ts(b, True), Dur(b - a)) for a, b in gap_list],
        note=Msg("intro.gaps_note"),
        empty=Msg("intro.no_gaps"),
    )
    coverage: dict[str, Value] = {"coverage": Pct(av.coverage_of(names)), "gaps": len(gap_list)}
    if began_in_month(ctx, names):
        # against the span monitored, the whole month's figure beside it
        month = Pct(av.coverage_month_of(names))
        since_ = Ts(av.began(names), True)
        completeness_msgs = [
            Msg("intro.coverage_since", {**coverage, "since": since_, "month": month}),
            Msg("intro.began", {"since": since_}),
        ]
    else:
        completeness_msgs = [Msg("intro.coverage", coverage)]
    if not av.has_sessions:
        completeness_msgs.append(Msg("intro.no_sessions"))
    completeness_msgs.extend(_partial_polls(ctx, names))
    return (
        Section("objective", "objective", (Msg(f"intro.objective.{kind}"),)),
        Section("scope", "scope", tuple(scope_msgs)),
        Section("method", "method", tuple(method)),
        Section("completeness", "completeness", tuple(completeness_msgs), (completeness, gaps)),
    )


def _partial_polls(ctx: ReportContext, names: set[str] | None) -> list[Msg]:
    """Polls that answered with part of their data (a table cut short, a per-target limit).

    Read from the `partial` distribution (one 0/1 value per poll of collectors that declare
    it, e.g. monitord_snmp_poll_partial): n = polls, sum = partial polls. No message when no
    collector in scope declares it (e.g. a month read from Prometheus)."""
    polls, partial, devices = 0, 0, set()
    for (target, _collector), acc in ctx.source.dists("partial", ctx.period).items():
        if names is not None and target not in names:
            continue
        got = round(acc.sum)
        polls += acc.n
        partial += got
        if got:
            devices.add(target)
    if polls == 0:
        return []
    if partial == 0:
        return [Msg("intro.partial_none", {"polls": Num(polls)})]
    shown = ", ".join(sorted(devices))
    return [Msg("intro.partial", {"partial": Num(partial), "polls": Num(polls), "devices": shown})]


def _actions(ctx: ReportContext, kind: str) -> Table | None:
    """The improvement actions for this report: the month's and the open ones carried."""
    rows = [
        (
            a.id,
            a.text,
            a.responsible or "—",
            Day(a.due),
            a.since or ctx.period.label,
            Msg(f"actions.{a.status}"),
        )
        for a in ctx.config.actions
        if not a.reports or kind in a.reports
    ]
    if not rows:
        return None
    return Table(
        "actions",
        (
            Column("action_id", width=0.9),
            Column("action", width=3.5),
            Column("responsible", width=1.6),
            Column("due", width=1.0),
            Column("since", width=0.9),
            Column("status", width=0.9),
        ),
        rows,
        note=Msg("actions.note"),
    )


def _logo(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"
