"""QuickBooks invoice lines -> neutral product rows whose totals equal the invoice's (docs/mapping.md).

Kinds: SalesItemLineDetail (a row), GroupLineDetail (its member lines, expanded), DiscountLineDetail
(an invoice-level discount spread over the rows before it, in proportion to their amounts),
DescriptionOnly (a zero row only when it has text), SubTotalLineDetail (skipped: Bitrix24 sums itself).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from mappers.errors import MappingError
from mappers.reasons import DISCOUNT_TOO_LARGE, reason

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Row:
    """One product row: unit price before discount, quantity, per-row discount and tax rate (percent)."""

    name: str
    unit_price: Decimal
    quantity: Decimal
    discount: Decimal            # the row's whole discount (not per unit)
    tax_rate: float
    tax_code: str                # the line's TaxCodeRef ("NON": not taxable)

    @property
    def gross(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def net(self) -> Decimal:
        """The row's amount after its discount, before tax."""
        return self.gross - self.discount

    @property
    def unit_discount(self) -> float:
        return float(self.discount / self.quantity) if self.quantity else 0.0

    @property
    def discount_rate(self) -> float:
        gross = self.unit_price * self.quantity
        return round(float(self.discount / gross * 100), 4) if gross else 0.0

    @property
    def total(self) -> Decimal:
        """The row's amount after discount and with tax, to the cent."""
        return (self.net * (1 + Decimal(str(self.tax_rate)) / 100)).quantize(CENT, ROUND_HALF_UP)

    @property
    def final_price(self) -> float:
        """Per unit, after discount and with tax, to the cent: what Bitrix24 calls `price` (and keeps so)."""
        net = self.unit_price - (self.discount / self.quantity if self.quantity else 0)
        return float((net * (1 + Decimal(str(self.tax_rate)) / 100)).quantize(CENT, ROUND_HALF_UP))


def exact_row(row: Row) -> Row:
    """`row`, or one unit at its total when a cent-rounded unit price times the quantity misses that total."""
    # Bitrix24 multiplies a unit price kept to the cent (3 x 10.825 -> 3 x 10.83 = 32.49, not 32.48): the
    # total wins, and the name keeps the quantity and unit price QuickBooks had.
    if (Decimal(str(row.final_price)) * row.quantity).quantize(CENT, ROUND_HALF_UP) == row.total:
        return row
    name = f"{row.name} ({_plain(row.quantity)} × {_plain(row.unit_price, cents=True)})"
    return replace(row, name=name, unit_price=row.gross, quantity=Decimal(1))


def _plain(number: Decimal, cents: bool = False) -> str:
    """A number as a person writes it: 3, 2.5; a price with at least its cents: 10.00, 3.333333."""
    text = format(number.normalize(), "f")
    return format(number.quantize(CENT), "f") if cents and len(text.partition(".")[2]) <= 2 else text


def invoice_rows(invoice: dict[str, Any]) -> list[Row]:
    """The invoice's product rows, discounts spread and tax rates set."""
    rows: list[Row] = []
    for line in invoice.get("Line") or []:
        kind = line.get("DetailType")
        if kind == "SalesItemLineDetail":
            rows.append(_sales_row(line))
        elif kind == "GroupLineDetail":
            rows += [_sales_row(member) for member in (line.get("GroupLineDetail") or {}).get("Line") or []
                     if member.get("DetailType") == "SalesItemLineDetail"]
        elif kind == "DiscountLineDetail":
            rows = _spread_discount(rows, line)
        elif kind == "DescriptionOnly" and str(line.get("Description") or "").strip():
            rows.append(Row(str(line["Description"]).strip(), Decimal(0), Decimal(1), Decimal(0), 0.0, "NON"))
    return rows


def _sales_row(line: dict[str, Any]) -> Row:
    detail = line.get("SalesItemLineDetail") or {}
    amount = _dec(line.get("Amount"))
    qty, price = detail.get("Qty"), detail.get("UnitPrice")
    name = str((detail.get("ItemRef") or {}).get("name") or line.get("Description") or "Item").strip()
    if qty not in (None, 0) and price is not None and (_dec(qty) * _dec(price)).quantize(CENT) == amount:
        unit, quantity = _dec(price), _dec(qty)
    else:  # no unit price, or one QuickBooks rounded: one unit at the line amount keeps the total exact
        unit, quantity = amount, Decimal(1)
    tax_code = str((detail.get("TaxCodeRef") or {}).get("value") or "NON")
    return Row(name, unit, quantity, Decimal(0), 0.0, tax_code)


def _spread_discount(rows: list[Row], line: dict[str, Any]) -> list[Row]:
    subtotal = sum((r.unit_price * r.quantity - r.discount for r in rows), Decimal(0))
    detail = line.get("DiscountLineDetail") or {}
    amount = _dec(line.get("Amount"))
    if line.get("Amount") in (None, "") and detail.get("PercentBased") and detail.get("DiscountPercent") is not None:
        # Amount is what TotalAmt was computed from; the percent only stands in when Amount is absent.
        amount = (subtotal * _dec(detail["DiscountPercent"]) / 100).quantize(CENT, ROUND_HALF_UP)
    if amount <= 0:
        return rows
    if subtotal <= 0 or amount > subtotal:
        raise MappingError(reason(DISCOUNT_TOO_LARGE))
    shares = [(r.unit_price * r.quantity - r.discount) * amount / subtotal for r in rows]
    cents = [s.quantize(CENT, ROUND_HALF_UP) for s in shares]
    biggest = max(range(len(rows)), key=lambda i: shares[i])
    cents[biggest] += amount - sum(cents)  # the rounding remainder on the largest row: the sum is exact
    return [replace(r, discount=r.discount + c) for r, c in zip(rows, cents)]


def _dec(value: Any) -> Decimal:
    return Decimal(str(value if value not in (None, "") else 0))
