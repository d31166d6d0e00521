"""Generic webhook: one JSON POST per batch, signed with HMAC-SHA256.

Body (UTF-8 JSON):
    {"version": "1", "sender": "monitord", "timestamp": 1790000000,
     "alerts": [{"status": "firing"|"resolved", "fingerprint", "alertname", "target",
                 "severity", "site", "labels": {...}, "summary", "description",
                 "value", "startsAt", "endsAt" (RFC 3339 or null), "language",
                 "generatorURL", "repeat": bool}, ...]}
Headers: `Content-Type: application/json`, `X-Monitord-Timestamp: <unix seconds>` (the
same value as the body's `timestamp`) and, when a `secret` is configured,
`X-Monitord-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>`.
A receiver recomputes the HMAC over the exact bytes received, compares it in constant
time, and rejects a timestamp older than a few minutes (replay): the timestamp is
inside the signed body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar

from exporters.notify import post, severities, tls_context
from monitord.alerts.config import Notification, WebhookConfig

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookNotifier", "payload", "sign"]

SIGNATURE_HEADER = "X-Monitord-Signature"
TIMESTAMP_HEADER = "X-Monitord-Timestamp"


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value: `sha256=` + hex HMAC-SHA256 of `body`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def payload(batch: Sequence[Notification], timestamp: int) -> bytes:
    """The JSON body for a batch."""
    doc = {
        "version": "1",
        "sender": "monitord",
        "timestamp": timestamp,
        "alerts": [
            {
                "status": n.status.value,
                "fingerprint": n.fingerprint,
                "alertname": n.alertname,
                "target": n.target,
                "severity": n.severity.alert_label,
                "site": n.site,
                "labels": dict(n.labels),
                "summary": n.summary,
                "description": n.description,
                "value": n.value,
                "startsAt": _rfc3339(n.starts_at),
                "endsAt": _rfc3339(n.ends_at) if n.ends_at is not None else None,
                "language": n.language.value,
                "generatorURL": n.generator_url,
                "repeat": n.repeat,
            }
            for n in batch
        ],
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WebhookNotifier:
    """POSTs signed JSON to `url`."""

    kind: ClassVar[str] = "webhook"

    def __init__(self, name: str, config: WebhookConfig) -> None:
        self.name = name
        self.config = config
        self.timeout = config.timeout
        self.resend_interval: float | None = None
        self.send_resolved = config.send_resolved
        self.severities = severities(config.severities)
        self._ssl = (
            tls_context(config.ca_file, config.tls_verify)
            if config.url.startswith("https:")
            else None
        )

    async def send(self, batch: Sequence[Notification]) -> None:
        """One POST with the whole batch."""
        ts = int(time.time())
        body = payload(batch, ts)
        headers = {"Content-Type": "application/json; charset=utf-8", TIMESTAMP_HEADER: str(ts)}
        if self.config.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.config.secret.reveal().encode(), body)
        await post(self.name, self.config.url, body, headers, self.timeout, self._ssl)

    async def aclose(self) -> None:
        """Nothing is held between sends."""


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
