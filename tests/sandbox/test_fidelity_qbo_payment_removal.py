"""Payment delete and void reopen the invoices they paid, show up in CDC and fire webhooks.

Sources: reference §1.5 (Void supported for Payment; operations Delete and Void), §2 (CDC: "Deleted entities
return a Deleted value for the status field"); Intuit Payment reference "Void a payment" ("Use a sparse update
operation with include=void … all amounts and quantities are zeroed and the string, Voided, is injected into
Payment.PrivateNote", quoted in Wish-Org/QuickBooksSharp#8); python-quickbooks 0.9.12 mixins.VoidMixin
(Payment → `?operation=update&include=void` with `{"Id","SyncToken","sparse":true}`) and DeleteMixin
(`?operation=delete` with Id+SyncToken); python-quickbooks #304 ("Invoice is the only one that uses the
operation=void param").
"""
from __future__ import annotations

import json
from datetime import date

import pytest
from quickbooks import exceptions
from quickbooks.cdc import change_data_capture
from quickbooks.objects.base import LinkedTxn, Ref
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.payment import Payment, PaymentLine

from mappers.invoice_status import InvoiceStatus, invoice_status
from tests.sandbox.qbo_app_support import Api, Receiver, Sandbox, assert_fault
from tests.support import wait_for

LINE = {"Amount": 200.0, "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
FAR_FUTURE = date(2999, 1, 1)  # status as of a day when nothing open could be "sent" by date alone


def _api(qb) -> Api:
    """Raw HTTP beside the library, on the same token."""
    return Api(qb.api_url_v3.rsplit("/v3", 1)[0], qb.auth_client.access_token, qb.company_id)


def _invoice(api: Api, customer_id: str = "1") -> dict:
    """A fresh 200.00 invoice."""
    return api.call("POST", "invoice", body={"Line": [LINE], "CustomerRef": {"value": customer_id}}).json()[
        "Invoice"]


def _pay(qb, invoice_id: str, amount: float, customer_id: str = "1") -> Payment:
    """A payment applied to one invoice, through the library."""
    payment, line, link, customer = Payment(), PaymentLine(), LinkedTxn(), Ref()
    customer.value, link.TxnId, link.TxnType = customer_id, invoice_id, "Invoice"
    line.Amount, line.LinkedTxn = amount, [link]
    payment.TotalAmt, payment.CustomerRef, payment.Line = amount, customer, [line]
    return payment.save(qb=qb)


def _status(api: Api, invoice_id: str) -> InvoiceStatus:
    """The service's own status rule applied to the invoice as QuickBooks now reads it."""
    return invoice_status(api.call("GET", f"invoice/{invoice_id}").json()["Invoice"], FAR_FUTURE)


def test_delete_reopens_the_invoice_and_leaves_a_cdc_tombstone(qb, qbo: Sandbox) -> None:
    api = _api(qb)
    since = qbo.control("POST", "clock", advance_seconds=2)["now"]
    invoice = _invoice(api)
    balance_before = api.call("GET", "customer/1").json()["Customer"]["Balance"]
    payment = _pay(qb, invoice["Id"], 200.0)
    assert _status(api, invoice["Id"]) is InvoiceStatus.PAID
    paid_token = api.call("GET", f"invoice/{invoice['Id']}").json()["Invoice"]["SyncToken"]
    answer = Payment.get(payment.Id, qb=qb).delete(qb=qb)
    assert answer["Payment"] == {"domain": "QBO", "status": "Deleted", "Id": payment.Id}
    reopened = api.call("GET", f"invoice/{invoice['Id']}").json()["Invoice"]
    assert reopened["Balance"] == 200.0 and int(reopened["SyncToken"]) == int(paid_token) + 1
    assert all(link["TxnId"] != payment.Id for link in reopened.get("LinkedTxn", []))
    assert invoice_status(reopened, FAR_FUTURE) is InvoiceStatus.OVERDUE  # open again, past due in 2999
    assert api.call("GET", "customer/1").json()["Customer"]["Balance"] == balance_before
    with pytest.raises(exceptions.ObjectNotFoundException):
        Payment.get(payment.Id, qb=qb)
    changed = change_data_capture([Payment, Invoice], since, qb=qb)
    assert (payment.Id, "Deleted") in {(p.Id, getattr(p, "status", "")) for p in changed.Payment}
    assert invoice["Id"] in {i.Id for i in changed.Invoice}


def test_void_through_python_quickbooks_zeroes_the_payment_and_reopens_a_partly_paid_invoice(qb) -> None:
    api = _api(qb)
    invoice = _invoice(api)
    payment = _pay(qb, invoice["Id"], 50.0)
    assert _status(api, invoice["Id"]) is InvoiceStatus.PARTIALLY_PAID
    fetched = Payment.get(payment.Id, qb=qb)
    fetched.PrivateNote = "paid by check"  # not sent: VoidMixin posts only Id, SyncToken, sparse
    voided = fetched.void(qb=qb)["Payment"]
    assert voided["Id"] == payment.Id and voided["SyncToken"] == "1"
    assert voided["TotalAmt"] == 0 and voided["UnappliedAmt"] == 0
    assert voided["PrivateNote"] == "Voided" and voided["Line"] == []  # default switch: lines cleared
    assert Payment.get(payment.Id, qb=qb).TotalAmt == 0  # still there, unlike a delete
    reopened = api.call("GET", f"invoice/{invoice['Id']}").json()["Invoice"]
    assert reopened["Balance"] == 200.0 and reopened["LinkedTxn"] == []
    assert invoice_status(reopened, FAR_FUTURE) is InvoiceStatus.OVERDUE


def test_void_keeps_zeroed_lines_when_the_company_switch_says_so(qb, qbo: Sandbox) -> None:
    qbo.control("POST", f"realms/{qb.company_id}/switches", void_payment_clears_lines=False)
    api = _api(qb)
    invoice = _invoice(api)
    payment = _pay(qb, invoice["Id"], 200.0)
    voided = api.call("POST", "payment", body={"Id": payment.Id, "SyncToken": "0", "sparse": True},
                      operation="update", include="void").json()["Payment"]
    kept = [(line["Amount"], line["LinkedTxn"][0]["TxnId"]) for line in voided["Line"]]
    assert kept == [(0, invoice["Id"])]
    reopened = api.call("GET", f"invoice/{invoice['Id']}").json()["Invoice"]
    assert reopened["Balance"] == 200.0
    assert {"TxnId": payment.Id, "TxnType": "Payment"} in reopened["LinkedTxn"]


def test_void_and_delete_give_a_foreign_invoice_its_home_balance_back(qb) -> None:
    # HomeBalance is Balance x ExchangeRate on foreign-currency invoices (reference §11; the Invoice
    # reference's HomeBalance "in home currency"): reopening an EUR invoice reopens its home balance too.
    api = _api(qb)
    euro = api.call("POST", "customer", body={"DisplayName": "Zahler GmbH",
                                              "CurrencyRef": {"value": "EUR"}}).json()["Customer"]
    invoice = _invoice(api, euro["Id"])
    rate = invoice["ExchangeRate"]
    assert (invoice["Balance"], invoice["HomeBalance"]) == (200.0, round(200 * rate, 2))
    voided = _pay(qb, invoice["Id"], 50.0, euro["Id"])
    Payment.get(voided.Id, qb=qb).void(qb=qb)
    reopened = api.call("GET", f"invoice/{invoice['Id']}").json()["Invoice"]
    assert (reopened["Balance"], reopened["HomeBalance"]) == (200.0, round(200 * rate, 2))
    deleted = _pay(qb, invoice["Id"], 200.0, euro["Id"])
    assert api.call("GET", f"invoice/{invoice['Id']}").json()["Invoice"]["HomeBalance"] == 0
    Payment.get(deleted.Id, qb=qb).delete(qb=qb)
    reopened = api.call("GET", f"invoice/{invoice['Id']}").json()["Invoice"]
    assert (reopened["Balance"], reopened["HomeBalance"]) == (200.0, round(200 * rate, 2))
    assert api.call("GET", f"customer/{euro['Id']}").json()["Customer"]["Balance"] == 200.0


def test_other_payment_writes_are_refused_like_quickbooks(qb) -> None:
    api = _api(qb)
    payment = _pay(qb, _invoice(api)["Id"], 10.0)
    # Payment has no `operation=void` (python-quickbooks #304); updates: test_fidelity_qbo_payment_updates.
    assert_fault(api.call("POST", "payment", body={"Id": payment.Id, "SyncToken": "0"}, operation="void"),
                 400, "500")
    assert_fault(api.call("POST", "payment", body={"Id": payment.Id, "SyncToken": "3"}, operation="delete"),
                 400, "5010")
    assert_fault(api.call("POST", "payment", body={"Id": "999999", "SyncToken": "0"}, operation="delete"),
                 400, "610")
    assert_fault(api.call("POST", "payment", body={"Id": payment.Id}, operation="update", include="void"),
                 400, "2020")


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
def test_delete_and_void_fire_webhooks(qb, qbo: Sandbox, receiver, fmt: str) -> None:
    hook, url = receiver
    qbo.control("POST", "webhooks", url=url, verifier_token="v", format=fmt, aggregation_seconds=0)
    api = _api(qb)
    gone = _pay(qb, _invoice(api)["Id"], 200.0)
    kept = _pay(qb, _invoice(api)["Id"], 200.0)
    Payment.get(gone.Id, qb=qb).delete(qb=qb)
    Payment.get(kept.Id, qb=qb).void(qb=qb)
    assert qbo.control("POST", "webhooks/flush", timeout=10)["flushed"] is True
    if fmt == "legacy":
        wanted = {("Payment", gone.Id, "Delete"), ("Payment", kept.Id, "Void")}
    else:
        wanted = {("qbo.payment.deleted.v1", gone.Id), ("qbo.payment.voided.v1", kept.Id)}
    wait_for(lambda: wanted <= _notified(hook, qb.company_id, fmt), f"{fmt} delete/void notifications")


def _notified(hook: Receiver, realm_id: str, fmt: str) -> set[tuple[str, ...]]:
    """(name, id, operation) of legacy bodies or (type, id) of CloudEvents received for the realm so far."""
    with hook.lock:
        bodies = [body for body, _ in hook.received]
    if fmt == "legacy":
        return {(e["name"], e["id"], e["operation"]) for body in bodies if b"eventNotifications" in body
                for note in json.loads(body)["eventNotifications"] if note["realmId"] == realm_id
                for e in note["dataChangeEvent"]["entities"]}
    return {(e["type"], e["intuitentityid"]) for body in bodies if body.startswith(b"[")
            for e in json.loads(body) if e["intuitaccountid"] == realm_id}
