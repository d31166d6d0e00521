"""The history inside the running daemon: rollups on disk, SIGKILL safety, restart, findings.

The daemon runs as a user runs it (`python -m monitord run -c cfg`, a subprocess) and
polls loopback targets; the test reads the SQLite file it writes.
"""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import DaemonProc, wait_for
from tests.peers.snmprec_gen import switch
from tests.peers.snmpsim import SnmpSim

WINDOW = 2.0
TARGETS = 30
CONFIG = """\
daemon:
  listen: 127.0.0.1:{{port}}
  data_dir: {{data_dir}}
  startup_spread: 0.2s
defaults: {{{{interval: 1s, timeout: 900ms}}}}
history: {{{{flush_interval: {window}s, findings_interval: 1s}}}}
targets:
{targets}"""


def _config(extra: str = "") -> str:
    rows = "".join(
        f"  - {{{{name: lo-{i:02d}, address: 127.30.0.{i + 1}, collectors: {{{{icmp: {{{{count: 1}}}}}}}}}}}}\n"
        for i in range(TARGETS)
    )
    return CONFIG.format(window=WINDOW, targets=rows + extra)


def _polls_total(d: DaemonProc, collector: str) -> float:
    for fam in text_string_to_metric_families(d.metrics()):
        for s in fam.samples:
            if s.name == "monitord_polls_total" and s.labels.get("collector") == collector:
                return s.value
    return 0.0


def _stored(db: Path, collector: str = "icmp") -> tuple[int, float, int]:
    """(polls stored, last heartbeat, sessions) read from the file."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as c:
        polls = c.execute(
            "SELECT COALESCE(SUM(polls), 0) FROM poll_hour p JOIN series s ON s.id = p.sid "
            "WHERE s.collector = ?",
            (collector,),
        ).fetchone()[0]
        last, n = c.execute("SELECT COALESCE(MAX(last), 0), COUNT(*) FROM sessions").fetchone()
    c.close()
    return int(polls), float(last), int(n)


def _integrity(db: Path) -> str:
    c = sqlite3.connect(db)
    try:
        return str(c.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        c.close()


def test_sigkill_while_writing_loses_at_most_one_window_and_restart_continues(
    start_daemon: Callable[..., DaemonProc], tmp_path: Path
) -> None:
    db = tmp_path / "var" / "monitord.db"
    stored_before = 0
    # SIGKILL at three places in the window: right when the flush job writes (0.05 s
    # after the boundary + its 0.1 s start offset), mid-window and at its end.
    for round_, offset in enumerate((0.12, 1.0, 1.9)):
        d = start_daemon(_config())
        floor = stored_before + 2 * TARGETS
        wait_for(lambda f=floor: _stored(db)[0] > f, 20, "rollups on disk")  # type: ignore[misc]
        now = time.time()
        boundary = (int(now // WINDOW) + 2) * WINDOW
        time.sleep(boundary + offset - time.time())
        scraped = _polls_total(d, "icmp")
        d.proc.kill()
        killed_at = time.time()
        d.proc.wait(10)
        assert d.proc.returncode == -signal.SIGKILL
        assert _integrity(db) == "ok", f"round {round_}"
        stored, heartbeat, sessions = _stored(db)
        assert sessions == round_ + 1
        # Everything up to the last closed window was written ...
        complete_to = int(heartbeat // WINDOW) * WINDOW
        assert killed_at - complete_to <= WINDOW + 0.5, (round_, killed_at, heartbeat)
        # ... so the polls lost are at most those of the open window (+1 s of scrape race).
        lost = scraped - (stored - stored_before)
        assert lost <= TARGETS * (killed_at - complete_to + 1.0), (round_, scraped, stored)
        assert stored - stored_before >= scraped - TARGETS * (WINDOW + 1.5)
        stored_before = stored

    # Restart: the month continues in the same hourly rows; a clean stop writes all.
    d = start_daemon(_config())
    wait_for(lambda: _stored(db)[0] > stored_before + 3 * TARGETS, 20, "rollups after restart")
    scraped = _polls_total(d, "icmp")
    assert d.stop() == 0
    stored, _, sessions = _stored(db)
    assert sessions == 4
    assert scraped <= stored - stored_before <= scraped + 2 * TARGETS
    c = sqlite3.connect(db)
    try:
        dup = c.execute(
            "SELECT COUNT(*) FROM (SELECT sid, hour, COUNT(*) n FROM poll_hour GROUP BY sid, hour "
            "HAVING n > 1)"
        ).fetchone()[0]
        clean = c.execute("SELECT clean FROM sessions ORDER BY id").fetchall()
        series = c.execute(
            "SELECT COUNT(*) FROM series WHERE collector = 'icmp' AND kind = 'poll'"
        ).fetchone()[0]
    finally:
        c.close()
    assert dup == 0
    assert clean == [(0,), (0,), (0,), (1,)]
    assert series == TARGETS
    assert "Traceback" not in d.log()

    # The report of this month reads what the daemon wrote.
    month = time.strftime("%Y-%m", time.localtime())
    out = tmp_path / "out"
    res = subprocess.run(
        [sys.executable, "-m", "monitord", "report", "-c", str(d.config), "--month", month,
         "--kind", "network", "--format", "csv", "--out", str(out), "--jobs", "1"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    comp = next((out / month / "csv").glob("*completitud*"))
    text = comp.read_text(encoding="utf-8-sig")
    assert f"icmp;{stored}" in text.replace(".", ""), text


def test_daemon_records_findings_and_snmp_inventory(
    start_daemon: Callable[..., DaemonProc], tmp_path: Path
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    bad_port = listener.getsockname()[1]
    with SnmpSim(tmp_path / "snmp") as sim:
        sim.add_records("gen-sw", switch(4, name="sw-inv"))
        sim.start()
        community = tmp_path / "community"
        community.write_text("gen-sw\n")
        extra = (
            (
                "  - {name: sw-inv, address: 127.0.0.1, kind: switch, collectors: "
                f"{{snmp: {{community: 'file:{community}', port: {sim.port}, version: 2c}}, "
                f"tcp: {{must_be_closed: [{bad_port}]}}}}}}\n"
            )
            .replace("{", "{{")
            .replace("}", "}}")
        )
        try:
            d = start_daemon(_config(extra))
            db = tmp_path / "var" / "monitord.db"

            def rows(sql: str) -> list[tuple[object, ...]]:
                c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
                try:
                    return c.execute(sql).fetchall()
                finally:
                    c.close()

            found = wait_for(
                lambda: rows('SELECT "check", target, severity, iso_control, detail FROM findings'),
                20,
                "a finding recorded",
            )
            wait_for(lambda: rows("SELECT target FROM inventory"), 20, "an inventory snapshot")
            assert d.stop() == 0
        finally:
            listener.close()
    assert found == [("ports.must_be_closed", "sw-inv", "high", "8.20", f"port={bad_port}")]
    ran = {r[0] for r in rows('SELECT DISTINCT "check" FROM check_runs')}
    assert {"ports.must_be_closed", "ports.must_be_open"} <= ran
    inv = rows("SELECT target, data FROM inventory")
    assert [r[0] for r in inv] == ["sw-inv"]
    assert '"sys_name":"sw-inv"' in str(inv[0][1])
    assert '"manufacturer":"Cisco"' in str(inv[0][1])  # monitord_device_info
    assert "gen-sw" not in str(inv[0][1])  # no community


def test_monthly_job_writes_last_month_and_emails_it(tmp_path: Path) -> None:
    import asyncio
    from datetime import datetime

    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from collectors import COLLECTORS
    from exporters.reports.files import write_files
    from exporters.reports.mail import send_reports
    from monitord.config import parse_config_text
    from monitord.history.service import HistoryService
    from monitord.reports.monthly import MonthlyReports
    from monitord.state import State
    from monitord.types import Shared
    from tests.conftest import FakeClock
    from tests.monitord.reports.month import TZ, build_month
    from tests.peers.smtp import SmtpServer

    data = tmp_path / "var"
    data.mkdir()
    build_month(data / "monitord.db")  # October 2026, with known outages
    (tmp_path / "smtp").mkdir()
    with SmtpServer(tmp_path / "smtp") as smtp:
        text = f"""
daemon: {{data_dir: {data}}}
alerts:
  notify:
    - email: {{smtp: "127.0.0.1:{smtp.port}", from: monitord@example.gov.co,
               to: [noc@example.gov.co], user: monitord, password: "${{SMTP_PW}}",
               ca_file: {smtp.ca_file}}}
reports:
  entity: Alcaldía de Prueba
  schedule: {{day: 1, time: "06:00", formats: [pdf, csv], email_to: [jefe@example.gov.co]}}
"""
        cfg = parse_config_text(text, "t.yaml", COLLECTORS, Shared(), {"SMTP_PW": "pw"})
        nov1 = datetime(2026, 11, 1, 6, 0, tzinfo=TZ).timestamp()
        clock = FakeClock(wall=nov1)
        svc = HistoryService(cfg, State(clock).snapshot, clock)
        monthly = MonthlyReports(cfg, svc.history, svc.flush, write_files, send_reports, clock)

        async def run() -> tuple[list[Path], datetime | None]:
            sched = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
            svc.add_jobs(sched)
            monthly.add_jobs(sched)
            job = sched.get_job("reports-monthly")
            assert sched.get_job("reports-catch-up") is not None
            nxt = job.trigger.get_next_fire_time(None, datetime(2026, 11, 24, tzinfo=TZ))
            files = await monthly.monthly_reports()
            assert not monthly.catch_up_due()  # written now
            await svc.aclose()
            return files, nxt

        assert monthly.catch_up_due()  # 1 Nov 06:00 and no October reports yet
        files, nxt = asyncio.run(run())
        assert nxt == datetime(2026, 12, 1, 6, 0, tzinfo=TZ)
        out = data / "reports" / "2026-10"
        pdfs = sorted(p.name for p in out.glob("*.pdf"))
        assert pdfs == [
            "2026-10_indicadores.pdf",
            "2026-10_inventario.pdf",
            "2026-10_red.pdf",
            "2026-10_seguridad.pdf",
            "2026-10_servidores.pdf",
        ]
        assert len(list((out / "csv").glob("*.csv"))) >= 10
        assert set(files) >= {out / p for p in pdfs}
        msgs = smtp.wait_for(1, 20)
    msg = msgs[0]
    assert smtp.envelopes[0].rcpt_tos == ["jefe@example.gov.co"]
    assert msg["Subject"] == "Alcaldía de Prueba: reportes mensuales de monitoreo 2026-10"
    names = sorted(p.get_filename() for p in msg.iter_attachments())
    assert names == pdfs
    assert "pw" not in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_check_config_reports_history_and_reports_errors_with_file_and_line(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "daemon: {data_dir: var}\n"
        "history:\n"
        "  retention_months: 1\n"
        "  prune_time: '3:30'\n"
        "reports:\n"
        "  paper: A3\n"
        "  schedule:\n"
        "    time: '25:00'\n"
        "    email_to: [not-an-address]\n"
    )
    res = subprocess.run(
        [sys.executable, "-m", "monitord", "check-config", "-c", str(bad)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr  # check-config: 1 = invalid config
    err = res.stderr
    assert f"{bad}:3: history.retention_months: Input should be greater than or equal to 2" in err
    assert f"{bad}:4: history.prune_time: invalid time '3:30': expected HH:MM (24 h)" in err
    assert f"{bad}:6: reports.paper: Input should be 'A4' or 'Letter'" in err
    assert f"{bad}:8: reports.schedule.time: invalid time '25:00'" in err
    assert f"{bad}:9: reports.schedule.email_to: invalid e-mail address 'not-an-address'" in err
    # The e-mail needs SMTP settings from alerts.notify: said once the rest is valid.
    mail = tmp_path / "mail.yaml"
    mail.write_text("reports:\n  schedule:\n    email_to: [jefe@example.gov.co]\n")
    res = subprocess.run(
        [sys.executable, "-m", "monitord", "check-config", "-c", str(mail)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 1
    assert f"{mail}:3: reports.schedule.email_to: reports are e-mailed through" in res.stderr
