"""Deal follow-through: Create Invoice used on a deal, and the next QuickBooks invoice that takes the deal.

A request is remembered when the button is pressed on a deal (webhooks/placement.py); the invoice write
path (workers/sync_invoices.py) asks `deal_for_invoice` for every invoice it is about to CREATE in Bitrix24
and links the new invoice to the deal it gets. A request is taken at most once: the claim is a conditional
UPDATE (… WHERE invoice_qbo_id IS NULL) whose row count says who won, so two workers never link two
invoices to one request, and a retried create of the same invoice gets its own claim back.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from store.models import DealRequest, Portal, utcnow

# MetaData.CreateTime has whole seconds ("2015-07-24T10:35:08-07:00", reference §5): an invoice made in the
# same second as the click reads as made before it, so the click counts from the start of its second.
CREATE_TIME_RESOLUTION = timedelta(seconds=1)


def remember_deal(session: Session, portal_id: int, deal_id: str, qbo_customer_id: str, user_id: str | None,
                  window: timedelta) -> DealRequest:
    """Remember that the next invoice for this customer within `window` belongs to this deal.

    Idempotent: while a request of the same deal and customer is still open (unclaimed, not expired), a
    new click returns it unchanged (a double click remembers one; its window is not stretched)."""
    _serialize_portal(session, portal_id)
    now = utcnow()
    held = session.scalar(select(DealRequest).where(
        DealRequest.portal_id == portal_id, DealRequest.deal_id == str(deal_id),
        DealRequest.qbo_customer_id == str(qbo_customer_id), DealRequest.invoice_qbo_id.is_(None),
        DealRequest.expires_at > now).order_by(DealRequest.requested_at, DealRequest.id).limit(1))
    if held is not None:
        return held
    request = DealRequest(portal_id=portal_id, deal_id=str(deal_id), qbo_customer_id=str(qbo_customer_id),
                          user_id=str(user_id) if user_id else None, requested_at=now,
                          expires_at=now + window)
    session.add(request)
    session.flush()
    return request


def _serialize_portal(session: Session, portal_id: int) -> None:
    """Concurrent remember_deal calls of one portal take turns (check-then-insert without a unique key).

    An UPDATE that changes nothing still takes the portal row's lock on PostgreSQL (a non-key column: FOR
    NO KEY UPDATE, so inserts of the portal's child rows are not held up) and the write lock on SQLite (where
    SELECT … FOR UPDATE would be ignored); both are released at the caller's commit. Naming updated_at
    keeps its onupdate from firing."""
    session.execute(update(Portal).where(Portal.id == portal_id).values(updated_at=Portal.updated_at))


def waiting_customers(session: Session, portal_id: int, invoice_qbo_ids: Iterable[str] = ()) -> set[str]:
    """The QuickBooks customers with an unclaimed request, or with one these invoices already claimed (a
    create refused or cut short after its claim asks again and must get it back): a page's creates only
    ask for these (one query)."""
    held = sorted({str(i) for i in invoice_qbo_ids})
    return set(session.scalars(select(DealRequest.qbo_customer_id).distinct().where(
        DealRequest.portal_id == portal_id,
        or_(DealRequest.invoice_qbo_id.is_(None), DealRequest.invoice_qbo_id.in_(held)))))


def deal_for_invoice(session: Session, portal_id: int, qbo_customer_ids: list[str], invoice_qbo_id: str,
                     created_at: datetime) -> str | None:
    """Claim the oldest open request of these customers that the invoice falls into; its deal id.

    `created_at` is the invoice's QuickBooks MetaData.CreateTime (aware): a request takes only an invoice
    created at or after it was made and before it expires. A request this invoice claimed already (a create
    retried after a failed batch, a resumed page) is answered again. The claim commits with the caller."""
    invoice_qbo_id = str(invoice_qbo_id)
    mine = session.scalar(select(DealRequest.deal_id).where(
        DealRequest.portal_id == portal_id, DealRequest.invoice_qbo_id == invoice_qbo_id)
        .order_by(DealRequest.linked_at, DealRequest.id).limit(1))
    if mine is not None:
        return mine
    for request_id, deal_id in _candidates(session, portal_id, qbo_customer_ids, created_at):
        claimed = session.execute(update(DealRequest).where(
            DealRequest.id == request_id, DealRequest.invoice_qbo_id.is_(None)).values(
            invoice_qbo_id=invoice_qbo_id, linked_at=utcnow()))
        if claimed.rowcount == 1:
            return deal_id
        # another worker's invoice took this one in the meantime: the next oldest may still be open
    return None


def _candidates(session: Session, portal_id: int, qbo_customer_ids: Iterable[str],
                created_at: datetime) -> list[tuple[int, str]]:
    """Open requests the invoice falls into, first come first served."""
    wanted = sorted({str(i) for i in qbo_customer_ids if i})
    if not wanted:
        return []
    rows = session.execute(select(DealRequest.id, DealRequest.deal_id).where(
        DealRequest.portal_id == portal_id, DealRequest.qbo_customer_id.in_(wanted),
        DealRequest.invoice_qbo_id.is_(None), DealRequest.requested_at < created_at + CREATE_TIME_RESOLUTION,
        DealRequest.expires_at > created_at).order_by(DealRequest.requested_at, DealRequest.id))
    return [(request_id, deal_id) for request_id, deal_id in rows]
