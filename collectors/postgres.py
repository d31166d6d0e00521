"""PostgreSQL server health, replication, WAL archiving and database sizes, via psycopg 3.

Emits per target: `monitord_database_info{target,engine,version}`,
`monitord_database_uptime_seconds`, `monitord_database_connections` (client backends),
`monitord_database_connections_max`, `monitord_postgres_in_recovery`; on a primary
`monitord_postgres_replicas_streaming`; on a replica `monitord_postgres_wal_receiver_up`
and `monitord_database_replication_lag_seconds`; from `pg_stat_archiver` (evidence
that WAL archiving, hence point-in-time backups, works):
`monitord_postgres_archiving_enabled`, `monitord_postgres_archiver_archived_total`,
`monitord_postgres_archiver_failed_total` (raw counters),
`monitord_postgres_archiver_last_archived_timestamp_seconds` and
`..._last_failed_timestamp_seconds` (once the archiver has done either); per database
`monitord_database_size_bytes{target,database}`.
Series budget: at most 12 per server + 1 per database (20 databases ≈ 32 series).

The largest tables are report data, not metrics: `PostgresCollector.largest_tables()`
returns the top N of every selected database (one short connection per database).
The daemon lists them every `tables_every` (default one day; capability
`FetchesTableSizes`) into the history, for the servers report's database section.

Least privilege (docs/databases.md): a login role that is a member of `pg_monitor`
(PostgreSQL 10+); without it other sessions are hidden from `pg_stat_activity`, so the
collector refuses with a PermissionDenied naming the grant. Every session is read-only
(`default_transaction_read_only`), has `statement_timeout` and `lock_timeout`, and runs in
this target's own thread pool; one connection is kept open between polls (see
`collectors._dbpool`). libpq reports no SQLSTATE for a failed login, so connection
failures are classified by our own name resolution, a TCP probe and the elapsed time,
never by message text.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Annotated, ClassVar, Final

from pydantic import Field

from collectors._dbpool import (
    COMMON_METRICS,
    CONNECTIONS,
    CONNECTIONS_MAX,
    INFO,
    REPLICATION_LAG,
    UPTIME,
    DatabaseSelection,
    Engine,
    PooledCollector,
    TableSize,
    classify_socket_error,
    gauge,
    probe_tcp,
    redact,
    resolve,
    shutdown_socket,
    size_gauges,
    whole_seconds,
)
from collectors._lazy import lazy_module, load
from monitord.config import Duration, SecretValue, parse_options
from monitord.errors import (
    AuthFailed,
    CollectorError,
    MalformedResponse,
    PermissionDenied,
    TargetTimeout,
    TargetUnreachable,
)
from monitord.types import MetricSpec, Reach, Sample, SampleKind, Shared, Target

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow

    PgConnection = psycopg.Connection[TupleRow]
else:  # imported when a postgres target is configured (build() loads it): about 9 MB
    psycopg = lazy_module("psycopg")
    PgConnection = object  # only a type parameter at run time

__all__ = ["KIND", "Options", "PostgresCollector", "SslMode", "build"]

KIND: Final = "postgres"


class SslMode(StrEnum):
    """libpq `sslmode`."""

    DISABLE = "disable"
    ALLOW = "allow"
    PREFER = "prefer"
    REQUIRE = "require"
    VERIFY_CA = "verify-ca"
    VERIFY_FULL = "verify-full"


@dataclass(frozen=True, slots=True)
class Options:
    """Options of the postgres collector; the defaults here are the documented defaults.

    `host` empty means the target's address. `dbname` is the database the collector
    connects to for server-wide figures. `connect_timeout` is rounded up to whole seconds
    (libpq's minimum is 2); keep `connect_timeout` and `statement_timeout` below the
    job's `timeout`.
    """

    host: str = ""
    port: Annotated[int, Field(ge=1, le=65535)] = 5432
    user: str = "monitor"
    password: SecretValue | None = None
    dbname: str = "postgres"
    databases: DatabaseSelection = "all"
    sslmode: SslMode = SslMode.PREFER
    connect_timeout: Duration = 2.0
    statement_timeout: Duration = 2.0
    top_tables: Annotated[int, Field(ge=1, le=1000)] = 10
    # how often the largest tables are listed for the servers report (kept once a day)
    tables_every: Duration = 86400.0


IN_RECOVERY = MetricSpec(
    "monitord_postgres_in_recovery",
    SampleKind.GAUGE,
    "1 if the server is a replica in recovery (pg_is_in_recovery()), 0 on a primary; "
    "value from the last poll.",
)
REPLICAS = MetricSpec(
    "monitord_postgres_replicas_streaming",
    SampleKind.GAUGE,
    "Replicas streaming WAL from this primary (pg_stat_replication, state streaming); "
    "primaries only, value from the last poll.",
)
WAL_RECEIVER_UP = MetricSpec(
    "monitord_postgres_wal_receiver_up",
    SampleKind.GAUGE,
    "1 if this replica's WAL receiver is streaming from its primary (pg_stat_wal_receiver); "
    "replicas only, value from the last poll.",
)
ARCHIVING = MetricSpec(
    "monitord_postgres_archiving_enabled",
    SampleKind.GAUGE,
    "1 if WAL archiving is on (archive_mode on or always), 0 if off; value from the last poll.",
)
ARCHIVED = MetricSpec(
    "monitord_postgres_archiver_archived_total",
    SampleKind.COUNTER,
    "WAL files archived successfully (pg_stat_archiver.archived_count, raw counter); "
    "value from the last poll.",
)
ARCHIVE_FAILED = MetricSpec(
    "monitord_postgres_archiver_failed_total",
    SampleKind.COUNTER,
    "Failed attempts to archive a WAL file (pg_stat_archiver.failed_count, raw counter); "
    "value from the last poll.",
)
LAST_ARCHIVED = MetricSpec(
    "monitord_postgres_archiver_last_archived_timestamp_seconds",
    SampleKind.GAUGE,
    "Unix time of the last successful WAL archive (pg_stat_archiver.last_archived_time); "
    "absent until the first one. Value from the last poll.",
    unit="seconds",
)
LAST_FAILED = MetricSpec(
    "monitord_postgres_archiver_last_failed_timestamp_seconds",
    SampleKind.GAUGE,
    "Unix time of the last failed WAL archive attempt (pg_stat_archiver.last_failed_time); "
    "absent until the first failure. Value from the last poll.",
    unit="seconds",
)

_SERVER_SQL = """
SELECT current_setting('server_version_num')::int,
       extract(epoch FROM now() - pg_postmaster_start_time())::float8,
       current_setting('max_connections')::int,
       pg_is_in_recovery(),
       pg_has_role(current_user, 'pg_monitor', 'USAGE')
"""
_CONNECTIONS_SQL = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
_SIZES_SQL = """
SELECT datname, pg_database_size(oid) FROM pg_database
WHERE datallowconn AND NOT datistemplate AND (%(all)s OR datname = ANY(%(names)s))
ORDER BY datname
"""
_ARCHIVER_SQL = """
SELECT archived_count, failed_count,
       extract(epoch FROM last_archived_time)::float8,
       extract(epoch FROM last_failed_time)::float8,
       current_setting('archive_mode')
FROM pg_stat_archiver
"""
_REPLICA_SQL = """
SELECT CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END,
       (SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming')
"""
_PRIMARY_SQL = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
_TABLES_SQL = """
SELECT n.nspname, c.relname, pg_total_relation_size(c.oid), c.reltuples::float8
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
ORDER BY 3 DESC, 1, 2
LIMIT %s
"""


@dataclass(frozen=True, slots=True)
class _Status:
    """What one poll read, before it becomes samples (built in the worker thread)."""

    version_num: int
    uptime: float
    max_connections: int
    in_recovery: bool
    privileged: bool
    connections: int = 0
    sizes: tuple[tuple[str, int], ...] = ()
    archived: int = 0
    failed: int = 0
    last_archived: float | None = None
    last_failed: float | None = None
    archive_mode: str = "off"
    replicas: int = 0
    lag: float | None = None
    receiver_up: bool = False


class PostgresCollector(PooledCollector[PgConnection]):
    """Poll one PostgreSQL server; raise CollectorError subclasses only."""

    kind: ClassVar[str] = KIND
    availability_rank: ClassVar[int] = 6  # the reports: lowest rank = device availability
    service: ClassVar[str] = "database"  # a service the users see (reports)
    reach: ClassVar[Reach] = Reach.DATABASE
    concurrency: ClassVar[int] = 8  # polls in flight (daemon.concurrency)
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        *COMMON_METRICS,
        REPLICATION_LAG,
        IN_RECOVERY,
        REPLICAS,
        WAL_RECEIVER_UP,
        ARCHIVING,
        ARCHIVED,
        ARCHIVE_FAILED,
        LAST_ARCHIVED,
        LAST_FAILED,
    )

    options: Options

    async def collect(self, target: Target) -> list[Sample]:
        """One poll: server figures, replication, archiver and database sizes."""
        host = self._host(target)
        try:
            status = await self._pool(target).run(
                self._key(host),
                partial(self._connect, host, self.options.dbname),
                partial(self._poll, target.name),
            )
        except psycopg.Error as exc:
            raise self._translate(exc, host) from exc
        return server_samples(target.name, status)

    async def largest_tables(self, target: Target, n: int | None = None) -> list[TableSize]:
        """The `n` largest tables (default `top_tables`) of every selected database.

        Ordered by database name, then size descending. Each database needs its own
        connection (catalogs are per database); each is opened and closed here, in this
        target's pool, with the same timeouts and read-only session as a poll.
        """
        limit = self._limit(n)
        host = self._host(target)
        pool = self._pool(target)
        try:
            databases = await pool.run(
                self._key(host), partial(self._connect, host, self.options.dbname), self._databases
            )
            out: list[TableSize] = []
            for database in databases:
                rows = await pool.run(
                    None,
                    partial(self._connect, host, database),
                    partial(_largest, limit),
                    cache=False,
                )
                out.extend(
                    TableSize(database, schema, table, int(size), _estimate(rows_est))
                    for schema, table, size, rows_est in rows
                )
        except psycopg.Error as exc:
            raise self._translate(exc, host) from exc
        return out

    # --- worker-thread side ------------------------------------------------------

    def _connect(self, host: str, dbname: str) -> PgConnection:
        o = self.options
        address = resolve(host, o.port)
        started = time.monotonic()
        try:
            conn = psycopg.connect(
                host=host,
                hostaddr=address,
                port=o.port,
                user=o.user,
                password=o.password.reveal() if o.password is not None else None,
                dbname=dbname,
                sslmode=o.sslmode.value,
                connect_timeout=whole_seconds(o.connect_timeout, minimum=2),
                application_name="monitord",
                autocommit=True,
            )
        except psycopg.Error as exc:
            raise self._login_error(exc, host, address, dbname, time.monotonic() - started) from exc
        ms = f"{max(1, round(o.statement_timeout * 1000))}ms"
        try:
            conn.execute(
                "SELECT set_config('statement_timeout', %s, false),"
                " set_config('lock_timeout', %s, false),"
                " set_config('default_transaction_read_only', 'on', false)",
                (ms, ms),
            )
        except psycopg.Error as exc:
            _close(conn)
            raise self._translate(exc, host) from exc
        return conn

    def _databases(self, conn: PgConnection) -> list[str]:
        return [name for name, _size in self._sizes(conn)]

    def _sizes(self, conn: PgConnection) -> list[TupleRow]:
        selection = self.options.databases
        return conn.execute(
            _SIZES_SQL,
            {"all": selection == "all", "names": [] if selection == "all" else list(selection)},
        ).fetchall()

    def _poll(self, target: str, conn: PgConnection) -> _Status:
        version_num, uptime, max_conn, in_recovery, privileged = _one(conn, _SERVER_SQL)
        base = _Status(
            int(version_num), float(uptime), int(max_conn), bool(in_recovery), bool(privileged)
        )
        if not base.privileged:
            user = self.options.user
            raise PermissionDenied(
                f"postgres user {user!r} is not a member of pg_monitor, so other sessions are "
                f"hidden from it (target={target}); grant pg_monitor to the user: "
                f"GRANT pg_monitor TO {_ident(user)};",
                samples=server_samples(target, base),
            )
        (connections,) = _one(conn, _CONNECTIONS_SQL)
        sizes = self._sizes(conn)
        archived, failed, last_archived, last_failed, archive_mode = _one(conn, _ARCHIVER_SQL)
        lag: float | None = None
        receiver_up = False
        replicas = 0
        if base.in_recovery:
            lag_v, receivers = _one(conn, _REPLICA_SQL)
            lag = None if lag_v is None else max(0.0, float(lag_v))
            receiver_up = int(receivers) > 0
        else:
            (replicas,) = _one(conn, _PRIMARY_SQL)
        return _Status(
            base.version_num,
            base.uptime,
            base.max_connections,
            base.in_recovery,
            True,
            connections=int(connections),
            sizes=tuple((str(name), int(size)) for name, size in sizes),
            archived=int(archived or 0),
            failed=int(failed or 0),
            last_archived=None if last_archived is None else float(last_archived),
            last_failed=None if last_failed is None else float(last_failed),
            archive_mode=str(archive_mode),
            replicas=int(replicas),
            lag=lag,
            receiver_up=receiver_up,
        )

    # --- errors --------------------------------------------------------------------

    def _login_error(
        self, exc: psycopg.Error, host: str, address: str, dbname: str, elapsed: float
    ) -> CollectorError:
        o = self.options
        where = f"postgres at {host}:{o.port}"
        if elapsed >= whole_seconds(o.connect_timeout, minimum=2) - 0.05:
            return TargetTimeout(
                f"{where} did not complete the login within "
                f"{whole_seconds(o.connect_timeout, minimum=2)}s (connect_timeout)"
            )
        refused = probe_tcp(address, o.port, o.connect_timeout)
        if refused is not None:
            return classify_socket_error(refused, where)
        if exc.pgconn is not None and exc.pgconn.needs_password:
            return AuthFailed(
                f"{where} asks a password for user {o.user!r} and none is configured; set password:"
            )
        detail = redact(" ".join(str(exc).split()), o.password)
        return AuthFailed(
            f"{where} refused the session of user {o.user!r} on database {dbname!r}: {detail}; "
            "check the password, pg_hba.conf and that the database exists"
        )

    def _translate(self, exc: psycopg.Error, host: str) -> CollectorError:
        o = self.options
        where = f"postgres at {host}:{o.port}"
        state = exc.sqlstate or ""
        detail = redact(" ".join(str(exc).split()), o.password)
        if state == "42501":
            return PermissionDenied(
                f"{where}: user {o.user!r} lacks a privilege ({detail}); grant pg_monitor to the "
                f"user: GRANT pg_monitor TO {_ident(o.user)};"
            )
        if state in ("57014", "55P03"):
            return TargetTimeout(
                f"{where}: a statement ran past statement_timeout={o.statement_timeout:g}s"
            )
        if state.startswith("28"):
            return AuthFailed(f"{where}: {detail}")
        if not state or state[:2] in ("08", "53", "57", "58"):
            return TargetUnreachable(f"{where}: connection lost or server unavailable ({detail})")
        return MalformedResponse(
            f"{where}: unexpected error {state} ({detail}); is the server PostgreSQL 10 or later?"
        )

    def _ops(self) -> _PgOps:
        return _PgOps()


def build(options: Mapping[str, object], shared: Shared) -> PostgresCollector:
    """Validate options (ConfigError naming the field) and build the collector."""
    load(psycopg)
    return PostgresCollector(parse_options(Options, options), shared)


def server_samples(target: str, s: _Status) -> list[Sample]:
    """Turn one poll's readings into samples (pure)."""
    out = [
        gauge(INFO, target, 1, engine=Engine.POSTGRESQL.value, version=_version(s.version_num)),
        gauge(UPTIME, target, s.uptime),
        gauge(CONNECTIONS_MAX, target, s.max_connections),
        gauge(IN_RECOVERY, target, 1 if s.in_recovery else 0),
    ]
    if not s.privileged:
        return out
    out.append(gauge(CONNECTIONS, target, s.connections))
    if s.in_recovery:
        out.append(gauge(WAL_RECEIVER_UP, target, 1 if s.receiver_up else 0))
        if s.lag is not None:
            out.append(gauge(REPLICATION_LAG, target, s.lag))
    else:
        out.append(gauge(REPLICAS, target, s.replicas))
    out.append(gauge(ARCHIVING, target, 0 if s.archive_mode == "off" else 1))
    for spec, value in ((ARCHIVED, s.archived), (ARCHIVE_FAILED, s.failed)):
        out.append(Sample(spec.name, {"target": target}, value, SampleKind.COUNTER, bits=64))
    if s.last_archived is not None:
        out.append(gauge(LAST_ARCHIVED, target, s.last_archived))
    if s.last_failed is not None:
        out.append(gauge(LAST_FAILED, target, s.last_failed))
    out.extend(size_gauges(target, s.sizes))
    return out


class _PgOps:
    """psycopg connections, as the pool sees them."""

    def __init__(self) -> None:
        self.errors: tuple[type[BaseException], ...] = (psycopg.Error,)

    def close(self, conn: PgConnection) -> None:
        _close(conn)

    def usable(self, conn: PgConnection) -> bool:
        return not conn.closed and not conn.broken

    def interrupt(self, conn: PgConnection) -> None:
        try:
            fd = conn.fileno()
        except psycopg.Error:
            return
        shutdown_socket(fd)


def _close(conn: PgConnection) -> None:
    try:
        conn.close()
    except psycopg.Error:
        pass


def _one(conn: PgConnection, sql: str) -> TupleRow:
    row = conn.execute(sql).fetchone()
    if row is None:
        raise MalformedResponse(f"postgres returned no row for: {' '.join(sql.split())[:60]}")
    return row


def _largest(limit: int, conn: PgConnection) -> list[TupleRow]:
    return conn.execute(_TABLES_SQL, (limit,)).fetchall()


def _estimate(value: object) -> int | None:
    if not isinstance(value, int | float) or value < 0:
        return None  # -1: never vacuumed or analyzed (PostgreSQL 14+)
    return int(value)


def _version(num: int) -> str:
    if num >= 100000:
        return f"{num // 10000}.{num % 10000}"
    return f"{num // 10000}.{num // 100 % 100}.{num % 100}"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
