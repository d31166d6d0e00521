"""Alerts through the real daemon: `monitord run` with an `alerts:` section.

A netns test host polled over ICMP goes down and comes back; the alert must reach a real
SMTP server (aiosmtpd, STARTTLS + AUTH), a real Alertmanager and a webhook receiver that
checks the HMAC, within a bound derived from the interval, failures_to_down and `for`;
its resolution must follow; `monitord silence` must talk to the running daemon; the
event log must hold the start and the resolution; /metrics must expose
monitord_alert_active while it fires.

Expects daemon.py to: build `AlertEngine(config.alerts, state.snapshot,
build_notifiers(...), sink=history.add_alert_events, registry=SelfMetrics.registry)`,
`poke()` it from the runner's on_events, start it, and serve `ControlServer` on
`<data_dir>/control.sock`.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import wait_for
from tests.peers.alertmanager import Alertmanager
from tests.peers.netns import netns_host
from tests.peers.smtp import SmtpServer
from tests.peers.webhook import WebhookReceiver

pytestmark = [pytest.mark.netns, pytest.mark.peer]

INTERVAL, TIMEOUT, FAILURES, FOR, EVALUATION = 0.5, 0.4, 2, 1.0, 0.2

CONFIG = """\
daemon:
  listen: 127.0.0.1:{{port}}
  data_dir: {{data_dir}}
  startup_spread: 0.1s
defaults: {{{{failures_to_down: {failures}, successes_to_up: 1}}}}
targets:
  - {{{{name: sw-acceso-1, address: {address}, kind: switch, site: centro,
      collectors: {{{{icmp: {{{{interval: {interval}s, timeout: {timeout}s, count: 1,
                              packet_timeout: 0.3s}}}}}}}}}}}}
alerts:
  evaluation_interval: {evaluation}s
  rules: {{{{target_down: {{{{for: {for_}s}}}}}}}}
  notify:
    - alertmanager: {{{{url: "{am}", timeout: 2s}}}}
    - email: {{{{smtp: "127.0.0.1:{smtp_port}", from: monitord@alcaldia.gov.co,
               to: [oncall@alcaldia.gov.co], user: monitord, password: "${{{{SMTP_PASSWORD}}}}",
               ca_file: "{ca}", timeout: 5s}}}}
    - webhook: {{{{url: "{hook}", secret: "${{{{WEBHOOK_SECRET}}}}", timeout: 2s}}}}
"""


def _alert_active(text: str, target: str) -> float | None:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "monitord_alert_active" and s.labels.get("target") == target:
                return s.value
    return None


def test_daemon_alerts_on_link_down_and_resolves(start_daemon, tmp_path: Path) -> None:
    bound = FAILURES * INTERVAL + TIMEOUT + FOR + EVALUATION + 1.5
    with (
        netns_host("alerte2e") as host,
        SmtpServer(tmp_path, password="smtp-pw") as smtp,
        WebhookReceiver(secret=b"hook-secret") as hook,
        WebhookReceiver() as am_hook,
        Alertmanager(tmp_path, webhook_url=am_hook.url) as am,
    ):
        text = CONFIG.format(
            failures=FAILURES,
            address=host.address,
            interval=INTERVAL,
            timeout=TIMEOUT,
            evaluation=EVALUATION,
            for_=FOR,
            am=am.url,
            smtp_port=smtp.port,
            ca=smtp.ca_file,
            hook=hook.url,
        )
        d = start_daemon(text, env={"SMTP_PASSWORD": "smtp-pw", "WEBHOOK_SECRET": "hook-secret"})
        time.sleep(2 * INTERVAL)
        assert hook.snapshot() == []

        t0 = time.monotonic()
        host.link_down()
        rs = hook.wait_for(lambda rs: len(rs) >= 1, bound + 5, "the firing webhook")
        t_hook = rs[0].received - t0
        smtp.wait_for(1, bound + 5)
        t_mail = smtp.received[0] - t0
        am.wait_alert(lambda a: len(a) == 1, bound + 5, "the alert in alertmanager")
        assert rs[0].valid_signature is True
        assert rs[0].json["alerts"][0]["alertname"] == "target_down"
        assert _alert_active(d.metrics(), "sw-acceso-1") == 1

        cfg = str(d.config)
        add = subprocess.run(
            [
                sys.executable,
                "-m",
                "monitord",
                "silence",
                "-c",
                cfg,
                "add",
                "--target",
                "sw-otro",
                "--for",
                "1h",
                "--comment",
                "prueba",
            ],
            capture_output=True,
            text=True,
            timeout=20,
            cwd=tmp_path,
        )
        assert add.returncode == 0, add.stderr
        listed = subprocess.run(
            [sys.executable, "-m", "monitord", "silence", "-c", cfg, "list"],
            capture_output=True,
            text=True,
            timeout=20,
            cwd=tmp_path,
        )
        assert "target=sw-otro" in listed.stdout and "prueba" in listed.stdout

        t1 = time.monotonic()
        host.link_up()
        hook.wait_for(
            lambda rs: any(a["status"] == "resolved" for a in hook.alerts()),
            10,
            "the resolved webhook",
        )
        smtp.wait_for(2, 10)
        t_resolved = smtp.received[1] - t1
        am.wait_alert(lambda a: a == [], 10, "the alert to resolve in alertmanager")
        wait_for(lambda: _alert_active(d.metrics(), "sw-acceso-1") is None, 5, "metric gone")
        subjects = [m["Subject"] for m in smtp.messages]
        assert d.stop() == 0
    print(
        f"daemon: link down -> webhook {t_hook:.2f}s, e-mail {t_mail:.2f}s (bound {bound:.2f}s);"
        f" link up -> e-mail {t_resolved:.2f}s"
    )
    assert FOR <= t_hook <= bound
    assert FOR <= t_mail <= bound
    assert subjects == [
        "[monitord] ALERTA: sw-acceso-1 no responde",
        "[monitord] RESUELTA: sw-acceso-1 no responde",
    ]
    db = sqlite3.connect(tmp_path / "var" / "monitord.db")
    rows = db.execute(
        "SELECT alertname, target, kind, silenced, notified FROM alert_events ORDER BY ts"
    ).fetchall()
    assert rows == [
        ("target_down", "sw-acceso-1", "start", 0, 1),
        ("target_down", "sw-acceso-1", "resolve", 0, 1),
    ]
    assert "smtp-pw" not in d.log() and "hook-secret" not in d.log()
