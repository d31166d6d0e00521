"""E-mail notifier against a real SMTP server (aiosmtpd) with STARTTLS / TLS and AUTH."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from pathlib import Path

import pytest

from exporters.notify.smtp import EmailNotifier, build_message
from monitord.alerts.config import EmailConfig, NotificationStatus
from monitord.configtypes import Language
from monitord.errors import NotifyError
from monitord.secrets import Secret
from tests.conftest import free_port
from tests.exporters.notify.conftest import notification
from tests.peers.smtp import SmtpServer

PASSWORD = "smtp-pa55word-value"


def _cfg(port: int, ca: Path | None, password: str | None = PASSWORD, **kw: object) -> EmailConfig:
    return EmailConfig.model_validate(
        {
            "smtp": f"127.0.0.1:{port}",
            "from": "monitord@alcaldia.example.gov.co",
            "to": ["oncall@alcaldia.example.gov.co", "noc@alcaldia.example.gov.co"],
            "user": "monitord",
            "password": Secret(password) if password else None,
            "ca_file": ca,
            "timeout": 5,
            **kw,
        }
    )


def _parts(msg: EmailMessage) -> tuple[str, str]:
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def test_starttls_auth_delivers_a_spanish_text_and_html_message(tmp_path: Path) -> None:
    with SmtpServer(tmp_path, password=PASSWORD) as smtp:
        n = notification(summary="sw-core-1 no responde <script>")
        sender = EmailNotifier(
            "email", _cfg(smtp.port, smtp.ca_file), Language.ES, "America/Bogota"
        )
        asyncio.run(sender.send([n]))
        (msg,) = smtp.wait_for(1, 10)
        env = smtp.envelopes[0]
        auth = list(smtp.auth_attempts)
    assert auth and all(ok for _, ok in auth)
    assert env.mail_from == "monitord@alcaldia.example.gov.co"
    assert sorted(env.rcpt_tos) == ["noc@alcaldia.example.gov.co", "oncall@alcaldia.example.gov.co"]
    assert msg["Subject"] == "[monitord] ALERTA: sw-core-1 no responde <script>"
    assert msg["Content-Language"] == "es"
    text, html = _parts(msg)
    assert "ALERTA" in text and "Equipo" in text and "Sede" in text and "centro" in text
    assert "Inicio" in text and "-05" in text  # times in the daemon's time zone
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert '<html lang="es">' in html and "Severidad" in html and "crítica" in html
    assert PASSWORD not in msg.as_string()


def test_implicit_tls_and_english_with_a_batch(tmp_path: Path) -> None:
    with SmtpServer(tmp_path, implicit_tls=True) as smtp:
        cfg = _cfg(smtp.port, smtp.ca_file, tls="tls", language="en", user=None, password=None)
        sender = EmailNotifier("email", cfg, Language.EN, "UTC")
        batch = [
            notification(language=Language.EN, summary="sw-core-1 is down"),
            notification(
                NotificationStatus.RESOLVED,
                target="ap-2",
                summary="ap-2 is down",
                language=Language.EN,
            ),
        ]
        asyncio.run(sender.send(batch))
        (msg,) = smtp.wait_for(1, 10)
    assert msg["Subject"] == "[monitord] 1 firing, 1 resolved: sw-core-1 is down …"
    text, html = _parts(msg)
    assert "[FIRING] sw-core-1 is down" in text
    assert "[RESOLVED] ap-2 is down" in text
    assert "Ended" in text
    assert "RESOLVED: ap-2 is down" in html


def test_wrong_password_is_a_permanent_failure_that_never_shows_the_password(
    tmp_path: Path,
) -> None:
    with SmtpServer(tmp_path, password="the-right-one") as smtp:
        sender = EmailNotifier(
            "email", _cfg(smtp.port, smtp.ca_file, password=PASSWORD), Language.ES, "UTC"
        )
        with pytest.raises(NotifyError) as err:
            asyncio.run(sender.send([notification()]))
        assert smtp.messages == []
    assert err.value.retryable is False
    assert "authentication refused" in str(err.value)
    assert PASSWORD not in str(err.value)


def test_untrusted_certificate_is_permanent_and_says_ca_file(tmp_path: Path) -> None:
    with SmtpServer(tmp_path) as smtp:
        sender = EmailNotifier("email", _cfg(smtp.port, None, password="pw"), Language.ES, "UTC")
        with pytest.raises(NotifyError) as err:
            asyncio.run(sender.send([notification()]))
    assert err.value.retryable is False
    assert "ca_file" in str(err.value)


def test_server_not_listening_is_retryable(tmp_path: Path) -> None:
    sender = EmailNotifier("email", _cfg(free_port(), None), Language.ES, "UTC")
    with pytest.raises(NotifyError) as err:
        asyncio.run(sender.send([notification()]))
    assert err.value.retryable is True


def test_credentials_over_plaintext_are_refused_by_config() -> None:
    with pytest.raises(ValueError, match="never sent in clear"):
        _cfg(25, None, tls="none")


def test_message_is_multipart_alternative_with_message_id() -> None:
    msg = build_message([notification()], "a@b.gov.co", ["c@d.gov.co"], Language.ES, "UTC")
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Message-ID"].endswith("@b.gov.co>")
