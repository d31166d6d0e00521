"""Logging setup: one line per event, `key=value` context, and a redaction filter.

The filter is the last line of defence: it masks the text of every `Secret` the
daemon loaded and the value of `password=`/`community=`/`token=`-style pairs, in case
a library puts one into a message. Code must not log secrets in the first place.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

from monitord.secrets import Secret

__all__ = ["RedactionFilter", "collect_secrets", "setup_logging"]

_KEY_VALUE = re.compile(
    r"(?i)\b(password|passwd|pwd|community|token|secret|auth_key|priv_key|authkey|privkey)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"
)
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactionFilter(logging.Filter):
    """Replaces known secret texts and `password=...` values with `<secret>`."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: tuple[str, ...] = ()
        self._pattern: re.Pattern[str] | None = None

    def set_secrets(self, secrets: Iterable[str]) -> None:
        """Replace the set of texts to mask (longest first; empty and 1-2 char texts ignored).

        A secret is masked as a whole token: not where its text is only part of a longer
        word or name (`sede1` in `sede1-router`), so a target named like its community
        still reads right. Token characters are letters, digits, `_`, `-`, and `.` between
        two of them.
        """
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True))
        self._pattern = (
            re.compile(
                r"(?<![\w-])(?<!\w\.)(?:"
                + "|".join(map(re.escape, self._secrets))
                + r")(?![\w-]|\.\w)"
            )
            if self._secrets
            else None
        )

    def redact(self, text: str) -> str:
        """Return `text` with every known secret masked."""
        if self._pattern is not None:
            text = self._pattern.sub("<secret>", text)
        return _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}<secret>", text)

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        red = self.redact(msg)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if red != msg or record.args:
            record.msg, record.args = red, None
        return True


def setup_logging(level: str = "info", stream: object = None) -> RedactionFilter:
    """Configure the root logger for the daemon; return the redaction filter to feed secrets to."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter(_FORMAT))
    redaction = RedactionFilter()
    handler.addFilter(redaction)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Third-party chatter stays at warning unless debugging.
    for name in ("apscheduler", "pysnmp", "asyncio"):
        logging.getLogger(name).setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    return redaction


def collect_secrets(obj: object, _depth: int = 0) -> set[str]:
    """Every Secret's text reachable from config objects (mappings, sequences, dataclasses)."""
    out: set[str] = set()
    if _depth > 12:
        return out
    if isinstance(obj, Secret):
        out.add(obj.reveal())
    elif isinstance(obj, dict):
        for v in obj.values():
            out |= collect_secrets(v, _depth + 1)
    elif isinstance(obj, list | tuple | set | frozenset):
        for v in obj:
            out |= collect_secrets(v, _depth + 1)
    elif hasattr(obj, "__dataclass_fields__"):
        for name in obj.__dataclass_fields__:
            out |= collect_secrets(getattr(obj, name, None), _depth + 1)
    elif hasattr(obj, "options"):  # a collector instance keeps its validated Options
        out |= collect_secrets(obj.options, _depth + 1)
    return out
