"""QuickBooks Invoice -> Bitrix24 Smart Invoice (crm.item 31) or old invoice (crm.invoice) (contract §5)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from mappers.digest import content_hash
from mappers.errors import MappingError
from mappers.invoice_lines import Row, exact_row, invoice_rows
from mappers.invoice_tax import apply_tax
from mappers.invoice_status import invoice_status
from mappers.origin import invoice_xml_id
from mappers.reasons import (CURRENCY_MISSING, NO_CURRENCY, NO_PAYER_TYPE, NO_STAGE, OLD_INVOICE_CURRENCY,
                             UNKNOWN_INVOICE_TARGET, reason)
from mappers.schemas import InvoiceSchema, checked

SMART_INVOICE, OLD_INVOICE = "smart_invoice", "invoice"
_SCHEMA = InvoiceSchema()


@dataclass(frozen=True)
class PortalFacts:
    """What the mapping needs to know about the portal (read once per run by the engine)."""

    currencies: frozenset[str]          # crm.currency.list CURRENCY values
    base_currency: str | None
    category_id: int | None             # Smart Invoice default category
    person_type_ids: dict[str, str]     # old invoices: {"company": id, "contact": id}
    pay_system_ids: dict[str, str]      # old invoices: {"company": id, "contact": id} (crm.paysystem.list)


@dataclass(frozen=True)
class InvoiceRecord:
    """What one QuickBooks invoice becomes in the CRM."""

    qbo_id: str
    entity: str                         # "smart_invoice" | "invoice" (Link.b24_type)
    fields: dict[str, Any]
    product_rows: tuple[dict[str, Any], ...]
    status: str
    content_hash: str


def map_invoice(invoice: dict[str, Any], *, realm_id: str, target: str, stage_map: dict[str, str],
                today: date, company_id: str | None, contact_id: str | None, facts: PortalFacts,
                job_name: str | None = None) -> InvoiceRecord:
    """The CRM invoice for a QuickBooks invoice; raises MappingError when the portal cannot hold it."""
    checked(_SCHEMA, invoice, "invoice")
    if target not in (SMART_INVOICE, OLD_INVOICE):
        raise MappingError(reason(UNKNOWN_INVOICE_TARGET, target=target,
                                  expected=f"{SMART_INVOICE!r} or {OLD_INVOICE!r}"))
    currency = _currency(invoice, facts)
    status = invoice_status(invoice, today).value
    stage = stage_map.get(status)
    if not stage:
        raise MappingError(reason(NO_STAGE, status=status))
    rows = [exact_row(row) for row in apply_tax(invoice, invoice_rows(invoice))]
    common = _Common(invoice, realm_id, currency, stage, company_id, contact_id, job_name)
    if target == SMART_INVOICE:
        fields = _smart(common, facts)
        product_rows = tuple(_smart_row(row, index) for index, row in enumerate(rows))
    else:
        fields, product_rows = _old(common, rows, facts), ()
    digest = content_hash({"entity": target, "fields": fields, "rows": product_rows})
    return InvoiceRecord(qbo_id=str(invoice["Id"]), entity=target, fields=fields, product_rows=product_rows,
                         status=status, content_hash=digest)


def deal_link_fields(target: str, deal_id: str | None) -> dict[str, Any]:
    """The field that links a NEW invoice to a deal (deal follow-through; reference §6): `parentId2` on a
    Smart Invoice (deals are entityTypeId 2), `UF_DEAL_ID` on an old invoice.

    Create-only, and outside `content_hash`: an update never carries it, so a deal link (ours or one a
    user set or changed by hand) survives every update. crm.item.update unbinds a parent only when its
    field is passed empty (CORE crm/lib/service/parentfieldmanager.php, saveParentRelationsForIdentifier);
    crm.invoice.update fills every field it was not given from the stored invoice (CORE
    crm/classes/general/restservice_invoice.php, update)."""
    if not deal_id:
        return {}
    return {"parentId2": _ref(deal_id)} if target == SMART_INVOICE else {"UF_DEAL_ID": _ref(deal_id)}


@dataclass(frozen=True)
class _Common:
    invoice: dict[str, Any]
    realm_id: str
    currency: str
    stage: str
    company_id: str | None
    contact_id: str | None
    job_name: str | None

    @property
    def title(self) -> str:
        doc = str(self.invoice.get("DocNumber") or "").strip()
        base = f"Invoice {doc}" if doc else f"Invoice (QuickBooks #{self.invoice['Id']})"
        return f"{base} · {self.job_name}" if self.job_name else base

    @property
    def comments(self) -> str:
        lines = [f"Job: {self.job_name}"] if self.job_name else []
        note = str(self.invoice.get("PrivateNote") or "").strip()
        return "\n".join(lines + ([note] if note else []))

    @property
    def memo(self) -> str:
        return str((self.invoice.get("CustomerMemo") or {}).get("value") or "").strip()


def _currency(invoice: dict[str, Any], facts: PortalFacts) -> str:
    currency = str((invoice.get("CurrencyRef") or {}).get("value") or facts.base_currency or "").strip()
    if not currency:
        raise MappingError(reason(NO_CURRENCY, id=invoice["Id"]))
    # An empty set means the engine could not read the list: then Bitrix24 itself has the last word.
    if facts.currencies and currency not in facts.currencies:
        number = invoice.get("DocNumber") or invoice["Id"]
        raise MappingError(reason(CURRENCY_MISSING, currency=currency, number=number))
    return currency


def _ref(value: str | None) -> int | str | None:
    # Ids are ints in crm.item; a batch reference ("$result[c1]") passes through as text.
    if value is None or value == "":
        return None
    return int(value) if str(value).isdigit() else str(value)


def _smart(c: _Common, facts: PortalFacts) -> dict[str, Any]:
    inv = c.invoice
    fields: dict[str, Any] = {
        "title": c.title, "xmlId": invoice_xml_id(c.realm_id, str(inv["Id"])), "currencyId": c.currency,
        # Manual: Bitrix24 would otherwise recompute the amount from rounded rows; TotalAmt is the truth.
        "opportunity": _money(inv.get("TotalAmt")), "isManualOpportunity": "Y",
        "taxValue": _money((inv.get("TxnTaxDetail") or {}).get("TotalTax")),
        "begindate": inv.get("TxnDate"), "closedate": inv.get("DueDate") or inv.get("TxnDate"),
        "stageId": c.stage, "companyId": _ref(c.company_id) or 0,
        "contactIds": [_ref(c.contact_id)] if c.contact_id else [],
        "comments": "\n".join(part for part in (c.comments, c.memo) if part),
    }
    if facts.category_id is not None:
        fields["categoryId"] = facts.category_id
    return fields


def _smart_row(row: Row, index: int) -> dict[str, Any]:
    return {"productName": row.name, "price": row.final_price, "quantity": float(row.quantity),
            "discountTypeId": 1, "discountRate": row.discount_rate, "discountSum": row.unit_discount,
            "taxRate": row.tax_rate, "taxIncluded": "N", "sort": (index + 1) * 10}


def _old(c: _Common, rows: list[Row], facts: PortalFacts) -> dict[str, Any]:
    inv = c.invoice
    payer = "company" if c.company_id else "contact"
    person_type, pay_system = facts.person_type_ids.get(payer), facts.pay_system_ids.get(payer)
    if not person_type or not pay_system:
        raise MappingError(reason(NO_PAYER_TYPE))
    _old_currency(c, facts)
    return {
        "ORDER_TOPIC": c.title, "XML_ID": invoice_xml_id(c.realm_id, str(inv["Id"])), "CURRENCY": c.currency,
        "PERSON_TYPE_ID": person_type, "PAY_SYSTEM_ID": pay_system, "STATUS_ID": c.stage,
        "DATE_BILL": inv.get("TxnDate"), "DATE_PAY_BEFORE": inv.get("DueDate") or inv.get("TxnDate"),
        "UF_COMPANY_ID": _ref(c.company_id) or 0, "UF_CONTACT_ID": _ref(c.contact_id) or 0,
        "COMMENTS": c.comments, "USER_DESCRIPTION": c.memo,
        "PRODUCT_ROWS": [_old_row(row) for row in rows],
    }


def _old_currency(c: _Common, facts: PortalFacts) -> None:
    """An old invoice cannot hold a currency of its own: crm.invoice.fields marks CURRENCY read-only."""
    # Bitrix24 writes every old invoice in the portal's invoice currency; the base currency stands in for
    # it (the invoice-currency setting is not readable over REST: UNCERTAIN). Unknown base: Bitrix24 decides.
    if facts.base_currency and c.currency != facts.base_currency:
        number = c.invoice.get("DocNumber") or c.invoice["Id"]
        raise MappingError(reason(OLD_INVOICE_CURRENCY, number=number, currency=c.currency, base=facts.base_currency))


def _old_row(row: Row) -> dict[str, Any]:
    # PRICE carries the tax (VAT_INCLUDED Y): whether a "N" price is read before or after VAT is not
    # documented, and with tax included both readings give the same invoice total.
    return {"PRODUCT_ID": 0, "PRODUCT_NAME": row.name, "PRICE": row.final_price,
            "QUANTITY": float(row.quantity), "DISCOUNT_PRICE": row.unit_discount,
            "VAT_RATE": round(row.tax_rate / 100, 6), "VAT_INCLUDED": "Y", "MEASURE_CODE": 796, "MEASURE_NAME": "pcs"}


def _money(value: Any) -> float:
    return round(float(value or 0), 2)
