"""Helpers for the notifier tests: a ready-made notification."""

from __future__ import annotations

import time

from monitord.alerts.config import Notification, NotificationStatus, Severity
from monitord.configtypes import Language


def notification(
    status: NotificationStatus = NotificationStatus.FIRING,
    *,
    target: str = "sw-core-1",
    alertname: str = "target_down",
    summary: str = "sw-core-1 no responde",
    description: str = "sw-core-1 (127.0.0.2, sede centro) no responde a: icmp.",
    language: Language = Language.ES,
    starts_at: float | None = None,
) -> Notification:
    start = starts_at if starts_at is not None else time.time() - 30
    labels = {"alertname": alertname, "target": target, "severity": "critical", "site": "centro"}
    return Notification(
        fingerprint=f"fp-{alertname}-{target}",
        alertname=alertname,
        target=target,
        severity=Severity.CRITICAL,
        status=status,
        starts_at=start,
        ends_at=time.time() if status is NotificationStatus.RESOLVED else None,
        labels=labels,
        summary=summary,
        description=description,
        language=language,
        site="centro",
        value="1",
        generator_url="http://127.0.0.1:9877/metrics",
    )
