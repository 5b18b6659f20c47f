"""Shared rate limits: a GCRA leaky bucket and a leased counting semaphore, in Redis or in-process.

Both providers count per account (Bitrix24: per portal and source IP; QuickBooks: per realm), not
per worker process, so the state lives in Redis where every worker sees it. The embedded mode has
one process, and the in-process variants give the same guarantees there.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

import redis

RATE_PREFIX = "qb24:rate:"
SLOT_PREFIX = "qb24:slots:"
PRUNE_AT = 10_000  # in-process bucket keys kept before the full (idle) ones are dropped

# GCRA with reservation: the caller is given the instant its request may go, and that instant
# (the theoretical arrival time) advances by one emission interval per request. Redis' own clock
# is used so that workers with skewed clocks still share one timeline.
_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - burst * interval - now
if wait < 0 then wait = 0 end
if wait > max_wait then return {0, tostring(wait)} end
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return {1, tostring(wait)}
"""

# Leases are members of a sorted set scored by their expiry, so a worker that dies holding a
# slot loses it after lease_seconds instead of shrinking the pool for ever.
_LEASE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local lease = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
local want = math.ceil(lease * 1000) + 1000
if redis.call('PTTL', KEYS[1]) < want then redis.call('PEXPIRE', KEYS[1], want) end
return 1
"""


class RateLimitWait(RuntimeError):
    """Waiting for a slot would take longer than allowed; try again after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limit: retry after {retry_after:.3f}s")
        self.retry_after = retry_after


class SlotWait(RateLimitWait):
    """No concurrency slot came free within the allowed wait."""


class RateLimiter(Protocol):
    def acquire(self, key: str, max_wait: float) -> float:
        """Wait for a slot under `key`; return the seconds waited or raise RateLimitWait."""


class LeakyBucket:
    """In-process GCRA bucket: `burst` requests at once, then `rate_per_s` per second, per key."""

    def __init__(self, rate_per_s: float, burst: int, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval, self.burst, self.sleep = 1.0 / rate_per_s, burst, sleep
        self._guard = threading.Lock()
        self._tat: dict[str, float] = {}

    def acquire(self, key: str, max_wait: float) -> float:
        with self._guard:
            now = time.monotonic()
            if len(self._tat) >= PRUNE_AT:
                # A key whose theoretical arrival time has passed is a full bucket, the same as no
                # entry: dropping it keeps per-client keys (one per address) from growing for ever.
                self._tat = {k: tat for k, tat in self._tat.items() if tat > now}
            new_tat = max(self._tat.get(key, now), now) + self.interval
            wait = max(0.0, new_tat - self.burst * self.interval - now)
            if wait > max_wait:
                raise RateLimitWait(wait)
            self._tat[key] = new_tat
        if wait:
            self.sleep(wait)
        return wait


class RedisLeakyBucket:
    """The same GCRA bucket kept in Redis, so every worker process draws from one bucket per key."""

    def __init__(self, client: redis.Redis, rate_per_s: float, burst: int,
                 *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval, self.burst, self.sleep = 1.0 / rate_per_s, burst, sleep
        self._script = client.register_script(_GCRA_LUA)

    def acquire(self, key: str, max_wait: float) -> float:
        allowed, wait_text = self._script(keys=[RATE_PREFIX + key], args=[self.interval, self.burst, max_wait])
        wait = float(wait_text)
        if not int(allowed):
            raise RateLimitWait(wait)
        if wait:
            self.sleep(wait)
        return wait


def make_limiter(redis_client: redis.Redis | None, rate: float, burst: int) -> RateLimiter:
    """A Redis-shared bucket when a Redis is configured, else a process-local one."""
    if redis_client is None:
        return LeakyBucket(rate, burst)
    return RedisLeakyBucket(redis_client, rate, burst)


class ConcurrencyLimit:
    """In-process counting semaphore per key: at most `max_concurrent` holders at a time."""

    def __init__(self, max_concurrent: int, lease_seconds: float = 120.0) -> None:
        self.max_concurrent, self.lease_seconds = max_concurrent, lease_seconds
        self._cond = threading.Condition()
        self._held: dict[str, int] = {}

    @contextmanager
    def slot(self, key: str, max_wait: float = 30.0) -> Iterator[None]:
        """Hold one of the key's slots for the duration of the block."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._held.get(key, 0) < self.max_concurrent, max_wait):
                raise SlotWait(max_wait)
            self._held[key] = self._held.get(key, 0) + 1
        try:
            yield
        finally:
            with self._cond:
                self._held[key] -= 1
                self._cond.notify_all()


class RedisConcurrencyLimit:
    """Counting semaphore shared by all workers; each slot is a lease that expires if not released.

    A block that runs longer than `lease_seconds` may lose its slot to another worker, so choose a
    lease above the longest call (the HTTP read timeout plus margin).
    """

    def __init__(self, client: redis.Redis, max_concurrent: int, lease_seconds: float = 120.0,
                 *, poll: float = 0.02) -> None:
        self.client, self.max_concurrent, self.lease_seconds, self.poll = client, max_concurrent, lease_seconds, poll
        self._script = client.register_script(_LEASE_LUA)

    def try_take(self, key: str) -> str | None:
        """Take a slot without waiting; return its lease token, or None if all are held."""
        token = uuid.uuid4().hex
        taken = self._script(keys=[SLOT_PREFIX + key], args=[self.lease_seconds, self.max_concurrent, token])
        return token if int(taken) else None

    @contextmanager
    def slot(self, key: str, max_wait: float = 30.0) -> Iterator[None]:
        """Hold one of the key's slots for the duration of the block."""
        deadline, delay = time.monotonic() + max_wait, self.poll
        while (token := self.try_take(key)) is None:
            if time.monotonic() + delay > deadline:
                raise SlotWait(delay)
            time.sleep(delay)  # no wake-up signal survives a dead holder, so poll with backoff
            delay = min(delay * 2, 0.25)
        try:
            yield
        finally:
            self.client.zrem(SLOT_PREFIX + key, token)


def make_concurrency_limit(redis_client: redis.Redis | None, max_concurrent: int,
                           lease_seconds: float = 120.0) -> ConcurrencyLimit | RedisConcurrencyLimit:
    """A Redis-shared semaphore when a Redis is configured, else a process-local one."""
    if redis_client is None:
        return ConcurrencyLimit(max_concurrent, lease_seconds)
    return RedisConcurrencyLimit(redis_client, max_concurrent, lease_seconds)
