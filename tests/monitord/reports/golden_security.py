"""A security month built from known events, through State, the rollup recorder and the
findings job (the daemon's path), plus the figures a person computes by hand.

October 2026, hourly polls:
- `portal` (http): certificate issued by "CA Prueba", TLS 1.3, expiring 5 days after the
  close of the month (6 Nov 00:00 local); `micrositio`: valid 200 days, TLS 1.2.
- `fw-1` (tcp): port 22 must be closed; it is open from 10 Oct 00:00 to the end.
- `srv-1` (agent): 2 failed logins per hour (48 a day, above the 20/day threshold);
  the daily backup "db-dump" is made at 02:00 until 20 Oct, then stops (stale).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitord.history import RollupRecorder
from monitord.history.db import History
from monitord.history.service import history_checks
from monitord.state import State
from monitord.types import Sample, SampleKind, Target, TargetKind
from tests.conftest import FakeClock
from tests.contract.declared import declared_roles
from tests.monitord.reports.month import P0, P1, TZ

__all__ = ["BACKUP_LAST", "CERT_NOT_AFTER", "PORT_OPEN_FROM", "SecMonth", "build_security_month"]

HOUR = 3600.0
ROLES = declared_roles()
CERT_NOT_AFTER = datetime(2026, 11, 6, tzinfo=TZ).timestamp()  # 5 days after the close
MICRO_NOT_AFTER = P1 + 200 * 86400.0
PORT_OPEN_FROM = datetime(2026, 10, 10, tzinfo=TZ).timestamp()
BACKUP_LAST = datetime(2026, 10, 20, 2, tzinfo=TZ).timestamp()
LOGINS_PER_HOUR = 2
# nginx stopped for 6 hourly polls on 12 Oct (00:00-05:00 readings): 738 of 744 running
NGINX_DOWN = (
    datetime(2026, 10, 12, tzinfo=TZ).timestamp(),
    datetime(2026, 10, 12, 6, tzinfo=TZ).timestamp(),
)

PORTAL = Target("portal", "127.0.0.10", TargetKind.WEBSITE, "centro")
MICRO = Target("micrositio", "127.0.0.11", TargetKind.WEBSITE, "centro")
FW = Target("fw-1", "127.0.0.12", TargetKind.FIREWALL, "centro")
SRV = Target("srv-1", "127.0.0.4", TargetKind.SERVER, "centro")


@dataclass
class SecMonth:
    """The built history and the hand figures."""

    db: Path
    findings_runs: int  # runs of the findings job in the month
    logins: int  # failed logins counted over the month


def _tls(t: Target, not_after: float, issuer: str, version: str, now: float) -> list[Sample]:
    lb = {"target": t.name}

    def viol(check: str, bad: bool) -> Sample:
        return Sample(
            "monitord_policy_violation", {**lb, "check": check, "port": "443"}, float(bad)
        )

    return [
        Sample(
            "monitord_tls_info",
            {**lb, "version": version, "cipher": "TLS_AES_256_GCM_SHA384", "issuer": issuer},
            1.0,
            SampleKind.INFO,
        ),
        Sample("monitord_tls_cert_valid", lb, 1.0),
        Sample("monitord_tls_verify_result", lb, 0.0),
        Sample("monitord_tls_hostname_match", lb, 1.0),
        Sample("monitord_tls_cert_not_after_timestamp_seconds", lb, not_after),
        Sample("monitord_tls_cert_expiry_seconds", lb, not_after - now),
        viol("tls_chain_invalid", False),
        viol("tls_hostname_mismatch", False),
        viol("tls_obsolete_protocol", False),
        viol("tls_cert_expiry", not_after - now < 30 * 86400.0),
    ]


def build_security_month(db: Path) -> SecMonth:
    """Run October's hourly polls of the four targets into `db`."""
    clock = FakeClock(mono=1000.0, wall=P0)
    state = State(clock)
    h = History(db)
    rec = RollupRecorder(h, clock, TZ, roles=ROLES)
    last_backup = P0 - 22 * HOUR  # 30 Sep 02:00
    k = runs = 0
    while clock.wall < P1:
        now = clock.wall
        if now <= BACKUP_LAST and (now - P0) % 86400 == 2 * HOUR:
            last_backup = now
        polls = {
            PORTAL: ("http", _tls(PORTAL, CERT_NOT_AFTER, "CA Prueba", "TLSv1.3", now)),
            MICRO: ("http", _tls(MICRO, MICRO_NOT_AFTER, "CA Prueba", "TLSv1.2", now)),
            FW: (
                "tcp",
                [
                    Sample(
                        "monitord_policy_violation",
                        {"target": "fw-1", "check": "tcp_must_be_closed", "port": "22"},
                        1.0 if now >= PORT_OPEN_FROM else 0.0,
                    ),
                    Sample("monitord_tcp_port_open", {"target": "fw-1", "port": "22"}, 1.0),
                ],
            ),
            SRV: (
                "agent",
                [
                    Sample(
                        "monitord_host_failed_logins_total",
                        {"target": "srv-1"},
                        float(LOGINS_PER_HOUR * k),
                        SampleKind.COUNTER,
                    ),
                    Sample(
                        "monitord_backup_newest_age_seconds",
                        {"target": "srv-1", "backup": "db-dump"},
                        now - last_backup,
                    ),
                    Sample("monitord_backup_files", {"target": "srv-1", "backup": "db-dump"}, 7.0),
                    Sample(
                        "monitord_service_up",
                        {"target": "srv-1", "service": "nginx"},
                        0.0 if NGINX_DOWN[0] <= now < NGINX_DOWN[1] else 1.0,
                    ),
                    Sample(
                        "monitord_service_up", {"target": "srv-1", "service": "postgresql"}, 1.0
                    ),
                ],
            ),
        }
        for tgt, (col, samples) in polls.items():
            h.add_events(state.record(tgt, col, samples, ok=True, interval=HOUR))
            rec.observe(state.group(tgt.name, col))  # type: ignore[arg-type]
        if k % 6 == 0:
            found, ran = history_checks(state.snapshot(), 26 * HOUR, 20.0, roles=ROLES)
            h.upsert_findings(found, now, ran)
            runs += 1
        k += 1
        clock.advance(HOUR)
        if k % 24 == 0:
            rec.flush(clock.wall)
    rec.flush(P1, force=True)
    h.close()
    # the counter's first reading is its base: k - 1 increases of 2 over the month
    return SecMonth(db, runs, LOGINS_PER_HOUR * (k - 1))
