"""Leaky bucket (503 QUERY_LIMIT_EXCEEDED) and operating time (429 OPERATION_TIME_LIMIT)."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from sandbox_b24.conftest import Portal


def _responses(portal: Portal, count: int) -> list:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda _: portal.call("profile"), range(count)))


def _burst(portal: Portal, count: int) -> list[int]:
    return [r.status_code for r in _responses(portal, count)]


def test_burst_over_bucket_gets_503(portal: Portal) -> None:
    portal.control("settings", {"reset_bucket": True})
    responses = _responses(portal, 60)
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) >= 50 and statuses.count(503) >= 5  # X=50, drain 2/s during the burst
    over = next(r for r in responses if r.status_code == 503)
    assert over.json() == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}


def test_bucket_drains_and_speedup(portal: Portal) -> None:
    portal.control("settings", {"bucket_size": 5, "reset_bucket": True, "speedup": 50})
    assert _burst(portal, 5).count(200) == 5
    time.sleep(0.05)  # 0.05 s x 2/s x 50 = 5 slots drained; this is the clock under test, not a race
    assert portal.call("profile").status_code == 200


def test_enterprise_plan_bucket_is_250(portal: Portal) -> None:
    settings = portal.control("settings", {"plan": "enterprise"}).json()
    assert (settings["bucket_size"], settings["drain_rate"]) == (250, 5.0)
    portal.control("settings", {"reset_bucket": True})
    assert _burst(portal, 120).count(503) == 0


def test_batch_counts_as_one_request(portal: Portal) -> None:
    portal.control("settings", {"bucket_size": 2, "reset_bucket": True})
    body = portal.call("batch", {"cmd": {str(i): "profile" for i in range(50)}})
    assert body.status_code == 200 and len(body.json()["result"]["result"]) == 50


def test_operating_time_limit_429_per_method(portal: Portal) -> None:
    portal.control("settings", {"operating_cost": 100, "operating_limit": 480, "reset_bucket": True})
    statuses = [portal.call("crm.contact.list") for _ in range(6)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 200, 200, 429]
    assert statuses[4].json()["time"]["operating"] == 500
    assert statuses[4].json()["time"]["operating_reset_at"] > time.time()
    assert statuses[5].json()["error"] == "OPERATION_TIME_LIMIT"
    assert portal.call("profile").status_code == 200  # other methods are not affected
