"""The worker process of test_bitrix24_workers.py, kept apart so spawned children import little:
this module, the client and redis, and nothing of Flask or the sandbox."""
from __future__ import annotations

import logging
from typing import Any

import redis

from bench.b24_workers import APP, RedisTokens, StatusCounter
from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_auth import PLANS
from clients.coordination import locks_for
from clients.ratelimit import LeakyBucket, make_limiter
from tests.services import REDIS_URL

SPEEDUP = 10.0  # the sandbox drains 2/s * 10; the client's bucket is scaled the same way


def worker(args: tuple[str, str, int, bool, Any]) -> dict:
    """Make `calls` profile calls after the barrier; the outcome, or the error to fail the test with."""
    member_id, key, calls, shared_limiter, barrier = args
    r = redis.Redis.from_url(REDIS_URL)
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
        return {"done": done, "statuses": dict(counter.statuses), "retries": client.retries}
    except Exception as exc:
        return {"error": repr(exc)}
    finally:
        logger.removeHandler(counter)  # the pool's process runs the next test's worker too
        r.close()
