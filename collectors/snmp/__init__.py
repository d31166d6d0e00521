"""SNMP collector (v1, v2c, v3 on a native codec and USM; pysnmp 7 as the alternative client).

Emits, per target (names and HELP in the `metrics` tables of collector.py, interfaces.py
and modules.py):
- system: `monitord_snmp_info{target,sysname,sysdescr,sysobjectid,syslocation}`,
  `monitord_device_uptime_seconds` (sysUpTime; its decrease marks a restart).
- interfaces, each `{target,ifindex,ifname}`: `monitord_interface_{in,out}_bytes_total`,
  `..._{in,out}_packets_total` (unicast), `..._{in,out}_errors_total`,
  `..._{in,out}_discards_total` (raw counters with bits and max_rate = speed),
  `monitord_interface_oper_up`, `monitord_interface_admin_up`,
  `monitord_interface_speed_bytes`, and `monitord_interface_info{...,ifalias,iftype}`.
- host_resources: `monitord_storage_{size,used}_bytes{storage}`, `monitord_storage_info`,
  `monitord_cpu_load_ratio{cpu}`, `monitord_device_os_uptime_seconds`,
  `monitord_device_users`, `monitord_device_processes`.
- ucd: `monitord_device_load{1,5,15}`, `monitord_device_memory_*_bytes`,
  `monitord_device_swap_*_bytes`, `monitord_device_cpu_seconds_total{mode}`.
- entity: `monitord_inventory_info{entity_index,class,name,descr,model,serial,...}`.
- lldp: `monitord_lldp_local_port_info`, `monitord_lldp_neighbor_info`.
- ups / ups_apc: `monitord_ups_on_battery`, `..._battery_low`, `..._on_battery_seconds`,
  `..._battery_runtime_seconds`, `..._battery_charge_ratio`,
  `..._battery_temperature_celsius`, `..._alarms`, `..._{input,output}_voltage_volts{line}`,
  `..._load_ratio{line}`, `monitord_ups_info`.
- identity (every device, label refresh): `monitord_device_info{vendor,os,version,model,
  serial}` from vendors.yaml (sysObjectID enterprise, sysDescr, vendor MIB, ENTITY-MIB).
- health (health.yaml; chosen when the device answers the profile's probe OID):
  `monitord_cpu_load_ratio{cpu}`, `monitord_memory_pool_{size,used}_bytes{pool}`,
  `..._used_ratio`, `monitord_temperature_celsius{sensor}` (+ `_high_celsius`, `_ok`),
  `monitord_fan_speed_rpm`, `monitord_fan_ok`, `monitord_power_supply_ok`,
  `monitord_{voltage_volts,current_amperes,power_watts}`,
  `monitord_printer_supply_level_ratio{supply}` (+ `_info`), `monitord_firewall_sessions`,
  `monitord_vpn_tunnel_up{tunnel}`, `monitord_wireless_clients{ssid,vap}`.
- self: `monitord_snmp_{requests,retries,timeouts,varbinds}_total`,
  `monitord_snmp_max_repetitions{table}`, `monitord_snmp_poll_partial`.
- user profiles (YAML under the top-level `snmp.modules:`): whatever they declare.

Series budget: a switch with P ports ≈ 12 x P + 10 (+ 1 per inventory item and LLDP
neighbour); a 48-port switch ≈ 590; a server ≈ 12 x interfaces + 3 x storage areas + 30;
health adds about 3 series per sensor, CPU and memory pool (a Cisco stack of 3 ≈ 40, an
iDRAC ≈ 35).
Needs no privileges; UDP to port 161 of the targets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Final

from collectors.snmp.collector import METRICS, SnmpCollector
from collectors.snmp.modules import ProfileSet, load_builtin_profiles, parse_profiles
from collectors.snmp.options import Options, resolve_credentials, validate_numbers
from monitord.config import parse_options
from monitord.errors import ConfigError, ConfigIssue
from monitord.types import MetricSpec, Shared

__all__ = ["KIND", "METRICS", "Options", "SnmpCollector", "build", "validate_settings"]

KIND: Final = "snmp"


def build(options: Mapping[str, object], shared: Shared) -> SnmpCollector:
    """Validate options (raise ConfigError naming the field) and construct the collector."""
    opts = parse_options(Options, options)
    issues = validate_numbers(opts)
    if issues:
        raise ConfigError(issues)
    settings = _settings(shared)
    auths = settings.get("auths")
    creds = resolve_credentials(opts, auths if isinstance(auths, Mapping) else None)
    # Parsed once per Shared and content: a reload with edited profiles parses them again.
    digest = _digest(settings.get("modules"))
    loaded = shared.get(f"snmp.profiles:{digest}", lambda: _ProfilesOrError.load(settings))
    if loaded.error is not None:
        raise ConfigError(
            [
                ConfigIssue("", 0, "profiles", f"in the top-level snmp.modules section: {i}")
                for i in loaded.error.issues
            ]
        )
    profiles = loaded.profiles
    chosen = opts.profiles if opts.profiles is not None else opts.modules
    if chosen is not None:
        field = "profiles" if opts.profiles is not None else "modules"
        unknown = [p for p in chosen if p not in profiles.profiles]
        if unknown:
            raise ConfigError(
                f"unknown profile {unknown[0]!r} (known: {', '.join(profiles.names())})",
                field=field,
            )
        if not chosen:
            raise ConfigError(
                "name at least one profile, or omit the key to choose by sysObjectID", field=field
            )
        chosen = tuple(dict.fromkeys(chosen))
    return SnmpCollector(opts, creds, profiles, chosen, shared, loaded.extra, digest)


def validate_settings(section: Mapping[str, object]) -> list[ConfigIssue]:
    """Check the top-level `snmp:` section ({auths, modules}); issues name fields inside it."""
    issues: list[ConfigIssue] = []
    for key in section:
        if key not in ("auths", "modules"):
            issues.append(ConfigIssue("", 0, str(key), "unknown key (known: auths, modules)"))
    loaded = _ProfilesOrError.load(section)
    if loaded.error is not None:
        issues.extend(loaded.error.issues)
    auths = section.get("auths") or {}
    if not isinstance(auths, Mapping):
        issues.append(ConfigIssue("", 0, "auths", "expected a mapping of auth name → credentials"))
        return issues
    for name in auths:
        try:
            resolve_credentials(Options(auth=str(name)), auths)
        except ConfigError as exc:
            issues.extend(ConfigIssue("", 0, f"auths.{name}", i.message) for i in exc.issues)
    return issues


class _ProfilesOrError:
    """Built-in plus user profiles, parsed once per `Shared` (or the error, kept)."""

    def __init__(
        self, profiles: ProfileSet, extra: tuple[MetricSpec, ...], error: ConfigError | None
    ) -> None:
        self.profiles = profiles
        self.extra = extra
        self.error = error

    @classmethod
    def load(cls, settings: Mapping[str, object]) -> _ProfilesOrError:
        builtin = load_builtin_profiles()
        try:
            user = parse_profiles(settings.get("modules"), where="modules", reserved=METRICS)
        except ConfigError as exc:
            return cls(ProfileSet(builtin), (), exc)
        clash = sorted(set(user) & set(builtin))
        if clash:
            err = ConfigError(
                f"profile name {clash[0]!r} is built in; choose another name",
                field=f"modules.{clash[0]}",
            )
            return cls(ProfileSet(builtin), (), err)
        known = {s.name for s in METRICS}
        extra: dict[str, MetricSpec] = {}
        for p in user.values():
            for spec in p.specs():
                if spec.name not in known:
                    extra.setdefault(spec.name, spec)
        return cls(ProfileSet({**builtin, **user}), tuple(extra.values()), None)


def _digest(modules: object) -> str:
    text = json.dumps(modules, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _settings(shared: Shared) -> Mapping[str, object]:
    raw = shared.settings.get("snmp")
    return raw if isinstance(raw, Mapping) else {}
