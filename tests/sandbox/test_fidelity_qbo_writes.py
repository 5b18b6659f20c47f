"""Fidelity of writes: invoice line Ids persist, a no-op update is no update, payment lines carry LineEx."""
from __future__ import annotations

import json
from datetime import date
from typing import Any

from quickbooks.objects.invoice import Invoice
from quickbooks.objects.payment import Payment

from sandbox.quickbooks.company import sample_company
from tests.sandbox.qbo_app_support import FIXTURES, Api, Sandbox, wait_for_entity


def _line(amount: float, description: str, line_id: str | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"Amount": amount, "Description": description, "DetailType": "SalesItemLineDetail",
                            "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    return {"Id": line_id, **line} if line_id else line


def _post(api: Api, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.call("POST", entity.lower(), body=body)
    assert response.status_code == 200, response.text
    return response.json()[entity]


def _item_lines(invoice: dict[str, Any]) -> list[tuple[str, int, str]]:
    return [(line["Id"], line["LineNum"], line["Description"]) for line in invoice["Line"]
            if line["DetailType"] == "SalesItemLineDetail"]


def test_kept_lines_keep_their_ids_new_lines_get_the_next(session) -> None:
    """Invoice reference, Line.Id: an existing Id updates that line; none, <= 0 or unknown creates one."""
    api, _, _ = session
    invoice = _post(api, "Invoice", {"CustomerRef": {"value": "1"},
                                     "Line": [_line(10, "first"), _line(20, "second")]})
    assert _item_lines(invoice) == [("1", 1, "first"), ("2", 2, "second")]
    body = {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"], "sparse": True,
            "Line": [_line(25, "second, repriced", "2"), _line(30, "third")]}
    updated = _post(api, "Invoice", body)
    assert _item_lines(updated) == [("2", 1, "second, repriced"), ("3", 2, "third")]
    body = {"Id": invoice["Id"], "SyncToken": updated["SyncToken"], "sparse": True,
            "Line": [_line(30, "third", "3"), _line(5, "unknown id", "99"), _line(6, "zero id", "0"),
                     _line(7, "repeated id", "3")]}
    again = _post(api, "Invoice", body)
    assert _item_lines(again) == [("3", 1, "third"), ("4", 2, "unknown id"), ("5", 3, "zero id"),
                                  ("6", 4, "repeated id")]
    untouched = _post(api, "Invoice", {"Id": invoice["Id"], "SyncToken": again["SyncToken"], "sparse": True,
                                       "PrivateNote": "lines not sent"})
    assert _item_lines(untouched) == _item_lines(again)


def test_line_ids_survive_a_python_quickbooks_full_update(session) -> None:
    _, qb, _ = session
    invoice = Invoice.get("67", qb=qb)
    ids = [line.Id for line in invoice.Line if line.DetailType == "SalesItemLineDetail"]
    invoice.PrivateNote = "full update through the library"
    if hasattr(invoice, "DeliveryInfo"):
        delattr(invoice, "DeliveryInfo")  # read-only on update (reference §8, footgun 6)
    saved = invoice.save(qb=qb)
    assert [line.Id for line in saved.Line if line.DetailType == "SalesItemLineDetail"] == ids


def test_no_op_updates_keep_sync_token_and_time_and_send_nothing(session, qbo: Sandbox) -> None:
    """Reference §11: an update that changes nothing keeps SyncToken and LastUpdatedTime, no webhook."""
    api, _, hook = session
    customer = api.call("GET", "customer/3").json()["Customer"]
    invoice = api.call("GET", "invoice/67").json()["Invoice"]
    qbo.control("POST", "clock", advance_seconds=5)  # a real write now would show a new LastUpdatedTime
    same_customer = _post(api, "Customer", {"Id": "3", "SyncToken": customer["SyncToken"], "sparse": True,
                                            "DisplayName": customer["DisplayName"]})
    same_invoice = _post(api, "Invoice", {"Id": "67", "SyncToken": invoice["SyncToken"], "sparse": True,
                                          "Line": invoice["Line"], "CustomerRef": invoice["CustomerRef"]})
    full = _post(api, "Invoice", {k: v for k, v in invoice.items() if k not in ("TotalAmt", "Balance")})
    for before, after in ((customer, same_customer), (invoice, same_invoice), (invoice, full)):
        assert (after["SyncToken"], after["MetaData"]) == (before["SyncToken"], before["MetaData"])
    changed = _post(api, "Customer", {"Id": "2", "SyncToken": "0", "sparse": True, "Notes": "real change"})
    assert changed["SyncToken"] == "1"
    assert wait_for_entity(hook, "2", "Customer") == [("Customer", "2")]  # nothing before it


def test_payment_lines_carry_the_real_line_ex(session) -> None:
    """Real 2023 payments (sandbox2023_payments_and_credit_memos.jsonl) carry LineEx: txnId,
    txnOpenBalance (the balance before this payment), txnReferenceNumber (the invoice's DocNumber)."""
    api, qb, _ = session
    invoice = api.call("GET", "invoice/67").json()["Invoice"]
    body = {"CustomerRef": invoice["CustomerRef"], "TotalAmt": 20.0,
            "Line": [{"Amount": 20.0, "LinkedTxn": [{"TxnId": "67", "TxnType": "Invoice"}]}]}
    [line] = _post(api, "Payment", body)["Line"]
    real = [json.loads(row)["data"] for row in
            (FIXTURES / "sandbox2023_payments_and_credit_memos.jsonl").read_text().splitlines()]
    real_line = next(p for p in real if p["Id"] == "101")["Line"][0]
    assert list(line) == list(real_line) == ["Amount", "LinkedTxn", "LineEx"]
    assert [list(element) for element in line["LineEx"]["any"]] == [
        list(element) for element in real_line["LineEx"]["any"]]
    assert [{k: v for k, v in e.items() if k != "value"} for e in line["LineEx"]["any"]] == [
        {k: v for k, v in e.items() if k != "value"} for e in real_line["LineEx"]["any"]]
    assert [e["value"] for e in line["LineEx"]["any"]] == [
        {"Name": "txnId", "Value": "67"}, {"Name": "txnOpenBalance", "Value": f"{invoice['Balance']:.2f}"},
        {"Name": "txnReferenceNumber", "Value": invoice["DocNumber"]}]
    payment_id = api.call("GET", "query", query="SELECT * FROM Payment ORDERBY Id DESC MAXRESULTS 1").json()
    read = Payment.get(payment_id["QueryResponse"]["Payment"][0]["Id"], qb=qb)
    assert read.Line[0].LineEx["any"][0]["value"] == {"Name": "txnId", "Value": "67"}
    assert read.Line[0].LinkedTxn[0].TxnId == "67" and float(read.TotalAmt) == 20.0


def test_seeded_payments_have_the_same_line_ex_shape() -> None:
    """The sample company's own payments (built by company_build.make_payment) match the real ones."""
    company = sample_company(date(2026, 1, 15))
    real = json.loads((FIXTURES / "sandbox2023_payments_and_credit_memos.jsonl").read_text().splitlines()[-1])
    assert real["stream"] == "payments"
    shapes = {json.dumps([list(e) for e in line["LineEx"]["any"]])
              for payment in company.payments for line in payment["Line"]}
    assert shapes == {json.dumps([list(e) for e in real["data"]["Line"][0]["LineEx"]["any"]])}
