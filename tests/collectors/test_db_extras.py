"""The optional database collectors (SQL Server, Oracle) and the shared database pool.

No SQL Server or Oracle server runs here: these tests cover what does not need one (the
missing-extra error at config load, option validation, error-number classification, the
metric contract) and, when the driver is installed, that the collector builds and maps a
closed loopback port to ConnectionRefused. The pool's caching rules are tested with
plain objects standing in for connections (pure logic; the real drivers are exercised
in test_postgres.py and test_mysql.py).
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

import pytest

from collectors import mssql, oracle
from collectors._dbpool import DbPool, redact
from monitord.config import parse_config_text
from monitord.errors import (
    AuthFailed,
    CollectorError,
    ConfigError,
    ConnectionRefused,
    PermissionDenied,
    TargetTimeout,
    TargetUnreachable,
)
from monitord.secrets import Secret
from monitord.types import SampleKind, Shared, Target, TargetKind
from tests.peers.postgres import free_port

EXTRAS: list[tuple[ModuleType, dict[str, object]]] = [
    (mssql, {}),
    (oracle, {"service_name": "ORCLPDB1"}),
]


@pytest.mark.parametrize(("module", "options"), EXTRAS, ids=["mssql", "oracle"])
def test_missing_driver_is_a_config_error_naming_the_extra(
    module: ModuleType, options: dict[str, object]
) -> None:
    installed = importlib.util.find_spec(module.DRIVER) is not None
    extra = ", ".join(f"{k}: {v}" for k, v in options.items())
    text = f"""
targets:
  - name: db-x
    address: 127.0.0.1
    kind: database
    collectors:
      {module.KIND}: {{user: monitor, password: "${{DB_PW}}", {extra}}}
"""
    registry = {module.KIND: module.build}
    if not installed:
        with pytest.raises(ConfigError) as info:
            parse_config_text(text, "t.yaml", registry, Shared(), {"DB_PW": "s3cret-pw"})
        (issue,) = info.value.issues
        assert issue.field == f"targets[0].collectors.{module.KIND}"
        assert f"pip install monitord[{module.KIND}]" in issue.message
        assert module.DRIVER in issue.message and issue.line == 7
        assert "s3cret-pw" not in str(info.value)
        return
    cfg = parse_config_text(text, "t.yaml", registry, Shared(), {"DB_PW": "s3cret-pw"})
    collector = cfg.targets[0].collectors[0].collector
    assert collector.kind == module.KIND
    assert collector.options.password.reveal() == "s3cret-pw"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("module", "options"), EXTRAS, ids=["mssql", "oracle"])
def test_a_closed_port_is_connection_refused_when_the_driver_is_installed(
    module: ModuleType, options: dict[str, object]
) -> None:
    if importlib.util.find_spec(module.DRIVER) is None:
        with pytest.raises(ConfigError, match=rf"pip install monitord\[{module.KIND}\]"):
            module.build(options, Shared())
        return
    port = free_port()

    async def poll() -> CollectorError:
        shared = Shared()
        collector = module.build(
            {**options, "port": port, "password": "pw", "connect_timeout": "2s"}, shared
        )
        try:
            with pytest.raises(CollectorError) as info:
                async with asyncio.timeout(10):
                    await collector.collect(Target("x", "127.0.0.1", TargetKind.DATABASE))
            return info.value
        finally:
            await shared.aclose()

    err = asyncio.run(poll())
    assert isinstance(err, ConnectionRefused), err


@pytest.mark.parametrize(
    ("module", "options", "field"),
    [
        (mssql, {"sid": "x"}, "sid"),
        (mssql, {"port": 0}, "port"),
        (oracle, {"service_name": "X", "database": "x"}, "database"),
        (oracle, {}, "service_name"),
    ],
    ids=["mssql-unknown-key", "mssql-port", "oracle-unknown-key", "oracle-needs-service"],
)
def test_bad_options_name_the_field_before_the_driver_is_looked_for(
    module: ModuleType, options: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        module.build(options, Shared())
    assert [i.field for i in info.value.issues] == [field]


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (18456, AuthFailed),  # Login failed for user
        (4060, AuthFailed),  # cannot open the database requested by the login
        (300, PermissionDenied),  # VIEW SERVER STATE permission was denied
        (229, PermissionDenied),
        (20003, TargetTimeout),  # DB-Lib: server connection timed out
        (1222, TargetTimeout),  # lock request time out
        (20009, TargetUnreachable),  # unable to connect
        (8152, None),
    ],
)
def test_mssql_error_numbers(number: int, expected: type[CollectorError] | None) -> None:
    assert mssql.classify_number(number) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ORA-01017", AuthFailed),
        ("ORA-28000", AuthFailed),
        ("ORA-01045", PermissionDenied),
        ("ORA-00942", PermissionDenied),
        ("DPY-4024", TargetTimeout),
        ("ORA-12541", TargetUnreachable),
        ("ORA-03113", TargetUnreachable),
        ("ORA-00001", None),
    ],
)
def test_oracle_error_codes(code: str, expected: type[CollectorError] | None) -> None:
    assert oracle.classify_code(code) is expected


@pytest.mark.parametrize("module", [mssql, oracle], ids=["mssql", "oracle"])
def test_metric_specs_are_the_common_database_series(module: ModuleType) -> None:
    collector_cls = mssql.MssqlCollector if module is mssql else oracle.OracleCollector
    names = {s.name for s in collector_cls.metrics}
    assert names == {
        "monitord_database_info",
        "monitord_database_uptime_seconds",
        "monitord_database_connections",
        "monitord_database_connections_max",
        "monitord_database_size_bytes",
    }
    for s in collector_cls.metrics:
        assert s.labels[0] == "target"
        assert (s.kind is SampleKind.INFO) == s.name.endswith("_info")


def test_redact_masks_a_secret_a_driver_might_echo() -> None:
    assert (
        redact("login failed (pw=hunter2)", Secret("hunter2"), None) == "login failed (pw=<secret>)"
    )
    assert redact("nothing here", Secret("")) == "nothing here"


# --- the pool's caching rules, with plain objects as connections -------------------------


class Broken(Exception):
    """Stands in for a driver error."""


@dataclass(eq=False)
class FakeConn:
    key: object
    alive: bool = True
    closed: bool = False
    interrupted: threading.Event = field(default_factory=threading.Event)


@dataclass
class FakeOps:
    errors: tuple[type[BaseException], ...] = (Broken,)
    closed: list[FakeConn] = field(default_factory=list)

    def close(self, conn: FakeConn) -> None:
        conn.closed = True
        self.closed.append(conn)

    def usable(self, conn: FakeConn) -> bool:
        return conn.alive and not conn.closed

    def interrupt(self, conn: FakeConn) -> None:
        conn.interrupted.set()


def run_pool(body: Callable[[DbPool[FakeConn], FakeOps], object]) -> object:
    async def main() -> object:
        ops = FakeOps()
        pool: DbPool[FakeConn] = DbPool("test", ops)
        try:
            return await body(pool, ops)  # type: ignore[misc]
        finally:
            await pool.aclose()

    return asyncio.run(main())


def test_pool_keeps_one_connection_and_replaces_it_when_parameters_change() -> None:
    async def body(pool: DbPool[FakeConn], ops: FakeOps) -> None:
        opened: list[FakeConn] = []

        def connect(key: str) -> Callable[[], FakeConn]:
            def make() -> FakeConn:
                opened.append(FakeConn(key))
                return opened[-1]

            return make

        seen = [await pool.run("a", connect("a"), lambda c: c) for _ in range(3)]
        assert len(opened) == 1 and seen == [opened[0]] * 3 and pool.cached()
        assert (await pool.run("b", connect("b"), lambda c: c)).key == "b"  # a config reload
        assert opened[0].closed and len(opened) == 2
        assert (await pool.run(None, connect("x"), lambda c: c, cache=False)).key == "x"
        assert opened[2].closed and not opened[1].closed  # uncached: closed, cache untouched

    run_pool(body)


def test_pool_retries_a_stale_cached_connection_once_and_drops_failed_ones() -> None:
    async def body(pool: DbPool[FakeConn], ops: FakeOps) -> None:
        opened: list[FakeConn] = []

        def connect() -> FakeConn:
            opened.append(FakeConn("k"))
            return opened[-1]

        def work(conn: FakeConn) -> str:
            if not conn.alive:
                raise Broken("server closed the connection")
            return "ok"

        assert await pool.run("k", connect, work) == "ok"
        opened[0].alive = False  # the server restarted between polls
        assert await pool.run("k", connect, work) == "ok"
        assert len(opened) == 2 and opened[0].closed

        def refuse(conn: FakeConn) -> str:
            raise Broken("a live connection, a real error")

        with pytest.raises(Broken):
            await pool.run("k", connect, refuse)
        assert len(opened) == 2 and opened[1].closed and not pool.cached()  # no retry, dropped

    run_pool(body)


def test_pool_interrupts_and_discards_the_connection_of_a_cancelled_call() -> None:
    async def body(pool: DbPool[FakeConn], ops: FakeOps) -> None:
        conn = FakeConn("k")

        def hang(c: FakeConn) -> None:
            if not c.interrupted.wait(10):  # a blocked driver call, until its socket is shut
                raise AssertionError("never interrupted")
            raise Broken("connection shut down")

        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await pool.run("k", lambda: conn, hang)
        for _ in range(100):
            if conn.closed:
                break
            await asyncio.sleep(0.01)
        assert conn.interrupted.is_set() and conn.closed and pool.busy() == 0
        assert not pool.cached()

    run_pool(body)
