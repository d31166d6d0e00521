"""Alertmanager v2 API: `POST <url>/api/v2/alerts` with a JSON list of alerts.

Each alert carries `labels` (alertname, target, severity, site when set, the rule's own
labels and the instance's labels such as ifname or mountpoint), `annotations`
(summary, description in the daemon's language, and value), `startsAt`, `endsAt` and
`generatorURL`. A firing alert is sent with `endsAt` = now + 4 x `resend_interval` and
is sent again every `resend_interval` while it fires (the dispatcher does that), as
Prometheus does: should monitord stop, Alertmanager resolves it by itself a few
minutes later. A resolved alert is sent with `endsAt` = the time it resolved.
Routing, grouping, inhibition, on-call rotation and silences are Alertmanager's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar

from exporters.notify import post, severities, tls_context
from monitord.alerts.config import AlertmanagerConfig, Notification, NotificationStatus

__all__ = ["AlertmanagerNotifier", "payload"]


def payload(batch: Sequence[Notification], now: float, valid_for: float) -> bytes:
    """The JSON body of `POST /api/v2/alerts` for a batch."""
    alerts = []
    for n in batch:
        firing = n.status is NotificationStatus.FIRING
        ends = now + valid_for if firing else (n.ends_at if n.ends_at is not None else now)
        annotations = {"summary": n.summary, "description": n.description}
        if n.value:
            annotations["value"] = n.value
        alert: dict[str, object] = {
            "labels": dict(n.labels),
            "annotations": annotations,
            "startsAt": _rfc3339(n.starts_at),
            "endsAt": _rfc3339(ends),
        }
        if n.generator_url:
            alert["generatorURL"] = n.generator_url
        alerts.append(alert)
    return json.dumps(alerts, ensure_ascii=False).encode("utf-8")


class AlertmanagerNotifier:
    """Posts alerts to one Alertmanager."""

    kind: ClassVar[str] = "alertmanager"

    def __init__(self, name: str, config: AlertmanagerConfig) -> None:
        self.name = name
        self.config = config
        self.timeout = config.timeout
        self.resend_interval: float | None = config.resend_interval
        self.send_resolved = True  # Alertmanager must learn that an alert ended
        self.severities = severities(config.severities)
        self._url = config.url + "/api/v2/alerts"
        self._ssl = (
            tls_context(config.ca_file, config.tls_verify)
            if config.url.startswith("https:")
            else None
        )

    async def send(self, batch: Sequence[Notification]) -> None:
        """One POST with the whole batch."""
        body = payload(batch, time.time(), 4 * self.config.resend_interval)
        await post(
            self.name,
            self._url,
            body,
            {"Content-Type": "application/json"},
            self.timeout,
            self._ssl,
        )

    async def aclose(self) -> None:
        """Nothing is held between sends."""


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
