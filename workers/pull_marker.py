"""One webhook-queued pull waiting per realm: a webhook whose realm already has a pull queued, and not yet
started, records its events without queueing another (the enqueue was a third of the endpoint's CPU,
bench/webhook_load.py). Needs Redis (without it every webhook queues its pull, as before).

The marker is a Redis key per realm (and store: tests share one Redis across databases). The request that
finds it absent sets it "pending", queues the pull, then makes it "queued" (compare-and-set, so a pull
that started meanwhile and deleted it is not given a marker it no longer owns); a request that finds it
"pending" queues its own pull. Every pull deletes the key as it starts (`started`), before its `covered` test.

Why no event is lost: a request checks the key after recording its event, so the event was received (and
QuickBooks had the change) before that check. The key is only ever removed by a pull's `started`, so the
first `started` after the check comes later than the event: that pull measures `covered` from the moment
it deleted the key, not from its own (older) noticed_at, so only a pull that began after that moment - whose
CDC call therefore saw the change - covers it. Otherwise it pulls, or, if a pull is running, sets pull_again,
or (paced, PULL_INTERVAL_S) queues itself again with that moment as its noticed_at.
(The old rule alone would lose it: a reconciliation pull that began after the queued pull's noticed_at but
before the event would have "covered" it; tests/workers/test_pull_marker.py.) A marker left by a request or
a pull that died is taken over after STALE_S, so it can delay nothing for longer.

The same marker (`queue_once`, `take`) keeps one Bitrix24 export queued per portal (workers/exports.py): there
the task takes its marker before it reads the portal's events, so an event whose webhook skipped the enqueue
was committed before that read. Exports keep it in the process without Redis (`local`).
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time

import redis

from workers.context import Services

log = logging.getLogger("qb24.changes.marker")
STALE_S = 60.0  # longer than a queued pull normally waits; a takeover only queues one pull more
# -> the marker found (a fresh one: the caller reads its state), or nil after setting it pending
_RESERVE = """
local found = redis.call('GET', KEYS[1])
if found and tonumber(string.match(found, ':([^:]+)$')) + tonumber(ARGV[3]) >= tonumber(ARGV[2]) then
  return found
end
redis.call('SET', KEYS[1], ARGV[1])
return false
"""
_SWAP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


def key(services: Services, realm_id: str) -> str:
    return key_for(services.settings.database_url, realm_id)


def key_for(database_url: str, realm_id: str, kind: str = "pull") -> str:
    """The marker's Redis key: one per store, kind of task ("pull", "export") and realm or portal."""
    store = hashlib.sha256(database_url.encode()).hexdigest()[:12]
    return f"qb24:{kind}-queued:{store}:{realm_id}"


def queue_pull(services: Services, realm_id: str, enqueue) -> bool:
    """Queue the realm's pull with `enqueue()` unless one is queued and not started; True when queued.
    `enqueue`'s error (EnqueueFailed) propagates, with the marker it set removed."""
    return queue_once(services, key(services, realm_id), enqueue)


def started(services: Services, realm_id: str) -> float | None:
    """A pull begins: remove the realm's marker; the moment it did, when there was one (from then on
    webhooks queue pulls again) - the pull's `covered` test must count from it. Redis unreachable: now."""
    return take(services, key(services, realm_id))


def queue_once(services: Services, name: str, enqueue, *, local: bool = False) -> bool:
    """Call `enqueue()` unless the marker `name` says a task is queued and not started; True when called.
    The protocol of this module's docstring, for any task that takes its marker as it starts (`take`).
    Without Redis every call enqueues, unless `local`: then the marker lives in this process (the embedded
    mode is one process, its broker in memory)."""
    if services.redis is None and not local:
        enqueue()
        return True
    token = f"{secrets.token_hex(8)}:{time.time()}"
    try:
        found = _reserve(services, name, "p:" + token)
    except redis.RedisError:
        found = b"p:"  # no marker to rely on: queue as before
    if found is not None and found.startswith(b"q:"):
        return False
    try:
        enqueue()
    except BaseException:
        if found is None:
            _swap(services, name, "p:" + token, "")
        raise
    if found is None:
        _swap(services, name, "p:" + token, "q:" + token)
    return True


def take(services: Services, name: str, *, local: bool = False) -> float | None:
    """A task begins: remove its marker `name`; the moment it did when there was one, None when there was
    none (or no marker kept); now when Redis is unreachable."""
    if services.redis is None:
        if not local:
            return None
        with _LOCAL_LOCK:
            return time.time() if _LOCAL.pop(name, None) is not None else None
    try:
        return time.time() if services.redis.delete(name) else None
    except redis.RedisError:
        log.warning("changes.marker_unreachable", extra={"marker": name})
        return time.time()


# The markers of `local` callers without Redis: the same states and staleness as the Redis script's.
_LOCAL: dict[str, str] = {}
_LOCAL_LOCK = threading.Lock()


def _reserve(services: Services, name: str, value: str) -> bytes | None:
    if services.redis is not None:
        return services.redis.eval(_RESERVE, 1, name, value, time.time(), STALE_S)
    with _LOCAL_LOCK:
        found = _LOCAL.get(name)
        if found is not None and float(found.rsplit(":", 1)[1]) + STALE_S >= time.time():
            return found.encode()
        _LOCAL[name] = value
        return None


def _swap(services: Services, name: str, expected: str, new: str) -> None:
    if services.redis is None:
        with _LOCAL_LOCK:
            if _LOCAL.get(name) == expected:
                if new:
                    _LOCAL[name] = new
                else:
                    del _LOCAL[name]
        return
    try:
        services.redis.eval(_SWAP, 1, name, expected, new)
    except redis.RedisError:  # a pending marker left behind is taken over after STALE_S
        log.warning("changes.marker_unreachable", extra={"marker": name})
