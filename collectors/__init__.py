"""The collectors, looked up by the key used in the config.

Registration is this explicit table: adding a collector is one import and one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from collectors import host
from monitord.types import CollectorFactory

__all__ = ["COLLECTORS"]

COLLECTORS: Final[Mapping[str, CollectorFactory]] = {
    host.KIND: host.build,
}
