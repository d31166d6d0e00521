"""The daemon's monthly report job and its catch-up (taken out of the history service).

`MonthlyReports` adds `reports-monthly` (on `reports.schedule.day` at `.time`) to the
daemon's scheduler, and `reports-catch-up` (5 minutes after start) when the daemon was
down at the scheduled time of this month. It writes last month's reports into
`<data_dir>/reports/YYYY-MM/` and e-mails them to `reports.schedule.email_to` when set.

The outputs are handed in by the composition root: `render` writes one report's files
(`exporters.reports.files.write_files`), `send` e-mails them
(`exporters.reports.mail.send_reports`). The reports read the history; the history never
imports the reports.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from monitord.alerts.config import EmailConfig
from monitord.contract import CollectorTraits
from monitord.errors import NotifyError
from monitord.history.db import History
from monitord.reports.job import Render, configured_targets, cron_fields, write_monthly
from monitord.reports.period import Period
from monitord.reports.settings import ReportsConfig, email_settings
from monitord.types import Clock, SystemClock

__all__ = ["MonthlyReports", "Send"]

log = logging.getLogger(__name__)

# send_reports(mail, reports, files, lang): e-mail the files (blocking; run in a thread).
Send = Callable[[EmailConfig, ReportsConfig, Sequence[Path], str], None]

CATCH_UP_DELAY = 300.0


class MonthlyReports:
    """The monthly report job in the daemon (see the module docstring)."""

    def __init__(
        self,
        config: Any,
        history: History,
        flush: Callable[[], Awaitable[object]],
        render: Render,
        send: Send,
        clock: Clock | None = None,
        collectors: Mapping[str, CollectorTraits] | None = None,
    ) -> None:
        self.config = config
        self.collectors = dict(collectors or {})  # what each collector kind declares
        self.history = history
        self.flush = flush
        self.render = render
        self.send = send
        self.clock = clock or SystemClock()
        self._sched: AsyncIOScheduler | None = None
        self.reports_written: list[Path] = []

    @property
    def _db(self) -> Path:
        return self.history.path

    @property
    def _data_dir(self) -> Path:
        return Path(self.config.daemon.data_dir)

    @property
    def _tz(self) -> str:
        return str(self.config.daemon.timezone)

    @property
    def _lang(self) -> str:
        c = self.config
        return str((c.reports.language or c.daemon.language).value)

    def add_jobs(self, sched: AsyncIOScheduler) -> None:
        """Add the monthly job (and a catch-up run when due) to the daemon's scheduler."""
        self._sched = sched
        self._add_timed_job(sched)
        if self.catch_up_due():
            log.info("monthly reports missed while monitord was down; writing them in 5 min")
            sched.add_job(
                self.monthly_reports,
                "date",
                run_date=datetime.fromtimestamp(self.clock.time() + CATCH_UP_DELAY, UTC),
                id="reports-catch-up",
                replace_existing=True,
            )

    def reconfigure(self, config: Any) -> None:
        """Apply a reloaded config (SIGHUP): the schedule and its settings."""
        self.config = config
        if self._sched is not None:
            self._add_timed_job(self._sched)

    async def monthly_reports(self, now: float | None = None) -> list[Path]:
        """Write last month's reports (and e-mail them when configured)."""
        cfg = self.config
        await self.flush()
        files = await asyncio.to_thread(
            write_monthly,
            self._db,
            self._data_dir,
            cfg.reports,
            render=self.render,
            tz=self._tz,
            lang=self._lang,
            now=self.clock.time() if now is None else now,
            configured=configured_targets(cfg),
            alert_windows=cfg.alerts.maintenance,
            collectors=self.collectors,
        )
        self.reports_written = files
        mail = email_settings(cfg.reports, cfg.alerts)
        if mail is not None and files:
            try:
                await asyncio.to_thread(self.send, mail, cfg.reports, files, self._lang)
            except NotifyError as exc:
                log.error("monthly report e-mail failed: %s", exc)
        return files

    def catch_up_due(self) -> bool:
        """True when this month's run is past, last month was monitored and has no reports."""
        schedule = self.config.reports.schedule
        if not schedule.enabled:
            return False
        now = self.clock.time()
        this = Period.containing(now, ZoneInfo(self._tz))
        hour, minute = (int(x) for x in schedule.time.split(":"))
        due = this.start_dt.replace(day=schedule.day, hour=hour, minute=minute).timestamp()
        prev = this.shift(-1)
        out = (self.config.reports.output_dir or self._data_dir / "reports") / prev.label
        if now < due or out.exists():
            return False
        # only when monitord ran during that month (not on a fresh install)
        return bool(
            self.history.query(
                "SELECT 1 FROM sessions WHERE last > ? AND started < ? LIMIT 1",
                (prev.start, prev.end),
            )
        )

    def _add_timed_job(self, sched: AsyncIOScheduler) -> None:
        schedule = self.config.reports.schedule
        if schedule.enabled:
            sched.add_job(
                self.monthly_reports,
                CronTrigger(**cron_fields(schedule), timezone=self._tz),
                id="reports-monthly",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=6 * 3600,
                replace_existing=True,
            )
        elif sched.get_job("reports-monthly") is not None:
            sched.remove_job("reports-monthly")
