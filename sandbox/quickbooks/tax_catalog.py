"""The company's TaxCode and TaxRate lists (read-only: QuickBooks creates them through TaxService).

US companies answer Intuit's own sample lists, record for record (TaxCode and TaxRate API reference,
"Query a TaxCode" / "Query a TaxRate" responses: codes TAX, NON, 2 "California" -> rate 3 at 8 %,
3 "Tucson" -> rates 1 and 2), which is also what the 2023 sandbox invoices use (invoice 119:
TxnTaxCodeRef 2 -> TaxRateRef 3, 8 %). Non-US companies get one standard VAT/GST code shaped like the
real UK code "20.0% S" quoted in intuit/QuickBooks-V3-PHP-SDK#48, at the country's standard rate;
the rate table and the Ids are the sandbox's choice (UNCERTAIN).
"""
from __future__ import annotations

from typing import Any

from .realm import Realm

# (Id, Name, RateValue, AgencyRef) of Intuit's sample company, in Name order like the reference's answer.
US_RATES = (("1", "AZ State tax", 7.1, "1"), ("3", "California", 8, "2"), ("2", "Tucson City", 2, "1"))
# (Id, Name, sales rate Ids); TAX and NON are the line-level pseudo codes a US company answers too.
US_CODES = (("2", "California", ("3",)), ("3", "Tucson", ("1", "2")))
# Standard VAT/GST rates (per cent) of the countries the sandbox is likely to be switched to; others 20.
STANDARD_RATES = {"CA": 5, "AU": 10, "NZ": 15, "GB": 20, "IE": 23, "FR": 20, "DE": 19, "IN": 18}
NON_US_CODE_ID, NON_US_SALES_RATE_ID, NON_US_PURCHASE_RATE_ID = "4", "4", "3"


def _meta(realm: Realm) -> dict[str, str]:
    """Catalogue records carry the company's creation time (Intuit's samples share one stamp too)."""
    created = realm.company_info.get("MetaData", {}).get("CreateTime", "2020-09-29T04:40:00-07:00")
    return {"CreateTime": created, "LastUpdatedTime": created}


def _rate(realm: Realm, rate_id: str, name: str, value: float, agency: str) -> dict[str, Any]:
    """A TaxRate in the key order of Intuit's reference response."""
    return {"RateValue": value, "AgencyRef": {"value": agency}, "domain": "QBO", "Name": name,
            "SyncToken": "0", "SpecialTaxType": "NONE", "DisplayType": "ReadOnly", "sparse": False,
            "Active": True, "MetaData": _meta(realm), "Id": rate_id, "Description": "Sales Tax"}


def _detail(rate_id: str, name: str) -> dict[str, Any]:
    """One TaxRateDetail of a code's rate list."""
    return {"TaxTypeApplicable": "TaxOnAmount", "TaxRateRef": {"name": name, "value": rate_id}, "TaxOrder": 0}


def _code(realm: Realm, code_id: str, name: str, sales: list[dict[str, Any]],
          purchase: list[dict[str, Any]], description: str | None = None) -> dict[str, Any]:
    """A TaxCode group in the key order of Intuit's reference response."""
    return {"SyncToken": "0", "domain": "QBO", "TaxGroup": True, "Name": name, "Taxable": True,
            "PurchaseTaxRateList": {"TaxRateDetail": purchase}, "sparse": False, "Active": True,
            "Description": description or name, "MetaData": _meta(realm), "Id": code_id,
            "SalesTaxRateList": {"TaxRateDetail": sales}}


def _pseudo_code(realm: Realm, name: str, taxable: bool) -> dict[str, Any]:
    """TAX / NON exactly as the reference's query response lists them (no SyncToken, no domain)."""
    return {"TaxGroup": False, "Name": name, "Taxable": taxable, "Description": name, "Id": name,
            "MetaData": _meta(realm)}


def _standard_percent(realm: Realm) -> float:
    """The non-US company's standard rate."""
    return STANDARD_RATES.get(realm.switches.country, 20)


def tax_rates(realm: Realm) -> list[dict[str, Any]]:
    """Every TaxRate of the company."""
    if realm.switches.country == "US":
        return [_rate(realm, *row) for row in US_RATES]
    percent = _standard_percent(realm)
    return [_rate(realm, NON_US_PURCHASE_RATE_ID, f"SP-{percent:.1f}", percent, "1"),
            _rate(realm, NON_US_SALES_RATE_ID, f"SS-{percent:.1f}", percent, "1")]


def tax_codes(realm: Realm) -> list[dict[str, Any]]:
    """Every TaxCode of the company."""
    names = {rate["Id"]: rate["Name"] for rate in tax_rates(realm)}
    if realm.switches.country == "US":
        groups = [_code(realm, code_id, name, [_detail(rate_id, names[rate_id]) for rate_id in rate_ids], [])
                  for code_id, name, rate_ids in US_CODES]
        return [_pseudo_code(realm, "TAX", True), _pseudo_code(realm, "NON", False), *groups]
    percent = _standard_percent(realm)
    sales = [_detail(NON_US_SALES_RATE_ID, names[NON_US_SALES_RATE_ID])]
    purchase = [_detail(NON_US_PURCHASE_RATE_ID, names[NON_US_PURCHASE_RATE_ID])]
    return [_code(realm, NON_US_CODE_ID, f"{percent:.1f}% S", sales, purchase, "Standard")]


def sales_rates_of(realm: Realm, code_id: str) -> list[dict[str, Any]] | None:
    """The TaxRates a code applies to sales, in order; None when the company has no such code."""
    code = next((item for item in tax_codes(realm) if item["Id"] == code_id), None)
    if code is None:
        return None
    by_id = {rate["Id"]: rate for rate in tax_rates(realm)}
    details = (code.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []
    return [by_id[detail["TaxRateRef"]["value"]] for detail in details]


def default_tax_code_id(realm: Realm) -> str:
    """Preferences.TaxPrefs.TaxGroupCodeRef: "2" in Intuit's US sample, the standard code elsewhere."""
    return US_CODES[0][0] if realm.switches.country == "US" else NON_US_CODE_ID
