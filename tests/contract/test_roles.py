"""The metric contract between the collectors and the core: roles.

The core consumes only what collectors declare: every name it reads comes from a
declared spec's role, every history kind the reports read has a declaring collector,
a spec name means the same roles everywhere, and the daemon declares specs per
collector INSTANCE (an SNMP user profile's metrics are not "undeclared").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors import COLLECTORS
from monitord.config import parse_config_text
from monitord.contract import IFACE_FIELDS, RoleIndex
from monitord.daemon import CONFIG_CHECKS, collector_specs
from monitord.history.accumulate import DIST_KINDS
from monitord.history.service import AGENT_CHECKS
from monitord.types import MetricSpec, Role, SampleKind, Shared, role, with_roles
from tests.contract.declared import declared_roles, declared_specs


def test_every_name_the_core_consumes_is_declared() -> None:
    names = {s.name for s in declared_specs()}
    roles = declared_roles()
    assert roles.consumed() <= names
    # the security checks' policy table reads only declared CHECK_INPUT series
    assert set(AGENT_CHECKS) <= set(roles.check_keys.values())
    # every history distribution the reports read has a collector that declares it
    kinds = set(roles.dists.values()) | {k for k, _ in roles.dist_per.values()}
    assert set(DIST_KINDS) <= kinds | set(roles.counter_dists.values())
    assert set(roles.iface_counters.values()) == IFACE_FIELDS
    assert roles.uptime == {
        "monitord_device_uptime_seconds",
        "monitord_host_uptime_seconds",
        "monitord_database_uptime_seconds",
    }


def test_a_name_has_the_same_roles_in_every_collector() -> None:
    seen: dict[str, MetricSpec] = {}
    for s in declared_specs():
        first = seen.setdefault(s.name, s)
        assert (first.roles, first.rollup, first.object, first.per) == (
            s.roles,
            s.rollup,
            s.object,
            s.per,
        ), s.name


def test_roles_are_consistent() -> None:
    names = {s.name for s in declared_specs()}
    for s in declared_specs():
        if s.per:
            assert s.per in names, f"{s.name}: per={s.per} is not declared"
        if s.object:
            assert s.object in s.labels, f"{s.name}: object={s.object} is not a label"
        needs_kind = {Role.DISTRIBUTION, Role.DAILY_GAUGE, Role.AGE_GAUGE, Role.INTERFACE_COUNTER}
        if s.roles & needs_kind:
            assert s.rollup, f"{s.name}: {set(s.roles)} needs a rollup kind"
        if Role.INTERFACE_COUNTER in s.roles:
            assert s.kind is SampleKind.COUNTER and "ifname" in s.labels


def test_with_roles_refuses_an_undeclared_name() -> None:
    spec = MetricSpec("monitord_x_seconds", SampleKind.GAUGE, "x")
    with pytest.raises(ValueError, match="monitord_y_seconds"):
        with_roles((spec,), {"monitord_y_seconds": role(Role.UPTIME)})


def test_the_daemon_declares_specs_per_collector_instance(tmp_path: Path) -> None:
    text = """
snmp:
  modules:
    vendor:
      scalars:
        columns: {load: 1.3.6.1.4.1.99999.1.1.0}
        metrics:
          - {name: monitord_vendor_cpu_ratio, kind: gauge, value: load, scale: 0.01,
             help: "vendor CPU", roles: [distribution], rollup: cpu}
targets:
  - {name: a, address: 127.0.0.1, collectors: {snmp: {community: "${C}", modules: [vendor]}}}
  - {name: b, address: 127.0.0.2, collectors: {snmp: {community: "${C}"}}}
"""
    cfg = parse_config_text(text, "t.yaml", COLLECTORS, Shared(), {"C": "public"})
    specs = {s.name: s for s in collector_specs(cfg)}
    vendor = specs["monitord_vendor_cpu_ratio"]
    assert vendor.roles == {Role.DISTRIBUTION} and vendor.rollup == "cpu"
    assert RoleIndex.of(specs.values()).dists["monitord_vendor_cpu_ratio"] == "cpu"


def test_a_user_profile_role_is_validated() -> None:
    from monitord.errors import ConfigError

    text = """
snmp:
  modules:
    vendor:
      scalars:
        columns: {load: 1.3.6.1.4.1.99999.1.1.0}
        metrics:
          - {name: monitord_vendor_cpu_ratio, kind: gauge, value: load,
             help: "vendor CPU", roles: [interface_counter]}
targets:
  - {name: a, address: 127.0.0.1, collectors: {snmp: {community: "${C}", modules: [vendor]}}}
"""
    with pytest.raises(ConfigError) as err:
        parse_config_text(
            text, "t.yaml", COLLECTORS, Shared(), {"C": "public"}, checks=CONFIG_CHECKS
        )
    found = [i for i in err.value.issues if "unknown role 'interface_counter'" in i.message]
    assert any(i.field.startswith("snmp.modules.vendor") and i.line == 9 for i in found), found


def test_the_prometheus_report_source_reads_what_the_collectors_declare() -> None:
    """The Prometheus source reads series through the declared roles (the same index as
    the recorder), and names a series' collector after the collector declaring it."""
    from monitord.reports.prometheus import PrometheusSource
    from tests.contract.declared import declared_traits

    src = PrometheusSource("http://127.0.0.1:9", collectors=declared_traits())
    assert src.roles == declared_roles()
    assert src.roles.gauges["monitord_host_filesystem_used_bytes"] == ("fs_used", "mountpoint")
    assert src.roles.object_dists == {"monitord_service_up": ("service_up", "service")}
    assert src.roles.gauge_meta == {
        "monitord_tls_info": ("tls_not_after", ("issuer", "version")),
        "monitord_database_info": ("db_connections", ("engine", "version")),
    }
    owners = {
        n: src.owners[n]
        for n in (
            "monitord_icmp_rtt_seconds",
            "monitord_host_cpu_utilization_ratio",
            "monitord_host_failed_logins_total",
            "monitord_service_up",
            "monitord_interface_in_bytes_total",
            "monitord_tls_cert_not_after_timestamp_seconds",
        )
    }
    assert owners == {
        "monitord_icmp_rtt_seconds": "icmp",
        "monitord_host_cpu_utilization_ratio": "host",  # host before agent in the registry
        "monitord_host_failed_logins_total": "agent",
        "monitord_service_up": "agent",
        # host (its own NICs) is registered before snmp; an interface's collector is not
        # shown by any report
        "monitord_interface_in_bytes_total": "host",
        "monitord_tls_cert_not_after_timestamp_seconds": "http",
    }
    # without declarations it reads nothing but the runner's own series
    assert PrometheusSource("http://127.0.0.1:9").roles.consumed() == frozenset()


def test_capabilities_replace_kind_checks() -> None:
    from monitord.types import FetchesInventory, InventoryFromPoll, RunsChecks

    text = """
targets:
  - {name: a, address: 127.0.0.1, collectors: {
      agent: {token: "${T}", allow_plain_http: true}, snmp: {community: "${C}"},
      tcp: {must_be_closed: [23]}, icmp: {}}}
"""
    env = {"T": "t" * 32, "C": "public"}
    cfg = parse_config_text(text, "t.yaml", COLLECTORS, Shared(), env)
    built = {cc.kind: cc.collector for cc in cfg.targets[0].collectors}
    assert isinstance(built["agent"], FetchesInventory)
    assert built["agent"].inventory_every == 60
    assert isinstance(built["snmp"], InventoryFromPoll)
    assert isinstance(built["tcp"], RunsChecks)
    assert built["tcp"].checks == ("ports.must_be_closed", "ports.must_be_open")
    for kind, col in built.items():
        assert isinstance(col, FetchesInventory) == (kind == "agent"), kind
        assert isinstance(col, InventoryFromPoll) == (kind == "snmp"), kind
        assert isinstance(col, RunsChecks) == (kind == "tcp"), kind
