"""SNMP hygiene against snmpsim on loopback: default communities, v3, secrets never shown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors import snmp_hygiene
from monitord import findings
from monitord.config import parse_config_text
from monitord.errors import ConfigError, NameResolutionFailed
from monitord.state import State
from monitord.types import Sample, Shared, Target, TargetKind
from tests.contract.declared import declared_roles
from tests.peers.snmpsim import SnmpSim, V3User, free_udp_port

SECRET = "s3cr3t-comunidad"  # a site community: it must never be shown
RECORD = (
    "1.3.6.1.2.1.1.1.0|4|Edge switch (test recording)\n"
    "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.9.1.1208\n"
    "1.3.6.1.2.1.1.3.0|67|12345\n"
)
TARGET = Target("sw-centro", "127.0.0.1", TargetKind.SWITCH, site="centro")


class _Sim(SnmpSim):
    """SnmpSim that also closes the responder's stderr pipe on stop.

    tests/peers/snmpsim.py leaves it open, which is a ResourceWarning (an error here).
    """

    def stop(self) -> None:
        proc = self._proc
        super().stop()
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpSim]:
    """snmpsim answering `public` and a secret community, with an SNMPv3 user."""
    root = tmp_path_factory.mktemp("snmpsim")
    rec = root / "rec.snmprec"
    rec.write_text(RECORD)
    user = V3User("opsuser", "SHA", "authkey-1234567", "AES", "privkey-1234567")
    with _Sim(root / "sim", v3_user=user) as s:
        s.add_file(rec, community="public")
        s.add_file(rec, community=SECRET)
        s.start()
        yield s


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [
        s
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0].value


def collect(target: Target, **options: Any) -> list[Sample]:
    async def main() -> list[Sample]:
        shared = Shared()
        try:
            c = snmp_hygiene.build(options, shared)
            return await c.collect(target)
        finally:
            await shared.aclose()

    return asyncio.run(main())


def test_public_answering_is_a_default_community_violation_masked(sim: SnmpSim) -> None:
    samples = collect(TARGET, port=sim.port, request_timeout="500ms")
    specs = {m.name: m for m in snmp_hygiene.SnmpHygieneCollector.metrics}
    for s in samples:
        assert set(s.labels) == set(specs[s.name].labels), s
    infos = sorted(
        (s.labels["version"], s.labels["community"])
        for s in samples
        if s.name == "monitord_snmp_hygiene_default_community_info"
    )
    assert infos == [("1", "pu****"), ("2c", "pu****")]  # `private` is not served
    assert value(samples, "monitord_snmp_hygiene_communities_accepted") == 2
    assert (
        value(
            samples, "monitord_policy_violation", check="snmp_default_community", port=str(sim.port)
        )
        == 1
    )
    assert value(samples, "monitord_snmp_hygiene_v3_answering") == 1
    assert value(samples, "monitord_snmp_hygiene_v3_required") == 0
    assert not [s for s in samples if s.labels.get("check") == "snmp_v3_required"]
    for s in samples:
        assert "public" not in repr(s)


def test_v3_required_with_v2c_answering_is_a_violation(sim: SnmpSim) -> None:
    samples = collect(
        TARGET, port=sim.port, versions=["2c"], v3_required=True, request_timeout="500ms"
    )
    assert value(samples, "monitord_snmp_hygiene_v3_required") == 1
    assert value(samples, "monitord_snmp_hygiene_v3_answering") == 1
    assert value(samples, "monitord_policy_violation", check="snmp_v3_required") == 1
    assert value(samples, "monitord_snmp_hygiene_communities_accepted") == 1


def test_device_refusing_the_default_communities_and_speaking_v3_complies(sim: SnmpSim) -> None:
    samples = collect(
        TARGET,
        port=sim.port,
        communities=["private", "community"],
        v3_required=True,
        request_timeout="300ms",
    )
    assert value(samples, "monitord_snmp_hygiene_communities_accepted") == 0
    assert value(samples, "monitord_policy_violation", check="snmp_default_community") == 0
    assert value(samples, "monitord_policy_violation", check="snmp_v3_required") == 0
    assert value(samples, "monitord_snmp_hygiene_v3_answering") == 1


def test_silence_is_compliance_not_a_poll_failure_but_v3_required_is_violated() -> None:
    port = free_udp_port()  # nothing answers there
    samples = collect(TARGET, port=port, v3_required=True, request_timeout="200ms")
    assert value(samples, "monitord_snmp_hygiene_communities_accepted") == 0
    assert value(samples, "monitord_snmp_hygiene_v3_answering") == 0
    assert value(samples, "monitord_policy_violation", check="snmp_default_community") == 0
    assert value(samples, "monitord_policy_violation", check="snmp_v3_required") == 1


def test_a_secret_community_never_reaches_metrics_findings_logs_or_errors(
    sim: SnmpSim, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """End to end: the config's ${ENV} community, the samples, the state, the findings text."""
    caplog.set_level(logging.DEBUG)
    text = f"""
targets:
  - name: sw-centro
    address: 127.0.0.1
    kind: switch
    collectors:
      snmp_hygiene:
        port: {sim.port}
        communities: [public, "${{SITE_COMMUNITY}}"]
        request_timeout: 500ms
"""
    shared = Shared()
    cfg = parse_config_text(
        text,
        str(tmp_path / "m.yaml"),
        {snmp_hygiene.KIND: snmp_hygiene.build},
        shared,
        environ={"SITE_COMMUNITY": SECRET},
    )
    job = cfg.targets[0].collectors[0]
    assert SECRET not in repr(job.options)

    async def main() -> list[Sample]:
        try:
            return await job.collector.collect(cfg.targets[0].target)
        finally:
            await shared.aclose()

    samples = asyncio.run(main())
    masked = sorted(
        s.labels["community"]
        for s in samples
        if s.name == "monitord_snmp_hygiene_default_community_info"
    )
    assert masked == ["pu****", "pu****", "s3****", "s3****"]  # v1 and v2c each
    assert value(samples, "monitord_snmp_hygiene_communities_accepted") == 4

    state = State()
    state.set_targets([cfg.targets[0].target])
    state.record(cfg.targets[0].target, snmp_hygiene.KIND, samples, ok=True)
    found = findings.derive(state.snapshot(), declared_roles())
    default = [f for f in found if f.check is findings.Check.SNMP_DEFAULT_COMMUNITY]
    assert len(default) == 1 and default[0].target == "sw-centro"
    texts = [findings.render(f, lang) for f in found for lang in ("es", "en")]
    joined = "\n".join(str(t) for t in texts)
    assert "pu****" in joined and "s3****" in joined
    assert SECRET not in joined
    assert "public" not in joined.replace("pu****", "")
    assert SECRET not in repr(samples)
    assert SECRET not in caplog.text


def test_unresolvable_address_fails_the_poll() -> None:
    with pytest.raises(NameResolutionFailed) as info:
        collect(Target("x", "no-such-host.invalid"), request_timeout="200ms")
    assert "public" not in str(info.value)


@pytest.mark.parametrize(
    ("community", "masked"),
    [
        ("public", "pu****"),
        ("private", "pr****"),
        ("s3cr3t-comunidad", "s3****"),
        ("abc", "****"),
        ("abcde", "****"),
    ],
)
def test_mask_community(community: str, masked: str) -> None:
    assert snmp_hygiene.mask_community(community) == masked


@pytest.mark.parametrize(
    ("options", "fld", "message"),
    [
        ({"port": 0}, "port", "out of range"),
        ({"v3_required": True, "probe_v3": False}, "probe_v3", "v3_required needs probe_v3"),
        ({"versions": []}, "versions", "at least one"),
        ({"versions": ["3"]}, "versions[0]", "1"),
        ({"communities": [], "probe_v3": False}, "communities", "nothing to check"),
        ({"communities": [""]}, "communities", "cannot be empty"),
        ({"community": "x"}, "community", "unknown key"),
    ],
    ids=["port", "v3-needs-probe", "no-versions", "bad-version", "nothing", "empty", "unknown"],
)
def test_build_rejects_bad_options(options: dict[str, object], fld: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        snmp_hygiene.build(options, Shared())
    issue = info.value.issues[0]
    assert issue.field == fld
    assert message in issue.message


def test_defaults_probe_public_and_private_over_v1_and_v2c() -> None:
    c = snmp_hygiene.build({"versions": [1, "2c"]}, Shared())
    assert [s.reveal() for s in c.options.communities] == ["public", "private"]
    assert [v.value for v in c.options.versions] == ["1", "2c"]
    assert c.options.port == 161
    assert c.options.v3_required is False
    assert "public" not in repr(c.options)
