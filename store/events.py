"""Inbound events already accepted, keyed for deduplication (redelivery is a no-op)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from store.models import ReceivedEvent
from store.upsert import insert_for


def record_event(session: Session, *, source: str, dedupe_key: str, portal_id: int | None = None,
                 realm_id: str | None = None, entity: str | None = None, entity_id: str | None = None,
                 operation: str | None = None, occurred_at: datetime | None = None) -> bool:
    """Store the event once; True when it is new, False when it was seen before."""
    statement = insert_for(session, ReceivedEvent).values(
        source=source, dedupe_key=dedupe_key[:255], portal_id=portal_id, realm_id=realm_id, entity=entity,
        entity_id=entity_id, operation=operation, occurred_at=occurred_at,
    ).on_conflict_do_nothing(index_elements=["source", "dedupe_key"]).returning(ReceivedEvent.id)
    # rowcount is unreliable for ON CONFLICT DO NOTHING under psycopg; RETURNING is exact on both dialects.
    return session.execute(statement).scalar() is not None
