"""Real PostgreSQL servers for the tests, on loopback.

    with any_server() as server:        # the machine's server on 127.0.0.1:5432 if it answers
        ...                             # to a superuser, else a throw-away one (see below)
    with throwaway_server() as pg:      # initdb in a temporary directory, a free port,
        pg.execute("CREATE ...")        # archive_mode on, scram for everyone but `postgres`
        pg.stop(); pg.start()           # tests that stop a server use only these
        replica = pg.replica()          # a streaming replica (pg_basebackup), same lifetime

Throw-away clusters run as the unprivileged `postgres` user when the tests run as root
(initdb refuses root), with fsync off, and are removed on exit also when the test fails.
When PostgreSQL cannot be found or started the test fails with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.peers.process import free_port, port_open, wait_until

__all__ = [
    "PgServer",
    "any_server",
    "free_port",
    "pg_bin",
    "reachable_server",
    "scratch_database",
    "throwaway_server",
    "wait_until",
]

SHARED_HOST = "127.0.0.1"
SHARED_PORT = 5432
SUPERUSER = "postgres"
ARCHIVE_COMMAND = "cp %p {archive}/%f"


def pg_bin() -> Path:
    """The bin directory of the newest installed PostgreSQL (Debian layout)."""
    base = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in base.glob("*") if (p / "bin" / "initdb").exists()),
        key=lambda p: int(p.name) if p.name.isdigit() else 0,
    )
    if not versions:
        pytest.fail(
            "PostgreSQL server binaries not found under /usr/lib/postgresql"
            " (apt-get install postgresql)"
        )
    return versions[-1] / "bin"


@dataclass
class PgServer:
    """A reachable PostgreSQL server and a superuser on it."""

    host: str
    port: int
    superuser: str = SUPERUSER
    password: str | None = None
    datadir: Path | None = None
    root: Path | None = None
    archive_dir: Path | None = None
    _children: list[PgServer] = field(default_factory=list, repr=False)

    @property
    def throwaway(self) -> bool:
        """True for a cluster this test run created (and may stop)."""
        return self.datadir is not None

    def connect(
        self, dbname: str = "postgres", **kwargs: object
    ) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit superuser connection."""
        params: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "user": self.superuser,
            "dbname": dbname,
            "connect_timeout": 5,
            "autocommit": True,
        }
        if self.password is not None:
            params["password"] = self.password
        params.update(kwargs)
        return psycopg.connect(**params)  # type: ignore[arg-type]

    def execute(
        self, sql: str, params: Sequence[object] | None = None, dbname: str = "postgres"
    ) -> list[tuple[Any, ...]]:
        """Run one statement as the superuser; return its rows (empty for commands)."""
        with self.connect(dbname) as conn:
            cur = conn.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []

    def value(
        self, sql: str, params: Sequence[object] | None = None, dbname: str = "postgres"
    ) -> Any:
        """The single value a query returns."""
        rows = self.execute(sql, params, dbname)
        assert rows, f"no row from {sql}"
        return rows[0][0]

    def running(self) -> bool:
        """True when the server accepts TCP connections."""
        return port_open(self.host, self.port)

    # --- throw-away clusters only ---------------------------------------------------

    def pg_ctl(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run pg_ctl on this cluster as its owner."""
        assert self.datadir is not None, "the machine's shared server is never stopped by tests"
        return _as_postgres(
            [str(pg_bin() / "pg_ctl"), "-D", str(self.datadir), *args], timeout=timeout
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster and wait until it no longer answers."""
        res = self.pg_ctl("-m", mode, "-w", "-t", "20", "stop")
        if res.returncode != 0:
            pytest.fail(f"pg_ctl stop failed: {res.stderr or res.stdout}")
        wait_until(lambda: not self.running(), 10, "PostgreSQL to stop")

    def start(self) -> None:
        """Start the cluster and wait until it accepts connections."""
        assert self.root is not None
        res = self.pg_ctl("-w", "-t", "30", "-l", str(self.root / "server.log"), "start")
        if res.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"pg_ctl start failed: {res.stderr or res.stdout}\n{log}")
        wait_until(self._ready, 15, "PostgreSQL to accept connections")

    def backend_pid(self, application_name: str) -> int:
        """The pid of the (single) backend of a client with this application_name."""
        pids = self.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = %s AND pid <> pg_backend_pid()",
            (application_name,),
        )
        assert len(pids) == 1, f"expected one {application_name} backend, found {pids}"
        return int(pids[0][0])

    def replica(self) -> PgServer:
        """A streaming replica of this cluster (pg_basebackup -R), running; removed with it."""
        assert self.root is not None
        root = self.root / f"replica{len(self._children)}"
        _mkdir_for_postgres(root)
        port = free_port()
        res = _as_postgres(
            [
                str(pg_bin() / "pg_basebackup"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-D",
                str(root / "data"),
                "-R",
                "-X",
                "stream",
                "--no-sync",
                "-c",
                "fast",
            ],
            timeout=60,
        )
        if res.returncode != 0:
            pytest.fail(f"pg_basebackup failed: {res.stderr}")
        conf = root / "data" / "postgresql.auto.conf"
        with conf.open("a") as fh:
            fh.write(f"port = {port}\nunix_socket_directories = '{root}'\narchive_mode = off\n")
        child = PgServer(self.host, port, datadir=root / "data", root=root)
        self._children.append(child)
        child.start()
        return child

    def _ready(self) -> bool:
        try:
            with self.connect(connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False


def reachable_server() -> PgServer | None:
    """The machine's PostgreSQL on 127.0.0.1:5432 when it answers to a superuser, else None."""
    server = PgServer(SHARED_HOST, SHARED_PORT)
    try:
        if server.value("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is True:
            return server
    except psycopg.Error:
        pass
    return None


@contextlib.contextmanager
def scratch_database(server: PgServer) -> Iterator[str]:
    """A uniquely named database on `server` for the block, dropped after it."""
    name = f"monitord_t_{uuid.uuid4().hex[:10]}"
    server.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def any_server() -> Iterator[PgServer]:
    """The machine's server when reachable, else a throw-away cluster for the block."""
    server = reachable_server()
    if server is not None:
        yield server
        return
    with throwaway_server(archive=False) as started:
        yield started


@contextlib.contextmanager
def throwaway_server(
    *, archive: bool = True, settings: dict[str, str] | None = None
) -> Iterator[PgServer]:
    """A fresh cluster in a temporary directory on a free loopback port."""
    root = Path(tempfile.mkdtemp(prefix="monitord-pg-"))
    _mkdir_for_postgres(root)
    server: PgServer | None = None
    try:
        data = root / "data"
        res = _as_postgres(
            [
                str(pg_bin() / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-N",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            timeout=60,
        )
        if res.returncode != 0:
            pytest.fail(f"initdb failed: {res.stderr or res.stdout}")
        archive_dir = root / "archive"
        _mkdir_for_postgres(archive_dir)
        port = free_port()
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": f"'{root}'",
            "fsync": "off",
            "full_page_writes": "off",
            "shared_buffers": "16MB",
            "max_connections": "30",
            "password_encryption": "'scram-sha-256'",
            "archive_mode": "on" if archive else "off",
            "archive_command": "'" + ARCHIVE_COMMAND.format(archive=archive_dir) + "'",
            "wal_level": "replica",
            "max_wal_senders": "5",
            **(settings or {}),
        }
        with (data / "postgresql.conf").open("a") as fh:
            fh.writelines(f"{k} = {v}\n" for k, v in conf.items())
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {SUPERUSER} 127.0.0.1/32 trust\n"
            f"host replication {SUPERUSER} 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )
        server = PgServer("127.0.0.1", port, datadir=data, root=root, archive_dir=archive_dir)
        server.start()
        yield server
    finally:
        if server is not None:
            for child in reversed(server._children):
                _kill(child)
            _kill(server)
        shutil.rmtree(root, ignore_errors=True)


def _kill(server: PgServer) -> None:
    """Stop a throw-away cluster whatever state it is in (immediate mode, then SIGKILL)."""
    if server.datadir is None or not (server.datadir / "postmaster.pid").exists():
        return
    pid_text = (server.datadir / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pid_text), signal.SIGCONT)  # a test may have stopped it
    res = server.pg_ctl("-m", "immediate", "-w", "-t", "10", "stop", timeout=20)
    if res.returncode != 0:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_text), signal.SIGKILL)


def _as_postgres(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    try:
        return subprocess.run(
            [*prefix, *argv], capture_output=True, text=True, timeout=timeout, cwd="/", check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"cannot run {argv[0]}: {exc}")


def _mkdir_for_postgres(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    path.chmod(0o700)
