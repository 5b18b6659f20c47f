"""Rate limits a benchmark runs the first sync against, and the request counts tests check writes with.

Reference §8 (DOCS settings/performance/limits.md): a leaky bucket per portal, Enterprise 5/s with 250,
"all others" (Free, Basic, Standard, Professional) 2/s with 50; over it HTTP 503 QUERY_LIMIT_EXCEEDED.
Reference §7 (batch.md): a batch is ONE request for the bucket; each inner call counts for operating time.
"""
from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from sandbox_b24.conftest import Portal, ok


@pytest.mark.parametrize("plan, rate, size", [("standard", 2.0, 50), ("professional", 2.0, 50),
                                              ("free", 2.0, 50), ("enterprise", 5.0, 250)])
def test_plans_and_speedup_through_the_control_api(portal: Portal, plan: str, rate: float, size: int) -> None:
    settings = ok(portal.control("settings", {"plan": plan, "speedup": 20, "reset_bucket": True}))
    assert (settings["plan"], settings["drain_rate"], settings["bucket_size"], settings["speedup"]) == (
        plan, rate, size, 20.0)


def test_unknown_plan_refused(portal: Portal) -> None:
    assert portal.control("settings", {"plan": "platinum"}).status_code == 400


def test_standard_plan_bucket_with_a_speedup(portal: Portal) -> None:
    """A speed-up below 1 holds the bucket still (so a slow machine cannot drain it during the burst)."""
    ok(portal.control("settings", {"plan": "standard", "speedup": 0.001, "reset_bucket": True}))
    portal.control("requests/reset")
    statuses = [portal.call("profile").status_code for _ in range(53)]
    assert statuses == [200] * 50 + [503] * 3
    assert portal.control_get("requests")["refused_503"] == 3
    ok(portal.control("settings", {"speedup": 100}))
    time.sleep(0.1)  # the clock under test: 0.1 s x 2/s x 100 = 20 slots drained
    assert [portal.call("profile").status_code for _ in range(8)] == [200] * 8


def test_batch_is_one_request_but_each_command_counts_for_operating_time(portal: Portal) -> None:
    ok(portal.control("settings", {"bucket_size": 1, "reset_bucket": True, "operating_cost": 100,
                                   "operating_limit": 480}))
    portal.control("requests/reset")
    body = ok(portal.call("batch", {"cmd": [f"crm.contact.list?{urlencode({'start': i})}" for i in range(6)]}))
    assert sorted(body["result"]["result_error"]) == ["5"]
    assert body["result"]["result_error"]["5"]["error"] == "OPERATION_TIME_LIMIT"
    counts = portal.control_get("requests")
    assert counts["requests"] == {"batch": 1} and counts["commands"] == {"batch": 1, "crm.contact.list": 6}


def test_counts_writes_by_method(portal: Portal) -> None:
    portal.control("settings", {"reset_bucket": True})
    portal.control("requests/reset")
    cmd = {f"c{i}": "crm.contact.add?" + urlencode({"fields[NAME]": f"N{i}"}) for i in range(3)}
    ok(portal.call("batch", {"cmd": cmd}))
    ok(portal.call("crm.contact.update", {"id": 1, "fields": {"NAME": "X"}}))
    ok(portal.call("crm.contact.list"))
    counts = portal.control_get("requests")
    assert counts["requests"] == {"batch": 1, "crm.contact.update": 1, "crm.contact.list": 1}
    assert counts["commands"] == {"batch": 1, "crm.contact.add": 3, "crm.contact.update": 1, "crm.contact.list": 1}
    ok(portal.control("requests/reset"))
    assert portal.control_get("requests") == {"requests": {}, "commands": {}, "refused_503": 0}
