"""Microsoft SQL Server health and database sizes, via pymssql (optional extra).

Install with `pip install monitord[mssql]`; without pymssql the config is refused at load
with that hint. Emits per target: `monitord_database_info{target,engine,version}`,
`monitord_database_uptime_seconds` (sys.dm_os_sys_info), `monitord_database_connections`
(user sessions), `monitord_database_connections_max` (@@MAX_CONNECTIONS), and per
database `monitord_database_size_bytes{target,database}` (data + log files,
sys.master_files). Series budget: 4 per server + 1 per database.
`MssqlCollector.largest_tables()` returns the report's largest tables.
The daemon lists them every `tables_every` (default one day; capability
`FetchesTableSizes`) into the history, for the servers report's database section.

Least privilege (docs/databases.md): a login with `VIEW SERVER STATE` and
`VIEW ANY DEFINITION` (and `CONNECT ANY DATABASE` for the largest tables); the collector
checks both and names the missing one. The collector only reads; every session has a
query timeout and `LOCK_TIMEOUT`, and runs in this target's own thread pool. pymssql gives
no handle on its socket, so a timed-out poll's worker thread is bounded by the query
timeout rather than interrupted; a broken cached connection fails one poll and is
replaced on the next. Not covered: Always On availability groups (replica lag).
Errors are classified by SQL Server / DB-Lib error number, never by message text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from types import ModuleType
from typing import Annotated, Any, ClassVar, Final

from pydantic import Field

from collectors._dbpool import (
    COMMON_METRICS,
    DatabaseSelection,
    DriverOps,
    Engine,
    PooledCollector,
    ServerStatus,
    TableSize,
    classify_socket_error,
    import_driver,
    included,
    probe_tcp,
    redact,
    resolve,
    whole_seconds,
)
from monitord.config import Duration, SecretValue, parse_options
from monitord.errors import (
    AuthFailed,
    CollectorError,
    MalformedResponse,
    PermissionDenied,
    TargetTimeout,
    TargetUnreachable,
)
from monitord.types import MetricSpec, Reach, Sample, Shared, Target

__all__ = ["DRIVER", "KIND", "MssqlCollector", "Options", "build", "classify_number"]

KIND: Final = "mssql"
DRIVER: Final = "pymssql"

_AUTH: Final = frozenset({4060, 18452, 18456, 18470, 18486, 18487, 18488})
_PERMISSION: Final = frozenset({229, 230, 262, 297, 300, 916})
_TIMEOUT: Final = frozenset({1222, 20003})
_CONNECT: Final = frozenset({20002, 20006, 20009, 20047})

_SERVER_SQL = """
SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)),
       HAS_PERMS_BY_NAME(NULL, NULL, 'VIEW SERVER STATE'),
       HAS_PERMS_BY_NAME(NULL, NULL, 'VIEW ANY DEFINITION'),
       @@MAX_CONNECTIONS, SUSER_SNAME()
"""
_UPTIME_SQL = """
SELECT DATEDIFF(SECOND, sqlserver_start_time, SYSDATETIME()),
       (SELECT COUNT(*) FROM sys.dm_exec_sessions WHERE is_user_process = 1)
FROM sys.dm_os_sys_info
"""
_SIZES_SQL = """
SELECT DB_NAME(database_id), SUM(CAST(size AS bigint)) * 8192
FROM sys.master_files GROUP BY database_id ORDER BY 1
"""
_TABLES_SQL = """
SELECT TOP (%d) s.name, t.name, SUM(a.total_pages) * 8192,
       (SELECT SUM(p2.rows) FROM sys.partitions p2
        WHERE p2.object_id = t.object_id AND p2.index_id IN (0, 1))
FROM sys.tables t
JOIN sys.schemas s ON s.schema_id = t.schema_id
JOIN sys.partitions p ON p.object_id = t.object_id
JOIN sys.allocation_units a ON a.container_id = p.partition_id
GROUP BY s.name, t.name, t.object_id
ORDER BY 3 DESC, 1, 2
"""


@dataclass(frozen=True, slots=True)
class Options:
    """Options of the mssql collector; the defaults here are the documented defaults.

    `host` empty means the target's address. Timeouts are rounded up to whole seconds
    (the driver takes integers); keep them below the job's `timeout`.
    """

    host: str = ""
    port: Annotated[int, Field(ge=1, le=65535)] = 1433
    user: str = "monitor"
    password: SecretValue | None = None
    databases: DatabaseSelection = "all"
    connect_timeout: Duration = 2.0
    statement_timeout: Duration = 2.0
    top_tables: Annotated[int, Field(ge=1, le=1000)] = 10
    # how often the largest tables are listed for the servers report (kept once a day)
    tables_every: Duration = 86400.0


class MssqlCollector(PooledCollector[Any]):
    """Poll one SQL Server instance; raise CollectorError subclasses only."""

    kind: ClassVar[str] = KIND
    reach: ClassVar[Reach] = Reach.DATABASE
    concurrency: ClassVar[int] = 8  # polls in flight (daemon.concurrency)
    metrics: ClassVar[tuple[MetricSpec, ...]] = COMMON_METRICS

    options: Options

    def __init__(self, options: Options, shared: Shared, driver: ModuleType) -> None:
        super().__init__(options, shared)
        self._driver = driver

    async def collect(self, target: Target) -> list[Sample]:
        """One poll: version, uptime, sessions and database sizes."""
        host = self._host(target)
        try:
            s = await self._pool(target).run(
                self._key(host), partial(self._connect, host, "master"), self._poll
            )
        except self._driver.Error as exc:
            raise self._translate(exc, host) from exc
        return s.samples(target.name, Engine.MSSQL)

    async def largest_tables(self, target: Target, n: int | None = None) -> list[TableSize]:
        """The `n` largest tables (default `top_tables`) of every selected database."""
        limit = self._limit(n)
        host = self._host(target)
        pool = self._pool(target)
        try:
            s = await pool.run(self._key(host), partial(self._connect, host, "master"), self._poll)
            out: list[TableSize] = []
            for database, _size in s.sizes:
                if database in ("master", "model", "msdb", "tempdb"):
                    continue
                rows = await pool.run(
                    None,
                    partial(self._connect, host, database),
                    partial(_tables, limit),
                    cache=False,
                )
                out.extend(
                    TableSize(
                        database, str(sch), str(tbl), int(size), None if r is None else int(r)
                    )
                    for sch, tbl, size, r in rows
                )
        except self._driver.Error as exc:
            raise self._translate(exc, host) from exc
        return out

    # --- worker-thread side ------------------------------------------------------

    def _connect(self, host: str, database: str) -> Any:
        o = self.options
        address = resolve(host, o.port)
        try:
            conn = self._driver.connect(
                server=address,
                port=str(o.port),
                user=o.user,
                password=o.password.reveal() if o.password is not None else "",
                database=database,
                login_timeout=whole_seconds(o.connect_timeout),
                timeout=whole_seconds(o.statement_timeout),
                appname="monitord",
                autocommit=True,
            )
        except self._driver.Error as exc:
            if _number(exc) in _CONNECT:
                refused = probe_tcp(address, o.port, o.connect_timeout)
                if refused is not None:
                    raise classify_socket_error(refused, f"mssql at {host}:{o.port}") from exc
            raise self._translate(exc, host) from exc
        cur = conn.cursor()
        cur.execute(f"SET LOCK_TIMEOUT {max(1, round(o.statement_timeout * 1000))}")
        return conn

    def _poll(self, conn: Any) -> ServerStatus:
        cur = conn.cursor()
        cur.execute(_SERVER_SQL)
        version, server_state, any_definition, max_connections, login = cur.fetchone()
        missing = [
            p
            for p, ok in (
                ("VIEW SERVER STATE", server_state),
                ("VIEW ANY DEFINITION", any_definition),
            )
            if ok != 1
        ]
        if missing:
            raise PermissionDenied(
                f"mssql login {login!r} lacks {' and '.join(missing)}; "
                f"GRANT {', '.join(missing)} TO [{login}];"
            )
        cur.execute(_UPTIME_SQL)
        uptime, connections = cur.fetchone()
        cur.execute(_SIZES_SQL)
        sizes = tuple(
            (str(name), int(size))
            for name, size in cur.fetchall()
            if name is not None and included(str(name), self.options.databases)
        )
        return ServerStatus(
            str(version), float(uptime), int(connections), int(max_connections), sizes
        )

    def _translate(self, exc: BaseException, host: str) -> CollectorError:
        o = self.options
        where = f"mssql at {host}:{o.port}"
        number = _number(exc)
        args = _args(exc)
        text = args[1] if len(args) > 1 else exc
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        detail = redact(" ".join(str(text).split()), o.password)[:300]
        cls = classify_number(number)
        if cls is PermissionDenied:
            return PermissionDenied(
                f"{where}: login {o.user!r} lacks a permission ({number}: {detail}); "
                f"GRANT VIEW SERVER STATE, VIEW ANY DEFINITION TO [{o.user}];"
            )
        if cls is TargetTimeout:
            return TargetTimeout(f"{where}: no answer within {whole_seconds(o.statement_timeout)}s")
        if cls is AuthFailed:
            return AuthFailed(f"{where} refused the login of {o.user!r} ({number}: {detail})")
        if cls is TargetUnreachable or isinstance(exc, self._driver.InterfaceError):
            return TargetUnreachable(f"{where}: cannot talk to the server ({number}: {detail})")
        return MalformedResponse(f"{where}: unexpected error {number} ({detail})")

    def _ops(self) -> DriverOps:
        """pymssql connections: no socket handle, so nothing to interrupt."""
        return DriverOps(self._driver)


def build(options: Mapping[str, object], shared: Shared) -> MssqlCollector:
    """Validate options and check that pymssql is installed (ConfigError otherwise)."""
    opts = parse_options(Options, options)
    return MssqlCollector(opts, shared, import_driver(KIND, DRIVER))


def classify_number(number: int) -> type[CollectorError] | None:
    """The CollectorError class for a SQL Server / DB-Lib error number, None if unknown."""
    if number in _AUTH:
        return AuthFailed
    if number in _PERMISSION:
        return PermissionDenied
    if number in _TIMEOUT:
        return TargetTimeout
    if number in _CONNECT:
        return TargetUnreachable
    return None


def _tables(limit: int, conn: Any) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    cur.execute(_TABLES_SQL, (limit,))
    return list(cur.fetchall())


def _args(exc: BaseException) -> tuple[object, ...]:
    """pymssql errors carry (number, message) directly or wrapped in a 1-tuple."""
    args: tuple[object, ...] = exc.args
    if len(args) == 1 and isinstance(args[0], tuple):
        args = args[0]
    return args


def _number(exc: BaseException) -> int:
    args = _args(exc)
    return args[0] if args and isinstance(args[0], int) else 0
