"""Security findings derived from a state snapshot: pure functions, no I/O but the text catalog.

A finding is one policy a target does not meet right now, as the collectors saw it in their
last polls: `check`, `target`, `severity` (`monitord.types.Severity`: critical | high |
medium | low), the `policy` it breaks (a key of the policy texts), the ISO/IEC 27001:2022
Annex A control it evidences, and `detail`: language-neutral facts (`port=23`,
`community=pu****`). Texts in Spanish and English come from `findings_messages.yaml`
through `render()`. Nothing here can hold a secret: collectors never put one in a sample
(SNMP communities arrive masked), and findings are built from samples only.

The inputs are series of role CHECK_INPUT, read by the input key their collector
declares (the spec's `rollup`, indexed in `RoleIndex.check_keys`); this module names
no metric. What is derived, from which input (today's series in brackets):
  tcp_must_be_closed, tcp_must_be_open            violation (monitord_policy_violation)
  snmp_default_community, snmp_v3_required        violation + the masked default_community
                                                  (monitord_snmp_hygiene_default_community_info)
  tls_cert_expiry                                 tls_not_after against the snapshot time:
                                                  < 30 days medium, < 7 days high, expired
                                                  critical
  tls_chain_invalid                               tls_cert_valid 0 (not reported when the
                                                  only cause is expiry: that one is critical)
  tls_hostname_mismatch, tls_obsolete_protocol,   violation (http collector)
  http_no_hsts, http_no_https_redirect,
  http_content_mismatch
  unknown_device                                  unknown_host whose address is no
                                                  configured target's address
"""

from __future__ import annotations

import datetime as dt
import string
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, Final

import yaml

from monitord.contract import RoleIndex
from monitord.state import GroupView, SeriesValue, Snapshot
from monitord.types import Severity

__all__ = [
    "CHECKS",
    "Check",
    "CheckInfo",
    "Finding",
    "RenderedFinding",
    "Severity",
    "derive",
    "messages",
    "render",
    "summarize",
]

DAY: Final = 86400.0
EXPIRY_MEDIUM: Final = 30 * DAY
EXPIRY_HIGH: Final = 7 * DAY
X509_V_ERR_CERT_HAS_EXPIRED: Final = 10

# Input keys (the `rollup` of the CHECK_INPUT specs that feed the checks)
_VIOLATION: Final = "violation"
_TLS_INFO: Final = "tls_info"
_TLS_NOT_AFTER: Final = "tls_not_after"
_TLS_VALID: Final = "tls_cert_valid"
_TLS_VERIFY: Final = "tls_verify_result"
_UNKNOWN_HOST: Final = "unknown_host"
_DEFAULT_COMMUNITY: Final = "default_community"
_V3_ANSWERING: Final = "v3_answering"
_PORT_FILTERED: Final = "port_filtered"


class Check(StrEnum):
    """The security checks; values match the collectors' `check` labels."""

    TCP_MUST_BE_CLOSED = "tcp_must_be_closed"
    TCP_MUST_BE_OPEN = "tcp_must_be_open"
    SNMP_DEFAULT_COMMUNITY = "snmp_default_community"
    SNMP_V3_REQUIRED = "snmp_v3_required"
    TLS_CERT_EXPIRY = "tls_cert_expiry"
    TLS_CHAIN_INVALID = "tls_chain_invalid"
    TLS_HOSTNAME_MISMATCH = "tls_hostname_mismatch"
    TLS_OBSOLETE_PROTOCOL = "tls_obsolete_protocol"
    HTTP_NO_HSTS = "http_no_hsts"
    HTTP_NO_HTTPS_REDIRECT = "http_no_https_redirect"
    HTTP_CONTENT_MISMATCH = "http_content_mismatch"
    UNKNOWN_DEVICE = "unknown_device"


@dataclass(frozen=True, slots=True)
class CheckInfo:
    """What a check means: default severity, policy text key, ISO/IEC 27001:2022 control."""

    severity: Severity
    policy: str
    iso_control: str


CHECKS: Final[Mapping[Check, CheckInfo]] = {
    Check.TCP_MUST_BE_CLOSED: CheckInfo(Severity.HIGH, "network_ports", "8.20"),
    Check.TCP_MUST_BE_OPEN: CheckInfo(Severity.MEDIUM, "network_ports", "8.20"),
    Check.SNMP_DEFAULT_COMMUNITY: CheckInfo(Severity.HIGH, "snmp_management", "8.9"),
    Check.SNMP_V3_REQUIRED: CheckInfo(Severity.MEDIUM, "snmp_management", "8.24"),
    Check.TLS_CERT_EXPIRY: CheckInfo(Severity.MEDIUM, "web_tls", "8.24"),
    Check.TLS_CHAIN_INVALID: CheckInfo(Severity.HIGH, "web_tls", "8.24"),
    Check.TLS_HOSTNAME_MISMATCH: CheckInfo(Severity.HIGH, "web_tls", "8.24"),
    Check.TLS_OBSOLETE_PROTOCOL: CheckInfo(Severity.HIGH, "web_tls", "8.24"),
    Check.HTTP_NO_HSTS: CheckInfo(Severity.LOW, "web_https", "8.26"),
    Check.HTTP_NO_HTTPS_REDIRECT: CheckInfo(Severity.MEDIUM, "web_https", "8.26"),
    Check.HTTP_CONTENT_MISMATCH: CheckInfo(Severity.MEDIUM, "web_integrity", "8.16"),
    Check.UNKNOWN_DEVICE: CheckInfo(Severity.MEDIUM, "asset_inventory", "5.9"),
}

# Violations reported as they come (check label -> Check), one finding per (target, port).
_PLAIN: Final = frozenset(
    {
        Check.TCP_MUST_BE_CLOSED,
        Check.TCP_MUST_BE_OPEN,
        Check.TLS_HOSTNAME_MISMATCH,
        Check.TLS_OBSOLETE_PROTOCOL,
        Check.HTTP_NO_HSTS,
        Check.HTTP_NO_HTTPS_REDIRECT,
        Check.HTTP_CONTENT_MISMATCH,
    }
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One policy a target does not meet; `params` feed the text templates (no secrets)."""

    check: Check
    target: str
    severity: Severity
    policy: str
    iso_control: str
    params: tuple[tuple[str, str], ...] = ()

    @property
    def detail(self) -> str:
        """Language-neutral facts, `key=value` separated by spaces."""
        return " ".join(f"{k}={v}" for k, v in self.params)


@dataclass(frozen=True, slots=True)
class RenderedFinding:
    """A finding in one language, for a report or a notification."""

    check: str
    target: str
    severity: str
    title: str
    detail: str
    policy: str
    iso_control: str
    iso_title: str

    def __str__(self) -> str:
        return (
            f"[{self.severity}] {self.target}: {self.title}. {self.detail} "
            f"({self.policy}; ISO/IEC 27001:2022 A.{self.iso_control} {self.iso_title})"
        )


def derive(snapshot: Snapshot, roles: RoleIndex, *, now: float | None = None) -> list[Finding]:
    """Every finding the snapshot shows, most severe first (then by target and check).

    `roles`: the declared roles (the CHECK_INPUT series and their input keys).
    """
    when = snapshot.ts if now is None else now
    known = {t.address for t in snapshot.targets.values()}
    out: set[Finding] = set()
    for group in snapshot.groups.values():
        out.update(_from_group(group, when, known, roles.check_keys))
    return sorted(out, key=lambda f: (f.severity.rank, f.target, f.check.value, f.params))


def summarize(findings: Iterable[Finding]) -> dict[Severity, int]:
    """Count of findings per severity (every severity present, 0 included)."""
    counts = Counter(f.severity for f in findings)
    return {s: counts.get(s, 0) for s in Severity}


def render(finding: Finding, language: str) -> RenderedFinding:
    """The finding's texts in `language` (`es` or `en`) from the message catalog."""
    cat = messages().get(str(language))
    if cat is None:
        raise ValueError(f"no finding texts for language {language!r} (known: es, en)")
    check = cat["checks"][finding.check.value]
    params = dict(finding.params)
    template = check["detail_expired"] if params.get("expired") == "yes" else check["detail"]
    return RenderedFinding(
        check=finding.check.value,
        target=finding.target,
        severity=str(cat["severity"][finding.severity.value]),
        title=str(check["title"]),
        detail=str(template).format_map(params),
        policy=str(cat["policies"][finding.policy]),
        iso_control=finding.iso_control,
        iso_title=str(cat["iso"][finding.iso_control]),
    )


@cache
def messages() -> Mapping[str, Mapping[str, Any]]:
    """The text catalog (`findings_messages.yaml`), read once."""
    text = resources.files("monitord").joinpath("findings_messages.yaml").read_text("utf-8")
    data: dict[str, dict[str, Any]] = yaml.safe_load(text)
    for lang, cat in data.items():
        for check in Check:
            entry = cat["checks"][check.value]
            for key in [k for k in entry if k in ("title", "detail", "detail_expired")]:
                fields = {f for _, f, _, _ in string.Formatter().parse(entry[key]) if f}
                unknown = fields - _PARAMS[check]
                if unknown:
                    raise ValueError(
                        f"findings_messages.yaml: {lang}.checks.{check}.{key}: "
                        f"unknown placeholder(s) {sorted(unknown)}"
                    )
    return data


# -- private helpers ------------------------------------------------------------------------

# The params each check's finding carries (the catalog's templates may use these only).
_PARAMS: Final[Mapping[Check, frozenset[str]]] = {
    Check.TCP_MUST_BE_CLOSED: frozenset({"port"}),
    Check.TCP_MUST_BE_OPEN: frozenset({"port", "state"}),
    Check.SNMP_DEFAULT_COMMUNITY: frozenset({"port", "communities"}),
    Check.SNMP_V3_REQUIRED: frozenset({"port", "v3", "communities"}),
    Check.TLS_CERT_EXPIRY: frozenset({"port", "days", "not_after", "expired"}),
    Check.TLS_CHAIN_INVALID: frozenset({"port", "verify_code"}),
    Check.TLS_HOSTNAME_MISMATCH: frozenset({"port"}),
    Check.TLS_OBSOLETE_PROTOCOL: frozenset({"port", "version"}),
    Check.HTTP_NO_HSTS: frozenset({"port"}),
    Check.HTTP_NO_HTTPS_REDIRECT: frozenset({"port"}),
    Check.HTTP_CONTENT_MISMATCH: frozenset({"port"}),
    Check.UNKNOWN_DEVICE: frozenset({"address"}),
}


def _from_group(
    group: GroupView, now: float, known: set[str], keys: Mapping[str, str]
) -> Iterator[Finding]:
    target = group.target.name
    by_name: dict[str, list[SeriesValue]] = {}  # by input key
    for sv in group.series.values():
        key = keys.get(sv.name)
        if key is not None:
            by_name.setdefault(key, []).append(sv)

    def first(name: str) -> SeriesValue | None:
        values = by_name.get(name)
        return values[0] if values else None

    tls_port = ""
    for sv in by_name.get(_VIOLATION, []):
        labels = dict(sv.labels)
        try:
            check = Check(labels.get("check", ""))
        except ValueError:
            continue  # a check this module does not know (another collector's)
        port = labels.get("port", "")
        if check.value.startswith("tls_"):
            tls_port = port
        if sv.value != 1:
            continue
        if check in _PLAIN:
            params = [("port", port)]
            if check is Check.TLS_OBSOLETE_PROTOCOL:
                info = first(_TLS_INFO)
                params.append(("version", dict(info.labels).get("version", "?") if info else "?"))
            if check is Check.TCP_MUST_BE_OPEN:
                params.append(("state", _port_state(by_name, port)))
            yield _finding(check, target, params)
        elif check is Check.SNMP_DEFAULT_COMMUNITY:
            yield _finding(check, target, [("port", port), ("communities", _masked(by_name))])
        elif check is Check.SNMP_V3_REQUIRED:
            v3 = first(_V3_ANSWERING)
            answering = "yes" if v3 is not None and v3.value == 1 else "no"
            params = [("port", port), ("v3", answering), ("communities", _masked(by_name) or "-")]
            yield _finding(check, target, params)

    not_after = first(_TLS_NOT_AFTER)
    if not_after is not None:
        left = not_after.value - now
        severity = (
            Severity.CRITICAL
            if left <= 0
            else Severity.HIGH
            if left < EXPIRY_HIGH
            else Severity.MEDIUM
            if left < EXPIRY_MEDIUM
            else None
        )
        if severity is not None:
            params = [
                ("port", tls_port),
                ("days", f"{abs(left) / DAY:.0f}"),
                ("not_after", _iso_date(not_after.value)),
                ("expired", "yes" if left <= 0 else "no"),
            ]
            yield _finding(Check.TLS_CERT_EXPIRY, target, params, severity)
    valid = first(_TLS_VALID)
    if valid is not None and valid.value == 0:
        code_sv = first(_TLS_VERIFY)
        code = int(code_sv.value) if code_sv is not None else -1
        expired = not_after is not None and not_after.value <= now
        if not (code == X509_V_ERR_CERT_HAS_EXPIRED and expired):
            yield _finding(
                Check.TLS_CHAIN_INVALID, target, [("port", tls_port), ("verify_code", str(code))]
            )

    for sv in by_name.get(_UNKNOWN_HOST, []):
        address = dict(sv.labels).get("address", "")
        if address and address not in known:
            yield _finding(Check.UNKNOWN_DEVICE, target, [("address", address)])


def _finding(
    check: Check,
    target: str,
    params: list[tuple[str, str]],
    severity: Severity | None = None,
) -> Finding:
    info = CHECKS[check]
    return Finding(
        check=check,
        target=target,
        severity=severity or info.severity,
        policy=info.policy,
        iso_control=info.iso_control,
        params=tuple(params),
    )


def _masked(by_name: Mapping[str, list[SeriesValue]]) -> str:
    """`pu**** (v1, v2c), pr**** (v2c)` from the masked info series."""
    versions: dict[str, list[str]] = {}
    for sv in by_name.get(_DEFAULT_COMMUNITY, []):
        labels = dict(sv.labels)
        versions.setdefault(labels.get("community", "****"), []).append(labels.get("version", ""))
    return ", ".join(
        f"{c} ({', '.join('v' + v for v in sorted(vs))})" for c, vs in sorted(versions.items())
    )


def _port_state(by_name: Mapping[str, list[SeriesValue]], port: str) -> str:
    for sv in by_name.get(_PORT_FILTERED, []):
        if dict(sv.labels).get("port") == port:
            return "filtered" if sv.value == 1 else "refused"
    return "closed"


def _iso_date(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
