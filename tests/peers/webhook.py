"""A webhook receiver on loopback: records every POST, checks the HMAC signature.

    with WebhookReceiver(secret=b"s3cret") as hook:
        hook.url                                  # http://127.0.0.1:<port>/hook
        hook.fail_next(2, 503)                    # answer 503 to the next two requests
        hook.wait_for(lambda rs: len(rs) >= 1, 10, "a notification")
        hook.requests[0].json, .headers, .valid_signature, .received (monotonic)

Used for monitord's webhook notifier and as Alertmanager's receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["Received", "WebhookReceiver"]


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    received: float
    status: int
    valid_signature: bool | None

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """HTTP server in a thread on 127.0.0.1; see the module docstring."""

    def __init__(self, secret: bytes | None = None, path: str = "/hook") -> None:
        self.secret = secret
        self.path = path
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._fail: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                valid = None
                if receiver.secret is not None:
                    want = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
                    got = self.headers.get("X-Monitord-Signature", "")
                    valid = hmac.compare_digest(want, got)
                with receiver._lock:
                    status = receiver._fail.pop(0) if receiver._fail else 200
                    if valid is False:
                        status = 401
                    receiver.requests.append(
                        Received(
                            self.path,
                            dict(self.headers.items()),
                            body,
                            time.monotonic(),
                            status,
                            valid,
                        )
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer `status` to the next `count` requests."""
        with self._lock:
            self._fail = [status] * count

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def alerts(self, ok_only: bool = True) -> list[dict[str, Any]]:
        """Every alert in every accepted monitord webhook body, in arrival order."""
        out = []
        for r in self.snapshot():
            if ok_only and r.status != 200:
                continue
            out.extend(r.json["alerts"])
        return out

    def wait_for(
        self, cond: Callable[[list[Received]], object], timeout: float, what: str
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rs = self.snapshot()
            if cond(rs):
                return rs
            time.sleep(0.02)
        pytest.fail(
            f"webhook receiver: timed out after {timeout}s waiting for {what}; "
            f"got {[r.body[:300] for r in self.snapshot()]}"
        )
