"""Trap PDUs as net-snmp's snmptrap sends them, decoded; broken datagrams refused by reason."""

from __future__ import annotations

import random

import pytest

from collectors._snmpwire.ber import decode_response
from collectors.events.traps import (
    PDU_INFORM,
    PDU_TRAP_V1,
    PDU_TRAP_V2,
    TrapError,
    decode_trap,
    inform_response,
)
from tests.collectors.events.senders import capture_trap

V2 = ["-v", "2c", "-c", "public"]
LINK_DOWN = [
    "", "1.3.6.1.6.3.1.1.5.3",
    "1.3.6.1.2.1.2.2.1.1.7", "i", "7",
    "1.3.6.1.2.1.2.2.1.2.7", "s", "GigabitEthernet0/7",
    "1.3.6.1.2.1.2.2.1.8.7", "i", "2",
]  # fmt: skip


def test_v2c_link_down_from_snmptrap() -> None:
    trap = decode_trap(capture_trap(V2, ["4242", *LINK_DOWN[1:]]))
    assert trap.version == 1 and trap.pdu == PDU_TRAP_V2
    assert trap.community == b"public"
    assert trap.trap_oid == (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
    assert trap.uptime == 4242
    assert trap.varbinds == {
        "1.3.6.1.2.1.2.2.1.1.7": "7",
        "1.3.6.1.2.1.2.2.1.2.7": "GigabitEthernet0/7",
        "1.3.6.1.2.1.2.2.1.8.7": "2",
    }


@pytest.mark.parametrize(
    ("generic", "specific", "oid"),
    [
        ("0", "0", (1, 3, 6, 1, 6, 3, 1, 1, 5, 1)),  # coldStart
        ("2", "0", (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)),  # linkDown
        ("4", "0", (1, 3, 6, 1, 6, 3, 1, 1, 5, 5)),  # authenticationFailure
        ("6", "17", (1, 3, 6, 1, 4, 1, 9, 0, 17)),  # enterprise-specific (RFC 3584 §3.1)
    ],
    ids=["coldStart", "linkDown", "authenticationFailure", "enterprise-specific"],
)
def test_v1_traps_are_translated_to_v2_trap_oids(generic: str, specific: str, oid: tuple) -> None:
    data = capture_trap(
        ["-v", "1", "-c", "s3cret"],
        ["1.3.6.1.4.1.9", "127.0.0.42", generic, specific, "100",
         "1.3.6.1.2.1.2.2.1.1.3", "i", "3"],
    )  # fmt: skip
    trap = decode_trap(data)
    assert trap.version == 0 and trap.pdu == PDU_TRAP_V1
    assert trap.community == b"s3cret"
    assert trap.agent_addr == "127.0.0.42"
    assert trap.trap_oid == oid
    assert trap.uptime == 100
    assert trap.varbinds["1.3.6.1.2.1.2.2.1.1.3"] == "3"
    assert trap.varbinds["enterprise"] == "1.3.6.1.4.1.9"


def test_value_types_are_rendered_as_text() -> None:
    trap = decode_trap(
        capture_trap(
            V2,
            ["", "1.3.6.1.4.1.99.0.1",
             "1.3.6.1.4.1.99.1", "a", "127.0.0.9",
             "1.3.6.1.4.1.99.2", "c", "4000000000",
             "1.3.6.1.4.1.99.3", "o", "1.3.6.1.4.1.99.7",
             "1.3.6.1.4.1.99.4", "x", "00ff10",
             "1.3.6.1.4.1.99.5", "i", "-5"],
        )
    )  # fmt: skip
    assert trap.varbinds == {
        "1.3.6.1.4.1.99.1": "127.0.0.9",
        "1.3.6.1.4.1.99.2": "4000000000",
        "1.3.6.1.4.1.99.3": "1.3.6.1.4.1.99.7",
        "1.3.6.1.4.1.99.4": "00:ff:10",
        "1.3.6.1.4.1.99.5": "-5",
    }


def test_inform_response_echoes_request_id_and_varbinds() -> None:
    # snmpinform's datagram, captured the same way, is answered with a Response PDU
    import socket
    import subprocess

    from tests.collectors.events.senders import tool

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        port = s.getsockname()[1]
        proc = subprocess.Popen(
            [tool("snmpinform"), *V2, "-r", "0", "-t", "5", f"udp:127.0.0.1:{port}", "",
             "1.3.6.1.6.3.1.1.5.1", "1.3.6.1.2.1.1.5.0", "s", "sw-7"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            data, addr = s.recvfrom(65535)
            trap = decode_trap(data)
            assert trap.pdu == PDU_INFORM
            reply = inform_response(trap)
            s.sendto(reply, addr)
            _, err = proc.communicate(timeout=10)
            assert proc.returncode == 0, err
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    resp = decode_response(reply)
    assert resp.request_id == trap.request_id and resp.error_status == 0
    assert [oid for oid, _, _ in resp.varbinds][-1] == (1, 3, 6, 1, 2, 1, 1, 5, 0)


def test_every_truncation_is_malformed_never_another_error() -> None:
    data = capture_trap(V2, ["", *LINK_DOWN[1:]])
    for n in range(len(data)):
        with pytest.raises(TrapError) as exc:
            decode_trap(data[:n])
        assert exc.value.reason == "malformed", n


def test_random_garbage_is_refused_by_reason() -> None:
    rng = random.Random(18)
    base = capture_trap(V2, ["", *LINK_DOWN[1:]])
    reasons = set()
    for _ in range(3000):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            decode_trap(bytes(data))
        except TrapError as exc:
            reasons.add(exc.reason)
    for _ in range(500):
        blob = bytes(rng.randrange(256) for _ in range(rng.randint(0, 80)))
        with pytest.raises(TrapError):
            decode_trap(blob)
    assert "malformed" in reasons


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes.fromhex("300b020103040470756220a200"), "unsupported_version"),
        (bytes.fromhex("30100201010406707562"), "malformed"),
        (bytes.fromhex("301002010104067075626c6963a703020100"), "malformed"),
    ],
    ids=["v3", "short", "bad-pdu"],
)
def test_refusals(data: bytes, reason: str) -> None:
    with pytest.raises(TrapError) as exc:
        decode_trap(data)
    assert exc.value.reason == reason


def test_get_request_is_not_a_trap() -> None:
    from collectors._snmpwire.ber import PduType, encode_request

    data = encode_request(1, b"public", PduType.GET, 7, [(1, 3, 6, 1, 2, 1, 1, 3, 0)])
    with pytest.raises(TrapError) as exc:
        decode_trap(data)
    assert exc.value.reason == "not_a_trap"
