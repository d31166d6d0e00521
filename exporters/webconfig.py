"""Basic auth and TLS for `/metrics`: a web config file in the Prometheus exporter-toolkit format.

The same file format Prometheus, Alertmanager and node_exporter read with
`--web.config.file` (so `promtool check web-config FILE` validates it too):

    tls_server_config:
      cert_file: monitord.crt            # PEM; relative paths are relative to this file
      key_file: monitord.key
      client_auth_type: NoClientCert     # | VerifyClientCertIfGiven | RequireAndVerifyClientCert
      client_ca_file: prometheus-ca.crt  # needed by the two verifying types
      min_version: TLS12                 # TLS10 | TLS11 | TLS12 | TLS13
      max_version: TLS13
    basic_auth_users:                    # user: bcrypt hash ($2a$, $2b$ or $2y$)
      prometheus: $2b$10$...

Either section may be left out. Keys of the exporter-toolkit format that monitord does not
implement (`cipher_suites`, `curve_preferences`, `client_allowed_sans`, inline `cert`/`key`,
`http_server_config`, `rate_limit`, `RequestClientCert`/`RequireAnyClientCert`, which do
not verify the certificate) are refused with a message, never silently ignored.

Like exporter-toolkit, the file and its certificate files are picked up again when they
change (checked at most once a second, on a connection), so certificates can be rotated
without a restart; a changed file that does not load is logged and the last good one
stays in force. TLS handshakes run in the connection's own thread with a deadline, so a
slow client cannot stall the accept loop. Passwords are checked with bcrypt; an unknown
user costs the same bcrypt work as a known one, and successful checks are remembered
(keyed by an HMAC with a per-process key, never the password) so a scrape every few
seconds does not pay bcrypt each time. Make a hash with
`python -m exporters.webconfig hash` (reads the password from the terminal or stdin) or
`htpasswd -nBC 10 "" | tr -d ':\\n'`.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import hmac
import logging
import os
import secrets
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Final

import bcrypt

from monitord.errors import ConfigError, ConfigIssue
from monitord.yamlfile import YamlDoc, read_yaml

__all__ = [
    "WWW_AUTHENTICATE",
    "ClientAuth",
    "WebConfig",
    "hash_password",
    "load_web_config",
    "main",
]

log = logging.getLogger(__name__)

WWW_AUTHENTICATE: Final = 'Basic realm="monitord", charset="UTF-8"'
HANDSHAKE_TIMEOUT: Final = 10.0
RECHECK_INTERVAL: Final = 1.0
_CACHE_SIZE: Final = 256
_BCRYPT_PREFIXES: Final = (b"$2a$", b"$2b$", b"$2y$")

_TLS_VERSIONS: Final = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_TLS_KEYS: Final = (
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "min_version",
    "max_version",
)
_UNSUPPORTED: Final = {
    "cert": "inline certificates are not supported: use cert_file",
    "key": "inline keys are not supported: use key_file",
    "cipher_suites": "not supported: Python's OpenSSL defaults are used",
    "curve_preferences": "not supported: Python's OpenSSL defaults are used",
    "prefer_server_cipher_suites": "not supported",
    "client_allowed_sans": "not supported: issue client certificates from a dedicated CA",
    "http_server_config": "not supported by monitord",
    "rate_limit": "not supported by monitord",
}


class ClientAuth(StrEnum):
    """`client_auth_type` values monitord implements (Go's tls.ClientAuthType names)."""

    NONE = "NoClientCert"
    VERIFY_IF_GIVEN = "VerifyClientCertIfGiven"
    REQUIRE_AND_VERIFY = "RequireAndVerifyClientCert"


@dataclass(frozen=True, slots=True)
class _Settings:
    """One successfully loaded version of the file."""

    context: ssl.SSLContext | None
    users: Mapping[str, bytes]
    files: tuple[Path, ...]  # the file itself and the files it names, to watch
    stamps: tuple[tuple[int, int, int], ...]
    dummy_hash: bytes = b""  # checked for unknown users, at the users' highest cost


@dataclass
class WebConfig:
    """A loaded web config file; use `serve_connection` and `check_auth` in the HTTP server."""

    path: Path
    _settings: _Settings
    _checked_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cache: dict[bytes, None] = field(default_factory=dict)
    _cache_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _reported: tuple[tuple[int, int, int], ...] = ()

    @property
    def tls(self) -> bool:
        """True when connections are served over TLS."""
        return self._current().context is not None

    @property
    def auth_required(self) -> bool:
        """True when requests need basic auth."""
        return bool(self._current().users)

    def serve_connection(
        self, sock: socket.socket, finish: Callable[[socket.socket], None]
    ) -> None:
        """Run `finish` on the accepted connection, TLS-wrapped when configured.

        Call it from the connection's thread (`finish_request` of a ThreadingHTTPServer).
        A failed or slow handshake closes the connection without calling `finish`.
        """
        context = self._current().context
        if context is None:
            finish(sock)
            return
        timeout = sock.gettimeout()
        sock.settimeout(HANDSHAKE_TIMEOUT)
        try:
            conn = context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError) as exc:  # includes TimeoutError and resets
            log.debug("tls handshake failed error=%s", type(exc).__name__)
            sock.close()
            return
        try:
            conn.settimeout(timeout)
            finish(conn)
        finally:
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.close()

    def check_auth(self, authorization: str | None) -> bool:
        """True when basic auth is off or the `Authorization` header holds valid credentials."""
        settings = self._current()
        users = settings.users
        if not users:
            return True
        user, password = _parse_basic(authorization)
        if user is None or password is None:
            return False
        hashed = users.get(user)
        key = hmac.new(
            self._cache_key,
            b"\0".join((user.encode(), hashed or b"", password.encode())),
            hashlib.sha256,
        ).digest()
        if hashed is not None:
            with self._lock:
                if key in self._cache:
                    return True
        try:
            ok = bcrypt.checkpw(password.encode(), hashed or settings.dummy_hash)
        except ValueError:  # a malformed hash; validated at load, so only defensive
            return False
        if not ok or hashed is None:
            return False
        with self._lock:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = None
        return True

    def _current(self) -> _Settings:
        now = time.monotonic()
        with self._lock:
            if now - self._checked_at < RECHECK_INTERVAL:
                return self._settings
            self._checked_at = now
            current = self._settings
        stamps = _stamps(current.files)
        if stamps is None or stamps == current.stamps:
            return current
        try:
            fresh = _load(self.path)
        except ConfigError as exc:
            if stamps != self._reported:
                self._reported = stamps
                log.error(
                    "web config reload refused, keeping the previous one path=%s: %s",
                    self.path,
                    "; ".join(str(i) for i in exc.issues),
                )
            return current
        with self._lock:
            self._settings = fresh
            self._cache.clear()
        log.info(
            "web config reloaded path=%s tls=%s users=%d",
            self.path,
            fresh.context is not None,
            len(fresh.users),
        )
        return fresh


def load_web_config(path: str | Path) -> WebConfig:
    """Read and validate a web config file; raise ConfigError naming the file, line and field."""
    p = Path(path)
    return WebConfig(p, _load(p))


def hash_password(password: str, cost: int = 10) -> str:
    """A bcrypt hash of `password` for `basic_auth_users`."""
    if not 4 <= cost <= 16:
        raise ValueError("cost must be between 4 and 16")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m exporters.webconfig hash [COST]`: print a bcrypt hash; `check FILE`: validate."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["hash"] and len(args) <= 2:
        cost = int(args[1]) if len(args) == 2 else 10
        if sys.stdin.isatty():
            password = getpass.getpass("password: ")
        else:
            password = sys.stdin.readline().rstrip("\n")
        if not password:
            print("empty password", file=sys.stderr)
            return 1
        print(hash_password(password, cost))
        return 0
    if args[:1] == ["check"] and len(args) == 2:
        try:
            web = load_web_config(args[1])
        except ConfigError as exc:
            for issue in exc.issues:
                print(issue, file=sys.stderr)
            return 1
        users = len(web._settings.users)
        print(f"{args[1]}: ok (tls={'on' if web.tls else 'off'}, users={users})")
        return 0
    print("usage: python -m exporters.webconfig hash [COST] | check FILE", file=sys.stderr)
    return 2


# --- private helpers ---------------------------------------------------------------------


def _parse_basic(header: str | None) -> tuple[str | None, str | None]:
    if not header:
        return None, None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None, None
    try:
        raw = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, sep, password = raw.partition(":")
    if not sep:
        return None, None
    return user, password


def _stamps(files: Sequence[Path]) -> tuple[tuple[int, int, int], ...] | None:
    out = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            return None  # mid-rotation: keep what works until the files are back
        out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class _Issues:
    def __init__(self, path: Path, doc: YamlDoc) -> None:
        self.path, self.doc, self.items = str(path), doc, list[ConfigIssue]()

    def add(self, loc: tuple[str, ...], message: str) -> None:
        line = self.doc.line_of(loc, self.doc.lines.get((), 0))
        self.items.append(ConfigIssue(self.path, line, ".".join(loc), message))


def _load(path: Path) -> _Settings:
    doc = read_yaml(path, "web config file")
    data = doc.data
    issues = _Issues(path, doc)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        issues.add((), "expected a mapping (tls_server_config:, basic_auth_users:)")
        raise ConfigError(issues.items)
    base = path.parent
    files: list[Path] = [path]
    context: ssl.SSLContext | None = None
    users: dict[str, bytes] = {}
    for key in data:
        if key in _UNSUPPORTED:
            issues.add((str(key),), _UNSUPPORTED[str(key)])
        elif key not in ("tls_server_config", "basic_auth_users"):
            issues.add((str(key),), "unknown key (known: tls_server_config, basic_auth_users)")
    tls = data.get("tls_server_config")
    if tls is not None:
        context = _tls_context(tls, base, files, issues)
    raw_users = data.get("basic_auth_users")
    if raw_users is not None:
        if not isinstance(raw_users, dict):
            issues.add(("basic_auth_users",), "expected a mapping of user: bcrypt hash")
        else:
            for user, hashed in raw_users.items():
                loc = ("basic_auth_users", str(user))
                if not isinstance(hashed, str) or not _is_bcrypt(hashed.encode()):
                    issues.add(loc, "expected a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters)")
                elif ":" in str(user) or not str(user):
                    issues.add(loc, "a user name cannot be empty or contain ':'")
                else:
                    users[str(user)] = hashed.encode()
    if issues.items:
        raise ConfigError(issues.items)
    stamps = _stamps(files)
    dummy = b""
    if users:
        cost = max(int(h[4:6]) for h in users.values())
        dummy = bcrypt.hashpw(b"-", bcrypt.gensalt(min(max(cost, 4), 31)))
    return _Settings(context, users, tuple(files), stamps or (), dummy)


def _tls_context(
    tls: object, base: Path, files: list[Path], issues: _Issues
) -> ssl.SSLContext | None:
    sect = "tls_server_config"
    if not isinstance(tls, dict):
        issues.add((sect,), "expected a mapping (cert_file, key_file, ...)")
        return None
    before = len(issues.items)
    for key in tls:
        if key in _UNSUPPORTED:
            issues.add((sect, str(key)), _UNSUPPORTED[str(key)])
        elif key not in _TLS_KEYS:
            issues.add((sect, str(key)), f"unknown key (known: {', '.join(_TLS_KEYS)})")

    def path_of(key: str, required: bool) -> Path | None:
        value = tls.get(key)
        if value is None or value == "":
            if required:
                issues.add((sect, key), "required field is missing")
            return None
        if not isinstance(value, str):
            issues.add((sect, key), "expected a file name")
            return None
        p = Path(value)
        p = p if p.is_absolute() else base / p
        if not os.access(p, os.R_OK):
            issues.add((sect, key), f"cannot read {p}")
            return None
        files.append(p)
        return p

    cert = path_of("cert_file", True)
    key = path_of("key_file", True)
    ca = path_of("client_ca_file", False)
    try:
        auth = ClientAuth(tls.get("client_auth_type") or ClientAuth.NONE)
    except ValueError:
        auth = ClientAuth.NONE
        issues.add(
            (sect, "client_auth_type"),
            f"expected one of {', '.join(a.value for a in ClientAuth)} (RequestClientCert and "
            "RequireAnyClientCert do not verify the certificate and are not supported)",
        )
    if auth is not ClientAuth.NONE and "client_ca_file" not in tls:
        issues.add((sect, "client_ca_file"), f"required with client_auth_type {auth.value}")
    if auth is ClientAuth.NONE and tls.get("client_ca_file"):
        issues.add(
            (sect, "client_auth_type"),
            "client_ca_file is set but client certificates are not asked for: "
            "set client_auth_type: RequireAndVerifyClientCert",
        )
    versions: list[ssl.TLSVersion] = []
    for vkey, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        name = tls.get(vkey) or default
        if name not in _TLS_VERSIONS:
            issues.add((sect, vkey), f"expected one of {', '.join(_TLS_VERSIONS)}")
            name = default
        versions.append(_TLS_VERSIONS[name])
    if versions[0] > versions[1]:
        issues.add((sect, "max_version"), "must not be lower than min_version")
    if len(issues.items) > before or cert is None or key is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version, context.maximum_version = versions[0], versions[1]
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError):
        issues.add((sect, "cert_file"), f"{cert} and {key} are not a PEM certificate and its key")
        return None
    if ca is not None:
        try:
            context.load_verify_locations(cafile=ca)
        except (ssl.SSLError, OSError):
            issues.add((sect, "client_ca_file"), f"{ca} holds no PEM CA certificate")
            return None
    context.verify_mode = {
        ClientAuth.NONE: ssl.CERT_NONE,
        ClientAuth.VERIFY_IF_GIVEN: ssl.CERT_OPTIONAL,
        ClientAuth.REQUIRE_AND_VERIFY: ssl.CERT_REQUIRED,
    }[auth]
    return context


def _is_bcrypt(hashed: bytes) -> bool:
    return len(hashed) == 60 and hashed[:4] in _BCRYPT_PREFIXES and hashed[4:6].isdigit()


if __name__ == "__main__":
    raise SystemExit(main())
