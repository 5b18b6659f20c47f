"""POST /batch: each item answered or faulted on its own, through the same code as the single endpoints.

Sources: fixtures/quickbooks/faults/batch_request_body.json and
batch_response_with_610_object_not_found_and_5010_stale_object.json (real request/response pair);
Intuit batch reference (qbo-api-docs/entities/batch.md in abossenbroek/qbo-mcp): at most 30 payloads,
40 batch requests per minute; Intuit blog 2023-07-19 "Batch without a Scratch" (optionsData "void" with
operation "update"); reference §6 (40 batch requests/min per realm+app; batch requestid ≤ 36);
intuit/QuickBooks-V3-Java-SDK#180 (per-item 6000 when requestid + bId pass 50 characters);
python-quickbooks 0.9.12 quickbooks/batch.py (BatchManager: uuid4 bIds, chunks of 30, .successes/.faults).
"""
from __future__ import annotations

from typing import Any

import pytest
from quickbooks.batch import batch_create, batch_delete, batch_update
from quickbooks.cdc import change_data_capture
from quickbooks.objects.customer import Customer
from quickbooks.objects.invoice import Invoice

from tests.sandbox.qbo_app_support import Api, Sandbox, assert_fault, connect, fixture

LINE = {"Amount": 40.0, "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
REAL_ANSWER = "batch_response_with_610_object_not_found_and_5010_stale_object.json"


@pytest.fixture
def api(qb, qbo: Sandbox):
    """Raw HTTP on the same connection; batch settings back to their defaults afterwards."""
    yield Api(qbo.url, qb.auth_client.access_token, qb.company_id)
    qbo.restore_settings("batch_max_items", "batch_rate_per_minute")


def _batch(api: Api, *items: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    """POST one batch (200 expected) and return its BatchItemResponse list."""
    response = api.call("POST", "batch", body={"BatchItemRequest": list(items)}, **params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["BatchItemResponse", "time"]
    return body["BatchItemResponse"]


def test_real_batch_body_is_answered_item_by_item_in_the_real_shape(api: Api) -> None:
    # The real answer's bid2 is a 610 because invoice 129 was gone: delete it first, then replay the body.
    assert api.call("POST", "invoice", body={"Id": "129", "SyncToken": "0"}, operation="delete").ok
    real = fixture(REAL_ANSWER)["BatchItemResponse"]
    answers = _batch(api, *fixture("batch_request_body.json")["BatchItemRequest"])
    assert [a["bId"] for a in answers] == [r["bId"] for r in real]
    assert all(list(a)[-1] == "bId" and len(a) == 2 for a in answers)  # result first, then bId
    assert answers[1]["Fault"] == real[1]["Fault"]  # 610 exactly as QuickBooks wrote it
    assert "Vendor" not in answers[0] and answers[0]["Fault"]["type"] == "ValidationFault"  # not simulated
    assert list(answers[3]) == ["QueryResponse", "bId"]


def test_python_quickbooks_batches_report_successes_and_per_item_faults(qb, qbo: Sandbox) -> None:
    since = qbo.control("POST", "clock", advance_seconds=2)["now"]
    names = ["Batch One", "Batch Two", "Amy's Bird Sanctuary"]  # the last exists in the sample company
    created = batch_create([_customer(name) for name in names], qb=qb)
    assert sorted(c.DisplayName for c in created.successes) == names[:2]
    assert [(f.Error[0].code, f.original_object.DisplayName) for f in created.faults] == [("6240", names[2])]
    fresh, stale = (Customer.get(c.Id, qb=qb) for c in created.successes)
    fresh.Notes, stale.Notes = "updated in a batch", "too late"
    stale.SyncToken = "7"
    updated = batch_update([fresh, stale], qb=qb)
    assert [(c.Id, c.SyncToken, c.Notes) for c in updated.successes] == [(fresh.Id, "1",
                                                                          "updated in a batch")]
    real_stale = fixture(REAL_ANSWER)["BatchItemResponse"][2]["Fault"]["Error"][0]
    assert [(f.Error[0].code, f.Error[0].Message, f.Error[0].element) for f in updated.faults] == [
        ("5010", real_stale["Message"], real_stale["element"])]
    invoices = [Invoice.get(invoice_id, qb=qb) for invoice_id in ("129", "130")]
    invoices[1].SyncToken = "9"
    removed = batch_delete(invoices, qb=qb)
    assert [f.Error[0].code for f in removed.faults] == ["5010"] and len(removed.successes) == 1
    changed = change_data_capture([Customer, Invoice], since, qb=qb)
    assert {c.Id for c in created.successes} <= {c.Id for c in changed.Customer}
    assert ("129", "Deleted") in {(i.Id, getattr(i, "status", "")) for i in changed.Invoice}


def _customer(name: str) -> Customer:
    """A new library Customer object."""
    customer = Customer()
    customer.DisplayName = name
    return customer


def test_query_items_answer_like_the_query_endpoint(api: Api) -> None:
    statement = "SELECT * FROM Customer WHERE Id IN ('1', '2') ORDERBY Id"
    single = api.call("GET", "query", query=statement).json()["QueryResponse"]
    answers = _batch(api, {"bId": "q1", "Query": statement},
                     {"bId": "q2", "Query": "SELECT COUNT(*) FROM Invoice"},
                     {"bId": "q3", "Query": "SELECT * FROM Customer WHERE"},
                     {"bId": "q4", "Query": "SELECT * FROM Customer WHERE Id = '999999'"})
    assert answers[0] == {"QueryResponse": single, "bId": "q1"}
    assert answers[1]["QueryResponse"]["totalCount"] > 0
    assert answers[2]["Fault"]["Error"][0]["code"] == "4000" and "time" not in answers[2]["Fault"]
    assert answers[3] == {"QueryResponse": {}, "bId": "q4"}


def test_thirty_items_pass_and_thirty_one_are_refused_whole(qb, api: Api) -> None:
    count = lambda: api.call("GET", "query", query="SELECT COUNT(*) FROM Customer").json()[  # noqa: E731
        "QueryResponse"]["totalCount"]
    before = count()
    items = [{"bId": str(n), "operation": "create", "Customer": {"DisplayName": f"Bulk {n}"}}
             for n in range(31)]
    error = assert_fault(api.call("POST", "batch", body={"BatchItemRequest": items}), 400, "2010")
    assert error["element"] == "BatchItemRequest" and count() == before
    assert len(_batch(api, *items[:30])) == 30 and count() == before + 30
    # python-quickbooks sends 31 objects as 30 + 1 (BatchManager max_request_items=30): all go through.
    done = batch_create([_customer(f"Library {n}") for n in range(31)], qb=qb)
    assert len(done.successes) == 31 and not done.faults


def test_batch_requestid_replays_and_counts_with_the_bid(api: Api) -> None:
    item = {"bId": "a", "operation": "create", "Customer": {"DisplayName": "Replayed Once"}}
    first = api.call("POST", "batch", body={"BatchItemRequest": [item]}, requestid="batch-req-1")
    again = api.call("POST", "batch", body={"BatchItemRequest": [item]}, requestid="batch-req-1")
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert "Customer" in first.json()["BatchItemResponse"][0]
    request_id = "86e1e8438fd9413587c2bd17f4185b13"  # 32 characters, as in Java SDK #180
    long_bid = "8182e07b-ba00-4c1e-9d5e-0123456789ab"  # a uuid4-like 36-character bId
    items = ({"bId": long_bid, "Query": "SELECT * FROM Item"}, {"bId": "b", "Query": "SELECT * FROM Item"})
    answers = _batch(api, *items, requestid=request_id)
    error = answers[0]["Fault"]["Error"][0]
    assert error["code"] == "6000" and error["Detail"] == (
        "Business Validation Error: You cannot enter more than 50 characters in the request_id field. "
        "You tried entering 86e1e8438f..., which is 68 characters.")
    assert "QueryResponse" in answers[1]
    too_long = _batch(api, {"bId": "c", "Query": "SELECT * FROM Item"}, requestid="x" * 37)
    assert too_long[0]["Fault"]["Error"][0]["code"] == "6000"


def test_batch_requests_per_minute_are_limited_per_realm_and_app(qbo: Sandbox, api: Api) -> None:
    qbo.control("POST", "settings", batch_rate_per_minute=2)
    query = {"bId": "1", "Query": "SELECT COUNT(*) FROM Item"}
    _batch(api, query)
    _batch(api, query)
    refused = api.call("POST", "batch", body={"BatchItemRequest": [query]}, requestid="after-throttle")
    assert_fault(refused, 429, "3001")
    assert api.call("GET", "customer/1").status_code == 200  # single endpoints are not batch requests
    qbo.control("POST", "apps", client_id="second-app", client_secret="s2", redirect_uris=[])
    other, realm_id = connect(qbo.url, client_id="second-app", secret="s2")
    assert realm_id == api.base.rsplit("/", 1)[-1]
    _batch(Api(qbo.url, other.access_token, realm_id), query)  # same realm, other app: its own budget
    qbo.control("POST", "clock", advance_seconds=61)
    _batch(api, query, requestid="after-throttle")  # the 429 was never processed, so it is not replayed


def test_payments_and_invoices_are_voided_and_deleted_in_a_batch(api: Api) -> None:
    invoice = api.call("POST", "invoice", body={"Line": [LINE],
                                                "CustomerRef": {"value": "1"}}).json()["Invoice"]
    payment = api.call("POST", "payment", body={
        "CustomerRef": {"value": "1"}, "TotalAmt": 40.0,
        "Line": [{"Amount": 40.0, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]}).json()[
        "Payment"]
    ref = {"Id": payment["Id"], "SyncToken": "0"}
    answers = _batch(api, {"bId": "p1", "operation": "void", "Payment": ref},
                     {"bId": "p2", "operation": "update", "optionsData": "void",
                      "Payment": {**ref, "sparse": True}},
                     {"bId": "p3", "operation": "delete", "Payment": {**ref, "SyncToken": "1"}},
                     {"bId": "i1", "operation": "void", "Invoice": {"Id": invoice["Id"], "SyncToken": "2"}},
                     {"bId": "c1", "operation": "delete", "Customer": {"Id": "1", "SyncToken": "0"}},
                     {"bId": "x1", "Customer": {"DisplayName": "No Operation"}})
    assert answers[0]["Fault"]["Error"][0]["code"] == "500"  # Payment has no operation=void (node-qb #150)
    assert answers[1]["Payment"]["TotalAmt"] == 0 and answers[1]["Payment"]["PrivateNote"] == "Voided"
    assert answers[2]["Payment"] == {"domain": "QBO", "status": "Deleted", "Id": payment["Id"]}
    assert answers[3]["Invoice"]["PrivateNote"].startswith("Voided")  # SyncToken 2: payment, then its void
    assert answers[4]["Fault"]["Error"][0]["code"] == "500"  # customers are never deleted
    assert answers[5]["Fault"]["Error"][0]["code"] == "2020"


@pytest.mark.parametrize("raw,code", [(b"", "2020"), (b"[]", "2010"), (b'{"BatchItemRequest": []}', "2020"),
                                      (b'{"BatchItemRequest": [1]}', "2010"), (b'{"Other": 1}', "2010"),
                                      (b'{"BatchItemRequest": [{"Query": "SELECT * FROM Item"}]}', "2020")])
def test_unreadable_batch_bodies_are_refused_whole(api: Api, raw: bytes, code: str) -> None:
    assert_fault(api.call("POST", "batch", raw=raw), 400, code)


def test_an_items_operation_must_fit_its_body(api: Api) -> None:
    # Batch reference: each item says create, update or delete; the single endpoints' "Id decides" does not
    # apply. update without Id → 2020 "Id" (the Required param Fault); create with an Id → 2010 (UNCERTAIN).
    customer = api.call("GET", "customer/1").json()["Customer"]
    answers = _batch(api, {"bId": "u", "operation": "update",
                           "Customer": {"DisplayName": "Made By An Update", "SyncToken": "0"}},
                     {"bId": "c", "operation": "create",
                      "Customer": {"Id": "1", "SyncToken": customer["SyncToken"], "sparse": True,
                                   "Notes": "changed by a create"}},
                     {"bId": "q", "Query": "SELECT COUNT(*) FROM Customer WHERE DisplayName = "
                                           "'Made By An Update'"})
    update_error, create_error = (answers[n]["Fault"]["Error"][0] for n in (0, 1))
    assert (update_error["code"], update_error["element"]) == ("2020", "Id")
    assert (create_error["code"], create_error["element"]) == ("2010", "Id")
    assert answers[2]["QueryResponse"]["totalCount"] == 0
    assert api.call("GET", "customer/1").json()["Customer"] == customer


def test_a_repeated_bid_refuses_the_whole_batch_before_anything_runs(api: Api) -> None:
    # UNCERTAIN Fault (no capture); answers are matched to requests by bId, so a repeat cannot be answered.
    items = [{"bId": "d", "operation": "delete", "Invoice": {"Id": "130", "SyncToken": "0"}},
             {"bId": "d", "operation": "delete", "Invoice": {"Id": "131", "SyncToken": "0"}}]
    error = assert_fault(api.call("POST", "batch", body={"BatchItemRequest": items}), 400, "2010")
    assert error["element"] == "bId"
    assert api.call("GET", "invoice/130").status_code == api.call("GET", "invoice/131").status_code == 200
