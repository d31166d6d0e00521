"""Security findings from state snapshots: table tests, grading, texts, and no secrets."""

from __future__ import annotations

import shutil
import string
import subprocess

import pytest

from collectors import discovery, http, snmp_hygiene, tcp
from exporters.prometheus import ExpositionRenderer
from monitord import findings
from monitord.findings import Check, Finding, Severity
from monitord.state import Snapshot, State
from monitord.types import Sample, SampleKind, Target, TargetKind
from tests.conftest import FakeClock
from tests.contract.declared import declared_roles

DAY = 86400.0
WEB = Target("portal", "203.0.113.10", TargetKind.WEBSITE)
SW = Target("sw-centro", "127.0.0.2", TargetKind.SWITCH)
SECRET = "s3cr3t-comunidad"


def violation(target: str, check: str, port: str, value: float = 1.0) -> Sample:
    return Sample(
        "monitord_policy_violation", {"target": target, "check": check, "port": port}, value
    )


def snapshot(groups: dict[tuple[Target, str], list[Sample]], clock: FakeClock) -> Snapshot:
    state = State(clock=clock)
    state.set_targets({t for t, _ in groups})
    for (target, collector), samples in groups.items():
        state.record(target, collector, samples, ok=True)
    return state.snapshot()


def only(found: list[Finding], check: Check) -> Finding:
    matching = [f for f in found if f.check is check]
    assert len(matching) == 1, (check, found)
    return matching[0]


@pytest.mark.parametrize(
    ("samples", "check", "severity", "iso", "detail"),
    [
        (
            [violation("sw-centro", "tcp_must_be_closed", "23")],
            Check.TCP_MUST_BE_CLOSED,
            Severity.HIGH,
            "8.20",
            "port=23",
        ),
        (
            [
                violation("sw-centro", "tcp_must_be_open", "443"),
                Sample("monitord_tcp_port_filtered", {"target": "sw-centro", "port": "443"}, 1.0),
            ],
            Check.TCP_MUST_BE_OPEN,
            Severity.MEDIUM,
            "8.20",
            "port=443 state=filtered",
        ),
        (
            [
                violation("sw-centro", "snmp_default_community", "161"),
                Sample(
                    "monitord_snmp_hygiene_default_community_info",
                    {"target": "sw-centro", "version": "2c", "community": "pu****"},
                    1.0,
                    SampleKind.INFO,
                ),
                Sample(
                    "monitord_snmp_hygiene_default_community_info",
                    {"target": "sw-centro", "version": "1", "community": "pu****"},
                    1.0,
                    SampleKind.INFO,
                ),
            ],
            Check.SNMP_DEFAULT_COMMUNITY,
            Severity.HIGH,
            "8.9",
            "port=161 communities=pu**** (v1, v2c)",
        ),
        (
            [
                violation("sw-centro", "snmp_v3_required", "161"),
                Sample("monitord_snmp_hygiene_v3_answering", {"target": "sw-centro"}, 0.0),
            ],
            Check.SNMP_V3_REQUIRED,
            Severity.MEDIUM,
            "8.24",
            "port=161 v3=no communities=-",
        ),
        (
            [violation("sw-centro", "tls_hostname_mismatch", "443")],
            Check.TLS_HOSTNAME_MISMATCH,
            Severity.HIGH,
            "8.24",
            "port=443",
        ),
        (
            [
                violation("sw-centro", "tls_obsolete_protocol", "443"),
                Sample(
                    "monitord_tls_info",
                    {
                        "target": "sw-centro",
                        "version": "TLSv1",
                        "cipher": "ECDHE-RSA-AES256-SHA",
                        "issuer": "CA",
                    },
                    1.0,
                    SampleKind.INFO,
                ),
            ],
            Check.TLS_OBSOLETE_PROTOCOL,
            Severity.HIGH,
            "8.24",
            "port=443 version=TLSv1",
        ),
        (
            [violation("sw-centro", "http_no_hsts", "443")],
            Check.HTTP_NO_HSTS,
            Severity.LOW,
            "8.26",
            "port=443",
        ),
        (
            [violation("sw-centro", "http_no_https_redirect", "80")],
            Check.HTTP_NO_HTTPS_REDIRECT,
            Severity.MEDIUM,
            "8.26",
            "port=80",
        ),
        (
            [violation("sw-centro", "http_content_mismatch", "443")],
            Check.HTTP_CONTENT_MISMATCH,
            Severity.MEDIUM,
            "8.16",
            "port=443",
        ),
        (
            [
                Sample(
                    "monitord_discovery_unknown_host_info",
                    {"target": "sw-centro", "address": "127.0.0.99"},
                    1.0,
                    SampleKind.INFO,
                )
            ],
            Check.UNKNOWN_DEVICE,
            Severity.MEDIUM,
            "5.9",
            "address=127.0.0.99",
        ),
    ],
    ids=[
        "forbidden-port",
        "required-port",
        "default-community",
        "v3-required",
        "hostname",
        "obsolete-tls",
        "hsts",
        "redirect",
        "content",
        "unknown-device",
    ],
)
def test_each_violation_becomes_one_finding(
    clock: FakeClock,
    samples: list[Sample],
    check: Check,
    severity: Severity,
    iso: str,
    detail: str,
) -> None:
    found = findings.derive(snapshot({(SW, "x"): samples}, clock), declared_roles())
    assert len(found) == 1, found
    f = found[0]
    assert (f.check, f.target, f.severity, f.iso_control, f.detail) == (
        check,
        "sw-centro",
        severity,
        iso,
        detail,
    )
    assert f.policy == findings.CHECKS[check].policy
    for lang in ("es", "en"):
        text = findings.render(f, lang)
        assert text.title and text.detail and text.policy and text.iso_title
        assert "{" not in text.detail


def test_compliant_series_make_no_findings(clock: FakeClock) -> None:
    samples = [
        violation("sw-centro", "tcp_must_be_closed", "23", 0.0),
        violation("sw-centro", "snmp_default_community", "161", 0.0),
        Sample("monitord_tls_cert_valid", {"target": "sw-centro"}, 1.0),
        Sample(
            "monitord_tls_cert_not_after_timestamp_seconds",
            {"target": "sw-centro"},
            clock.wall + 90 * DAY,
        ),
        Sample(
            "monitord_discovery_unknown_host_info",
            {"target": "sw-centro", "address": SW.address},
            1.0,
            SampleKind.INFO,
        ),
    ]
    assert findings.derive(snapshot({(SW, "x"): samples}, clock), declared_roles()) == []


@pytest.mark.parametrize(
    ("days_left", "severity", "days_text"),
    [
        (40, None, ""),
        (29.5, Severity.MEDIUM, "30"),
        (10, Severity.MEDIUM, "10"),
        (6.9, Severity.HIGH, "7"),
        (0.5, Severity.HIGH, "0"),
        (-2, Severity.CRITICAL, "2"),
    ],
    ids=["40d", "29.5d", "10d", "6.9d", "12h", "expired"],
)
def test_tls_expiry_is_graded_against_the_snapshot_time(
    clock: FakeClock, days_left: float, severity: Severity | None, days_text: str
) -> None:
    samples = [
        Sample(
            "monitord_tls_cert_not_after_timestamp_seconds",
            {"target": "portal"},
            clock.wall + days_left * DAY,
        ),
        violation("portal", "tls_chain_invalid", "8443", 0.0),
    ]
    found = findings.derive(snapshot({(WEB, "http"): samples}, clock), declared_roles())
    if severity is None:
        assert found == []
        return
    f = only(found, Check.TLS_CERT_EXPIRY)
    assert f.severity is severity
    params = dict(f.params)
    assert params["days"] == days_text and params["port"] == "8443"
    es = findings.render(f, "es").detail
    en = findings.render(f, "en").detail
    if days_left < 0:
        assert "venció" in es and "expired" in en and f"{days_text} days ago" in en
    else:
        assert "vence el" in es and f"in {days_text} days" in en


def test_expired_chain_gives_the_critical_expiry_only(clock: FakeClock) -> None:
    samples = [
        Sample(
            "monitord_tls_cert_not_after_timestamp_seconds", {"target": "portal"}, clock.wall - DAY
        ),
        Sample("monitord_tls_cert_valid", {"target": "portal"}, 0.0),
        Sample("monitord_tls_verify_result", {"target": "portal"}, 10.0),
        violation("portal", "tls_chain_invalid", "443"),
    ]
    found = findings.derive(snapshot({(WEB, "http"): samples}, clock), declared_roles())
    assert [(f.check, f.severity) for f in found] == [(Check.TLS_CERT_EXPIRY, Severity.CRITICAL)]


def test_untrusted_chain_is_its_own_finding(clock: FakeClock) -> None:
    samples = [
        Sample(
            "monitord_tls_cert_not_after_timestamp_seconds",
            {"target": "portal"},
            clock.wall + 200 * DAY,
        ),
        Sample("monitord_tls_cert_valid", {"target": "portal"}, 0.0),
        Sample("monitord_tls_verify_result", {"target": "portal"}, 20.0),
        violation("portal", "tls_chain_invalid", "443"),
    ]
    f = only(
        findings.derive(snapshot({(WEB, "http"): samples}, clock), declared_roles()),
        Check.TLS_CHAIN_INVALID,
    )
    assert (f.severity, f.detail) == (Severity.HIGH, "port=443 verify_code=20")
    assert "20" in findings.render(f, "en").detail


def test_findings_are_sorted_most_severe_first_and_summarized(clock: FakeClock) -> None:
    snap = snapshot(
        {
            (WEB, "http"): [
                violation("portal", "http_no_hsts", "443"),
                Sample(
                    "monitord_tls_cert_not_after_timestamp_seconds",
                    {"target": "portal"},
                    clock.wall - DAY,
                ),
            ],
            (SW, "tcp"): [
                violation("sw-centro", "tcp_must_be_closed", "23"),
                violation("sw-centro", "tcp_must_be_closed", "21"),
                violation("sw-centro", "tcp_must_be_open", "22"),
            ],
        },
        clock,
    )
    found = findings.derive(snap, declared_roles())
    assert [(f.severity.value, f.target, f.check.value, f.detail) for f in found] == [
        ("critical", "portal", "tls_cert_expiry", found[0].detail),
        ("high", "sw-centro", "tcp_must_be_closed", "port=21"),
        ("high", "sw-centro", "tcp_must_be_closed", "port=23"),
        ("medium", "sw-centro", "tcp_must_be_open", "port=22 state=closed"),
        ("low", "portal", "http_no_hsts", "port=443"),
    ]
    assert found[0].detail.startswith("port= days=1 not_after=")
    assert findings.summarize(found) == {
        Severity.CRITICAL: 1,
        Severity.HIGH: 2,
        Severity.MEDIUM: 1,
        Severity.LOW: 1,
        Severity.INFO: 0,  # the one vocabulary (monitord.types.Severity): no check says info
    }


def test_unknown_check_labels_are_ignored(clock: FakeClock) -> None:
    samples = [violation("sw-centro", "agent_firewall_disabled", "")]
    assert findings.derive(snapshot({(SW, "agent"): samples}, clock), declared_roles()) == []


def test_a_findings_text_never_includes_a_secret(clock: FakeClock) -> None:
    """Findings carry whitelisted facts only: a secret elsewhere in the state never leaks."""
    masked = snmp_hygiene.mask_community(SECRET)
    samples = [
        violation("sw-centro", "snmp_default_community", "161"),
        violation("sw-centro", "snmp_v3_required", "161"),
        Sample(
            "monitord_snmp_hygiene_default_community_info",
            {"target": "sw-centro", "version": "2c", "community": masked},
            1.0,
            SampleKind.INFO,
        ),
        Sample("monitord_snmp_hygiene_v3_answering", {"target": "sw-centro"}, 1.0),
        # Secrets where a careless collector might put them: findings must not copy them.
        Sample(
            "monitord_interface_info",
            {"target": "sw-centro", "ifalias": SECRET},
            1.0,
            SampleKind.INFO,
        ),
        violation("sw-centro", SECRET, SECRET),
        Sample(
            "monitord_tls_info",
            {"target": "sw-centro", "version": "TLSv1.3", "cipher": SECRET, "issuer": SECRET},
            1.0,
            SampleKind.INFO,
        ),
        violation("sw-centro", "tls_hostname_mismatch", "443"),
    ]
    found = findings.derive(snapshot({(SW, "snmp_hygiene"): samples}, clock), declared_roles())
    assert {f.check for f in found} == {
        Check.SNMP_DEFAULT_COMMUNITY,
        Check.SNMP_V3_REQUIRED,
        Check.TLS_HOSTNAME_MISMATCH,
    }
    texts = [str(findings.render(f, lang)) for f in found for lang in ("es", "en")]
    texts += [repr(f) for f in found] + [f.detail for f in found]
    joined = "\n".join(texts)
    assert "s3****" in joined
    assert SECRET not in joined
    assert SECRET[2:] not in joined


def test_catalog_covers_every_check_policy_control_and_severity_in_both_languages() -> None:
    cat = findings.messages()
    assert set(cat) == {"es", "en"}
    for lang, entry in cat.items():
        assert set(entry["checks"]) == {c.value for c in Check}, lang
        assert set(entry["severity"]) == {s.value for s in Severity}, lang
        assert set(entry["policies"]) >= {i.policy for i in findings.CHECKS.values()}, lang
        assert set(entry["iso"]) >= {i.iso_control for i in findings.CHECKS.values()}, lang
        for check, texts in entry["checks"].items():
            for key, template in texts.items():
                fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
                assert fields <= findings._PARAMS[Check(check)], (lang, check, key)


def test_render_rejects_an_unknown_language() -> None:
    f = Finding(Check.HTTP_NO_HSTS, "portal", Severity.LOW, "web_https", "8.26", (("port", "443"),))
    with pytest.raises(ValueError, match="no finding texts for language 'fr'"):
        findings.render(f, "fr")


def test_check_values_match_the_collectors_check_labels() -> None:
    emitted = {
        *(c.value for c in tcp.PolicyCheck),
        *(c.value for c in http.PolicyCheck),
        *(c.value for c in snmp_hygiene.PolicyCheck),
        discovery.CHECK,
    }
    assert emitted == {c.value for c in Check}


def test_policy_violation_is_declared_alike_by_every_collector() -> None:
    specs = {
        spec
        for cls in (
            tcp.TcpCollector,
            http.HttpCollector,
            snmp_hygiene.SnmpHygieneCollector,
            discovery.DiscoveryCollector,
        )
        for spec in cls.metrics
        if spec.name == "monitord_policy_violation"
    }
    assert len(specs) == 1
    assert next(iter(specs)).labels == ("target", "check", "port")


def test_security_series_pass_promtool_check_metrics(clock: FakeClock) -> None:
    """Every metric of the four collectors, exposed from one state, is clean for promtool."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: install Debian's prometheus package")
    classes = (
        tcp.TcpCollector,
        http.HttpCollector,
        snmp_hygiene.SnmpHygieneCollector,
        discovery.DiscoveryCollector,
    )
    samples: list[Sample] = []
    for cls in classes:
        for spec in cls.metrics:
            labels = {name: "x" for name in spec.labels}
            labels["target"] = "sw-centro"
            samples.append(Sample(spec.name, labels, 1.0, spec.kind))
    snap = snapshot({(SW, "all"): samples}, clock)
    text = ExpositionRenderer([s for cls in classes for s in cls.metrics]).render(snap)
    for cls in classes:
        for spec in cls.metrics:
            assert f"\n# TYPE {spec.name} gauge\n" in "\n" + text.decode(), spec.name
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=30, check=False
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b""), proc.stdout + proc.stderr
