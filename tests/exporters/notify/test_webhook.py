"""Webhook notifier against a real HTTP receiver on loopback that checks the HMAC."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from exporters.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookNotifier, sign
from monitord.alerts.config import NotificationStatus, RetryConfig, WebhookConfig
from monitord.alerts.dispatch import DeliveryMetrics, Dispatcher
from monitord.errors import NotifyError
from monitord.secrets import Secret
from tests.conftest import free_port
from tests.exporters.notify.conftest import notification
from tests.peers.webhook import WebhookReceiver

SECRET = "webhook-s3cret-value"


def _notifier(url: str, secret: str | None = SECRET, timeout: float = 2.0) -> WebhookNotifier:
    cfg = WebhookConfig(url=url, secret=Secret(secret) if secret else None, timeout=timeout)
    return WebhookNotifier("webhook", cfg)


def test_signed_json_reaches_the_receiver_and_the_signature_verifies() -> None:
    with WebhookReceiver(secret=SECRET.encode()) as hook:
        n = notification(summary="sw-core-1 no responde <b>ñ</b>")
        before = int(time.time())
        asyncio.run(_notifier(hook.url).send([n]))
        (req,) = hook.snapshot()
    assert req.valid_signature is True
    assert req.status == 200
    body = req.json
    assert body["version"] == "1"
    assert before <= body["timestamp"] <= before + 2
    assert req.headers[TIMESTAMP_HEADER] == str(body["timestamp"])
    assert req.headers[SIGNATURE_HEADER] == sign(SECRET.encode(), req.body)
    (alert,) = body["alerts"]
    assert alert["status"] == "firing"
    assert alert["alertname"] == "target_down"
    assert alert["target"] == "sw-core-1"
    assert alert["summary"] == "sw-core-1 no responde <b>ñ</b>"
    assert alert["labels"]["site"] == "centro"
    assert alert["endsAt"] is None
    assert alert["startsAt"].endswith("Z")
    assert SECRET not in req.body.decode()


def test_receiver_rejects_a_body_signed_with_another_secret() -> None:
    with WebhookReceiver(secret=b"the-receivers-secret") as hook:
        with pytest.raises(NotifyError) as err:
            asyncio.run(_notifier(hook.url, secret="wrong-secret").send([notification()]))
        (req,) = hook.snapshot()
    assert req.valid_signature is False
    assert err.value.retryable is False  # 401
    assert "401" in str(err.value)
    assert "wrong-secret" not in str(err.value)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(503, True), (500, True), (429, True), (400, False), (404, False)],
    ids=["503", "500", "429", "400", "404"],
)
def test_http_status_decides_retryable(status: int, retryable: bool) -> None:
    with WebhookReceiver(secret=SECRET.encode()) as hook:
        hook.fail_next(1, status)
        with pytest.raises(NotifyError) as err:
            asyncio.run(_notifier(hook.url).send([notification()]))
    assert err.value.retryable is retryable
    assert err.value.sender == "webhook"


def test_refused_connection_is_retryable_and_fast() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    start = time.monotonic()
    with pytest.raises(NotifyError) as err:
        asyncio.run(_notifier(url).send([notification()]))
    assert err.value.retryable is True
    assert time.monotonic() - start < 1.0


def test_dispatcher_retries_with_backoff_and_counts_in_metrics() -> None:
    registry = CollectorRegistry()
    metrics = DeliveryMetrics(registry)
    retry = RetryConfig(max_attempts=5, initial_backoff=0.2, max_backoff=1.0)

    async def main(hook: WebhookReceiver) -> float:
        d = Dispatcher([_notifier(hook.url)], retry, 100, metrics)
        d.start()
        start = time.monotonic()
        d.submit([notification()])
        assert await d.flush(10.0)
        elapsed = time.monotonic() - start
        await d.aclose()
        return elapsed

    with WebhookReceiver(secret=SECRET.encode()) as hook:
        hook.fail_next(2, 503)
        elapsed = asyncio.run(main(hook))
        reqs = hook.snapshot()
    assert [r.status for r in reqs] == [503, 503, 200]
    # backoff 0.2 s then 0.4 s, each with ±20 % jitter
    assert elapsed >= (0.2 + 0.4) * 0.8
    gaps = [b.received - a.received for a, b in itertools.pairwise(reqs)]
    assert gaps[1] > gaps[0] * 1.2
    labels = {"notifier": "webhook"}
    assert registry.get_sample_value("monitord_notifications_sent_total", labels) == 1
    assert registry.get_sample_value("monitord_notification_failures_total", labels) == 2
    assert registry.get_sample_value("monitord_notification_retries_total", labels) == 2


def test_dispatcher_gives_up_after_max_attempts_and_counts_the_drop() -> None:
    registry = CollectorRegistry()
    metrics = DeliveryMetrics(registry)
    retry = RetryConfig(max_attempts=3, initial_backoff=0.05, max_backoff=0.1)
    url = f"http://127.0.0.1:{free_port()}/hook"

    async def main() -> None:
        d = Dispatcher([_notifier(url)], retry, 100, metrics)
        d.start()
        d.submit([notification(), notification(NotificationStatus.RESOLVED, target="x")])
        assert await d.flush(5.0)
        await d.aclose()

    asyncio.run(main())
    labels = {"notifier": "webhook"}
    assert registry.get_sample_value("monitord_notification_failures_total", labels) == 3
    assert registry.get_sample_value("monitord_notification_retries_total", labels) == 2
    dropped = {"notifier": "webhook", "reason": "retries_exhausted"}
    assert registry.get_sample_value("monitord_notifications_dropped_total", dropped) == 2


def test_a_queue_past_its_size_drops_the_oldest(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    metrics = DeliveryMetrics(registry)
    url = f"http://127.0.0.1:{free_port()}/hook"
    d = Dispatcher([_notifier(url)], RetryConfig(), 3, metrics)
    d.submit([notification(target=f"t{i}") for i in range(5)])  # not started: queued only
    dropped = {"notifier": "webhook", "reason": "queue_full"}
    assert registry.get_sample_value("monitord_notifications_dropped_total", dropped) == 2
    assert (
        registry.get_sample_value("monitord_notification_queue_length", {"notifier": "webhook"})
        == 3
    )
