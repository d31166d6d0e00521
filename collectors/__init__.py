"""The collectors, looked up by the key used in the config.

Registration is the explicit table in collectors/registry.py: adding a collector is one
import and one line there. `COLLECTORS` is loaded on first use (PEP 562) so that the
host agent (`collectors.hostagent.server`) does not import every daemon collector.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitord.types import CollectorFactory

__all__ = ["COLLECTORS"]


def __getattr__(name: str) -> Mapping[str, CollectorFactory]:
    if name == "COLLECTORS":
        from collectors.registry import COLLECTORS

        return COLLECTORS
    raise AttributeError(f"module 'collectors' has no attribute {name!r}")
