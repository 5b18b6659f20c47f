"""An invoice in Bitrix24 (Smart or old, through one neutral view) checked against its QuickBooks JSON."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from mappers.invoice_status import InvoiceStatus, invoice_status
from tests.mappers.invoice_support import b24_row_total
from tests.workers.e2e_expect import CENT, sales_lines


@dataclass(frozen=True)
class Row:
    name: str
    quantity: float
    price: float            # the final unit price: after discount, with tax (both kinds' documented meaning)
    tax_rate: float | None
    discount: float


@dataclass(frozen=True)
class View:
    title: str
    amount: float
    currency: str
    begin: str
    due: str
    company_id: str
    contact_ids: frozenset[str]
    stage: str
    text: str               # title and comments: where a job's name, the notes and the memo must show
    rows: tuple[Row, ...]
    tax: float | None       # Smart: taxValue; old invoices compute theirs from the rows
    payer: str              # old: "company" | "contact" (the PERSON_TYPE_ID's kind); Smart: ""


def _number(value: Any) -> float:
    return float(value or 0)


def _id(value: Any) -> str:
    return "" if value in (None, "", 0, "0") else str(value)


def view_of(invoice: dict, target: str) -> View:
    """The meaningful fields of a crm.item (Smart) or crm.invoice.get (old) answer."""
    if target == "smart_invoice":
        rows = tuple(Row(r["productName"], _number(r["quantity"]), _number(r["price"]), r.get("taxRate"),
                         _number(r.get("discountSum")) or _number(r.get("discountRate")))
                     for r in invoice["productRows"])
        contacts = {_id(invoice.get("contactId"))} | {_id(c) for c in invoice.get("contactIds") or []}
        return View(invoice["title"], _number(invoice["opportunity"]), invoice["currencyId"],
                    str(invoice["begindate"])[:10], str(invoice["closedate"])[:10],
                    _id(invoice.get("companyId")),
                    frozenset(contacts - {""}), invoice["stageId"],
                    f"{invoice['title']}\n{invoice.get('comments') or ''}", rows,
                    _number(invoice.get("taxValue")), "")
    rows = tuple(Row(r["PRODUCT_NAME"], _number(r["QUANTITY"]), _number(r["PRICE"]),
                     None if r.get("VAT_RATE") in (None, "") else float(r["VAT_RATE"]),
                     _number(r.get("DISCOUNT_PRICE"))) for r in invoice["PRODUCT_ROWS"])
    text = "\n".join(str(invoice.get(k) or "") for k in ("ORDER_TOPIC", "COMMENTS", "USER_DESCRIPTION"))
    return View(invoice["ORDER_TOPIC"], _number(invoice["PRICE"]), invoice["CURRENCY"],
                str(invoice.get("DATE_BILL") or "")[:10], str(invoice.get("DATE_PAY_BEFORE") or "")[:10],
                _id(invoice.get("UF_COMPANY_ID")), frozenset({_id(invoice.get("UF_CONTACT_ID"))} - {""}),
                invoice["STATUS_ID"], text, rows, None, invoice.get("_payer", ""))


def check_invoice(view: View, invoice: dict, *, today: date, stage_for: dict[InvoiceStatus, str],
                  company_id: str, contact_id: str, job_name: str | None) -> list[str]:
    """Problems of one invoice: title, amount, currency, dates, links, stage, product rows."""
    who = f"Invoice {invoice['Id']} #{invoice.get('DocNumber')}"
    problems = []
    if invoice.get("DocNumber") and invoice["DocNumber"] not in view.title:
        problems.append(f"{who}: title {view.title!r} lacks the document number")
    if abs(view.amount - float(invoice["TotalAmt"])) > CENT:
        problems.append(f"{who}: amount {view.amount} != {invoice['TotalAmt']}")
    currency = invoice.get("CurrencyRef", {}).get("value", "USD")
    if view.currency != currency:
        problems.append(f"{who}: currency {view.currency} != {currency}")
    dates = (invoice["TxnDate"], invoice.get("DueDate", ""))
    if (view.begin, view.due) != dates:
        problems.append(f"{who}: dates {(view.begin, view.due)} != {dates}")
    problems += _links(view, who, company_id, contact_id)
    status = invoice_status(invoice, today)
    if view.stage != stage_for[status]:
        problems.append(f"{who}: {status.value} in stage {view.stage}, expected {stage_for[status]}")
    notes = [job_name, invoice.get("PrivateNote"), (invoice.get("CustomerMemo") or {}).get("value")]
    problems += [f"{who}: {n!r} is nowhere in {view.text!r}" for n in notes if n and n not in view.text]
    tax = float((invoice.get("TxnTaxDetail") or {}).get("TotalTax") or 0)
    if view.tax is not None and abs(view.tax - tax) > CENT:
        problems.append(f"{who}: tax {view.tax} != {tax}")
    if view.payer and view.payer != ("company" if company_id else "contact"):
        problems.append(f"{who}: payer type {view.payer} for a {'company' if company_id else 'person'}")
    return problems + _rows(view, invoice, who)


def _links(view: View, who: str, company_id: str, contact_id: str) -> list[str]:
    problems = []
    if company_id and view.company_id != company_id:
        problems.append(f"{who}: company {view.company_id!r} != {company_id!r}")
    if not company_id and view.company_id:
        problems.append(f"{who}: linked to company {view.company_id} but its customer is a person")
    if contact_id and contact_id not in view.contact_ids:
        problems.append(f"{who}: contacts {sorted(view.contact_ids)} lack {contact_id}")
    return problems


def _rows(view: View, invoice: dict, who: str) -> list[str]:
    lines = sales_lines(invoice)
    if len(view.rows) != len(lines):
        return [f"{who}: {len(view.rows)} product rows for {len(lines)} lines"]
    problems = []
    percent = _tax_percent(invoice)
    discounted = any(ln["DetailType"] == "DiscountLineDetail" and ln["Amount"] for ln in invoice["Line"])
    for row, line in zip(view.rows, lines):
        detail = line["SalesItemLineDetail"]
        names = {detail.get("ItemRef", {}).get("name"), line.get("Description")}
        # "Hours (3 × 3.333333)": one unit at the row's total, where a unit price kept to the cent misses it
        collapsed = row.quantity == 1 and row.name.endswith(")") and row.name.rpartition(" (")[0] in names
        if row.name not in names and not collapsed:
            problems.append(f"{who}: row {row.name!r} not in {names}")
        if not collapsed and not _same_quantity(row, line):
            problems.append(f"{who}: row {row.name!r} quantity {row.quantity} != {detail.get('Qty')}")
        taxed = detail.get("TaxCodeRef", {}).get("value") not in (None, "NON") and percent
        # With a discount QuickBooks may have taxed the undiscounted amount (ApplyTaxAfterDiscount false):
        # then only an effective rate reproduces its tax, and the rows' total below is what must hold.
        wanted = (percent, percent / 100) if taxed and not discounted else None
        if wanted and row.tax_rate not in wanted or taxed and not row.tax_rate:
            problems.append(f"{who}: row {row.name!r} tax rate {row.tax_rate}, QuickBooks charged {percent}%")
        if not taxed and row.tax_rate:
            problems.append(f"{who}: untaxed row {row.name!r} has tax rate {row.tax_rate}")
    total = sum(b24_row_total(r.price, r.quantity) for r in view.rows)
    # Each row's total is QuickBooks' amount with tax rounded to the cent (half a cent at most), its tax lines
    # were rounded once more: more than that is a row Bitrix24 adds up differently from QuickBooks.
    if abs(total - float(invoice["TotalAmt"])) > CENT / 2 * (len(view.rows) + 1) + 1e-9:
        problems.append(f"{who}: rows add up to {total:.2f}, not {invoice['TotalAmt']}")
    if discounted and not any(r.discount for r in view.rows):
        problems.append(f"{who}: the QuickBooks discount shows on no product row")
    return problems


def _same_quantity(row: Row, line: dict) -> bool:
    """Qty as QuickBooks has it, or one unit at the line's amount where Qty × UnitPrice is not the amount
    (a voided invoice's Qty 0, a rounded unit price): the amount is what must survive."""
    detail = line["SalesItemLineDetail"]
    qty, price = float(detail.get("Qty") or 0), float(detail.get("UnitPrice") or 0)
    if qty and abs(qty * price - float(line["Amount"])) < 0.005:
        return abs(row.quantity - qty) < 1e-9
    return row.quantity == 1


def _tax_percent(invoice: dict) -> float | None:
    lines = (invoice.get("TxnTaxDetail") or {}).get("TaxLine") or []
    rates = {line["TaxLineDetail"].get("TaxPercent") for line in lines if line.get("Amount")}
    return next(iter(rates)) if len(rates) == 1 else None
