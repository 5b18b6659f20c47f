"""Fixtures of the backend's web tests: the app served beside both sandboxes, and a browser session."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from qb24.stack import Stack, start_stack
from tests.webhooks.stack_support import running_stack


@pytest.fixture
def stack(tmp_path) -> Iterator[Stack]:
    running = start_stack(f"sqlite:///{tmp_path / 'web.db'}", worker=False)  # runs stay pending
    yield running
    running.stop()


@pytest.fixture
def browser() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture(params=["sqlite", "postgresql+redis"])
def dual_stack(request, tmp_path) -> Iterator[Stack]:
    """The stack embedded (SQLite, in-process caches) and as deployed (PostgreSQL and Redis)."""
    with running_stack(request.param, tmp_path) as running:
        yield running
