"""A strict parser of the Prometheus text exposition format (0.0.4), pure and bounded.

Strict where it matters for a poller: every sample line must parse (metric name, an
optional label set with `\\\\`, `\\"` and `\\n` escapes only, a float value, an optional
integer timestamp), `# TYPE` must name a known type, and the body must end with a line
feed (the format requires it; a body cut short by a dropped connection usually does
not). Anything else raises `ParseError` with the line number, never another exception.
`keep(name)` selects the families to hold, so memory stays bounded by what the caller
maps, not by the size of the body; `max_samples` bounds it further.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

__all__ = ["Exposition", "ParseError", "parse"]

_NAME: Final = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LINE: Final = re.compile(rf"({_NAME})[ \t]*(?:\{{(.*)\}})?[ \t]+(\S+)(?:[ \t]+(-?[0-9]+))?[ \t]*")
_LABEL: Final = re.compile(
    r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\\n]|\\.)*)"[ \t]*'
)
_VALUE: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SPECIAL: Final = {"NaN": math.nan, "+Inf": math.inf, "Inf": math.inf, "-Inf": -math.inf}
_ESCAPES: Final = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
_ESCAPE: Final = re.compile(r"\\.")
_TYPES: Final = frozenset({"counter", "gauge", "histogram", "summary", "untyped"})


class ParseError(ValueError):
    """The body is not valid exposition text; `line` is 1-based (0: the body as a whole)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


@dataclass(slots=True)
class Exposition:
    """The kept families: declared types, and each family's (labels, value) in body order."""

    types: dict[str, str] = field(default_factory=dict)
    families: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)
    count: int = 0
    lines: int = 0

    @property
    def samples(self) -> Iterator[tuple[str, dict[str, str], float]]:
        """Every kept sample as (name, labels, value), family by family."""
        for name, values in self.families.items():
            for labels, value in values:
                yield name, labels, value

    def values(self, name: str) -> list[tuple[dict[str, str], float]]:
        """Labels and value of every sample of `name`."""
        return self.families.get(name, [])

    def first(self, *names: str) -> float | None:
        """Value of the first sample of the first of `names` present (label-less lookups)."""
        for name in names:
            if found := self.families.get(name):
                return found[0][1]
        return None


def parse(
    text: str, keep: Callable[[str], bool] | None = None, max_samples: int = 200_000
) -> Exposition:
    """Parse exposition text; raise ParseError on the first malformed line."""
    if not text:
        raise ParseError("empty body")
    if not text.endswith("\n"):
        raise ParseError("body does not end with a line feed (truncated?)")
    out = Exposition()
    for lineno, line in enumerate(text.split("\n")[:-1], start=1):
        out.lines = lineno
        if not line.strip():
            continue
        if line.startswith("#"):
            _comment(line, lineno, out, keep)
            continue
        m = _LINE.fullmatch(line)
        if m is None:
            raise ParseError("not a sample line", lineno)
        name, raw_labels, raw_value = m.group(1), m.group(2), m.group(3)
        labels = _labels(raw_labels, lineno) if raw_labels else {}
        value = _value(raw_value, lineno)
        if keep is not None and not keep(name):
            continue
        if out.count >= max_samples:
            raise ParseError(f"more than {max_samples} samples kept")
        out.count += 1
        out.families.setdefault(name, []).append((labels, value))
    return out


def _comment(line: str, lineno: int, out: Exposition, keep: Callable[[str], bool] | None) -> None:
    parts = line.split(None, 3)
    if len(parts) < 2 or parts[1] not in ("HELP", "TYPE"):
        return  # a plain comment
    if len(parts) < 3 or not re.fullmatch(_NAME, parts[2]):
        raise ParseError(f"# {parts[1]} without a valid metric name", lineno)
    if parts[1] == "TYPE":
        mtype = parts[3].strip() if len(parts) > 3 else ""
        if mtype not in _TYPES:
            raise ParseError(f"unknown metric type {mtype[:32]!r}", lineno)
        if keep is None or keep(parts[2]):
            out.types[parts[2]] = mtype


def _labels(raw: str, lineno: int) -> dict[str, str]:
    labels: dict[str, str] = {}
    pos, end = 0, len(raw)
    while pos < end:
        m = _LABEL.match(raw, pos)
        if m is None:
            if raw[pos:].strip() == "":
                break
            raise ParseError("malformed label set", lineno)
        name, value = m.group(1), m.group(2)
        if name in labels:
            raise ParseError(f"duplicate label {name!r}", lineno)
        labels[name] = _unescape(value, lineno) if "\\" in value else value
        pos = m.end()
        if pos < end:
            if raw[pos] != ",":
                raise ParseError("labels must be separated by commas", lineno)
            pos += 1
    return labels


def _unescape(value: str, lineno: int) -> str:
    def sub(m: re.Match[str]) -> str:
        esc = _ESCAPES.get(m.group(0))
        if esc is None:
            raise ParseError(f"invalid escape {m.group(0)!r} in a label value", lineno)
        return esc

    return _ESCAPE.sub(sub, value)


def _value(raw: str, lineno: int) -> float:
    special = _SPECIAL.get(raw)
    if special is not None:
        return special
    if _VALUE.fullmatch(raw) is None:
        raise ParseError(f"invalid sample value {raw[:32]!r}", lineno)
    return float(raw)
