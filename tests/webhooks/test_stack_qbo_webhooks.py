"""The stack wires the QuickBooks sandbox's webhooks to /webhooks/quickbooks (qb24/stack.register_apps):
CloudEvents by default (tests/test_demo.py walks that path), legacy eventNotifications on request, and a
change made in QuickBooks lands in Bitrix24 through either."""
from __future__ import annotations

import json

from sqlalchemy import select

from qb24.demo import first_sync
from qb24.demo_live import LiveDemo, open_invoices
from store.models import QboConnection
from tests.workers.entry_support import connected_stack


def test_legacy_webhooks_reach_the_app_and_the_change_lands(tmp_path):
    with connected_stack(f"sqlite:///{tmp_path / 'legacy.db'}", webhook_format="legacy") as connected:
        stack = connected.stack
        first_sync(stack, connected.browser, lambda line: None)
        with connected.services.sessions() as session:
            realm_id = session.scalar(select(QboConnection.realm_id))
        demo = LiveDemo(stack, realm_id)
        invoice = open_invoices(demo.qbo)[0]
        landed = demo.watch_invoice("voided", invoice, lambda: demo.qbo.void_invoice(invoice))
        assert demo.stages[landed.stage_id] == "Unpaid"  # the sandbox portal's failure stage
        log = stack.qbo.control(f"webhooks/deliveries?client_id={stack.settings.qbo_client_id}", method="GET")
        voids = [entry for entry in log["deliveries"] if '"operation":"Void"' in entry["body"]]
        assert voids and all(entry["acknowledged"] for entry in voids)
        body = json.loads(voids[0]["body"])
        assert body["eventNotifications"][0]["realmId"] == realm_id
        assert voids[0]["headers"]["Content-Type"] == "application/json"


def test_no_webhook_format_subscribes_nothing(tmp_path):
    with connected_stack(f"sqlite:///{tmp_path / 'none.db'}", webhook_format=None, worker=False) as connected:
        stack = connected.stack
        with connected.services.sessions() as session:
            demo = LiveDemo(stack, session.scalar(select(QboConnection.realm_id)))
        demo.qbo.create("Customer", {"DisplayName": "Nobody Hears Me"})
        log = stack.qbo.control(f"webhooks/deliveries?client_id={stack.settings.qbo_client_id}", method="GET")
        assert log == {"deliveries": [], "pending": 0}
