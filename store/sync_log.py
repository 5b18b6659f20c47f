"""The sync log: one row per QuickBooks record the sync could not write, with the reason; gone once written.

Written by the full sync and the change feed alike (upserts: a record failing again bumps `attempts`),
read by the app page, whose Retry re-applies one record.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.orm import Session

from store.models import SyncFailure, utcnow
from store.upsert import insert_for

MAX_REASON = 2000


def record_failure(session: Session, portal_id: int, qbo_type: str, qbo_id: str, name: str | None,
                   reason: str) -> None:
    """Log (or refresh) the record's failure."""
    now = utcnow()
    statement = insert_for(session, SyncFailure).values(
        portal_id=portal_id, qbo_type=qbo_type, qbo_id=str(qbo_id), name=(name or "")[:255] or None,
        reason=reason[:MAX_REASON], attempts=1, first_at=now, last_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=["portal_id", "qbo_type", "qbo_id"],
        set_={"name": statement.excluded.name, "reason": statement.excluded.reason, "last_at": now,
              "attempts": SyncFailure.attempts + 1})
    session.execute(statement)


def clear_failures(session: Session, portal_id: int, qbo_type: str, qbo_ids: Iterable[str]) -> None:
    """The records were written: their failures leave the log."""
    wanted = sorted({str(i) for i in qbo_ids})
    if wanted:
        session.execute(delete(SyncFailure).where(SyncFailure.portal_id == portal_id,
                                                  SyncFailure.qbo_type == qbo_type, SyncFailure.qbo_id.in_(wanted)))


def failures(session: Session, portal_id: int, limit: int = 100) -> list[SyncFailure]:
    """The newest failures first."""
    return list(session.scalars(select(SyncFailure).where(SyncFailure.portal_id == portal_id)
                                .order_by(SyncFailure.last_at.desc(), SyncFailure.id.desc()).limit(limit)))


def failure_count(session: Session, portal_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(SyncFailure)
                              .where(SyncFailure.portal_id == portal_id)) or 0)


def failure_of(session: Session, portal_id: int, qbo_type: str, qbo_id: str) -> SyncFailure | None:
    return session.scalar(select(SyncFailure).where(tuple_(SyncFailure.portal_id, SyncFailure.qbo_type,
                                                           SyncFailure.qbo_id) == (portal_id, qbo_type, str(qbo_id))))
