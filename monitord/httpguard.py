"""Limits for the threaded HTTP servers (daemon /metrics and host agent) against hostile clients.

- A connection cap: at most `max_connections` connections are served at once; one more
  is closed as soon as it is accepted and counted (`on_reject`), so idle or slow
  clients never hold more file descriptors than the cap, and the collectors' own
  sockets (SNMP, ICMP, TCP, database) keep the rest of the process's limit.
- A whole-request deadline: a connection gets `deadline` seconds from its accept (TLS
  handshake and first request included) and again from the end of each answered
  request; past it a reaper thread shuts the socket down. A client sending one byte
  every few seconds (slowloris) is dropped at the deadline, not kept alive by a
  per-read timeout.
- Quiet disconnects: a client that goes away early (reset, broken pipe, failed TLS)
  is one debug line, never a traceback.

`raise_nofile_limit()` raises the soft RLIMIT_NOFILE to the hard limit; the daemon and
the agent call it at start (the systemd units also set `LimitNOFILE`).
"""

from __future__ import annotations

import logging
import resource
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "ConnectionGuard",
    "DeadlineHandler",
    "GuardedHTTPServer",
    "http_connection_cap",
    "raise_nofile_limit",
]

log = logging.getLogger(__name__)

# How often the reaper looks for connections past their deadline.
_REAP_EVERY = 0.25


def raise_nofile_limit() -> tuple[int, int]:
    """Raise the soft open-files limit to the hard limit; return (soft, hard) after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open files limit soft=%d hard=%d: %s", soft, hard, exc)
    return soft, hard


def http_connection_cap(configured: int) -> int:
    """`configured`, lowered to a quarter of the open-files limit: the rest is the collectors'."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    cap = max(1, soft // 4) if soft != resource.RLIM_INFINITY else configured
    if configured > cap:
        log.warning(
            "http connections capped at %d (open files limit %d); asked for %d",
            cap,
            soft,
            configured,
        )
    return min(configured, cap)


class ConnectionGuard:
    """Connection slots and per-request deadlines of one server (thread-safe)."""

    def __init__(
        self, max_connections: int, deadline: float, on_reject: Callable[[], None] | None = None
    ) -> None:
        self.max_connections = max_connections
        self.deadline = deadline
        self._on_reject = on_reject
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._due: dict[int, float] = {}  # fd -> monotonic deadline
        self._expired: set[int] = set()  # fds shut down by the reaper, not yet forgotten
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self.rejected = 0

    def admit(self) -> bool:
        """Take a slot, or count a rejection and return False when all are busy."""
        if self._slots.acquire(blocking=False):
            return True
        with self._lock:
            self.rejected += 1
        if self._on_reject is not None:
            self._on_reject()
        return False

    def release(self) -> None:
        """Give back a slot taken by `admit()`."""
        self._slots.release()

    def arm(self, sock: socket.socket) -> int:
        """(Re)start the deadline of the connection `sock`; return its descriptor."""
        fd = sock.fileno()
        if fd < 0:
            return fd
        with self._lock:
            self._due[fd] = time.monotonic() + self.deadline
            self._expired.discard(fd)
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap, name="http-reaper", daemon=True)
                self._reaper.start()
        return fd

    def disarm(self, fd: int) -> None:
        """Forget the connection of descriptor `fd` (call before closing it)."""
        with self._lock:
            self._due.pop(fd, None)
            self._expired.discard(fd)

    def expired(self, fd: int) -> bool:
        """True when the connection of `fd` was shut down at its deadline."""
        with self._lock:
            return fd in self._expired

    def stop(self) -> None:
        """Stop the reaper thread."""
        self._stop.set()

    def _reap(self) -> None:
        while not self._stop.wait(_REAP_EVERY):
            now = time.monotonic()
            with self._lock:  # held while shutting down: the fd cannot be closed meanwhile
                for fd in [fd for fd, due in self._due.items() if due <= now]:
                    del self._due[fd]
                    self._expired.add(fd)
                    _shutdown_fd(fd)


def _shutdown_fd(fd: int) -> None:
    """Shut a connection down by descriptor (works under a TLS wrapper too)."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.detach()


class GuardedHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a `ConnectionGuard`: slots, deadlines, quiet disconnects.

    Subclasses set `self.guard` before serving and may override `serve_connection`
    (e.g. to wrap TLS); it runs in the connection's thread under the deadline.
    """

    daemon_threads = True
    request_queue_size = 128
    guard: ConnectionGuard

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start a connection thread, or close the connection when all slots are busy."""
        if not self.guard.admit():
            log.debug("connection refused: all %d slots busy", self.guard.max_connections)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except RuntimeError:  # cannot start a thread
            self.guard.release()
            self.shutdown_request(request)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve one connection under its deadline; always give its slot back."""
        try:
            fd = self.guard.arm(request)  # a TLS wrapper takes over the same descriptor
            try:
                self.serve_connection(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.guard.disarm(fd)
                self.shutdown_request(request)
        finally:
            self.guard.release()

    def serve_connection(self, request: Any, client_address: Any) -> None:
        """Handle the connection (the standard `finish_request`)."""
        self.finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client gone early (reset, broken pipe, TLS failure) is a debug line only."""
        exc = sys.exc_info()[1]
        peer = client_address[0] if isinstance(client_address, tuple) else client_address
        if isinstance(exc, OSError):
            log.debug("connection ended early peer=%s error=%s", peer, type(exc).__name__)
        else:
            log.error("http request failed peer=%s", peer, exc_info=True)

    def server_close(self) -> None:
        """Close the listening socket and stop the reaper."""
        super().server_close()
        self.guard.stop()


class DeadlineHandler(BaseHTTPRequestHandler):
    """Request handler whose connection gets a fresh deadline after each answered request."""

    server: GuardedHTTPServer

    def parse_request(self) -> bool:
        """Refuse a request cut short by the deadline: at the shutdown the header reader
        sees end-of-file and would take the partial headers for a complete request."""
        if not super().parse_request():
            return False
        if self.server.guard.expired(self.connection.fileno()):
            self.close_connection = True
            return False
        return True

    def handle_one_request(self) -> None:
        """Serve one request, then restart the connection's deadline (keep-alive)."""
        super().handle_one_request()
        if not self.close_connection:
            self.server.guard.arm(self.connection)

    def finish(self) -> None:
        """Forget the deadline before the connection is closed."""
        self.server.guard.disarm(self.connection.fileno())
        super().finish()
