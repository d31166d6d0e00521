"""Oracle Database health and sizes, via python-oracledb in thin mode (optional extra).

Install with `pip install monitord[oracle]`; without oracledb the config is refused at
load with that hint. Emits per target: `monitord_database_info{target,engine,version}`,
`monitord_database_uptime_seconds` (v$instance), `monitord_database_connections` (user
sessions in v$session), `monitord_database_connections_max` (the `sessions` parameter),
and `monitord_database_size_bytes{target,database}`: one series per pluggable database
(v$pdbs) seen from the connected container, or the whole database (dba_data_files) when
it is not a container database. Series budget: 4 per server + 1 per PDB.
`OracleCollector.largest_tables()` returns the report's largest tables (dba_segments).
The daemon lists them every `tables_every` (default one day; capability
`FetchesTableSizes`) into the history, for the servers report's database section.

Least privilege (docs/databases.md): `GRANT CREATE SESSION, SELECT_CATALOG_ROLE TO monitor`.
Each poll runs in a `SET TRANSACTION READ ONLY` transaction that is rolled back; every
round trip is bounded by the connection's `call_timeout` (the statement timeout), so a
hung server releases the worker thread; connections live in this target's own pool.
Not covered: Data Guard standby lag. Errors are classified by ORA-/DPY- code and
exception class, never by message text.
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
    redact,
    resolve,
)
from monitord.config import Duration, SecretValue, parse_options
from monitord.errors import (
    AuthFailed,
    CollectorError,
    ConfigError,
    ConfigIssue,
    MalformedResponse,
    PermissionDenied,
    TargetTimeout,
    TargetUnreachable,
)
from monitord.types import MetricSpec, Reach, Sample, Shared, Target

__all__ = ["DRIVER", "KIND", "Options", "OracleCollector", "build", "classify_code"]

KIND: Final = "oracle"
DRIVER: Final = "oracledb"

_CODES: Final[Mapping[str, type[CollectorError]]] = {
    "ORA-01017": AuthFailed,  # invalid username/password
    "ORA-28000": AuthFailed,  # account locked
    "ORA-28001": AuthFailed,  # password expired
    "DPY-4001": AuthFailed,  # no password configured
    "ORA-01045": PermissionDenied,  # lacks CREATE SESSION
    "ORA-01031": PermissionDenied,  # insufficient privileges
    "ORA-00942": PermissionDenied,  # v$ view not visible without SELECT_CATALOG_ROLE
    "DPY-4024": TargetTimeout,  # call_timeout exceeded
    "ORA-03156": TargetTimeout,
    "DPY-4011": TargetUnreachable,  # connection closed
    "ORA-03113": TargetUnreachable,
    "ORA-03114": TargetUnreachable,
    "ORA-03135": TargetUnreachable,
    "ORA-01033": TargetUnreachable,  # starting up or shutting down
    "ORA-01034": TargetUnreachable,  # not available
    "ORA-12514": TargetUnreachable,  # service not known to the listener
    "ORA-12505": TargetUnreachable,
    "ORA-12541": TargetUnreachable,  # no listener
}

_SERVER_SQL = """
SELECT i.version, (SYSDATE - i.startup_time) * 86400,
       (SELECT COUNT(*) FROM v$session WHERE type = 'USER'),
       (SELECT TO_NUMBER(value) FROM v$parameter WHERE name = 'sessions'),
       SYS_CONTEXT('USERENV', 'CON_NAME')
FROM v$instance i
"""
_PDB_SQL = "SELECT name, total_size FROM v$pdbs WHERE total_size > 0 ORDER BY name"
_DB_SQL = "SELECT (SELECT name FROM v$database), (SELECT SUM(bytes) FROM dba_data_files) FROM dual"
_TABLES_SQL = """
SELECT owner, segment_name, SUM(bytes)
FROM dba_segments
WHERE segment_type IN ('TABLE', 'TABLE PARTITION', 'TABLE SUBPARTITION')
  AND owner NOT IN (SELECT username FROM dba_users WHERE oracle_maintained = 'Y')
GROUP BY owner, segment_name
ORDER BY 3 DESC, 1, 2
FETCH FIRST :n ROWS ONLY
"""


@dataclass(frozen=True, slots=True)
class Options:
    """Options of the oracle collector; the defaults here are the documented defaults.

    `service_name` is required (e.g. ORCLPDB1). `host` empty means the target's address.
    """

    service_name: str = ""
    host: str = ""
    port: Annotated[int, Field(ge=1, le=65535)] = 1521
    user: str = "monitor"
    password: SecretValue | None = None
    databases: DatabaseSelection = "all"
    connect_timeout: Duration = 2.0
    statement_timeout: Duration = 2.0
    top_tables: Annotated[int, Field(ge=1, le=1000)] = 10
    # how often the largest tables are listed for the servers report (kept once a day)
    tables_every: Duration = 86400.0


class OracleCollector(PooledCollector[Any]):
    """Poll one Oracle database; raise CollectorError subclasses only."""

    kind: ClassVar[str] = KIND
    reach: ClassVar[Reach] = Reach.DATABASE
    concurrency: ClassVar[int] = 8  # polls in flight (daemon.concurrency)
    metrics: ClassVar[tuple[MetricSpec, ...]] = COMMON_METRICS

    options: Options

    def __init__(self, options: Options, shared: Shared, driver: ModuleType) -> None:
        super().__init__(options, shared)
        self._driver = driver

    async def collect(self, target: Target) -> list[Sample]:
        """One poll: version, uptime, sessions and sizes."""
        s: ServerStatus = await self._run(target, self._poll)
        return s.samples(target.name, Engine.ORACLE)

    async def largest_tables(self, target: Target, n: int | None = None) -> list[TableSize]:
        """The `n` largest tables (default `top_tables`) of the connected container."""
        tables: list[TableSize] = await self._run(target, partial(_tables, self._limit(n)))
        return tables

    async def _run(self, target: Target, work: Any) -> Any:
        host = self._host(target)
        try:
            return await self._pool(target).run(self._key(host), partial(self._connect, host), work)
        except self._driver.Error as exc:
            raise self._translate(exc, host) from exc

    # --- worker-thread side ------------------------------------------------------

    def _connect(self, host: str) -> Any:
        o = self.options
        address = resolve(host, o.port)
        try:
            conn = self._driver.connect(
                user=o.user,
                password=o.password.reveal() if o.password is not None else None,
                host=address,
                port=o.port,
                service_name=o.service_name,
                tcp_connect_timeout=o.connect_timeout,
            )
        except self._driver.Error as exc:
            cause = exc.__cause__
            if isinstance(cause, OSError):
                raise classify_socket_error(cause, f"oracle at {host}:{o.port}") from exc
            raise self._translate(exc, host) from exc
        conn.call_timeout = max(1, round(o.statement_timeout * 1000))
        return conn

    def _poll(self, conn: Any) -> ServerStatus:
        cur = conn.cursor()
        try:
            cur.execute("SET TRANSACTION READ ONLY")
            cur.execute(_SERVER_SQL)
            version, uptime, connections, max_connections, _container = cur.fetchone()
            cur.execute(_PDB_SQL)
            rows = cur.fetchall()
            if not rows:
                cur.execute(_DB_SQL)
                rows = cur.fetchall()
        finally:
            conn.rollback()
        sizes = tuple(
            (str(name), int(size))
            for name, size in rows
            if name is not None and size is not None and included(str(name), self.options.databases)
        )
        return ServerStatus(
            str(version), float(uptime), int(connections), int(max_connections), sizes
        )

    def _translate(self, exc: BaseException, host: str) -> CollectorError:
        o = self.options
        where = f"oracle at {host}:{o.port}/{o.service_name}"
        error = exc.args[0] if exc.args else None
        code = str(getattr(error, "full_code", "") or "")
        detail = redact(" ".join(str(getattr(error, "message", exc)).split()), o.password)[:300]
        cls = classify_code(code)
        if cls is PermissionDenied:
            return PermissionDenied(
                f"{where}: user {o.user!r} lacks a privilege ({detail}); "
                f"GRANT CREATE SESSION, SELECT_CATALOG_ROLE TO {o.user};"
            )
        if cls is TargetTimeout:
            return TargetTimeout(
                f"{where}: no answer within statement_timeout={o.statement_timeout:g}s"
            )
        if cls is AuthFailed:
            return AuthFailed(f"{where} refused the login of {o.user!r} ({detail})")
        if cls is TargetUnreachable:
            return TargetUnreachable(f"{where}: {detail}")
        return MalformedResponse(
            f"{where}: unexpected error {code or type(exc).__name__} ({detail})"
        )

    def _ops(self) -> DriverOps:
        return _Ops(self._driver)


def build(options: Mapping[str, object], shared: Shared) -> OracleCollector:
    """Validate options and check that oracledb is installed (ConfigError otherwise)."""
    opts = parse_options(Options, options)
    if not opts.service_name:
        raise ConfigError([ConfigIssue("", 0, "service_name", "required field is missing")])
    return OracleCollector(opts, shared, import_driver(KIND, DRIVER))


def classify_code(code: str) -> type[CollectorError] | None:
    """The CollectorError class for an ORA-/DPY- error code, None if unknown."""
    return _CODES.get(code)


class _Ops(DriverOps):
    """oracledb connections, as the pool sees them; call_timeout bounds a blocked call."""

    def usable(self, conn: Any) -> bool:
        return bool(conn.is_healthy())


def _tables(limit: int, conn: Any) -> list[TableSize]:
    cur = conn.cursor()
    try:
        cur.execute("SET TRANSACTION READ ONLY")
        cur.execute("SELECT SYS_CONTEXT('USERENV', 'CON_NAME') FROM dual")
        (container,) = cur.fetchone()
        cur.execute(_TABLES_SQL, n=limit)
        rows = cur.fetchall()
    finally:
        conn.rollback()
    return [
        TableSize(str(container), str(owner), str(name), int(size)) for owner, name, size in rows
    ]
