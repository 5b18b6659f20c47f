"""Cross-worker coordination: named locks in Redis, or in-process locks in the embedded mode.

Token refreshes must run one at a time per portal or realm across every worker, so the lock
lives where all workers can see it. Without Redis (demo, laptop) there is one process, and a
process-local lock gives the same guarantee.
"""
from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import Protocol

import redis

KEY_PREFIX = "qb24:lock:"


class LockTimeout(RuntimeError):
    """The lock could not be taken within the allowed wait."""


class Locks(Protocol):
    def hold(self, name: str, *, timeout: float = 30.0, wait: float = 30.0) -> AbstractContextManager[None]:
        """Hold the named lock (auto-released after `timeout` s); raise LockTimeout after `wait` s."""


class RedisLocks:
    """redis-py's Lock (token-checked release, expiry so a dead worker cannot wedge a realm)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def hold(self, name: str, *, timeout: float = 30.0, wait: float = 30.0) -> AbstractContextManager[None]:
        return _RedisHold(self.client.lock(KEY_PREFIX + name, timeout=timeout, blocking_timeout=wait))


class _RedisHold:
    def __init__(self, lock: redis.lock.Lock) -> None:
        self.lock = lock

    def __enter__(self) -> None:
        if not self.lock.acquire():
            raise LockTimeout(self.lock.name)

    def __exit__(self, *exc: object) -> None:
        try:
            self.lock.release()
        except redis.exceptions.LockNotOwnedError:
            pass  # expired while held: the holder's work is done, nothing to release


class LocalLocks:
    """Process-local named locks for the embedded single-process mode."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def hold(self, name: str, *, timeout: float = 30.0, wait: float = 30.0) -> AbstractContextManager[None]:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        return _LocalHold(lock, name, wait)


class _LocalHold:
    def __init__(self, lock: threading.Lock, name: str, wait: float) -> None:
        self.lock, self.name, self.wait = lock, name, wait

    def __enter__(self) -> None:
        if not self.lock.acquire(timeout=self.wait):
            raise LockTimeout(self.name)

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def locks_for(redis_client: redis.Redis | None) -> Locks:
    """Redis-backed locks when a Redis is configured, else process-local ones."""
    return RedisLocks(redis_client) if redis_client is not None else LocalLocks()
