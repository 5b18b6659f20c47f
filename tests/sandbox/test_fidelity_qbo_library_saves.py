"""Fidelity: python-quickbooks' read-then-save is no update, and a real change through the library still is.

Sources: reference §11 (a no-op update keeps SyncToken and LastUpdatedTime and notifies nobody);
python-quickbooks 0.9.12 objects/base.py, invoice.py, customer.py and detailline.py (every attribute
initialised to "", `type: ""`, 0 or false, and to_json drops only None); the QuickBooks bodies in
fixtures/quickbooks (no empty string or nested empty list anywhere); the real invoice 130 of
sandbox2023_invoices.jsonl, whose lines link Estimate 100; CUSTREF (IsProject is read-only); the Invoice
reference (GlobalTaxCalculation "Not applicable to US companies", default TaxExcluded elsewhere).
"""
from __future__ import annotations

from typing import Any

import pytest
from quickbooks.objects.base import Ref
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice

from tests.sandbox.qbo_app_support import Api, Sandbox, wait_for_entity

LIBRARY_CLASSES = {"Customer": Customer, "Invoice": Invoice}


def _read(api: Api, entity: str, entity_id: str) -> dict[str, Any]:
    response = api.call("GET", f"{entity.lower()}/{entity_id}")
    assert response.status_code == 200, response.text
    return response.json()[entity]


def _empties(value: Any, path: str = "") -> list[str]:
    """Paths of "" values and of nested empty lists (real bodies hold neither)."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _empties(item, f"{path}.{key}")]
    if isinstance(value, list):
        nested_empty = [path] if not value and path.count(".") > 1 else []
        return nested_empty + [p for i, item in enumerate(value) for p in _empties(item, f"{path}[{i}]")]
    return [path] if value == "" else []


def _notify_marker(api: Api, hook: Any) -> list[tuple[str, str]]:
    """A real change to customer 2, then every entity notified up to its webhook (nothing else expected)."""
    customer = _read(api, "Customer", "2")
    body = {"Id": "2", "SyncToken": customer["SyncToken"], "sparse": True, "Notes": "marker write"}
    assert api.call("POST", "customer", body=body).status_code == 200
    return wait_for_entity(hook, "2", "Customer")


@pytest.mark.parametrize(("entity", "entity_id"), [
    ("Customer", "1"), ("Customer", "8"), ("Invoice", "130"), ("Invoice", "67"), ("Invoice", "119")])
def test_get_then_save_twice_changes_nothing(session, qbo: Sandbox, entity: str, entity_id: str) -> None:
    """`X.get(id).save()` (and saving what it returns) keeps SyncToken, LastUpdatedTime, every property
    (invoice 130's line LinkedTxn included) and sends no webhook. Before: SyncToken 0 → 1, a webhook,
    `Country: ""`/`type: ""` stored, the Estimate links gone."""
    api, qb, hook = session
    before = _read(api, entity, entity_id)
    qbo.control("POST", "clock", advance_seconds=5)  # a real write now would show a new LastUpdatedTime
    first = LIBRARY_CLASSES[entity].get(entity_id, qb=qb).save(qb=qb)
    second = first.save(qb=qb)
    assert (first.SyncToken, second.SyncToken) == (before["SyncToken"], before["SyncToken"])
    after = _read(api, entity, entity_id)
    assert after == before and _empties(after) == []
    assert _notify_marker(api, hook) == [("Customer", "2")]


def test_a_real_change_through_the_library_still_counts(session, qbo: Sandbox) -> None:
    """Notes on customer 1 and a line description on invoice 130: SyncToken + 1, a later LastUpdatedTime,
    one webhook each; the other lines keep their LinkedTxn to Estimate 100."""
    api, qb, hook = session
    customer_before, invoice_before = _read(api, "Customer", "1"), _read(api, "Invoice", "130")
    qbo.control("POST", "clock", advance_seconds=5)
    customer = Customer.get("1", qb=qb)
    customer.Notes = "changed through python-quickbooks"
    saved_customer = customer.save(qb=qb)
    invoice = Invoice.get("130", qb=qb)
    invoice.Line[0].Description = "Rock Fountain, large"
    saved_invoice = invoice.save(qb=qb)
    for before, saved in ((customer_before, saved_customer), (invoice_before, saved_invoice)):
        assert saved.SyncToken == str(int(before["SyncToken"]) + 1)
    customer_after, invoice_after = _read(api, "Customer", "1"), _read(api, "Invoice", "130")
    assert customer_after["Notes"] == "changed through python-quickbooks"
    for before, after in ((customer_before, customer_after), (invoice_before, invoice_after)):
        assert after["MetaData"]["LastUpdatedTime"] > before["MetaData"]["LastUpdatedTime"]
    items = [line for line in invoice_after["Line"] if line["DetailType"] == "SalesItemLineDetail"]
    assert items[0]["Description"] == "Rock Fountain, large"
    assert [line["LinkedTxn"] for line in items] == [[{"TxnId": "100", "TxnType": "Estimate"}]] * 3
    assert _notify_marker(api, hook) == [("Customer", "1"), ("Invoice", "130"), ("Customer", "2")]


def test_a_library_default_replacing_a_real_value_is_a_change(session) -> None:
    """Deposit 50 then a library save sending `Deposit: 0`: the deposit is gone, SyncToken moves on once."""
    api, qb, _ = session
    invoice = _read(api, "Invoice", "119")
    body = {"Id": "119", "SyncToken": invoice["SyncToken"], "sparse": True, "Deposit": 50}
    assert api.call("POST", "invoice", body=body).json()["Invoice"]["Deposit"] == 50
    fetched = Invoice.get("119", qb=qb)
    fetched.Deposit = 0
    saved = fetched.save(qb=qb)
    assert saved.SyncToken == str(int(invoice["SyncToken"]) + 2)
    assert _read(api, "Invoice", "119")["Deposit"] == 0  # as Intuit's sample invoice 239 reads it
    assert saved.save(qb=qb).SyncToken == saved.SyncToken


def _library_invoice(customer_id: str) -> Invoice:
    """A new Invoice built the way python-quickbooks' README shows, every other attribute at its default."""
    line = SalesItemLine()
    line.Amount = 100
    line.Description = "Library line"
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Ref()
    line.SalesItemLineDetail.ItemRef.value = "1"
    invoice = Invoice()
    invoice.Line = [line]
    invoice.CustomerRef = Ref()
    invoice.CustomerRef.value = customer_id
    return invoice


@pytest.mark.parametrize("country", ["US", "GB"])
def test_an_invoice_created_by_the_library_saves_again_unchanged(session, qbo: Sandbox, country: str) -> None:
    """No "" stored; GlobalTaxCalculation gone in a US company, TaxExcluded elsewhere; re-saving is no-op."""
    api, qb, _ = session
    qbo.control("POST", f"realms/{qb.company_id}/switches", country=country)
    created = _library_invoice("1").save(qb=qb)
    stored = _read(api, "Invoice", created.Id)
    assert _empties(stored) == [] and "Deposit" not in stored and "FreeFormAddress" not in stored
    assert stored.get("GlobalTaxCalculation") == (None if country == "US" else "TaxExcluded")
    again = Invoice.get(created.Id, qb=qb).save(qb=qb)
    assert again.SyncToken == "0" and _read(api, "Invoice", created.Id) == stored


def test_is_project_is_read_only(session) -> None:
    """CUSTREF: IsProject is read-only; a body saying true changes nothing and is not stored."""
    api, _, _ = session
    customer = _read(api, "Customer", "3")
    body = {"Id": "3", "SyncToken": customer["SyncToken"], "sparse": True, "IsProject": True}
    after = api.call("POST", "customer", body=body).json()["Customer"]
    assert after["SyncToken"] == customer["SyncToken"] and "IsProject" not in after
