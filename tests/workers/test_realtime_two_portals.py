"""Fairness (issue 10): portal A's full sync of a generated company runs on the bulk worker while
portal B's QuickBooks changes keep landing in B's Bitrix24 within the latency target (p95 <= 3 s).
Both portals at the standard plan's Bitrix24 rate, workers as docker-compose runs them (realtime and
bulk apart). The bench (bench/bench_realtime.py) measures the same with a larger company."""
from __future__ import annotations

import pytest

from bench.realtime_scenarios import during_full_sync, stream_for
from tests.workers.realtime_support import realtime_world

STANDARD = {"plan": "standard"}  # reference §8: 2 requests/s, a bucket of 50, no speed-up
COMPANY_A = {"customers": 600, "invoices": 1800, "seed": 7}  # a full sync of ~30 s on this plan: it outlasts the stream


@pytest.mark.timeout(240)
def test_portal_b_changes_land_within_3_s_while_portal_a_runs_a_full_sync():
    with realtime_world() as world:
        realm_b = world.stack.qbo.control("", method="GET")["realms"][0]
        tenant_b = world.add_tenant(realm_b, STANDARD, world.stack.b24.default_member_id)
        tenant_a = world.add_tenant(world.add_realm(**COMPANY_A), STANDARD)
        world.start_worker("realtime,celery")
        world.start_worker("bulk")
        first = world.wait_run(world.start_full_sync(tenant_b), timeout=120)
        assert first.status == "done", world.worker_logs()
        world.wait_quiet(60)
        world.webhooks()
        measured = during_full_sync(world, tenant_a, tenant_b, stream_for(world, tenant_b), rate=2.0, seconds=6.0)
        # the stream (2/s for 6 s) ran while A's sync ran; on a loaded machine the editor makes fewer than 12
        assert measured["changes"] >= 6, measured
        assert measured["full_sync_still_running"], measured
        assert measured["missing"] == 0 and measured["p95_s"] <= 3.0, (measured, world.worker_logs())
