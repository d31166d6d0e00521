"""`monitord agent`: the small host agent that runs on each server and serves HTTP(S).

    monitord agent --listen ADDR:PORT --token-file F [--tls-cert C --tls-key K]
                   [--config agent.yaml]

Endpoints (GET only; every request needs `Authorization: Bearer <token>`):
  /metrics    Prometheus text: the same `monitord_host_*` and `monitord_interface_*` series
              as the daemon's in-process `host` collector (the reading code is
              `collectors.hostagent.hostread.HostReader`), plus services, backups, files,
              security inputs and `monitord_host_info` (see collectors/hostagent/checks.py).
              Every series carries `target` = the agent's `name` (default: host name).
  /inventory  JSON inventory (collectors/hostagent/inventory.py), cached `inventory_cache`.

Security: binds 127.0.0.1 unless told otherwise; the token is compared in constant time
(`hmac.compare_digest`) and only read from the Authorization header (never from the
query string); a refusal is `401` with `WWW-Authenticate: Bearer` and an empty body.
Failed attempts are rate-limited per client address with a token bucket
(`auth_failures_burst` attempts, refilled at `auth_failures_per_minute`): past it every
request from that address gets `429` without its token being checked. TLS is optional
(`--tls-cert/--tls-key`); the handshake runs in the connection's thread with the request
timeout, so a slow client cannot stall the accept loop. At most `max_connections`
connections are served at once; more are closed at once and counted. Each request,
handshake included, has `request_timeout` as a whole (not per read): a slow client
is dropped at that deadline (monitord.httpguard). No request names a command,
path or unit: the routes are fixed and the checks come from the agent's own config.

Served with the standard library (ThreadingHTTPServer + ssl) to stay small: the agent
imports psutil, PyYAML and `collectors.hostagent.hostread`, not the daemon (no APScheduler, no
pysnmp, no pydantic: its config file is validated here, as strictly: unknown keys and
wrong types are errors naming the field).
Exit codes of `run()`: 0 stopped by SIGTERM/SIGINT, 2 bad config or token file,
3 could not listen (address in use, unreadable certificate).
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import math
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Final

import psutil

from collectors.hostagent import hostread
from collectors.hostagent.checks import AGENT_METRICS, Checks
from collectors.hostagent.config import (
    DEFAULT_PORT,
    AgentConfig,
    load_config,
    parse_listen,
    read_token,
)
from collectors.hostagent.inventory import basic_info, read_inventory
from monitord import __version__
from monitord.errors import ConfigError
from monitord.httpguard import (
    ConnectionGuard,
    DeadlineHandler,
    GuardedHTTPServer,
    raise_nofile_limit,
)
from monitord.types import MetricSpec, Sample, SampleKind

__all__ = [
    "AgentServer",
    "FailureLimiter",
    "add_parser",
    "main",
    "render",
    "run",
]

log = logging.getLogger(__name__)

_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


_REJECTED: Final = MetricSpec(
    "monitord_http_connections_rejected_total",
    SampleKind.COUNTER,
    "Connections to the agent closed on accept because all max_connections slots were busy.",
    ("target", "server"),
)


class FailureLimiter:
    """Per-address token bucket of failed authentications (thread-safe, bounded)."""

    def __init__(self, burst: int, per_minute: float, max_clients: int = 4096) -> None:
        self.burst, self.rate = float(burst), per_minute / 60.0
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def blocked(self, addr: str, now: float | None = None) -> bool:
        """True if `addr` has no attempt left."""
        with self._lock:
            return self._tokens(addr, time.monotonic() if now is None else now) < 1.0

    def failed(self, addr: str, now: float | None = None) -> None:
        """Spend one attempt of `addr`."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens = self._tokens(addr, now)
            if len(self._buckets) >= self.max_clients and addr not in self._buckets:
                self._prune(now)
            self._buckets[addr] = (max(0.0, tokens - 1.0), now)

    def _tokens(self, addr: str, now: float) -> float:
        tokens, last = self._buckets.get(addr, (self.burst, now))
        return min(self.burst, tokens + (now - last) * self.rate)

    def _prune(self, now: float) -> None:
        for addr in [a for a in self._buckets if self._tokens(a, now) >= self.burst]:
            del self._buckets[addr]
        while len(self._buckets) >= self.max_clients:  # all busy: forget the oldest
            del self._buckets[min(self._buckets, key=lambda a: self._buckets[a][1])]


class AgentServer(GuardedHTTPServer):
    """The HTTP(S) server; one thread per connection, at most `max_connections`.

    Each request (TLS handshake included) must arrive and be answered within
    `request_timeout` as a whole (monitord.httpguard); connections past the cap are
    closed on accept and counted in `monitord_http_connections_rejected_total`.
    """

    allow_reuse_address = True

    def __init__(self, cfg: AgentConfig, token: bytes, name: str) -> None:
        host_addr, port = parse_listen(cfg.listen)
        self.address_family = socket.AF_INET6 if ":" in host_addr else socket.AF_INET
        self.cfg, self.name = cfg, name
        self._token = token
        self.limiter = FailureLimiter(cfg.auth_failures_burst, cfg.auth_failures_per_minute)
        self.tls: ssl.SSLContext | None = None
        if cfg.tls_cert:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.minimum_version = ssl.TLSVersion.TLSv1_2
            self.tls.load_cert_chain(cfg.tls_cert, cfg.tls_key or None)
        h = cfg.host
        self.host = hostread.HostReader(
            h.cpu_window,
            h.fs_exclude_types,
            h.fs_exclude_mountpoints,
            h.disks_exclude,
            h.interfaces_exclude,
        )
        self.checks = Checks(
            name,
            cfg.services,
            cfg.backups,
            cfg.files,
            cfg.security,
            cfg.checks_interval,
            cfg.updates_interval,
            cfg.command_timeout,
        )
        self.specs: dict[str, MetricSpec] = {
            s.name: s for s in (*hostread.METRICS, *AGENT_METRICS, _REJECTED)
        }
        self.guard = ConnectionGuard(cfg.max_connections, cfg.request_timeout)
        self._info: tuple[float, dict[str, str]] = (float("-inf"), {})
        self._inventory: tuple[float, bytes] = (float("-inf"), b"")
        self._inventory_lock = threading.Lock()
        super().__init__((host_addr, port), _Handler)

    def token_ok(self, header: str | None) -> bool:
        """Constant-time check of an Authorization header value."""
        scheme, _, given = (header or "").partition(" ")
        ok = hmac.compare_digest(given.strip().encode("utf-8", "replace"), self._token)
        return ok and scheme.lower() == "bearer"

    def metrics_body(self) -> bytes:
        """Read the host and the checks' latest results; render Prometheus text."""
        out: list[Sample] = []
        self.host.read_into(self.name, out)
        out.extend(self.checks.samples())
        out.append(
            Sample(
                "monitord_http_connections_rejected_total",
                {"target": self.name, "server": "agent"},
                self.guard.rejected,
                SampleKind.COUNTER,
            )
        )
        now = time.monotonic()
        if now - self._info[0] > 60.0:
            self._info = (now, basic_info())
        out.append(
            Sample("monitord_host_info", {"target": self.name, **self._info[1]}, 1, SampleKind.INFO)
        )
        return render(out, self.specs)

    def inventory_body(self) -> bytes:
        """The inventory as JSON, read at most once per `inventory_cache`."""
        with self._inventory_lock:
            at, body = self._inventory
            if time.monotonic() - at >= self.cfg.inventory_cache:
                h = self.cfg.host
                inv = read_inventory(
                    h.fs_exclude_types, h.fs_exclude_mountpoints, self.cfg.command_timeout
                )
                inv["target"] = self.name
                inv["agent_version"] = __version__
                body = json.dumps(inv, separators=(",", ":"), default=str).encode()
                self._inventory = (time.monotonic(), body)
            return body

    def serve_connection(self, request: socket.socket, client_address: object) -> None:
        """Serve one connection (TLS handshake here, under the request deadline)."""
        request.settimeout(self.cfg.request_timeout)
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.debug(
                    "tls handshake failed peer=%s error=%s", client_address, type(exc).__name__
                )
                request.close()
                return
        try:
            self.finish_request(request, client_address)
        finally:
            if self.tls is not None:
                request.close()  # the TLS wrapper owns the descriptor now


class _Handler(DeadlineHandler):
    server: AgentServer
    protocol_version = "HTTP/1.1"
    server_version = "monitord-agent"
    sys_version = ""

    def version_string(self) -> str:
        """The Server header: no Python version."""
        return self.server_version

    def _authorized(self) -> bool:
        """Rate limit, then the token; answer 429/401 and return False when refused."""
        srv = self.server
        addr = str(self.client_address[0])
        if srv.limiter.blocked(addr):
            self._reply(429, extra={"Retry-After": str(math.ceil(1.0 / srv.limiter.rate))})
            return False
        if not srv.token_ok(self.headers.get("Authorization")):
            srv.limiter.failed(addr)
            log.info("request refused: bad or missing token peer=%s", addr)
            self._reply(401, extra={"WWW-Authenticate": 'Bearer realm="monitord-agent"'})
            return False
        return True

    def do_GET(self) -> None:
        if not self._authorized():
            return
        srv = self.server
        route = self.path.split("?", 1)[0]
        try:
            if route == "/metrics":
                self._reply(200, srv.metrics_body(), _CONTENT_TYPE)
            elif route == "/inventory":
                self._reply(200, srv.inventory_body(), "application/json")
            else:
                self._reply(404)
        except (psutil.Error, OSError) as exc:
            log.warning(
                "reading the host failed route=%s error=%s: %s", route, type(exc).__name__, exc
            )
            self._reply(500)

    def _method_not_allowed(self) -> None:
        if self._authorized():
            self._reply(405, extra={"Allow": "GET"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _method_not_allowed

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors found by http.server itself (bad request line...): no body, then close."""
        self.close_connection = True
        self._reply(code)

    def _reply(
        self, code: int, body: bytes = b"", ctype: str = "", extra: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if code >= 400:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # The request line may carry a query string: log only the route, at debug.
        log.debug(
            "request peer=%s route=%s",
            self.client_address[0],
            getattr(self, "path", "").split("?", 1)[0],
        )


def render(samples: Sequence[Sample], specs: Mapping[str, MetricSpec]) -> bytes:
    """Samples → Prometheus text format 0.0.4 (families in first-seen order)."""
    families: dict[str, list[str]] = {}
    for s in samples:
        lines = families.setdefault(s.name, [])
        labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(s.labels.items()))
        lines.append(f"{s.name}{{{labels}}} {_number(s.value)}")
    parts: list[str] = []
    for name, lines in families.items():
        spec = specs.get(name)
        if spec is not None:
            kind = "counter" if spec.kind is SampleKind.COUNTER else "gauge"
            parts.append(f"# HELP {name} {_escape_help(spec.help)}")
            parts.append(f"# TYPE {name} {kind}")
        parts.extend(lines)
    return ("\n".join(parts) + "\n").encode()


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def _number(value: float) -> str:
    if isinstance(value, int) or (value == value and value.is_integer() and abs(value) < 2**63):
        return str(int(value))
    return repr(float(value))


# -- command line -------------------------------------------------------------------------


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register `agent` on the `monitord` command line; return its parser."""
    p = subparsers.add_parser(
        "agent",
        help="run the host agent (serves /metrics and /inventory)",
        description="Run the host agent in the foreground: Prometheus /metrics and JSON"
        " /inventory for this machine, behind a bearer token. See docs/agent.md.",
    )
    _arguments(p)
    return p


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", help=f"ADDR:PORT (default 127.0.0.1:{DEFAULT_PORT})")
    p.add_argument("--token-file", help="file holding the bearer token (required)")
    p.add_argument("--tls-cert", help="PEM certificate (chain) to serve HTTPS")
    p.add_argument("--tls-key", help="PEM private key of --tls-cert")
    p.add_argument("--config", help="agent config file (YAML): services, backups, files...")
    p.add_argument("--name", help="the `target` label of its series (default: host name)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def run(args: argparse.Namespace) -> int:
    """Run the agent until SIGTERM/SIGINT; return the exit code."""
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    overrides = {
        "listen": args.listen,
        "token_file": args.token_file,
        "tls_cert": args.tls_cert,
        "tls_key": args.tls_key,
        "name": args.name,
    }
    try:
        cfg = load_config(args.config, overrides)
        token = read_token(cfg.token_file)
    except ConfigError as exc:
        for issue in exc.issues:
            log.error("config error: %s", issue)
        return 2
    name = cfg.name or socket.gethostname()
    raise_nofile_limit()
    try:
        server = AgentServer(cfg, token, name)
    except (OSError, ssl.SSLError) as exc:
        log.error(
            "agent not started: %s (listen=%s)", getattr(exc, "strerror", None) or exc, cfg.listen
        )
        return 3
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.checks.start()
    thread = threading.Thread(target=server.serve_forever, name="agent-http", daemon=True)
    thread.start()
    log.info(
        "agent listening address=%s tls=%s name=%s version=%s",
        cfg.listen,
        "yes" if server.tls else "no",
        name,
        __version__,
    )
    while not stop.wait(1.0):
        pass
    log.info("agent stopping")
    server.shutdown()
    server.server_close()
    server.checks.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry (`python -m collectors.hostagent.server ...`), same flags as `agent`."""
    p = argparse.ArgumentParser(prog="monitord agent", description=__doc__.splitlines()[0])
    _arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
