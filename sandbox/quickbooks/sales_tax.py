"""How an invoice write settles its TxnTaxDetail: automated sales tax (US) or the client's own figures.

US companies use automated sales tax: "it does not matter what TaxCodeRef, or TaxCodeRate you used here
[...] The only case it matters is when you override the tax, in which case you will provide
TxnTaxDetail.TxnTaxCodeRef and TxnTaxDetail.TotalTax. All other cases, it will be ignored." (Intuit staff,
intuit/QuickBooks-V3-PHP-SDK#199). Real QuickBooks picks the rate from the ship-to address; the sandbox
takes it from the TxnTaxCodeRef the invoice names (the sample's 8 % code "2"), and an invoice without
TxnTaxCodeRef gets no tax, like the real 2023 invoice 129 (taxable lines, `"TxnTaxDetail":{"TotalTax":0}`).
Non-US companies (VAT/GST) keep the TaxLines and TotalTax the client sends.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import faults
from .company_totals import as_number, cents, invoice_totals, money
from .realm import Realm
from .tax_catalog import sales_rates_of
from .writes import money as checked_money


def settle_invoice_tax(realm: Realm, record: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The invoice with its tax and totals computed as the company's tax model does."""
    detail = record.get("TxnTaxDetail")
    detail = detail if isinstance(detail, dict) else {}
    if body.get("Line") is None and body.get("TxnTaxDetail") is None:
        # Only a sparse update can leave both out (create and full update require Line). It touches
        # nothing the tax is computed from, so the stored tax stays, an earlier override included
        # (intuit/QuickBooks-V3-PHP-SDK#422: the stored TxnTaxDetail outlives changes until cleared).
        return invoice_totals(record, total_tax=_stored_total(detail))
    if realm.switches.country != "US":
        return invoice_totals(record, total_tax=_client_total(detail))
    code_id = _code_id(detail)
    if code_id is None:
        return invoice_totals({**record, "TxnTaxDetail": {"TotalTax": 0}})
    rates = sales_rates_of(realm, code_id)
    if rates is None:
        raise faults.invalid_reference("TaxCode", code_id)
    computed = invoice_totals({**record, "TxnTaxDetail": _ast_detail(code_id, rates)})
    override = _override(body)
    if override is None:
        return computed
    return invoice_totals(_spread(computed, override), total_tax=override)


def _code_id(detail: dict[str, Any]) -> str | None:
    """TxnTaxCodeRef.value, or None when the invoice names no tax code."""
    ref = detail.get("TxnTaxCodeRef")
    if not isinstance(ref, dict) or ref.get("value") in (None, ""):
        return None
    # Not require_id: TaxCode Ids include the non-numeric TAX and NON (TaxCode reference query response).
    return str(ref["value"]).strip()


def _ast_detail(code_id: str, rates: list[dict[str, Any]]) -> dict[str, Any]:
    """TxnTaxDetail in the exact shape of real invoice 119; amounts are filled in by invoice_totals."""
    lines = [{"Amount": 0, "DetailType": "TaxLineDetail",
              "TaxLineDetail": {"TaxRateRef": {"value": rate["Id"]}, "PercentBased": True,
                                "TaxPercent": rate["RateValue"], "NetAmountTaxable": 0}} for rate in rates]
    detail: dict[str, Any] = {"TxnTaxCodeRef": {"value": code_id}, "TotalTax": 0}
    if lines:
        detail["TaxLine"] = lines
    return detail


def _override(body: dict[str, Any]) -> float | None:
    """TotalTax sent beside a TxnTaxCodeRef in this request: the override Intuit staff describe (#199).

    A TotalTax of 0 with no tax lines of the client's own is no override: python-quickbooks' TxnTaxDetail()
    always sends `"TotalTax": 0` (objects/tax.py), and its users get the computed tax from a bare
    TxnTaxCodeRef (python-quickbooks #172; #301: TotalTax alone does not change the computed tax).
    quickbooks-ruby added TotalTaxSpecified (PR #566) because QuickBooks reads a sent TotalTax as given.
    UNCERTAIN where the real line falls; this reading keeps an explicit 0 with TaxLines an override.
    """
    detail = body.get("TxnTaxDetail")
    if not isinstance(detail, dict) or _code_id(detail) is None or detail.get("TotalTax") is None:
        return None
    total = checked_money(detail["TotalTax"], "TxnTaxDetail", "TotalTax")
    own_lines = [line for line in detail.get("TaxLine") or [] if isinstance(line.get("TaxLineDetail"), dict)]
    return total if total != 0 or own_lines else None


def _spread(invoice: dict[str, Any], total: float) -> dict[str, Any]:
    """Share an overridden TotalTax over the TaxLines by their computed amounts (UNCERTAIN: how real
    QuickBooks re-splits an override is not captured; the last line takes the rounding remainder)."""
    detail = dict(invoice["TxnTaxDetail"])
    lines = [dict(line) for line in detail.get("TaxLine") or []]
    computed = sum((money(line["Amount"]) for line in lines), Decimal(0))
    left = money(total)
    for index, line in enumerate(lines):
        share = left if index == len(lines) - 1 else cents(money(total) * money(line["Amount"]) / computed
                                                             if computed else Decimal(0))
        line["Amount"] = as_number(share)
        left -= share
    detail["TaxLine"] = lines
    return {**invoice, "TxnTaxDetail": detail} if lines else invoice


def _stored_total(detail: dict[str, Any]) -> float:
    """The TotalTax an invoice already carries (0 when it has none)."""
    return checked_money(detail.get("TotalTax") or 0, "TxnTaxDetail", "TotalTax")


def _client_total(detail: dict[str, Any]) -> float:
    """A non-US invoice's TotalTax: as sent, else the sum of the TaxLines sent."""
    if detail.get("TotalTax") is not None:
        return checked_money(detail["TotalTax"], "TxnTaxDetail", "TotalTax")
    lines = detail.get("TaxLine") or []
    amounts = [checked_money(line.get("Amount", 0), "TxnTaxDetail", "TaxLine.Amount")
               for line in lines if isinstance(line, dict)]
    return round(sum(amounts), 2)
