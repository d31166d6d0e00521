"""HTTP(S) GET of an agent's or exporter's endpoint, bounded in time and size.

httpx (async, connection pooling, TLS through an `ssl.SSLContext` with a custom CA,
streaming so the body can be capped) rather than urllib in a thread: a thread cannot be
cancelled when the poll's deadline passes, a coroutine can. One `httpx.AsyncClient` per
CA file is shared by every agent target (`Shared` key `agent.http:<ca_file>`), created
inside the running loop on first use and closed with the other shared resources. The
client ignores proxy environment variables (`trust_env=False`), never follows redirects,
and asks for an uncompressed body so the size cap bounds memory (a gzip bomb cannot
expand past it).

Errors are classified by exception type along the cause chain (never by message):
ssl.SSLError → TlsFailed, ConnectionRefusedError → ConnectionRefused, socket.gaierror →
NameResolutionFailed, timeouts → TargetTimeout, other OS errors → TargetUnreachable;
401/403/429 → AuthFailed, other non-200 statuses and protocol violations (a body cut
short, a bad status line) → MalformedResponse, 5xx → TargetUnreachable.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from typing import Final

import httpx

from monitord.errors import (
    AuthFailed,
    CollectorError,
    ConnectionRefused,
    MalformedResponse,
    NameResolutionFailed,
    TargetTimeout,
    TargetUnreachable,
    TlsFailed,
)

__all__ = ["Response", "fetch", "make_client"]

_CHUNK: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class Response:
    """A 200 answer: its content type and body (at most the cap)."""

    content_type: str
    body: bytes


def make_client(ca_file: str) -> httpx.AsyncClient:
    """A pooled client verifying TLS against `ca_file` (or the system store when empty)."""
    ctx = ssl.create_default_context(cafile=ca_file or None)
    return httpx.AsyncClient(
        verify=ctx,
        trust_env=False,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
    )


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    token: str | None,
    timeout: float,
    max_bytes: int,
    where: str,
) -> Response:
    """GET `url`; raise a CollectorError subclass for every failure. `where` names the
    target in messages (never the token)."""
    headers = {"Accept-Encoding": "identity", "User-Agent": "monitord"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        async with asyncio.timeout(timeout):
            async with client.stream(
                "GET", url, headers=headers, timeout=httpx.Timeout(timeout)
            ) as resp:
                _check_status(resp.status_code, where)
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise MalformedResponse(
                        f"{where}: body of {int(declared)} bytes exceeds the"
                        f" {max_bytes}-byte cap (max_body_bytes)"
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_raw(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise MalformedResponse(
                            f"{where}: body exceeds the {max_bytes}-byte cap (max_body_bytes)"
                        )
                    chunks.append(chunk)
                return Response(resp.headers.get("content-type", ""), b"".join(chunks))
    except TimeoutError as exc:
        raise TargetTimeout(f"{where}: no complete answer within {timeout:g}s") from exc
    except httpx.HTTPError as exc:
        raise classify(exc, where) from exc


def classify(exc: httpx.HTTPError, where: str) -> CollectorError:
    """Map an httpx error to the CollectorError the runner reports (by exception type)."""
    chain = _chain(exc)
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return TlsFailed(
            f"{where}: TLS certificate not trusted or wrong name; set ca_file to the CA"
            " that signed the agent's certificate (its SAN must hold the URL's host)"
        )
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return TlsFailed(f"{where}: TLS handshake failed (is the agent serving TLS?)")
    if isinstance(exc, httpx.TimeoutException) or any(isinstance(e, TimeoutError) for e in chain):
        return TargetTimeout(f"{where}: timed out ({type(exc).__name__})")
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return ConnectionRefused(f"{where}: connection refused; is the agent running?")
    if any(isinstance(e, socket.gaierror) for e in chain):
        return NameResolutionFailed(f"{where}: the host name does not resolve")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.DecodingError):
        return MalformedResponse(f"{where}: broken HTTP answer ({type(exc).__name__})")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return MalformedResponse(f"{where}: unusable URL ({type(exc).__name__})")
    return TargetUnreachable(f"{where}: {type(exc).__name__}")


def _check_status(status: int, where: str) -> None:
    if status == 200:
        return
    if status in (401, 403):
        raise AuthFailed(f"{where}: token refused (HTTP {status}); check the agent's token file")
    if status == 429:
        raise AuthFailed(
            f"{where}: rate-limited after failed authentications (HTTP 429); fix the token"
        )
    if status >= 500:
        raise TargetUnreachable(f"{where}: the agent failed (HTTP {status})")
    raise MalformedResponse(f"{where}: unexpected HTTP {status}; check url and kind")


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen and len(out) < 32:
        seen.add(id(cur))
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out
