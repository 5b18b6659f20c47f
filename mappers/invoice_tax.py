"""Tax rates for product rows from an invoice's TxnTaxDetail (docs/mapping.md, "Tax").

Bitrix24 holds tax as a percent rate per row. QuickBooks holds TaxLines (a rate and the net amount it
was charged on) and TaxCodeRef per line; US automated sales tax gives TAX/NON codes and one or more
TaxLines over the same taxable amount (state + county + city rates add up). A rate per tax code is
found by matching each code's net amount with the TaxLines charged on it; the rows' tax must then add
up to TotalTax within rounding, else the tax cannot be expressed and the invoice fails.
"""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from mappers.errors import MappingError
from mappers.invoice_lines import CENT, Row
from mappers.reasons import NO_RATE_ADDS_UP, NO_TAXABLE_LINE, TAX_INEXPRESSIBLE, reason

NON = "NON"


def apply_tax(invoice: dict[str, Any], rows: list[Row]) -> list[Row]:
    """`rows` with their tax rates; raises MappingError when no per-row rates give QuickBooks' TotalTax."""
    detail = invoice.get("TxnTaxDetail") or {}
    total_tax = Decimal(str(detail.get("TotalTax") or 0))
    if total_tax == 0:
        return rows
    codes = _taxable_amounts(rows)
    if not codes:
        raise _inexpressible(invoice, NO_TAXABLE_LINE)
    rates = _rates_by_code(codes, [t.get("TaxLineDetail") or {} for t in detail.get("TaxLine") or []])
    if rates is not None:
        taxed = [replace(r, tax_rate=rates.get(r.tax_code, 0.0)) for r in rows]
        if _fits(taxed, total_tax):
            return taxed
    if len(codes) == 1:
        # Tax charged before the discount (ApplyTaxAfterDiscount false), a TaxLine without a percent or an
        # overridden TotalTax: one effective rate over the taxable rows still reproduces the total.
        taxed = _effective(rows, total_tax)
        if taxed is not None:
            return taxed
    raise _inexpressible(invoice, NO_RATE_ADDS_UP)


def _taxable_amounts(rows: list[Row]) -> dict[str, tuple[Decimal, Decimal]]:
    """Per taxable tax code: the rows' amounts before and after discount."""
    codes: dict[str, tuple[Decimal, Decimal]] = {}
    for r in rows:
        if r.tax_code.upper() != NON:
            gross, net = codes.get(r.tax_code, (Decimal(0), Decimal(0)))
            codes[r.tax_code] = (gross + r.gross, net + r.net)
    return codes


def _rates_by_code(codes: dict[str, tuple[Decimal, Decimal]],
                   lines: list[dict[str, Any]]) -> dict[str, float] | None:
    """A percent per tax code, or None when the TaxLines do not say (no percent, no unique match)."""
    if not lines or any(d.get("PercentBased") is False or d.get("TaxPercent") is None for d in lines):
        return None
    if len(codes) == 1:  # one code (US: TAX): every TaxLine applies to it, the rates add up
        return {next(iter(codes)): float(sum(Decimal(str(d["TaxPercent"])) for d in lines))}
    rates: dict[str, Decimal] = {}
    for d in lines:
        base = Decimal(str(d.get("NetAmountTaxable") or 0)).quantize(CENT)
        owners = [code for code, amounts in codes.items() if base in (a.quantize(CENT) for a in amounts)]
        if len(owners) != 1:
            return None
        rates[owners[0]] = rates.get(owners[0], Decimal(0)) + Decimal(str(d["TaxPercent"]))
    return {code: float(rate) for code, rate in rates.items()}


def _fits(rows: list[Row], total_tax: Decimal) -> bool:
    tax = sum((r.net * Decimal(str(r.tax_rate)) / 100 for r in rows), Decimal(0))
    return abs(tax - total_tax) <= CENT * max(1, len(rows)) / 2


def _effective(rows: list[Row], total_tax: Decimal) -> list[Row] | None:
    base = sum((r.net for r in rows if r.tax_code.upper() != NON), Decimal(0))
    if base <= 0:
        return None
    rate = round(float(total_tax / base * 100), 4)
    taxed = [replace(r, tax_rate=rate if r.tax_code.upper() != NON else 0.0) for r in rows]
    return taxed if _fits(taxed, total_tax) else None


def _inexpressible(invoice: dict[str, Any], why: str) -> MappingError:
    number = invoice.get("DocNumber") or invoice.get("Id")
    return MappingError(reason(TAX_INEXPRESSIBLE, number=number, why=why))
