"""Fidelity: which properties a query may name (4001 otherwise) and name-list order without ORDERBY."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from quickbooks import exceptions
from quickbooks.objects.customer import Customer

from sandbox.quickbooks.query import parse, run
from sandbox.quickbooks.query_properties import QUERYABLE_PROPERTIES
from tests.sandbox.qbo_app_support import Api, Sandbox, connect, connected_api, fixture, quickbooks

CAPTURE = "customers_query_all_41__minimul_sandbox_2020-09-29.json"
VENDORS = Path(__file__).parent / "fixtures" / "qbo_query" / "get__inactive_vendors__0_get_200.json"
# What the project and python-quickbooks filter and sort by (reference §3, §4, §5; brief of this issue).
MUST_ACCEPT = {
    "Customer": ("Id", "DisplayName", "GivenName", "FamilyName", "CompanyName", "PrimaryEmailAddr", "Active",
                 "MetaData.CreateTime", "MetaData.LastUpdatedTime", "FullyQualifiedName", "Job", "ParentRef",
                 "Balance", "Metadata.LastUpdatedTime"),
    "Invoice": ("Id", "DocNumber", "TxnDate", "DueDate", "Balance", "CustomerRef", "TotalAmt",
                "MetaData.CreateTime", "MetaData.LastUpdatedTime"),
    "Payment": ("Id", "TxnDate", "CustomerRef", "TotalAmt", "MetaData.LastUpdatedTime"),
    "Item": ("Id", "Name", "Type", "Active", "FullyQualifiedName", "MetaData.LastUpdatedTime"),
}


@pytest.fixture(scope="module")
def api(qbo: Sandbox) -> Api:
    """The sample company over raw HTTP (queries only: the company is not changed)."""
    return connected_api(qbo)[0]


def _query(api: Api, statement: str) -> dict[str, Any]:
    response = api.call("GET", "query", query=statement)
    assert response.status_code == 200, response.text
    return response.json()["QueryResponse"]


@pytest.mark.parametrize(("statement", "named"), [
    ("SELECT * FROM Customer WHERE Notes = 'VIP'", "Notes"),
    ("SELECT * FROM Customer WHERE Title = 'Mr'", "Title"),  # unmarked in CUSTREF, unlike GivenName
    ("SELECT * FROM Customer WHERE DisplayName LIKE 'A%' AND Bogus = '1'", "Bogus"),
    ("SELECT * FROM Customer ORDERBY Notes", "Notes"),
    ("SELECT * FROM Customer ORDER BY DisplayName, PrimaryPhone DESC", "PrimaryPhone"),
    ("SELECT COUNT(*) FROM Customer WHERE Mobile = '1'", "Mobile"),
    ("SELECT * FROM Invoice WHERE PrivateNote = 'x'", "PrivateNote"),
    ("SELECT * FROM Invoice WHERE EmailStatus = 'EmailSent'", "EmailStatus"),
    ("SELECT * FROM Payment WHERE PaymentMethodRef = '2'", "PaymentMethodRef"),
    ("SELECT * FROM Item WHERE Description LIKE '%Fountain%'", "Description"),
    ("SELECT * FROM Customer WHERE MetaData.Foo = '1'", "MetaData.Foo"),
])
def test_non_queryable_property_is_the_real_4001(api: Api, statement: str, named: str) -> None:
    """ruckus/quickbooks-ruby#403 raw answer: 400, 4001 "Invalid query", "property 'X' is not queryable"."""
    response = api.call("GET", "query", query=statement)
    assert response.status_code == 400, response.text
    body = response.json()
    detail = f"QueryValidationError: property '{named}' is not queryable"
    assert body["Fault"] == {"Error": [{"Message": "Invalid query", "Detail": detail, "code": "4001"}],
                             "type": "ValidationFault"}
    assert "QueryResponse" not in body and isinstance(body["time"], str)


@pytest.mark.parametrize(("entity", "field"), [(entity, field) for entity, fields in MUST_ACCEPT.items()
                                               for field in fields])
def test_what_clients_filter_and_sort_by_is_accepted(api: Api, entity: str, field: str) -> None:
    assert field.casefold() in {name.casefold() for name in QUERYABLE_PROPERTIES[entity]}
    _query(api, f"SELECT * FROM {entity} WHERE {field} IN ('1') ORDERBY {field} DESC MAXRESULTS 2")


def test_primary_email_is_filtered_by_its_address(api: Api) -> None:
    """CUSTREF marks PrimaryEmailAddr filterable; Amy's sample record carries Birds@Intuit.com."""
    found = _query(api, "SELECT * FROM Customer WHERE PrimaryEmailAddr = 'Birds@Intuit.com'")["Customer"]
    assert [customer["Id"] for customer in found] == ["1"]


def test_python_quickbooks_raises_validation_4001(qbo: Sandbox) -> None:
    """python-quickbooks files 2000–4999 under ValidationException (reference §8); filter() still works."""
    client, realm_id = connect(qbo.url)
    qb = quickbooks(qbo.url, client, realm_id)
    with pytest.raises(exceptions.ValidationException) as caught:
        Customer.filter(Notes="VIP", qb=qb)
    assert caught.value.error_code == 4001
    assert caught.value.detail == "QueryValidationError: property 'Notes' is not queryable"
    assert [c.Id for c in Customer.filter(DisplayName="Cool Cars", qb=qb)] == ["3"]


# --- order without ORDERBY (reference §11) ------------------------------------------------------

def test_capture_order_is_reproduced_from_shuffled_records() -> None:
    """The 41-customer capture (Ids 1, 67, 2, 3, 4, 62, ...) is its own FullyQualifiedName order."""
    captured = fixture(CAPTURE)["QueryResponse"]["Customer"]
    shuffled = random.Random(41).sample(captured, len(captured))
    assert [c["Id"] for c in shuffled] != [c["Id"] for c in captured]
    rows = run(parse("SELECT * FROM Customer MAXRESULTS 1000", {"Customer"}), shuffled)
    assert [c["Id"] for c in rows] == [c["Id"] for c in captured]  # type: ignore[union-attr]
    assert [c["Id"] for c in captured][:6] == ["1", "67", "2", "3", "4", "62"]


def test_recorded_vendor_order_is_ordinal_and_case_sensitive() -> None:
    """Recorded vendor page (qbo_query/get__inactive_vendors): "PG&E" before "Pam Seitz"."""
    vendors = json.loads(VENDORS.read_bytes())["QueryResponse"]["Vendor"]
    shuffled = random.Random(27).sample(vendors, len(vendors))
    statement = "SELECT * FROM Vendor WHERE Active IN (true, false) MAXRESULTS 1000"
    rows = run(parse(statement, {"Vendor"}), shuffled)
    assert [v["Id"] for v in rows] == [v["Id"] for v in vendors]  # type: ignore[union-attr]


def test_sample_company_answers_the_capture_order_over_http(api: Api) -> None:
    """The sample company holds the captured customers under the same Ids and names."""
    captured = [c["Id"] for c in fixture(CAPTURE)["QueryResponse"]["Customer"]]
    listed = ", ".join(f"'{customer_id}'" for customer_id in sorted(captured, key=int))
    found = _query(api, f"SELECT * FROM Customer WHERE Id IN ({listed}) MAXRESULTS 1000")["Customer"]
    assert [c["Id"] for c in found] == captured


def test_name_lists_default_to_name_order_transactions_to_id_order(api: Api) -> None:
    statement = "SELECT * FROM Customer WHERE Active IN (true, false) MAXRESULTS 1000"
    customers = _query(api, statement)["Customer"]
    names = [c["FullyQualifiedName"] for c in customers]
    assert names == sorted(names) and len(names) > 41
    items = [i["FullyQualifiedName"] for i in _query(api, "SELECT * FROM Item")["Item"]]
    assert items == sorted(items) and items[0] == "Concrete"
    invoices = [int(i["Id"]) for i in _query(api, "SELECT * FROM Invoice MAXRESULTS 1000")["Invoice"]]
    assert invoices == sorted(invoices)  # kept: no source states the transactions' own order
    ordered = _query(api, "SELECT * FROM Customer ORDERBY Id MAXRESULTS 1000")["Customer"]
    by_id = [int(c["Id"]) for c in ordered]
    assert by_id == sorted(by_id)
