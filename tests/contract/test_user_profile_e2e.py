"""A user-defined SNMP profile with a brand-new metric, added by SIGHUP to a running daemon.

The documented way to add vendor metrics (`snmp.modules:` in the config) must reach
every output: /metrics, an alert rule that names the metric, and, by the role the
profile declares (`roles: [distribution], rollup: cpu`), the history's daily CPU
distribution and the servers report. A second SIGHUP edits the profile (another OID)
and the new value is polled, without a restart.
"""

from __future__ import annotations

import csv
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from prometheus_client.parser import text_string_to_metric_families

from monitord.reports.period import Period
from tests.conftest import REPO, DaemonProc, wait_for
from tests.peers.snmprec_gen import GAUGE32, Record, switch
from tests.peers.snmpsim import SnmpSim

VENDOR = (1, 3, 6, 1, 4, 1, 99999, 1)
BASE = """\
daemon:
  listen: 127.0.0.1:{{port}}
  data_dir: {{data_dir}}
  startup_spread: 0.1s
defaults: {{{{interval: 1s, timeout: 900ms}}}}
history: {{{{flush_interval: 2s}}}}
{extra}targets:
  - {{{{name: srv-v, address: 127.0.0.1, kind: server,
      collectors: {{{{snmp: {{{{community: 'file:{cfile}', port: {port}, version: 2c,
                             modules: [system{more}]}}}}}}}}}}}}
"""
PROFILE = """\
snmp:
  modules:
    vendor_cpu:
      description: Vendor CPU load (a private MIB served by the test)
      scalars:
        columns: {{{{load: {oid}}}}}
        metrics:
          - {{{{name: monitord_vendor_cpu_ratio, kind: gauge, value: load, scale: 0.01,
              help: "CPU load of the vendor MIB ({oid}), percent x 0.01.",
              roles: [distribution], rollup: cpu}}}}
alerts:
  evaluation_interval: 1s
  rules:
    vendor_cpu_high: {{{{kind: threshold, metric: monitord_vendor_cpu_ratio, op: ">",
                      threshold: 0.5, severity: critical}}}}
"""


def _value(text: str, name: str, **labels: str) -> float | None:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def _write(d: DaemonProc, text: str, tmp: Path) -> None:
    d.config.write_text(text.format(port=d.port, data_dir=tmp / "var"))


def test_user_profile_added_by_sighup_reaches_metrics_alerts_history_and_report(
    start_daemon: Callable[..., DaemonProc], tmp_path: Path
) -> None:
    oid1, oid2 = ".".join(map(str, (*VENDOR, 1, 0))), ".".join(map(str, (*VENDOR, 2, 0)))
    with SnmpSim(tmp_path / "snmp") as sim:
        recs = switch(2, name="srv-v")
        recs += [Record((*VENDOR, 1, 0), GAUGE32, 73), Record((*VENDOR, 2, 0), GAUGE32, 41)]
        sim.add_records("gen-sw", recs)
        sim.start()
        cfile = tmp_path / "community"
        cfile.write_text("gen-sw\n")
        base = {"port": sim.port, "cfile": cfile}
        d = start_daemon(BASE.format(extra="", more="", **base))
        wait_for(
            lambda: _value(d.metrics(), "monitord_snmp_info", target="srv-v") == 1,
            20,
            "the first SNMP poll",
        )
        assert _value(d.metrics(), "monitord_vendor_cpu_ratio") is None

        # SIGHUP 1: the profile, its use by the target and a rule that names its metric
        _write(
            d,
            BASE.format(extra=PROFILE.format(oid=oid1), more=", vendor_cpu", **base),
            tmp_path,
        )
        d.signal(signal.SIGHUP)
        wait_for(
            lambda: _value(d.metrics(), "monitord_vendor_cpu_ratio", target="srv-v") == 0.73,
            20,
            "the vendor metric on /metrics",
        )
        wait_for(
            lambda: _value(
                d.metrics(), "monitord_alert_active", alertname="vendor_cpu_high", target="srv-v"
            ),
            20,
            "the alert naming the vendor metric",
        )
        assert "undeclared metric" not in d.log()

        # SIGHUP 2: edit the profile only (another OID); the target's options are the same
        _write(
            d,
            BASE.format(extra=PROFILE.format(oid=oid2), more=", vendor_cpu", **base),
            tmp_path,
        )
        d.signal(signal.SIGHUP)
        wait_for(
            lambda: _value(d.metrics(), "monitord_vendor_cpu_ratio", target="srv-v") == 0.41,
            20,
            "the edited profile's value",
        )
        assert "config reloaded" in d.log()
        assert d.stop() == 0

    # the role put it into the history's daily CPU distribution of (srv-v, snmp) ...
    db = tmp_path / "var" / "monitord.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        rows = c.execute(
            "SELECT s.collector, d.n, d.min, d.max FROM dist_day d JOIN series s ON s.id = d.sid "
            "WHERE s.target = 'srv-v' AND s.kind = 'cpu'"
        ).fetchall()
    assert rows, "no CPU distribution recorded for the user metric"
    collector, n, lo, hi = rows[0]
    assert collector == "snmp" and n >= 2
    assert abs(lo - 0.41) < 1e-9 and abs(hi - 0.73) < 1e-9

    # ... and into the servers report (monitord report, CSV)
    month = Period.containing(time.time(), ZoneInfo("America/Bogota")).label
    out = tmp_path / "reports"
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "report", "-c", str(d.config), "--month", month,
         "--kind", "servers", "--format", "csv", "--lang", "en", "--out", str(out),
         "--jobs", "1"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    (path,) = (out / month / "csv").glob("*_cpu_and_memory.csv")
    with path.open(encoding="utf-8-sig") as f:
        rows_by_server = {row["Server"]: row for row in csv.DictReader(f)}
    assert rows_by_server["srv-v"]["CPU max (%)"] == "73.00", rows_by_server
    assert rows_by_server["srv-v"]["Memory max (%)"] == ""  # no role, no memory column
