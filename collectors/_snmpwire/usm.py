"""SNMPv3 User-based Security Model (RFC 3414): keys, digests and privacy (pure, no I/O).

- Keys: password to key (RFC 3414 A.2, one megabyte of hashing) and localisation to an
  engine ID (A.2.2); `UsmCache` keeps the hashed passwords and the localised keys, so
  the megabyte is hashed once per password (and Reeder's extension once per engine),
  never per request.
- Authentication: HMAC-MD5-96 and HMAC-SHA-96 (RFC 3414), HMAC-SHA-2 (RFC 7860:
  SHA-224/256/384/512 with 128/192/256/384-bit MACs), with `hashlib`/`hmac`.
- Privacy with `cryptography`: CBC-DES (RFC 3414 8), 3DES-EDE (draft-reeder-snmpv3-usm-
  3desede), CFB128-AES-128 (RFC 3826), and AES-192/256 with either key extension:
  Blumenthal's (draft-blumenthal-aes-usm-04, net-snmp's AES-192/AES-256: `AES192`,
  `AES256`) or Reeder's (net-snmp's AES-192-C/AES-256-C, Cisco's: `AES192C`, `AES256C`).

Protocols are named by the strings of `client.AuthProtocol`/`client.PrivProtocol` (this
module does not import the client). Errors are `UsmError`; messages never hold a key.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import random
from dataclasses import dataclass, field
from typing import Final

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "AUTH",
    "PRIV",
    "AuthSpec",
    "EngineRecord",
    "PrivSpec",
    "UserKeys",
    "UsmCache",
    "UsmError",
    "decrypt",
    "encrypt",
    "hash_password",
    "localize",
    "localized_keys",
    "sign",
]

_MEGABYTE: Final = 1_048_576


class UsmError(ValueError):
    """A privacy or key operation failed (bad lengths, unknown protocol)."""


@dataclass(frozen=True, slots=True)
class AuthSpec:
    """An authentication protocol: its hash and the length of the MAC on the wire."""

    hash: str
    mac_length: int


@dataclass(frozen=True, slots=True)
class PrivSpec:
    """A privacy protocol: cipher, key length, and how a short localised key is extended."""

    cipher: str  # "des", "3des" or "aes"
    key_length: int
    extension: str = ""  # "", "blumenthal" or "reeder"


AUTH: Final[dict[str, AuthSpec]] = {
    "MD5": AuthSpec("md5", 12),
    "SHA": AuthSpec("sha1", 12),
    "SHA224": AuthSpec("sha224", 16),
    "SHA256": AuthSpec("sha256", 24),
    "SHA384": AuthSpec("sha384", 32),
    "SHA512": AuthSpec("sha512", 48),
}
PRIV: Final[dict[str, PrivSpec]] = {
    "DES": PrivSpec("des", 16),
    "3DES": PrivSpec("3des", 32, "reeder"),
    "AES": PrivSpec("aes", 16),
    "AES192": PrivSpec("aes", 24, "blumenthal"),
    "AES256": PrivSpec("aes", 32, "blumenthal"),
    "AES192C": PrivSpec("aes", 24, "reeder"),
    "AES256C": PrivSpec("aes", 32, "reeder"),
}


def hash_password(password: bytes, hash_name: str) -> bytes:
    """RFC 3414 A.2: hash the password repeated to one megabyte (Ku, not yet localised)."""
    if not password:
        raise UsmError("an empty password cannot make a key")
    stream = password * (_MEGABYTE // len(password) + 1)
    return hashlib.new(hash_name, stream[:_MEGABYTE]).digest()


def localize(key: bytes, engine_id: bytes, hash_name: str) -> bytes:
    """RFC 3414 A.2: Kul = H(Ku || engineID || Ku)."""
    return hashlib.new(hash_name, key + engine_id + key).digest()


@dataclass(frozen=True, slots=True)
class UserKeys:
    """A user's localised keys for one engine; never printed."""

    auth: bytes = field(repr=False)
    priv: bytes = field(repr=False)


def localized_keys(
    engine_id: bytes,
    auth_protocol: str,
    auth_password: bytes,
    priv_protocol: str,
    priv_password: bytes,
    hashed: dict[tuple[str, bytes], bytes] | None = None,
) -> UserKeys:
    """The localised auth key and (extended) priv key of a user for `engine_id`.

    `hashed` memoises `hash_password` per (hash, password) across engines.
    """
    spec = AUTH.get(auth_protocol)
    if spec is None:
        raise UsmError(f"unknown auth protocol {auth_protocol!r}")
    memo = hashed if hashed is not None else {}

    def ku(password: bytes) -> bytes:
        k = memo.get((spec.hash, password))
        if k is None:
            k = memo[(spec.hash, password)] = hash_password(password, spec.hash)
        return k

    auth = localize(ku(auth_password), engine_id, spec.hash)
    if not priv_protocol:
        return UserKeys(auth, b"")
    pspec = PRIV.get(priv_protocol)
    if pspec is None:
        raise UsmError(f"unknown priv protocol {priv_protocol!r}")
    priv = localize(ku(priv_password), engine_id, spec.hash)
    while len(priv) < pspec.key_length:
        if pspec.extension == "blumenthal":  # Kul || H(Kul) || H(Kul || H(Kul)) ...
            priv += hashlib.new(spec.hash, priv).digest()
        elif pspec.extension == "reeder":  # the localised key is the next password
            priv += localize(hash_password(priv, spec.hash), engine_id, spec.hash)
        else:
            raise UsmError(f"{priv_protocol} needs a longer key than {auth_protocol} makes")
    return UserKeys(auth, priv[: pspec.key_length])


def sign(auth_protocol: str, key: bytes, message: bytes) -> bytes:
    """The truncated HMAC of `message` (computed with a zeroed msgAuthenticationParameters)."""
    spec = AUTH[auth_protocol]
    return hmac.digest(key, message, spec.hash)[: spec.mac_length]


def encrypt(
    priv_protocol: str, key: bytes, boots: int, engine_time: int, salt: int, plaintext: bytes
) -> tuple[bytes, bytes]:
    """Encrypt a scoped PDU; return (ciphertext, msgPrivacyParameters)."""
    cipher = PRIV[priv_protocol].cipher
    if cipher == "aes":
        params = salt.to_bytes(8, "big")
        iv = boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + params
        enc = Cipher(algorithms.AES(key), CFB(iv)).encryptor()
        return enc.update(plaintext) + enc.finalize(), params
    params = boots.to_bytes(4, "big") + (salt & 0xFFFFFFFF).to_bytes(4, "big")
    padded = plaintext + bytes(-len(plaintext) % 8)
    enc = _des(cipher, key, params).encryptor()
    return enc.update(padded) + enc.finalize(), params


def decrypt(
    priv_protocol: str, key: bytes, boots: int, engine_time: int, params: bytes, data: bytes
) -> bytes:
    """Decrypt an encryptedPDU; raise UsmError when the lengths are impossible."""
    if len(params) != 8:
        raise UsmError("msgPrivacyParameters must be 8 octets")
    cipher = PRIV[priv_protocol].cipher
    if cipher == "aes":
        iv = boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + params
        dec = Cipher(algorithms.AES(key), CFB(iv)).decryptor()
        return dec.update(data) + dec.finalize()
    if not data or len(data) % 8:
        raise UsmError("a DES-encrypted PDU is a whole number of 8-octet blocks")
    dec = _des(cipher, key, params).decryptor()
    return dec.update(data) + dec.finalize()


def _des(cipher: str, key: bytes, salt: bytes) -> Cipher[modes.CBC]:
    """CBC-DES (RFC 3414 8.1.1.1) or 3DES-EDE (Reeder): IV = salt XOR pre-IV."""
    if cipher == "des":
        des_key, pre_iv = key[:8] * 3, key[8:16]  # EDE with one key is single DES
    else:
        des_key, pre_iv = key[:24], key[24:32]
    iv = bytes(a ^ b for a, b in zip(salt, pre_iv, strict=True))
    return Cipher(TripleDES(des_key), modes.CBC(iv))


@dataclass(slots=True)
class EngineRecord:
    """What we know of one authoritative engine (RFC 3414 2.3: boots, time and when)."""

    engine_id: bytes
    boots: int
    time: int
    learned: float  # monotonic seconds when (boots, time) was received
    synced: bool  # (boots, time) came in an authenticated message

    def now(self, monotonic: float) -> tuple[int, int]:
        """The engine's (boots, time) now, by our clock."""
        return self.boots, min(0x7FFFFFFF, self.time + int(monotonic - self.learned))


class UsmCache:
    """Shared by every v3 session: engines per agent address, hashed and localised keys.

    Keys are cached by (engine ID, protocols, passwords); the passwords are only kept
    in memory, never printed (the cache has no repr of its contents).
    """

    def __init__(self) -> None:
        self.engines: dict[object, EngineRecord] = {}
        self._hashed: dict[tuple[str, bytes], bytes] = {}
        self._keys: dict[tuple[bytes, str, bytes, str, bytes], UserKeys] = {}
        self._salts = itertools.count(random.getrandbits(63))

    def __repr__(self) -> str:
        return f"<UsmCache engines={len(self.engines)} keys={len(self._keys)}>"

    def keys(
        self,
        engine_id: bytes,
        auth_protocol: str,
        auth_password: bytes,
        priv_protocol: str,
        priv_password: bytes,
    ) -> UserKeys:
        """The localised keys, derived on first use for this engine and cached."""
        k = (engine_id, auth_protocol, auth_password, priv_protocol, priv_password)
        keys = self._keys.get(k)
        if keys is None:
            keys = self._keys[k] = localized_keys(*k, hashed=self._hashed)
        return keys

    def salt(self) -> int:
        """A fresh 64-bit salt (a counter from a random start, as RFC 3826 suggests)."""
        return next(self._salts) & 0xFFFFFFFFFFFFFFFF
