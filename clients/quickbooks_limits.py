"""QuickBooks' per-realm limits, enforced on our side across every worker (reference §6).

Intuit allows 500 requests/minute and 10 concurrent requests per realm and app; going over
costs a 429 and a 60 s wait. A leaky bucket a little under the minute rate plus a concurrency
lease keeps all workers together inside both limits.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from clients.ratelimit import make_concurrency_limit, make_limiter

CONCURRENT = 10
# rate*60 + burst must stay ≤ 500 in any minute: 480/min drained, 10 in a burst.
SAFE_RATE_PER_S = 480 / 60
SAFE_BURST = 10
MAX_WAIT = 30.0


class QboGate:
    """`with gate(realm_id):` waits for a slot under both limits, then holds a concurrency lease."""

    def __init__(self, redis_client: redis.Redis | None, *, rate_per_s: float = SAFE_RATE_PER_S,
                 burst: int = SAFE_BURST, concurrent: int = CONCURRENT) -> None:
        self.bucket = make_limiter(redis_client, rate_per_s, burst)
        self.concurrency = make_concurrency_limit(redis_client, concurrent)

    @contextmanager
    def __call__(self, realm_id: str, max_wait: float = MAX_WAIT) -> Iterator[None]:
        self.bucket.acquire(f"qbo:{realm_id}", max_wait)
        with self.concurrency.slot(f"qbo:{realm_id}", max_wait):
            yield
