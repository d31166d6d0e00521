"""Alerts sent per incident come from the dispatcher's delivery records: a real webhook
receiver on loopback takes one notifier's copy, a dead port drops the other's; both
outcomes reach the history and the report counts only the delivered one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from exporters.notify.webhook import WebhookNotifier
from monitord.alerts.config import Notification, RetryConfig, WebhookConfig
from monitord.alerts.dispatch import DeliveryMetrics, Dispatcher
from monitord.history.db import Delivery, History
from monitord.reports.availability import Outage
from monitord.reports.notifications import Notifications
from tests.conftest import free_port
from tests.exporters.notify.conftest import notification
from tests.peers.webhook import WebhookReceiver


def test_delivered_and_dropped_notifications_are_recorded(tmp_path: Path) -> None:
    h = History(tmp_path / "h.db")

    def record(name: str, batch: Sequence[Notification], ok: bool, reason: str) -> None:
        h.add_deliveries(
            Delivery(time.time(), name, n.alertname, n.target, n.status.value, n.fingerprint,
                     n.starts_at, ok, reason)
            for n in batch
        )  # fmt: skip

    start = time.time() - 60
    dead = f"http://127.0.0.1:{free_port()}/hook"

    async def main(url: str) -> None:
        d = Dispatcher(
            [
                WebhookNotifier("webhook", WebhookConfig(url=url, timeout=2.0)),
                WebhookNotifier("caido", WebhookConfig(url=dead, timeout=1.0)),
            ],
            RetryConfig(max_attempts=2, initial_backoff=0.05, max_backoff=0.1),
            100,
            DeliveryMetrics(CollectorRegistry()),
            on_result=record,
        )
        d.start()
        d.submit([notification(starts_at=start)])
        assert await d.flush(10.0)
        await d.aclose()

    with WebhookReceiver() as hook:
        asyncio.run(main(hook.url))
        assert len(hook.snapshot()) == 1
    rows = h.deliveries(start - 1, start + 1)
    assert {(d.notifier, d.delivered, d.reason) for d in rows} == {
        ("webhook", True, ""),
        ("caido", False, "retries_exhausted"),
    }
    n = Notifications(True, tuple(rows))
    outage = Outage("sw-core-1", "icmp", start - 120, start + 300, "timeout")
    assert n.delivered(outage) == 1
    # an outage that ended before the alert started does not count it (no look-back)
    assert n.delivered(Outage("sw-core-1", "icmp", start - 600, start - 1, "timeout")) == 0
    assert [(d.notifier, d.reason) for d in n.undelivered()] == [("caido", "retries_exhausted")]
    h.close()
