"""The shared limiters never let more than rate*t + burst through, across threads and processes."""
from __future__ import annotations

import multiprocessing
import threading
import time
import uuid

import pytest
import redis

from clients.ratelimit import (
    ConcurrencyLimit, LeakyBucket, RateLimitWait, RedisConcurrencyLimit, RedisLeakyBucket,
    SlotWait, make_concurrency_limit, make_limiter,
)
from tests.services import REDIS_URL, redis_client

RATE, BURST = 100.0, 10
JITTER = 0.015  # a thread may wake a little late after its reserved instant; never early


def assert_within_bucket(stamps: list[float], rate: float, burst: int) -> None:
    """Every window [t_i, t_j] holds at most rate * (t_j - t_i) + burst admissions."""
    stamps = sorted(stamps)
    for i in range(len(stamps)):
        for j in range(i, len(stamps)):
            allowed = rate * (stamps[j] - stamps[i] + JITTER) + burst
            assert j - i + 1 <= allowed, f"{j - i + 1} admissions in {stamps[j] - stamps[i]:.3f}s"


def _hammer(limiter, key: str, calls: int, out: list[float]) -> None:
    for _ in range(calls):
        limiter.acquire(key, max_wait=30)
        out.append(time.time())


def _run_threads(limiter, key: str, threads: int, calls: int) -> list[float]:
    stamps: list[float] = []
    workers = [threading.Thread(target=_hammer, args=(limiter, key, calls, stamps)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return stamps


def test_in_process_bucket_holds_across_threads() -> None:
    started = time.time()
    stamps = _run_threads(LeakyBucket(RATE, BURST), "portal-a", threads=6, calls=25)
    assert len(stamps) == 150
    assert_within_bucket(stamps, RATE, BURST)
    # and it is not merely slow: the last admission comes close to the bound, not far behind it
    assert time.time() - started < (150 - BURST) / RATE + 0.5


def test_redis_bucket_holds_across_threads(redis) -> None:
    stamps = _run_threads(RedisLeakyBucket(redis, RATE, BURST), f"t-{uuid.uuid4().hex}", 6, 25)
    assert len(stamps) == 150
    assert_within_bucket(stamps, RATE, BURST)


def _process_worker(key: str, calls: int, queue: multiprocessing.Queue) -> None:
    limiter = make_limiter(redis.Redis.from_url(REDIS_URL), RATE, BURST)
    stamps: list[float] = []
    _hammer(limiter, key, calls, stamps)
    queue.put(stamps)


def test_redis_bucket_holds_across_processes(redis) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue, key = ctx.Queue(), f"p-{uuid.uuid4().hex}"
    procs = [ctx.Process(target=_process_worker, args=(key, 40, queue)) for _ in range(4)]
    for proc in procs:
        proc.start()
    stamps = [stamp for _ in procs for stamp in queue.get(timeout=60)]
    for proc in procs:
        proc.join(timeout=10)
        assert proc.exitcode == 0
    assert len(stamps) == 160
    assert_within_bucket(stamps, RATE, BURST)


def test_keys_are_separate_buckets() -> None:
    limiter = LeakyBucket(1.0, 2)
    for key in ("a", "a", "b", "b"):
        assert limiter.acquire(key, max_wait=0) == 0.0
    with pytest.raises(RateLimitWait):
        limiter.acquire("a", max_wait=0)


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_wait_beyond_max_wait_raises_with_retry_after(kind: str) -> None:
    limiter = make_limiter(redis_client() if kind == "redis" else None, 2.0, 3)
    key = f"w-{uuid.uuid4().hex}"
    for _ in range(3):
        assert limiter.acquire(key, max_wait=0) == 0.0
    with pytest.raises(RateLimitWait) as caught:
        limiter.acquire(key, max_wait=0.1)
    assert 0.4 < caught.value.retry_after <= 0.5
    # a refused request reserves nothing: the next one still waits about one interval, not two
    assert 0.4 < limiter.acquire(key, max_wait=1.0) <= 0.5


def _slot_user(limit, key: str, rounds: int, state: dict, guard: threading.Lock) -> None:
    for _ in range(rounds):
        with limit.slot(key, max_wait=10):
            with guard:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            time.sleep(0.005)  # hold the slot long enough for others to contend
            with guard:
                state["now"] -= 1


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_concurrency_limit_caps_holders(kind: str) -> None:
    limit = make_concurrency_limit(redis_client() if kind == "redis" else None, 3, lease_seconds=5)
    state, guard, key = {"now": 0, "peak": 0}, threading.Lock(), f"c-{uuid.uuid4().hex}"
    workers = [threading.Thread(target=_slot_user, args=(limit, key, 8, state, guard)) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert state["peak"] == 3 and state["now"] == 0


def _process_slot_user(key: str, rounds: int, events: multiprocessing.Queue) -> None:
    limit = RedisConcurrencyLimit(redis.Redis.from_url(REDIS_URL), 2, lease_seconds=5)
    for _ in range(rounds):
        with limit.slot(key, max_wait=20):
            events.put(("in", time.time()))
            time.sleep(0.01)
            events.put(("out", time.time()))


def test_redis_concurrency_limit_across_processes(redis) -> None:
    ctx = multiprocessing.get_context("spawn")
    events, key = ctx.Queue(), f"cp-{uuid.uuid4().hex}"
    procs = [ctx.Process(target=_process_slot_user, args=(key, 6, events)) for _ in range(4)]
    for proc in procs:
        proc.start()
    log = [events.get(timeout=60) for _ in range(4 * 6 * 2)]
    for proc in procs:
        proc.join(timeout=10)
    # replay by time, exits before entries at the same instant: never more than two inside
    inside = peak = 0
    for kind, _ in sorted(log, key=lambda e: (e[1], e[0] == "in")):
        inside += 1 if kind == "in" else -1
        peak = max(peak, inside)
    assert peak <= 2 and inside == 0


def test_dead_holders_lease_expires(redis) -> None:
    limit, key = RedisConcurrencyLimit(redis, 1, lease_seconds=0.3), f"d-{uuid.uuid4().hex}"
    assert limit.try_take(key) is not None  # taken and never released: the holder "died"
    assert limit.try_take(key) is None
    started = time.monotonic()
    with limit.slot(key, max_wait=2):
        assert time.monotonic() - started >= 0.25


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_slot_gives_up_after_max_wait(kind: str) -> None:
    limit = make_concurrency_limit(redis_client() if kind == "redis" else None, 1, lease_seconds=5)
    key = f"g-{uuid.uuid4().hex}"
    with limit.slot(key):
        with pytest.raises(SlotWait):
            with limit.slot(key, max_wait=0.1):
                pass
    with limit.slot(key, max_wait=0.1):  # released on exit, so free again
        pass


def test_in_process_slot_released_on_error() -> None:
    limit = ConcurrencyLimit(1)
    with pytest.raises(ValueError):
        with limit.slot("k"):
            raise ValueError("boom")
    with limit.slot("k", max_wait=0):
        pass


def test_the_in_process_bucket_drops_idle_keys(monkeypatch):
    """One key per client address (webhooks/confirm_limit.py) must not grow the table for ever: a
    key whose bucket has refilled is the same as no key, and goes once PRUNE_AT keys are held."""
    import clients.ratelimit as ratelimit

    monkeypatch.setattr(ratelimit, "PRUNE_AT", 50)
    bucket = LeakyBucket(1_000_000.0, 1)  # refills within a microsecond
    for n in range(50):
        bucket.acquire(f"address-{n}", max_wait=0.0)
    assert len(bucket._tat) == 50
    bucket.acquire("one-more", max_wait=0.0)
    assert set(bucket._tat) == {"one-more"}
