"""Secrets: a type that never prints, and the resolution of `${ENV}` and `file:` references.

A secret in the config is written as `${VAR}` (taken from the environment) or
`file:/path` (the file's content, trailing newline stripped). The config loader
refuses a secret written as text (monitord.config.SECRET_KEYS); `resolve_secret` still
takes a literal for the command line (`monitord probe --community ...`) and tests.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

__all__ = ["ENV_REF", "ExpandedText", "Secret", "SecretError", "expand_env", "resolve_secret"]

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SecretError(ValueError):
    """A secret reference could not be resolved; the message never holds the value."""


class Secret:
    """A value that prints as `<secret>`; call `reveal()` only at the protocol call."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret text."""
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")


class ExpandedText(str):
    """Config text whose `${VAR}` references were already replaced: taken as it is.

    `resolve_secret` never interprets it again, so a variable whose value starts with
    `file:` or holds `${` stays that text (and is never echoed in an error).
    """

    __slots__ = ()


def expand_env(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace every `${VAR}` in `text`; raise SecretError naming an undefined variable."""
    env = os.environ if environ is None else environ

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in env:
            raise SecretError(f"environment variable {name} is not defined")
        return env[name]

    return ENV_REF.sub(sub, text)


def resolve_secret(raw: str, environ: Mapping[str, str] | None = None) -> Secret:
    """Resolve `${VAR}`, `file:/path` or a literal into a Secret (ExpandedText: as is)."""
    if isinstance(raw, ExpandedText):
        return Secret(str(raw))
    if raw.startswith("file:"):
        path = raw[len("file:") :]
        try:
            with open(path, encoding="utf-8") as fh:
                return Secret(fh.read().rstrip("\r\n"))
        except OSError as exc:
            raise SecretError(f"cannot read secret file {path}: {exc.strerror}") from None
    return Secret(expand_env(raw, environ))
