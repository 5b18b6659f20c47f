"""Fidelity: `SELECT *, <prop>` projections and the property tables of the entities served from settings.

Sources: python-quickbooks 0.9.12 mixins.py `ListMixin.all` (Item: `SELECT *, Sku FROM Item`) and its issue
#373 (QuickBooks returns Sku only when asked); the 4001 wording of ruckus/quickbooks-ruby#403 (reference
§11: a property that is not queryable is refused, never answered with an empty page); the "filterable" /
"sortable" marks of Intuit's TaxCode, TaxRate, CompanyCurrency, CompanyInfo, Preferences, Vendor, Employee,
Class, Department and PaymentMethod reference pages (sandbox/quickbooks/query_properties_lists.py).
"""
from __future__ import annotations

from typing import Any

import pytest
from quickbooks.objects.item import Item

from sandbox.quickbooks.query_properties_lists import CATALOG_PROPERTIES, EMPTY_LIST_PROPERTIES
from tests.sandbox.qbo_app_support import Api, Sandbox, assert_fault, connect, connected_api, quickbooks


@pytest.fixture(scope="module")
def api(qbo: Sandbox) -> Api:
    """The sample company over raw HTTP (queries only: the company is not changed)."""
    return connected_api(qbo)[0]


def _page(api: Api, statement: str) -> dict[str, Any]:
    response = api.call("GET", "query", query=statement)
    assert response.status_code == 200, response.text
    return response.json()["QueryResponse"]


def _not_queryable(api: Api, statement: str, named: str) -> None:
    error = assert_fault(api.call("GET", "query", query=statement), 400, "4001")
    assert error["Detail"] == f"QueryValidationError: property '{named}' is not queryable"


def test_python_quickbooks_item_all_sends_star_sku_and_gets_every_item(qbo: Sandbox) -> None:
    """Item.all() sends `SELECT *, Sku FROM Item MAXRESULTS 100` (it answered 4000 before)."""
    client, realm_id = connect(qbo.url)
    qb = quickbooks(qbo.url, client, realm_id)
    api = Api(qbo.url, client.access_token, realm_id)
    every = [item["Id"] for item in _page(api, "SELECT * FROM Item MAXRESULTS 100")["Item"]]
    assert [item.Id for item in Item.all(qb=qb)] == every and len(every) > 10


def test_star_with_properties_reads_like_star(api: Api) -> None:
    """Projected properties change nothing in the records; they are checked like WHERE properties."""
    plain = _page(api, "SELECT * FROM Item WHERE Type = 'Service' ORDERBY Id")
    assert _page(api, "SELECT *, Sku, Name FROM Item WHERE Type = 'Service' ORDERBY Id") == plain
    assert _page(api, "SELECT *, Sku FROM Item WHERE Name = 'No such item'") == {}
    count = _page(api, "SELECT COUNT(*) FROM Item WHERE Type = 'Service'")
    assert count == {"totalCount": len(plain["Item"])}
    _not_queryable(api, "SELECT *, Bogus FROM Item", "Bogus")
    _not_queryable(api, "SELECT *, Sku, Description FROM Item", "Description")


@pytest.mark.parametrize("statement", [
    "SELECT Id, Name FROM Item", "SELECT Sku, * FROM Item", "SELECT *, FROM Item", "SELECT *, Sku Item",
    "SELECT COUNT(*), Sku FROM Item"])
def test_other_projections_stay_parse_errors(api: Api, statement: str) -> None:
    """Reference §3: no projections besides `*` (and now `*, <prop>`); QuickBooks' 4000 parser fault."""
    error = assert_fault(api.call("GET", "query", query=statement), 400, "4000")
    assert error["Detail"].startswith("QueryParserError: ")


@pytest.mark.parametrize("entity", sorted({**CATALOG_PROPERTIES, **EMPTY_LIST_PROPERTIES}))
def test_made_up_property_is_4001_on_every_entity_with_a_table(api: Api, entity: str) -> None:
    """`SELECT * FROM TaxCode WHERE Bogus = '1'` answered `{}` before (no table for TaxCode)."""
    _not_queryable(api, f"SELECT * FROM {entity} WHERE Bogus = '1'", "Bogus")
    _not_queryable(api, f"SELECT * FROM {entity} ORDERBY Bogus", "Bogus")


@pytest.mark.parametrize(("statement", "entity", "ids"), [
    ("SELECT * FROM TaxCode WHERE Name = 'TAX'", "TaxCode", ["TAX"]),
    ("SELECT * FROM TaxCode WHERE Active = true AND Description LIKE 'Cal%'", "TaxCode", ["2"]),
    ("SELECT * FROM TaxRate WHERE AgencyRef = '2' ORDERBY Name", "TaxRate", ["3"]),
    ("SELECT * FROM CompanyCurrency WHERE Code = 'EUR'", "CompanyCurrency", ["1"]),
    ("SELECT * FROM CompanyInfo WHERE Id = '1'", "CompanyInfo", ["1"]),
    ("SELECT * FROM Preferences WHERE MetaData.LastUpdatedTime > '2000-01-01'", "Preferences", ["1"]),
])
def test_marked_properties_of_served_entities_filter(api: Api, statement: str, entity: str,
                                                       ids: list[str]) -> None:
    """The sample company's TaxCode 2 "California" (8 %, agency 2), TaxRate 3, EUR as CompanyCurrency 1."""
    assert [record["Id"] for record in _page(api, statement)[entity]] == ids


@pytest.mark.parametrize(("statement", "named"), [
    ("SELECT * FROM TaxCode WHERE TaxGroup = true", "TaxGroup"),  # read only, not filterable
    ("SELECT * FROM TaxRate WHERE RateValue > '5'", "RateValue"),
    ("SELECT * FROM CompanyInfo WHERE CompanyName = 'x'", "CompanyName"),
    # Preferences: "filtering enabled for Metadata timestamp attributes" only.
    ("SELECT * FROM Preferences WHERE Id = '1'", "Id"),
    ("SELECT * FROM Vendor WHERE Title = 'Mr'", "Title"),
    ("SELECT * FROM Employee WHERE CompanyName = 'x'", "CompanyName"),
])
def test_unmarked_properties_of_served_entities_are_4001(api: Api, statement: str, named: str) -> None:
    _not_queryable(api, statement, named)


def test_name_lists_answered_empty_accept_their_marked_properties(api: Api) -> None:
    """Vendor/Employee/Class/Department/PaymentMethod hold no records here: marked properties give `{}`."""
    for statement in ("SELECT * FROM Vendor WHERE DisplayName = 'x' ORDERBY Balance",
                      "SELECT * FROM Employee WHERE GivenName LIKE 'A%' AND Active IN (true, false)",
                      "SELECT * FROM Class WHERE Name LIKE 'France'",
                      "SELECT * FROM Department WHERE FullyQualifiedName = 'x'",
                      "SELECT * FROM PaymentMethod WHERE Name = 'Visa'"):
        assert _page(api, statement) == {}


def test_transactions_answered_empty_are_not_checked(api: Api) -> None:
    """Known limit: no table for the transactions the sandbox does not store (query_properties_lists)."""
    assert _page(api, "SELECT * FROM Bill WHERE Bogus = '1'") == {}
