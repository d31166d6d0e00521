"""USM keys, digests and ciphers (collectors/_snmpwire/usm.py): RFC vectors, pysnmp as the reference."""

from __future__ import annotations

import hashlib

import pytest
from pyasn1.type import univ
from pysnmp.entity import config as pconfig
from pysnmp.proto.secmod.eso.priv import aes192, aes256, des3
from pysnmp.proto.secmod.rfc3414 import localkey
from pysnmp.proto.secmod.rfc3414.priv import des
from pysnmp.proto.secmod.rfc3826.priv import aes

from collectors._snmpwire import usm
from collectors._snmpwire.usm import (
    AUTH,
    PRIV,
    UsmCache,
    UsmError,
    decrypt,
    encrypt,
    hash_password,
    localize,
    localized_keys,
    sign,
)
from collectors.snmp.client import AuthProtocol, PrivProtocol

ENGINE = bytes.fromhex("000000000000000000000002")


@pytest.mark.parametrize(
    ("hash_name", "ku", "kul"),
    [
        (
            "md5",
            "9faf3283884e92834ebc9847d8edd963",
            "526f5eed9fcce26f8964c2930787d82b",
        ),
        (
            "sha1",
            "9fb5cc0381497b3793528939ff788d5d79145211",
            "6695febc9288e36282235fc7151f128497b38f3f",
        ),
    ],
    ids=["md5", "sha1"],
)
def test_password_to_key_matches_rfc3414_a3(hash_name: str, ku: str, kul: str) -> None:
    """RFC 3414 A.3.1/A.3.2: password "maplesyrup", engine ID 00...02."""
    assert hash_password(b"maplesyrup", hash_name).hex() == ku
    assert localize(bytes.fromhex(ku), ENGINE, hash_name).hex() == kul


def test_protocol_tables_cover_the_config_names() -> None:
    assert set(AUTH) == {str(p) for p in AuthProtocol}
    assert set(PRIV) == {str(p) for p in PrivProtocol}
    # RFC 7860 4.2.2: SHA-224/256/384/512 MACs are 16/24/32/48 octets; RFC 3414: 12.
    assert {k: v.mac_length for k, v in AUTH.items()} == {
        "MD5": 12,
        "SHA": 12,
        "SHA224": 16,
        "SHA256": 24,
        "SHA384": 32,
        "SHA512": 48,
    }


# The config's names → pysnmp's services (the mapping client.py gives pysnmp).
_AUTH_OIDS = {
    "MD5": pconfig.USM_AUTH_HMAC96_MD5,
    "SHA": pconfig.USM_AUTH_HMAC96_SHA,
    "SHA224": pconfig.USM_AUTH_HMAC128_SHA224,
    "SHA256": pconfig.USM_AUTH_HMAC192_SHA256,
    "SHA384": pconfig.USM_AUTH_HMAC256_SHA384,
    "SHA512": pconfig.USM_AUTH_HMAC384_SHA512,
}
_PRIV_SERVICES = {
    "DES": des.Des(),
    "3DES": des3.Des3(),
    "AES": aes.Aes(),
    "AES192": aes192.AesBlumenthal192(),
    "AES256": aes256.AesBlumenthal256(),
    "AES192C": aes192.Aes192(),
    "AES256C": aes256.Aes256(),
}
COMBOS = [(a, p) for a in _AUTH_OIDS for p in _PRIV_SERVICES]


@pytest.mark.parametrize(("auth", "priv"), COMBOS, ids=[f"{a}-{p}" for a, p in COMBOS])
def test_localized_keys_match_pysnmp(auth: str, priv: str) -> None:
    """SHA-2 (RFC 7860 has no vectors), Blumenthal and Reeder extensions: pysnmp's keys."""
    engine = bytes.fromhex("80001f8880e9630000d61ff449")
    keys = localized_keys(engine, auth, b"auth-pass-1", priv, b"priv-pass-2")
    hash_fn = getattr(hashlib, AUTH[auth].hash)
    theirs_auth = localkey.password_to_key(b"auth-pass-1", univ.OctetString(engine), hash_fn)
    assert keys.auth == bytes(theirs_auth)
    svc = _PRIV_SERVICES[priv]
    ku = svc.hash_passphrase(_AUTH_OIDS[auth], b"priv-pass-2")
    theirs = bytes(svc.localize_key(_AUTH_OIDS[auth], ku, univ.OctetString(engine)))
    assert keys.priv == theirs[: PRIV[priv].key_length]
    assert len(keys.priv) == PRIV[priv].key_length


@pytest.mark.parametrize(("auth", "priv"), COMBOS, ids=[f"{a}-{p}" for a, p in COMBOS])
def test_ciphers_interoperate_with_pysnmp(auth: str, priv: str) -> None:
    keys = localized_keys(ENGINE, auth, b"auth-pass-1", priv, b"priv-pass-2")
    plain = bytes(range(256)) * 3 + b"odd tail"
    svc = _PRIV_SERVICES[priv]
    boots, now = 7, 123456
    data, params = encrypt(priv, keys.priv, boots, now, 0x0123456789ABCDEF, plain)
    theirs = bytes(
        svc.decrypt_data(
            univ.OctetString(keys.priv),
            (boots, now, univ.OctetString(params)),
            univ.OctetString(data),
        )
    )
    assert theirs[: len(plain)] == plain  # DES pads to 8 octets
    enc, their_params = svc.encrypt_data(
        univ.OctetString(keys.priv), (boots, now, None), univ.OctetString(plain).asOctets()
    )
    ours = decrypt(priv, keys.priv, boots, now, bytes(their_params), bytes(enc))
    assert ours[: len(plain)] == plain
    assert data != plain[: len(data)]


@pytest.mark.parametrize(
    ("priv", "params", "data"),
    [
        ("AES", b"short", b"x" * 16),
        ("DES", b"12345678", b"x" * 15),
        ("3DES", b"12345678", b""),
    ],
    ids=["aes-salt-length", "des-partial-block", "3des-empty"],
)
def test_impossible_ciphertexts_are_usm_errors(priv: str, params: bytes, data: bytes) -> None:
    key = bytes(32)
    with pytest.raises(UsmError):
        decrypt(priv, key, 1, 1, params, data)


def test_sign_is_the_truncated_hmac() -> None:
    """RFC 7860 4.2.1 / RFC 3414 6.3.1: HMAC over the whole message, truncated."""
    import hmac

    key, msg = b"k" * 32, b"message with zeroed MAC"
    for name, spec in AUTH.items():
        mac = sign(name, key, msg)
        assert len(mac) == spec.mac_length
        assert mac == hmac.new(key, msg, spec.hash).digest()[: spec.mac_length]


def test_cache_hashes_each_password_once_for_many_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = usm.hash_password

    def counting(password: bytes, hash_name: str) -> bytes:
        calls.append(hash_name)
        return real(password, hash_name)

    monkeypatch.setattr(usm, "hash_password", counting)
    cache = UsmCache()
    engines = [bytes([0x80, 0, 0, 0, i]) for i in range(20)]
    for _ in range(3):  # three polls of twenty engines
        for e in engines:
            keys = cache.keys(e, "SHA", b"auth-pw", "AES", b"priv-pw")
    assert calls == ["sha1", "sha1"]  # one megabyte per password, not per engine or poll
    assert keys == localized_keys(engines[-1], "SHA", b"auth-pw", "AES", b"priv-pw")
    # Reeder's extension hashes the localised key: once per engine, still not per poll.
    calls.clear()
    for _ in range(3):
        for e in engines[:5]:
            cache.keys(e, "SHA", b"auth-pw", "AES256C", b"priv-pw")
    assert calls == ["sha1"] * 5


def test_keys_never_print() -> None:
    cache = UsmCache()
    keys = cache.keys(ENGINE, "SHA", b"auth-pw", "AES", b"priv-pw")
    text = repr(cache) + repr(keys) + str(keys)
    assert "auth-pw" not in text and keys.auth.hex() not in text and "priv-pw" not in text
    assert repr(keys.priv) not in text


def test_salts_are_unique() -> None:
    cache = UsmCache()
    salts = {cache.salt() for _ in range(1000)}
    assert len(salts) == 1000 and all(0 <= s < 1 << 64 for s in salts)


def test_des_priv_with_short_key_needs_no_extension_but_aes256_does() -> None:
    assert len(localized_keys(ENGINE, "MD5", b"password1", "DES", b"password2").priv) == 16
    assert len(localized_keys(ENGINE, "MD5", b"password1", "AES256", b"password2").priv) == 32
    with pytest.raises(UsmError):
        hash_password(b"", "sha1")
