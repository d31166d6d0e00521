"""Tables of the events the devices sent (traps, syslog) for the monthly reports.

The network report's changes section lists the configuration changes the devices
reported (Cisco `%SYS-5-CONFIG_I`, Junos `UI_COMMIT`, FortiGate, ...; see docs/events.md),
one row per folded event with how many times it was reported and its severity (a word
of `monitord.types.Severity`, labelled from the catalogues' `severity.<value>`).
"""

from __future__ import annotations

from collections.abc import Sequence

from monitord.reports.common import ReportContext
from monitord.reports.model import Column, Msg, Num, Table, Ts, Value

__all__ = ["config_changes_table"]

# fields that say who or what made the change, in order of preference
_WHO = ("user", "by")


def config_changes_table(ctx: ReportContext, kinds: frozenset[str]) -> Table:
    """Configuration changes reported in the month by the targets of these kinds.

    Every known target of the kinds counts, polled or not: a device may only send syslog.
    """
    p = ctx.period
    names = {t.name for t in ctx.targets.values() if t.kind in kinds}
    rows: list[Sequence[Value]] = []
    for e in ctx.source.device_events(p.start, p.end, ("config_change",)):
        if e.target not in names:
            continue
        who = next((e.fields[k] for k in _WHO if e.fields.get(k)), "—")
        rows.append((e.target, Ts(e.ts), e.name, who, Msg(f"severity.{e.severity.value}"),
                     Num(e.count)))  # fmt: skip
    return Table(
        "config_changes",
        (
            Column("device", width=1.3),
            Column("date", width=1.4),
            Column("event", width=2.2),
            Column("changed_by", width=1.8),
            Column("severity", width=0.9),
            Column("times", "right", width=0.6),
        ),
        rows,
        empty=Msg("empty.no_config_changes"),
    )
