"""Multi-currency fidelity: customer currency, transaction currency, home amounts, and both switch readings.

Sources: Customer reference `CurrencyRef` ("Once set, it cannot be changed. If specified currency is not
currently in the company's currency list, it is added. If not specified, currency for this customer is the
home currency", abossenbroek/qbo-mcp qbo-api-docs/entities/customer.md); reference §11 (ExchangeRate,
HomeTotalAmt, HomeBalance; Preferences.CurrencyPrefs); the currency-mismatch message quoted by the Connex and
Expensify QuickBooks Online error guides; exchange rates from sandbox/quickbooks/currencies.py.
"""
from __future__ import annotations

from typing import Any

import pytest
import requests

from sandbox.quickbooks.currencies import exchange_rate
from tests.sandbox.qbo_app_support import Api, Sandbox, assert_fault, connect, connected_api

LINE = {"Amount": 100.0, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
MISMATCH = ("Business Validation Error: The transaction needs to be in the same currency as the A/R and A/P "
            "accounts you use.")
MUELLER = "71"  # the sample company's EUR customer "Müller GmbH"


@pytest.fixture
def api(qbo: Sandbox) -> tuple[Api, str]:
    return connected_api(qbo)


def switches(qbo: Sandbox, realm_id: str, **values: Any) -> dict[str, Any]:
    return qbo.control("POST", f"realms/{realm_id}/switches", **values)


def ok(response: Any, entity: str) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()[entity]


def query(api: Api, statement: str, entity: str) -> list[dict[str, Any]]:
    return ok(api.call("GET", "query", query=statement), "QueryResponse").get(entity, [])


def test_customer_currency_is_given_or_home_and_new_currencies_join_the_list(api) -> None:
    api, _ = api
    euro = ok(api.call("POST", "customer", body={"DisplayName": "Kunde EUR", "CurrencyRef": {"value": "EUR"}}),
              "Customer")
    assert euro["CurrencyRef"] == {"value": "EUR", "name": "Euro"}
    home = ok(api.call("POST", "customer", body={"DisplayName": "Kunde ohne Währung"}), "Customer")
    assert home["CurrencyRef"] == {"value": "USD", "name": "United States Dollar"}
    assert [c["Code"] for c in query(api, "SELECT * FROM CompanyCurrency", "CompanyCurrency")] == [
        "EUR", "GBP", "CAD"]  # the sample company's foreign customers, in Id order
    yen = ok(api.call("POST", "customer", body={"DisplayName": "Kyoto KK", "CurrencyRef": {"value": "JPY"}}),
             "Customer")
    assert yen["CurrencyRef"] == {"value": "JPY", "name": "Japanese Yen"}
    listed = query(api, "SELECT * FROM CompanyCurrency", "CompanyCurrency")
    assert listed[-1]["Code"] == "JPY" and listed[-1]["Name"] == "Japanese Yen"
    assert ok(api.call("GET", f"companycurrency/{listed[-1]['Id']}"), "CompanyCurrency")["Code"] == "JPY"
    job = ok(api.call("POST", "customer", body={"DisplayName": "Filiale Hamburg", "Job": True,
                                                "ParentRef": {"value": euro["Id"]}}), "Customer")
    assert job["CurrencyRef"]["value"] == "EUR"
    unknown = api.call("POST", "customer", body={"DisplayName": "Nowhere", "CurrencyRef": {"value": "XYZ"}})
    assert_fault(unknown, 400, "2500")


def test_customer_currency_cannot_change_but_other_updates_keep_it(api) -> None:
    api, _ = api
    euro = ok(api.call("POST", "customer", body={"DisplayName": "Feste Währung AG",
                                                 "CurrencyRef": {"value": "EUR"}}), "Customer")
    change = {"Id": euro["Id"], "SyncToken": euro["SyncToken"], "sparse": True, "CurrencyRef": {"value": "USD"}}
    error = assert_fault(api.call("POST", "customer", body=change), 400, "6000")
    assert "cannot be changed" in error["Detail"]
    sparse = ok(api.call("POST", "customer", body={"Id": euro["Id"], "SyncToken": euro["SyncToken"],
                                                   "sparse": True, "Notes": "VIP"}), "Customer")
    assert sparse["CurrencyRef"]["value"] == "EUR"
    full = {key: value for key, value in sparse.items() if key != "CurrencyRef"}  # a full update without it
    assert ok(api.call("POST", "customer", body=full), "Customer")["CurrencyRef"]["value"] == "EUR"


def test_foreign_invoice_carries_exchange_rate_and_home_amounts(api) -> None:
    api, _ = api
    invoice = ok(api.call("POST", "invoice", body={"CustomerRef": {"value": MUELLER}, "Line": [LINE]}), "Invoice")
    assert invoice["CurrencyRef"] == {"value": "EUR", "name": "Euro"}
    assert invoice["ExchangeRate"] == exchange_rate("EUR") == 1.0825
    assert (invoice["TotalAmt"], invoice["HomeTotalAmt"], invoice["HomeBalance"]) == (100.0, 108.25, 108.25)
    own_rate = ok(api.call("POST", "invoice", body={"CustomerRef": {"value": MUELLER}, "Line": [LINE],
                                                    "CurrencyRef": {"value": "EUR"}, "ExchangeRate": 1.1}),
                  "Invoice")
    assert (own_rate["ExchangeRate"], own_rate["HomeTotalAmt"]) == (1.1, 110.0)
    payment = ok(api.call("POST", "payment", body={
        "CustomerRef": {"value": MUELLER}, "TotalAmt": 40.0,
        "Line": [{"Amount": 40.0, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]}), "Payment")
    assert payment["CurrencyRef"]["value"] == "EUR" and payment["ExchangeRate"] == 1.0825
    paid = ok(api.call("GET", f"invoice/{invoice['Id']}"), "Invoice")
    assert (paid["Balance"], paid["HomeBalance"], paid["HomeTotalAmt"]) == (60.0, 64.95, 108.25)
    # python-quickbooks sends ExchangeRate 1 on every invoice; a home-currency invoice carries none.
    home = ok(api.call("POST", "invoice", body={"CustomerRef": {"value": "1"}, "Line": [LINE],
                                                "ExchangeRate": 1}), "Invoice")
    assert home["CurrencyRef"]["value"] == "USD"
    assert not {"ExchangeRate", "HomeTotalAmt", "HomeBalance"} & set(home)


def test_invoice_currency_must_be_its_customers(api) -> None:
    api, _ = api
    refused = api.call("POST", "invoice", body={"CustomerRef": {"value": MUELLER}, "Line": [LINE],
                                                "CurrencyRef": {"value": "USD"}})
    assert assert_fault(refused, 400, "6000")["Detail"] == MISMATCH
    invoice = ok(api.call("POST", "invoice", body={"CustomerRef": {"value": "1"}, "Line": [LINE]}), "Invoice")
    moved = {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"], "sparse": True,
             "CustomerRef": {"value": MUELLER}}  # the USD invoice cannot move to an EUR customer
    assert assert_fault(api.call("POST", "invoice", body=moved), 400, "6000")["Detail"] == MISMATCH


def test_multicurrency_off_refuses_foreign_currencies(api, qbo: Sandbox) -> None:
    api, realm_id = api
    assert switches(qbo, realm_id, multi_currency=False)["multi_currency"] is False
    refused = api.call("POST", "customer", body={"DisplayName": "Kunde EUR", "CurrencyRef": {"value": "EUR"}})
    assert "Multicurrency is not enabled" in assert_fault(refused, 400, "6000")["Detail"]
    assert ok(api.call("POST", "customer", body={"DisplayName": "Home Only"}), "Customer")["CurrencyRef"][
        "value"] == "USD"
    mismatch = api.call("POST", "invoice", body={"CustomerRef": {"value": "1"}, "Line": [LINE],
                                                 "CurrencyRef": {"value": "EUR"}})
    assert assert_fault(mismatch, 400, "6000")["Detail"] == MISMATCH
    assert query(api, "SELECT * FROM CompanyCurrency", "CompanyCurrency") == []
    prefs = ok(api.call("GET", "preferences"), "Preferences")["CurrencyPrefs"]
    assert prefs == {"HomeCurrency": {"value": "USD"}, "MultiCurrencyEnabled": False}


def test_home_currency_switch_sets_defaults_and_rates(qbo: Sandbox) -> None:
    # Only a company without customers or transactions may switch (see the next test): an empty one.
    realm_id = qbo.reset(empty=True)
    client, _ = connect(qbo.url)
    api = Api(qbo.url, client.access_token, realm_id)
    switches(qbo, realm_id, home_currency="GBP")
    local = ok(api.call("POST", "customer", body={"DisplayName": "London Local"}), "Customer")
    assert local["CurrencyRef"]["value"] == "GBP"
    berlin = {"DisplayName": "Berlin Kunde", "CurrencyRef": {"value": "EUR"}}
    euro = ok(api.call("POST", "customer", body=berlin), "Customer")
    invoice = ok(api.call("POST", "invoice", body={"CustomerRef": {"value": euro["Id"]}, "Line": [LINE]}),
                 "Invoice")
    assert invoice["ExchangeRate"] == exchange_rate("EUR", "GBP") == round(1.0825 / 1.2675, 6)
    pounds = ok(api.call("POST", "invoice", body={"CustomerRef": {"value": local["Id"]}, "Line": [LINE]}),
                "Invoice")
    assert "ExchangeRate" not in pounds
    info = ok(api.call("GET", f"companyinfo/{realm_id}"), "CompanyInfo")
    assert {"Name": "HomeCurrency", "Value": "GBP"} in info["NameValue"]
    assert [c["Code"] for c in query(api, "SELECT * FROM CompanyCurrency", "CompanyCurrency")] == ["EUR"]


def test_home_currency_cannot_change_once_the_company_holds_records(api, qbo: Sandbox) -> None:
    # QuickBooks sets the home currency once (QuickBooks community: "Once the Multi-currency feature is
    # enabled, you'll no longer deactivate or change its home currency"); switching it under the sample
    # company's USD customers would leave their currencies and the currency list wrong.
    api, realm_id = api
    response = requests.post(f"{qbo.url}/_sandbox/realms/{realm_id}/switches",
                             json={"home_currency": "EUR", "country": "DE"}, timeout=10)
    assert response.status_code == 400 and "home_currency" in response.json()["error"]
    assert (switches(qbo, realm_id)["home_currency"], switches(qbo, realm_id)["country"]) == ("USD", "US")
    assert [c["Code"] for c in query(api, "SELECT * FROM CompanyCurrency", "CompanyCurrency")] == [
        "EUR", "GBP", "CAD"]
    assert switches(qbo, realm_id, home_currency="USD")["home_currency"] == "USD"  # no change is no switch


def test_switch_values_are_checked(qbo: Sandbox, api) -> None:
    _, realm_id = api
    for bad in ({"home_currency": "XYZ"}, {"country": "usa"}, {"multi_currency": "yes"}):
        response = requests.post(f"{qbo.url}/_sandbox/realms/{realm_id}/switches", json=bad, timeout=10)
        assert response.status_code == 400, bad
    current = switches(qbo, realm_id)
    assert (current["multi_currency"], current["home_currency"], current["country"]) == (True, "USD", "US")


def test_sample_company_invoices_are_in_their_customers_currency(api) -> None:
    api, _ = api
    customers = {c["Id"]: c for c in query(api, "SELECT * FROM Customer WHERE Active IN (true, false) "
                                                "MAXRESULTS 1000", "Customer")}
    invoices = query(api, "SELECT * FROM Invoice MAXRESULTS 1000", "Invoice")
    assert {i["CurrencyRef"]["value"] for i in invoices} == {"USD", "EUR", "GBP", "CAD"}
    for invoice in invoices:
        assert invoice["CurrencyRef"] == customers[invoice["CustomerRef"]["value"]]["CurrencyRef"]
        if invoice["CurrencyRef"]["value"] == "USD":
            assert "ExchangeRate" not in invoice and "HomeBalance" not in invoice
            continue
        rate = invoice["ExchangeRate"]
        assert invoice["HomeTotalAmt"] == pytest.approx(invoice["TotalAmt"] * rate, abs=0.006)
        assert invoice["HomeBalance"] == pytest.approx(invoice["Balance"] * rate, abs=0.006)


def test_sub_customers_share_their_parents_currency(api) -> None:
    # BalanceWithJobs sums a parent and its sub-customers (CUSTREF), so they must bill in one currency: the
    # QuickBooks customer form gives a sub-customer its parent's. The refusal's words are UNCERTAIN (6000).
    api, _ = api
    euro = {"DisplayName": "Euro Parent", "CurrencyRef": {"value": "EUR"}}
    parent = ok(api.call("POST", "customer", body=euro), "Customer")
    child = {"DisplayName": "Dollar Child", "Job": True, "ParentRef": {"value": parent["Id"]},
             "CurrencyRef": {"value": "USD"}}
    assert "parent" in assert_fault(api.call("POST", "customer", body=child), 400, "6000")["Detail"]
    same = ok(api.call("POST", "customer", body={**child, "CurrencyRef": {"value": "EUR"}}), "Customer")
    assert same["CurrencyRef"]["value"] == "EUR"
    dollars = ok(api.call("GET", "customer/2"), "Customer")  # a USD top-level customer with open invoices
    move = {"Id": "2", "SyncToken": dollars["SyncToken"], "sparse": True, "Job": True,
            "ParentRef": {"value": parent["Id"]}}
    assert_fault(api.call("POST", "customer", body=move), 400, "6000")
    assert ok(api.call("GET", "customer/2"), "Customer") == dollars
    assert ok(api.call("GET", f"customer/{parent['Id']}"), "Customer")["BalanceWithJobs"] == 0
