"""Malformed queries and bodies get QuickBooks-shaped Faults (status, envelope, code), never stack traces."""
from __future__ import annotations

import pytest

from tests.sandbox.qbo_app_support import Api, Sandbox, assert_fault, connected_api

LINE = {"Amount": 10.0, "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}

# (method, path, params, raw body or JSON body, expected status, expected code)
CASES = [
    ("POST", "customer", {}, b"{not json", 400, "2010"),
    ("POST", "customer", {}, b"[1, 2]", 400, "2010"),
    ("POST", "customer", {}, b"", 400, "2020"),
    ("POST", "customer", {}, {"BadJson": True, "DisplayName": "X"}, 400, "2010"),
    ("POST", "customer", {}, {"DisplayName": ["a list"]}, 400, "2010"),
    ("POST", "customer", {}, {"DisplayName": "Ok Name", "Active": "yes"}, 400, "2010"),
    ("POST", "customer", {}, {"DisplayName": "Ok Name", "PrimaryEmailAddr": "x@y.z"}, 400, "2010"),
    ("POST", "customer", {}, {"Notes": "no name at all"}, 400, "2020"),
    ("POST", "customer", {}, {"DisplayName": "x" * 501}, 400, "2050"),
    ("POST", "customer", {}, {"DisplayName": "Amy's Bird Sanctuary"}, 400, "6240"),
    ("POST", "customer", {}, {"DisplayName": "AMY'S BIRD SANCTUARY"}, 400, "6240"),
    ("POST", "customer", {}, {"Id": "1.5", "SyncToken": "0", "DisplayName": "N"}, 400, "2030"),
    ("POST", "customer", {}, {"Id": "999999", "SyncToken": "0", "DisplayName": "N"}, 400, "610"),
    ("POST", "customer", {}, {"Id": "1", "DisplayName": "No token"}, 400, "2020"),
    ("POST", "customer", {}, {"Id": "1", "SyncToken": "77", "DisplayName": "Stale"}, 400, "5010"),
    ("POST", "customer", {"operation": "delete"}, {"Id": "1", "SyncToken": "0"}, 400, "500"),
    ("GET", "customer/1.5", {}, None, 400, "2030"),
    ("GET", "customer/abc", {}, None, 400, "2030"),
    ("GET", "customer/999999", {}, None, 400, "610"),
    ("GET", "customer/1/5", {}, None, 400, "500"),
    ("DELETE", "customer/1", {}, None, 400, "500"),
    ("GET", "widget/1", {}, None, 400, "500"),
    ("POST", "invoice", {}, {"CustomerRef": {"value": "1"}}, 400, "2020"),
    ("POST", "invoice", {}, {"Line": [LINE]}, 400, "2020"),
    ("POST", "invoice", {}, {"Line": [LINE], "CustomerRef": {"value": "999999"}}, 400, "2500"),
    ("POST", "invoice", {}, {"Line": [LINE], "CustomerRef": {"value": "x1"}}, 400, "2030"),
    ("POST", "invoice", {}, {"Line": [{**LINE, "Amount": "ten"}], "CustomerRef": {"value": "1"}}, 400,
     "2010"),
    ("POST", "invoice", {}, {"Line": [{"Amount": 1}], "CustomerRef": {"value": "1"}}, 400, "2020"),
    ("POST", "invoice", {}, {"Line": [{**LINE, "DetailType": "Bogus"}], "CustomerRef": {"value": "1"}}, 400,
     "2010"),
    ("POST", "invoice", {}, {"Line": "not a list", "CustomerRef": {"value": "1"}}, 400, "2010"),
    ("POST", "invoice", {}, {"Line": [LINE], "CustomerRef": {"value": "1"}, "TxnDate": "29/09/2020"}, 400,
     "2010"),
    ("POST", "invoice", {"operation": "void"}, {"Id": "999999", "SyncToken": "0"}, 400, "610"),
    ("POST", "invoice", {"operation": "delete"}, {"Id": "abc", "SyncToken": "0"}, 400, "2030"),
    ("POST", "invoice", {"operation": "merge"}, {"Id": "1", "SyncToken": "0"}, 400, "500"),
    ("POST", "invoice/999999/send", {}, None, 400, "610"),
    ("POST", "payment", {}, {"TotalAmt": 5}, 400, "2020"),
    ("POST", "payment", {}, {"CustomerRef": {"value": "1"}}, 400, "2020"),
    ("POST", "payment", {}, {"CustomerRef": {"value": "1"}, "TotalAmt": 5,
                             "Line": [{"Amount": 5, "LinkedTxn": [{"TxnId": "999999",
                                                                   "TxnType": "Invoice"}]}]},
     400, "6000"),
    ("GET", "query", {"query": "SELECT * FROM Custmoer"}, None, 400, "4001"),
    ("GET", "query", {"query": "SELECT * FROM Customer WHERE"}, None, 400, "4000"),
    ("GET", "query", {"query": "SELECT * FROM Customer MAXRESULTS 1001"}, None, 400, "4001"),
    ("GET", "query", {"query": "SELECT * FROM Customer WHERE DisplayName = 'Amy\u2019s'"}, None, 400, "4000"),
    ("GET", "query", {"query": "SELECT * FROM Customer WHERE DisplayName = 'A' OR Id = '1'"}, None, 400,
     "4001"),
    ("GET", "query", {"query": "DROP TABLE Customer"}, None, 400, "4000"),
    ("GET", "query", {}, None, 400, "4000"),
    ("GET", "cdc", {"entities": "Customer"}, None, 400, "2020"),
    ("GET", "cdc", {"changedSince": "2030-01-01T00:00:00-08:00"}, None, 400, "2020"),
    ("GET", "cdc", {"entities": "Spaceship", "changedSince": "2030-01-01T00:00:00-08:00"}, None, 400, "2010"),
    ("GET", "cdc", {"entities": "Customer", "changedSince": "yesterday"}, None, 400, "2010"),
    ("GET", "cdc", {"entities": "Customer", "changedSince": "2001-01-01T00:00:00-08:00"}, None, 400, "500"),
    ("GET", "companyinfo/123", {}, None, 400, "610"),
]


@pytest.fixture(scope="module")
def api(qbo: Sandbox) -> Api:
    """One connection for all cases (none of them writes anything)."""
    return connected_api(qbo)[0]


@pytest.mark.parametrize("method,path,params,body,status,code", CASES,
                         ids=[f"{c[0]} {c[1]} {c[5]} #{i}" for i, c in enumerate(CASES)])
def test_malformed_request_gets_fault(api: Api, method, path, params, body, status, code) -> None:
    if isinstance(body, (bytes, type(None))):
        response = api.call(method, path, raw=body, **params)
    else:
        response = api.call(method, path, body=body, **params)
    assert b"Traceback" not in response.content and b"<html" not in response.content.lower()
    assert_fault(response, status, code)


def test_post_query_with_application_text(api: Api) -> None:
    response = api.call("POST", "query", raw="SELECT * FROM Customer WHERE Id = '1'",
                        content_type="application/text")
    assert response.status_code == 200
    assert [c["Id"] for c in response.json()["QueryResponse"]["Customer"]] == ["1"]


def test_fault_detail_for_unknown_entity_names_the_entity(api: Api) -> None:
    error = assert_fault(api.call("GET", "query", query="SELECT * FROM Custmoer"), 400, "4001")
    assert error["Detail"] == "QueryValidationError: invalid context declaration: Custmoer"


def test_stale_object_detail_matches_quickbooks_text(api: Api) -> None:
    error = assert_fault(api.call("POST", "customer", body={"Id": "1", "SyncToken": "9", "DisplayName": "Z"}),
                         400, "5010")
    assert error["Message"] == "Stale Object Error"
    assert "were working on this at the same time" in error["Detail"]
    assert "your work was not saved" in error["Detail"]
