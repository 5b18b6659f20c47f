"""Unmodified python-quickbooks + intuitlib against the QuickBooks sandbox over real HTTP."""
from __future__ import annotations

import pytest
import requests
from quickbooks import exceptions
from quickbooks.cdc import change_data_capture
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.base import LinkedTxn, Ref
from quickbooks.objects.payment import Payment, PaymentLine

from tests.sandbox.qbo_app_support import Sandbox, connect, quickbooks


@pytest.fixture
def qb(qbo: Sandbox):
    """A fresh sample company with 150 generated customers, connected through intuitlib."""
    realm_id = qbo.reset()
    qbo.control("POST", "seed", realm_id=realm_id, customers=150, invoices=40, seed=7)
    client, connected_realm = connect(qbo.url)
    assert connected_realm == realm_id
    return quickbooks(qbo.url, client, realm_id)


def test_paging_all_filter_where_count_over_more_than_100_customers(qb) -> None:
    total = Customer.count(qb=qb)
    assert total > 100
    first = Customer.all(max_results=100, start_position=1, qb=qb, order_by="Id")
    second = Customer.all(max_results=100, start_position=101, qb=qb, order_by="Id")
    assert len(first) == 100 and len(second) == total - 100
    ids = [int(c.Id) for c in first + second]
    assert ids == sorted(ids) and len(set(ids)) == total
    default_page = Customer.all(qb=qb)
    assert len(default_page) == 100
    name = first[3].DisplayName
    assert [c.Id for c in Customer.filter(DisplayName=name, qb=qb)] == [first[3].Id]
    assert [c.Id for c in Customer.where(f"Id = '{first[5].Id}'", qb=qb)] == [first[5].Id]
    queried = Customer.query(f"SELECT * FROM Customer WHERE Id IN ('{first[0].Id}', '{first[1].Id}')", qb=qb)
    assert sorted(c.Id for c in queried) == sorted([first[0].Id, first[1].Id])
    assert Customer.count(f"Id = '{first[0].Id}'", qb=qb) == 1


def test_customer_create_full_and_sparse_update_and_deactivate(qb) -> None:
    customer = Customer()
    customer.DisplayName = "Zed's Lab"
    customer.GivenName = "Zed"
    customer.Notes = "first"
    created = customer.save(qb=qb)
    assert created.SyncToken == "0" and created.DisplayName == "Zed's Lab" and created.Notes == "first"
    fetched = Customer.get(created.Id, qb=qb)
    fetched.FamilyName = "Ng"
    fetched.Notes = ""
    updated = fetched.save(qb=qb)
    assert updated.SyncToken == "1" and updated.FamilyName == "Ng"
    assert getattr(updated, "Notes", None) in (None, "")  # full update: an emptied field is gone
    sparse = qb.post(f"{qb.api_url}/company/{qb.company_id}/customer",
                     '{"Id": "%s", "SyncToken": "1", "sparse": true, "Notes": "sparse note"}' % created.Id)
    assert sparse["Customer"]["Notes"] == "sparse note" and sparse["Customer"]["FamilyName"] == "Ng"
    assert sparse["Customer"]["SyncToken"] == "2"
    current = Customer.get(created.Id, qb=qb)
    current.Active = False
    assert current.save(qb=qb).Active is False
    assert created.Id not in [c.Id for c in Customer.filter(DisplayName="Zed's Lab", qb=qb)]
    inactive = Customer.where("Active = false", qb=qb)
    assert created.Id in [c.Id for c in inactive]


def _new_invoice(qb, customer_id: str, amount: float) -> Invoice:
    """Create an invoice through the library."""
    line = SalesItemLine()
    line.Amount = amount
    line.SalesItemLineDetail = SalesItemLineDetail()
    item = Ref()
    item.value = "1"
    line.SalesItemLineDetail.ItemRef = item
    invoice = Invoice()
    invoice.Line = [line]
    customer = Ref()
    customer.value = customer_id
    invoice.CustomerRef = customer
    return invoice.save(qb=qb)


def test_invoice_create_update_send_void_delete(qb) -> None:
    invoice = _new_invoice(qb, "1", 120.0)
    assert invoice.TotalAmt == 120.0 and invoice.Balance == 120.0 and invoice.SyncToken == "0"
    fetched = Invoice.get(invoice.Id, qb=qb)
    fetched.PrivateNote = "check"
    updated = fetched.save(qb=qb)
    assert updated.PrivateNote == "check" and updated.SyncToken == "1"
    sent = Invoice.get(invoice.Id, qb=qb).send(qb=qb, send_to="ap@example.com")
    assert sent["Invoice"]["EmailStatus"] == "EmailSent"
    assert sent["Invoice"]["BillEmail"]["Address"] == "ap@example.com"
    assert sent["Invoice"]["DeliveryInfo"]["DeliveryType"] == "Email"
    voided = Invoice.get(invoice.Id, qb=qb)
    result = voided.void(qb=qb)["Invoice"]
    assert result["TotalAmt"] == 0 and result["Balance"] == 0 and result["PrivateNote"].startswith("Voided")
    assert all(line["Amount"] == 0 for line in result["Line"])
    second = _new_invoice(qb, "1", 10.0)
    deleted = second.delete(qb=qb)
    assert deleted["Invoice"] == {"domain": "QBO", "status": "Deleted", "Id": second.Id}
    with pytest.raises(exceptions.ObjectNotFoundException) as caught:
        Invoice.get(second.Id, qb=qb)
    assert caught.value.error_code == 610


def test_payment_applies_to_invoice_balance(qb) -> None:
    invoice = _new_invoice(qb, "1", 200.0)
    payment = Payment()
    payment.TotalAmt = 200.0
    customer = Ref()
    customer.value = "1"
    payment.CustomerRef = customer
    line = PaymentLine()
    line.Amount = 200.0
    link = LinkedTxn()
    link.TxnId = invoice.Id
    link.TxnType = "Invoice"
    line.LinkedTxn = [link]
    payment.Line = [line]
    saved = payment.save(qb=qb)
    assert saved.TotalAmt == 200.0
    paid = Invoice.get(invoice.Id, qb=qb)
    assert paid.Balance == 0 and paid.SyncToken == "1"
    assert [(t.TxnId, t.TxnType) for t in paid.LinkedTxn] == [(saved.Id, "Payment")]
    assert Payment.get(saved.Id, qb=qb).Line[0].LinkedTxn[0].TxnId == invoice.Id


def test_cdc_reports_changes_and_tombstones(qb, qbo: Sandbox) -> None:
    qbo.control("POST", "clock", advance_seconds=5)
    since = requests.post(f"{qbo.url}/_sandbox/clock", json={"advance_seconds": 1}, timeout=5).json()["now"]
    invoice = _new_invoice(qb, "2", 50.0)
    gone = _new_invoice(qb, "2", 5.0)
    gone.delete(qb=qb)
    result = change_data_capture([Invoice, Customer], since, qb=qb)
    states = {(obj.Id, getattr(obj, "status", "")) for obj in result.Invoice}
    assert (invoice.Id, "") in states and (gone.Id, "Deleted") in states
    assert [c.Id for c in result.Customer] == ["2"]  # its Balance moved


def test_fault_codes_raise_library_exceptions(qb) -> None:
    duplicate = Customer()
    duplicate.DisplayName = Customer.get("1", qb=qb).DisplayName.upper()
    with pytest.raises(exceptions.QuickbooksException) as caught:
        duplicate.save(qb=qb)
    assert caught.value.error_code == 6240
    stale = Customer.get("2", qb=qb)
    stale.SyncToken = str(int(stale.SyncToken) + 5)
    with pytest.raises(exceptions.QuickbooksException) as caught:
        stale.save(qb=qb)
    assert caught.value.error_code == 5010
    with pytest.raises(exceptions.ObjectNotFoundException):
        Customer.get("999999", qb=qb)
    with pytest.raises(exceptions.ValidationException) as caught:
        Customer.query("SELECT * FROM Customer WHERE", qb=qb)
    assert caught.value.error_code == 4000
    with pytest.raises(exceptions.ValidationException) as caught:
        Invoice().save(qb=qb)
    assert caught.value.error_code == 2020


def test_expired_token_raises_authorization_exception_and_refresh_recovers(qb, qbo: Sandbox) -> None:
    qbo.control("POST", "tokens/expire")
    with pytest.raises(exceptions.AuthorizationException) as caught:
        Customer.get("1", qb=qb)
    assert caught.value.error_code == 401
    old_refresh = qb.auth_client.refresh_token
    qb.auth_client.refresh()
    assert qb.auth_client.refresh_token != old_refresh
    fresh = quickbooks(qbo.url, qb.auth_client, qb.company_id)
    assert Customer.get("1", qb=fresh).Id == "1"


@pytest.mark.parametrize(("reading", "error", "code"), [
    ("fault", exceptions.ValidationException, 3001),
    # python-quickbooks#43: an XML throttle body is "Error reading json response" (code 10000).
    ("xml", exceptions.QuickbooksException, 10000),
    ("gateway", exceptions.QuickbooksException, 10000),
])
def test_throttle_raises_library_exception(qb, qbo: Sandbox, reading: str, error: type, code: int) -> None:
    """Each reading of the UNCERTAIN 429 body (reference §6) as python-quickbooks reports it."""
    qbo.control("POST", "settings", rate_per_minute=3, throttle_body=reading)
    try:
        for _ in range(3):
            Customer.get("1", qb=qb)
        with pytest.raises(error) as caught:
            Customer.get("1", qb=qb)
        assert type(caught.value) is error and caught.value.error_code == code
        assert "The request limit was reached.  Try again later" in str(caught.value.detail or caught.value)
        qbo.control("POST", "clock", advance_seconds=61)
        assert Customer.get("1", qb=qb).Id == "1"
    finally:
        qbo.restore_settings("rate_per_minute", "throttle_body")
