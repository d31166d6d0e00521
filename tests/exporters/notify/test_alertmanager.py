"""Alertmanager notifier against a real Alertmanager (Debian's binary) on loopback."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

import pytest

from exporters.notify.alertmanager import AlertmanagerNotifier
from monitord.alerts.config import AlertmanagerConfig, NotificationStatus
from monitord.errors import NotifyError
from tests.conftest import free_port
from tests.exporters.notify.conftest import notification
from tests.peers.alertmanager import Alertmanager
from tests.peers.webhook import WebhookReceiver

pytestmark = pytest.mark.peer


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_firing_then_resolved_reaches_alertmanager_and_its_receiver(tmp_path: Path) -> None:
    with WebhookReceiver() as hook, Alertmanager(tmp_path, webhook_url=hook.url) as am:
        sender = AlertmanagerNotifier("alertmanager", AlertmanagerConfig(url=am.url))
        start = time.time() - 30
        firing = notification(starts_at=start)
        asyncio.run(sender.send([firing]))
        (alert,) = am.wait_alert(lambda a: len(a) == 1, 10, "the alert")
        assert alert["labels"] == {
            "alertname": "target_down",
            "target": "sw-core-1",
            "severity": "critical",
            "site": "centro",
        }
        assert alert["annotations"]["summary"] == "sw-core-1 no responde"
        assert alert["annotations"]["description"].startswith("sw-core-1 (127.0.0.2")
        assert alert["generatorURL"] == "http://127.0.0.1:9877/metrics"
        assert alert["status"]["state"] == "active"
        assert abs(_ts(alert["startsAt"]) - start) < 0.01
        # valid for 4 x resend_interval (60 s): Alertmanager resolves it if monitord dies
        assert 230 < _ts(alert["endsAt"]) - time.time() <= 240
        hook.wait_for(
            lambda rs: any(r.json["status"] == "firing" for r in rs),
            10,
            "alertmanager's firing notification",
        )

        asyncio.run(sender.send([notification(NotificationStatus.RESOLVED, starts_at=start)]))
        am.wait_alert(lambda a: a == [], 10, "the alert to resolve")
        rs = hook.wait_for(
            lambda rs: any(r.json["status"] == "resolved" for r in rs),
            10,
            "alertmanager's resolved notification",
        )
    resolved = next(r.json for r in rs if r.json["status"] == "resolved")
    assert resolved["alerts"][0]["labels"]["target"] == "sw-core-1"
    assert resolved["alerts"][0]["annotations"]["summary"] == "sw-core-1 no responde"


def test_alertmanager_down_is_retryable() -> None:
    sender = AlertmanagerNotifier(
        "alertmanager", AlertmanagerConfig(url=f"http://127.0.0.1:{free_port()}", timeout=1)
    )
    with pytest.raises(NotifyError) as err:
        asyncio.run(sender.send([notification()]))
    assert err.value.retryable is True
    assert "/api/v2/alerts" in str(err.value)


def test_alertmanager_rejects_an_invalid_alert_permanently(tmp_path: Path) -> None:
    with Alertmanager(tmp_path) as am:
        sender = AlertmanagerNotifier("alertmanager", AlertmanagerConfig(url=am.url))
        bad = notification()
        object.__setattr__(bad, "labels", {"bad-label": "x"})  # not a valid label name
        with pytest.raises(NotifyError) as err:
            asyncio.run(sender.send([bad]))
    assert err.value.retryable is False
    assert "400" in str(err.value)
