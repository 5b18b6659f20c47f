"""A worker process for the concurrent-refresh test: own engine, own client, shared Redis lock."""
from __future__ import annotations

import redis

from clients.coordination import locks_for
from clients.quickbooks_errors import QuickBooksError
from store.crypto import TokenCipher
from store.db import make_engine, make_session_factory
from store.tokens import SqlRealmTokens
from tests.clients.qbo_harness import Connected, oauth_for


def read_customer(args: tuple[str, str, str, str, str, str, object]) -> str:
    """Wait at the barrier, then read customer 1; return 'ok' or the error's type name."""
    database_url, key, realm_id, discovery_url, api_base, redis_url, barrier = args
    engine = make_engine(database_url)
    connected = Connected(realm_id, oauth_for(discovery_url),
                          SqlRealmTokens(make_session_factory(engine), TokenCipher(key)), api_base)
    client = connected.client(locks=locks_for(redis.Redis.from_url(redis_url)))
    barrier.wait(30)
    try:
        client.get("Customer", "1")
        return "ok"
    except QuickBooksError as exc:
        return type(exc).__name__
    finally:
        engine.dispose()
