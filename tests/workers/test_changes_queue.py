"""Webhook-triggered pulls through the real queue (the embedded worker): a burst of events gathered into
about one QuickBooks CDC call by the gather delay (settings.pull_gather_s), landing well within a second."""
from __future__ import annotations

import statistics
import time
from datetime import date

import requests

from qb24.demo import connect_quickbooks, install_app, open_app_page
from qb24.stack import start_stack
from store.db import make_engine, make_session_factory
from tests.support import wait_for
from tests.workers.changes_support import Changed, new_customer
from tests.workers.e2e_qbo import change_contact_details
from tests.workers.e2e_support import FAST_PORTAL, SMART, CountingSession, World
from tests.workers.sync_support import Rig
from workers.full_sync import run_full_sync
from workers.tasks import enqueue_pull

BURST = 8


def test_a_burst_of_webhook_pulls_costs_about_one_cdc_call(tmp_path):
    stack = start_stack(f"sqlite:///{tmp_path / 'web.db'}")  # with its embedded worker (realtime queue too)
    engine = make_engine(stack.settings.database_url)
    try:
        browser = requests.Session()
        install_app(stack, browser, stack.b24.default_member_id)
        connect_quickbooks(browser, stack.url, open_app_page(stack, browser, stack.b24.default_member_id))
        rig = Rig(stack, make_session_factory(engine), None)
        rig.control("settings", FAST_PORTAL)
        qbo, b24 = rig.clients()
        world = World(rig, SMART, qbo.realm_id, qbo, b24, CountingSession(), rig.clients()[1])
        assert run_full_sync(rig.sessions, rig.new_run(), qbo=qbo, b24=b24, today=date.today()) == "done"
        changed = Changed(world)
        customers = [new_customer(qbo, f"Queue Person{n}", f"queue{n}@example.com") for n in range(BURST)]
        enqueue_pull(changed.services, qbo.realm_id, time.time())
        wait_for(lambda: len(_landed(world, customers)) == BURST, "the new customers", timeout=20)

        for customer in customers:  # the burst: N changes in QuickBooks, then their N webhooks within ~50 ms
            change_contact_details(qbo, customer["Id"], f"moved.{customer['Id']}@example.com", "+1 555 0142")
        before, noticed_at = changed.qbo_requests(), {}
        for customer in customers:
            noticed_at[customer["Id"]] = time.monotonic()
            enqueue_pull(changed.services, qbo.realm_id, time.time())
            time.sleep(0.005)
        landed_at = {}

        def all_landed() -> bool:
            now = time.monotonic()
            for qbo_id in _landed(world, customers, moved=True):
                landed_at.setdefault(qbo_id, now)
            return len(landed_at) == BURST

        wait_for(all_landed, "the burst's changes in Bitrix24", timeout=20, poll=0.02)
        calls = changed.qbo_requests() - before
        latencies = sorted(landed_at[i] - noticed_at[i] for i in noticed_at)
        print(f"burst of {BURST}: {calls} QuickBooks calls by the worker, webhook-to-Bitrix24 latency p50 "
              f"{statistics.median(latencies):.2f}s max {latencies[-1]:.2f}s")
        assert calls == 1  # every event was noticed before the first pull began: one CDC call covers them
        assert statistics.median(latencies) < 1.0
    finally:
        stack.stop()
        stack.app.extensions["qb24"].close()
        engine.dispose()


def _landed(world: World, customers: list[dict], moved: bool = False) -> set[str]:
    """The customers whose contact is in Bitrix24 (with the moved email): one light list request."""
    origins = {f"Customer:{c['Id']}": c["Id"] for c in customers}
    rows = world.reader.call("crm.contact.list", {"filter": {"@ORIGIN_ID": sorted(origins)},
                                                  "select": ["ID", "ORIGIN_ID", "EMAIL"]}).result
    return {origins[row["ORIGIN_ID"]] for row in rows or []
            if not moved or any(e.get("VALUE") == f"moved.{origins[row['ORIGIN_ID']]}@example.com"
                                for e in row.get("EMAIL") or [])}
