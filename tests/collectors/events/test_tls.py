"""Syslog over TLS (RFC 5425) with real TLS clients: openssl s_client and Python's ssl.

The certificates are made by the openssl command line in the test's directory.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest

from collectors.events.receiver import EventReceiver, build_tls_context
from monitord.errors import ConfigError
from monitord.types import DeviceEventKind
from tests.collectors.events.senders import tool
from tests.collectors.events.test_receiver import Sink, port, run
from tests.conftest import free_port

SSHD = "<38>1 2026-12-03T06:00:00Z web-01 sshd 311 - - Failed password for root from 10.1.1.2 port 4242 ssh2"
CISCO = "<189>1 2026-12-03T06:00:01Z sw-core-1 ios - - - %SYS-5-CONFIG_I: Configured from console by admin on vty0"


def frame(msg: str) -> bytes:
    """RFC 5425 4.3: MSG-LEN SP SYSLOG-MSG (octet counting)."""
    data = msg.encode()
    return str(len(data)).encode() + b" " + data


def make_cert(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl req), its key."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    r = subprocess.run(
        [tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return cert, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    return (*make_cert(d, "receiver"), *make_cert(d, "device"))


def tls_run(body, certs: tuple[Path, Path, Path, Path], *, client_ca: bool = False) -> Sink:  # type: ignore[no-untyped-def]
    cert, key, dcert, _ = certs
    ctx = build_tls_context(cert, key, dcert if client_ca else None)
    listen = f"127.0.0.1:{free_port()}"
    tls = {"listen": listen, "cert_file": str(cert), "key_file": str(key),
           "handshake_timeout": "1s"}  # fmt: skip
    if client_ca:
        tls["client_ca_file"] = str(dcert)
    return run(body, {"tls": ctx}, syslog={"tls": tls})


def client_context(certs: tuple[Path, Path, Path, Path], *, with_cert: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs[0]))
    if with_cert:
        ctx.load_cert_chain(certs[2], certs[3])
    return ctx


def test_octet_counted_frames_over_tls_from_python_and_openssl(certs) -> None:  # type: ignore[no-untyped-def]
    async def body(rx: EventReceiver, sink: Sink) -> None:
        p = port(rx, "syslog_tls")
        _reader, writer = await asyncio.open_connection(
            "127.0.0.1", p, ssl=client_context(certs, with_cert=False)
        )
        both = frame(SSHD) + frame(CISCO)
        writer.write(both[:30])  # a frame split across two TLS records
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(both[30:])
        await writer.drain()
        await sink.wait(2)
        writer.close()
        # openssl s_client: the TLS client of the openssl command line
        proc = await asyncio.create_subprocess_exec(
            tool("openssl"), "s_client", "-connect", f"127.0.0.1:{p}", "-CAfile",
            str(certs[0]), "-verify_return_error", "-quiet",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write(frame(SSHD.replace("root", "oracle")))
        await proc.stdin.drain()
        await sink.wait(3)
        proc.terminate()  # -quiet ignores the end of its input: it waits for the server
        await asyncio.wait_for(proc.wait(), 10)

    sink = tls_run(body, certs)
    assert [(e.kind, e.fields.get("user")) for e in sink.events] == [
        (DeviceEventKind.FAILED_LOGIN, "root"),
        (DeviceEventKind.CONFIG_CHANGE, None),
        (DeviceEventKind.FAILED_LOGIN, "oracle"),
    ]
    assert sink.events[0].agent == "web-01"
    assert sink.events[1].fields["by"] == "console by admin on vty0"
    assert not sink.drops


def test_plain_text_bad_handshake_and_silence_are_counted_as_tls_handshake(certs) -> None:  # type: ignore[no-untyped-def]
    async def body(rx: EventReceiver, sink: Sink) -> None:
        p = port(rx, "syslog_tls")
        # 1. plain syslog to the TLS port
        reader, writer = await asyncio.open_connection("127.0.0.1", p)
        writer.write(frame(SSHD))
        answer = await asyncio.wait_for(reader.read(4096), 5)  # a TLS alert, then EOF
        assert answer[:1] in (b"", b"\x15")  # 0x15: a TLS alert record
        writer.close()
        # 2. a client that does not trust the receiver's certificate (verification fails
        #    on the client side: it aborts the handshake)
        bad = ssl.create_default_context(cafile=str(certs[2]))
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection("127.0.0.1", p, ssl=bad)
        # 3. a client that connects and says nothing (handshake_timeout: 1s)
        _, writer = await asyncio.open_connection("127.0.0.1", p)
        await asyncio.sleep(1.5)
        writer.close()
        # and a good client still gets through
        _, w = await asyncio.open_connection(
            "127.0.0.1", p, ssl=client_context(certs, with_cert=False)
        )
        w.write(frame(SSHD))
        await w.drain()
        await sink.wait(1)
        w.close()

    sink = tls_run(body, certs)
    assert len(sink.events) == 1
    assert sink.drops == {"tls_handshake": 3}


def test_mutual_tls_refuses_a_device_without_a_certificate(certs) -> None:  # type: ignore[no-untyped-def]
    async def body(rx: EventReceiver, sink: Sink) -> None:
        p = port(rx, "syslog_tls")
        _, w = await asyncio.open_connection(
            "127.0.0.1", p, ssl=client_context(certs, with_cert=False)
        )  # TLS 1.3: the client learns of the refusal on its first read or write
        w.write(frame(SSHD))
        try:
            await w.drain()
        except (ssl.SSLError, ConnectionError):
            pass
        w.close()
        _, w = await asyncio.open_connection(
            "127.0.0.1", p, ssl=client_context(certs, with_cert=True)
        )
        w.write(frame(CISCO))
        await w.drain()
        await sink.wait(1)
        w.close()

    sink = tls_run(body, certs, client_ca=True)
    assert [e.kind for e in sink.events] == [DeviceEventKind.CONFIG_CHANGE]
    assert sink.drops == {"tls_handshake": 1}


def test_unreadable_certificate_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("not a certificate")
    with pytest.raises(ConfigError) as exc:
        build_tls_context(tmp_path / "c.pem", tmp_path / "missing.key", None)
    assert exc.value.issues[0].field == "events.syslog.tls"


def test_a_reload_with_a_new_certificate_rebinds_the_tls_listener(certs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    new_cert, new_key = make_cert(tmp_path, "renewed")

    async def body(rx: EventReceiver, sink: Sink) -> None:
        p = port(rx, "syslog_tls")
        assert rx.config.syslog.tls is not None
        tls = rx.config.syslog.tls.model_copy(update={"cert_file": new_cert, "key_file": new_key})
        config = rx.config.model_copy(
            update={"syslog": rx.config.syslog.model_copy(update={"tls": tls})}
        )
        problems = await rx.reconfigure(
            config, rx.table, tls=build_tls_context(new_cert, new_key, None), tls_changed=True
        )
        assert problems == [] and port(rx, "syslog_tls") == p
        # a client that trusts only the old certificate is refused now, the new one works
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection(
                "127.0.0.1", p, ssl=client_context(certs, with_cert=False)
            )
        trusting = ssl.create_default_context(cafile=str(new_cert))
        _, w = await asyncio.open_connection("127.0.0.1", p, ssl=trusting)
        w.write(frame(SSHD))
        await w.drain()
        await sink.wait(1)
        w.close()

    sink = tls_run(body, certs)
    assert [e.kind for e in sink.events] == [DeviceEventKind.FAILED_LOGIN]
    assert sink.drops == {"tls_handshake": 1}
