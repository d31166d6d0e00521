"""Driver modules imported on first use, so a daemon without such targets never loads them.

`lazy_module("psycopg")` returns the module object at once and runs its code on the first
attribute access (`importlib.util.LazyLoader`); psycopg alone adds about 9 MB to a daemon
that polls no PostgreSQL server. A collector's `build()` calls `load()` so that the real
import happens at config load, in the main thread, never first inside a worker thread.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

__all__ = ["lazy_module", "load"]


def lazy_module(name: str) -> ModuleType:
    """The top-level module `name`, executed on first attribute access."""
    found = sys.modules.get(name)
    if found is not None:
        return found
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def load(module: ModuleType) -> ModuleType:
    """Run a lazy module's code now (nothing when it already ran)."""
    getattr(module, "__doc__", None)  # any attribute access loads it
    return module
