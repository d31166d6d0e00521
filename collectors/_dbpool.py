"""Shared plumbing of the database collectors (postgres, mysql, mssql, oracle).

`DbPool` is the per-target resource a database collector gets through
`shared.get(f"db.pool.{kind}.{target}", ...)`: a dedicated `ThreadPoolExecutor` (the
drivers block) and at most one cached connection, kept open between polls and reopened
on failure. A timeout does not stop a thread, so when the awaiting task is cancelled
(the runner's poll deadline) the pool *interrupts* the connection in use (shuts its
socket down, so the blocked driver call returns at once) and the worker thread closes
it instead of caching it; a hung server never holds a scheduler slot past the deadline,
and the worker thread is free again a moment later.

Also here, the vocabulary the engines share: `TableSize` (the report's "largest tables"),
`Engine`, the metric specs common to every engine, `DatabaseSelection`, name resolution
and the TCP probe used to classify a refused login without reading error messages.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import math
import os
import socket
import threading
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from types import ModuleType
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from monitord.errors import (
    CollectorError,
    ConfigError,
    ConnectionRefused,
    NameResolutionFailed,
    TargetTimeout,
    TargetUnreachable,
)
from monitord.secrets import Secret
from monitord.types import MetricSpec, Role, Sample, SampleKind, Shared, TableSize, Target

__all__ = [
    "COMMON_METRICS",
    "CONNECTIONS",
    "CONNECTIONS_MAX",
    "INFO",
    "REPLICATION_LAG",
    "SIZE",
    "UPTIME",
    "ConnectionOps",
    "DatabaseSelection",
    "DbPool",
    "DriverOps",
    "Engine",
    "PooledCollector",
    "ServerStatus",
    "TableSize",
    "classify_socket_error",
    "first",
    "gauge",
    "import_driver",
    "included",
    "probe_tcp",
    "redact",
    "resolve",
    "server_gauges",
    "shutdown_socket",
    "size_gauges",
    "whole_seconds",
]

C = TypeVar("C")
C_contra = TypeVar("C_contra", contravariant=True)
T = TypeVar("T")

DatabaseSelection = Literal["all"] | tuple[str, ...]
"""`databases:` option: `all` (every database the server lists) or a list of names."""


class Engine(StrEnum):
    """Database engines; the `engine` label of `monitord_database_info`."""

    POSTGRESQL = "postgresql"
    MARIADB = "mariadb"
    MYSQL = "mysql"
    MSSQL = "mssql"
    ORACLE = "oracle"


INFO = MetricSpec(
    "monitord_database_info",
    SampleKind.INFO,
    "Database server engine and version; always 1. Value from the last poll.",
    ("target", "engine", "version"),
    roles=frozenset({Role.GAUGE_META}),
    meta_of="db_connections",  # the servers report's databases: engine and version
    meta_labels=("engine", "version"),
)
UPTIME = MetricSpec(
    "monitord_database_uptime_seconds",
    SampleKind.GAUGE,
    "Seconds since the database server started; value from the last poll.",
    unit="seconds",
    roles=frozenset({Role.UPTIME}),
)
CONNECTIONS = MetricSpec(
    "monitord_database_connections",
    SampleKind.GAUGE,
    "Client connections open on the server (monitord's own included); value from the last poll.",
    roles=frozenset({Role.DAILY_GAUGE}),
    rollup="db_connections",  # the servers report: peak connections against the maximum
)
CONNECTIONS_MAX = MetricSpec(
    "monitord_database_connections_max",
    SampleKind.GAUGE,
    "Maximum client connections the server accepts (max_connections or equivalent); "
    "value from the last poll.",
    roles=frozenset({Role.DAILY_GAUGE}),
    rollup="db_connections_max",
)
SIZE = MetricSpec(
    "monitord_database_size_bytes",
    SampleKind.GAUGE,
    "On-disk size of one database, as the server reports it (pg_database_size, "
    "information_schema.TABLES data+index length, sys.master_files...); value from the last poll.",
    ("target", "database"),
    unit="bytes",
    roles=frozenset({Role.DAILY_GAUGE}),
    rollup="db_size",
    object="database",
)
REPLICATION_LAG = MetricSpec(
    "monitord_database_replication_lag_seconds",
    SampleKind.GAUGE,
    "How far this replica's applied data is behind its primary, in seconds; only on "
    "replicas that report it. Value from the last poll.",
    unit="seconds",
)
COMMON_METRICS: tuple[MetricSpec, ...] = (INFO, UPTIME, CONNECTIONS, CONNECTIONS_MAX, SIZE)


def gauge(spec: MetricSpec, target: str, value: float, **labels: str) -> Sample:
    """A sample of `spec` for `target` (the kind comes from the spec)."""
    return Sample(spec.name, {"target": target, **labels}, value, spec.kind)


def server_gauges(
    target: str,
    engine: Engine,
    version: str,
    uptime: float,
    connections: int,
    max_connections: int,
) -> list[Sample]:
    """The server-wide samples every engine emits: info, uptime, connections and their cap."""
    return [
        gauge(INFO, target, 1, engine=engine.value, version=version),
        gauge(UPTIME, target, uptime),
        gauge(CONNECTIONS, target, connections),
        gauge(CONNECTIONS_MAX, target, max_connections),
    ]


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """What one poll of an engine with only the common metrics read (mssql, oracle)."""

    version: str
    uptime: float
    connections: int
    max_connections: int
    sizes: tuple[tuple[str, int], ...]

    def samples(self, target: str, engine: Engine) -> list[Sample]:
        """The common metrics of this poll for `target` (pure)."""
        out = server_gauges(
            target, engine, self.version, self.uptime, self.connections, self.max_connections
        )
        out.extend(size_gauges(target, self.sizes))
        return out


def size_gauges(target: str, sizes: Iterable[tuple[str, int]]) -> list[Sample]:
    """One `monitord_database_size_bytes` sample per (database, bytes)."""
    return [gauge(SIZE, target, size, database=name) for name, size in sizes]


def import_driver(kind: str, driver: str) -> ModuleType:
    """Import an optional driver package; ConfigError naming the extra when it is missing."""
    if importlib.util.find_spec(driver) is None:
        raise ConfigError(
            f"the {kind} collector needs the {driver} package, which is not installed: "
            f"pip install monitord[{kind}]"
        )
    return importlib.import_module(driver)


def included(name: str, selection: DatabaseSelection) -> bool:
    """True when database `name` is selected by the `databases:` option."""
    return selection == "all" or name in selection


def redact(text: str, *secrets: Secret | None) -> str:
    """Mask any secret's text in a message (last line of defence: drivers never echo it)."""
    for s in secrets:
        if s is not None and s.reveal():
            text = text.replace(s.reveal(), "<secret>")
    return text


def resolve(host: str, port: int) -> str:
    """Resolve `host` to one IP address (blocking); raise NameResolutionFailed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NameResolutionFailed(
            f"cannot resolve database host {host!r} ({exc.strerror}); check the name and DNS"
        ) from exc
    return str(infos[0][4][0])


def classify_socket_error(exc: OSError, what: str) -> CollectorError:
    """Map an OSError from connecting to a database port to a CollectorError (by class)."""
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionRefused(f"{what} refused the connection; is the server running?")
    if isinstance(exc, TimeoutError):
        return TargetTimeout(f"{what} did not answer in time")
    if isinstance(exc, socket.gaierror):
        return NameResolutionFailed(f"cannot resolve {what} ({exc.strerror})")
    return TargetUnreachable(f"{what} is unreachable ({exc.strerror or type(exc).__name__})")


def probe_tcp(address: str, port: int, timeout: float) -> OSError | None:
    """Open and close a TCP connection; return the OSError, or None when it connected.

    Used after a failed login to tell "nothing listens" from "the server said no"
    without reading the driver's message text.
    """
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc


def shutdown_socket(fd: int) -> None:
    """Shut down the socket behind file descriptor `fd` (any thread): blocked reads return."""
    try:
        dup = os.dup(fd)
    except OSError:
        return
    try:
        with socket.socket(fileno=dup) as s:
            s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def whole_seconds(seconds: float, minimum: int = 1) -> int:
    """Round a duration up to whole seconds, at least `minimum` (drivers that take ints)."""
    return max(minimum, math.ceil(seconds))


class ConnectionOps(Protocol[C_contra]):
    """What the pool needs to know about one driver's connections."""

    errors: tuple[type[BaseException], ...]
    """The driver's exception classes: after one of these a stale cached connection is retried."""

    def close(self, conn: C_contra) -> None:
        """Close `conn` (blocking, in a worker thread); never raises."""

    def usable(self, conn: C_contra) -> bool:
        """False when the driver knows `conn` is closed or broken."""

    def interrupt(self, conn: C_contra) -> None:
        """Make a blocked call on `conn` return now (called from the event loop's thread)."""


class DriverOps:
    """Connections of a DB-API driver without a socket handle (pymssql, oracledb)."""

    def __init__(self, driver: ModuleType) -> None:
        self.errors: tuple[type[BaseException], ...] = (driver.Error,)
        self._driver = driver

    def close(self, conn: Any) -> None:
        try:
            conn.close()
        except self._driver.Error:
            pass

    def usable(self, conn: Any) -> bool:
        return True

    def interrupt(self, conn: Any) -> None:
        return None


class PooledCollector(Generic[C]):
    """What every database collector shares: its options, its target's pool and cache key.

    Subclasses set `kind`, take `options` with `host` and `top_tables`, and give their
    driver's `ConnectionOps` in `_ops()`.
    """

    kind: ClassVar[str]

    def __init__(self, options: Any, shared: Shared) -> None:
        self.options = options
        self._shared = shared

    def _ops(self) -> ConnectionOps[C]:
        raise NotImplementedError

    @property
    def tables_every(self) -> float:
        """Seconds between two fetches of the largest tables (capability
        `FetchesTableSizes`; option `tables_every`)."""
        return float(self.options.tables_every)

    def _host(self, target: Target) -> str:
        return str(self.options.host or target.address)

    def _limit(self, n: int | None) -> int:
        limit: int = n if n is not None else self.options.top_tables
        if limit < 1:
            raise ValueError("n must be at least 1")
        return limit

    def _pool(self, target: Target) -> DbPool[C]:
        name = f"{self.kind}.{target.name}"
        pool: DbPool[C] = self._shared.get(f"db.pool.{name}", lambda: DbPool(name, self._ops()))
        return pool

    def _key(self, host: str) -> Hashable:
        return (host, self.options)


@dataclass(eq=False, slots=True)
class _Lease(Generic[C]):
    conn: C | None = None
    abandoned: bool = False


class DbPool(Generic[C]):
    """A dedicated thread pool and one cached connection for one database target."""

    def __init__(self, name: str, ops: ConnectionOps[C], max_workers: int = 2) -> None:
        self.name = name
        self._ops = ops
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix=f"monitord-db-{name}")
        self._lock = threading.Lock()
        self._idle: C | None = None
        self._idle_key: Hashable = None
        self._leases: set[_Lease[C]] = set()
        self._closed = False

    async def run(
        self,
        key: Hashable,
        connect: Callable[[], C],
        work: Callable[[C], T],
        *,
        cache: bool = True,
    ) -> T:
        """Run `work(conn)` in the pool's thread and return its result.

        With `cache`, the connection is taken from (and given back to) the cache when its
        `key` (the connection parameters) matches; otherwise it is opened for this call and
        closed after. A cached connection that turns out to be broken (server restarted,
        idle timeout) is replaced once. Exceptions of `connect` and `work` propagate; on
        cancellation the connection in use is interrupted and discarded.
        """
        lease: _Lease[C] = _Lease()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._call, lease, key, connect, work, cache)
        try:
            return await future
        except asyncio.CancelledError:
            self._abandon(lease)
            raise

    def busy(self) -> int:
        """Connections in use by a worker thread right now (for tests and self-checks)."""
        with self._lock:
            return sum(1 for lease in self._leases if lease.conn is not None)

    def cached(self) -> bool:
        """True when a connection is cached for the next poll."""
        with self._lock:
            return self._idle is not None

    async def aclose(self) -> None:
        """Interrupt connections in use, close the cached one, stop the threads."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, None
            for lease in self._leases:
                lease.abandoned = True
                if lease.conn is not None:
                    self._ops.interrupt(lease.conn)
        self._executor.shutdown(wait=False, cancel_futures=True)
        if idle is not None:
            await asyncio.to_thread(self._ops.close, idle)

    # --- worker side -----------------------------------------------------------

    def _call(
        self,
        lease: _Lease[C],
        key: Hashable,
        connect: Callable[[], C],
        work: Callable[[C], T],
        cache: bool,
    ) -> T:
        with self._lock:
            self._leases.add(lease)
        try:
            for attempt in (1, 2):
                conn, reused = self._acquire(lease, key, connect, cache)
                ok = False
                try:
                    result = work(conn)
                    ok = True
                except self._ops.errors:
                    stale = reused and not lease.abandoned and not self._ops.usable(conn)
                    if attempt == 1 and stale:
                        continue  # the cached connection went stale: one fresh try
                    raise
                finally:
                    self._release(lease, key, keep=cache and ok)
                return result
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            with self._lock:
                self._leases.discard(lease)

    def _acquire(
        self, lease: _Lease[C], key: Hashable, connect: Callable[[], C], cache: bool
    ) -> tuple[C, bool]:
        stale: C | None = None
        with self._lock:
            if lease.abandoned or self._closed:
                raise TargetTimeout(f"{self.name}: poll abandoned before it got a connection")
            if cache and self._idle is not None:
                if self._idle_key == key:
                    conn, self._idle = self._idle, None
                    lease.conn = conn
                    return conn, True
                stale, self._idle = self._idle, None  # parameters changed (config reload)
        if stale is not None:
            self._ops.close(stale)
        conn = connect()
        with self._lock:
            if not lease.abandoned and not self._closed:
                lease.conn = conn
                return conn, False
        self._ops.close(conn)
        raise TargetTimeout(f"{self.name}: poll abandoned while connecting")

    def _release(self, lease: _Lease[C], key: Hashable, *, keep: bool) -> None:
        with self._lock:
            conn, lease.conn = lease.conn, None
            if conn is None:
                return
            if (
                keep
                and not lease.abandoned
                and not self._closed
                and self._idle is None
                and self._ops.usable(conn)
            ):
                self._idle, self._idle_key = conn, key
                return
        self._ops.close(conn)

    def _abandon(self, lease: _Lease[C]) -> None:
        with self._lock:
            lease.abandoned = True
            if lease.conn is not None:
                self._ops.interrupt(lease.conn)


def first(rows: Iterable[tuple[object, ...]]) -> tuple[object, ...]:
    """The first row of a result (the engines' one-row queries)."""
    for row in rows:
        return row
    raise LookupError("query returned no row")
