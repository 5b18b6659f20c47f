"""Every (entity, operation) QuickBooks notifies, in both formats: the handled ones are recorded with their
canonical operation and queue a pull, the others are acknowledged and go nowhere; a broker that does not
take the pull makes the answer 503 with nothing kept, so Intuit's redelivery is not deduplicated away."""
from __future__ import annotations

import pytest

from tests.webhooks.qbo_hook_support import (REALM, cloudevent, cloudevents, hook, legacy, migrated_db,
                                             sqlite_hook)

__all__ = ["hook", "migrated_db"]  # fixtures
# Reference §1.5: the operations the sync follows (a customer cannot be deleted through the API, but the
# Delete row exists in Intuit's table, so it is handled too).
HANDLED = [("Customer", "Create"), ("Customer", "Update"), ("Customer", "Delete"), ("Customer", "Merge"),
           ("Invoice", "Create"), ("Invoice", "Update"), ("Invoice", "Delete"), ("Invoice", "Void"),
           ("Invoice", "Emailed"), ("Payment", "Create"), ("Payment", "Update"), ("Payment", "Delete"),
           ("Payment", "Void")]
IGNORED = [("Vendor", "Create"), ("Account", "Update"), ("Item", "Merge"), ("Estimate", "Void"),
           ("Employee", "Create"), ("BillPayment", "Void"), ("SalesReceipt", "Emailed"), ("CreditMemo", "Delete")]


def _send(hook, fmt: str, entity: str, operation: str, entity_id: str = "42", **extra):
    if fmt == "legacy":
        fields = {"name": entity, "id": entity_id, "operation": operation}
        if "deleted_id" in extra:
            fields["deletedId"] = extra["deleted_id"]
        return hook.post(legacy(REALM, fields))
    data = {"deletedid": extra["deleted_id"]} if "deleted_id" in extra else {}
    return hook.post(cloudevents(cloudevent(REALM, entity, entity_id, operation, data=data, **extra.get("ce", {}))),
                     content_type="application/cloudevents+json")


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
@pytest.mark.parametrize("entity, operation", HANDLED)
def test_each_handled_pair_is_recorded_and_queues_a_pull(hook, fmt, entity, operation):
    extra = {"deleted_id": "27"} if operation == "Merge" else {}
    assert _send(hook, fmt, entity, operation, **extra).status_code == 200
    [row] = hook.events()
    assert (row.entity, row.entity_id, row.operation, row.portal_id) == (entity, "42", operation, hook.portal_of(REALM))
    assert row.deleted_id == ("27" if operation == "Merge" else None)
    assert [args[0] for args in hook.pulls()] == [REALM]
    assert hook.counted(f"{entity}.{operation}", "accepted") == 1


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
@pytest.mark.parametrize("entity, operation", IGNORED)
def test_each_ignored_pair_is_acknowledged_and_goes_nowhere(hook, fmt, entity, operation):
    assert _send(hook, fmt, entity, operation).status_code == 200
    assert hook.events() == [] and hook.pulls() == []
    assert hook.counted(f"{entity}.{operation}", "ignored") == 1


@pytest.mark.parametrize("event_type, operation", [
    ("qbo.invoice.voided.v1", "Void"), ("qbo.invoice.void.v1", "Void"),  # reference §1.2: the verb is UNCERTAIN
    ("QBO.Invoice.VOIDED.V1", "Void"), ("qbo.Payment.Emailed.v2", "Emailed"),
    ("qbo.invoice.archived.v1", "archived"),  # an unknown verb is kept and still asks for a pull
])
def test_cloudevent_types_are_read_tolerantly(hook, event_type, operation):
    entity = event_type.split(".")[1].capitalize()
    body = cloudevents(cloudevent(REALM, entity, "42", "Create", type=event_type))
    assert hook.post(body).status_code == 200
    assert [(r.entity, r.operation) for r in hook.events()] == [(entity, operation)]
    assert len(hook.pulls()) == 1


@pytest.mark.parametrize("event_type", ["com.intuit.qbo.customer.created", "qbo.customer.created", "qbo..v1",
                                        "qbo.customer.created.vX", "qbo." + "x" * 40 + ".created.v1"])
def test_a_type_of_another_form_is_acknowledged_and_ignored(hook, event_type):
    body = cloudevents(cloudevent(REALM, "Customer", "42", "Create", type=event_type),
                       cloudevent(REALM, "Customer", "43", "Update"))
    assert hook.post(body).status_code == 200
    assert [r.entity_id for r in hook.events()] == ["43"]  # the rest of the batch is not lost


def test_legacy_operations_are_read_case_insensitively(hook):
    assert hook.post(legacy(REALM, {"name": "invoice", "id": "42", "operation": "VOID"})).status_code == 200
    assert [(r.entity, r.operation) for r in hook.events()] == [("Invoice", "Void")]


def test_when_the_broker_refuses_the_pull_the_answer_is_503_and_nothing_is_kept(migrated_db, tmp_path):
    body = cloudevents(cloudevent(REALM, "Invoice", "42", "Void"), cloudevent(REALM, "Customer", "7", "Update"))
    down = sqlite_hook(migrated_db, tmp_path, REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens there
    try:
        answer = down.post(body, content_type="application/cloudevents+json")
        assert answer.status_code == 503
        assert answer.get_json()["error"] == "qbo_enqueue"
        assert down.events() == []
    finally:
        down.sessions.kw["bind"].dispose()
    up = sqlite_hook(migrated_db, tmp_path)  # the same store, a broker that works: Intuit's redelivery
    try:
        assert up.post(body, content_type="application/cloudevents+json").status_code == 200
        assert sorted(r.entity_id for r in up.events()) == ["42", "7"]
        assert [args[0] for args in up.pulls()] == [REALM]
    finally:
        up.sessions.kw["bind"].dispose()
