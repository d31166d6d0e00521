"""Issue 15 against the real host agent: slow clients (slowloris), an idle-connection
flood and early disconnects. The agent runs as a subprocess on loopback
(`start_agent`, tests/collectors/conftest.py)."""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from collections.abc import Callable

from tests.collectors.test_agent_server import TOKEN, AgentProc, metric


def _good_request(agent: AgentProc) -> bool:
    try:
        return agent.request("/metrics", TOKEN)[0] == 200
    except (OSError, http.client.HTTPException):
        return False


def test_slow_clients_are_dropped_at_the_request_deadline(
    start_agent: Callable[..., AgentProc],
) -> None:
    agent = start_agent({"max_connections": 16, "request_timeout": "2s"})
    stop = threading.Event()
    dropped_after: list[float] = []

    def slowloris() -> None:
        # Never finishes its headers: one byte every 0.3 s (each read well inside a
        # per-read timeout, so only a whole-request deadline drops it).
        s = socket.create_connection(("127.0.0.1", agent.port), timeout=10)
        t0 = time.monotonic()
        try:
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
            while not stop.wait(0.3):
                s.sendall(b"X-a: b\r\n")
        except OSError:
            dropped_after.append(time.monotonic() - t0)
        finally:
            s.close()

    slow = [threading.Thread(target=slowloris, daemon=True) for _ in range(16)]
    for t in slow:
        t.start()
    time.sleep(0.5)  # all 16 slots taken
    answered = attempts = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 8:
        attempts += 1
        answered += _good_request(agent)
        time.sleep(0.25)
    stop.set()
    for t in slow:
        t.join(10)
    # Every slow client was dropped near the 2 s deadline, not kept for the whole attack.
    assert len(dropped_after) == 16, dropped_after
    assert max(dropped_after) < 5, dropped_after
    # The good client was refused only while the slots were held (about 2 s of 8).
    assert answered >= attempts // 2, (answered, attempts)
    text = agent.metrics()
    rejected = metric(text, "monitord_http_connections_rejected_total", server="agent")
    assert rejected is not None and rejected >= 1
    assert agent.stop() == 0
    assert "Traceback" not in agent.log()


def test_idle_flood_and_early_disconnects_are_counted_quietly(
    start_agent: Callable[..., AgentProc],
) -> None:
    agent = start_agent({"max_connections": 16, "request_timeout": "2s"})
    idle: list[socket.socket] = []
    try:
        for _ in range(500):
            idle.append(socket.create_connection(("127.0.0.1", agent.port), timeout=10))
        for i in range(40):
            s = socket.create_connection(("127.0.0.1", agent.port), timeout=10)
            s.sendall(b"GET /metrics HTTP/1.1\r\nAuthorization: Bearer " + TOKEN.encode())
            if i % 2:  # reset in the middle of the request
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 10
    while not _good_request(agent):
        assert time.monotonic() < deadline, "agent never answered again after the flood"
        time.sleep(0.2)
    rejected = metric(agent.metrics(), "monitord_http_connections_rejected_total", server="agent")
    assert rejected is not None and rejected >= 400, rejected
    assert agent.stop() == 0
    log = agent.log()
    assert "Traceback" not in log and "Exception occurred" not in log, log[-3000:]
