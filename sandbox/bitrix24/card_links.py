"""What the portal's cards show of linked records: a deal's invoices, a Smart Invoice's deal and client.

Real Bitrix24 lists a deal's invoices on its card (the Smart Invoices whose `parentId2` is the deal, DOCS
crm/universal/crm-item-add.md "parentId{entityTypeId}"; old invoices by `UF_DEAL_ID`, DOCS
crm/outdated/invoice/crm-invoice-fields.md) and the kanban card of an invoice names its deal and client.
The sandbox renders the same facts as plain HTML with stable ids and data attributes for browser tests.
"""
from __future__ import annotations

from html import escape
from typing import Any

from sandbox.bitrix24 import invoices, permissions, smart_invoice
from sandbox.bitrix24.state import Portal
from sandbox.bitrix24.values import php_int


def deal_invoices(portal: Portal, deal_id: int) -> str:
    """The deal card's invoices table: Smart Invoices (parentId2) and old invoices (UF_DEAL_ID)."""
    rows = [("smart", item["id"], item.get("title") or "", item.get("stageId") or "",
             f"{item.get('opportunity', 0)} {item.get('currencyId', '')}")
            for item in portal.entities.get(smart_invoice.KIND, {}).values()
            if php_int(item.get("parentId2")) == deal_id]
    rows += [("old", int(record["ID"]), record.get("ORDER_TOPIC") or "", record.get("STATUS_ID") or "",
              f"{record.get('PRICE') or 0} {record.get('CURRENCY') or ''}")
             for record in portal.entities.get(invoices.KIND, {}).values()
             if php_int(record.get("UF_DEAL_ID")) == deal_id]
    body = "".join(f"<tr class='deal-invoice' data-invoice-kind='{kind}' data-invoice-id='{invoice_id}'>"
                   f"<td>#{invoice_id}</td><td class='invoice-title'>{escape(str(title))}</td>"
                   f"<td>{escape(str(stage))}</td><td>{escape(amount)}</td></tr>"
                   for kind, invoice_id, title, stage, amount in rows)
    return (f"<h2>Invoices</h2><table id='deal-invoices'><tr><th>ID</th><th>Title</th><th>Stage</th>"
            f"<th>Amount</th></tr>{body}</table>")


def client_label(portal: Portal, user_id: int, contact_id: Any, company_id: Any) -> str:
    """The client as the kanban shows it to this user: the contact's name, else the company's title; a
    record the user may not read only as "Hidden contact"/"Hidden company" (permissions.py; the portal's
    caption for hidden records, wording UNCERTAIN)."""
    contact = portal.entities.get("contact", {}).get(php_int(contact_id))
    if contact is not None:
        if not permissions.may_read(portal, user_id, "contact", contact):
            return "Hidden contact"
        name = " ".join(part for part in (contact.get("NAME"), contact.get("LAST_NAME")) if part)
        return name or f"Contact #{contact_id}"
    company = portal.entities.get("company", {}).get(php_int(company_id))
    if company is None:
        return ""
    if not permissions.may_read(portal, user_id, "company", company):
        return "Hidden company"
    return company.get("TITLE") or f"Company #{company_id}"


def kanban_card(portal: Portal, user_id: int, item: dict) -> str:
    """One Smart Invoice on the kanban as this user sees it: number, title, amount, deal and client."""
    deal_id = php_int(item.get("parentId2"))
    deal = f"<a class='card-deal' href='/crm/deal/details/{deal_id}/'>deal #{deal_id}</a>" if deal_id else ""
    client = client_label(portal, user_id, item.get("contactId"), item.get("companyId"))
    client_html = f"<span class='card-client'>{escape(client)}</span>" if client else ""
    return (f"<div class='card' data-id='{item['id']}' data-deal-id='{deal_id}' "
            f"data-contact-id='{php_int(item.get('contactId'))}' "
            f"data-company-id='{php_int(item.get('companyId'))}'>"
            f"<span class='card-title'>#{item['id']} {escape(str(item.get('title') or ''))}</span> "
            f"{item.get('opportunity')} {escape(str(item.get('currencyId') or ''))} {deal} {client_html}"
            f"</div>")
