"""Syslog messages on the wire (pure): RFC 5424 and RFC 3164 parsing, RFC 6587 TCP framing.

`parse_syslog()` accepts what real devices send, not only the letter of the RFCs:
RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`), RFC 3164
(`<PRI>Mmm dd hh:mm:ss HOST TAG: MSG`), and the common relaxed forms (Cisco IOS
`<189>123: *Mar  1 00:00:01.123: %SYS-5-CONFIG_I: ...` with no host name, FortiGate
`<189>date=... devname=...` key=value lines). Anything without a `<PRI>` header is
malformed. `TcpFramer` splits a TCP stream into messages: octet-counted frames
(`LEN SP MSG`, RFC 6587 §3.4.1) and newline/NUL-terminated ones (§3.4.2), decided per
frame by whether it starts with a digit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitord.types import Severity

__all__ = ["SEVERITIES", "DropError", "SyslogError", "SyslogMessage", "TcpFramer", "parse_syslog"]

SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_PRI = re.compile(rb"^<(\d{1,3})>")
_RFC3164_TS = re.compile(
    r"^(?:[A-Z][a-z]{2} [ \d]\d (?:\d{4} )?\d\d:\d\d:\d\d(?:\.\d+)?(?: [A-Z]{2,5})?:?) "
)
_HOST = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.:-]{0,254}) ")
_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9_./-]{0,47}(?:\[\d+\])?: ")


class DropError(ValueError):
    """A message we cannot use (trap or syslog); `reason` is the drop counter's label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class SyslogError(DropError):
    """A syslog message we cannot use."""


@dataclass(frozen=True, slots=True)
class SyslogMessage:
    """One parsed syslog message; `text` is what the meaning patterns are matched against."""

    facility: int
    severity: int  # 0 (emerg) to 7 (debug), as on the wire
    hostname: str
    app: str
    text: str
    rfc: int  # 5424 or 3164 (3164 also for the relaxed forms)

    @property
    def severity_name(self) -> str:
        """`err`, `warning`, `info`..."""
        return SEVERITIES[self.severity]

    @property
    def level(self) -> Severity:
        """The message's own severity in monitord's vocabulary (`Severity.from_syslog`)."""
        return Severity.from_syslog(self.severity)


def parse_syslog(data: bytes) -> SyslogMessage:
    """Parse one message (without framing); raise SyslogError("malformed") when unusable."""
    m = _PRI.match(data)
    if m is None:
        raise SyslogError("malformed", "no <PRI> header")
    pri = int(m.group(1))
    if pri > 191:
        raise SyslogError("malformed", f"PRI {pri} out of range")
    rest = data[m.end() :].decode("utf-8", errors="replace").rstrip("\r\n\x00 ")
    if rest.startswith("\ufeff"):
        rest = rest[1:]
    if rest.startswith("1 "):
        return _rfc5424(pri, rest[2:])
    return _rfc3164(pri, rest)


def _rfc5424(pri: int, rest: str) -> SyslogMessage:
    parts = rest.split(" ", 5)
    if len(parts) < 5:
        raise SyslogError("malformed", "RFC 5424 header too short")
    _ts, host, app, _procid, _msgid = parts[:5]
    tail = parts[5] if len(parts) > 5 else ""
    text = _skip_structured_data(tail)
    if text.startswith("\ufeff"):
        text = text[1:]
    return SyslogMessage(
        pri >> 3, pri & 7, "" if host == "-" else host, "" if app == "-" else app, text, 5424
    )


def _skip_structured_data(tail: str) -> str:
    if tail.startswith("- "):
        return tail[2:]
    if tail == "-":
        return ""
    if not tail.startswith("["):
        return tail
    i, depth, quoted = 0, 0, False
    while i < len(tail):
        c = tail[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0 and (i + 1 == len(tail) or tail[i + 1] != "["):
                return tail[i + 2 :]
        i += 1
    raise SyslogError("malformed", "unterminated structured data")


def _rfc3164(pri: int, rest: str) -> SyslogMessage:
    host = app = ""
    ts = _RFC3164_TS.match(rest)
    if ts is not None:
        rest = rest[ts.end() :]
        h = _HOST.match(rest)
        if h is not None and not _TAG.match(rest):
            host, rest = h.group(1), rest[h.end() :]
    t = _TAG.match(rest)
    if t is not None:
        app = t.group(0)[:-2].split("[", 1)[0]
    return SyslogMessage(pri >> 3, pri & 7, host, app, rest, 3164)


class TcpFramer:
    """Split a syslog TCP stream into messages; oversized frames are skipped and counted."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._skip = 0  # bytes of an oversized octet-counted frame still to discard
        self._skip_line = False  # discarding an oversized newline-terminated frame
        self.oversized = 0
        self.malformed = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the complete messages they finish."""
        buf = self._buf
        buf += data
        out: list[bytes] = []
        while buf:
            if self._skip:
                n = min(self._skip, len(buf))
                del buf[:n]
                self._skip -= n
                continue
            if self._skip_line:
                end = _line_end(buf)
                if end < 0:
                    buf.clear()
                    break
                del buf[: end + 1]
                self._skip_line = False
                continue
            if buf[0] in b"\r\n\x00 ":
                del buf[:1]
                continue
            if 0x30 <= buf[0] <= 0x39:  # octet counting: LEN SP MSG
                sp = buf.find(b" ", 0, 12)
                if sp < 0:
                    if len(buf) >= 12 or not bytes(buf).isdigit():
                        self._bad_frame()
                        continue
                    break
                digits = bytes(buf[:sp])
                if not digits.isdigit():
                    self._bad_frame()
                    continue
                size = int(digits)
                if size > self.max_bytes:
                    self.oversized += 1
                    del buf[: sp + 1]
                    self._skip = size
                    continue
                if len(buf) < sp + 1 + size:
                    break
                out.append(bytes(buf[sp + 1 : sp + 1 + size]))
                del buf[: sp + 1 + size]
                continue
            end = _line_end(buf)
            if end < 0:
                if len(buf) > self.max_bytes:
                    self.oversized += 1
                    buf.clear()
                    self._skip_line = True
                break
            if end > self.max_bytes:
                self.oversized += 1
            else:
                out.append(bytes(buf[:end]))
            del buf[: end + 1]
        return out

    def _bad_frame(self) -> None:
        # a frame starting with a digit that is not a length: skip it as one bad line
        self.malformed += 1
        self._skip_line = True


def _line_end(buf: bytearray) -> int:
    nl = buf.find(b"\n")
    nul = buf.find(b"\x00")
    if nl < 0:
        return nul
    if nul < 0:
        return nl
    return min(nl, nul)
