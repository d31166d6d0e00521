"""The local control endpoint of a running daemon, and `monitord silence add|list|remove`.

Transport: a Unix socket, `<data_dir>/control.sock`, mode 0600, one JSON request line
and one JSON answer line per connection. Authentication is the kernel's: the socket file
is reachable only by the daemon's user, and the server also checks the peer's
credentials (SO_PEERCRED) and answers only the daemon's own uid or root. Nothing
listens on the network.

Requests: `{"op": "silence.add", "targets": [...], "sites": [...], "tags": [...],
"alertnames": [...], "starts_at": unix, "ends_at": unix, "comment": "...",
"created_by": "..."}`, `{"op": "silence.list"}`, `{"op": "silence.remove", "id": "..."}`,
`{"op": "alerts.list"}`. Answers: `{"ok": true, ...}` or `{"ok": false, "error": "..."}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import socket
import stat
import struct
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from monitord.alerts.engine import AlertEngine
from monitord.configtypes import parse_duration

__all__ = ["SOCKET_NAME", "ControlServer", "add_parser", "request", "run", "socket_path"]

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
_MAX_REQUEST = 64 * 1024
_PEERCRED = struct.Struct("3i")


def socket_path(data_dir: str | Path) -> Path:
    """Where the daemon with this data directory listens."""
    return Path(data_dir) / SOCKET_NAME


class ControlServer:
    """Serves control requests for one `AlertEngine` on a Unix socket."""

    def __init__(self, path: Path, engine: AlertEngine, clock: Callable[[], float] = time.time):
        self.path = path
        self.engine = engine
        self.clock = clock
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen (a stale socket file left by a crash is replaced; a live one is an error)."""
        if self.path.exists() or self.path.is_symlink():
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise OSError(f"{self.path} exists and is not a socket")
            if _alive(self.path):
                raise OSError(f"another monitord is listening on {self.path}")
            self.path.unlink()
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._handle, str(self.path), limit=_MAX_REQUEST
            )
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def aclose(self) -> None:
        """Stop listening and remove the socket file."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            sock = writer.get_extra_info("socket")
            _, uid, _ = _PEERCRED.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
            )
            if uid not in (os.getuid(), 0):
                log.warning("control request refused uid=%d", uid)
                answer: dict[str, Any] = {"ok": False, "error": "permission denied"}
            else:
                async with asyncio.timeout(5):
                    line = await reader.readline()
                answer = self._answer(line)
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, OSError, ValueError) as exc:
            log.debug("control connection failed: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError("expected a JSON object")
            op = req.get("op")
            store = self.engine.silences
            now = self.clock()
            if op == "silence.add":
                s = store.add(
                    starts_at=float(req.get("starts_at") or now),
                    ends_at=float(req["ends_at"]),
                    targets=_strs(req, "targets"),
                    sites=_strs(req, "sites"),
                    tags=_strs(req, "tags"),
                    alertnames=_strs(req, "alertnames"),
                    comment=str(req.get("comment", "")),
                    created_by=str(req.get("created_by", "")),
                )
                log.info("silence added id=%s by=%s until=%.0f", s.id, s.created_by, s.ends_at)
                self.engine.poke()
                return {"ok": True, "silence": s.to_dict()}
            if op == "silence.list":
                return {"ok": True, "silences": [s.to_dict() for s in store.list(now)]}
            if op == "silence.remove":
                sid = str(req.get("id", ""))
                if not store.remove(sid, now):
                    return {"ok": False, "error": f"no silence with id {sid!r}"}
                log.info("silence removed id=%s", sid)
                self.engine.poke()
                return {"ok": True}
            if op == "alerts.list":
                keys = ("alertname", "target", "severity", "muted")
                return {
                    "ok": True,
                    "alerts": [dict(zip(keys, a, strict=True)) for a in self.engine.active()],
                }
            return {"ok": False, "error": f"unknown op {op!r}"}
        except (ValueError, KeyError, TypeError) as exc:
            return {"ok": False, "error": f"bad request: {exc}"}
        except OSError as exc:
            return {"ok": False, "error": f"cannot save silences: {exc.strerror}"}


def request(path: Path, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one request to the daemon's socket; raise OSError when it cannot be reached."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(json.dumps(payload).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n") and len(buf) < 4 * _MAX_REQUEST:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    answer = json.loads(buf or b"{}")
    if not isinstance(answer, dict):
        raise ValueError("the daemon sent an invalid answer")
    return answer


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `monitord silence ...` on the CLI's subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "silence",
        help="add, list or remove alert silences in the running daemon",
        description="Mute alerts at run time (they are still recorded for the report).",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "-c",
        "--config",
        default="config/monitord.yaml",
        help="config file, to find daemon.data_dir (default: %(default)s)",
    )
    where.add_argument("--socket", help="the daemon's control socket (<data_dir>/control.sock)")
    sub = p.add_subparsers(dest="silence_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a silence")
    add.add_argument("--target", action="append", default=[], help="target name (repeatable)")
    add.add_argument("--site", action="append", default=[], help="site (repeatable)")
    add.add_argument("--tag", action="append", default=[], help="target tag (repeatable)")
    add.add_argument("--alertname", action="append", default=[], help="alert (repeatable)")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--for", dest="duration", help="how long, e.g. 2h or 30m")
    when.add_argument("--until", help="end, local time, e.g. 2026-12-06T02:00")
    add.add_argument("--comment", default="", help="why (shown in list and the report)")
    sub.add_parser("list", help="list silences not yet expired")
    rm = sub.add_parser("remove", help="remove a silence")
    rm.add_argument("id", help="the silence id shown by add and list")
    return p


def run(args: argparse.Namespace) -> int:
    """Run `monitord silence ...`; 0 on success, 1 on any failure (message on stderr)."""
    try:
        path = Path(args.socket) if args.socket else socket_path(_data_dir(args.config))
        payload = _payload(args)
        answer = request(path, payload)
    except (OSError, ValueError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"monitord silence: {detail}", file=sys.stderr)
        if isinstance(exc, OSError):
            print("is the daemon running, and are you its user or root?", file=sys.stderr)
        return 1
    if not answer.get("ok"):
        print(f"monitord silence: {answer.get('error', 'failed')}", file=sys.stderr)
        return 1
    if "silence" in answer:
        s = answer["silence"]
        print(f"silence {s['id']} until {_local(s['ends_at'])}")
    elif "silences" in answer:
        print(f"{'ID':8}  {'FROM':16}  {'UNTIL':16}  {'MATCHES':40}  COMMENT")
        for s in answer["silences"]:
            print(
                f"{s['id']:8}  {_local(s['starts_at']):16}  {_local(s['ends_at']):16}  "
                f"{_matchers(s):40}  {s['comment']}"
            )
    else:
        print("removed")
    return 0


def _payload(args: argparse.Namespace) -> dict[str, Any]:
    cmd = args.silence_command
    if cmd == "list":
        return {"op": "silence.list"}
    if cmd == "remove":
        return {"op": "silence.remove", "id": args.id}
    now = time.time()
    if args.duration:
        ends = now + parse_duration(args.duration)
    else:
        try:
            ends = datetime.fromisoformat(args.until).astimezone().timestamp()
        except ValueError:
            raise ValueError(f"invalid --until {args.until!r}: e.g. 2026-12-06T02:00") from None
    if not (args.target or args.site or args.tag or args.alertname):
        raise ValueError("give at least one of --target, --site, --tag, --alertname")
    return {
        "op": "silence.add",
        "starts_at": now,
        "ends_at": ends,
        "targets": args.target,
        "sites": args.site,
        "tags": args.tag,
        "alertnames": args.alertname,
        "comment": args.comment,
        "created_by": os.environ.get("SUDO_USER") or getpass.getuser(),
    }


def _data_dir(config: str) -> Path:
    """daemon.data_dir of a config file, read without resolving secrets."""
    try:
        data = yaml.safe_load(Path(config).read_text("utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{config}: invalid YAML: {exc}") from None
    daemon = data.get("daemon") if isinstance(data, dict) else None
    value = daemon.get("data_dir") if isinstance(daemon, dict) else None
    return Path(str(value) if value else "./var")


def _alive(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def _strs(req: dict[str, Any], key: str) -> list[str]:
    value = req.get(key) or []
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list")
    return [str(v) for v in value]


def _local(ts: object) -> str:
    """A time for people; `?` for anything that is not a usable Unix time."""
    try:
        return datetime.fromtimestamp(float(ts)).strftime("%Y-%m-%d %H:%M")  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"


def _matchers(s: dict[str, Any]) -> str:
    parts = [
        f"{k[:-1]}={','.join(s[k])}" for k in ("targets", "sites", "tags", "alertnames") if s.get(k)
    ]
    return " ".join(parts)
