"""A real SMTP server on loopback (aiosmtpd), with STARTTLS or implicit TLS and AUTH.

    with SmtpServer(tmp_path, user="monitord", password="pw") as smtp:
        smtp.port, smtp.ca_file                   # trust ca_file for the server's certificate
        smtp.wait_for(1, 10)                      # -> list of received EmailMessage
        smtp.messages[0]["Subject"]; smtp.envelopes[0].rcpt_tos

The certificate is made here with `cryptography`: a self-signed certificate for
127.0.0.1 and localhost. With `implicit_tls=True` the server speaks TLS from the first
byte (port-465 style) and takes mail without AUTH (aiosmtpd 1.4 offers AUTH only after
STARTTLS); otherwise it requires STARTTLS, then AUTH, before MAIL.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.peers.tls import write_self_signed

__all__ = ["SmtpServer", "make_cert"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1/localhost; returns (cert, key)."""
    return write_self_signed(directory / "smtp-cert.pem", directory / "smtp-key.pem")


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        with self.server._lock:
            self.server.envelopes.append(envelope)
            self.server.messages.append(msg)  # type: ignore[arg-type]
            self.server.received.append(time.monotonic())
        return "250 OK"


class SmtpServer:
    """aiosmtpd in its own thread; see the module docstring."""

    def __init__(
        self,
        directory: Path,
        user: str = "monitord",
        password: str = "pw",
        implicit_tls: bool = False,
    ) -> None:
        self.user, self.password = user, password
        self.ca_file, key = make_cert(directory)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.ca_file, key)
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []
        self.received: list[float] = []
        self.auth_attempts: list[tuple[str, bool]] = []
        self._lock = threading.Lock()
        kwargs: dict[str, Any] = dict(
            hostname="127.0.0.1",
            port=_free_port(),
            authenticator=self._auth,
            auth_required=True,
        )
        if implicit_tls:
            # aiosmtpd 1.4 offers AUTH only after STARTTLS (it does not count implicit TLS),
            # so the implicit-TLS server takes mail without AUTH.
            kwargs.update(ssl_context=ctx, auth_required=False, authenticator=None)
        else:
            kwargs.update(tls_context=ctx, require_starttls=True)
        self.controller = Controller(_Handler(self), **kwargs)
        self.port = 0

    def _auth(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        with self._lock:
            self.auth_attempts.append((mechanism, ok))
        return AuthResult(success=ok, handled=False)

    def __enter__(self) -> SmtpServer:
        try:
            self.controller.start()
        except (OSError, RuntimeError, TimeoutError) as exc:
            pytest.fail(f"cannot start the aiosmtpd test server: {exc}")
        self.port = int(self.controller.port)
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def wait_for(self, count: int, timeout: float) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        pytest.fail(
            f"smtp server: {len(self.messages)} message(s) after {timeout}s, "
            f"wanted {count}; auth attempts {self.auth_attempts}"
        )
