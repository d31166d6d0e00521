"""The mysql collector against real MariaDB servers on loopback.

Sizes, tables and grants use the machine's server on 127.0.0.1:3306 when it answers (else
a throw-away one); everything that stops, pauses or replicates uses throw-away servers of
its own (tests/peers/mariadb.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pymysql
import pytest

from collectors import mysql
from monitord.config import parse_config_text
from monitord.errors import (
    AuthFailed,
    CollectorError,
    ConfigError,
    ConnectionRefused,
    PermissionDenied,
    TargetTimeout,
)
from monitord.state import EventKind, State
from monitord.types import Sample, SampleKind, Shared
from tests.collectors.dbharness import Poller, names, pollers, sizes, value
from tests.peers.mariadb import (
    MariaDbServer,
    any_server,
    scratch_database,
    throwaway_server,
    wait_until,
)
from tests.peers.postgres import free_port

pytestmark = pytest.mark.peer

REPO = Path(__file__).resolve().parents[2]


# --- harness ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def my() -> Iterator[MariaDbServer]:
    """The machine's server (or a throw-away one): never stopped or reconfigured here."""
    with any_server() as server:
        yield server


@pytest.fixture(scope="module")
def scratch() -> Iterator[MariaDbServer]:
    """A throw-away server (binary log on) that tests may stop, pause and replicate from."""
    with throwaway_server() as server:
        yield server


@pytest.fixture
def own(scratch: MariaDbServer) -> MariaDbServer:
    """The throw-away server, running."""
    scratch.start()
    return scratch


@pytest.fixture
def make_poller() -> Iterator[Callable[..., Poller]]:
    yield from pollers(mysql.build, "my-test", _credentials)


def _credentials(server: MariaDbServer) -> dict[str, object]:
    if server.password:
        return {"user": server.user, "password": server.password}
    return {"user": server.user}


def schema_size(server: MariaDbServer, schema: str) -> int:
    """What information_schema says a database weighs (the collector's definition)."""
    return int(
        server.value(
            "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = %s",
            (schema,),
        )
    )


@pytest.fixture
def scratch_db(my: MariaDbServer) -> Iterator[str]:
    """A uniquely named database on `my`, dropped after the test."""
    with scratch_database(my) as name:
        yield name


def fill(server: MariaDbServer, database: str, table: str, rows: int) -> None:
    """Create an InnoDB table with `rows` rows of 96 characters and settle its statistics."""
    name = f"`{database}`.`{table}`"
    server.execute(f"CREATE TABLE {name} (id INT PRIMARY KEY, body VARCHAR(200)) ENGINE=InnoDB")
    server.execute(
        f"INSERT INTO {name} SELECT seq, REPEAT(MD5(seq), 3) FROM `{database}`.seq_1_to_{rows}"
    )
    server.execute(f"ANALYZE TABLE {name}")


# --- configuration ---------------------------------------------------------------------


def test_issue_config_keys_work_with_password_from_file_and_env(tmp_path: Path) -> None:
    pw_file = tmp_path / "mysql.pw"
    pw_file.write_text("file-secret-77\n")
    text = f"""
targets:
  - name: db-a
    address: 127.0.0.1
    kind: database
    collectors:
      mysql: {{host: 127.0.0.1, port: 3306, user: monitor, password: "file:{pw_file}"}}
  - name: db-b
    address: 127.0.0.1
    collectors:
      mysql: {{password: "${{MYSQL_PW}}", databases: [app], replica: true}}
"""
    cfg = parse_config_text(text, "t.yaml", {"mysql": mysql.build}, Shared(), {"MYSQL_PW": "env-7"})
    a = cfg.targets[0].collectors[0].collector
    b = cfg.targets[1].collectors[0].collector
    assert isinstance(a, mysql.MysqlCollector) and isinstance(b, mysql.MysqlCollector)
    assert a.options.password is not None and a.options.password.reveal() == "file-secret-77"
    assert (a.options.host, a.options.port, a.options.user) == ("127.0.0.1", 3306, "monitor")
    assert a.options.databases == "all" and a.options.replica is False
    assert b.options.password is not None and b.options.password.reveal() == "env-7"
    assert b.options.databases == ("app",) and b.options.replica is True
    assert "file-secret-77" not in repr(a.options) and "env-7" not in repr(b.options)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"dbname": "x"}, "dbname"),
        ({"databases": "most"}, "databases"),
        ({"port": 0}, "port"),
        ({"replica": "maybe"}, "replica"),
        ({"connect_timeout": "-1s"}, "connect_timeout"),
    ],
    ids=["unknown-key", "databases-not-all-or-list", "port-range", "replica-bool", "duration"],
)
def test_bad_options_name_the_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        mysql.build(options, Shared())
    assert any(issue.field.startswith(field) for issue in info.value.issues), info.value


def test_metric_specs_follow_the_naming_rules() -> None:
    specs = mysql.MysqlCollector.metrics
    assert len({s.name for s in specs}) == len(specs)
    for s in specs:
        assert s.name.startswith("monitord_") and s.labels[0] == "target", s
        assert s.name.endswith("_total") == (s.kind is SampleKind.COUNTER), s
        assert (s.kind is SampleKind.INFO) == s.name.endswith("_info"), s
        assert s.help.endswith(".") and "last poll" in s.help, s


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (None, (False, False, None)),
        (
            {"Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes", "Seconds_Behind_Master": 0},
            (True, True, 0.0),
        ),
        (
            {
                "Slave_IO_Running": "Connecting",
                "Slave_SQL_Running": "Yes",
                "Seconds_Behind_Master": None,
            },
            (False, True, None),
        ),
        (
            {"Replica_IO_Running": "Yes", "Replica_SQL_Running": "No", "Seconds_Behind_Source": 42},
            (True, False, 42.0),
        ),
    ],
    ids=["not-configured", "mariadb-running", "io-connecting", "mysql8-columns"],
)
def test_replica_state_reads_both_column_spellings(
    row: dict[str, object] | None, expected: tuple[bool, bool, float | None]
) -> None:
    assert mysql.replica_state(row) == expected


# --- a healthy server ----------------------------------------------------------------------


def test_server_figures_match_the_server(
    my: MariaDbServer, make_poller: Callable[..., Poller]
) -> None:
    poller = make_poller(my)
    samples = poller.collect()
    specs = {s.name: s for s in mysql.MysqlCollector.metrics}
    for s in samples:
        assert s.name in specs, s.name
        assert tuple(s.labels) == specs[s.name].labels, s
        assert s.kind is specs[s.name].kind
    version = str(my.value("SELECT VERSION()"))
    assert "MariaDB" in version
    assert (
        value(samples, "monitord_database_info", engine="mariadb", version=version.split("-")[0])
        == 1
    )
    status = dict(
        my.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ('Uptime', 'Max_used_connections')")
    )
    assert abs(value(samples, "monitord_database_uptime_seconds") - float(status["Uptime"])) < 5
    assert value(samples, "monitord_database_connections_max") == my.value(
        "SELECT @@max_connections"
    )
    connections = value(samples, "monitord_database_connections")
    assert 1 <= connections <= value(samples, "monitord_mysql_connections_peak")
    assert value(samples, "monitord_mysql_connections_peak") <= int(status["Max_used_connections"])
    assert not names(samples) & {
        "monitord_mysql_replica_io_running",
        "monitord_database_replication_lag_seconds",
    }
    assert poller.pool().cached()
    assert names(poller.collect()) == names(samples)


def test_database_size_matches_information_schema_and_a_dropped_database_disappears(
    my: MariaDbServer, make_poller: Callable[..., Poller], scratch_db: str
) -> None:
    rows = 30_000
    fill(my, scratch_db, "payload", rows)
    poller = make_poller(my)
    for _attempt in range(3):  # InnoDB may refresh its statistics in the background
        before = schema_size(my, scratch_db)
        samples = poller.collect()
        after = schema_size(my, scratch_db)
        if before == after:
            break
    assert before == after
    got = sizes(samples)
    assert got[scratch_db] == before
    assert got[scratch_db] >= rows * 96 * 0.9  # 30,000 rows of 96 characters
    visible = {
        str(r[0])
        for r in my.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
        if r[0] not in ("information_schema", "performance_schema")
    }
    assert set(got) == visible
    state = State(failures_to_down=2)
    state.record(poller.target, "mysql", samples, ok=True)
    snap = state.snapshot()
    assert (
        snap.value("my-test", "mysql", "monitord_database_size_bytes", database=scratch_db)
        == before
    )

    my.execute(f"DROP DATABASE `{scratch_db}`")
    samples = poller.collect()
    assert scratch_db not in sizes(samples) and sizes(samples)
    state.record(poller.target, "mysql", samples, ok=True)
    snap = state.snapshot()
    assert (
        snap.value("my-test", "mysql", "monitord_database_size_bytes", database=scratch_db) is None
    )
    assert snap.groups[("my-test", "mysql")].up is True


def test_databases_list_selects_only_those_and_an_empty_one_is_zero(
    my: MariaDbServer, make_poller: Callable[..., Poller], scratch_db: str
) -> None:
    poller = make_poller(my, databases=[scratch_db, "mysql", "no_such_db"])
    got = sizes(poller.collect())
    assert set(got) == {scratch_db, "mysql"}
    assert got[scratch_db] == 0
    assert got["mysql"] == schema_size(my, "mysql") > 0


def test_largest_tables_are_the_top_n_with_their_sizes(
    my: MariaDbServer, make_poller: Callable[..., Poller], scratch_db: str
) -> None:
    for table, rows in (("small", 200), ("parcels", 40_000), ("medium", 8_000)):
        fill(my, scratch_db, table, rows)
    expected = {
        str(t): int(b)
        for t, b in my.execute(
            "SELECT TABLE_NAME, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = %s",
            (scratch_db,),
        )
    }
    poller = make_poller(my, databases=[scratch_db])
    top2 = poller.tables(2)
    assert [(t.database, t.schema, t.table) for t in top2] == [
        (scratch_db, "", "parcels"),
        (scratch_db, "", "medium"),
    ]
    for t in top2:
        assert t.bytes == expected[t.table]
    assert top2[0].rows is not None and abs(top2[0].rows - 40_000) < 4_000  # an estimate
    assert [t.table for t in poller.tables()] == ["parcels", "medium", "small"]


# --- least privilege --------------------------------------------------------------------


def test_user_without_privileges_gets_an_error_naming_the_grant(
    my: MariaDbServer, make_poller: Callable[..., Poller], scratch_db: str
) -> None:
    user = f"monitord_np_{uuid.uuid4().hex[:6]}"
    account = f"'{user}'@'127.0.0.1'"
    my.execute(f"CREATE USER {account} IDENTIFIED BY 'np-pw-0815'")
    try:
        fill(my, scratch_db, "t", 1000)
        poller = make_poller(my, user=user, password="np-pw-0815")
        err = poller.fail()
        assert isinstance(err, PermissionDenied), err
        assert f"GRANT SHOW VIEW ON *.* TO {account}" in str(err)
        assert "np-pw-0815" not in str(err)
        assert "monitord_database_info" in names(list(err.samples))
        assert "monitord_database_size_bytes" not in names(list(err.samples))

        my.execute(f"GRANT SHOW VIEW ON *.* TO {account}")
        got = sizes(poller.collect())
        assert got[scratch_db] == schema_size(my, scratch_db) > 0
        # SHOW VIEW shows sizes but no rows
        with pytest.raises(pymysql.err.OperationalError) as denied:
            MariaDbServer(my.host, my.port, user, "np-pw-0815").execute(
                f"SELECT * FROM `{scratch_db}`.t"
            )
        assert denied.value.args[0] == 1142

        replica = make_poller(
            my, name="my-np-replica", user=user, password="np-pw-0815", replica=True
        )
        err = replica.fail()
        assert isinstance(err, PermissionDenied), err
        assert f"GRANT SLAVE MONITOR ON *.* TO {account}" in str(err)
        my.execute(f"GRANT SLAVE MONITOR ON *.* TO {account}")
        assert value(replica.collect(), "monitord_mysql_replica_io_running") == 0
    finally:
        my.execute(f"DROP USER IF EXISTS {account}")


def test_session_is_read_only_and_statements_time_out(
    my: MariaDbServer, make_poller: Callable[..., Poller], scratch_db: str
) -> None:
    poller = make_poller(my, statement_timeout="300ms")
    c = poller.collector

    def on_session(sql: str) -> Any:
        async def go() -> Any:
            pool = c._pool(poller.target)
            try:
                return await pool.run(
                    c._key(my.host),
                    partial(c._connect, my.host),
                    lambda conn: mysql._rows(conn.db, sql),
                )
            except pymysql.err.MySQLError as exc:
                raise c._translate(exc, my.host) from exc

        return poller.run(go())

    with pytest.raises(CollectorError) as info:
        on_session(f"CREATE TABLE `{scratch_db}`.must_not_exist (a INT)")
    assert info.value.__cause__ is not None and info.value.__cause__.args[0] == 1792  # read only
    assert not my.execute(
        "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (scratch_db,)
    )
    started = time.monotonic()
    with pytest.raises(TargetTimeout, match=r"statement_timeout=0\.3s"):
        on_session("SELECT SLEEP(5)")
    assert time.monotonic() - started < 2


# --- failures ------------------------------------------------------------------------------


def test_stopped_server_is_down_after_two_polls_and_back_when_started(
    own: MariaDbServer, make_poller: Callable[..., Poller]
) -> None:
    poller = make_poller(own, name="my-stop")
    state = State(failures_to_down=2)
    target = poller.target
    assert state.record(target, "mysql", poller.collect(), ok=True) == []
    own.stop()
    try:
        events = []
        for _ in range(2):
            started = time.monotonic()
            err = poller.fail()
            assert time.monotonic() - started < 2.0, "a refused poll must not wait for the deadline"
            assert isinstance(err, ConnectionRefused), err
            events += state.record(
                target, "mysql", err.samples, ok=False, reason=err.reason.value, message=str(err)
            )
        assert [e.kind for e in events] == [EventKind.DOWN]
        assert events[0].reason == "refused"
        assert state.snapshot().groups[("my-stop", "mysql")].up is False
    finally:
        own.start()
    events = state.record(target, "mysql", poller.collect(), ok=True)
    assert [e.kind for e in events] == [EventKind.UP]
    assert [e.kind for e in state.events()] == [EventKind.DOWN, EventKind.UP]


def test_restart_between_polls_is_not_an_error(
    own: MariaDbServer, make_poller: Callable[..., Poller]
) -> None:
    poller = make_poller(own)
    first = value(poller.collect(), "monitord_database_uptime_seconds")
    if first < 3:  # uptime has whole seconds: let it grow so that a reset is visible
        time.sleep(3 - first)
        first = value(poller.collect(), "monitord_database_uptime_seconds")
    assert first >= 3
    assert poller.pool().cached()
    own.stop()
    own.start()
    samples = poller.collect()  # the dead cached connection is replaced within the poll
    assert value(samples, "monitord_database_uptime_seconds") < first


def test_wrong_password_is_an_auth_failure_that_never_shows_the_password(
    my: MariaDbServer,
    make_poller: Callable[..., Poller],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = f"monitord_pw_{uuid.uuid4().hex[:6]}"
    account = f"'{user}'@'127.0.0.1'"
    my.execute(f"CREATE USER {account} IDENTIFIED BY 'Right-Horse-Battery'")
    my.execute(f"GRANT SHOW VIEW ON *.* TO {account}")
    caplog.set_level("DEBUG")
    try:
        err = make_poller(my, user=user, password="Wrong-Staple-Secret").fail()
        assert isinstance(err, AuthFailed), err
        assert user in str(err) and "Wrong-Staple-Secret" not in str(err)
        secret_file = tmp_path / "pw"
        secret_file.write_text("Right-Horse-Battery\n")
        assert sizes(make_poller(my, user=user, password=f"file:{secret_file}").collect())
        assert "Right-Horse-Battery" not in caplog.text and "Wrong-Staple-Secret" not in caplog.text
    finally:
        my.execute(f"DROP USER IF EXISTS {account}")


def test_nothing_listening_is_connection_refused(make_poller: Callable[..., Poller]) -> None:
    closed = MariaDbServer("127.0.0.1", free_port())
    started = time.monotonic()
    err = make_poller(closed).fail()
    assert isinstance(err, ConnectionRefused), err
    assert f"127.0.0.1:{closed.port}" in str(err)
    assert time.monotonic() - started < 2


def test_hung_server_releases_the_poll_at_its_deadline(
    own: MariaDbServer, make_poller: Callable[..., Poller]
) -> None:
    poller = make_poller(own, name="my-hung", statement_timeout="5s")
    poller.collect()
    assert own.proc is not None
    os.kill(own.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            poller.collect(timeout=1.0)  # the runner's poll deadline
        assert time.monotonic() - started < 1.5
        pool = poller.pool()
        wait_until(lambda: pool.busy() == 0, 2.0, "the worker thread to give up the connection")
        assert not pool.cached()
    finally:
        os.kill(own.proc.pid, signal.SIGCONT)
    assert sizes(poller.collect())


@pytest.mark.netns
def test_unresolvable_host_is_a_name_resolution_failure() -> None:
    """Run in a namespace with no route anywhere, so the DNS query never leaves the machine."""
    ns = f"mdt-mydns-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True, timeout=10)
    try:
        code = (
            "import asyncio\n"
            "from collectors import mysql\n"
            "from monitord.errors import NameResolutionFailed\n"
            "from monitord.types import Shared, Target\n"
            "async def main():\n"
            "    shared = Shared()\n"
            "    c = mysql.build({'host': 'db.monitord-test.invalid'}, shared)\n"
            "    try:\n"
            "        await c.collect(Target('dns', 'db.monitord-test.invalid'))\n"
            "    except NameResolutionFailed as e:\n"
            "        print('NameResolutionFailed:', e)\n"
            "    finally:\n"
            "        await shared.aclose()\n"
            "asyncio.run(main())\n"
        )
        res = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True, timeout=10)
    assert res.stdout.startswith("NameResolutionFailed:"), res.stdout + res.stderr
    assert "db.monitord-test.invalid" in res.stdout


# --- replication ---------------------------------------------------------------------------


def test_replica_status_of_a_real_replica(
    own: MariaDbServer, make_poller: Callable[..., Poller]
) -> None:
    replica = own.replica()
    poller = make_poller(replica, name="my-replica", replica=True)

    def running() -> list[Sample] | None:
        samples = poller.collect()
        return samples if value(samples, "monitord_mysql_replica_io_running") == 1 else None

    samples = wait_until(running, 15, "the replica's I/O thread to connect", step=0.2)
    assert isinstance(samples, list)
    assert value(samples, "monitord_mysql_replica_sql_running") == 1
    assert value(samples, "monitord_database_replication_lag_seconds") == 0

    replica.execute("STOP SLAVE SQL_THREAD")
    samples = poller.collect()
    assert value(samples, "monitord_mysql_replica_io_running") == 1
    assert value(samples, "monitord_mysql_replica_sql_running") == 0
    assert "monitord_database_replication_lag_seconds" not in names(samples)  # NULL: unknown

    # a server expected to be a replica that has no replication configured reports 0/0
    primary = make_poller(own, name="my-primary", replica=True).collect()
    assert value(primary, "monitord_mysql_replica_io_running") == 0
    assert value(primary, "monitord_mysql_replica_sql_running") == 0
