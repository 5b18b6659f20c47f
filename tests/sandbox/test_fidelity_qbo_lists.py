"""Fidelity: Term and Account reads and queries, and every reference the sample company makes resolves.

Sources: reference §9/§11; the real Account body deactivate__account__0_get_200.json and the real General
Ledger report reports__gl__0_get_200.json (recorded-bodies, copied to tests/sandbox/fixtures/qbo); Intuit's
Term/Account pages (read `GET /term/<id>`, `GET /account/<id>`; abossenbroek/qbo-mcp entities/*.md).
"""
from __future__ import annotations

from typing import Any

import pytest
from quickbooks import QuickBooks
from quickbooks.objects.account import Account
from quickbooks.objects.term import Term

from tests.sandbox.qbo_app_support import Api, assert_fault, connected_api, fixture

TERM_KEYS = ["Name", "Active", "Type", "DiscountPercent", "DueDays", "DiscountDays", "domain", "sparse", "Id",
             "SyncToken", "MetaData"]


def _get(api: Api, path: str) -> dict[str, Any]:
    response = api.call("GET", path)
    assert response.status_code == 200, response.text
    return next(value for key, value in response.json().items() if key != "time")


def _query(api: Api, statement: str) -> dict[str, Any]:
    response = api.call("GET", "query", query=statement)
    assert response.status_code == 200, response.text
    return response.json()["QueryResponse"]


def test_term_read_and_query(qbo) -> None:
    api, _ = connected_api(qbo)
    net30 = _get(api, "term/3")
    assert list(net30) == TERM_KEYS
    assert {k: net30[k] for k in ("Name", "Active", "Type", "DueDays", "domain", "sparse", "Id", "SyncToken")} == {
        "Name": "Net 30", "Active": True, "Type": "STANDARD", "DueDays": 30, "domain": "QBO", "sparse": False,
        "Id": "3", "SyncToken": "0"}
    terms = _query(api, "SELECT * FROM Term")["Term"]
    assert [(t["Id"], t["Name"], t["DueDays"]) for t in terms] == [
        ("1", "Due on receipt", 0), ("2", "Net 15", 15), ("3", "Net 30", 30), ("4", "Net 60", 60)]
    assert _query(api, "SELECT * FROM Term WHERE Name = 'Net 15'")["Term"][0]["Id"] == "2"
    assert _query(api, "SELECT COUNT(*) FROM Term")["totalCount"] == 4
    assert_fault(api.call("GET", "term/99"), 400, "610")


def test_account_read_is_shaped_like_the_real_account_body(qbo) -> None:
    """Account 5 is the real deactivated "Fees Billed (deleted)"; only its MetaData times differ."""
    api, _ = connected_api(qbo)
    real = fixture("deactivate__account__0_get_200.json")["Account"]
    ours = _get(api, "account/5")
    assert list(ours) == list(real)
    assert {k: v for k, v in ours.items() if k != "MetaData"} == {k: v for k, v in real.items() if k != "MetaData"}
    assert set(ours["MetaData"]) == {"CreateTime", "LastUpdatedTime"}
    sub = _get(api, "account/48")
    assert (sub["SubAccount"], sub["ParentRef"], sub["FullyQualifiedName"]) == (
        True, {"value": "45"}, "Landscaping Services:Job Materials")


def test_account_queries_filter_on_queryable_properties_only(qbo) -> None:
    """Inactive accounts are hidden unless Active is named; Term.DueDays is not queryable (4001).

    AccountSubType and FullyQualifiedName are marked filterable on Intuit's Account page, and Intuit's own
    sample IntuitDeveloper/Sample-InvoiceWithReimbursedCharge-DotNet (QBOApp.cs) sends
    `select * from account where AccountSubType='Checking'` (this test refused it before).
    """
    api, _ = connected_api(qbo)
    income = _query(api, "SELECT * FROM Account WHERE AccountType = 'Income' ORDERBY Id")["Account"]
    assert [a["Id"] for a in income] == ["1", "45", "48", "79", "82", "86"]
    with_inactive = _query(api, "SELECT * FROM Account WHERE AccountType = 'Income' AND Active IN (true, false)")
    assert "5" in [a["Id"] for a in with_inactive["Account"]]
    banks = _query(api, "SELECT * FROM Account WHERE Classification = 'Asset' AND Name LIKE '%ing%'")["Account"]
    assert [a["Name"] for a in banks] == ["Checking", "Savings"]
    checking = _query(api, "select * from Account where AccountSubType='Checking'")["Account"]
    assert [(a["Id"], a["Name"]) for a in checking] == [("35", "Checking")]
    landscaping = _query(api, "SELECT * FROM Account WHERE FullyQualifiedName LIKE 'Landscaping Services%' "
                              "ORDERBY FullyQualifiedName DESC")["Account"]
    assert [a["Id"] for a in landscaping] == ["48", "45"]
    for statement, prop in (("SELECT * FROM Account WHERE AccountNum = '1'", "AccountNum"),
                            ("SELECT * FROM Term WHERE DueDays = 30", "DueDays")):
        error = assert_fault(api.call("GET", "query", query=statement), 400, "4001")
        assert error["Detail"] == f"QueryValidationError: property '{prop}' is not queryable"


@pytest.mark.parametrize("any_case", [False, True])
def test_intuits_sample_account_query_under_each_entity_case_reading(qbo, any_case: bool) -> None:
    """IntuitDeveloper/Sample-InvoiceWithReimbursedCharge-DotNet QBOApp.cs, verbatim: lower-case `account`.

    Reference §3 says entity names are case-sensitive, Intuit's sample (and its Vendor/CompanyCurrency pages)
    write them in lower case: switch `query_entity_any_case` (UNCERTAIN), off by default.
    """
    api, realm_id = connected_api(qbo)
    qbo.control("POST", f"realms/{realm_id}/switches", query_entity_any_case=any_case)
    response = api.call("GET", "query", query="select * from account where AccountSubType='Checking'")
    if any_case:
        assert [a["Name"] for a in response.json()["QueryResponse"]["Account"]] == ["Checking"]
    else:
        error = assert_fault(response, 400, "4001")
        assert error["Detail"] == "QueryValidationError: invalid context declaration: account"


def test_every_account_of_the_real_general_ledger_exists_with_its_name(qbo) -> None:
    api, _ = connected_api(qbo)
    report = fixture("reports__gl__0_get_200.json")
    headers = [row["Header"]["ColData"][0] for row in report["Rows"]["Row"] if "id" in row["Header"]["ColData"][0]]
    assert len(headers) == 17
    for column in headers:
        assert _get(api, f"account/{column['id']}")["Name"] == column["value"]


def _assert_refs_resolve(api: Api) -> None:
    """Item income/asset accounts, invoice terms and discount accounts, payment deposit accounts exist."""
    accounts = {a["Id"]: a for a in _query(api, "SELECT * FROM Account WHERE Active IN (true, false)")["Account"]}
    terms = {t["Id"]: t for t in _query(api, "SELECT * FROM Term")["Term"]}
    for item in _query(api, "SELECT * FROM Item")["Item"]:
        for name in ("IncomeAccountRef", "AssetAccountRef"):
            if name in item:
                assert accounts[item[name]["value"]]["FullyQualifiedName"] == item[name]["name"], item
    invoices = _query(api, "SELECT * FROM Invoice MAXRESULTS 1000").get("Invoice", [])
    for invoice in invoices:
        if "SalesTermRef" in invoice:
            assert terms[invoice["SalesTermRef"]["value"]]["Name"] == invoice["SalesTermRef"]["name"]
        for line in invoice["Line"]:
            ref = line.get("DiscountLineDetail", {}).get("DiscountAccountRef")
            assert ref is None or accounts[ref["value"]]["Name"] == ref["name"]
    for payment in _query(api, "SELECT * FROM Payment MAXRESULTS 1000").get("Payment", []):
        assert payment["DepositToAccountRef"]["value"] in accounts


def test_sample_generated_and_empty_companies_reference_records_that_exist(qbo) -> None:
    api, realm_id = connected_api(qbo)
    _assert_refs_resolve(api)
    services = _get(api, "item/1")["IncomeAccountRef"]
    assert services == {"value": "1", "name": "Services"}  # the real GL credits the Services item there
    qbo.control("POST", "seed", realm_id=realm_id, customers=12, invoices=30, seed=3)
    _assert_refs_resolve(api)
    qbo.control("POST", "seed", realm_id=realm_id, empty=True)
    _assert_refs_resolve(api)
    assert _get(api, "account/1")["Name"] == "Services"


def test_python_quickbooks_reads_terms_and_accounts(qb: QuickBooks) -> None:
    """Term.all / Term.get / Account.get / Account.filter as an unmodified python-quickbooks client calls them."""
    assert [t.Name for t in Term.all(qb=qb)] == ["Due on receipt", "Net 15", "Net 30", "Net 60"]
    assert Term.get(3, qb=qb).DueDays == 30
    fees = Account.get(5, qb=qb)
    assert (fees.Name, fees.Active, fees.AccountType) == ("Fees Billed (deleted)", False, "Income")
    income = Account.filter(AccountType="Income", qb=qb)
    assert {a.Name for a in income} >= {"Services", "Design income", "Sales of Product Income"}
    assert Account.count("Classification = 'Revenue'", qb=qb) == 6
    assert [a.Name for a in Account.filter(AccountSubType="Checking", qb=qb)] == ["Checking"]
    materials = Account.filter(FullyQualifiedName="Landscaping Services:Job Materials", qb=qb)
    assert [a.Id for a in materials] == ["48"]
