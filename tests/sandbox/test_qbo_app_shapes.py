"""The sandbox answers in the same shapes (keys and value types, recursively) as real QuickBooks bodies."""
from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.qbo_app_support import FIXTURES, Api, Sandbox, connected_api, fixture


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively; list elements merged into one shape; int and float are numbers."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return ["list", _merge([shape(item) for item in value])]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _merge(shapes: list[Any]) -> Any:
    """One shape for a list's elements: dict keys united, first type otherwise."""
    if not shapes:
        return None
    if all(isinstance(item, dict) for item in shapes):
        merged: dict[str, Any] = {}
        for item in shapes:
            for key, sub in item.items():
                merged[key] = _merge([merged[key], sub]) if key in merged else sub
        return merged
    return shapes[0]


def differences(mine: Any, real: Any, path: str = "$") -> list[str]:
    """Where the two shapes differ (an empty list on one side matches any list)."""
    if isinstance(mine, dict) and isinstance(real, dict):
        found = [f"{path}: missing {sorted(set(real) - set(mine))}"] if set(real) - set(mine) else []
        found += [f"{path}: extra {sorted(set(mine) - set(real))}"] if set(mine) - set(real) else []
        for key in set(mine) & set(real):
            found += differences(mine[key], real[key], f"{path}.{key}")
        return found
    if isinstance(mine, list) and isinstance(real, list):
        return [] if mine[1] is None or real[1] is None else differences(mine[1], real[1], f"{path}[]")
    return [] if mine == real else [f"{path}: {mine} != {real}"]


def same_shape(mine: Any, real: Any) -> None:
    """Assert the sandbox body has the real body's shape."""
    assert differences(shape(mine), shape(real)) == []


@pytest.fixture(scope="module")
def connected(qbo: Sandbox) -> tuple[Api, str]:
    return connected_api(qbo)


def test_customer_read_and_create(connected) -> None:
    api, _ = connected
    real = fixture("customer_5_read__minimul.json")
    writable = ("GivenName", "FamilyName", "CompanyName", "PrimaryPhone", "PrimaryEmailAddr", "BillAddr",
                "ShipAddr")
    twin = {**{k: real["Customer"][k] for k in writable}, "DisplayName": "Dukes Twin Camp"}
    twin_id = api.call("POST", "customer", body=twin).json()["Customer"]["Id"]
    same_shape(api.call("GET", f"customer/{twin_id}").json(), real)
    created = api.call("POST", "customer", body={"DisplayName": "Doe9, Jane"}).json()
    same_shape(created, fixture("create__customer__0_post_200.json"))
    # The seeded customer 5 comes from the real 41-customer query capture, which (unlike a read by id)
    # carries no DefaultTaxCodeRef: compare it with that capture's record.
    captured = fixture("customers_query_all_41__minimul_sandbox_2020-09-29.json")
    record = next(c for c in captured["QueryResponse"]["Customer"] if c["Id"] == "5")
    same_shape(api.call("GET", "customer/5").json()["Customer"], record)


def test_query_page_and_count(connected) -> None:
    api, _ = connected
    page = api.call("GET", "query", query="SELECT * FROM Customer WHERE Id IN ('5', '6') MAXRESULTS 2").json()
    same_shape(page, fixture("customers_query_IN_ids_page1__minimul.json"))
    assert page["QueryResponse"]["startPosition"] == 1 and page["QueryResponse"]["maxResults"] == 2
    same_shape(api.call("GET", "query", query="SELECT COUNT(*) FROM Customer").json(),
               fixture("all__customers__0_get_200.json"))


def test_invoice_create_read_delete_void(connected) -> None:
    api, _ = connected
    request_body = fixture("invoice_create_request__minimul.json")
    created = api.call("POST", "invoice", body=request_body).json()
    same_shape(created, fixture("invoice_create_response__minimul.json"))
    invoice = created["Invoice"]
    same_shape(api.call("GET", f"invoice/{invoice['Id']}").json(),
               fixture("invoice_266_read_before_delete__minimul.json"))
    deleted = api.call("POST", "invoice", body={"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]},
                       operation="delete").json()
    same_shape(deleted, fixture("invoice_266_delete_response_status_Deleted__minimul.json"))
    other = api.call("POST", "invoice", body=request_body).json()["Invoice"]
    voided = api.call("POST", "invoice", body={"Id": other["Id"], "SyncToken": "0"}, operation="void").json()
    same_shape(voided, fixture("invoice_void_response__minimul.json"))
    assert voided["Invoice"]["PrivateNote"] == "Voided" and voided["Invoice"]["SyncToken"] == "1"


def test_cdc_with_tombstone(connected, qbo: Sandbox) -> None:
    api, _ = connected
    since = qbo.control("POST", "clock", advance_seconds=2)["now"]
    request_body = fixture("invoice_create_request__minimul.json")
    kept = api.call("POST", "invoice", body=request_body).json()["Invoice"]
    gone = api.call("POST", "invoice", body=request_body).json()["Invoice"]
    api.call("POST", "invoice", body={"Id": gone["Id"], "SyncToken": "0"}, operation="delete")
    body = api.call("GET", "cdc", entities="Invoice,Estimate", changedSince=since).json()
    responses = body["CDCResponse"][0]["QueryResponse"]
    assert len(responses) == 2 and responses[1] == {}  # one element per entity; nothing changed → {}
    invoices = responses[0]["Invoice"]
    tombstone = next(item for item in invoices if item.get("status") == "Deleted")
    real_doc = fixture("cdc_sample_with_Deleted_tombstone__intuit_docs_via_finance_plugins.json")
    real_tombstone = real_doc["CDCResponse"][0]["QueryResponse"][1]["Estimate"][2]
    same_shape(tombstone, real_tombstone)
    live = [item for item in invoices if item.get("status") != "Deleted"]
    assert [item["Id"] for item in live] == [kept["Id"]]
    real = fixture("cdc_estimate_no_tombstone__minimul.json")
    paging = {k: v for k, v in responses[0].items() if k != "Invoice"}
    mine = {"CDCResponse": [{"QueryResponse": [{"Estimate": [], **paging}]}], "time": body["time"]}
    same_shape(mine, real)


def test_faults_6240_4001_4000(connected) -> None:
    api, _ = connected
    duplicate = api.call("POST", "customer", body=fixture("6240_duplicate_name__request_body.json"))
    assert duplicate.status_code == 400
    # identical, not just shaped
    assert duplicate.json()["Fault"] == fixture("6240_duplicate_name__400.json")["Fault"]
    invalid = api.call("GET", "query", query="SELECT * FROM Custmoer")
    assert invalid.status_code == 400
    assert invalid.json()["Fault"] == fixture("4001_invalid_query__400.json")["Fault"]
    parse_error = api.call("GET", "query", query="SELECT * FROM Customer WHERE")
    same_shape(parse_error.json(), fixture("4001_invalid_query__400.json"))


def test_gateway_401_body_and_headers(connected) -> None:
    api, realm_id = connected
    response = Api(api.base.split("/v3/")[0], "AB0expired", realm_id).call("GET", "customer/1")
    assert response.status_code == 401
    same_shape(response.json(), fixture("401_authentication_failed_token_expired.json"))
    real_headers = (FIXTURES / "401_authentication_failed__response_headers.txt").read_text().splitlines()[1:]
    wanted = {line.split(":", 1)[0].lower() for line in real_headers if line}
    assert {"content-type", "intuit-tid", "www-authenticate"} <= wanted
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Intuit-Tid"]
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="Intuit"')
