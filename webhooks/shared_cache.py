"""Short-lived values every web process sees: in Redis, or in-process in the embedded mode.

The admin verdicts and the opening users' frame tokens (webhooks/admins.py) live here. Both are
worth keeping for seconds to an hour and harmless to lose: a missing entry only means asking
Bitrix24 again. A Redis error therefore counts as a miss, never as a failed request.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

import redis
from flask import current_app

from webhooks.runtime import runtime

log = logging.getLogger("qb24.web.cache")
KEY_PREFIX = "qb24:cache:"
LOCAL_LIMIT = 10_000  # entries kept in-process before the expired ones are swept


class SharedCache(Protocol):
    def get(self, key: str) -> str | None:
        """The value, or None when absent, expired or unreadable."""

    def put(self, key: str, value: str, ttl: float) -> None:
        """Keep `value` for `ttl` seconds (nothing is kept for ttl < 1 s)."""

    def delete(self, key: str) -> None:
        """Forget `key` (absent already: nothing happens)."""


class LocalCache:
    """One process's dict with deadlines (the embedded mode has one process)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._items: dict[str, tuple[str, float]] = {}

    def get(self, key: str) -> str | None:
        with self._guard:
            value, deadline = self._items.get(key, (None, 0.0))
            return value if deadline > time.monotonic() else None

    def put(self, key: str, value: str, ttl: float) -> None:
        if ttl < 1:
            return
        now = time.monotonic()
        with self._guard:
            if len(self._items) >= LOCAL_LIMIT:
                self._items = {k: v for k, v in self._items.items() if v[1] > now}
            self._items[key] = (value, now + ttl)

    def delete(self, key: str) -> None:
        with self._guard:
            self._items.pop(key, None)


class RedisCache:
    """SET … EX in Redis: shared by every web process, expired by Redis itself."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def get(self, key: str) -> str | None:
        try:
            value = self.client.get(KEY_PREFIX + key)
        except redis.RedisError as exc:
            log.warning("cache.unavailable", extra={"error": type(exc).__name__})
            return None
        return value.decode() if isinstance(value, bytes) else value

    def put(self, key: str, value: str, ttl: float) -> None:
        if ttl < 1:
            return
        try:
            self.client.set(KEY_PREFIX + key, value, ex=int(ttl))
        except redis.RedisError as exc:
            log.warning("cache.unavailable", extra={"error": type(exc).__name__})

    def delete(self, key: str) -> None:
        try:
            self.client.delete(KEY_PREFIX + key)
        except redis.RedisError as exc:
            log.warning("cache.unavailable", extra={"error": type(exc).__name__})


def shared_cache() -> SharedCache:
    """The app's cache: Redis when configured, else one in-process cache per app."""
    cache = current_app.extensions.get("qb24_shared_cache")
    if cache is None:
        client = runtime().redis
        # setdefault: two first requests at once still end up sharing one in-process cache
        cache = current_app.extensions.setdefault("qb24_shared_cache",
                                                  RedisCache(client) if client else LocalCache())
    return cache
