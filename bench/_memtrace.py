"""Run `python -m monitord ...` under tracemalloc, for `bench/daemon.py --profile-memory`.

    python bench/_memtrace.py REPORT_FILE run -c monitord.yaml

SIGUSR1 (the bench sends it after its warm-up) starts tracing with MEMTRACE_DEPTH frames
(default 4; 0: no tracing); SIGUSR2 writes REPORT_FILE: the resident memory, the top
allocations made since SIGUSR1 and still alive, by file:line and by traceback (after a
full poll cycle that is what the polls keep: the state, the caches, the history's
windows), the most numerous live object types, and pymalloc's arenas. Tracing costs CPU
and memory (about 2x while it runs): the CPU and RSS figures of a traced run are not the
daemon's.
"""

from __future__ import annotations

import collections
import gc
import linecache
import os
import signal
import sys
import tempfile
import tracemalloc
from pathlib import Path
from types import FrameType

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

_TOP = 30


def _filtered(snap: tracemalloc.Snapshot) -> tracemalloc.Snapshot:
    return snap.filter_traces(
        (
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, linecache.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        )
    )


def _short(name: str) -> str:
    for root in (str(REPO) + "/", sys.prefix + "/lib/"):
        if name.startswith(root):
            return name[len(root) :]
    return name.split("site-packages/")[-1]


def _on_usr1(_sig: int, _frame: FrameType | None) -> None:
    depth = int(os.environ.get("MEMTRACE_DEPTH", "4"))
    if depth > 0:  # trace from now on: what is live at SIGUSR2 was allocated since
        tracemalloc.start(depth)


def _untraced_report() -> list[str]:
    """Without tracing: the GC's object counts and pymalloc's arenas (MEMTRACE_DEPTH=0)."""
    rss = psutil.Process().memory_info().rss
    out = [f"RSS {rss / 2**20:.1f} MB (not traced)"]
    with tempfile.TemporaryFile() as f:  # the stats go to fd 2: point it at a file
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read()
    out += [
        "  pymalloc: " + line.strip()
        for line in text.decode().splitlines()
        if "arenas" in line or "Total" in line or "bytes in" in line
    ]
    return out


def _on_usr2(_sig: int, _frame: FrameType | None) -> None:
    if not tracemalloc.is_tracing():
        out = _untraced_report()
        # Without tracing: sizes by type of the GC's objects and of what they point to
        # directly (ints, floats, strings, bytes are not tracked by the GC themselves).
        seen: set[int] = set()
        sizes: collections.Counter[str] = collections.Counter()
        counts: collections.Counter[str] = collections.Counter()
        for o in gc.get_objects():
            for x in (o, *gc.get_referents(o)):
                if id(x) in seen:
                    continue
                seen.add(id(x))
                name = type(x).__qualname__
                sizes[name] += sys.getsizeof(x)
                counts[name] += 1
        out += ["", "largest types, GC objects and their direct referents (getsizeof):"]
        out += [
            f"  {size / 2**20:8.2f} MB {counts[name]:>9}  {name}"
            for name, size in sizes.most_common(25)
        ]
        _write(out)
        return
    snap = _filtered(tracemalloc.take_snapshot())
    traced, peak = tracemalloc.get_traced_memory()
    overhead = tracemalloc.get_tracemalloc_memory()
    tracemalloc.stop()  # the report itself is not traced
    rss = psutil.Process().memory_info().rss
    out: list[str] = [
        *_untraced_report(),
        f"RSS {rss / 2**20:.1f} MB (with tracemalloc's own overhead "
        f"{overhead / 2**20:.1f} MB); traced Python allocations since SIGUSR1 "
        f"{traced / 2**20:.1f} MB, peak {peak / 2**20:.1f} MB",
        "",
        f"top {_TOP} live allocations by file:line:",
    ]
    for st in snap.statistics("lineno")[:_TOP]:
        fr = st.traceback[0]
        out.append(
            f"  {st.size / 2**20:8.2f} MB {st.count:>9} blocks  {_short(fr.filename)}:{fr.lineno}"
        )
    out += ["", f"top {_TOP // 2} live allocations by traceback (innermost last):"]
    for st in snap.statistics("traceback")[: _TOP // 2]:
        out.append(f"  {st.size / 2**20:8.2f} MB {st.count:>9} blocks")
        for fr in list(st.traceback)[-6:]:
            out.append(f"      {_short(fr.filename)}:{fr.lineno}")
    counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
    out += ["", "most numerous objects tracked by the GC:"]
    out += [f"  {n:>9}  {name}" for name, n in counts.most_common(20)]
    modules = sorted(sys.modules)
    out += ["", f"{len(modules)} modules imported; heavy ones present:"]
    heavy = ("weasyprint", "jinja2", "pysnmp", "pyasn1", "psycopg", "pymysql", "oracledb")
    out.append("  " + " ".join(h for h in heavy if h in sys.modules))
    _write(out)


def _write(out: list[str]) -> None:
    tmp = Path(sys.argv[1] + ".tmp")
    tmp.write_text("\n".join(out) + "\n")
    tmp.replace(sys.argv[1])  # the bench waits for the name: whole or nothing


def main() -> None:
    signal.signal(signal.SIGUSR1, _on_usr1)
    signal.signal(signal.SIGUSR2, _on_usr2)
    from monitord.cli import main as monitord_main

    sys.exit(monitord_main(sys.argv[2:]))


if __name__ == "__main__":
    main()
