"""Issue 10: QuickBooks changes after the first sync land in Bitrix24 through one change pull each.

Changes are made through the QuickBooks sandbox's API; `run_pull` applies them; the portal is read back
over REST. Both invoice kinds, on PostgreSQL + Redis and on SQLite.
"""
from __future__ import annotations

from collections.abc import Iterator
import pytest

from mappers.invoice_status import InvoiceStatus
from mappers.stages import default_stage_map
from tests.workers.changes_support import Changed, new_customer, new_invoice, sync_log
from tests.workers.e2e_b24 import multi_values, stages
from tests.workers.e2e_expect import digits
from tests.workers.e2e_qbo import change_contact_details, pay
from tests.workers.e2e_support import OLD, SMART, run_sync, synced_world

CASES = [(SMART, "postgresql+redis"), (OLD, "sqlite")]


@pytest.fixture(scope="module", params=CASES, ids=[f"{t}-{k}" for t, k in CASES])
def changed(request, tmp_path_factory) -> Iterator[Changed]:
    target, kind = request.param
    with synced_world(kind, tmp_path_factory.mktemp("changes"), target) as world:
        run_sync(world)
        rig = Changed(world)
        assert rig.connection().cdc_watermark  # the first run's start set it
        assert rig.pull() == "pulled"  # what changed during the first sync (nothing new)
        yield rig


def stage_of(changed: Changed, invoice_id: str) -> str:
    found = changed.invoice_record(changed.crm(), invoice_id)
    assert len(found) == 1, (f"Invoice {invoice_id}: {len(found)} in Bitrix24", sync_log(changed))
    return str(found[0].get("stageId") or found[0].get("STATUS_ID"))


def stage_for(changed: Changed) -> dict[InvoiceStatus, str]:
    """The default stage of every status on this portal (no stage map stored)."""
    defaults = default_stage_map(stages(changed.world.reader, changed.world.target))
    return {status: defaults[status.value] for status in InvoiceStatus}


def test_customer_created_updated_in_place_and_deactivated(changed):
    qbo = changed.qbo
    customer = new_customer(qbo, "Wilma Flintstone", "wilma@example.com")
    assert changed.pull() == "pulled"
    record = changed.customer_record(changed.crm(), customer)
    assert [v for _, v, _ in multi_values(record, "EMAIL")] == ["wilma@example.com"]
    assert changed.connection().last_change["what"] == "created"

    change_contact_details(qbo, customer["Id"], "wilma@bedrock.example", "+1 555 0100")
    assert changed.pull() == "pulled"
    record = changed.customer_record(changed.crm(), customer)
    assert [v for _, v, _ in multi_values(record, "EMAIL")] == ["wilma@bedrock.example"]  # replaced in place
    assert [digits(v) for _, v, _ in multi_values(record, "PHONE")] == ["15550100"]
    assert changed.connection().last_change["what"] == "updated"

    qbo.deactivate_customer(qbo.get("Customer", customer["Id"]))
    assert changed.pull() == "pulled"
    assert len(changed.crm().by_origin("contact", f"Customer:{customer['Id']}")) == 1
    counts = changed.connection().change_counts
    assert counts["failed"] == 0 and counts["pulls"] >= 4 and counts["applied"] >= 3


def test_invoice_created_updated_emailed_paid_and_unpaid(changed):
    qbo, stage = changed.qbo, stage_for(changed)
    customer = new_customer(qbo, "Barney Rubble", "barney@example.com")
    invoice = new_invoice(qbo, customer["Id"], 200.0)
    assert changed.pull() == "pulled"
    assert stage_of(changed, invoice["Id"]) == stage[InvoiceStatus.UNSENT]

    invoice = qbo.sparse_update("Invoice", invoice["Id"], invoice["SyncToken"], {"PrivateNote": "rush order"})
    qbo.send_invoice(invoice["Id"], "barney@example.com")
    assert changed.pull() == "pulled"
    assert stage_of(changed, invoice["Id"]) == stage[InvoiceStatus.SENT]

    first = pay(qbo, qbo.get("Invoice", invoice["Id"]), 50.0)
    assert changed.pull() == "pulled"
    assert stage_of(changed, invoice["Id"]) == stage[InvoiceStatus.PARTIALLY_PAID]

    first = qbo.sparse_update("Payment", first["Id"], first["SyncToken"], {"TotalAmt": 200.0, "Line": [
        {"Amount": 200.0, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]})
    assert changed.pull() == "pulled"
    assert stage_of(changed, invoice["Id"]) == stage[InvoiceStatus.PAID]

    qbo._operation("Payment", qbo.get("Payment", first["Id"]), "delete")
    assert changed.pull() == "pulled"
    assert stage_of(changed, invoice["Id"]) == stage[InvoiceStatus.SENT]  # owed again, still emailed


def test_invoice_voided_and_deleted(changed):
    qbo, stage = changed.qbo, stage_for(changed)
    customer = new_customer(qbo, "Betty Rubble", "betty@example.com")
    voided, deleted = new_invoice(qbo, customer["Id"], 80.0), new_invoice(qbo, customer["Id"], 90.0)
    assert changed.pull() == "pulled"
    qbo.void_invoice(qbo.get("Invoice", voided["Id"]))
    qbo.delete_invoice(qbo.get("Invoice", deleted["Id"]))
    assert changed.pull() == "pulled"
    assert stage_of(changed, voided["Id"]) == stage[InvoiceStatus.VOIDED]
    assert stage_of(changed, deleted["Id"]) == stage[InvoiceStatus.DELETED]
    assert changed.connection().last_change["what"] in ("deleted", "stage")


def test_a_burst_of_changes_costs_one_quickbooks_call(changed):
    qbo = changed.qbo
    customers = [new_customer(qbo, f"Burst Person{n}", f"burst{n}@example.com") for n in range(6)]
    for customer in customers[:3]:
        change_contact_details(qbo, customer["Id"], f"new.{customer['Id']}@example.com", "+1 555 0199")
    before = changed.qbo_requests()
    assert changed.pull() == "pulled"
    assert changed.qbo_requests() - before == 1  # one CDC call for nine changes
    crm = changed.crm()
    for customer in customers:
        changed.customer_record(crm, customer)
    assert changed.connection().change_counts["qbo_calls"] >= 1
