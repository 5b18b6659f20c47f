"""Fidelity: the Customer:Job tree — BalanceWithJobs through every ancestor, nesting depth, name characters.

Sources: CUSTREF (Intuit's Customer reference, scraped verbatim in abossenbroek/qbo-mcp
qbo-api-docs/entities/customer.md): BalanceWithJobs is the "Cumulative open balance amount for the Customer
(or Job) and all its sub-jobs"; "Up to four levels of nesting can be defined under a top-level parent";
"The DisplayName, Title, GivenName, MiddleName, FamilyName, Suffix, and PrintOnCheckName attributes must not
contain colon (:), tab (\\t), or newline (\\n) characters." Reference §11 restates all three.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from quickbooks import QuickBooks, exceptions
from quickbooks.objects.customer import Customer

from tests.sandbox.qbo_app_support import Api, assert_fault, connected_api

NAME_FIELDS = ("DisplayName", "Title", "GivenName", "MiddleName", "FamilyName", "Suffix", "PrintOnCheckName")


def _post(api: Api, path: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = api.call("POST", path, body=body, **params)
    assert response.status_code == 200, response.text
    return next(iter(value for key, value in response.json().items() if key != "time"))


def _job(api: Api, name: str, parent_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"DisplayName": name}
    if parent_id is not None:
        body.update({"Job": True, "ParentRef": {"value": parent_id}})
    return _post(api, "customer", body)


def _line(amount: float) -> dict[str, Any]:
    detail = {"ItemRef": {"value": "1"}}
    return {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail}


def _invoice(api: Api, customer_id: str, amount: float) -> dict[str, Any]:
    return _post(api, "invoice", {"CustomerRef": {"value": customer_id}, "Line": [_line(amount)]})


def _all(api: Api, entity: str, where: str = "") -> list[dict[str, Any]]:
    response = api.call("GET", "query", query=f"SELECT * FROM {entity} {where} MAXRESULTS 1000")
    assert response.status_code == 200, response.text
    return response.json()["QueryResponse"].get(entity, [])


def _assert_rollup(api: Api) -> dict[str, dict[str, Any]]:
    """Over HTTP, for every customer: Balance = its open invoices, BalanceWithJobs = it + all descendants."""
    customers = {c["Id"]: c for c in _all(api, "Customer", "WHERE Active IN (true, false)")}
    own: dict[str, Decimal] = {customer_id: Decimal(0) for customer_id in customers}
    for invoice in _all(api, "Invoice"):
        own[invoice["CustomerRef"]["value"]] += Decimal(str(invoice["Balance"]))
    totals = dict(own)
    for customer_id, customer in customers.items():
        parent = customer.get("ParentRef", {}).get("value")
        while parent:
            totals[parent] += own[customer_id]
            parent = customers[parent].get("ParentRef", {}).get("value")
    for customer_id, customer in customers.items():
        assert Decimal(str(customer["Balance"])) == own[customer_id], customer
        assert Decimal(str(customer["BalanceWithJobs"])) == totals[customer_id], customer
    return customers


def test_balance_with_jobs_rolls_up_through_every_ancestor(qbo) -> None:
    """Invoice create/update/void/delete and a payment on a grandchild move every ancestor's BalanceWithJobs."""
    api, _ = connected_api(qbo)
    top = _job(api, "Rollup Top", None)
    child = _job(api, "Rollup Child", top["Id"])
    grandchild = _job(api, "Rollup Grandchild", child["Id"])
    first = _invoice(api, grandchild["Id"], 100)
    second = _invoice(api, child["Id"], 40)
    assert _assert_rollup(api)[top["Id"]]["BalanceWithJobs"] == 140
    first = _post(api, "invoice", {"Id": first["Id"], "SyncToken": first["SyncToken"], "sparse": True,
                                   "Line": [_line(250)]})
    assert _assert_rollup(api)[top["Id"]]["BalanceWithJobs"] == 290
    payment_line = {"Amount": 50, "LinkedTxn": [{"TxnId": first["Id"], "TxnType": "Invoice"}]}
    _post(api, "payment", {"CustomerRef": {"value": grandchild["Id"]}, "TotalAmt": 50, "Line": [payment_line]})
    assert _assert_rollup(api)[top["Id"]]["BalanceWithJobs"] == 240
    _post(api, "invoice", {"Id": second["Id"], "SyncToken": second["SyncToken"]}, operation="void")
    rolled = _assert_rollup(api)
    assert (rolled[top["Id"]]["BalanceWithJobs"], rolled[child["Id"]]["Balance"]) == (200, 0)
    current = api.call("GET", f"invoice/{first['Id']}").json()["Invoice"]
    _post(api, "invoice", {"Id": current["Id"], "SyncToken": current["SyncToken"]}, operation="delete")
    rolled = _assert_rollup(api)
    assert [rolled[c["Id"]]["BalanceWithJobs"] for c in (top, child, grandchild)] == [0, 0, 0]


def test_moving_a_sub_customer_moves_its_balance_full_name_and_level(qbo) -> None:
    api, _ = connected_api(qbo)
    old_top, new_top = _job(api, "Old Top", None), _job(api, "New Top", None)
    middle = _job(api, "Middle", old_top["Id"])
    leaf = _job(api, "Leaf", middle["Id"])
    _invoice(api, leaf["Id"], 75)
    moved = _post(api, "customer", {"Id": middle["Id"], "SyncToken": middle["SyncToken"], "sparse": True,
                                    "ParentRef": {"value": new_top["Id"]}})
    assert (moved["FullyQualifiedName"], moved["Level"]) == ("New Top:Middle", 1)
    rolled = _assert_rollup(api)
    assert (rolled[old_top["Id"]]["BalanceWithJobs"], rolled[new_top["Id"]]["BalanceWithJobs"]) == (0, 75)
    assert (rolled[leaf["Id"]]["FullyQualifiedName"], rolled[leaf["Id"]]["Level"]) == ("New Top:Middle:Leaf", 2)


def test_renaming_a_parent_renames_its_sub_customers_full_names(qbo) -> None:
    """Sample customer 7 has sub-customers 8 and 9 (real 41-customer capture)."""
    api, _ = connected_api(qbo)
    parent = api.call("GET", "customer/7").json()["Customer"]
    _post(api, "customer", {"Id": "7", "SyncToken": parent["SyncToken"], "sparse": True,
                            "DisplayName": "Freeman Sports"})
    names = {c["Id"]: c["FullyQualifiedName"] for c in _all(api, "Customer", "WHERE Id IN ('8', '9')")}
    assert names == {"8": "Freeman Sports:0969 Ocean View Road", "9": "Freeman Sports:55 Twin Lane"}
    assert_fault(api.call("POST", "customer", body={"DisplayName": "55 Twin Lane", "Job": True,
                                                    "ParentRef": {"value": "7"}}), 400, "6240")


def test_nesting_stops_four_levels_under_a_top_level_customer(qbo) -> None:
    """Level 0 is the top; Levels 1-4 are allowed, a fifth level is refused (6000 family: UNCERTAIN Fault)."""
    api, _ = connected_api(qbo)
    chain = [_job(api, "Depth 0", None)]
    for level in range(1, 5):
        chain.append(_job(api, f"Depth {level}", chain[-1]["Id"]))
        assert chain[-1]["Level"] == level
    too_deep = {"DisplayName": "Depth 5", "Job": True, "ParentRef": {"value": chain[-1]["Id"]}}
    error = assert_fault(api.call("POST", "customer", body=too_deep), 400, "6000")
    assert "level" in error["Detail"]
    side = _job(api, "Side", None)
    _job(api, "Side Child", side["Id"])
    onto_level_3 = {"Id": side["Id"], "SyncToken": side["SyncToken"], "sparse": True, "Job": True,
                    "ParentRef": {"value": chain[3]["Id"]}}  # Side → 4, Side Child → 5
    assert_fault(api.call("POST", "customer", body=onto_level_3), 400, "6000")
    loop = {"Id": chain[1]["Id"], "SyncToken": chain[1]["SyncToken"], "sparse": True,
            "ParentRef": {"value": chain[3]["Id"]}}
    assert "itself" in assert_fault(api.call("POST", "customer", body=loop), 400, "6000")["Detail"]


@pytest.mark.parametrize("banned", [":", "\t", "\n"], ids=["colon", "tab", "newline"])
@pytest.mark.parametrize("field", NAME_FIELDS)
def test_colon_tab_and_newline_are_refused_in_every_name_field(qbo, field: str, banned: str) -> None:
    api, _ = connected_api(qbo)
    body = {"DisplayName": "Clean Name", field: f"Bad{banned}Part"}
    error = assert_fault(api.call("POST", "customer", body=body), 400, "2170")
    assert error["element"] == field
    token = api.call("GET", "customer/1").json()["Customer"]["SyncToken"]
    sparse = {"Id": "1", "SyncToken": token, "sparse": True, field: f"Bad{banned}Part"}
    assert assert_fault(api.call("POST", "customer", body=sparse), 400, "2170")["element"] == field


def test_python_quickbooks_raises_validation_exception_for_a_bad_name_part(qb: QuickBooks) -> None:
    """python-quickbooks maps codes 2000-4999 to ValidationException (client.py handle_exceptions)."""
    customer = Customer()
    customer.DisplayName = "Colon Test"
    customer.MiddleName = "J:R"
    with pytest.raises(exceptions.ValidationException) as raised:
        customer.save(qb=qb)
    assert raised.value.error_code == 2170
    customer.MiddleName = "JR"
    assert customer.save(qb=qb).MiddleName == "JR"
