"""The binder: QuickBooks id ↔ Bitrix24 id per portal, written only by idempotent upserts."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Link, utcnow
from store.upsert import insert_for


def link_for_qbo(session: Session, portal_id: int, qbo_type: str, qbo_id: str) -> Link | None:
    return session.scalar(select(Link).where(Link.portal_id == portal_id, Link.qbo_type == qbo_type,
                                             Link.qbo_id == qbo_id))


def link_for_b24(session: Session, portal_id: int, b24_type: str, b24_id: str) -> Link | None:
    return session.scalar(select(Link).where(Link.portal_id == portal_id, Link.b24_type == b24_type,
                                             Link.b24_id == b24_id))


def bind(session: Session, *, portal_id: int, qbo_type: str, qbo_id: str, b24_type: str, b24_id: str,
         source_updated_at: datetime | None = None, content_hash: str | None = None) -> None:
    """Insert the link or refresh it; a redelivered or concurrent bind of the same pair is a no-op."""
    values = dict(portal_id=portal_id, qbo_type=qbo_type, qbo_id=qbo_id, b24_type=b24_type, b24_id=b24_id,
                  source_updated_at=source_updated_at, content_hash=content_hash, synced_at=utcnow())
    statement = insert_for(session, Link).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["portal_id", "qbo_type", "qbo_id"],
        set_={k: statement.excluded[k] for k in ("b24_type", "b24_id", "source_updated_at", "content_hash",
                                                  "synced_at")},
    )
    session.execute(statement)


def bind_new(session: Session, *, portal_id: int, qbo_type: str, qbo_id: str, b24_type: str, b24_id: str,
             source_updated_at: datetime | None = None, content_hash: str | None = None) -> bool:
    """Insert the link unless either side is bound already; whether it was inserted (never moves a link)."""
    statement = insert_for(session, Link).values(
        portal_id=portal_id, qbo_type=qbo_type, qbo_id=qbo_id, b24_type=b24_type, b24_id=b24_id,
        source_updated_at=source_updated_at, content_hash=content_hash, synced_at=utcnow())
    return session.execute(statement.on_conflict_do_nothing()).rowcount == 1


def links_for_qbo_ids(session: Session, portal_id: int, qbo_type: str, qbo_ids: Iterable[str]) -> dict[str, Link]:
    """The links of many QuickBooks records of one type at once, by QuickBooks id."""
    wanted = sorted(set(qbo_ids))
    if not wanted:
        return {}
    rows = session.scalars(select(Link).where(Link.portal_id == portal_id, Link.qbo_type == qbo_type,
                                              Link.qbo_id.in_(wanted)))
    return {row.qbo_id: row for row in rows}


def linked_b24_ids(session: Session, portal_id: int, b24_type: str, b24_ids: Iterable[str]) -> set[str]:
    """Which of these Bitrix24 records are already bound to some QuickBooks record."""
    wanted = sorted({str(i) for i in b24_ids})
    if not wanted:
        return set()
    return set(session.scalars(select(Link.b24_id).where(Link.portal_id == portal_id, Link.b24_type == b24_type,
                                                         Link.b24_id.in_(wanted))))
