"""Eight workers whose access token expired at once: exactly one refresh, no invalid_grant."""
from __future__ import annotations

import multiprocessing

import pytest

from qb24.sandboxes import start_qbo_sandbox
from store.crypto import TokenCipher
from store.db import make_engine, make_session_factory, migrate
from tests.clients.qbo_harness import connect
from tests.clients.qbo_refresh_worker import read_customer
from tests.services import REDIS_URL

WORKERS = 8


@pytest.fixture
def postgres_url():
    from tests.services import postgres_schema

    with postgres_schema() as url:
        yield url


@pytest.mark.parametrize("expired_by", ["server", "clock"])
def test_eight_workers_one_refresh(redis, postgres_url, expired_by):
    sandbox = start_qbo_sandbox(auto_approve=True)
    key = TokenCipher.generate_key()
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    try:
        connected = connect(sandbox, make_session_factory(engine), TokenCipher(key))
        _expire(sandbox, connected, expired_by)
        before = sandbox.control("stats", method="GET")
        context = multiprocessing.get_context("spawn")
        barrier = context.Manager().Barrier(WORKERS)
        args = (postgres_url, key, connected.realm_id, sandbox.discovery_url, sandbox.api_base, REDIS_URL, barrier)
        with context.Pool(WORKERS) as pool:
            outcomes = pool.map(read_customer, [args] * WORKERS)
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
