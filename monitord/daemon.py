"""The composition root: builds everything, starts and stops it in order, handles signals.

Start order: state → history → runner → event receiver (when `events:` enables it) →
HTTP server → scheduler (first polls).
Stop order (SIGTERM/SIGINT): event receiver closes its sockets and writes what it holds
→ scheduler stops firing → in-flight polls are cancelled
and awaited → HTTP server stops → history is checkpointed and closed → shared
collector resources are closed.
SIGHUP re-reads the config: it is parsed and validated in full, then swapped in;
a bad config is logged and the running one stays.

Outputs are handed in here: the notifiers, the /metrics server and its web config, the
report renderer and mailer (`MonthlyReports`), and the config checks that belong to an
output or a collector (`CONFIG_CHECKS`: the web config file, the top-level `snmp:`
section, the extra event meaning table `events.patterns`, the event receiver's SNMPv3
users and TLS files).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
import ssl
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from collectors.events import EventReceiver, MeaningTable, load_table
from collectors.events.receiver import build_tls_context
from collectors.events.v3 import V3User
from collectors.snmp import validate_settings as snmp_settings_issues
from collectors.snmp.client import UsmUser
from collectors.snmp.options import Options as SnmpOptions
from collectors.snmp.options import resolve_credentials
from exporters.notify import build_notifiers
from exporters.prometheus import (
    CORE_SPECS,
    Body,
    ExpositionRenderer,
    MetricsServer,
    specs_by_name,
)
from exporters.webconfig import load_web_config
from monitord.alerts.config import AlertEvent, EmailConfig
from monitord.alerts.control import ControlServer, socket_path
from monitord.alerts.dispatch import Notifier
from monitord.alerts.engine import AlertEngine
from monitord.alerts.maintenance import Silence
from monitord.config import (
    Config,
    ConfigCheck,
    DaemonConfig,
    load_config,
    parse_listen,
    web_config_path,
)
from monitord.contract import RoleIndex, collector_traits
from monitord.errors import ConfigError, ConfigIssue, HistoryError
from monitord.events.config import EventsConfig, patterns_path
from monitord.events.engine import start_engine
from monitord.events.service import EVENT_SPECS, EventsService
from monitord.history.db import Delivery, History, StoredSilence
from monitord.history.service import HistoryService
from monitord.httpguard import http_connection_cap
from monitord.log import RedactionFilter, collect_secrets
from monitord.reports.model import Report
from monitord.reports.monthly import MonthlyReports
from monitord.reports.settings import ReportsConfig
from monitord.runner import Runner, SelfMetrics
from monitord.scheduler import Scheduler, job_id
from monitord.secrets import Secret
from monitord.state import Event, GroupView, State
from monitord.types import (
    Clock,
    CollectorFactory,
    MetricSpec,
    Shared,
    SystemClock,
    Target,
    metrics_of,
)

__all__ = [
    "CONFIG_CHECKS",
    "Daemon",
    "collector_specs",
    "event_tls_context",
    "event_v3_users",
    "events_check",
    "events_patterns_check",
    "snmp_section_check",
    "web_config_check",
]

log = logging.getLogger(__name__)


def web_config_check(
    path: str, daemon: DaemonConfig, settings: Mapping[str, object]
) -> Iterable[ConfigIssue]:
    """`daemon.web_config`: the file must load (exporters.webconfig), errors name its lines."""
    web_path = web_config_path(path, daemon)
    if web_path is None:
        return []
    try:
        load_web_config(web_path)
    except ConfigError as exc:
        return exc.issues
    return []


def snmp_section_check(
    path: str, daemon: DaemonConfig, settings: Mapping[str, object]
) -> Iterable[ConfigIssue]:
    """The top-level `snmp:` section (auths, modules), used by a target or not."""
    section = settings.get("snmp")
    if not isinstance(section, Mapping) or not section:
        return []
    return [
        ConfigIssue("", 0, f"snmp.{i.field}" if i.field else "snmp", i.message)
        for i in snmp_settings_issues(section)
    ]


def events_patterns_check(
    path: str, daemon: DaemonConfig, settings: Mapping[str, object]
) -> Iterable[ConfigIssue]:
    """`events.patterns`: the extra meaning table must load (collectors/events)."""
    extra = settings.get("events_patterns")
    if not isinstance(extra, Path):
        return []
    try:
        load_table(Path(path).parent / extra)
    except ConfigError as exc:
        return exc.issues
    return []


def event_v3_users(events: EventsConfig, snmp: object) -> list[V3User]:
    """`events.traps.users` resolved against `snmp.auths`; raise ConfigError naming the field."""
    auths = snmp.get("auths") if isinstance(snmp, Mapping) else None
    out: list[V3User] = []
    issues: list[ConfigIssue] = []

    def reveal(secret: object) -> bytes:
        return secret.reveal().encode("utf-8") if isinstance(secret, Secret) else b""

    for i, u in enumerate(events.traps.users):
        where = f"events.traps.users[{i}].auth"
        try:
            creds = resolve_credentials(
                SnmpOptions(auth=u.auth), auths if isinstance(auths, Mapping) else None
            )
        except ConfigError as exc:
            issues.append(ConfigIssue("", 0, where, "; ".join(i.message for i in exc.issues)))
            continue
        if not isinstance(creds, UsmUser):
            issues.append(
                ConfigIssue("", 0, where, f"auth {u.auth!r} is not an SNMPv3 user (version 3)")
            )
            continue
        out.append(
            V3User(
                creds.user,
                str(creds.auth_protocol or ""),
                reveal(creds.auth_key),
                str(creds.priv_protocol or ""),
                reveal(creds.priv_key),
                frozenset(bytes.fromhex(e) for e in u.engine_ids),
            )
        )
    if issues:
        raise ConfigError(issues)
    if len({u.name for u in out}) != len(out):
        raise ConfigError("two entries name the same SNMPv3 user", field="events.traps.users")
    return out


def event_tls_context(config_path: str, events: EventsConfig) -> ssl.SSLContext | None:
    """The syslog TLS listener's context (files relative to the config); None when off."""
    tls = events.syslog.tls
    if tls is None:
        return None
    base = Path(config_path).parent
    ca = base / tls.client_ca_file if tls.client_ca_file is not None else None
    return build_tls_context(base / tls.cert_file, base / tls.key_file, ca)


def events_check(
    path: str, daemon: DaemonConfig, settings: Mapping[str, object]
) -> Iterable[ConfigIssue]:
    """`events:`: v3 users name version 3 entries of `snmp.auths`; the TLS files load."""
    events = settings.get("events")
    if not isinstance(events, EventsConfig):
        return []
    issues: list[ConfigIssue] = []
    for check in (
        lambda: event_v3_users(events, settings.get("snmp")),
        lambda: event_tls_context(path, events),
    ):
        try:
            check()
        except ConfigError as exc:
            issues.extend(exc.issues)
    return issues


CONFIG_CHECKS: Final[tuple[ConfigCheck, ...]] = (
    web_config_check,
    snmp_section_check,
    events_patterns_check,
    events_check,
)


def write_report_files(
    report: Report, kind: str, out_dir: Path, formats: Sequence[str], lang: str, tz: str, month: str
) -> list[Path]:
    """`exporters.reports.files.write_files`, imported when the monthly job first runs.

    The renderers (Jinja2 templates, Babel's locale data, the PDF writer) are used once a
    month; importing them at start would keep a few MB resident for nothing.
    """
    from exporters.reports.files import write_files

    return write_files(report, kind, out_dir, formats, lang, tz, month)


def send_report_mail(
    mail: EmailConfig, reports: ReportsConfig, files: Sequence[Path], lang: str
) -> None:
    """`exporters.reports.mail.send_reports`, imported on first use (see write_report_files)."""
    from exporters.reports.mail import send_reports

    send_reports(mail, reports, files, lang)


def collector_specs(config: Config) -> list[MetricSpec]:
    """Every MetricSpec the collector instances of `config` declare, core specs first.

    Per instance, not per class: an SNMP collector's user profiles add metrics.
    """
    specs: list[MetricSpec] = list(CORE_SPECS)
    seen: set[MetricSpec] = set(specs)
    for tc in config.targets:
        for cc in tc.collectors:
            for spec in metrics_of(cc.collector):
                if spec not in seen:
                    seen.add(spec)
                    specs.append(spec)
    return specs


class Daemon:
    """One running monitord."""

    def __init__(
        self,
        config_path: str | Path,
        config: Config,
        registry: Mapping[str, CollectorFactory],
        shared: Shared,
        *,
        clock: Clock | None = None,
        redaction: RedactionFilter | None = None,
    ) -> None:
        self.config_path = str(config_path)
        self.config = config
        self.registry = registry
        self.shared = shared
        self.clock = clock or SystemClock()
        self.redaction = redaction
        self.metrics = SelfMetrics()
        self.state = State(
            self.clock,
            failures_to_down=config.defaults.failures_to_down,
            successes_to_up=config.defaults.successes_to_up,
        )
        self.history: History | None = None
        self.hist: HistoryService | None = None
        self.monthly: MonthlyReports | None = None
        self.alerts: AlertEngine | None = None
        self.control: ControlServer | None = None
        self.server: MetricsServer | None = None
        self.scheduler: Scheduler | None = None
        self.events: EventsService | None = None
        self.receiver: EventReceiver | None = None
        self._engine_source: tuple[bool, str | None] = (False, None)
        self._tls_print = ""
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[bool]] = set()
        self._reload_lock = asyncio.Lock()

    async def run(self) -> None:
        """Run until SIGTERM/SIGINT (or `request_stop()`)."""
        cfg = self.config
        self._feed_redaction(cfg)
        data_dir = Path(cfg.daemon.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        specs = collector_specs(cfg)
        if cfg.events.enabled:
            specs.extend(EVENT_SPECS)
        roles = RoleIndex.of(specs)
        self.state.uptime_names = roles.uptime
        hist = self.hist = HistoryService(
            cfg, self.state.snapshot, self.clock, roles, metrics=self.metrics
        )
        self.history = hist.history
        self.monthly = MonthlyReports(
            cfg,
            hist.history,
            hist.flush,
            write_report_files,
            send_report_mail,
            self.clock,
            collectors=collector_traits(self.registry),
        )
        self.alerts = AlertEngine(
            cfg.alerts,
            self.state.snapshot,
            self._notifiers(cfg),
            language=cfg.daemon.language,
            timezone=cfg.daemon.timezone,
            sink=self._on_alert_events,
            deliveries=self._on_deliveries,
            registry=self.metrics.registry,
            clock=self.clock,
            silences_path=data_dir / "silences.json",
            generator_url=cfg.alerts.external_url,
            on_silence=self._on_silence,
        )
        # silences declared before the history kept them (kept once; ids never repeat)
        self._record_silences(self.alerts.silences.all())
        self.alerts.start()
        self.control = ControlServer(socket_path(data_dir), self.alerts)
        await self.control.start()
        self._renderer = ExpositionRenderer(specs)
        runner = Runner(
            self.state,
            self.metrics,
            specs_by_name(specs),
            limits=cfg.daemon.concurrency,
            on_events=self._on_events,
            on_poll=self._on_poll,
            clock=self.clock,
        )
        self._runner = runner
        if cfg.events.enabled:
            await self._start_events(cfg, hist)
        host, port = parse_listen(cfg.daemon.listen)
        web_path = web_config_path(self.config_path, cfg.daemon)
        self.server = MetricsServer(
            host,
            port,
            self._render,
            self.metrics.registry,
            healthy=lambda: self.scheduler is not None and self.scheduler.running,
            web_config=load_web_config(web_path) if web_path is not None else None,
            max_connections=http_connection_cap(cfg.daemon.http_max_connections),
            request_timeout=cfg.daemon.http_request_timeout,
            on_reject=self.metrics.http_rejected.labels(server="metrics").inc,
        )
        self.server.start()
        self.scheduler = Scheduler(
            runner,
            self.state,
            self.metrics,
            startup_spread=cfg.daemon.startup_spread,
            clock=self.clock,
            extra_jobs=self._add_jobs,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        try:
            self.scheduler.start()
            result = self.scheduler.sync(cfg)
            log.info(
                "monitord started listen=%s:%d targets=%d jobs=%d data_dir=%s",
                host,
                self.server.port,
                len(cfg.targets),
                result.added,
                data_dir,
            )
            await self._stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            await self._shutdown()

    def request_stop(self) -> None:
        """Ask the daemon to stop (signal-safe: runs on the loop)."""
        log.info("stopping")
        self._stop.set()

    def request_reload(self) -> None:
        """Ask the daemon to reload its config file."""
        task = asyncio.get_running_loop().create_task(self.reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self) -> bool:
        """Parse the config file again and swap it in; keep the old one on any error.

        All or nothing: the config is parsed and its collectors built in a thread against
        a staged view of the shared settings (`Shared.staged`), the notifiers and the
        exposition specs are built next; only then is everything swapped in, on the loop,
        in one go. A refused reload changes nothing the running jobs read.
        """
        async with self._reload_lock:  # SIGHUPs in a row: one reload at a time, in order
            return await self._reload()

    async def _reload(self) -> bool:
        staged = self.shared.staged()
        try:
            new = await asyncio.to_thread(
                load_config,
                self.config_path,
                self.registry,
                staged,
                checks=CONFIG_CHECKS,
            )
            notifiers = self._notifiers(new)
            specs = collector_specs(new)
            if self.events is not None or new.events.enabled:
                specs.extend(EVENT_SPECS)
            event_parts = self._event_parts(new) if new.events.enabled else None
            renderer = ExpositionRenderer(specs)
            roles = RoleIndex.of(specs)
        except ConfigError as exc:
            self.metrics.config_reloads.labels(result="error").inc()
            log.error(
                "config reload refused, keeping the running config (%d errors):", len(exc.issues)
            )
            for issue in exc.issues:
                log.error("config error: %s", issue)
            return False
        old = self.config
        for fld in (
            "listen",
            "data_dir",
            "concurrency",
            "web_config",
            "http_max_connections",
            "http_request_timeout",
        ):
            if getattr(old.daemon, fld) != getattr(new.daemon, fld):
                log.warning("config reload: daemon.%s changed; restart monitord to apply it", fld)
        # The swap. The job table is changed in batches that yield to the loop (a
        # reload of thousands of targets must not hold up the running polls).
        staged.commit()
        self._feed_redaction(new)
        self._renderer = renderer
        self._runner.specs = specs_by_name(specs)
        self.state.uptime_names = roles.uptime
        self.state.failures_to_down = new.defaults.failures_to_down
        self.state.successes_to_up = new.defaults.successes_to_up
        assert self.scheduler is not None
        result = await self.scheduler.sync_async(new)
        self.config = new
        if self.hist is not None:
            self.hist.reconfigure(new, roles)
        if self.monthly is not None:
            self.monthly.reconfigure(new)
        if self.alerts is not None:
            await self.alerts.reconfigure(new.alerts, notifiers)
        await self._reconfigure_events(new, event_parts)
        if self.events is not None:
            self.events.set_targets(tc.target for tc in new.targets)
        self.metrics.config_reloads.labels(result="ok").inc()
        log.info(
            "config reloaded added=%d removed=%d replaced=%d kept=%d",
            result.added,
            result.removed,
            result.replaced,
            result.kept,
        )
        return True

    async def _start_events(self, cfg: Config, hist: HistoryService) -> None:
        self.events = EventsService(
            cfg.events,
            [tc.target for tc in cfg.targets],
            self.state,
            self.metrics.registry,
            history=hist.history,
            recorder=hist.recorder,
            repoll=self._repoll,
            poke=self.alerts.poke if self.alerts is not None else None,
            maintenance=self._in_maintenance,
            clock=self.clock,
            timezone=cfg.daemon.timezone,
            retention_months=cfg.history.retention_months,
        )
        await self._start_receiver(cfg, *self._event_parts(cfg))

    def _event_parts(self, cfg: Config) -> tuple[MeaningTable, list[V3User], ssl.SSLContext | None]:
        """What the receiver reads from the config and its files; raise ConfigError."""
        table = load_table(patterns_path(self.config_path, cfg.events))
        users = event_v3_users(cfg.events, self.shared.settings.get("snmp"))
        return table, users, event_tls_context(self.config_path, cfg.events)

    def _engine(self, cfg: Config) -> tuple[bytes, int] | None:
        """The receiver's SNMP engine (persistent boots) when traps are received, else None."""
        if not cfg.events.traps.listen:
            return None
        return start_engine(Path(cfg.daemon.data_dir), cfg.events.traps.engine_id)

    async def _start_receiver(
        self, cfg: Config, table: MeaningTable, users: list[V3User], tls: ssl.SSLContext | None
    ) -> None:
        assert self.events is not None
        self._engine_source = (bool(cfg.events.traps.listen), cfg.events.traps.engine_id)
        self._tls_print = _tls_fingerprint(self.config_path, cfg.events)
        self.receiver = EventReceiver(
            cfg.events,
            table,
            self.events.handle,
            self.events.count_drop,
            clock=self.clock,
            v3_users=users,
            engine=self._engine(cfg),
            tls=tls,
        )
        await self.receiver.start()
        log.info(
            "event receiver listening %s",
            " ".join(f"{k}={h}:{p}" for k, (h, p) in self.receiver.addresses.items()),
        )

    async def _reconfigure_events(
        self,
        new: Config,
        parts: tuple[MeaningTable, list[V3User], ssl.SSLContext | None] | None,
    ) -> None:
        """Apply `events:` of a reload: start, stop, or rebind and swap what changed."""
        if not new.events.enabled:
            if self.receiver is not None:
                await self.receiver.aclose()
                self.receiver = None
                log.info("config reload: event receiver stopped (no listen address left)")
            if self.events is not None:
                self.events.config = new.events
            return
        assert parts is not None and self.hist is not None
        if self.events is None:
            await self._start_events(new, self.hist)
            assert self.scheduler is not None and self.events is not None
            self.scheduler.add_jobs(self.events.add_jobs)
            log.info("config reload: event receiver started")
            return
        self.events.config = new.events
        if self.receiver is None:
            await self._start_receiver(new, *parts)
            return
        table, users, tls = parts
        source = (bool(new.events.traps.listen), new.events.traps.engine_id)
        engine = None
        if source != self._engine_source and source[0]:
            engine = self._engine(new)
        self._engine_source = source
        fingerprint = _tls_fingerprint(self.config_path, new.events)
        problems = await self.receiver.reconfigure(
            new.events, table, v3_users=users, engine=engine, tls=tls,
            tls_changed=fingerprint != self._tls_print,
        )  # fmt: skip
        self._tls_print = fingerprint
        for problem in problems:
            log.error("config reload: %s", problem)
        log.info(
            "config reload: event receiver listening %s",
            " ".join(f"{k}={h}:{p}" for k, (h, p) in self.receiver.addresses.items()),
        )

    def _in_maintenance(self, target: Target, alertname: str, ts: float) -> bool:
        """True when a maintenance window of the running alerts config covers `target`."""
        if self.alerts is None:
            return False
        return any(
            w.active(target, alertname, ts, self.alerts.timezone)
            for w in self.alerts.config.maintenance
        )

    def _repoll(self, target: str) -> bool:
        return self.scheduler is not None and self.scheduler.run_now(job_id(target, "snmp"))

    async def _shutdown(self) -> None:
        if self.receiver is not None:
            await self.receiver.aclose()
        if self.events is not None:
            await self.events.aclose()
        if self.scheduler is not None:
            n = len(self._runner._inflight)
            await self.scheduler.shutdown()
            log.info("polls stopped cancelled=%d", n)
        for t in list(self._tasks):
            t.cancel()
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
        if self.control is not None:
            await self.control.aclose()
        if self.alerts is not None:
            await self.alerts.aclose()
        if self.hist is not None:
            try:
                await self.hist.aclose()
            except HistoryError as exc:
                log.error("history close failed: %s", exc)
        await self.shared.aclose()
        log.info("monitord stopped")

    def _add_jobs(self, sched: AsyncIOScheduler) -> None:
        if self.hist is not None:
            self.hist.add_jobs(sched)
        if self.monthly is not None:
            self.monthly.add_jobs(sched)
        if self.events is not None:
            self.events.add_jobs(sched)

    def _on_events(self, events: list[Event]) -> None:
        if self.alerts is not None:
            self.alerts.poke()
        if self.hist is None:
            return
        start = self.clock.monotonic()
        self.hist.pending.add_events(events)  # kept in memory while the disk is full
        self.metrics.history_write.observe(self.clock.monotonic() - start)

    def _on_deliveries(self, rows: list[Delivery]) -> None:
        if self.history is None:
            return
        try:
            self.history.add_deliveries(rows)
        except HistoryError as exc:
            log.error("history write failed: %s", exc)

    def _on_silence(self, silence: Silence, removed_at: float | None) -> None:
        if removed_at is None:
            self._record_silences((silence,))
            return
        if self.history is None:
            return
        try:
            self.history.silence_removed(silence.id, removed_at)
        except HistoryError as exc:
            log.error("history write failed: %s", exc)

    def _record_silences(self, silences: Iterable[Silence]) -> None:
        if self.history is None:
            return
        try:
            self.history.add_silences(_stored(s) for s in silences)
        except HistoryError as exc:
            log.error("history write failed: %s", exc)

    def _on_alert_events(self, rows: list[AlertEvent]) -> None:
        if self.hist is None:
            return
        try:
            self.hist.pending.add_alert_events(rows)
        except HistoryError as exc:
            log.error("history write failed: %s", exc)

    @staticmethod
    def _notifiers(cfg: Config) -> list[Notifier]:
        return build_notifiers(cfg.alerts, cfg.daemon.language, cfg.daemon.timezone)

    def _on_poll(self, view: GroupView) -> None:
        # On the event loop, after each poll: the group's /metrics text is rendered now, a
        # small piece at a time, instead of all at once in the scrape's thread (issue 16).
        self._renderer.prepare(view)
        if self.hist is not None:
            self.hist.on_poll(view)

    def _render(self) -> Body:
        snap = self.state.snapshot()
        self.metrics.series.set(snap.series_count())
        return self._renderer.render_body(snap)

    def _feed_redaction(self, cfg: Config) -> None:
        if self.redaction is None:
            return
        secrets: set[str] = {s.reveal() for s in cfg.secrets}
        for tc in cfg.targets:
            for cc in tc.collectors:
                secrets |= collect_secrets(cc.collector)
                secrets |= collect_secrets(cc.options)
        secrets |= {c.reveal() for c in cfg.events.traps.communities if c.reveal()}
        self.redaction.set_secrets(secrets)


def _stored(s: Silence) -> StoredSilence:
    return StoredSilence(
        s.id, s.starts_at, s.ends_at, s.targets, s.sites, s.tags, s.alertnames,
        s.comment, s.created_by,
    )  # fmt: skip


def _tls_fingerprint(config_path: str, events: EventsConfig) -> str:
    """A digest of the TLS listener's files, to rebind it when a reload brings new ones."""
    tls = events.syslog.tls
    if tls is None:
        return ""
    h = hashlib.sha256()
    base = Path(config_path).parent
    for p in (tls.cert_file, tls.key_file, tls.client_ca_file):
        if p is not None:
            try:
                h.update((base / p).read_bytes())
            except OSError:
                h.update(b"?")
    return h.hexdigest()
