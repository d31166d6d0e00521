"""The one YAML reader with line numbers: the config, the web config, the agent's config.

`parse_yaml(text, path)` parses once (a composed node tree for the line of every key,
then the plain data; aliases bounded by `monitord.yamlload`) and returns a `YamlDoc`;
a syntax error raises `ConfigError` naming the file and line (`invalid YAML:
<problem>`). `read_yaml(path, what)` reads the file first (`cannot read <what>:
<reason>`; `not UTF-8 (byte 0x..)` with its line). `YamlDoc.line_of(loc)` gives the line
of a dotted location, or of its nearest parent; duplicate keys are listed, for the
caller to report in its own field syntax.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from monitord.errors import ConfigError, ConfigIssue
from monitord.yamlload import load_bounded

__all__ = ["Loc", "YamlDoc", "decode_utf8", "parse_yaml", "read_yaml"]

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class YamlDoc:
    """Parsed YAML: the data, the line of each key and item, duplicate keys."""

    data: object
    lines: dict[Loc, int] = field(default_factory=dict)
    duplicates: tuple[tuple[Loc, int], ...] = ()

    def line_of(self, loc: Sequence[str | int], default: int = 1) -> int:
        """The line of `loc`, else of its nearest parent that has one, else `default`."""
        key = tuple(loc)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return default


def parse_yaml(text: str, path: str) -> YamlDoc:
    """Parse `text` (the content of `path`); raise ConfigError on a syntax error."""
    try:
        node, data = load_bounded(text)  # aliases bounded (monitord.yamlload)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigIssue(path, line, "", f"invalid YAML: {problem}")]) from None
    lines: dict[Loc, int] = {}
    dups: list[tuple[Loc, int]] = []
    if node is not None:
        _index(node, (), lines, dups)
    return YamlDoc(data, lines, tuple(dups))


def read_yaml(path: str | Path, what: str = "config file") -> YamlDoc:
    """Read and parse a YAML file; raise ConfigError when unreadable or invalid."""
    p = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigIssue(p, 0, "", f"cannot read {what}: {exc.strerror}")]) from None
    return parse_yaml(decode_utf8(raw, p), p)


def decode_utf8(raw: bytes, path: str) -> str:
    """The text of a file; ConfigError `FILE:LINE: not UTF-8 (byte 0x..)` otherwise."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        issue = ConfigIssue(
            path, line, "", f"not UTF-8 (byte 0x{raw[exc.start]:02x}): save it as UTF-8"
        )
        raise ConfigError([issue]) from None


def _index(node: yaml.Node, loc: Loc, lines: dict[Loc, int], dups: list[tuple[Loc, int]]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                dups.append(((*loc, key), key_node.start_mark.line + 1))
            seen.add(key)
            lines[(*loc, key)] = key_node.start_mark.line + 1
            _index(value_node, (*loc, key), lines, dups)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*loc, i), lines, dups)
