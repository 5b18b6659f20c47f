"""The QuickBooks sandbox's own webhook sender, pointed at the running app, in both formats: what it emits for
real changes is accepted, recorded once (its duplicate re-sends are not), and answering it costs no call to
QuickBooks or Bitrix24."""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from store.models import QboConnection, ReceivedEvent
from tests.workers.sync_support import Rig, connected_rig

LINE = {"Amount": 80.0, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}


def _changes(rig: Rig, name: str) -> set[tuple[str, str, str]]:
    """Customer created; invoice created, emailed, paid, voided, deleted: the (entity, id, operation) sent."""
    qbo, _ = rig.clients()
    customer = qbo.create("Customer", {"DisplayName": f"Hooked {name}"})
    invoice = qbo.create("Invoice", {"Line": [LINE], "CustomerRef": {"value": customer["Id"]}})
    qbo.send_invoice(invoice["Id"], "ap@example.com")
    payment = qbo.create("Payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": 80.0, "Line": [
        {"Amount": 80.0, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]})
    voided = qbo.create("Invoice", {"Line": [LINE], "CustomerRef": {"value": customer["Id"]}})
    voided = qbo.void_invoice(voided)
    qbo.delete_invoice(voided)
    return {("Customer", customer["Id"], "Create"), ("Invoice", invoice["Id"], "Create"),
            ("Invoice", invoice["Id"], "Emailed"), ("Payment", payment["Id"], "Create"),
            ("Invoice", voided["Id"], "Void"), ("Invoice", voided["Id"], "Delete")}


def _calls(rig: Rig) -> tuple[int, dict]:
    """Requests QuickBooks and the portal's Bitrix24 have answered so far."""
    b24 = requests.get(f"{rig.stack.b24.control_url}/portals/{rig.member_id}/requests", timeout=10).json()
    return rig.stack.qbo.control("stats", method="GET")["requests"], b24["requests"]


def _rows(rig: Rig) -> list[tuple[str, str, str, str]]:
    with rig.sessions() as session:
        return [(r.realm_id, r.entity, r.entity_id, r.operation) for r in session.scalars(select(ReceivedEvent))]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql+redis"])
def test_what_the_sandbox_sends_is_recorded_once_without_calling_out(tmp_path, kind):
    with connected_rig(tmp_path, kind) as rig:
        # No worker at all (SQLite's embedded one stopped; nothing consumes Redis's queue): every call
        # counted below would be the request path's, not a pull the deliveries queued.
        rig.stack.app.extensions["qb24"].celery.stop_embedded_worker()
        with rig.sessions() as session:
            realm_id = session.scalar(select(QboConnection.realm_id))
        sent: set[tuple[str, str, str]] = set()
        for fmt in ("legacy", "cloudevents"):
            # A window long enough for the changes to queue behind it, so the counters are read before
            # the first delivery; duplicate: Intuit's gateway re-sends an acknowledged batch (§1.2).
            rig.stack.qbo.control("webhooks", {
                "url": rig.stack.url + "/webhooks/quickbooks", "verifier_token": rig.stack.settings.qbo_verifier_token,
                "format": fmt, "aggregation_seconds": 1.0, "duplicate": True})
            sent |= _changes(rig, fmt)
            before = _calls(rig)
            assert rig.stack.qbo.control("webhooks/flush", {"timeout": 15})["flushed"] is True
            assert _calls(rig) == before
        log = rig.stack.qbo.control("webhooks/deliveries", method="GET")["deliveries"]
        assert {entry["headers"]["Content-Type"] for entry in log} == {"application/json",
                                                                       "application/cloudevents+json"}
        assert all(entry["status"] == 200 for entry in log), [(e["status"], e["error"]) for e in log]
        assert any(entry["duplicate"] for entry in log)
        rows = _rows(rig)
        assert len(rows) == len(set(rows))  # each change once, re-sends deduplicated
        assert {(realm_id, *change) for change in sent} <= set(rows)
