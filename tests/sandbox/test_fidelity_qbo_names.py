"""Fidelity: 6240 name uniqueness as the real sample company shows it (reference §4, §10)."""
from __future__ import annotations

from tests.sandbox.qbo_app_support import Api, assert_fault, connected_api, fixture


def _customer(api: Api, customer_id: str) -> dict:
    response = api.call("GET", f"customer/{customer_id}")
    assert response.status_code == 200, response.text
    return response.json()["Customer"]


def test_sample_keeps_quickbooks_duplicate_jack_doe_and_both_stay_writable(qbo) -> None:
    """The real sandbox holds top-level "Jack Doe" (60) and sub-customer "Doe, Jack:Jack Doe" (64)."""
    real = {c["Id"]: c for c in fixture("customers_query_all_41__minimul_sandbox_2020-09-29.json")["QueryResponse"]["Customer"]}
    assert real["60"]["DisplayName"] == real["64"]["DisplayName"] == "Jack Doe"
    api, _ = connected_api(qbo)
    top, sub = _customer(api, "60"), _customer(api, "64")
    assert (top["FullyQualifiedName"], sub["FullyQualifiedName"]) == ("Jack Doe", "Doe, Jack:Jack Doe")
    for record in (sub, top):
        body = {"Id": record["Id"], "SyncToken": record["SyncToken"], "sparse": True, "Notes": "touched"}
        response = api.call("POST", "customer", body=body)
        assert response.status_code == 200, response.text
        assert response.json()["Customer"]["DisplayName"] == "Jack Doe"


def test_uniqueness_is_by_fully_qualified_name_among_customers(qbo) -> None:
    """Same DisplayName under another parent is allowed; same full name (any case) is 6240."""
    api, _ = connected_api(qbo)
    job = {"DisplayName": "Jack Doe", "Job": True, "ParentRef": {"value": "7"}}
    created = api.call("POST", "customer", body=job)
    assert created.status_code == 200, created.text
    assert created.json()["Customer"]["FullyQualifiedName"] == "Freeman Sporting Goods:Jack Doe"
    assert_fault(api.call("POST", "customer", body=job), 400, "6240")
    assert_fault(api.call("POST", "customer", body={"DisplayName": "jack DOE"}), 400, "6240")
    sub_name_as_top = api.call("POST", "customer", body={"DisplayName": "0969 Ocean View Road"})
    assert sub_name_as_top.status_code == 200, sub_name_as_top.text


def test_6240_body_matches_the_real_fault(qbo) -> None:
    """Same Message/code/no element as the captured 6240; the detail is keyed on code, not text."""
    api, _ = connected_api(qbo)
    error = assert_fault(api.call("POST", "customer", body={"DisplayName": "Amy's Bird Sanctuary"}), 400, "6240")
    real = fixture("6240_duplicate_name__400.json")["Fault"]["Error"][0]
    assert set(error) == set(real) and error["Message"] == real["Message"]


def test_vendor_and_employee_names_block_a_customer_name(qbo) -> None:
    """DisplayName "Must be unique across all Customer, Vendor, and Employee objects" (CUSTREF)."""
    api, realm_id = connected_api(qbo)
    qbo.control("POST", f"realms/{realm_id}/names", entity="Vendor", DisplayName="Books by Bessie")
    qbo.control("POST", f"realms/{realm_id}/names", entity="Employee", DisplayName="Emily Platt")
    assert_fault(api.call("POST", "customer", body={"DisplayName": "Books by Bessie"}), 400, "6240")
    assert_fault(api.call("POST", "customer", body={"GivenName": "Emily", "FamilyName": "Platt"}), 400, "6240")
    renamed = _customer(api, "1")
    body = {"Id": "1", "SyncToken": renamed["SyncToken"], "sparse": True, "DisplayName": "Books by Bessie"}
    assert_fault(api.call("POST", "customer", body=body), 400, "6240")


def test_a_6240_answer_is_replayed_for_its_requestid_even_once_the_name_is_free(qbo) -> None:
    """Reference §6: the same requestid gets the first response replayed, faults included (Intuit's
    requestid post), so an exporter that resolves 6240 must retry under a new requestid; an inactive
    customer's name is freed by the "(deleted)" rename (reference §11)."""
    api, _ = connected_api(qbo)
    holder = api.call("POST", "customer", body={"DisplayName": "Replay Birds"}).json()["Customer"]
    body = {"DisplayName": "replay birds", "PrimaryEmailAddr": {"Address": "r@example.com"}}
    assert_fault(api.call("POST", "customer", body=body, requestid="export-7"), 400, "6240")
    deactivate = {"Id": holder["Id"], "SyncToken": holder["SyncToken"], "sparse": True, "Active": False}
    renamed = api.call("POST", "customer", body=deactivate).json()["Customer"]
    assert renamed["DisplayName"] == "Replay Birds (deleted)"
    assert_fault(api.call("POST", "customer", body=body, requestid="export-7"), 400, "6240")
    created = api.call("POST", "customer", body=body, requestid="export-8")
    assert created.status_code == 200, created.text
    assert created.json()["Customer"]["DisplayName"] == "replay birds"
