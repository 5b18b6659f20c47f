"""QuickBooks record builders shared by the sample company and the generator (shapes copied from real fixtures)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.quickbooks.currencies import HOME_CURRENCY

DATA_DIR = Path(__file__).parent / "data"
# Intuit's sample company: California sales tax code "2" / rate "3" at 8 % (2023 sandbox invoices).
TAX_CODE_ID, TAX_RATE_ID, TAX_PERCENT = "2", "3", 8
DISCOUNT_ACCOUNT = {"value": "86", "name": "Discounts given"}
SALES_TERMS = {15: {"value": "2", "name": "Net 15"}, 30: {"value": "3", "name": "Net 30"},
               60: {"value": "4", "name": "Net 60"}}
MEMO = {"value": "Thank you for your business and have a great day!"}
CREW_FIELD = {"DefinitionId": "1", "Name": "Crew #", "Type": "StringType"}
# Intuit's sample company items: (Id, Name, Description, UnitPrice, Type, Taxable); names, ids and
# prices as they appear on the real invoice, estimate and sales-receipt lines of the fixtures.
ITEM_CATALOG: tuple[tuple[str, str, str, float, str, bool], ...] = (
    ("1", "Services", "Installation Hours", 50, "Service", False),
    ("2", "Hours", "Hourly labor", 45, "Service", False),
    ("3", "Concrete", "Concrete for fountain installation", 9.5, "Service", True),
    ("4", "Design", "Custom Design", 75, "Service", False),
    ("5", "Rock Fountain", "Rock Fountain", 275, "Inventory", True),
    ("6", "Gardening", "Weekly Gardening Service", 35, "Service", False),
    ("7", "Installation", "Installation of landscape design", 50, "Service", False),
    ("8", "Lighting", "Garden Lighting", 15, "NonInventory", True),
    ("9", "Maintenance & Repair", "Maintenance & Repair", 60, "Service", False),
    ("10", "Pest Control", "Pest Control Services", 35, "Service", False),
    ("11", "Pump", "Fountain Pump", 15, "Inventory", True),
    ("12", "Refunds & Allowances", "Income due to refunds or allowances", 0, "Service", False),
    ("13", "Rocks", "Garden Rocks", 22.5, "NonInventory", True),
    ("14", "Sod", "Sod", 35, "NonInventory", True),
    ("15", "Soil", "2 cubic ft. bag", 10, "NonInventory", True),
    ("16", "Sprinkler Heads", "Sprinkler Heads", 2, "Inventory", True),
    ("17", "Sprinkler Pipes", "Sprinkler Pipes", 4, "Inventory", True),
    ("18", "Trimming", "Tree and Shrub Trimming", 35, "Service", False),
)
INCOME_ACCOUNTS = {"Service": {"value": "45", "name": "Landscaping Services"},
                   "Inventory": {"value": "79", "name": "Sales of Product Income"},
                   "NonInventory": {"value": "48", "name": "Landscaping Services:Job Materials"}}
# The real General Ledger (recorded-bodies/reports__gl__0_get_200.json) credits the Services item's sales to
# account 1 "Services" and the Design item's ("Custom Design") to 82 "Design income".
ITEM_INCOME_ACCOUNTS = {"1": {"value": "1", "name": "Services"}, "4": {"value": "82", "name": "Design income"}}


@dataclass
class CompanyData:
    """Everything a sandbox realm is seeded with."""

    company_info: dict
    customers: list[dict] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    invoices: list[dict] = field(default_factory=list)
    payments: list[dict] = field(default_factory=list)
    deleted_invoices: list[dict] = field(default_factory=list)
    terms: list[dict] = field(default_factory=list)
    accounts: list[dict] = field(default_factory=list)


def load_json(name: str) -> dict:
    """A JSON file from the data folder."""
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


def load_records(name: str, stream: str) -> list[dict]:
    """The QuickBooks objects of one recorder stream in a .jsonl file, the recorder's own keys removed."""
    records = []
    for raw in (DATA_DIR / name).read_text(encoding="utf-8").splitlines():
        row = json.loads(raw)
        if row.get("stream") == stream:
            record = dict(row["data"])
            record.pop("airbyte_cursor", None)
            records.append(record)
    return records


def load_mjs_object(name: str) -> dict:
    """The object of an `export default {...}` test-event module."""
    text = (DATA_DIR / name).read_text(encoding="utf-8")
    return json.loads(text[text.index("{"):])


def metadata(created: str, updated: str | None = None) -> dict:
    """MetaData with CreateTime and LastUpdatedTime."""
    return {"CreateTime": created, "LastUpdatedTime": updated or created}


def make_items(created: str) -> list[dict]:
    """The Item list referenced by invoice lines, one stamp for the whole catalogue."""
    items = []
    for item_id, name, description, price, kind, taxable in ITEM_CATALOG:
        income = ITEM_INCOME_ACCOUNTS.get(item_id, INCOME_ACCOUNTS[kind])
        item = {"Name": name, "Description": description, "Active": True, "FullyQualifiedName": name,
                "Taxable": taxable, "UnitPrice": price, "Type": kind, "IncomeAccountRef": income,
                "PurchaseCost": 0, "TrackQtyOnHand": kind == "Inventory"}
        if kind == "Inventory":
            item.update({"QtyOnHand": 100, "AssetAccountRef": {"value": "81", "name": "Inventory Asset"},
                         "InvStartDate": created[:10]})
        item.update({"domain": "QBO", "sparse": False, "Id": item_id, "SyncToken": "0",
                     "MetaData": metadata(created)})
        items.append(item)
    return items


def make_company_info(created: str, updated: str) -> dict:
    """The CompanyInfo singleton of an Intuit US sandbox company."""
    address = {"Id": "1", "Line1": "123 Sierra Way", "City": "San Pablo", "CountrySubDivisionCode": "CA",
               "PostalCode": "87999", "Lat": "36.6788345", "Long": "-5.4464622"}
    return {"CompanyName": "Sandbox Company_US_1", "LegalName": "Sandbox Company_US_1", "CompanyAddr": address,
            "CustomerCommunicationAddr": dict(address), "LegalAddr": dict(address),
            "PrimaryPhone": {}, "CompanyStartDate": created[:10], "FiscalYearStartMonth": "January",
            "Country": "US", "Email": {"Address": "noreply@quickbooks.com"}, "WebAddr": {},
            "SupportedLanguages": "en",
            "NameValue": [{"Name": "NeoEnabled", "Value": "true"}, {"Name": "IndustryType", "Value": "Landscaping"},
                          {"Name": "CompanyType", "Value": "Other/None"}, {"Name": "SubscriptionStatus",
                                                                           "Value": "SUBSCRIBED"},
                          {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
                          {"Name": "PayrollFeature", "Value": "false"},
                          {"Name": "AccountantFeature", "Value": "false"},
                          {"Name": "IsQbdtMigrated", "Value": "false"},
                          {"Name": "ItemCategoriesFeature", "Value": "false"},
                          {"Name": "HomeCurrency", "Value": HOME_CURRENCY},
                          {"Name": "MultiCurrencyEnabled", "Value": "true"}],
            "domain": "QBO", "sparse": False, "Id": "1", "SyncToken": "4", "MetaData": metadata(created, updated)}


def sales_line(line_id: int, item: tuple, qty: float, unit_price: float, taxable: bool) -> dict:
    """One SalesItemLineDetail line for a catalogue item (Amount = UnitPrice x Qty, like QuickBooks checks)."""
    amount = round(qty * unit_price + 1e-9, 2)
    detail = {"ItemRef": {"value": item[0], "name": item[1]}, "UnitPrice": unit_price, "Qty": qty,
              "TaxCodeRef": {"value": "TAX" if taxable else "NON"}}
    return {"Id": str(line_id), "LineNum": line_id, "Description": item[2], "Amount": float(amount),
            "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail}


def discount_line(percent: float | None, amount: float | None) -> dict:
    """A DiscountLineDetail line, percent based or a fixed amount (shape of the real sales receipt 38)."""
    if percent is not None:
        detail = {"PercentBased": True, "DiscountPercent": percent, "DiscountAccountRef": DISCOUNT_ACCOUNT}
        return {"Amount": 0, "DetailType": "DiscountLineDetail", "DiscountLineDetail": detail}
    detail = {"PercentBased": False, "DiscountAccountRef": DISCOUNT_ACCOUNT}
    return {"Amount": amount, "DetailType": "DiscountLineDetail", "DiscountLineDetail": detail}


def tax_detail(with_tax: bool) -> dict:
    """TxnTaxDetail: the 8 % California rate like the 2023 invoices, or no tax."""
    if not with_tax:
        return {"TotalTax": 0}
    tax_line = {"Amount": 0, "DetailType": "TaxLineDetail",
                "TaxLineDetail": {"TaxRateRef": {"value": TAX_RATE_ID}, "PercentBased": True,
                                  "TaxPercent": TAX_PERCENT, "NetAmountTaxable": 0}}
    return {"TxnTaxCodeRef": {"value": TAX_CODE_ID}, "TotalTax": 0, "TaxLine": [tax_line]}
