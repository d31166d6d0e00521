"""Alerts sent per incident, from the dispatcher's delivery records (REPORTS.md §1.3).

An incident's notifications are those of alerts on its target that *started* while it
lasted (start <= alert start <= end): no look-back, so the previous outage's alert is
never counted again. "Sent" means delivered: each (notifier, alert) counted once when a
delivery of its firing notification succeeded (resends are not new alerts). Firing
notifications that no notifier delivered (SMTP down, queue full, rejected) are listed
with the reason.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from monitord.history.db import Delivery
from monitord.reports.availability import Outage
from monitord.reports.common import ReportContext
from monitord.reports.model import Column, Msg, Table, Ts

__all__ = ["Notifications", "notifications", "undelivered_table"]


@dataclass(frozen=True, slots=True)
class Notifications:
    """The month's firing notifications; `known` is False when the source holds none."""

    known: bool
    records: tuple[Delivery, ...]

    def delivered(self, o: Outage) -> int:
        """Delivered (notifier, alert) pairs of alerts that started during the outage."""
        return len(
            {
                (d.notifier, d.fingerprint, d.starts_at)
                for d in self.records
                if d.delivered and d.target == o.target and o.start <= d.starts_at <= o.end
            }
        )

    def undelivered(self) -> list[Delivery]:
        """Last failed outcome of each (notifier, alert) never delivered, by time."""
        ok = {(d.notifier, d.fingerprint, d.starts_at) for d in self.records if d.delivered}
        last: dict[tuple[str, str, float], Delivery] = {}
        for d in self.records:
            key = (d.notifier, d.fingerprint, d.starts_at)
            if not d.delivered and key not in ok:
                last[key] = d
        return sorted(last.values(), key=lambda d: (d.starts_at, d.target, d.notifier))


def notifications(ctx: ReportContext) -> Notifications:
    """Firing notifications of alerts started in the month."""
    rows = ctx.source.deliveries(ctx.period.start, ctx.period.end)
    if rows is None:
        return Notifications(False, ())
    return Notifications(True, tuple(d for d in rows if d.status == "firing"))


def undelivered_table(n: Notifications, targets: Collection[str]) -> Table:
    """Notifications never delivered, with why."""
    rows = [
        (
            Ts(d.starts_at, seconds=True),
            d.target,
            d.alertname,
            d.notifier,
            Msg(f"delivery.{d.reason}") if d.reason in _REASONS else (d.reason or "—"),
            Ts(d.ts, seconds=True),
        )
        for d in n.undelivered()
        if d.target in targets
    ]
    return Table(
        "undelivered",
        (
            Column("alert_start"),
            Column("device"),
            Column("alert"),
            Column("notifier"),
            Column("reason"),
            Column("given_up"),
        ),
        rows,
        empty=Msg("empty.no_undelivered") if n.known else None,
    )


_REASONS = frozenset({"queue_full", "rejected", "retries_exhausted"})
