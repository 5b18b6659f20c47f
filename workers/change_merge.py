"""Customer merges: QuickBooks merged one customer into another (webhook Merge with deletedId; reference §1.1,
§1.2 `data.deletedid`). The change feed then shows the merged-away customer as a tombstone and its invoices
and payments as updated (moved to the survivor); only the webhook says which record survived.

- survivor not linked: the merged-away customer's CRM record (and its person contact) becomes the
  survivor's, so the CRM keeps one record with its history instead of gaining a duplicate;
- both linked: the merged-away link goes; its CRM record stays (the portal's own history);
- merged-away never linked: nothing moves.
The survivors are returned so the caller re-applies them (their links carry no hash: written in full).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.db import transaction
from store.links import bind, links_for_qbo_ids
from store.models import ReceivedEvent, utcnow
from store.sync_log import clear_failures
from workers.change_deletes import unlink
from workers.customer_parents import forget_subs
from workers.sync_customers import CUSTOMER, PERSON
from workers.sync_state import SyncContext


def apply_merges(ctx: SyncContext) -> set[str]:
    """Handle the portal's pending Merge events, oldest first (a chain A→B, B→C ends on C); the survivors."""
    survivors: set[str] = set()
    with transaction(ctx.sessions) as session:
        events = list(session.scalars(select(ReceivedEvent).where(
            ReceivedEvent.portal_id == ctx.portal_id, ReceivedEvent.source == "qbo",
            ReceivedEvent.entity == CUSTOMER, ReceivedEvent.operation == "Merge",
            ReceivedEvent.deleted_id.is_not(None), ReceivedEvent.handled_at.is_(None))
            .order_by(ReceivedEvent.occurred_at.asc().nulls_last(), ReceivedEvent.id).with_for_update()))
        for event in events:
            survivor, merged = str(event.entity_id), str(event.deleted_id)
            if survivor and merged != survivor:
                _merge(session, ctx.portal_id, survivor, merged)
                survivors.add(survivor)
            event.handled_at = utcnow()
    ctx.count("customers", "merged", len(survivors))
    return survivors


def _merge(session: Session, portal_id: int, survivor: str, merged: str) -> None:
    """Move (or drop) the merged-away customer's links, in the caller's transaction. Decided by the customer
    link alone: a person contact goes with its own company, never onto the survivor's."""
    customers = links_for_qbo_ids(session, portal_id, CUSTOMER, [survivor, merged])
    persons = links_for_qbo_ids(session, portal_id, PERSON, [merged])
    moving = [link for link in (customers.get(merged), persons.get(merged)) if link is not None]
    records = [(link.qbo_type, link.b24_type, link.b24_id) for link in moving]
    unlink(session, portal_id, moving)  # first: each Bitrix24 record has one link
    if survivor not in customers:
        for qbo_type, b24_type, b24_id in records:
            bind(session, portal_id=portal_id, qbo_type=qbo_type, qbo_id=survivor, b24_type=b24_type,
                 b24_id=b24_id, source_updated_at=None, content_hash=None)
    forget_subs(session, portal_id, [merged])
    clear_failures(session, portal_id, CUSTOMER, [merged])
