"""Real MariaDB servers for the tests, on loopback.

    with any_server() as db:            # the machine's server on 127.0.0.1:3306 when root
        db.execute("CREATE ...")        # answers with no password, else a throw-away one
    with throwaway_server() as db:      # mariadb-install-db in a temporary directory, a free
        db.stop(); db.start()           # port, binary log on; tests that stop a server use
                                        # only these
        replica = db.replica()          # a second throw-away server replicating from it

Throw-away servers run as the `mysql` user (mariadbd --user=mysql when the tests run as
root), root@127.0.0.1 has no password, and everything is removed on exit also when the
test fails. When MariaDB cannot be found or started the test fails with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
import pytest

from tests.peers.process import free_port, port_open, stop_process, wait_until

__all__ = [
    "MariaDbServer",
    "any_server",
    "reachable_server",
    "scratch_database",
    "throwaway_server",
    "wait_until",
]

SHARED_HOST = "127.0.0.1"
SHARED_PORT = 3306
_MARIADBD = "/usr/sbin/mariadbd"
_INSTALL_DB = "mariadb-install-db"


@dataclass
class MariaDbServer:
    """A reachable MariaDB server and an all-privileged root account on it."""

    host: str
    port: int
    user: str = "root"
    password: str = ""
    root: Path | None = None
    server_id: int = 1
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _children: list[MariaDbServer] = field(default_factory=list, repr=False)

    @property
    def throwaway(self) -> bool:
        """True for a server this test run created (and may stop)."""
        return self.root is not None

    def connect(self, **kwargs: Any) -> pymysql.connections.Connection[Any]:
        """An autocommit root connection over TCP."""
        params: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "connect_timeout": 5,
            "read_timeout": 30,
            "autocommit": True,
        }
        params.update(kwargs)
        return pymysql.connect(**params)

    def execute(self, sql: str, params: Sequence[object] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement as root; return its rows."""
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def value(self, sql: str, params: Sequence[object] | None = None) -> Any:
        """The single value a query returns."""
        rows = self.execute(sql, params)
        assert rows, f"no row from {sql}"
        return rows[0][0]

    def running(self) -> bool:
        """True when the server accepts TCP connections."""
        return port_open(self.host, self.port)

    # --- throw-away servers only ----------------------------------------------------

    def start(self) -> None:
        """Start mariadbd on this server's data directory and wait until it answers."""
        assert self.root is not None, "the machine's shared server is never started by tests"
        if self.proc is not None and self.proc.poll() is None:
            return
        argv = [
            _MARIADBD,
            "--no-defaults",
            f"--datadir={self.root / 'data'}",
            f"--socket={self.root / 'mysqld.sock'}",
            f"--pid-file={self.root / 'mysqld.pid'}",
            f"--log-error={self.root / 'error.log'}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            f"--server-id={self.server_id}",
            "--log-bin=binlog",
            "--innodb-buffer-pool-size=16M",
            "--innodb-log-file-size=8M",
            "--innodb-flush-log-at-trx-commit=0",
            "--sync-binlog=0",
            "--performance-schema=OFF",
            "--max-connections=40",
        ]
        if os.geteuid() == 0:
            argv.append("--user=mysql")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(f"mariadbd exited with {self.proc.returncode}:\n{self.error_log()}")
            try:
                self.execute("SELECT 1")
                return True
            except pymysql.err.MySQLError:
                return False

        wait_until(ready, 30, "MariaDB to accept connections")

    def stop(self) -> None:
        """Stop mariadbd (SIGTERM: a clean shutdown) and wait until it is gone."""
        assert self.root is not None, "the machine's shared server is never stopped by tests"
        if self.proc is None or self.proc.poll() is not None:
            return
        if not stop_process(self.proc, 30):
            pytest.fail("mariadbd did not stop within 30s of SIGTERM")

    def kill(self) -> None:
        """SIGKILL mariadbd (also when a test stopped it with SIGSTOP)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def error_log(self) -> str:
        """The tail of the server's error log."""
        assert self.root is not None
        with contextlib.suppress(OSError):
            return (self.root / "error.log").read_text(errors="replace")[-3000:]
        return ""

    def replica(self) -> MariaDbServer:
        """A second throw-away server replicating from this one (GTID), running and caught up."""
        assert self.root is not None
        child = _install(server_id=self.server_id + 1 + len(self._children))
        self._children.append(child)
        child.start()
        self.execute("CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1' IDENTIFIED BY 'repl-pw'")
        self.execute("GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'")
        child.execute(
            "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = %s, MASTER_USER = 'repl',"
            " MASTER_PASSWORD = 'repl-pw', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1",
            (self.port,),
        )
        child.execute("START SLAVE")
        return child


def reachable_server() -> MariaDbServer | None:
    """The machine's MariaDB on 127.0.0.1:3306 when root answers without a password."""
    server = MariaDbServer(SHARED_HOST, SHARED_PORT)
    try:
        server.value("SELECT 1")
    except pymysql.err.MySQLError:
        return None
    return server


@contextlib.contextmanager
def scratch_database(server: MariaDbServer) -> Iterator[str]:
    """A uniquely named database on `server` for the block, dropped after it."""
    name = f"monitord_t_{uuid.uuid4().hex[:10]}"
    server.execute(f"CREATE DATABASE `{name}`")
    try:
        yield name
    finally:
        server.execute(f"DROP DATABASE IF EXISTS `{name}`")


@contextlib.contextmanager
def any_server() -> Iterator[MariaDbServer]:
    """The machine's server when reachable, else a throw-away one for the block."""
    server = reachable_server()
    if server is not None:
        yield server
        return
    with throwaway_server() as started:
        yield started


@contextlib.contextmanager
def throwaway_server() -> Iterator[MariaDbServer]:
    """A fresh MariaDB in a temporary directory on a free loopback port."""
    server = _install(server_id=1)
    try:
        server.start()
        yield server
    finally:
        for child in reversed(server._children):
            child.kill()
            assert child.root is not None
            shutil.rmtree(child.root, ignore_errors=True)
        server.kill()
        assert server.root is not None
        shutil.rmtree(server.root, ignore_errors=True)


def _install(server_id: int) -> MariaDbServer:
    if not Path(_MARIADBD).exists() or shutil.which(_INSTALL_DB) is None:
        pytest.fail("MariaDB server not installed (apt-get install mariadb-server)")
    root = Path(tempfile.mkdtemp(prefix="monitord-mariadb-"))
    if os.geteuid() == 0:
        shutil.chown(root, "mysql", "mysql")
    argv = [
        _INSTALL_DB,
        "--no-defaults",
        f"--datadir={root / 'data'}",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        "--skip-name-resolve",
        "--innodb-log-file-size=8M",
    ]
    if os.geteuid() == 0:
        argv.append("--user=mysql")
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"cannot run {_INSTALL_DB}: {exc}")
    if res.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"{_INSTALL_DB} failed: {res.stderr[-2000:] or res.stdout[-2000:]}")
    return MariaDbServer("127.0.0.1", free_port(), root=root, server_id=server_id)
