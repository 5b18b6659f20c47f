"""The worker process of test_bitrix24_workers.py, kept apart so spawned children import little.

No tests here: a child imports this module, the client and redis, and nothing of Flask or the sandbox.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict
from datetime import datetime

import redis

from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_auth import PLANS, AppCredentials, PortalAuth
from clients.coordination import locks_for
from clients.ratelimit import LeakyBucket, make_limiter

SPEEDUP = 10.0  # the sandbox drains 2/s * 10; the client's bucket is scaled the same way
# the sandbox's default app (sandbox.bitrix24.state), spelled out to keep the sandbox out of children
APP = AppCredentials("local.qb24sandbox.0000", "qb24-b24-sandbox-secret")


class RedisTokens:
    """PortalTokens shared by processes (the store layer's role), counting saves."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self.client, self.key = client, key

    def load(self, member_id: str) -> PortalAuth:
        data = json.loads(self.client.get(f"{self.key}:{member_id}"))
        return PortalAuth(**{**data, "expires_at": datetime.fromisoformat(data["expires_at"])})

    def save(self, auth: PortalAuth) -> None:
        data = {**asdict(auth), "expires_at": auth.expires_at.isoformat()}
        self.client.set(f"{self.key}:{auth.member_id}", json.dumps(data))
        self.client.incr(f"{self.key}:saves")


class StatusCounter(logging.Handler):
    """Counts the HTTP statuses the client logs on `b24.call`."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: Counter[int] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "b24.call":
            self.statuses[record.status] += 1


def worker(member_id: str, key: str, calls: int, shared_limiter: bool, barrier, out) -> None:
    r = redis.Redis(host="127.0.0.1", port=6379)
    limits = PLANS["basic"].client_side()
    limiter = (make_limiter(r, limits.rate * SPEEDUP, limits.burst) if shared_limiter
               else LeakyBucket(limits.rate * SPEEDUP, limits.burst))
    client = Bitrix24Client(member_id, RedisTokens(r, key), APP, locks_for(r), limiter, retry_budget=60)
    counter = StatusCounter()
    logger = logging.getLogger("clients.bitrix24")
    logger.addHandler(counter)
    logger.setLevel(logging.INFO)
    barrier.wait(timeout=60)
    try:
        done = sum(client.call("profile").result["ID"] == "1" for _ in range(calls))
        out.put({"done": done, "statuses": dict(counter.statuses), "retries": client.retries})
    except Exception as exc:  # reported to the parent, which fails the test with it
        out.put({"error": repr(exc)})
