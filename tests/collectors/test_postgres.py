"""The postgres collector against real PostgreSQL servers on loopback.

Sizes, tables and grants use the machine's server on 127.0.0.1:5432 when it answers (else
a throw-away cluster); everything that stops, pauses or reconfigures a server uses a
throw-away cluster of its own (tests/peers/postgres.py).
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

import psycopg
import pytest

from collectors import postgres
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
from monitord.types import SampleKind, Shared
from tests.collectors.dbharness import Poller, names, pollers, sizes, value
from tests.peers.postgres import (
    PgServer,
    any_server,
    free_port,
    scratch_database,
    throwaway_server,
    wait_until,
)

pytestmark = pytest.mark.peer

REPO = Path(__file__).resolve().parents[2]


# --- harness ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    """The machine's server (or a throw-away one): never stopped or reconfigured here."""
    with any_server() as server:
        yield server


@pytest.fixture(scope="module")
def scratch() -> Iterator[PgServer]:
    """A throw-away cluster (archive_mode on, scram auth) that tests may stop and restart."""
    with throwaway_server() as server:
        yield server


@pytest.fixture
def own(scratch: PgServer) -> PgServer:
    """The throw-away cluster, running."""
    if not scratch.running():
        scratch.start()
    return scratch


@pytest.fixture
def make_poller() -> Iterator[Callable[..., Poller]]:
    yield from pollers(postgres.build, "pg-test", lambda server: {"user": "postgres"})


@pytest.fixture
def scratch_db(pg: PgServer) -> Iterator[str]:
    """A uniquely named database on `pg`, dropped after the test."""
    with scratch_database(pg) as name:
        yield name


# --- configuration ---------------------------------------------------------------------


def test_issue_config_keys_work_with_password_from_env_and_file(tmp_path: Path) -> None:
    pw_file = tmp_path / "pg.pw"
    pw_file.write_text("from-file-pw\n")
    text = f"""
targets:
  - name: db-a
    address: 127.0.0.1
    kind: database
    collectors:
      postgres:
        host: 127.0.0.1
        port: 5432
        user: monitor
        password: ${{PG_MONITOR_PASSWORD}}
        databases: all
  - name: db-b
    address: 127.0.0.1
    collectors:
      postgres: {{password: "file:{pw_file}", databases: [app, gis], statement_timeout: 1500ms}}
"""
    cfg = parse_config_text(
        text, "t.yaml", {"postgres": postgres.build}, Shared(), {"PG_MONITOR_PASSWORD": "env-pw-1"}
    )
    a = cfg.targets[0].collectors[0].collector
    b = cfg.targets[1].collectors[0].collector
    assert isinstance(a, postgres.PostgresCollector) and isinstance(b, postgres.PostgresCollector)
    assert a.options.password is not None and a.options.password.reveal() == "env-pw-1"
    assert a.options.databases == "all" and a.options.port == 5432 and a.options.user == "monitor"
    assert b.options.password is not None and b.options.password.reveal() == "from-file-pw"
    assert b.options.databases == ("app", "gis")
    assert b.options.statement_timeout == 1.5
    assert "env-pw-1" not in repr(a.options) and "from-file-pw" not in repr(b.options)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"colour": "blue"}, "colour"),
        ({"databases": "some"}, "databases"),
        ({"port": 70000}, "port"),
        ({"sslmode": "sometimes"}, "sslmode"),
        ({"statement_timeout": "soon"}, "statement_timeout"),
    ],
    ids=["unknown-key", "databases-not-all-or-list", "port-range", "sslmode", "duration"],
)
def test_bad_options_name_the_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        postgres.build(options, Shared())
    assert any(issue.field.startswith(field) for issue in info.value.issues), info.value


def test_metric_specs_follow_the_naming_rules() -> None:
    specs = postgres.PostgresCollector.metrics
    assert len({s.name for s in specs}) == len(specs)
    for s in specs:
        assert s.name.startswith("monitord_") and s.labels[0] == "target", s
        assert s.name.endswith("_total") == (s.kind is SampleKind.COUNTER), s
        assert (s.kind is SampleKind.INFO) == s.name.endswith("_info"), s
        assert s.help.endswith(".") and "last poll" in s.help, s


# --- a healthy server ----------------------------------------------------------------------


def test_server_figures_match_the_server(pg: PgServer, make_poller: Callable[..., Poller]) -> None:
    poller = make_poller(pg)
    samples = poller.collect()
    specs = {s.name: s for s in postgres.PostgresCollector.metrics}
    for s in samples:
        assert s.name in specs, s.name
        assert tuple(s.labels) == specs[s.name].labels, s
        assert s.labels["target"] == "pg-test"
        assert s.kind is specs[s.name].kind
    num = int(pg.value("SHOW server_version_num"))
    assert (
        value(
            samples,
            "monitord_database_info",
            engine="postgresql",
            version=f"{num // 10000}.{num % 10000}",
        )
        == 1
    )
    uptime = float(pg.value("SELECT extract(epoch FROM now() - pg_postmaster_start_time())"))
    assert abs(value(samples, "monitord_database_uptime_seconds") - uptime) < 5
    assert value(samples, "monitord_database_connections_max") == int(
        pg.value("SHOW max_connections")
    )
    in_use = value(samples, "monitord_database_connections")
    others = pg.value("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
    assert 1 <= in_use <= int(others)  # ours + maybe other tests
    assert value(samples, "monitord_postgres_in_recovery") == 0
    assert value(samples, "monitord_postgres_replicas_streaming") == 0
    assert "monitord_database_replication_lag_seconds" not in names(samples)
    archive_mode = pg.value("SHOW archive_mode")
    assert value(samples, "monitord_postgres_archiving_enabled") == (
        0 if archive_mode == "off" else 1
    )
    archived = pg.value("SELECT archived_count FROM pg_stat_archiver")
    assert value(samples, "monitord_postgres_archiver_archived_total") == archived
    # the second poll reuses the connection kept in the target's pool
    assert poller.pool() is not None and poller.pool().cached()
    again = poller.collect()
    assert names(again) == names(samples)


def test_database_size_matches_pg_database_size_and_a_dropped_database_disappears(
    pg: PgServer, make_poller: Callable[..., Poller], scratch_db: str
) -> None:
    payload_rows, row_bytes = 20_000, 200
    pg.execute(
        "CREATE TABLE blob (id int PRIMARY KEY, body text) WITH (autovacuum_enabled = off)",
        dbname=scratch_db,
    )
    pg.execute(
        "INSERT INTO blob SELECT g, repeat(md5(g::text), %s) FROM generate_series(1, %s) g",
        (row_bytes // 32, payload_rows),
        dbname=scratch_db,
    )
    poller = make_poller(pg)
    state = State(failures_to_down=2)
    for _attempt in range(3):  # a checkpoint may grow a file between the two reads
        before = pg.value("SELECT pg_database_size(%s)", (scratch_db,))
        samples = poller.collect()
        after = pg.value("SELECT pg_database_size(%s)", (scratch_db,))
        if before == after:
            break
    assert before == after
    got = sizes(samples)
    assert got[scratch_db] == before
    empty = int(pg.value("SELECT pg_database_size('template1')"))
    assert got[scratch_db] - empty >= payload_rows * row_bytes * 0.9
    listed = {
        str(r[0])
        for r in pg.execute(
            "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate"
        )
    }
    assert set(got) == listed  # databases: all
    state.record(poller.target, "postgres", samples, ok=True)
    assert (
        state.snapshot().value(
            "pg-test", "postgres", "monitord_database_size_bytes", database=scratch_db
        )
        == before
    )

    pg.execute(f'DROP DATABASE "{scratch_db}" WITH (FORCE)')
    samples = poller.collect()
    assert scratch_db not in sizes(samples) and sizes(samples)
    state.record(poller.target, "postgres", samples, ok=True)
    snap = state.snapshot()
    assert (
        snap.value("pg-test", "postgres", "monitord_database_size_bytes", database=scratch_db)
        is None
    )
    assert snap.groups[("pg-test", "postgres")].up is True
    assert snap.value("pg-test", "postgres", "monitord_database_uptime_seconds") is not None


def test_databases_list_selects_only_those(
    pg: PgServer, make_poller: Callable[..., Poller], scratch_db: str
) -> None:
    poller = make_poller(pg, databases=[scratch_db, "no_such_database_here"])
    got = sizes(poller.collect())
    assert list(got) == [scratch_db]
    assert got[scratch_db] == pg.value("SELECT pg_database_size(%s)", (scratch_db,))


def test_largest_tables_are_the_top_n_with_their_sizes(
    pg: PgServer, make_poller: Callable[..., Poller], scratch_db: str
) -> None:
    pg.execute("CREATE SCHEMA gis", dbname=scratch_db)
    for table, rows in (("public.small", 500), ("gis.parcels", 40_000), ("public.medium", 8_000)):
        pg.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, body text)", dbname=scratch_db)
        pg.execute(
            f"INSERT INTO {table} SELECT g, md5(g::text) FROM generate_series(1, %s) g",
            (rows,),
            dbname=scratch_db,
        )
    pg.execute("ANALYZE", dbname=scratch_db)
    expected = {
        (str(s), str(t)): int(b)
        for s, t, b in pg.execute(
            "SELECT schemaname, relname, pg_total_relation_size(relid) FROM pg_stat_user_tables",
            dbname=scratch_db,
        )
    }
    poller = make_poller(pg, databases=[scratch_db])
    top2 = poller.tables(2)
    assert [(t.database, t.schema, t.table) for t in top2] == [
        (scratch_db, "gis", "parcels"),
        (scratch_db, "public", "medium"),
    ]
    for t in top2:
        assert t.bytes == expected[(t.schema, t.table)]
    assert top2[0].rows == 40_000
    everything = poller.tables(10)
    assert [t.table for t in everything] == ["parcels", "medium", "small"]
    assert poller.tables() == everything  # default top_tables is 10


# --- least privilege --------------------------------------------------------------------


def test_user_without_pg_monitor_gets_an_error_naming_the_grant(
    pg: PgServer, make_poller: Callable[..., Poller]
) -> None:
    role = f"monitord_nopriv_{uuid.uuid4().hex[:8]}"
    pg.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'np-pw-4711'")
    try:
        poller = make_poller(pg, user=role, password="np-pw-4711")
        err = poller.fail()
        assert isinstance(err, PermissionDenied)
        assert f'GRANT pg_monitor TO "{role}"' in str(err) and "pg_monitor" in str(err)
        assert "np-pw-4711" not in str(err)
        partial_names = {s.name for s in err.samples}
        assert "monitord_database_info" in partial_names
        assert "monitord_database_size_bytes" not in partial_names
        pg.execute(f"GRANT pg_monitor TO {role}")
        samples = poller.collect()
        assert sizes(samples)
        assert value(samples, "monitord_database_connections") >= 1
    finally:
        pg.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
        )
        wait_until(
            lambda: not pg.execute("SELECT 1 FROM pg_stat_activity WHERE usename = %s", (role,)),
            10,
            "the test role's sessions to end",
        )
        pg.execute(f"DROP ROLE {role}")


def test_session_is_read_only_and_statements_time_out(
    pg: PgServer, make_poller: Callable[..., Poller]
) -> None:
    poller = make_poller(pg, statement_timeout="300ms")
    c = poller.collector
    host = pg.host

    def on_session(work: Callable[[psycopg.Connection[tuple[object, ...]]], object]) -> object:
        async def go() -> object:
            pool = c._pool(poller.target)
            try:
                return await pool.run(c._key(host), partial(c._connect, host, "postgres"), work)
            except psycopg.Error as exc:
                raise c._translate(exc, host) from exc

        return poller.run(go())

    with pytest.raises(CollectorError) as info:
        on_session(lambda conn: conn.execute("CREATE TABLE monitord_must_not_exist (a int)"))
    assert isinstance(info.value.__cause__, psycopg.errors.ReadOnlySqlTransaction)
    started = time.monotonic()
    with pytest.raises(TargetTimeout, match=r"statement_timeout=0\.3s"):
        on_session(lambda conn: conn.execute("SELECT pg_sleep(5)"))
    assert time.monotonic() - started < 2


def test_a_locked_catalog_times_out_at_statement_timeout(
    own: PgServer, make_poller: Callable[..., Poller]
) -> None:
    poller = make_poller(own, statement_timeout="500ms")
    poller.collect()
    with own.connect() as locker:
        locker.autocommit = False
        locker.execute("LOCK TABLE pg_database IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        err = poller.fail()
        elapsed = time.monotonic() - started
        locker.rollback()
    assert isinstance(err, TargetTimeout), err
    assert elapsed < 2.5
    assert sizes(poller.collect())


# --- failures ------------------------------------------------------------------------------


def test_stopped_server_is_down_after_two_polls_and_back_when_started(
    own: PgServer, make_poller: Callable[..., Poller]
) -> None:
    poller = make_poller(own, name="pg-stop")
    state = State(failures_to_down=2)
    target = poller.target
    assert state.record(target, "postgres", poller.collect(), ok=True) == []
    own.stop()
    try:
        events = []
        for _ in range(2):
            started = time.monotonic()
            err = poller.fail()
            assert time.monotonic() - started < 2.0, "a refused poll must not wait for the deadline"
            assert isinstance(err, ConnectionRefused), err
            events += state.record(
                target, "postgres", err.samples, ok=False, reason=err.reason.value, message=str(err)
            )
        assert [e.kind for e in events] == [EventKind.DOWN]
        assert events[0].reason == "refused" and "refused" in events[0].message
        assert state.snapshot().groups[("pg-stop", "postgres")].up is False
    finally:
        own.start()
    events = state.record(target, "postgres", poller.collect(), ok=True)
    assert [e.kind for e in events] == [EventKind.UP]
    assert [e.kind for e in state.events()] == [EventKind.DOWN, EventKind.UP]


def test_restart_between_polls_is_not_an_error(
    own: PgServer, make_poller: Callable[..., Poller]
) -> None:
    poller = make_poller(own)
    first = value(poller.collect(), "monitord_database_uptime_seconds")
    assert poller.pool().cached()
    own.stop()
    own.start()
    # the cached connection is dead: the pool replaces it once, inside the same poll
    samples = poller.collect()
    assert value(samples, "monitord_database_uptime_seconds") < first + 1


def test_wrong_password_is_an_auth_failure_that_never_shows_the_password(
    own: PgServer,
    make_poller: Callable[..., Poller],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    own.execute("DROP ROLE IF EXISTS monitor_pw")
    own.execute("CREATE ROLE monitor_pw LOGIN PASSWORD 'Right-Horse-Battery' IN ROLE pg_monitor")
    caplog.set_level("DEBUG")
    wrong = make_poller(own, user="monitor_pw", password="Wrong-Staple-Secret")
    err = wrong.fail()
    assert isinstance(err, AuthFailed), err
    assert "monitor_pw" in str(err) and "Wrong-Staple-Secret" not in str(err)
    assert "Wrong-Staple-Secret" not in repr(err.__cause__.__class__)
    none = make_poller(own, user="monitor_pw")
    err = none.fail()
    assert isinstance(err, AuthFailed) and "none is configured" in str(err)
    secret_file = tmp_path / "pw"
    secret_file.write_text("Right-Horse-Battery\n")
    right = make_poller(own, user="monitor_pw", password=f"file:{secret_file}")
    assert sizes(right.collect())
    assert "Right-Horse-Battery" not in caplog.text and "Wrong-Staple-Secret" not in caplog.text


def test_nothing_listening_is_connection_refused(
    make_poller: Callable[..., Poller], pg: PgServer
) -> None:
    closed = PgServer("127.0.0.1", free_port())
    started = time.monotonic()
    err = make_poller(closed).fail()
    assert isinstance(err, ConnectionRefused), err
    assert f"127.0.0.1:{closed.port}" in str(err)
    assert time.monotonic() - started < 2


def test_hung_server_releases_the_poll_at_its_deadline(
    own: PgServer, make_poller: Callable[..., Poller]
) -> None:
    poller = make_poller(own, name="pg-hung", statement_timeout="5s")
    poller.collect()
    pid = own.backend_pid("monitord")
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            poller.collect(timeout=1.0)  # the runner's poll deadline
        assert time.monotonic() - started < 1.5
        pool = poller.pool()
        # the connection was shut down under the blocked worker, which returns at once
        wait_until(lambda: pool.busy() == 0, 2.0, "the worker thread to give up the connection")
        assert not pool.cached()
    finally:
        os.kill(pid, signal.SIGCONT)
    assert sizes(poller.collect())  # a fresh connection


@pytest.mark.netns
def test_unresolvable_host_is_a_name_resolution_failure() -> None:
    """Run in a namespace with no route anywhere, so the DNS query never leaves the machine."""
    ns = f"mdt-pgdns-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True, timeout=10)
    try:
        code = (
            "import asyncio\n"
            "from collectors import postgres\n"
            "from monitord.errors import NameResolutionFailed\n"
            "from monitord.types import Shared, Target\n"
            "async def main():\n"
            "    shared = Shared()\n"
            "    c = postgres.build({'host': 'db.monitord-test.invalid'}, shared)\n"
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


# --- WAL archiving and replication --------------------------------------------------------


def test_archiver_counts_archived_and_failed_wal(
    own: PgServer, make_poller: Callable[..., Poller]
) -> None:
    assert own.archive_dir is not None
    poller = make_poller(own)
    before = poller.collect()
    assert value(before, "monitord_postgres_archiving_enabled") == 1
    archived0 = value(before, "monitord_postgres_archiver_archived_total")
    own.execute("CREATE TABLE IF NOT EXISTS walgen (a int)")
    own.execute("INSERT INTO walgen SELECT generate_series(1, 1000)")
    own.execute("SELECT pg_switch_wal()")
    wait_until(
        lambda: int(own.value("SELECT archived_count FROM pg_stat_archiver")) > archived0,
        10,
        "the archiver to archive the switched WAL file",
    )
    samples = poller.collect()
    count, last_wal, last_time = own.execute(
        "SELECT archived_count, last_archived_wal, extract(epoch FROM last_archived_time)"
        " FROM pg_stat_archiver"
    )[0]
    assert value(samples, "monitord_postgres_archiver_archived_total") == count > archived0
    assert value(
        samples, "monitord_postgres_archiver_last_archived_timestamp_seconds"
    ) == pytest.approx(float(last_time))
    assert (own.archive_dir / str(last_wal)).exists()  # the evidence is real
    assert abs(float(last_time) - time.time()) < 60

    own.execute("ALTER SYSTEM SET archive_command = 'false'")
    own.execute("SELECT pg_reload_conf()")
    try:
        own.execute("INSERT INTO walgen SELECT generate_series(1, 1000)")
        own.execute("SELECT pg_switch_wal()")
        wait_until(
            lambda: int(own.value("SELECT failed_count FROM pg_stat_archiver")) > 0,
            10,
            "the archiver to fail",
        )
        low = int(own.value("SELECT failed_count FROM pg_stat_archiver"))
        samples = poller.collect()
        high = int(own.value("SELECT failed_count FROM pg_stat_archiver"))
        assert low <= value(samples, "monitord_postgres_archiver_failed_total") <= high
        assert "monitord_postgres_archiver_last_failed_timestamp_seconds" in names(samples)
    finally:
        own.execute("ALTER SYSTEM RESET archive_command")
        own.execute("SELECT pg_reload_conf()")


def test_replica_reports_its_lag_and_the_primary_counts_it(
    own: PgServer, make_poller: Callable[..., Poller]
) -> None:
    replica = own.replica()
    wait_until(
        lambda: own.execute("SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'"),
        10,
        "the replica to stream",
    )
    primary = make_poller(own, name="pg-primary").collect()
    assert value(primary, "monitord_postgres_replicas_streaming") == 1
    assert value(primary, "monitord_postgres_in_recovery") == 0

    own.execute("CREATE TABLE IF NOT EXISTS lagtest (a int)")
    own.execute("INSERT INTO lagtest VALUES (1)")

    def replayed() -> bool:
        try:
            return bool(replica.execute("SELECT 1 FROM lagtest"))
        except psycopg.errors.UndefinedTable:
            return False

    wait_until(replayed, 10, "the replica to replay")
    poller = make_poller(replica, name="pg-replica")
    samples = poller.collect()
    assert value(samples, "monitord_postgres_in_recovery") == 1
    assert value(samples, "monitord_postgres_wal_receiver_up") == 1
    assert value(samples, "monitord_database_replication_lag_seconds") == 0  # caught up
    assert "monitord_postgres_replicas_streaming" not in names(samples)

    replica.execute("SELECT pg_wal_replay_pause()")
    try:
        own.execute("INSERT INTO lagtest VALUES (2)")

        def lag() -> float:
            got = value(poller.collect(), "monitord_database_replication_lag_seconds")
            return got if got >= 1.0 else 0.0

        measured = float(wait_until(lag, 10, "the paused replica to fall behind", step=0.2))  # type: ignore[arg-type]
        assert 1.0 <= measured < 10
    finally:
        replica.execute("SELECT pg_wal_replay_resume()")
