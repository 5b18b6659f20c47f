"""Deal follow-through on the invoice write path: which new invoices of a page join a deal.

Create Invoice on a deal remembers a request (store/deal_requests.py); here, each invoice a pull, a Retry
or a full sync is about to CREATE in Bitrix24 asks for one. Updates never ask: an invoice already in
Bitrix24 keeps whatever deal it has (the update field set carries no deal field at all).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from clients.bitrix24_errors import Bitrix24Error
from mappers.customer_kind import top_level_id
from mappers.invoice import InvoiceRecord
from mappers.qbo_time import meta_time
from store.db import transaction
from store.deal_requests import deal_for_invoice, waiting_customers
from workers.customer_match import LIST_IDS, TRANSIENT_COMMAND, chunks
from workers.sync_state import SyncContext

log = logging.getLogger("qb24.sync.deals")


def claim_deals(ctx: SyncContext, page: list[dict[str, Any]],
                creates: Iterable[InvoiceRecord]) -> dict[str, str]:
    """{invoice id: deal id} for the page's new invoices a Create Invoice request waits for.

    One query when no request waits (the usual case). Each claim commits at once, so another worker sees
    it taken; a create that then fails keeps its claim, and the retry gets the same deal back."""
    creates = list(creates)
    if not creates:
        return {}
    with ctx.sessions() as session:
        waiting = waiting_customers(session, ctx.portal_id, [r.qbo_id for r in creates])
    if not waiting:
        return {}
    invoices = {str(i["Id"]): i for i in page}
    parents = {key: value[0] for key, value in ctx.cursor["subs"].items()}
    asks = []
    for record in creates:
        invoice = invoices[record.qbo_id]
        customers = _customers(invoice, parents)
        created = meta_time(invoice, "CreateTime")  # None: unreadable, such an invoice links to no deal
        if created is not None and waiting.intersection(customers):
            asks.append((created, record.qbo_id, customers))
    deals: dict[str, str] = {}
    for created, qbo_id, customers in sorted(asks):  # the earliest invoice takes the earliest request
        with transaction(ctx.sessions) as session:
            deal_id = deal_for_invoice(session, ctx.portal_id, customers, qbo_id, created)
        if deal_id is not None:
            deals[qbo_id] = deal_id
    return _live(ctx, deals)


def _live(ctx: SyncContext, deals: dict[str, str]) -> dict[str, str]:
    """The claims whose deal still exists (one list call, only when something was claimed).

    A deal deleted between the click and the invoice: whether crm.item.add refuses a parentId2 naming no
    deal is UNCERTAIN (tests/sandbox_b24/test_deal_parent.py), and a refusal would fail the invoice's create
    on every retry; the invoice is created without the deal instead (its request stays used)."""
    if not deals:
        return {}
    existing: set[str] = set()
    # a list page is 50 rows (reference §5, List paging): one call per 50 deals, one call in the usual case
    for part in chunks(sorted(set(deals.values()), key=int), LIST_IDS):
        try:
            rows = ctx.b24.call("crm.deal.list", {"filter": {"@ID": part}, "select": ["ID"]}).result or []
        except TRANSIENT_COMMAND:
            raise  # the page stays in flight: its retry claims the same deals again
        except Bitrix24Error as error:  # unreadable: link anyway, the create's answer is the truth
            log.warning("sync.invoice.deal_check_failed",
                        extra={"member_id": ctx.member_id, "code": error.code})
            return deals
        existing |= {str(row.get("ID")) for row in rows}
    for qbo_id, deal_id in deals.items():
        what = "sync.invoice.deal_linked" if deal_id in existing else "sync.invoice.deal_gone"
        log.info(what, extra={"member_id": ctx.member_id, "qbo_id": qbo_id, "deal_id": deal_id})
    return {qbo_id: deal_id for qbo_id, deal_id in deals.items() if deal_id in existing}


def _customers(invoice: dict[str, Any], parents: dict[str, str]) -> list[str]:
    """The invoice's own customer and its top-level ancestor.

    A job (sub-customer) has no CRM record of its own: its invoices land on the top-level customer's
    contact or company (workers/customer_parents.py), which is what Create Invoice resolved, so a request
    for the top-level customer takes a job's invoice too. The job's own id is kept for a request made
    for it directly (a customer_ref pointing at the job)."""
    own = str((invoice.get("CustomerRef") or {}).get("value") or "")
    if not own:
        return []
    top = top_level_id(own, parents)
    return [own] if top == own else [own, top]
