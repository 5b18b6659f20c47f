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
"""
from __future__ import annotations

import hashlib
import logging
import secrets
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


def key_for(database_url: str, realm_id: str) -> str:
    store = hashlib.sha256(database_url.encode()).hexdigest()[:12]
    return f"qb24:pull-queued:{store}:{realm_id}"


def queue_pull(services: Services, realm_id: str, enqueue) -> bool:
    """Queue the realm's pull with `enqueue()` unless one is queued and not started; True when queued.
    `enqueue`'s error (EnqueueFailed) propagates, with the marker it set removed."""
    if services.redis is None:
        enqueue()
        return True
    token = f"{secrets.token_hex(8)}:{time.time()}"
    try:
        found = services.redis.eval(_RESERVE, 1, key(services, realm_id), "p:" + token, time.time(), STALE_S)
    except redis.RedisError:
        found = b"p:"  # no marker to rely on: queue as before
    if found is not None and found.startswith(b"q:"):
        return False
    try:
        enqueue()
    except BaseException:
        if found is None:
            _swap(services, realm_id, "p:" + token, "")
        raise
    if found is None:
        _swap(services, realm_id, "p:" + token, "q:" + token)
    return True


def started(services: Services, realm_id: str) -> float | None:
    """A pull begins: remove the realm's marker; the moment it did, when there was one (from then on
    webhooks queue pulls again) - the pull's `covered` test must count from it. Redis unreachable: now."""
    if services.redis is None:
        return None
    try:
        return time.time() if services.redis.delete(key(services, realm_id)) else None
    except redis.RedisError:
        log.warning("changes.marker_unreachable", extra={"realm_id": realm_id})
        return time.time()


def _swap(services: Services, realm_id: str, expected: str, new: str) -> None:
    try:
        services.redis.eval(_SWAP, 1, key(services, realm_id), expected, new)
    except redis.RedisError:  # a pending marker left behind is taken over after STALE_S
        log.warning("changes.marker_unreachable", extra={"realm_id": realm_id})
