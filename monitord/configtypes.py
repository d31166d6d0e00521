"""Field types shared by every config section: durations, secrets, addresses, the strict base model.

Kept apart from `monitord.config` so that section models defined next to the code that
uses them (alerts, reports, history) can import these without a cycle.
"""

from __future__ import annotations

import ipaddress
import math
import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, PlainValidator

from monitord.secrets import Secret, SecretError, resolve_secret
from monitord.types import Severity

__all__ = [
    "MAX_DURATION",
    "Address",
    "Duration",
    "Language",
    "SecretValue",
    "SeverityWord",
    "StrictModel",
    "check_address",
    "check_regex",
    "format_duration",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
# The longest duration any setting accepts (ten years): beyond it a timer or a date
# computed from it overflows, and no monitoring period is that long.
MAX_DURATION = 3650 * 86400.0
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


def parse_duration(value: object) -> float:
    """Parse `"30s"`, `"5m"`, `"500ms"`, `"1h"`, `"1d"` or a number of seconds.

    The result is finite, greater than zero and at most `MAX_DURATION` (3650d): NaN and
    infinities (YAML `.nan`, `.inf`) and absurd values (`9999999999d`) are refused.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise ValueError(
            f"invalid duration {value!r}: expected a number and a unit (ms, s, m, h, d), e.g. 30s"
        )
    if not math.isfinite(seconds):
        raise ValueError("duration must be a finite number (not .nan or .inf)")
    if seconds <= 0:
        raise ValueError("duration must be greater than zero")
    if seconds > MAX_DURATION:
        raise ValueError(f"duration {value!r} is too long: at most {format_duration(MAX_DURATION)}")
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds the way a config would write them (`90s`, `5m`, `1h`)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def check_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if _HOSTNAME.match(value) and not re.match(r"^[\d.]+$", value):
        return value
    raise ValueError(f"invalid address {value!r}: expected an IPv4/IPv6 address or a host name")


def check_regex(value: str) -> str:
    """Return `value` if it compiles as a Python regular expression, else raise ValueError."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return value


def _secret(value: object) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a secret reference: ${ENV_VAR} or file:/path")
    try:
        return resolve_secret(value, environ={})  # ${...} were expanded when loading
    except SecretError as exc:
        raise ValueError(str(exc)) from None


Duration = Annotated[float, BeforeValidator(parse_duration)]
SecretValue = Annotated[Secret, PlainValidator(_secret), PlainSerializer(lambda s: "<secret>")]
Address = Annotated[str, BeforeValidator(lambda v: check_address(v) if isinstance(v, str) else v)]
# a severity of the one vocabulary (monitord.types.Severity); the former alert word
# "warning" is read as medium
SeverityWord = Annotated[Severity, BeforeValidator(Severity.parse)]


class Language(StrEnum):
    """Language of reports and notifications."""

    ES = "es"
    EN = "en"


class StrictModel(BaseModel):
    """Base of config section models: unknown keys are errors, instances are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
