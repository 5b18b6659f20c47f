"""Done means: worker processes sharing the Redis limiter and locks never overrun a portal's bucket,
finish every call, and rotate an expired token exactly once between them."""
from __future__ import annotations

import multiprocessing
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone
from multiprocessing.pool import Pool
from typing import Any

import pytest
import redis

from bench.b24_workers import RedisTokens
from clients.bitrix24_auth import PortalAuth
from sandbox.bitrix24.sandbox import Bitrix24Sandbox
from tests.clients.b24_worker import SPEEDUP, worker
from tests.clients.test_bitrix24_sandbox import control, new_portal
from tests.services import redis_client


def run_workers(workers: tuple[Pool, Any], member_id: str, key: str, processes: int, calls: int,
                shared_limiter: bool = True) -> list[dict]:
    pool, manager = workers
    # every task waits at the barrier, so `processes` distinct processes of the pool run them
    args = (member_id, key, calls, shared_limiter, manager.Barrier(processes))
    reports = pool.map(worker, [args] * processes, chunksize=1)
    assert all("error" not in r for r in reports), reports
    return reports


@pytest.fixture(scope="module")
def workers() -> Iterator[tuple[Pool, Any]]:
    """Eight spawned worker processes and a barrier server, started once: spawning is most of the cost."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(8) as pool:
        yield pool, manager


@pytest.fixture(scope="module")
def r() -> redis.Redis:
    return redis_client()  # skips, or fails under QB24_REQUIRE_SERVICES=1 (CI)


@pytest.fixture(scope="module")
def sb() -> Iterator[Bitrix24Sandbox]:
    sandbox = Bitrix24Sandbox().start()
    yield sandbox
    sandbox.stop()


def stored(r: redis.Redis, auth: PortalAuth) -> str:
    key = f"test:b24tokens:{uuid.uuid4().hex}"
    RedisTokens(r, key).save(auth)
    r.delete(f"{key}:saves")
    return key


@pytest.mark.redis
def test_four_workers_never_overrun_the_portal_and_finish_every_call(sb, r, workers) -> None:
    auth = new_portal(sb, speedup=SPEEDUP)
    reports = run_workers(workers, auth.member_id, stored(r, auth), processes=4, calls=35)
    statuses = sum((Counter(rep["statuses"]) for rep in reports), Counter())
    assert sum(rep["done"] for rep in reports) == 140
    assert statuses[503] == 0 and statuses[200] == 140, statuses


@pytest.mark.redis
def test_control_without_the_shared_bucket_the_portal_overflows(sb, r, workers) -> None:
    """The same load with one private bucket per process does trip the portal: the test above can fail."""
    auth = new_portal(sb, speedup=SPEEDUP)
    reports = run_workers(workers, auth.member_id, stored(r, auth), processes=4, calls=35, shared_limiter=False)
    statuses = sum((Counter(rep["statuses"]) for rep in reports), Counter())
    assert statuses[503] > 0 and sum(rep["done"] for rep in reports) == 140  # retried, not lost


@pytest.mark.redis
@pytest.mark.parametrize("how", ["expires_at passed", "portal answers expired_token"])
def test_eight_workers_with_an_expired_token_refresh_exactly_once(sb, r, workers, how: str) -> None:
    auth = new_portal(sb)
    control(sb, "/expire-tokens", {"member_id": auth.member_id})
    if how == "expires_at passed":
        auth = replace(auth, expires_at=datetime.now(timezone.utc))
    key = stored(r, auth)
    reports = run_workers(workers, auth.member_id, key, processes=8, calls=2)
    assert sum(rep["done"] for rep in reports) == 16
    assert int(r.get(f"{key}:saves")) == 1
    # in-process look at the sandbox: one pair from the install, one from the single refresh
    with sb.state.lock:
        issued = [t for t in sb.state.tokens.values() if t.member_id == auth.member_id]
    assert len(issued) == 2
    assert RedisTokens(r, key).load(auth.member_id).access_token == max(issued, key=lambda t: t.expires).access_token
