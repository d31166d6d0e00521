"""MariaDB / MySQL server health, replica status and database sizes, via PyMySQL.

Emits per target: `monitord_database_info{target,engine,version}` (engine mariadb or
mysql), `monitord_database_uptime_seconds`, `monitord_database_connections`
(Threads_connected), `monitord_database_connections_max` (max_connections),
`monitord_mysql_connections_peak` (Max_used_connections since start); with
`replica: true` `monitord_mysql_replica_io_running`, `monitord_mysql_replica_sql_running`
(0 when the server has no replication configured) and
`monitord_database_replication_lag_seconds` (Seconds_Behind_Master, when known); per
database `monitord_database_size_bytes{target,database}` (sum of DATA_LENGTH +
INDEX_LENGTH in information_schema.TABLES; a database without tables is 0).
Series budget: at most 9 per server + 1 per database.

The largest tables are report data, not metrics: `MysqlCollector.largest_tables()`.
The daemon lists them every `tables_every` (default one day; capability
`FetchesTableSizes`) into the history, for the servers report's database section.

Least privilege (docs/databases.md): `GRANT SHOW VIEW ON *.*` makes every table's size
visible without giving access to any row; add `SLAVE MONITOR` (MariaDB 10.5.9+) or
`REPLICATION CLIENT` (MySQL, older MariaDB) for `replica: true`. A user that cannot see
the tables gets a PermissionDenied naming the grant instead of silently missing sizes.
Every session is `READ ONLY`, has a statement timeout (`max_statement_time` on MariaDB,
`max_execution_time` on MySQL) and socket read/write timeouts, and runs in this
target's own thread pool on a socket the collector opened itself, so a timed-out poll
shuts that socket down and the worker thread returns at once. Errors are classified by
MySQL error number and exception class, never by message text.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, ClassVar, Final, TypeAlias

import pymysql
import pymysql.cursors
from pydantic import Field

from collectors._dbpool import (
    COMMON_METRICS,
    REPLICATION_LAG,
    DatabaseSelection,
    Engine,
    PooledCollector,
    TableSize,
    classify_socket_error,
    gauge,
    included,
    redact,
    resolve,
    server_gauges,
    size_gauges,
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
from monitord.types import MetricSpec, Reach, Sample, SampleKind, Shared, Target

__all__ = ["KIND", "MysqlCollector", "Options", "build"]

KIND: Final = "mysql"

_Db: TypeAlias = "pymysql.connections.Connection[pymysql.cursors.Cursor]"


@dataclass(frozen=True, slots=True)
class Options:
    """Options of the mysql collector (MariaDB and MySQL); the defaults are the documented ones.

    `host` empty means the target's address. `replica: true` says the server is expected
    to be a replica: its replication threads and lag are reported. Keep
    `connect_timeout` and `statement_timeout` below the job's `timeout`.
    """

    host: str = ""
    port: Annotated[int, Field(ge=1, le=65535)] = 3306
    user: str = "monitor"
    password: SecretValue | None = None
    databases: DatabaseSelection = "all"
    replica: bool = False
    connect_timeout: Duration = 2.0
    statement_timeout: Duration = 2.0
    top_tables: Annotated[int, Field(ge=1, le=1000)] = 10
    # how often the largest tables are listed for the servers report (kept once a day)
    tables_every: Duration = 86400.0


PEAK = MetricSpec(
    "monitord_mysql_connections_peak",
    SampleKind.GAUGE,
    "Most connections open at once since the server started (Max_used_connections); "
    "value from the last poll.",
)
IO_RUNNING = MetricSpec(
    "monitord_mysql_replica_io_running",
    SampleKind.GAUGE,
    "1 if the replica's I/O thread is running (Slave_IO_Running = Yes), else 0; only with "
    "replica: true. Value from the last poll.",
)
SQL_RUNNING = MetricSpec(
    "monitord_mysql_replica_sql_running",
    SampleKind.GAUGE,
    "1 if the replica's SQL thread is running (Slave_SQL_Running = Yes), else 0; only with "
    "replica: true. Value from the last poll.",
)

# Table-level privileges: holding any of them globally makes every table visible in
# information_schema (SHOW VIEW is the one that grants no access to rows).
_TABLE_PRIVILEGES: Final = frozenset(
    {
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "CREATE",
        "DROP",
        "REFERENCES",
        "INDEX",
        "ALTER",
        "SHOW VIEW",
        "TRIGGER",
        "CREATE VIEW",
        "DELETE HISTORY",
    }
)
_AUTH_ERRORS: Final = frozenset({1045, 1129, 1130, 1251, 1698})
_PRIVILEGE_ERRORS: Final = frozenset({1044, 1142, 1143, 1227, 1370})
_TIMEOUT_ERRORS: Final = frozenset({1205, 1969, 3024})
_UNAVAILABLE_ERRORS: Final = frozenset({1040, 1053, 1077, 1078, 1080, 1152, 1927, 2006, 2013})
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)")

_STATUS_SQL = (
    "SHOW GLOBAL STATUS"
    " WHERE Variable_name IN ('Uptime', 'Threads_connected', 'Max_used_connections')"
)
_SIZES_SQL = """
SELECT s.SCHEMA_NAME, COALESCE(SUM(t.DATA_LENGTH + t.INDEX_LENGTH), 0)
FROM information_schema.SCHEMATA s
LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME
WHERE s.SCHEMA_NAME NOT IN ('information_schema', 'performance_schema')
GROUP BY s.SCHEMA_NAME
ORDER BY s.SCHEMA_NAME
"""
_TABLES_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0), TABLE_ROWS
FROM information_schema.TABLES
WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')
  AND TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema')
ORDER BY TABLE_SCHEMA, 3 DESC, TABLE_NAME
"""


@dataclass(eq=False, slots=True)
class _Conn:
    """A PyMySQL connection on a socket we own (so a timeout can shut it down)."""

    db: _Db
    sock: socket.socket
    engine: Engine
    version: tuple[int, int, int]
    version_text: str


@dataclass(frozen=True, slots=True)
class _Status:
    """What one poll read, before it becomes samples (built in the worker thread)."""

    engine: Engine
    version: str
    uptime: float
    connections: int
    peak: int
    max_connections: int
    account: str
    privileged: bool
    sizes: tuple[tuple[str, int], ...] = ()
    replica: tuple[bool, bool, float | None] | None = None


class MysqlCollector(PooledCollector["_Conn"]):
    """Poll one MariaDB or MySQL server; raise CollectorError subclasses only."""

    kind: ClassVar[str] = KIND
    availability_rank: ClassVar[int] = 7  # the reports: lowest rank = device availability
    service: ClassVar[str] = "database"  # a service the users see (reports)
    reach: ClassVar[Reach] = Reach.DATABASE
    concurrency: ClassVar[int] = 8  # polls in flight (daemon.concurrency)
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        *COMMON_METRICS,
        PEAK,
        REPLICATION_LAG,
        IO_RUNNING,
        SQL_RUNNING,
    )

    options: Options

    async def collect(self, target: Target) -> list[Sample]:
        """One poll: server figures, replica status (when configured) and database sizes."""
        host = self._host(target)
        try:
            status = await self._pool(target).run(
                self._key(host), partial(self._connect, host), partial(self._poll, target.name)
            )
        except pymysql.err.MySQLError as exc:
            raise self._translate(exc, host) from exc
        return server_samples(target.name, status)

    async def largest_tables(self, target: Target, n: int | None = None) -> list[TableSize]:
        """The `n` largest tables (default `top_tables`) of every selected database.

        Ordered by database name, then size (data + indexes) descending.
        """
        limit = self._limit(n)
        host = self._host(target)
        try:
            rows = await self._pool(target).run(
                self._key(host), partial(self._connect, host), _all_tables
            )
        except pymysql.err.MySQLError as exc:
            raise self._translate(exc, host) from exc
        out: list[TableSize] = []
        counts: dict[str, int] = {}
        for schema, table, size, table_rows in rows:
            database = str(schema)
            if not included(database, self.options.databases) or counts.get(database, 0) >= limit:
                continue
            counts[database] = counts.get(database, 0) + 1
            estimate = int(table_rows) if isinstance(table_rows, int) else None
            out.append(TableSize(database, "", str(table), int(size), estimate))
        return out

    # --- worker-thread side ------------------------------------------------------

    def _connect(self, host: str) -> _Conn:
        o = self.options
        where = f"mysql at {host}:{o.port}"
        address = resolve(host, o.port)
        try:
            sock = socket.create_connection((address, o.port), timeout=o.connect_timeout)
        except OSError as exc:
            raise classify_socket_error(exc, where) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        db = pymysql.connections.Connection(
            host=host,
            port=o.port,
            user=o.user,
            password=o.password.reveal() if o.password is not None else "",
            connect_timeout=o.connect_timeout,
            read_timeout=o.statement_timeout + 1.0,
            write_timeout=o.statement_timeout + 1.0,
            charset="utf8mb4",
            autocommit=True,
            program_name="monitord",
            defer_connect=True,
        )
        try:
            db.connect(sock)
            version_text = str(_rows(db, "SELECT VERSION()")[0][0])
            match = _VERSION.match(version_text)
            version = (0, 0, 0)
            if match:
                version = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
            engine = Engine.MARIADB if "mariadb" in version_text.lower() else Engine.MYSQL
            _rows(db, "SET SESSION TRANSACTION READ ONLY")
            if engine is Engine.MARIADB:
                _rows(db, "SET SESSION max_statement_time = %s", (o.statement_timeout,))
            else:
                ms = round(o.statement_timeout * 1000)
                _rows(db, "SET SESSION max_execution_time = %s", (ms,))
                if version >= (8, 0, 3):  # sizes fresh, not cached for a day
                    _rows(db, "SET SESSION information_schema_stats_expiry = 0")
        except pymysql.err.MySQLError as exc:
            _close_socket(sock)
            raise self._translate(exc, host) from exc
        return _Conn(db, sock, engine, version, version_text)

    def _poll(self, target: str, conn: _Conn) -> _Status:
        status = {str(k): str(v) for k, v in _rows(conn.db, _STATUS_SQL)}
        max_connections = int(_rows(conn.db, "SELECT @@max_connections")[0][0])
        account = _account(str(_rows(conn.db, "SELECT CURRENT_USER()")[0][0]))
        short = ".".join(str(p) for p in conn.version)
        try:
            base = _Status(
                conn.engine,
                short,
                float(status["Uptime"]),
                int(status["Threads_connected"]),
                int(status["Max_used_connections"]),
                max_connections,
                account,
                privileged=self._can_see_tables(conn),
            )
        except (KeyError, ValueError) as exc:
            raise MalformedResponse(
                f"unexpected SHOW GLOBAL STATUS from {conn.version_text}"
            ) from exc
        if not base.privileged:
            # Raised in the worker so the pool drops this session: MariaDB applies a new
            # global grant only to sessions opened after it.
            which = "all" if self.options.databases == "all" else "the listed"
            raise PermissionDenied(
                f"mysql account {account} cannot see the tables of {which} databases, so their "
                f"sizes would be missing (target={target}); grant it a privilege that shows "
                f"tables but none of their rows: GRANT SHOW VIEW ON *.* TO {account};",
                samples=server_samples(target, base),
            )
        sizes = tuple(
            (str(name), int(size))
            for name, size in _rows(conn.db, _SIZES_SQL)
            if included(str(name), self.options.databases)
        )
        replica = self._replica(conn, account) if self.options.replica else None
        return _Status(
            base.engine,
            base.version,
            base.uptime,
            base.connections,
            base.peak,
            base.max_connections,
            account,
            True,
            sizes,
            replica,
        )

    def _can_see_tables(self, conn: _Conn) -> bool:
        rows = _rows(conn.db, "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES")
        granted = {str(p) for (p,) in rows}
        if granted & _TABLE_PRIVILEGES:
            return True
        if self.options.databases == "all":
            return False
        schema_rows = _rows(
            conn.db, "SELECT TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES"
        )
        visible = {str(s) for s, p in schema_rows if str(p) in _TABLE_PRIVILEGES}
        return all(name in visible for name in self.options.databases)

    def _replica(self, conn: _Conn, account: str) -> tuple[bool, bool, float | None]:
        new_syntax = (conn.engine is Engine.MARIADB and conn.version >= (10, 5, 1)) or (
            conn.engine is Engine.MYSQL and conn.version >= (8, 0, 22)
        )
        sql = "SHOW REPLICA STATUS" if new_syntax else "SHOW SLAVE STATUS"
        try:
            with conn.db.cursor(pymysql.cursors.DictCursor) as cur:
                cur.execute(sql)
                row = cur.fetchone()
        except pymysql.err.OperationalError as exc:
            if _errno(exc) in _PRIVILEGE_ERRORS:
                grant = "SLAVE MONITOR" if conn.engine is Engine.MARIADB else "REPLICATION CLIENT"
                raise PermissionDenied(
                    f"mysql account {account} may not read the replica status (replica: true); "
                    f"GRANT {grant} ON *.* TO {account}; (REPLICATION CLIENT before MariaDB 10.5)"
                ) from exc
            raise
        return replica_state(row)

    # --- errors --------------------------------------------------------------------

    def _translate(self, exc: pymysql.err.MySQLError, host: str) -> CollectorError:
        o = self.options
        where = f"mysql at {host}:{o.port}"
        number = _errno(exc)
        text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        detail = redact(" ".join(text.split()), o.password)
        original = getattr(exc, "original_exception", None)
        if isinstance(original, OSError):
            return classify_socket_error(original, where)
        if number in _AUTH_ERRORS:
            return AuthFailed(
                f"{where} refused the login of user {o.user!r} ({number}: {detail}); "
                "check the password and the account's host part"
            )
        if number in _PRIVILEGE_ERRORS:
            return PermissionDenied(
                f"{where}: user {o.user!r} lacks a privilege ({number}: {detail}); "
                "GRANT SHOW VIEW ON *.* to the monitoring account (see docs/databases.md)"
            )
        if number in _TIMEOUT_ERRORS or isinstance(exc.__context__, TimeoutError):
            return TargetTimeout(
                f"{where}: no answer within statement_timeout={o.statement_timeout:g}s"
            )
        if number in _UNAVAILABLE_ERRORS or isinstance(exc, pymysql.err.InterfaceError):
            return TargetUnreachable(
                f"{where}: connection lost or server unavailable ({number}: {detail})"
            )
        return MalformedResponse(f"{where}: unexpected error {number} ({detail})")

    def _ops(self) -> _MysqlOps:
        return _MysqlOps()


def build(options: Mapping[str, object], shared: Shared) -> MysqlCollector:
    """Validate options (ConfigError naming the field) and build the collector."""
    return MysqlCollector(parse_options(Options, options), shared)


def server_samples(target: str, s: _Status) -> list[Sample]:
    """Turn one poll's readings into samples (pure)."""
    out = server_gauges(target, s.engine, s.version, s.uptime, s.connections, s.max_connections)
    out.append(gauge(PEAK, target, s.peak))
    if s.replica is not None:
        io, sql, lag = s.replica
        out.append(gauge(IO_RUNNING, target, 1 if io else 0))
        out.append(gauge(SQL_RUNNING, target, 1 if sql else 0))
        if lag is not None:
            out.append(gauge(REPLICATION_LAG, target, lag))
    out.extend(size_gauges(target, s.sizes))
    return out


def replica_state(row: Mapping[str, object] | None) -> tuple[bool, bool, float | None]:
    """(io running, sql running, lag seconds) from a SHOW REPLICA/SLAVE STATUS row (pure).

    No row means replication is not configured: both threads count as stopped. Column
    names differ: MariaDB keeps Slave_* / Seconds_Behind_Master, MySQL 8.0.22+ says
    Replica_* / Seconds_Behind_Source.
    """
    if row is None:
        return False, False, None

    def col(*names: str) -> object:
        return next((row[n] for n in names if n in row), None)

    io = col("Slave_IO_Running", "Replica_IO_Running") == "Yes"
    sql = col("Slave_SQL_Running", "Replica_SQL_Running") == "Yes"
    lag = col("Seconds_Behind_Master", "Seconds_Behind_Source")
    if isinstance(lag, str) and lag.isdigit():
        lag = int(lag)
    return io, sql, float(lag) if isinstance(lag, int | float) else None


class _MysqlOps:
    """PyMySQL connections, as the pool sees them."""

    errors: tuple[type[BaseException], ...] = (pymysql.err.MySQLError,)

    def close(self, conn: _Conn) -> None:
        if conn.db.open:
            try:
                conn.db.close()
            except (pymysql.err.MySQLError, OSError):
                pass
        _close_socket(conn.sock)

    def usable(self, conn: _Conn) -> bool:
        return bool(conn.db.open)

    def interrupt(self, conn: _Conn) -> None:
        try:
            conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _rows(db: _Db, sql: str, args: Sequence[object] = ()) -> tuple[tuple[Any, ...], ...]:
    with db.cursor() as cur:
        cur.execute(sql, args or None)
        return tuple(cur.fetchall())


def _all_tables(conn: _Conn) -> tuple[tuple[Any, ...], ...]:
    return _rows(conn.db, _TABLES_SQL)


def _close_socket(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


def _errno(exc: BaseException) -> int:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else 0


def _account(current_user: str) -> str:
    user, _, host = current_user.rpartition("@")
    return f"'{user}'@'{host}'" if user else f"'{current_user}'"
