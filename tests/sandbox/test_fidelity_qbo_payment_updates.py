"""Fidelity: Payment full and sparse updates, read-then-save through python-quickbooks included.

Sources: the Payment reference as python-quickbooks 0.9.12 quotes it (objects/payment.py docstring): "A
Payment can be updated as a full update or a sparse update"; "If any element in any line needs to be updated, all the
Lines of a Payment have to be provided. This is true for full or sparse update. Lines can be updated only ALL
or NONE. To remove all lines, send an empty Lines tag."; abossenbroek/qbo-mcp qbo-api-docs/entities/payment.md
("Update Payment … Supports both full and sparse updates"). Reference §11: an update that changes nothing
keeps SyncToken and LastUpdatedTime and notifies nobody. python-quickbooks objects/base.py: Ref and LinkedTxn
are sent with `type: ""`, `name: ""` and `TxnLineId: 0` (read-then-save must not count them as changes).
"""
from __future__ import annotations

from typing import Any

import pytest
from quickbooks.objects.base import LinkedTxn, Ref
from quickbooks.objects.payment import Payment, PaymentLine

from tests.sandbox.qbo_app_support import Api, Sandbox, assert_fault, wait_for_entity
from tests.sandbox.test_fidelity_qbo_library_saves import _empties


def _read(api: Api, entity: str, entity_id: str) -> dict[str, Any]:
    response = api.call("GET", f"{entity.lower()}/{entity_id}")
    assert response.status_code == 200, response.text
    return response.json()[entity]


def _post(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.call("POST", "payment", body=body)
    assert response.status_code == 200, response.text
    return response.json()["Payment"]


def _marker(api: Api, hook: Any) -> list[tuple[str, str]]:
    """A real change to customer 2, then every entity notified up to its webhook."""
    customer = _read(api, "Customer", "2")
    body = {"Id": "2", "SyncToken": customer["SyncToken"], "sparse": True, "Notes": "marker write"}
    assert api.call("POST", "customer", body=body).status_code == 200
    return wait_for_entity(hook, "2", "Customer")


# Sample payments: 101 pays part of invoice 67; 61 and 120 both pay invoice 12 (61 first, so its LineEx
# balance is not what reopening it alone would give); 97 is in GBP with an ExchangeRate.
@pytest.mark.parametrize("payment_id", ["101", "61", "120", "97"])
def test_get_then_save_twice_changes_nothing(session, qbo: Sandbox, payment_id: str) -> None:
    api, qb, hook = session
    before = _read(api, "Payment", payment_id)
    invoice_id = before["Line"][0]["LinkedTxn"][0]["TxnId"]
    invoice = _read(api, "Invoice", invoice_id)
    qbo.control("POST", "clock", advance_seconds=5)  # a real write now would show a new LastUpdatedTime
    first = Payment.get(payment_id, qb=qb).save(qb=qb)
    second = first.save(qb=qb)
    assert (first.SyncToken, second.SyncToken) == (before["SyncToken"], before["SyncToken"])
    assert _read(api, "Payment", payment_id) == before
    assert _read(api, "Invoice", invoice_id) == invoice
    assert _marker(api, hook) == [("Customer", "2")]


def test_empty_sparse_update_changes_nothing(session) -> None:
    api, _, _ = session
    before = _read(api, "Payment", "101")
    after = _post(api, {"Id": "101", "SyncToken": before["SyncToken"], "sparse": True})
    assert after == before


def test_a_sparse_note_is_an_update_that_leaves_the_invoices_alone(session, qbo: Sandbox) -> None:
    api, _, hook = session
    before, invoice = _read(api, "Payment", "101"), _read(api, "Invoice", "67")
    qbo.control("POST", "clock", advance_seconds=5)
    note = {"Id": "101", "SyncToken": before["SyncToken"], "sparse": True, "PrivateNote": "cheque 12"}
    after = _post(api, note)
    assert after["SyncToken"] == str(int(before["SyncToken"]) + 1)
    assert after["MetaData"]["LastUpdatedTime"] > before["MetaData"]["LastUpdatedTime"]
    assert {k: v for k, v in after.items() if k not in ("SyncToken", "MetaData", "PrivateNote")} == {
        k: v for k, v in before.items() if k not in ("SyncToken", "MetaData")}
    assert _read(api, "Invoice", "67") == invoice
    assert _marker(api, hook) == [("Payment", "101"), ("Customer", "2")]


def test_changing_a_line_through_the_library_moves_the_invoice(session) -> None:
    """Payment 101 pays 220.00 of invoice 67 (open 239.00 after it): 100.00 reopens 120.00."""
    api, qb, hook = session
    invoice = _read(api, "Invoice", "67")
    payment = Payment.get("101", qb=qb)
    payment.Line[0].Amount = 100.0
    saved = payment.save(qb=qb)
    assert (saved.SyncToken, float(saved.UnappliedAmt), float(saved.TotalAmt)) == ("1", 120.0, 220.0)
    after = _read(api, "Invoice", "67")
    assert after["Balance"] == round(invoice["Balance"] + 120, 2)
    assert after["SyncToken"] == str(int(invoice["SyncToken"]) + 1)
    [line] = _read(api, "Payment", "101")["Line"]
    line_ex = {e["value"]["Name"]: e["value"]["Value"] for e in line["LineEx"]["any"]}
    assert line_ex["txnOpenBalance"] == f"{invoice['Balance'] + 220:.2f}"  # open before this payment
    assert _marker(api, hook) == [("Payment", "101"), ("Invoice", "67"), ("Customer", "2")]


def test_removing_all_lines_reopens_and_unlinks_the_invoice(session) -> None:
    """"To remove all lines, send an empty Lines tag": the amount becomes unapplied."""
    api, _, _ = session
    invoice = _read(api, "Invoice", "67")
    before = _read(api, "Payment", "101")
    after = _post(api, {"Id": "101", "SyncToken": before["SyncToken"], "sparse": True, "Line": []})
    assert (after["Line"], after["UnappliedAmt"]) == ([], before["TotalAmt"])
    reopened = _read(api, "Invoice", "67")
    assert reopened["Balance"] == round(invoice["Balance"] + 220, 2)
    assert {"TxnId": "101", "TxnType": "Payment"} not in reopened["LinkedTxn"]
    invoices = api.call("GET", "query", query="SELECT * FROM Invoice WHERE CustomerRef = '1'").json()
    owed = round(sum(i["Balance"] for i in invoices["QueryResponse"]["Invoice"]), 2)
    assert _read(api, "Customer", "1")["Balance"] == owed


def test_an_update_may_not_over_apply_or_under_fund(session) -> None:
    """The create rules hold on update, counting what this payment already applied as open again."""
    api, _, _ = session
    before, invoice = _read(api, "Payment", "101"), _read(api, "Invoice", "67")
    link = [{"TxnId": "67", "TxnType": "Invoice"}]
    whole = round(invoice["Balance"] + 220, 2)  # open once 101 is taken back: the most it may apply
    ok = _post(api, {"Id": "101", "SyncToken": before["SyncToken"], "sparse": True, "TotalAmt": whole,
                     "Line": [{"Amount": whole, "LinkedTxn": link}]})
    assert (ok["UnappliedAmt"], _read(api, "Invoice", "67")["Balance"]) == (0, 0)
    too_much = {"Id": "101", "SyncToken": ok["SyncToken"], "sparse": True, "TotalAmt": whole + 1,
                "Line": [{"Amount": whole + 1, "LinkedTxn": link}]}
    assert "Invoice 67" in assert_fault(api.call("POST", "payment", body=too_much), 400, "6000")["Detail"]
    short = {"Id": "101", "SyncToken": ok["SyncToken"], "sparse": True, "TotalAmt": 10}
    assert_fault(api.call("POST", "payment", body=short), 400, "6000")
    assert _read(api, "Payment", "101") == ok


def test_a_full_update_nulls_what_it_omits(session) -> None:
    """Full update: writable fields left out are NULLed (CUSTREF's rule, the same for every entity), so
    a body without Line unapplies the payment; TotalAmt and CustomerRef stay required (2020)."""
    api, _, _ = session
    before = _read(api, "Payment", "101")
    assert_fault(api.call("POST", "payment", body={"Id": "101", "SyncToken": before["SyncToken"],
                                                   "CustomerRef": {"value": "1"}}), 400, "2020")
    bare = _post(api, {"Id": "101", "SyncToken": before["SyncToken"], "CustomerRef": {"value": "1"},
                       "TotalAmt": 220, "TxnDate": before["TxnDate"]})
    assert (bare["Line"], bare["UnappliedAmt"], bare["SyncToken"]) == ([], 220, "1")
    assert_fault(api.call("POST", "payment", body={"Id": "101", "SyncToken": "0", "TotalAmt": 1,
                                                   "CustomerRef": {"value": "1"}}), 400, "5010")


def test_a_payment_created_by_the_library_saves_again_unchanged(session) -> None:
    """python-quickbooks sends Ref `name: ""`/`type: ""`: QuickBooks stores no empty strings (every body
    in fixtures/quickbooks), so a re-save of what the library created is no update either."""
    api, qb, _ = session
    payment, line, link = Payment(), PaymentLine(), LinkedTxn()
    payment.CustomerRef, payment.DepositToAccountRef = Ref(), Ref()
    payment.CustomerRef.value, payment.DepositToAccountRef.value = "1", "4"
    link.TxnId, link.TxnType = "67", "Invoice"
    line.Amount, line.LinkedTxn = 20.0, [link]
    payment.TotalAmt, payment.Line = 20.0, [line]
    created = payment.save(qb=qb)
    stored = _read(api, "Payment", created.Id)
    assert stored["DepositToAccountRef"] == {"value": "4"} and _empties(stored) == []
    again = Payment.get(created.Id, qb=qb).save(qb=qb)
    assert again.SyncToken == "0" and _read(api, "Payment", created.Id) == stored
