"""The exception tree of monitord.

    MonitordError
      ConfigError(errors: [ConfigIssue(path, line, field, message)])
                                   → startup/reload refuses; exit 2 from the CLI
      CollectorError(reason: FailureReason, samples: partial data)
        TargetTimeout · TargetUnreachable · NameResolutionFailed · AuthFailed
        ConnectionRefused · MalformedResponse · PermissionDenied · TlsFailed
      StateError · HistoryError · NotifyError(sender, retryable)

Collectors translate their library's errors into `CollectorError` subclasses at the
boundary (`raise ... from exc`); `monitord.runner` is the only place that catches
`Exception`. No message ever contains a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitord.types import FailureReason, Sample

__all__ = [
    "AuthFailed",
    "CollectorError",
    "ConfigError",
    "ConfigIssue",
    "ConnectionRefused",
    "HistoryError",
    "MalformedResponse",
    "MonitordError",
    "NameResolutionFailed",
    "NotifyError",
    "PermissionDenied",
    "StateError",
    "TargetTimeout",
    "TargetUnreachable",
    "TlsFailed",
]


class MonitordError(Exception):
    """Base of every error monitord raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config file: where it is and what is wrong."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ConfigError(MonitordError):
    """The configuration is invalid; carries every issue found, each with file:line:field."""

    def __init__(self, issues: Sequence[ConfigIssue] | str, *, field: str = "") -> None:
        if isinstance(issues, str):
            issues = [ConfigIssue("", 0, field, issues)]
        self.issues: tuple[ConfigIssue, ...] = tuple(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class CollectorError(MonitordError):
    """A poll failed for a reason that is data, not a bug.

    `samples` holds whatever the poll got before it failed (a partial walk, packet
    counts of a ping with no reply); the runner records them and marks the poll failed.
    """

    reason: FailureReason = FailureReason.INTERNAL

    def __init__(self, message: str, *, samples: Sequence[Sample] = ()) -> None:
        super().__init__(message)
        self.samples: tuple[Sample, ...] = tuple(samples)


class TargetTimeout(CollectorError):
    """The target did not answer within the deadline."""

    reason = FailureReason.TIMEOUT


class TargetUnreachable(CollectorError):
    """The target could not be reached (no route, no reply, link down)."""

    reason = FailureReason.UNREACHABLE


class NameResolutionFailed(CollectorError):
    """The target's name did not resolve."""

    reason = FailureReason.DNS


class AuthFailed(CollectorError):
    """The target refused our credentials."""

    reason = FailureReason.AUTH


class ConnectionRefused(CollectorError):
    """The target refused the connection."""

    reason = FailureReason.REFUSED


class MalformedResponse(CollectorError):
    """The target answered with something we cannot parse."""

    reason = FailureReason.MALFORMED


class PermissionDenied(CollectorError):
    """This process lacks a permission the poll needs (raw sockets, a grant)."""

    reason = FailureReason.PERMISSION


class TlsFailed(CollectorError):
    """The TLS handshake or certificate verification failed."""

    reason = FailureReason.TLS


class StateError(MonitordError):
    """The in-memory state was asked something inconsistent."""


class HistoryError(MonitordError):
    """The on-disk history could not be read or written."""


class NotifyError(MonitordError):
    """A notification could not be delivered."""

    def __init__(self, message: str, *, sender: str, retryable: bool) -> None:
        super().__init__(message)
        self.sender = sender
        self.retryable = retryable
