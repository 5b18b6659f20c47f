"""Invoice mapping helpers shared by the invoice mapper tests."""
from __future__ import annotations

import copy
from datetime import date

from mappers.invoice import InvoiceRecord, PortalFacts, map_invoice
from mappers.invoice_status import InvoiceStatus
from tests.mappers.qbo_records import invoices_2023

REALM = "9130354"
TODAY = date(2023, 3, 1)
STAGES = {status.value: f"DT31_3:{status.value[:2].upper()}" for status in InvoiceStatus}
FACTS = PortalFacts(currencies=frozenset({"USD", "EUR"}), base_currency="USD", category_id=3,
                    person_type_ids={"company": "2", "contact": "1"}, pay_system_id="4")


def smart(invoice: dict, **kwargs) -> InvoiceRecord:
    return _map(invoice, "smart_invoice", **kwargs)


def old(invoice: dict, **kwargs) -> InvoiceRecord:
    return _map(invoice, "invoice", **kwargs)


def _map(invoice: dict, target: str, **kwargs) -> InvoiceRecord:
    args = {"realm_id": REALM, "stage_map": STAGES, "today": TODAY, "company_id": "12", "contact_id": "40",
            "facts": FACTS, **kwargs}
    return map_invoice(invoice, target=target, **args)


def sale(amount: float, name: str = "Item", *, qty: float | None = None, price: float | None = None,
         tax: str = "TAX") -> dict:
    detail = {"ItemRef": {"value": "1", "name": name}, "TaxCodeRef": {"value": tax}}
    if qty is not None:
        detail.update(Qty=qty, UnitPrice=price)
    return {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail}


def discount(amount: float, percent: float | None = None) -> dict:
    detail = {"PercentBased": percent is not None, "DiscountAccountRef": {"value": "86"}}
    if percent is not None:
        detail["DiscountPercent"] = percent
    return {"Amount": amount, "DetailType": "DiscountLineDetail", "DiscountLineDetail": detail}


def tax_line(percent: float, base: float, amount: float) -> dict:
    return {"Amount": amount, "DetailType": "TaxLineDetail", "TaxLineDetail": {
        "TaxRateRef": {"value": "3"}, "PercentBased": True, "TaxPercent": percent, "NetAmountTaxable": base}}


def invoice_with(lines: list[dict], total: float, tax: float = 0, tax_lines: list[dict] | None = None,
                 **extra) -> dict:
    """Real invoice 119 with other lines, tax and totals (Balance = TotalAmt: unpaid)."""
    invoice = copy.deepcopy(invoices_2023()["119"])
    invoice.update(Line=lines, TotalAmt=total, Balance=total, **extra)
    invoice["TxnTaxDetail"] = {"TotalTax": tax, "TaxLine": tax_lines or []}
    return invoice


def smart_total(record: InvoiceRecord) -> float:
    return round(sum(row["price"] * row["quantity"] for row in record.product_rows), 2)


def old_total(record: InvoiceRecord) -> float:
    return round(sum(row["PRICE"] * row["QUANTITY"] for row in record.fields["PRODUCT_ROWS"]), 2)
