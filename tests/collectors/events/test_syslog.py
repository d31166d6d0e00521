"""Syslog parsing (RFC 3164, RFC 5424, device dialects) and TCP framing (RFC 6587)."""

from __future__ import annotations

import random

import pytest

from collectors.events.syslog import SyslogError, TcpFramer, parse_syslog


@pytest.mark.parametrize(
    ("line", "host", "app", "text", "rfc", "sev"),
    [
        (
            b"<38>Dec  3 03:40:00 fw-01 sshd[812]: Failed password for root from 127.0.0.5 port 22",
            "fw-01",
            "sshd",
            "sshd[812]: Failed password for root from 127.0.0.5 port 22",
            3164,
            6,
        ),
        (
            b"<13>1 2026-12-03T03:40:00.123456+00:00 sw-02 monitord-test 77 - "
            b'[timeQuality tzKnown="1" isSynced="0"] hello world',
            "sw-02",
            "monitord-test",
            "hello world",
            5424,
            5,
        ),
        (
            b"<13>1 2026-12-03T03:40:00Z rt-1 app - ID47 - \xef\xbb\xbfBOM text",
            "rt-1",
            "app",
            "BOM text",
            5424,
            5,
        ),
        (
            b"<189>123: *Mar  1 00:00:01.123: %SYS-5-CONFIG_I: Configured from console by vty0",
            "",
            "",
            "123: *Mar  1 00:00:01.123: %SYS-5-CONFIG_I: Configured from console by vty0",
            3164,
            5,
        ),
        (
            b'<189>date=2026-12-03 time=03:40:00 devname="FGT60F" logdesc="Admin login failed"',
            "",
            "",
            'date=2026-12-03 time=03:40:00 devname="FGT60F" logdesc="Admin login failed"',
            3164,
            5,
        ),
        (
            b"<30>Dec  3 03:40:00 sw-3 SSHD_LOGIN_FAILED: Login failed for user 'root'\n",
            "sw-3",
            "SSHD_LOGIN_FAILED",
            "SSHD_LOGIN_FAILED: Login failed for user 'root'",
            3164,
            6,
        ),
    ],
    ids=["rfc3164", "rfc5424-sd", "rfc5424-bom", "cisco-no-host", "fortigate-kv", "junos"],
)
def test_parse(line: bytes, host: str, app: str, text: str, rfc: int, sev: int) -> None:
    m = parse_syslog(line)
    assert (m.hostname, m.app, m.text, m.rfc, m.severity) == (host, app, text, rfc, sev)


@pytest.mark.parametrize(
    "line",
    [b"", b"no pri", b"<999>x", b"<13>1 short", b'<13>1 t h a p m [x a="1 rest'],
    ids=["empty", "no-pri", "pri-range", "short-5424", "open-sd"],
)
def test_malformed(line: bytes) -> None:
    with pytest.raises(SyslogError) as exc:
        parse_syslog(line)
    assert exc.value.reason == "malformed"


def test_garbage_never_raises_anything_but_syslog_error() -> None:
    rng = random.Random(5)
    for _ in range(3000):
        blob = b"<" + bytes(rng.randrange(256) for _ in range(rng.randint(0, 60)))
        try:
            parse_syslog(blob)
        except SyslogError:
            pass


def test_framer_octet_counting_and_newlines_in_any_chunking() -> None:
    msgs = [b"<13>1 - h a - - - one", b"<13>two\nnot", b"<14>three"]
    stream = b"".join(b"%d %s" % (len(m), m) for m in msgs[:2]) + msgs[2] + b"\n"
    for size in (1, 2, 3, 7, len(stream)):
        f = TcpFramer(1000)
        out: list[bytes] = []
        for i in range(0, len(stream), size):
            out += f.feed(stream[i : i + size])
        assert out == msgs, size


def test_framer_skips_oversized_frames_and_keeps_going() -> None:
    f = TcpFramer(500)
    big = b"<13>" + b"x" * 600
    out = f.feed(b"%d %s" % (len(big), big) + b"11 <13>after-1" + big + b"\n<13>after-2\n")
    assert out == [b"<13>after-1", b"<13>after-2"]
    assert f.oversized == 2 and f.malformed == 0
    # a newline frame longer than the limit, arriving in pieces, is also skipped whole
    f = TcpFramer(500)
    assert f.feed(b"<13>" + b"y" * 400) == []
    assert f.feed(b"y" * 400) == []
    assert f.feed(b"yyy\n<13>ok\n") == [b"<13>ok"]
    assert f.oversized == 1


def test_framer_digit_garbage_is_one_malformed_line() -> None:
    f = TcpFramer(500)
    assert f.feed(b"12345678901234 junk\n<13>ok\n") == [b"<13>ok"]
    assert f.malformed == 1
