"""Fidelity: deactivating a customer renames it "<name> (deleted)" and frees the name (reference §11).

Sources: the real deactivate bodies in fixtures/quickbooks/recorded-bodies (copied to tests/sandbox/fixtures/qbo):
deactivate__employee__1_post_200.json (+ its request body), get__inactive_vendors__0_get_200.json and
deactivate__account__0_get_200.json. Customer follows by analogy; `rename_on_deactivate` switches it off.
"""
from __future__ import annotations

import json
from typing import Any

from quickbooks import QuickBooks
from quickbooks.objects.customer import Customer

from tests.sandbox.qbo_app_support import FIXTURES, Api, assert_fault, connected_api, fixture


def _customer(api: Api, customer_id: str) -> dict[str, Any]:
    response = api.call("GET", f"customer/{customer_id}")
    assert response.status_code == 200, response.text
    return response.json()["Customer"]


def _write(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.call("POST", "customer", body=body)
    assert response.status_code == 200, response.text
    return response.json()["Customer"]


def _deactivate(api: Api, record: dict[str, Any]) -> dict[str, Any]:
    """The sparse body of the real Employee deactivation, with this record's Id and SyncToken."""
    body = json.loads((FIXTURES / "deactivate__employee__1_post_200.request_body.txt").read_text())
    assert body == {"Id": "55", "SyncToken": "1", "sparse": True, "Active": False}
    return _write(api, {**body, "Id": record["Id"], "SyncToken": record["SyncToken"]})


def _query(api: Api, statement: str) -> list[dict[str, Any]]:
    response = api.call("GET", "query", query=statement)
    assert response.status_code == 200, response.text
    return response.json()["QueryResponse"].get("Customer", [])


def _real_suffix() -> str:
    """What a real deactivation appends (Employee, Vendor and Account bodies agree), from the fixtures."""
    employee = fixture("deactivate__employee__1_post_200.json")["Employee"]
    suffix = employee["DisplayName"].removeprefix(employee["PrintOnCheckName"])
    vendors = fixture("get__inactive_vendors__0_get_200.json")["QueryResponse"]["Vendor"]
    assert all(v["DisplayName"] == v["PrintOnCheckName"] + suffix for v in vendors if v["Active"] is False)
    account = fixture("deactivate__account__0_get_200.json")["Account"]
    assert account["Name"].endswith(suffix) and account["FullyQualifiedName"] == account["Name"]
    return suffix


def test_deactivation_renames_the_customer_and_frees_its_name(qbo) -> None:
    api, _ = connected_api(qbo)
    created = _write(api, {"DisplayName": "Harbor Lights", "GivenName": "Ann", "FamilyName": "Lee"})
    gone = _deactivate(api, created)
    # The sandbox renames as the real bodies do: the suffix on the name, PrintOnCheckName kept.
    assert (gone["DisplayName"], gone["FullyQualifiedName"]) == ("Harbor Lights" + _real_suffix(),) * 2
    assert (gone["PrintOnCheckName"], gone["Active"], gone["SyncToken"]) == ("Harbor Lights", False, "1")
    assert (gone["GivenName"], gone["FamilyName"]) == ("Ann", "Lee")
    assert _customer(api, created["Id"]) == gone
    again = _write(api, {"DisplayName": "Harbor Lights"})  # no 6240: the name is free
    active = _query(api, "SELECT * FROM Customer WHERE DisplayName = 'Harbor Lights'")
    assert [c["Id"] for c in active] == [again["Id"]]
    both = _query(api, "SELECT * FROM Customer WHERE DisplayName LIKE 'Harbor Lights%' "
                       "AND Active IN (true, false)")
    assert sorted(c["Id"] for c in both) == sorted([created["Id"], again["Id"]])


def test_with_the_switch_off_the_inactive_customer_keeps_its_name_and_6240_fires(qbo) -> None:
    """6240: "Must be unique across all Customer, Vendor, and Employee objects" — inactive ones included."""
    api, realm_id = connected_api(qbo)
    switches = qbo.control("POST", f"realms/{realm_id}/switches", rename_on_deactivate=False)
    assert switches["rename_on_deactivate"] is False
    created = _write(api, {"DisplayName": "Harbor Lights"})
    gone = _deactivate(api, created)
    assert (gone["DisplayName"], gone["Active"]) == ("Harbor Lights", False)
    assert_fault(api.call("POST", "customer", body={"DisplayName": "Harbor Lights"}), 400, "6240")
    assert_fault(api.call("POST", "customer", body={"DisplayName": "harbor LIGHTS"}), 400, "6240")
    # The sample's inactive "Paul Hendricks" (81, never renamed) blocks its name under either reading.
    assert _customer(api, "81")["Active"] is False
    assert_fault(api.call("POST", "customer", body={"GivenName": "Paul", "FamilyName": "Hendricks"}), 400, "6240")


def test_sub_customers_full_names_follow_a_deactivated_parent(qbo) -> None:
    """Sample tree 74 → 77 → 78; FullyQualifiedName "Customer:Job:Sub-job" (CUSTREF) stays consistent."""
    api, _ = connected_api(qbo)
    parent, child, grandchild = (_customer(api, customer_id) for customer_id in ("74", "77", "78"))
    assert grandchild["FullyQualifiedName"] == "O'Brien & Sons Ltd:Kensington Garden Project:Kensington Phase 2"
    _deactivate(api, parent)
    child_after, grandchild_after = _customer(api, "77"), _customer(api, "78")
    assert child_after["FullyQualifiedName"] == "O'Brien & Sons Ltd (deleted):Kensington Garden Project"
    assert grandchild_after["FullyQualifiedName"] == f"{child_after['FullyQualifiedName']}:Kensington Phase 2"
    assert (child_after["DisplayName"], child_after["SyncToken"]) == (child["DisplayName"], child["SyncToken"])
    assert grandchild_after["MetaData"]["LastUpdatedTime"] >= grandchild["MetaData"]["LastUpdatedTime"]
    found = _query(api, "SELECT * FROM Customer WHERE FullyQualifiedName = "
                        "'O\\'Brien & Sons Ltd (deleted):Kensington Garden Project'")
    assert [c["Id"] for c in found] == ["77"]
    last = _deactivate(api, grandchild_after)
    assert last["FullyQualifiedName"] == f"{child_after['FullyQualifiedName']}:Kensington Phase 2 (deleted)"
    assert last["DisplayName"] == "Kensington Phase 2 (deleted)"


def test_reactivation_keeps_the_deleted_name(qbo) -> None:
    """UNCERTAIN (no source): the suffix stays on reactivation, the harder reading for a client."""
    api, _ = connected_api(qbo)
    gone = _deactivate(api, _write(api, {"DisplayName": "Tidewater Co"}))
    back = _write(api, {"Id": gone["Id"], "SyncToken": gone["SyncToken"], "sparse": True, "Active": True})
    assert (back["DisplayName"], back["Active"]) == ("Tidewater Co (deleted)", True)
    assert _write(api, {"DisplayName": "Tidewater Co"})["Active"] is True


def test_a_second_inactive_namesake_still_deactivates(qbo) -> None:
    """UNCERTAIN what QuickBooks names it: the deactivation must not fail on 6240, the names must differ."""
    api, _ = connected_api(qbo)
    first = _deactivate(api, _write(api, {"DisplayName": "Tidewater Co"}))
    second = _deactivate(api, _write(api, {"DisplayName": "Tidewater Co"}))
    assert first["DisplayName"] == "Tidewater Co (deleted)"
    assert second["DisplayName"].startswith("Tidewater Co (deleted")
    assert second["DisplayName"] != first["DisplayName"]


def test_python_quickbooks_full_update_deactivation_renames(qb: QuickBooks) -> None:
    """python-quickbooks saves the whole object (full update); the rename applies to it too."""
    customer = Customer()
    customer.DisplayName = "Pelican Point"
    created = customer.save(qb=qb)
    fetched = Customer.get(created.Id, qb=qb)
    fetched.Active = False
    saved = fetched.save(qb=qb)
    assert (saved.DisplayName, saved.PrintOnCheckName) == ("Pelican Point (deleted)", "Pelican Point")
    assert saved.Active is False
    assert Customer.filter(DisplayName="Pelican Point", qb=qb) == []
    replacement = Customer()
    replacement.DisplayName = "Pelican Point"
    assert replacement.save(qb=qb).Id != created.Id
