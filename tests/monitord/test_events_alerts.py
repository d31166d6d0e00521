"""The built-in event alerts through the real engine, with real senders and a real webhook.

`device_failed_logins`: more than 10 failed logins in 10 minutes (util-linux logger
sends sshd lines); `device_config_changed`: a configuration change outside a
maintenance window (a Cisco CONFIG_I line), none inside one. The notifications reach a
webhook receiver on loopback (tests/peers/webhook.py).
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta

from tests.collectors.events.senders import logger
from tests.collectors.events.test_receiver import free_udp_port
from tests.conftest import wait_for
from tests.monitord.test_daemon import _value
from tests.peers.webhook import WebhookReceiver

CONFIG = """\
daemon:
  listen: 127.0.0.1:{port}
  data_dir: {data_dir}
  startup_spread: 0.1s
alerts:
  evaluation_interval: 1s
  notify:
    - webhook:
        url: "@HOOK@"
        timeout: 2s
@MAINTENANCE@
events:
  syslog:
    udp: "127.0.0.1:@UDP@"
targets:
  - name: fw-01
    address: 127.0.0.1
    kind: firewall
"""
WINDOW = """\
  maintenance:
    - targets: [fw-01]
      start: "@START@"
      end: "@END@"
      timezone: UTC
"""
SSHD = "Failed password for root from 127.0.0.66 port {} ssh2"
CHANGE = "%SYS-5-CONFIG_I: Configured from console by ops on vty0"


def _config(hook: str, udp: int, window: bool) -> str:
    now = datetime.now(UTC)
    maint = WINDOW.replace("@START@", (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    maint = maint.replace("@END@", (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    text = CONFIG.replace("@HOOK@", hook).replace("@UDP@", str(udp))
    return text.replace("@MAINTENANCE@\n", maint if window else "")


def _alerts(hook: WebhookReceiver) -> list[tuple[str, str, str]]:
    return [
        (a["alertname"], a["target"], a["status"])
        for r in hook.snapshot()
        for a in r.json["alerts"]
    ]


def test_failed_logins_and_config_change_outside_maintenance_alert(start_daemon) -> None:
    udp = free_udp_port()
    with WebhookReceiver() as hook:
        d = start_daemon(_config(hook.url, udp, window=True))
        m = lambda name, **kw: _value(d.metrics(), name, **kw)  # noqa: E731

        # 1. a configuration change inside fw-01's maintenance window: counted, no alert
        logger(udp, CHANGE, tcp=False, rfc=5424)
        wait_for(lambda: m("monitord_device_events_total", target="fw-01",
                           kind="config_change") == 1, 10, "change counted")  # fmt: skip
        assert m("monitord_device_unplanned_config_changes", target="fw-01") == 0
        time.sleep(3)  # three evaluations
        assert _alerts(hook) == []

        # 2. the window is gone (SIGHUP): the next change alerts at once
        text = _config(hook.url, udp, window=False)
        d.config.write_text(text.format(port=d.port, data_dir=d.config.parent / "var"))
        d.signal(signal.SIGHUP)
        wait_for(lambda: "config reloaded" in d.log(), 10, "reload")
        logger(udp, CHANGE, tcp=False, rfc=5424)
        wait_for(lambda: _alerts(hook), 10, "the config change webhook")
        assert _alerts(hook) == [("device_config_changed", "fw-01", "firing")]
        assert m("monitord_device_unplanned_config_changes", target="fw-01") == 1
        assert m("monitord_device_events_total", target="fw-01", kind="config_change") == 2

        # 3. ten failed logins: not "more than 10"; the eleventh fires
        for i in range(10):
            logger(udp, SSHD.format(4000 + i), tcp=False, rfc=3164, tag="sshd")
        wait_for(lambda: m("monitord_device_recent_failed_logins", target="fw-01") == 10,
                 10, "ten failed logins")  # fmt: skip
        time.sleep(3)
        assert [a for a in _alerts(hook) if a[0] == "device_failed_logins"] == []
        logger(udp, SSHD.format(4010), tcp=False, rfc=3164, tag="sshd")
        wait_for(lambda: len(_alerts(hook)) == 2, 10, "the failed logins webhook")
        assert _alerts(hook)[1] == ("device_failed_logins", "fw-01", "firing")
        firing = hook.snapshot()[-1].json["alerts"][0]
        assert "fw-01" in firing["summary"] and "11" in firing["summary"], firing
        assert d.stop() == 0
