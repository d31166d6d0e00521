"""E-mail over SMTP: one message per batch, text and HTML, in Spanish or English.

Transport: `starttls` (default; port 587), `tls` (implicit TLS, default on port 465) or
`none` (a local relay; refused with user/password so credentials never travel in clear).
The server certificate is verified against the system CAs or `ca_file`.

Why smtplib in a thread and not aiosmtplib: notifications are few (a handful per
incident, batched by the dispatcher), smtplib is in the standard library and covers
STARTTLS, implicit TLS and AUTH, so no dependency is added for it. Each sender has its
own one-thread executor, so a slow mail server delays only its own queue; the socket
`timeout` bounds every SMTP step and hence the thread.

Texts (subject words, column names, footer) come from monitord/alerts/messages.yaml.
"""

from __future__ import annotations

import asyncio
import html
import smtplib
import ssl
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import ClassVar
from zoneinfo import ZoneInfo

from exporters.notify import severities, tls_context
from monitord.alerts.config import EmailConfig, Notification, NotificationStatus, text
from monitord.configtypes import Language
from monitord.errors import NotifyError

__all__ = ["EmailNotifier", "build_message", "deliver"]

_COLORS = {"critical": "#b3261e", "warning": "#b26a00", "info": "#1f5fa8", "resolved": "#2e7d32"}


def build_message(
    batch: Sequence[Notification],
    sender: str,
    recipients: Sequence[str],
    language: Language,
    timezone: str,
    subject_prefix: str = "[monitord]",
) -> EmailMessage:
    """The e-mail for a batch: subject, plain-text part and HTML part."""
    msg = EmailMessage()
    msg["Subject"] = _subject(batch, language, subject_prefix)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    tz = ZoneInfo(timezone)
    msg.set_content(_text_body(batch, language, tz))
    msg.add_alternative(_html_body(batch, language, tz), subtype="html")
    msg["Content-Language"] = language.value  # after set_content, which drops Content-*
    return msg


class EmailNotifier:
    """Sends one e-mail per batch to the configured recipients."""

    kind: ClassVar[str] = "email"

    def __init__(self, name: str, config: EmailConfig, language: Language, timezone: str) -> None:
        self.name = name
        self.config = config
        self.language = language
        self.timezone = timezone
        self.timeout = config.timeout
        self.resend_interval: float | None = None
        self.send_resolved = config.send_resolved
        self.severities = severities(config.severities)
        self._executor: ThreadPoolExecutor | None = None

    async def send(self, batch: Sequence[Notification]) -> None:
        """Build the message and hand it to the SMTP server (in this sender's thread)."""
        msg = build_message(
            batch,
            self.config.from_,
            self.config.to,
            self.language,
            self.timezone,
            self.config.subject_prefix,
        )
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"smtp-{self.name}")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._deliver, msg)

    async def aclose(self) -> None:
        """Stop the sender's thread (a send in progress ends by its socket timeout)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _deliver(self, msg: EmailMessage) -> None:
        deliver(self.config, msg, list(self.config.to), self.name)


def deliver(cfg: EmailConfig, msg: EmailMessage, recipients: list[str], sender: str) -> None:
    """Send `msg` through the SMTP server of `cfg` (blocking: run it in a thread).

    Raises NotifyError naming `sender`, the server and what failed (never the password);
    `retryable` says whether trying again later may help.
    """
    host, port = cfg.host_port()
    mode = cfg.tls_mode()
    where = f"smtp {host}:{port} ({mode})"
    ctx = tls_context(cfg.ca_file, cfg.tls_verify)

    def error(message: str, retryable: bool) -> NotifyError:
        return NotifyError(f"{sender}: {where}: {message}", sender=sender, retryable=retryable)

    try:
        client: smtplib.SMTP
        if mode == "tls":
            client = smtplib.SMTP_SSL(host, port, timeout=cfg.timeout, context=ctx)
        else:
            client = smtplib.SMTP(host, port, timeout=cfg.timeout)
        with client:
            client.ehlo()
            if mode == "starttls":
                client.starttls(context=ctx)
                client.ehlo()
            if cfg.user and cfg.password is not None:
                client.login(cfg.user, cfg.password.reveal())
            client.send_message(msg, cfg.from_, recipients)
    except smtplib.SMTPAuthenticationError as exc:
        raise error(
            f"authentication refused for user {cfg.user} ({exc.smtp_code});"
            " check user and password",
            False,
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise error(
            "the server does not offer STARTTLS or AUTH; check tls: and the port", False
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({c for c, _ in exc.recipients.values()})
        raise error(f"recipients refused {codes}", False) from None
    except smtplib.SMTPResponseException as exc:
        raise error(f"server answered {exc.smtp_code}", exc.smtp_code < 500) from None
    except ssl.SSLCertVerificationError as exc:
        raise error(
            f"TLS certificate not trusted: {exc.verify_message}; set ca_file", False
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        detail = getattr(exc, "strerror", None) or type(exc).__name__
        raise error(detail, True) from None


def _status_word(n: Notification, language: Language) -> str:
    word = text("firing" if n.status is NotificationStatus.FIRING else "resolved", language)
    return word + (f" ({text('repeat', language)})" if n.repeat else "")


def _subject(batch: Sequence[Notification], language: Language, prefix: str) -> str:
    first = batch[0]
    if len(batch) == 1:
        return f"{prefix} {_status_word(first, language)}: {first.summary}"
    firing = sum(n.status is NotificationStatus.FIRING for n in batch)
    counts = text("subject_many", language, firing=firing, resolved=len(batch) - firing)
    return f"{prefix} {counts}: {first.summary} …"


def _fields(n: Notification, language: Language, tz: ZoneInfo) -> list[tuple[str, str]]:
    sev = text(f"severity_{n.severity.alert_label}", language)
    rows = [
        (text("col_status", language), _status_word(n, language)),
        (text("col_severity", language), sev),
        (text("col_target", language), n.target),
        (text("col_site", language), n.site or "-"),
    ]
    if n.value:
        rows.append((text("col_value", language), n.value))
    rows.append((text("col_started", language), _when(n.starts_at, tz)))
    if n.ends_at is not None:
        rows.append((text("col_ended", language), _when(n.ends_at, tz)))
    labels = ", ".join(f"{k}={v}" for k, v in n.labels.items())
    rows.append((text("col_labels", language), labels))
    return rows


def _text_body(batch: Sequence[Notification], language: Language, tz: ZoneInfo) -> str:
    parts = [text("heading", language), ""]
    for n in batch:
        parts.append(f"[{_status_word(n, language)}] {n.summary}")
        parts.append(n.description)
        width = max(len(k) for k, _ in _fields(n, language, tz))
        parts.extend(f"  {k.ljust(width)}  {v}" for k, v in _fields(n, language, tz))
        if n.generator_url:
            parts.append(f"  {n.generator_url}")
        parts.append("")
    parts.append("-- ")
    parts.append(text("footer", language))
    return "\n".join(parts) + "\n"


def _html_body(batch: Sequence[Notification], language: Language, tz: ZoneInfo) -> str:
    e = html.escape
    blocks = []
    for n in batch:
        key = "resolved" if n.status is NotificationStatus.RESOLVED else n.severity.alert_label
        color = _COLORS.get(key, "#444")
        rows = "".join(
            f'<tr><th style="text-align:left;padding:2px 12px 2px 0;color:#555">{e(k)}</th>'
            f"<td>{e(v)}</td></tr>"
            for k, v in _fields(n, language, tz)
        )
        desc = "<br>".join(e(line) for line in n.description.splitlines())
        blocks.append(
            f'<div style="border-left:6px solid {color};padding:8px 12px;margin:12px 0">'
            f'<h2 style="margin:0 0 6px;font-size:16px;color:{color}">'
            f"{e(_status_word(n, language))}: {e(n.summary)}</h2>"
            f'<p style="margin:0 0 8px">{desc}</p>'
            f'<table style="font-size:13px;border-collapse:collapse">{rows}</table></div>'
        )
    return (
        f'<!DOCTYPE html><html lang="{language.value}"><head><meta charset="utf-8">'
        f"<title>{e(text('heading', language))}</title></head>"
        '<body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222">'
        f'<h1 style="font-size:18px">{e(text("heading", language))}</h1>'
        + "".join(blocks)
        + f'<p style="color:#777;font-size:12px">{e(text("footer", language))}</p>'
        "</body></html>"
    )


def _when(ts: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S %Z")
