"""Preferences, CompanyInfo and the tax lists: real shapes, switch readings, and python-quickbooks reading them.

Sources: Intuit Preferences API reference JSON example (tests/sandbox/fixtures/qbo_docs/INDEX.tsv); the
Customer reference naming Preferences.TaxPrefs.PartnerTaxEnabled (automated sales tax) and
Preferences.CurrencyPrefs.HomeCurrency; reference §11; python-quickbooks 0.9.12 objects/preferences.py,
taxcode.py, taxrate.py (Preferences.get reads GET /preferences; TaxCode/TaxRate are ReadMixin + ListMixin).
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from quickbooks.objects.preferences import Preferences
from quickbooks.objects.taxcode import TaxCode
from quickbooks.objects.taxrate import TaxRate

from tests.sandbox.qbo_app_support import FIXTURES, Api, Sandbox, connect, connected_api, quickbooks
from tests.sandbox.test_qbo_app_shapes import differences, shape

INTUIT_EXAMPLE = json.loads((FIXTURES.parent / "qbo_docs" / "preferences_read__intuit_api_reference.json").read_text())


@pytest.fixture
def api(qbo: Sandbox) -> tuple[Api, str]:
    return connected_api(qbo)


def read(api: Api, path: str, entity: str, **params: Any) -> Any:
    response = api.call("GET", path, **params)
    assert response.status_code == 200, response.text
    return response.json()[entity]


def name_values(info: dict[str, Any]) -> dict[str, str]:
    return {pair["Name"]: pair["Value"] for pair in info["NameValue"]}


def test_preferences_have_intuits_shape_and_the_query_answers_the_same(api) -> None:
    api, _ = api
    body = api.call("GET", "preferences").json()
    # The example predates automated sales tax; the sample company has no book-closing date.
    assert sorted(differences(shape(body), shape(INTUIT_EXAMPLE))) == [
        "$.Preferences.AccountingInfoPrefs: missing ['BookCloseDate']",
        "$.Preferences.TaxPrefs: extra ['PartnerTaxEnabled']"]
    prefs = body["Preferences"]
    assert prefs["CurrencyPrefs"] == {"HomeCurrency": {"value": "USD"}, "MultiCurrencyEnabled": True}
    assert prefs["TaxPrefs"] == {"TaxGroupCodeRef": {"value": "2"}, "UsingSalesTax": True, "PartnerTaxEnabled": True}
    assert read(api, "query", "QueryResponse", query="SELECT * FROM Preferences")["Preferences"] == [prefs]


def test_company_info_and_preferences_follow_both_switch_readings(api, qbo: Sandbox) -> None:
    api, realm_id = api
    info = read(api, f"companyinfo/{realm_id}", "CompanyInfo")
    assert info["Country"] == "US"
    assert (name_values(info)["HomeCurrency"], name_values(info)["MultiCurrencyEnabled"]) == ("USD", "true")
    qbo.control("POST", f"realms/{realm_id}/switches", multi_currency=False, country="CA")
    info = read(api, "query", "QueryResponse", query="SELECT * FROM CompanyInfo")["CompanyInfo"][0]
    assert info["Country"] == "CA" and name_values(info)["MultiCurrencyEnabled"] == "false"
    prefs = read(api, "preferences", "Preferences")
    assert prefs["CurrencyPrefs"]["MultiCurrencyEnabled"] is False
    assert prefs["TaxPrefs"]["PartnerTaxEnabled"] is False


def test_python_quickbooks_reads_preferences_tax_codes_and_tax_rates(qbo: Sandbox) -> None:
    realm_id = qbo.reset()
    client, _ = connect(qbo.url)
    qb = quickbooks(qbo.url, client, realm_id)
    prefs = Preferences.get(qb=qb)
    assert prefs.CurrencyPrefs.HomeCurrency.value == "USD" and prefs.CurrencyPrefs.MultiCurrencyEnabled is True
    assert prefs.TaxPrefs.PartnerTaxEnabled is True and prefs.TaxPrefs.TaxGroupCodeRef.value == "2"
    california = TaxCode.get("2", qb=qb)
    assert california.Name == "California"
    assert california.SalesTaxRateList.TaxRateDetail[0].TaxRateRef.value == "3"
    assert [code.Id for code in TaxCode.all(qb=qb)] == ["TAX", "NON", "2", "3"]
    rate = TaxRate.get("3", qb=qb)
    assert (rate.Name, rate.RateValue, rate.AgencyRef.value) == ("California", 8, "2")
    assert sorted(r.Id for r in TaxRate.all(qb=qb)) == ["1", "2", "3"]
    assert [r.Id for r in TaxRate.filter(Name="Tucson City", qb=qb)] == ["2"]
    qbo.control("POST", f"realms/{realm_id}/switches", multi_currency=False)
    assert Preferences.get(qb=qb).CurrencyPrefs.MultiCurrencyEnabled is False
