"""Fixtures of the deploy tests: one real stack (snmpsim, monitord, Prometheus) per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.deploy.stack import Stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The running stack, with a few polls already scraped and rules evaluated."""
    with Stack(tmp_path_factory.mktemp("stack")) as s:
        s.wait_warm()
        yield s
