"""The snmp collector's options, and their cross-field validation into credentials.

Credentials are given inline (`version`, `community`, `user`, `auth_protocol`,
`auth_key`, `priv_protocol`, `priv_key`, `context`) or by name with `auth: NAME`, an
entry of the top-level `snmp: {auths: {...}}` section (the snmp_exporter split; there
`username`, `auth_password`, `priv_password` and `context_name` are accepted as
spellings of `user`, `auth_key`, `priv_key` and `context`). Secrets are `${ENV}` or
`file:` references and are never put into a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from collectors.snmp.client import AuthProtocol, Community, Credentials, PrivProtocol, UsmUser
from monitord.config import Duration, SecretValue
from monitord.errors import ConfigError, ConfigIssue
from monitord.secrets import Secret, SecretError, resolve_secret

__all__ = [
    "CREDENTIAL_FIELDS",
    "MIN_COMMUNITY",
    "Options",
    "resolve_credentials",
    "validate_numbers",
]

# The inline credential options, in the order the snippets and errors list them.
CREDENTIAL_FIELDS: Final = (
    "community",
    "user",
    "auth_protocol",
    "auth_key",
    "priv_protocol",
    "priv_key",
    "context",
)

MIN_COMMUNITY: Final = 4  # characters; shorter communities are refused

_P = TypeVar("_P", AuthProtocol, PrivProtocol)

_VERSIONS: Final = {"1": 0, "v1": 0, "2": 1, "2c": 1, "v2c": 1, "3": 3, "v3": 3}
_AUTH_ALIASES: Final = {
    "MD5": AuthProtocol.MD5,
    "SHA": AuthProtocol.SHA,
    "SHA1": AuthProtocol.SHA,
    "SHA224": AuthProtocol.SHA224,
    "SHA256": AuthProtocol.SHA256,
    "SHA384": AuthProtocol.SHA384,
    "SHA512": AuthProtocol.SHA512,
}
_PRIV_ALIASES: Final = {
    "DES": PrivProtocol.DES,
    "3DES": PrivProtocol.TDES,
    "AES": PrivProtocol.AES,
    "AES128": PrivProtocol.AES,
    "AES192": PrivProtocol.AES192,
    "AES256": PrivProtocol.AES256,
    "AES192C": PrivProtocol.AES192C,
    "AES256C": PrivProtocol.AES256C,
}
_AUTH_KEYS: Final = {
    "version": "version",
    "community": "community",
    "user": "user",
    "username": "user",
    "auth_protocol": "auth_protocol",
    "auth_key": "auth_key",
    "auth_password": "auth_key",
    "priv_protocol": "priv_protocol",
    "priv_key": "priv_key",
    "priv_password": "priv_key",
    "context": "context",
    "context_name": "context",
    "security_level": "security_level",
}


@dataclass(frozen=True, slots=True)
class Options:
    """Options of the snmp collector; the defaults here are the documented defaults.

    - `version`: 1, 2c or 3. `port`: the agent's UDP port.
    - v1/v2c: `community` (a secret: `${ENV}` or `file:`).
    - v3: `user`, `auth_protocol` (MD5, SHA, SHA224, SHA256, SHA384, SHA512), `auth_key`,
      `priv_protocol` (DES, 3DES, AES = AES128, AES192, AES256; AES192C/AES256C for
      Cisco's key extension), `priv_key`, `context`. No auth_protocol: noAuthNoPriv.
    - `auth`: the name of an entry of the top-level `snmp.auths` instead of the above.
    - `profiles` (or its synonym `modules`): what to collect; omitted, chosen by
      sysObjectID/sysDescr (system, interfaces, entity, lldp always).
    - `max_repetitions`: GETBULK max-repetitions (shrinks per device on tooBig/timeouts).
    - `retries`, `request_timeout`: per request. `walk_budget`: the whole poll's own
      deadline; a slow device returns partial data when it runs out. Unset: the poll's
      `timeout` less a margin (10 %, at least 0.5 s), so it always ends before the
      runner cancels the poll; outside the daemon (probe), 4 s.
    - `label_refresh`: polls between re-walks of names/aliases/speeds and inventory.
    - `max_series`: series one poll of the device may return (its own self-metrics
      aside); `max_varbinds`: varbinds one poll may walk. Past either, the rest is
      dropped, the poll says `monitord_snmp_poll_partial` 1 and counts
      `monitord_snmp_limit_exceeded_total{limit}`: an agent that returns endless OIDs
      costs a bounded share of the daemon. The defaults fit a 500-port switch (about
      6,000 series; 9,000 varbinds on a label refresh) three times over.
    - `client`: `native` (own codec: v1/v2c, and v3 with its own USM) or `pysnmp`
      (pysnmp's engine).
    """

    version: str | int = "2c"
    port: int = 161
    community: SecretValue | None = None
    auth: str = ""
    user: str = ""
    auth_protocol: str = ""
    auth_key: SecretValue | None = None
    priv_protocol: str = ""
    priv_key: SecretValue | None = None
    context: str = ""
    profiles: tuple[str, ...] | None = None
    modules: tuple[str, ...] | None = None
    max_repetitions: int = 25
    retries: int = 1
    request_timeout: Duration = 1.0
    walk_budget: Duration | None = None
    label_refresh: int = 10
    max_series: int = 20_000
    max_varbinds: int = 50_000
    client: str = "native"


def validate_numbers(opts: Options) -> list[ConfigIssue]:
    """Range checks of the numeric options."""
    issues: list[ConfigIssue] = []

    def bad(field: str, message: str) -> None:
        issues.append(ConfigIssue("", 0, field, message))

    if not 0 < opts.port < 65536:
        bad("port", "must be between 1 and 65535")
    if not 1 <= opts.max_repetitions <= 200:
        bad("max_repetitions", "must be between 1 and 200")
    if not 0 <= opts.retries <= 10:
        bad("retries", "must be between 0 and 10")
    if opts.request_timeout > 60:
        bad("request_timeout", "must be at most 60s")
    if opts.walk_budget is not None and opts.walk_budget < opts.request_timeout:
        bad(
            "walk_budget",
            "must be at least request_timeout (keep it a little below the poll timeout)",
        )
    if not 1 <= opts.label_refresh <= 10_000:
        bad("label_refresh", "must be between 1 and 10000 polls")
    if not 10 <= opts.max_series <= 1_000_000:
        bad("max_series", "must be between 10 and 1000000")
    if not 100 <= opts.max_varbinds <= 10_000_000:
        bad("max_varbinds", "must be between 100 and 10000000")
    if opts.client not in ("native", "pysnmp"):
        bad("client", "expected native or pysnmp")
    if opts.profiles is not None and opts.modules is not None:
        bad("modules", "give profiles or modules (its synonym), not both")
    return issues


def resolve_credentials(opts: Options, auths: Mapping[str, object] | None) -> Credentials:
    """Build credentials from inline options or a named auth; raise ConfigError naming the field."""
    if opts.auth:
        inline = [f for f in CREDENTIAL_FIELDS if getattr(opts, f)]
        if inline:
            raise ConfigError(
                f"give either auth or inline credentials ({', '.join(inline)}), not both",
                field="auth",
            )
        known = sorted(auths or {})
        if not auths or opts.auth not in auths:
            hint = (
                f" (known: {', '.join(known)})"
                if known
                else " (the top-level snmp.auths section is empty)"
            )
            raise ConfigError(f"unknown auth {opts.auth!r}{hint}", field="auth")
        return _from_auth(opts, opts.auth, auths[opts.auth])
    return _build(
        field_prefix="",
        version=opts.version,
        community=opts.community,
        user=opts.user,
        auth_protocol=opts.auth_protocol,
        auth_key=opts.auth_key,
        priv_protocol=opts.priv_protocol,
        priv_key=opts.priv_key,
        context=opts.context,
    )


def _from_auth(opts: Options, name: str, entry: object) -> Credentials:
    where = f"auth {name!r} (snmp.auths.{name})"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a mapping", field="auth")
    values: dict[str, object] = {}
    for key, value in entry.items():
        canon = _AUTH_KEYS.get(str(key))
        if canon is None:
            raise ConfigError(
                f"{where}: unknown key {key!r} (known: {', '.join(sorted(_AUTH_KEYS))})",
                field="auth",
            )
        if canon in values:
            raise ConfigError(f"{where}: {key!r} given twice under two spellings", field="auth")
        values[canon] = value

    def secret(key: str) -> Secret | None:
        raw = values.get(key)
        if raw is None or raw == "":
            return None
        if isinstance(raw, Secret):
            return raw
        if not isinstance(raw, str):
            raise ConfigError(
                f"{where}: {key} must be a string (a ${{ENV}} or file: reference)", field="auth"
            )
        try:
            return resolve_secret(raw)
        except SecretError as exc:
            raise ConfigError(f"{where}: {key}: {exc}", field="auth") from None

    def text(key: str) -> str:
        raw = values.get(key, "")
        return "" if raw is None else str(raw)

    creds = _build(
        field_prefix=f"{where}: ",
        version=values.get("version", opts.version),  # type: ignore[arg-type]
        community=secret("community"),
        user=text("user"),
        auth_protocol=text("auth_protocol"),
        auth_key=secret("auth_key"),
        priv_protocol=text("priv_protocol"),
        priv_key=secret("priv_key"),
        context=text("context"),
        field="auth",
    )
    level = text("security_level")
    if level and isinstance(creds, UsmUser) and level.lower() != creds.security_level.lower():
        raise ConfigError(
            f"{where}: security_level {level} does not match the keys given "
            f"({creds.security_level})",
            field="auth",
        )
    return creds


def _build(
    *,
    field_prefix: str,
    version: str | int,
    community: Secret | None,
    user: str,
    auth_protocol: str,
    auth_key: Secret | None,
    priv_protocol: str,
    priv_key: Secret | None,
    context: str,
    field: str | None = None,
) -> Credentials:
    def fail(name: str, message: str) -> ConfigError:
        return ConfigError(f"{field_prefix}{message}", field=field or name)

    def protocol(name: str, value: str, aliases: Mapping[str, _P], expected: str) -> _P:
        found = aliases.get(value.upper().replace("-", "").replace("_", ""))
        if found is None:
            raise fail(name, f"unknown {name} {value!r} (expected {expected})")
        return found

    def check_key(protocol_field: str, key_field: str, key: Secret | None) -> None:
        if key is None:
            raise fail(key_field, f"{protocol_field} needs {key_field}")
        if len(key.reveal()) < 8:
            raise fail(key_field, f"{key_field} must be at least 8 characters (RFC 3414)")

    ver = _VERSIONS.get(str(version).lower())
    if ver is None:
        raise fail("version", f"unknown SNMP version {version!r} (expected 1, 2c or 3)")
    if ver in (0, 1):
        v3_fields = [
            n
            for n, v in (
                ("user", user),
                ("auth_protocol", auth_protocol),
                ("auth_key", auth_key),
                ("priv_protocol", priv_protocol),
                ("priv_key", priv_key),
                ("context", context),
            )
            if v
        ]
        if v3_fields:
            raise fail(
                v3_fields[0],
                f"{v3_fields[0]} is an SNMPv3 setting; this target uses version {version}",
            )
        if community is None or not community:
            raise fail(
                "community",
                f"version {version} needs a community (e.g. community: ${{SNMP_COMMUNITY}})",
            )
        if len(community.reveal()) < MIN_COMMUNITY:
            raise fail(
                "community",
                f"a community must be at least {MIN_COMMUNITY} characters (a shorter one is"
                " guessed at once, and its text would mask words in the log)",
            )
        return Community(ver, community)
    if community is not None:
        raise fail("community", "version 3 uses user and keys, not a community")
    if not user:
        raise fail("user", "version 3 needs a user")
    auth: AuthProtocol | None = None
    priv: PrivProtocol | None = None
    if auth_protocol:
        auth = protocol(
            "auth_protocol",
            auth_protocol,
            _AUTH_ALIASES,
            "MD5, SHA, SHA224, SHA256, SHA384 or SHA512",
        )
        check_key("auth_protocol", "auth_key", auth_key)
    elif auth_key is not None:
        raise fail("auth_protocol", "auth_key is given but auth_protocol is missing")
    if priv_protocol:
        priv = protocol(
            "priv_protocol",
            priv_protocol,
            _PRIV_ALIASES,
            "DES, 3DES, AES, AES192, AES256, AES192C or AES256C",
        )
        if auth is None:
            raise fail(
                "priv_protocol", "privacy needs authentication: set auth_protocol and auth_key too"
            )
        check_key("priv_protocol", "priv_key", priv_key)
    elif priv_key is not None:
        raise fail("priv_protocol", "priv_key is given but priv_protocol is missing")
    return UsmUser(user, auth, auth_key, priv, priv_key, context)
