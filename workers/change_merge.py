"""Customer merges: QuickBooks merged one customer into another (webhook Merge with deletedId; reference §1.1,
§1.2 `data.deletedid`). The change feed then shows the merged-away customer as a tombstone and its invoices
and payments as updated (moved to the survivor); only the webhook says which record survived.

- survivor not linked: the merged-away customer's CRM record (and its person contact) becomes the
  survivor's, so the CRM keeps one record with its history instead of gaining a duplicate;
- both linked: the merged-away link goes; its CRM record stays (the portal's own history);
- merged-away never linked: nothing moves.
The survivors are returned so the caller re-applies them (their links carry no hash: written in full); the
events are marked handled only in the caller's final commit.
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from store.db import transaction
from store.links import bind, links_for_qbo_ids
from store.models import ReceivedEvent, utcnow
from store.sync_log import clear_failures
from workers.change_deletes import unlink
from workers.customer_parents import forget_subs
from workers.sync_customers import CUSTOMER, PERSON
from workers.sync_state import SyncContext


def apply_merges(ctx: SyncContext) -> tuple[set[str], list[int]]:
    """Apply the portal's pending Merge events, oldest first (a chain A→B, B→C ends on C): the survivors, and
    the events' ids for the caller's final commit to mark handled (mark_handled). Marked here, a pull dying
    before it wrote the survivor would leave the survivor's CRM record holding the merged-away customer's data;
    left pending, the next pull applies the merge again, which is harmless (the links have moved already: the
    merged-away id holds none, the survivor's is kept) and re-applies the survivor."""
    survivors: set[str] = set()
    with transaction(ctx.sessions) as session:
        events = list(session.scalars(select(ReceivedEvent).where(*_pending(ctx.portal_id)).order_by(
            ReceivedEvent.occurred_at.asc().nulls_last(), ReceivedEvent.id).with_for_update()))
        for event in events:
            survivor, merged = str(event.entity_id), str(event.deleted_id)
            if survivor and merged != survivor:
                _merge(session, ctx.portal_id, survivor, merged)
                survivors.add(survivor)
        handled = [event.id for event in events]
    ctx.count("customers", "merged", len(survivors))
    return survivors, handled


def merges_pending(sessions: sessionmaker[Session], portal_id: int) -> bool:
    """Whether a Merge event waits: a pull applies it even when its change window is empty (the event came
    after the survivor's change was pulled, or a pull that applied it died before its commit)."""
    with sessions() as session:
        return session.scalar(select(ReceivedEvent.id).where(*_pending(portal_id)).limit(1)) is not None


def _pending(portal_id: int) -> tuple:
    return (ReceivedEvent.portal_id == portal_id, ReceivedEvent.source == "qbo", ReceivedEvent.entity == CUSTOMER,
            ReceivedEvent.operation == "Merge", ReceivedEvent.deleted_id.is_not(None),
            ReceivedEvent.handled_at.is_(None))


def mark_handled(session: Session, event_ids: list[int]) -> None:
    """In the transaction that commits the survivors' links: these Merge events are done."""
    if event_ids:
        session.execute(update(ReceivedEvent).where(ReceivedEvent.id.in_(event_ids),
                                                    ReceivedEvent.handled_at.is_(None)).values(handled_at=utcnow()))


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
