"""The QuickBooks customer a CRM record invoices to without owning its sync link (leads; a record that
matched a customer already linked to another record), written only by idempotent upserts."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import CustomerRef, utcnow
from store.upsert import insert_for


def ref_for(session: Session, portal_id: int, b24_type: str, b24_id: str) -> CustomerRef | None:
    return session.scalar(select(CustomerRef).where(CustomerRef.portal_id == portal_id,
                                                    CustomerRef.b24_type == b24_type,
                                                    CustomerRef.b24_id == str(b24_id)))


def refer(session: Session, *, portal_id: int, b24_type: str, b24_id: str, qbo_id: str) -> None:
    """Insert the reference or point it at `qbo_id`; a repeated or concurrent call is a no-op."""
    statement = insert_for(session, CustomerRef).values(portal_id=portal_id, b24_type=b24_type, b24_id=str(b24_id),
                                                        qbo_id=qbo_id, created_at=utcnow())
    session.execute(statement.on_conflict_do_update(index_elements=["portal_id", "b24_type", "b24_id"],
                                                    set_={"qbo_id": statement.excluded.qbo_id}))
