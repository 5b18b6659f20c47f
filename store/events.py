"""Inbound events already accepted, keyed for deduplication (redelivery is a no-op)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, or_, select, update
from sqlalchemy.orm import Session

from store.models import ReceivedEvent, utcnow
from store.upsert import insert_for

KEY_MAX = 255  # ReceivedEvent.dedupe_key


def record_event(session: Session, *, source: str, dedupe_key: str, portal_id: int | None = None,
                 realm_id: str | None = None, entity: str | None = None, entity_id: str | None = None,
                 operation: str | None = None, occurred_at: datetime | None = None) -> bool:
    """Store the event once; True when it is new, False when it was seen before."""
    row = {"dedupe_key": dedupe_key, "portal_id": portal_id, "realm_id": realm_id, "entity": entity,
           "entity_id": entity_id, "operation": operation, "occurred_at": occurred_at}
    return bool(record_events(session.connection(), source, [row]))


def record_events(connection: Connection, source: str, rows: list[dict[str, Any]]) -> set[str]:
    """Store each event once, many in one INSERT (Core: the webhook's path, where the ORM layer costs more
    than the statement) (a webhook delivery carries up to 100, reference
    quickbooks-online.md §1.2); the dedupe keys (cut to the column's width) that were new.

    Each row holds dedupe_key and any of portal_id, realm_id, entity, entity_id, operation,
    occurred_at, deleted_id."""
    columns = ("portal_id", "realm_id", "entity", "entity_id", "operation", "occurred_at", "deleted_id")
    values = {row["dedupe_key"][:KEY_MAX]: {"source": source, "dedupe_key": row["dedupe_key"][:KEY_MAX],
                                            "received_at": utcnow(), "attempts": 0,
                                            **{name: row.get(name) for name in columns}} for row in rows}
    if not values:
        return set()
    # Core, many parameter sets: SQLAlchemy sends them as multi-row INSERTs ("insertmanyvalues") from one
    # cached compiled statement; rowcount is unreliable for ON CONFLICT DO NOTHING under psycopg, RETURNING
    # is exact on both dialects.
    statement = _STATEMENTS.get(connection.dialect.name)
    if statement is None:  # built once per dialect: building it cost a third of running it (the webhook's path)
        table = ReceivedEvent.__table__
        statement = (insert_for(connection, table).on_conflict_do_nothing(index_elements=["source", "dedupe_key"])
                     .returning(table.c.dedupe_key))
        _STATEMENTS[connection.dialect.name] = statement
    result = connection.execute(statement, list(values.values()))
    return set(result.scalars())


_STATEMENTS: dict[str, Any] = {}


# The last_error of an add event the export stopped trying: its record cannot be exported as it stands.
GAVE_UP = "gave up: "
# Bitrix24 add events (ONCRMCONTACTADD/ONCRMCOMPANYADD) waiting for the export worker (workers/exports.py).
B24_ADD = (ReceivedEvent.source == "b24", ReceivedEvent.operation == "add",
           ReceivedEvent.handled_at.is_(None),
           or_(ReceivedEvent.last_error.is_(None),
               ~ReceivedEvent.last_error.startswith(GAVE_UP, autoescape=True)))
ERROR_MAX = 255  # ReceivedEvent.last_error


def unhandled_adds(session: Session, portal_id: int, limit: int, after_id: int = 0) -> list[ReceivedEvent]:
    """The portal's add events no worker has handled yet, oldest first, with an id above `after_id`."""
    return list(session.scalars(select(ReceivedEvent).where(*B24_ADD, ReceivedEvent.portal_id == portal_id,
                                                            ReceivedEvent.id > after_id)
                                .order_by(ReceivedEvent.id).limit(limit)))


def portals_with_unhandled_adds(session: Session) -> list[int]:
    """Every portal holding an add event not handled yet (beat's sweep queues an export for each)."""
    return list(session.scalars(select(ReceivedEvent.portal_id).where(*B24_ADD, ReceivedEvent.portal_id.is_not(None))
                                .distinct().order_by(ReceivedEvent.portal_id)))


def mark_handled(session: Session, event_ids: list[int]) -> None:
    """The events were acted on (or need nothing): they leave the worker's list for good."""
    if event_ids:
        session.execute(update(ReceivedEvent).where(ReceivedEvent.id.in_(event_ids))
                        .values(handled_at=utcnow(), last_error=None))


def note_attempt_failed(session: Session, event_ids: list[int], error: str,
                        give_up_after: int | None = None) -> None:
    """An attempt failed: count it and keep why (no secrets: the caller describes the error). With
    `give_up_after`, an event whose attempts reach it is given up: its last_error starts with GAVE_UP and it
    leaves the worker's list (B24_ADD), still unhandled and visible."""
    if not event_ids:
        return
    last_error: Any = error[:ERROR_MAX]
    if give_up_after is not None:
        last_error = case((ReceivedEvent.attempts + 1 >= give_up_after, (GAVE_UP + error)[:ERROR_MAX]),
                          else_=last_error)
    session.execute(update(ReceivedEvent).where(ReceivedEvent.id.in_(event_ids))
                    .values(attempts=ReceivedEvent.attempts + 1, last_error=last_error))


# The sync log's failed exports (webhooks/sync_log_view.py): a record's add event still unhandled, with an error,
# whose attempts reached `min_attempts` - passing failures still tried and given-up ones (GAVE_UP) alike; one row
# per CRM record (its newest event), newest first.
def _failing(portal_id: int, min_attempts: int) -> tuple:
    return (ReceivedEvent.source == "b24", ReceivedEvent.operation == "add", ReceivedEvent.handled_at.is_(None),
            ReceivedEvent.portal_id == portal_id, ReceivedEvent.attempts >= min_attempts,
            ReceivedEvent.last_error.is_not(None))


def _newest_per_record(portal_id: int, min_attempts: int):
    return (select(func.max(ReceivedEvent.id).label("id")).where(*_failing(portal_id, min_attempts))
            .group_by(ReceivedEvent.entity, ReceivedEvent.entity_id))


def failed_adds(session: Session, portal_id: int, min_attempts: int, limit: int) -> list[ReceivedEvent]:
    newest = _newest_per_record(portal_id, min_attempts).subquery()
    return list(session.scalars(select(ReceivedEvent).where(ReceivedEvent.id.in_(select(newest.c.id)))
                                .order_by(ReceivedEvent.id.desc()).limit(limit)))


def failed_add_count(session: Session, portal_id: int, min_attempts: int) -> int:
    newest = _newest_per_record(portal_id, min_attempts).subquery()
    return int(session.scalar(select(func.count()).select_from(newest)) or 0)


def failed_add_ids(session: Session, portal_id: int, entity: str, entity_id: str, min_attempts: int) -> list[int]:
    """The record's failing add events in this portal's log; none for another portal's, a handled or a passing one."""
    return list(session.scalars(select(ReceivedEvent.id).where(
        *_failing(portal_id, min_attempts), ReceivedEvent.entity == entity, ReceivedEvent.entity_id == entity_id)))


def take_up_again(session: Session, event_ids: list[int]) -> None:
    """A Retry: given-up events lose the GAVE_UP mark and so are the worker's again (B24_ADD); the attempts stay,
    so a failure for good gives them up again after one more try."""
    if event_ids:
        session.execute(update(ReceivedEvent).where(ReceivedEvent.id.in_(event_ids),
                                                    ReceivedEvent.last_error.startswith(GAVE_UP, autoescape=True))
                        .values(last_error=func.substr(ReceivedEvent.last_error, len(GAVE_UP) + 1)))
