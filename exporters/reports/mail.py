"""E-mail the monthly reports (HTML and PDF attached) through the alerts' SMTP settings.

The server, sender, credentials and TLS mode are those of an `alerts.notify` e-mail
entry (`monitord.reports.settings.email_settings` picks it); the recipients are
`reports.schedule.email_to`. CSV files are not attached (there is one per table); the
message says where they are. Errors raise `NotifyError` without any secret.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path

from exporters.notify.smtp import deliver
from exporters.reports.text import Formatter
from monitord.alerts.config import EmailConfig
from monitord.reports.settings import ReportsConfig

__all__ = ["build_report_message", "send_reports"]

_ATTACH = (".pdf", ".html")
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024


def build_report_message(
    mail: EmailConfig, reports: ReportsConfig, files: Sequence[Path], lang: str
) -> EmailMessage:
    """The message: subject and body from the catalog, PDF and HTML files attached."""
    fmt = Formatter(lang)
    attach = [f for f in files if f.suffix in _ATTACH]
    folder = files[0].parent if files else Path()
    month = folder.name
    msg = EmailMessage()
    msg["Subject"] = fmt.t("mail.subject", entity=reports.entity, month=month)
    msg["From"] = mail.from_
    msg["To"] = ", ".join(reports.schedule.email_to)
    msg.set_content(fmt.t("mail.body", month=month, count=str(len(files)), folder=str(folder)))
    total = 0
    for f in attach:
        data = f.read_bytes()
        total += len(data)
        if total > MAX_ATTACHMENT_BYTES:
            break
        ctype = mimetypes.guess_type(f.name)[0] or "application/octet-stream"
        main, sub = ctype.split("/", 1)
        msg.add_attachment(data, maintype=main, subtype=sub, filename=f.name)
    return msg


def send_reports(
    mail: EmailConfig, reports: ReportsConfig, files: Sequence[Path], lang: str
) -> None:
    """Send the reports to `reports.schedule.email_to` (blocking; run it in a thread)."""
    msg = build_report_message(mail, reports, files, lang)
    deliver(mail, msg, list(reports.schedule.email_to), "monthly reports")
