"""Notification senders: e-mail (SMTP), generic webhook, Alertmanager v2 API.

Each sender implements `monitord.alerts.dispatch.Notifier`: `send(batch)` raising only
`NotifyError(sender, retryable)`, and `aclose()`. Retries, backoff, queues and metrics
are the dispatcher's; a sender makes one attempt with its own `timeout`.

`build_notifiers(config, ...)` builds one sender per `alerts.notify` item. The two HTTP
senders share `post()`: a small asyncio HTTP/1.1 client (one request per connection,
`Connection: close`), so a send is cancellable and needs no thread or extra library.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from monitord.alerts.config import (
    AlertmanagerConfig,
    AlertsConfig,
    EmailConfig,
    Severity,
    WebhookConfig,
)
from monitord.alerts.dispatch import Notifier
from monitord.configtypes import Language
from monitord.errors import NotifyError

__all__ = ["HttpResponse", "build_notifiers", "post", "tls_context"]

_MAX_RESPONSE = 256 * 1024


def build_notifiers(
    config: AlertsConfig, language: Language = Language.ES, timezone: str = "America/Bogota"
) -> list[Notifier]:
    """One sender per `alerts.notify` item, in order."""
    from exporters.notify.alertmanager import AlertmanagerNotifier
    from exporters.notify.smtp import EmailNotifier
    from exporters.notify.webhook import WebhookNotifier

    out: list[Notifier] = []
    for name, cfg in config.notifiers():
        if isinstance(cfg, AlertmanagerConfig):
            out.append(AlertmanagerNotifier(name, cfg))
        elif isinstance(cfg, EmailConfig):
            out.append(
                EmailNotifier(name, cfg, cfg.language or config.language or language, timezone)
            )
        elif isinstance(cfg, WebhookConfig):
            out.append(WebhookNotifier(name, cfg))
    return out


def severities(values: list[Severity]) -> frozenset[Severity]:
    """The severities a notifier accepts (empty: all)."""
    return frozenset(values)


def tls_context(ca_file: Path | None, verify: bool) -> ssl.SSLContext:
    """A client TLS context: system CAs (or `ca_file`), hostname checked unless `verify` is off."""
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """Status and (truncated) body of an HTTP response."""

    status: int
    body: bytes


async def post(
    sender: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    ssl_context: ssl.SSLContext | None,
) -> HttpResponse:
    """POST `body` to `url`; 2xx returns, anything else raises NotifyError.

    Retryable: connection errors, timeouts, 408, 429 and 5xx. Not retryable: other
    statuses and certificate verification failures (they need a config change).
    """
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    where = f"{parts.scheme}://{host}:{port}{parts.path}"
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {parts.netloc.rpartition('@')[2]}",
        "Connection: close",
        f"Content-Length: {len(body)}",
        "User-Agent: monitord",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=(ssl_context or tls_context(None, True)) if secure else None
            )
            writer.write(request)
            await writer.drain()
            raw = await reader.read(_MAX_RESPONSE)
            while len(raw) < _MAX_RESPONSE and not reader.at_eof():
                chunk = await reader.read(_MAX_RESPONSE - len(raw))
                if not chunk:
                    break
                raw += chunk
    except TimeoutError:
        raise NotifyError(
            f"{sender}: POST {where} timed out after {timeout:g}s", sender=sender, retryable=True
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise NotifyError(
            f"{sender}: TLS certificate of {where} not trusted: {exc.verify_message}; set ca_file",
            sender=sender,
            retryable=False,
        ) from None
    except OSError as exc:
        raise NotifyError(
            f"{sender}: POST {where} failed: {exc.strerror or type(exc).__name__}",
            sender=sender,
            retryable=True,
        ) from None
    finally:
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
    status = _status(raw)
    if status is None:
        raise NotifyError(
            f"{sender}: POST {where}: no valid HTTP response", sender=sender, retryable=True
        )
    _, _, resp_body = raw.partition(b"\r\n\r\n")
    if 200 <= status < 300:
        return HttpResponse(status, resp_body)
    retryable = status in (408, 429) or status >= 500
    snippet = resp_body[:200].decode("utf-8", "replace").strip()
    raise NotifyError(
        f"{sender}: POST {where} answered {status}: {snippet}", sender=sender, retryable=retryable
    )


def _status(raw: bytes) -> int | None:
    line = raw.split(b"\r\n", 1)[0].split()
    if len(line) >= 2 and line[0].startswith(b"HTTP/") and line[1].isdigit():
        return int(line[1])
    return None
