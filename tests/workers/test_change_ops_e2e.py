"""The real-time helpers through the change pull (`run_pull`): a new job's invoice placed on its top-level
customer, and the sync log filled by a pull and emptied once the record lands. Smart Invoices, PostgreSQL."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.workers.changes_support import Changed, new_customer, new_invoice, sync_log
from tests.workers.e2e_support import SMART, run_sync, synced_world

ALL_CURRENCIES = [{"CURRENCY": "USD", "BASE": "Y"}, {"CURRENCY": "EUR", "AMOUNT": 1.08},
                  {"CURRENCY": "CAD", "AMOUNT": 0.73}, {"CURRENCY": "GBP", "AMOUNT": 1.27}]


@pytest.fixture(scope="module")
def changed(tmp_path_factory) -> Iterator[Changed]:
    with synced_world("postgresql+redis", tmp_path_factory.mktemp("ops-e2e"), SMART) as world:
        run_sync(world)
        rig = Changed(world)
        assert rig.pull() == "pulled"
        yield rig


def test_a_new_jobs_invoice_lands_on_its_top_level_customer(changed):
    qbo = changed.qbo
    parent = new_customer(qbo, "Fred Flintstone", "fred@example.com")
    assert changed.pull() == "pulled"
    job = qbo.create("Customer", {"DisplayName": "Quarry Job", "Job": True, "ParentRef": {"value": parent["Id"]}})
    phase = qbo.create("Customer", {"DisplayName": "Phase 1", "Job": True, "ParentRef": {"value": job["Id"]}})
    invoice = new_invoice(qbo, phase["Id"], 120.0)
    assert changed.pull() == "pulled"
    crm = changed.crm()
    (landed,) = changed.invoice_record(crm, invoice["Id"])
    contact = changed.customer_record(crm, parent)
    assert str(landed["contactId"]) == str(contact["ID"]) and not crm.by_origin("contact", f"Customer:{job['Id']}")
    assert "Fred Flintstone:Quarry Job:Phase 1" in landed["title"]


def test_a_pull_logs_an_invoice_it_cannot_write_and_forgets_it_once_written(changed):
    qbo = changed.qbo
    customer = qbo.create("Customer", {"DisplayName": "Gazoo Ltd", "CompanyName": "Gazoo Ltd",
                                       "CurrencyRef": {"value": "GBP"}})
    invoice = new_invoice(qbo, customer["Id"], 70.0)
    assert changed.pull() == "pulled"
    logged = {(t, i): reason for t, i, reason in sync_log(changed)}  # with the first sync's GBP and CAD ones
    assert "GBP" in logged[("Invoice", invoice["Id"])]
    changed.world.control("currencies", {"currencies": ALL_CURRENCIES})
    invoice = qbo.sparse_update("Invoice", invoice["Id"], invoice["SyncToken"], {"PrivateNote": "again"})
    assert changed.pull() == "pulled"
    assert ("Invoice", invoice["Id"]) not in {(t, i) for t, i, _ in sync_log(changed)}
    assert len(changed.invoice_record(changed.crm(), invoice["Id"])) == 1
