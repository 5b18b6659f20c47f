"""Invoice arithmetic: subtotal line, discount, sales tax, total, balance, home-currency total."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
TAXABLE_CODE = "TAX"


def money(value: object) -> Decimal:
    """A Decimal from a JSON number (float, int or numeric string)."""
    return Decimal(str(value)) if value is not None else Decimal(0)


def cents(value: Decimal) -> Decimal:
    """Round half-up to cents, as QuickBooks rounds tax and percent discounts."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def as_number(value: Decimal) -> float | int:
    """JSON number like the fixtures: 0 stays an integer 0, anything else a float (150.0, 23.28)."""
    return 0 if value == 0 else float(value)


def _sales_totals(lines: list[dict]) -> tuple[Decimal, Decimal]:
    """Sum of SalesItemLineDetail amounts, and the part of it with the taxable tax code."""
    subtotal = taxable = Decimal(0)
    for line in lines:
        if line.get("DetailType") != "SalesItemLineDetail":
            continue
        amount = money(line.get("Amount"))
        subtotal += amount
        code = (line.get("SalesItemLineDetail") or {}).get("TaxCodeRef", {}).get("value")
        if code == TAXABLE_CODE:
            taxable += amount
    return subtotal, taxable


def _discount(line: dict, subtotal: Decimal) -> tuple[dict, Decimal]:
    """The discount line with its amount recomputed when percent based, and that amount."""
    detail = line.get("DiscountLineDetail") or {}
    if detail.get("PercentBased"):
        amount = cents(subtotal * money(detail.get("DiscountPercent")) / 100)
    else:
        amount = money(line.get("Amount"))
    return {**line, "Amount": as_number(amount)}, amount


def _tax_detail(detail: dict | None, taxable: Decimal, total_tax: float | None) -> tuple[dict, Decimal]:
    """TxnTaxDetail with each percent-based TaxLine recomputed on the taxable amount, and the total tax.

    A given `total_tax` (an override, or a non-US company's own figures) keeps the TaxLines as they are.
    """
    detail = dict(detail or {})
    if total_tax is not None:
        detail["TotalTax"] = as_number(money(total_tax))
        return detail, money(total_tax)
    total = Decimal(0)
    tax_lines = []
    for tax_line in detail.get("TaxLine") or []:
        info = dict(tax_line.get("TaxLineDetail") or {})
        if info.get("PercentBased"):
            amount = cents(taxable * money(info.get("TaxPercent")) / 100)
            info["NetAmountTaxable"] = as_number(taxable)
        else:
            amount = money(tax_line.get("Amount"))
        total += amount
        tax_lines.append({**tax_line, "Amount": as_number(amount), "TaxLineDetail": info})
    detail["TotalTax"] = as_number(total)
    if "TaxLine" in detail:
        detail["TaxLine"] = tax_lines
    return detail, total


def invoice_totals(invoice: dict, *, paid: float | None = None, total_tax: float | None = None) -> dict:
    """A copy of the invoice with SubTotal line, discount, TotalTax, TotalAmt, Balance (and Home amounts) recomputed.

    `paid` is the sum applied by linked payments; when omitted it is kept from the invoice as
    TotalAmt - Balance, so an update that does not touch payments keeps the amount already paid.
    `total_tax` fixes TotalTax instead of computing it from the percent-based TaxLines.
    """
    lines = [line for line in invoice.get("Line") or [] if line.get("DetailType") != "SubTotalLineDetail"]
    subtotal, taxable = _sales_totals(lines)
    discount = Decimal(0)
    out_lines: list[dict] = []
    for line in lines:
        if line.get("DetailType") == "DiscountLineDetail":
            line, amount = _discount(line, subtotal)
            discount += amount
            if invoice.get("ApplyTaxAfterDiscount") and subtotal:
                taxable -= cents(amount * taxable / subtotal)
        out_lines.append(line)
    # QuickBooks answers with the SubTotal line after the item lines and before the discount line.
    position = next((i for i, line in enumerate(out_lines) if line.get("DetailType") == "DiscountLineDetail"),
                    len(out_lines))
    subtotal_line = {"Amount": as_number(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
    out_lines.insert(position, subtotal_line)
    tax_detail, tax = _tax_detail(invoice.get("TxnTaxDetail"), taxable, total_tax)
    total = subtotal - discount + tax
    if paid is not None:
        already = money(paid)
    elif "Balance" in invoice:
        already = money(invoice.get("TotalAmt")) - money(invoice["Balance"])
    else:
        already = Decimal(0)
    result = {**invoice, "Line": out_lines, "TxnTaxDetail": tax_detail, "TotalAmt": as_number(total),
              "Balance": as_number(max(total - already, Decimal(0)))}
    return home_amounts(result)


def home_amounts(invoice: dict) -> dict:
    """HomeTotalAmt and HomeBalance = TotalAmt and Balance x ExchangeRate, on foreign-currency invoices only.

    Both are in the Invoice property list of the real 2010 fault and in reference §11; home-currency
    invoices carry neither (every real 2023 sandbox invoice).
    """
    if "ExchangeRate" not in invoice:
        return {key: value for key, value in invoice.items() if key not in ("HomeTotalAmt", "HomeBalance")}
    rate = money(invoice["ExchangeRate"])
    return {**invoice, "HomeTotalAmt": as_number(cents(money(invoice["TotalAmt"]) * rate)),
            "HomeBalance": as_number(cents(money(invoice["Balance"]) * rate))}
