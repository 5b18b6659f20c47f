"""Wrongly typed properties are 400 validation Faults that change nothing; a batch never answers 500.

Sources: the real 2010 Fault (fixtures/quickbooks/faults, "Request has invalid or unsupported property",
the Jackson "Property Name:… specified is unsupported or invalid" Detail) that the sandbox already gives
for wrong top-level types (writes.check_types); Intuit's Invoice/Payment references for the shapes of
Line details (SalesItemLineDetail.TaxCodeRef and DiscountLineDetail.DiscountAccountRef are reference
objects, DiscountPercent a decimal, PercentBased a boolean, Payment Line.LinkedTxn a list of objects);
the batch reference and reference §6 (each item answered on its own); ruckus/quickbooks-ruby#344 for the
real item Fault of a batch item that failed inside QuickBooks (6000, "An unexpected error occurred while
accessing or saving your data ...").
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from sandbox.quickbooks import dispatch
from tests.sandbox.qbo_app_support import Api, Sandbox, assert_fault, connected_api

ITEM_LINE = {"Amount": 10.0, "DetailType": "SalesItemLineDetail",
             "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
UNEXPECTED = ("Business Validation Error: An unexpected error occurred while accessing or saving your data. "
              "Please wait a few minutes and try again.  If the problem persists, contact customer support.")


def _item_line(**detail: Any) -> dict[str, Any]:
    return {**ITEM_LINE, "SalesItemLineDetail": {"ItemRef": {"value": "1"}, **detail}}


def _discount(detail: Any) -> dict[str, Any]:
    return {"Amount": 5, "DetailType": "DiscountLineDetail", "DiscountLineDetail": detail}


BAD_INVOICES = {
    "TaxCodeRef as a string": [_item_line(TaxCodeRef="TAX")],
    "DiscountLineDetail as a string": [ITEM_LINE, _discount("x")],
    "DiscountPercent not a number": [ITEM_LINE, _discount({"PercentBased": True, "DiscountPercent": "abc"})],
    "PercentBased not a boolean": [ITEM_LINE, _discount({"PercentBased": "yes", "DiscountPercent": 10})],
    "DetailType a list": [{**ITEM_LINE, "DetailType": ["SalesItemLineDetail"]}],
}


@pytest.fixture
def api(qbo: Sandbox) -> Iterator[Api]:
    api, _ = connected_api(qbo)
    yield api


def _invoices(api: Api) -> int:
    answer = api.call("GET", "query", query="SELECT COUNT(*) FROM Invoice").json()
    return answer["QueryResponse"]["totalCount"]


@pytest.mark.parametrize("lines", list(BAD_INVOICES.values()), ids=list(BAD_INVOICES))
def test_wrongly_typed_invoice_lines_are_2010_and_create_nothing(api: Api, lines: list[dict]) -> None:
    before, customer = _invoices(api), api.call("GET", "customer/1").json()["Customer"]
    error = assert_fault(api.call("POST", "invoice", body={"CustomerRef": {"value": "1"}, "Line": lines}),
                         400, "2010")
    assert error["Message"] == "Request has invalid or unsupported property"
    assert error["Detail"].startswith("Property Name:") and error["Detail"].endswith("unsupported or invalid")
    assert _invoices(api) == before
    assert api.call("GET", "customer/1").json()["Customer"] == customer


def test_wrongly_typed_tax_detail_and_payment_links_are_2010(api: Api) -> None:
    for detail in ({"TxnTaxCodeRef": "2"}, {"TxnTaxCodeRef": {"value": "2"}, "TaxLine": "x"}):
        body = {"CustomerRef": {"value": "1"}, "Line": [ITEM_LINE], "TxnTaxDetail": detail}
        assert_fault(api.call("POST", "invoice", body=body), 400, "2010")
    for links in (1, True, {}, ["130"]):
        body = {"CustomerRef": {"value": "1"}, "TotalAmt": 5, "Line": [{"Amount": 5, "LinkedTxn": links}]}
        assert_fault(api.call("POST", "payment", body=body), 400, "2010")
    for name, value in (("CurrencyRef", "USD"), ("ExchangeRate", "x")):
        assert_fault(api.call("POST", "payment", body={"CustomerRef": {"value": "1"}, "TotalAmt": 5,
                                                       name: value}), 400, "2010")


def test_a_bad_item_is_its_own_fault_and_the_others_are_saved(api: Api) -> None:
    items = [{"bId": "ok", "operation": "create", "Customer": {"DisplayName": "Saved Beside A Bad Item"}}]
    items += [{"bId": name, "operation": "create", "Invoice": {"CustomerRef": {"value": "1"}, "Line": lines}}
              for name, lines in BAD_INVOICES.items()]
    response = api.call("POST", "batch", body={"BatchItemRequest": items})
    assert response.status_code == 200, response.text
    answers = response.json()["BatchItemResponse"]
    assert "Customer" in answers[0]
    assert [a["Fault"]["Error"][0]["code"] for a in answers[1:]] == ["2010"] * len(BAD_INVOICES)


@pytest.mark.parametrize("options", [["void"], {"x": 1}, True])
def test_wrongly_typed_item_properties_refuse_the_whole_batch(api: Api, options: Any) -> None:
    # Jackson reads the whole IntuitBatchRequest before any item runs (as for `BatchItemRequest: [1]`).
    items = [{"bId": "1", "operation": "create", "Customer": {"DisplayName": "Never Saved"}},
             {"bId": "2", "operation": "update", "optionsData": options,
              "Customer": {"Id": "1", "SyncToken": "0", "sparse": True, "Notes": "n"}}]
    assert_fault(api.call("POST", "batch", body={"BatchItemRequest": items}), 400, "2010")
    found = api.call("GET", "query", query="SELECT * FROM Customer WHERE DisplayName = 'Never Saved'").json()
    assert found["QueryResponse"] == {}


def test_an_unexpected_failure_in_one_item_is_that_items_fault(api: Api, monkeypatch) -> None:
    # A defect of the sandbox itself, simulated: the invoice writer raises something that is no ApiFault.
    def broken(*_: Any) -> None:
        raise RuntimeError("simulated defect")
    monkeypatch.setitem(dispatch.UPSERTS, "Invoice", (broken, broken))
    invoice = {"CustomerRef": {"value": "1"}, "Line": [ITEM_LINE]}
    items = [{"bId": "1", "operation": "create", "Customer": {"DisplayName": "Saved Before The Defect"}},
             {"bId": "2", "operation": "create", "Invoice": invoice},
             {"bId": "3", "Query": "SELECT COUNT(*) FROM Customer WHERE DisplayName = "
                                   "'Saved Before The Defect'"}]
    first = api.call("POST", "batch", body={"BatchItemRequest": items}, requestid="defect-1")
    assert first.status_code == 200, first.text
    answers = first.json()["BatchItemResponse"]
    assert answers[1] == {"Fault": {"Error": [{"Message": "A business validation error has occurred while "
                                               "processing your request", "Detail": UNEXPECTED,
                                               "code": "6000", "element": ""}],
                                    "type": "ValidationFault"}, "bId": "2"}
    assert answers[2]["QueryResponse"]["totalCount"] == 1
    # The 200 is remembered, so a retry with the same requestid writes nothing twice.
    again = api.call("POST", "batch", body={"BatchItemRequest": items}, requestid="defect-1")
    assert again.content == first.content
