"""Eight workers whose access token expired at once: exactly one refresh, no invalid_grant."""
from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from multiprocessing.pool import Pool
from typing import Any

import pytest

from qb24.sandboxes import start_qbo_sandbox
from store.crypto import TokenCipher
from store.db import make_engine, make_session_factory, migrate
from tests.clients.qbo_harness import connect
from tests.clients.qbo_refresh_worker import read_customer
from tests.services import REDIS_URL, postgres_schema

WORKERS = 8


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture(scope="module")
def workers() -> Iterator[tuple[Pool, Any]]:
    """Eight spawned processes and a barrier server, started once: spawning is most of the cost."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(WORKERS) as pool:
        yield pool, manager


@pytest.mark.parametrize("expired_by", ["server", "clock"])
def test_eight_workers_one_refresh(redis, postgres_url, workers, expired_by):
    sandbox = start_qbo_sandbox(auto_approve=True)
    key = TokenCipher.generate_key()
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    try:
        connected = connect(sandbox, make_session_factory(engine), TokenCipher(key))
        _expire(sandbox, connected, expired_by)
        before = sandbox.control("stats", method="GET")
        pool, manager = workers
        # every task waits at the barrier, so each of the eight processes takes exactly one
        barrier = manager.Barrier(WORKERS)
        args = (postgres_url, key, connected.realm_id, sandbox.discovery_url, sandbox.api_base, REDIS_URL, barrier)
        outcomes = pool.map(read_customer, [args] * WORKERS, chunksize=1)
        after = sandbox.control("stats", method="GET")
    finally:
        engine.dispose()
        sandbox.stop()
    assert outcomes == ["ok"] * WORKERS
    assert _refreshes(after) - _refreshes(before) == 1
    assert _invalid_grants(after) == _invalid_grants(before) == 0


def _expire(sandbox, connected, expired_by: str) -> None:
    """Expire on the server (workers learn it from a 401) or in our store (workers see it on the clock)."""
    if expired_by == "server":
        sandbox.control("tokens/expire", {"realm_id": connected.realm_id})
        return
    from dataclasses import replace
    from datetime import datetime, timedelta, timezone

    tokens = connected.tokens.load(connected.realm_id)
    connected.tokens.save(replace(tokens, access_expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))


def _refreshes(stats: dict) -> int:
    return stats["token_grants"].get("refresh_token", 0)


def _invalid_grants(stats: dict) -> int:
    return stats.get("invalid_grant", 0)
