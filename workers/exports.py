"""Bitrix24 → QuickBooks: CRM contacts and companies added in a portal become QuickBooks customers.

POST /webhooks/bitrix24 records each ONCRMCONTACTADD/ONCRMCOMPANYADD (received_events, source "b24") and,
once that is committed, queues `export_records(portal_id)` on the realtime queue; a portal has at most one
queued and not started (the marker of workers/pull_marker.py, per portal). The task works the portal's
unhandled add events in one go:

1. Echoes first, with no Bitrix24 call: a record the link store already knows (customer_for) came from
   QuickBooks (a full sync or a change pull created it) or was exported already: handled.
2. A portal not connected to QuickBooks, or whose `export_new_contacts` setting is off: handled, no call.
3. A portal whose writer is at work (a full run pending or running, a change pull holding its lease or in
   flight) is deferred, not read: such a writer binds its links only at its checkpoint, so its records' add
   events can come first. Once it commits, step 1 handles them for free. The writer is looked at BEFORE
   the link store: a writer seen idle had committed its links before the look, so none of its records
   escapes step 1 (and one that does, after MAX_DEFER_S of a stuck writer, is still caught by step 4).
4. The rest are read in ONE batch (≤ 50 commands a request) on the portal's stored tokens, never the
   event's (a robot's event carries none, reference bitrix24.md §3.2): a record with our origin markers
   (mappers/origin.py) is one of our own imports, handled; a deleted one (Not found), handled.
5. Every other record becomes a customer through workers/customer_export.ensure_customer (its own lock,
   requestid and Fault 6240 rule; it reads a company's contact person; it links both ways).

A failed attempt counts on the event (attempts, last_error: the record's own error, a
sentence for the app page's sync log, workers/export_errors.py) and the task queues itself
again with backoff, MAX_ATTEMPTS times; the event stays unhandled after that. Bitrix24 never resends an event,
so beat's sweep (`sweep_exports`, every RECONCILE_INTERVAL_S) queues an export for every portal with unhandled
add events: one whose enqueue the broker refused, or whose attempts ran out on a passing failure (network,
limits, an outage), is picked up there. Nothing accepted is lost. A record that fails for good (PERMANENT: the
mapper refuses it, every DisplayName of the Fault 6240 rule is taken, QuickBooks refuses a field, Bitrix24
denies the app reading it) is given up after MAX_ATTEMPTS: its events stay unhandled with last_error
"gave up: <why>" (store/events.GAVE_UP) and neither the sweep nor later tasks try it again - each try of a
taken name costs ~20 QuickBooks calls, every RECONCILE_INTERVAL_S, forever.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from sqlalchemy import select
from sqlalchemy.orm import Session

from clients.bitrix24_batch import Command
from clients.bitrix24_errors import AccessDenied, InvalidArgument, NotFound
from clients.coordination import LockTimeout
from clients.quickbooks_errors import DuplicateName, ValidationFailed
from mappers.errors import MappingError
from mappers.origin import parse_origin
from mappers.reasons import reason
from store.db import transaction
from store.events import mark_handled, note_attempt_failed, portals_with_unhandled_adds, unhandled_adds
from store.models import Portal, QboConnection, ReceivedEvent, utcnow
from workers import pull_marker
from workers.celery_app import EXPORT_RECORDS, SWEEP_EXPORTS
from workers.context import Services
from workers.customer_export import customer_for, ensure_customer
from workers.export_errors import NoRecord, describe
from workers.portal_settings import DEFAULTS
from workers.pull_lease import pull_live
from workers.reasons import B24_NO_RECORD
from workers.runs import writing_run
from workers.tasks import PUBLISH_RETRY, EnqueueFailed

log = logging.getLogger("qb24.exports")
ROUND = 50  # events per round: one batch read
ROUNDS_FOR_S = 240.0  # rounds one task works before it leaves the rest to the next (well inside LOCK_S)
RUN_WAIT_S, PULL_WAIT_S = 5.0, 1.0  # how long a deferral waits: a full run lasts minutes, a pull about a second
# A writer that stays "busy" this long is probably stuck (a dead worker's run awaiting redelivery): the events
# are read after all; the origin markers keep its records from being exported back.
MAX_DEFER_S = 7200.0
LOCK_S, LOCK_WAIT_S, BUSY_WAIT_S = 600.0, 0.5, 2.0  # the portal's export lock: one task works a portal at a time
MAX_ATTEMPTS, BACKOFF_S, MAX_BACKOFF_S = 6, 5.0, 300.0
# A record's failures that another try of the same record cannot mend (module docstring): given up.
PERMANENT = (MappingError, DuplicateName, ValidationFailed, AccessDenied, InvalidArgument)
Outcome = tuple[str, float | None]  # (outcome word, seconds until the task should run again, or None)


@shared_task(name=EXPORT_RECORDS, bind=True)
def export_records(self: Task, portal_id: int) -> str:
    """Work the portal's unhandled add events; the outcome word (for logs and tests)."""
    return run_export(self.app.services, portal_id)


@shared_task(name=SWEEP_EXPORTS, bind=True)
def sweep_exports(self: Task) -> int:
    return queue_unhandled(self.app.services)


def marker_key(services: Services, portal_id: int) -> str:
    return pull_marker.key_for(services.settings.database_url, str(portal_id), kind="export")


def enqueue_export(services: Services, portal_id: int, countdown: float | None = None) -> bool:
    """Queue the portal's export unless one is queued and not started (True when queued); EnqueueFailed when
    the broker refused it (the events stay stored: beat's sweep queues it later)."""
    def send() -> None:
        services.celery.send_task(EXPORT_RECORDS, args=(portal_id,), countdown=countdown or None,
                                  retry_policy=PUBLISH_RETRY)

    try:
        return pull_marker.queue_once(services, marker_key(services, portal_id), send, local=True)
    except Exception as error:
        log.warning("export.enqueue_failed", extra={"portal_id": portal_id, "error": type(error).__name__})
        raise EnqueueFailed(f"the export could not be queued ({type(error).__name__})") from error


def queue_unhandled(services: Services) -> int:
    """Beat's sweep: an export for every portal with add events not handled yet; how many were queued."""
    with services.sessions() as session:
        portal_ids = portals_with_unhandled_adds(session)
    queued = 0
    for portal_id in portal_ids:
        try:
            queued += enqueue_export(services, portal_id)
        except EnqueueFailed:
            pass  # logged; the next sweep tries again
    log.info("export.swept", extra={"portals": len(portal_ids), "queued": queued})
    return queued


def run_export(services: Services, portal_id: int) -> str:
    """Take the portal's marker (from now on a new event queues another task), then work its events under
    the portal's lock. The marker goes before the events are read: an event whose webhook saw the marker
    and queued nothing was committed before this read (the proof of workers/pull_marker.py)."""
    pull_marker.take(services, marker_key(services, portal_id), local=True)
    try:
        with services.locks.hold(f"export:{portal_id}", timeout=LOCK_S, wait=LOCK_WAIT_S):
            outcome, again = export_portal(services, portal_id)
    except LockTimeout:  # another task works the portal; it may have read its events before ours came
        outcome, again = "busy", BUSY_WAIT_S
    if again is not None:
        _again(services, portal_id, again)
    log.info(f"export.{outcome}", extra={"portal_id": portal_id})
    return outcome


def _again(services: Services, portal_id: int, countdown: float) -> None:
    try:
        enqueue_export(services, portal_id, countdown)
    except EnqueueFailed:
        pass  # logged; the events stay unhandled for beat's sweep


@dataclass
class Portion:
    """One round's events, by the CRM record they announce."""

    portal: Portal
    connection: QboConnection | None
    busy: float | None  # the writer's wait, looked at before the link store (see the module docstring)
    events: list[ReceivedEvent]
    by_record: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def ids(self, records: list[tuple[str, str]] | None = None) -> list[int]:
        keys = self.by_record if records is None else records
        return [event_id for key in keys for event_id in self.by_record.get(key, [])]


def export_portal(services: Services, portal_id: int) -> Outcome:
    """Rounds of at most ROUND events until none is left that this task has not tried, or until the task
    has worked ROUNDS_FOR_S; then the rest goes to a task queued at once, so the portal's lock (LOCK_S) never
    lapses under a big import while this task still works (a second task would then work the same events)."""
    after_id, outcome, started = 0, "idle", time.monotonic()
    while True:
        portion = _portion(services, portal_id, after_id)
        if portion is None:
            return outcome, None
        after_id = portion.events[-1].id
        outcome, again = _work(services, portion)
        if again is not None or len(portion.events) < ROUND:
            return outcome, again
        if time.monotonic() - started > ROUNDS_FOR_S:
            return outcome, 0.0


def _portion(services: Services, portal_id: int, after_id: int) -> Portion | None:
    """The next round's events, with the echoes already marked handled (no Bitrix24 call)."""
    with transaction(services.sessions) as session:
        portal = session.get(Portal, portal_id)
        if portal is None:
            return None  # gone with its events (ON DELETE CASCADE)
        busy = writer_wait(session, portal_id)
        events = unhandled_adds(session, portal_id, ROUND, after_id)
        if not events:
            return None
        connection = session.scalar(select(QboConnection).where(QboConnection.portal_id == portal_id))
        portion = Portion(portal, connection, busy, events)
        echoes = []
        for event in events:
            key = (str(event.entity), str(event.entity_id))
            if customer_for(session, portal_id, *key) is not None:
                echoes.append(event.id)
            else:
                portion.by_record.setdefault(key, []).append(event.id)
        mark_handled(session, echoes)
    return portion


def writer_wait(session: Session, portal_id: int) -> float | None:
    """How long to defer while something writes the portal's records and binds their links only at its
    checkpoint: a full run (pending or running), a change pull (lease held, or in flight); None when idle."""
    if writing_run(session, portal_id) is not None:
        return RUN_WAIT_S
    in_flight = session.scalar(select(QboConnection.pull_in_flight).where(QboConnection.portal_id == portal_id))
    return PULL_WAIT_S if in_flight or pull_live(session, portal_id) else None


def _work(services: Services, portion: Portion) -> Outcome:
    """Steps 2-5 of the module docstring for one round."""
    if not portion.by_record:
        return "echoes", None
    if not _exporting(portion.portal, portion.connection):
        _handled(services, portion.ids())
        return "off", None
    if portion.busy is not None and _young(portion):
        return "deferred", portion.busy
    client = services.bitrix24_client(portion.portal.member_id)  # the stored tokens, never the event's
    try:
        answer = client.batch(_commands(list(portion.by_record)))
    except Exception as error:  # noqa: BLE001 - the whole read failed: every record is tried again
        # the portal's failure, not a record's: never given up (the sweep tries again once it passes)
        return _failed(services, portion, dict.fromkeys(portion.by_record, error), records_own=False)
    failed: dict[tuple[str, str], BaseException] = {}  # each record's own error, kept on its events
    for key in portion.by_record:
        error = _export_one(services, portion, key, answer)
        if error is not None:
            failed[key] = error
    if failed:
        return _failed(services, portion, failed)
    return "exported", None


def _exporting(portal: Portal, connection: QboConnection | None) -> bool:
    """Whether the portal exports new records: installed, connected to QuickBooks, its setting on."""
    stored = portal.settings or {}
    wanted = stored.get("export_new_contacts", DEFAULTS["export_new_contacts"])
    return (portal.status == "installed" and connection is not None and connection.status == "connected"
            and wanted is True)


def _young(portion: Portion) -> bool:
    """Whether the round's oldest record event is young enough to wait for its writer (MAX_DEFER_S)."""
    waiting = set(portion.ids())
    oldest = min(event.received_at for event in portion.events if event.id in waiting)
    return utcnow() - oldest < timedelta(seconds=MAX_DEFER_S)


def _commands(records: list[tuple[str, str]]) -> dict[str, Command]:
    """crm.<type>.get per record (the client sends 50 a request). A company's contact person is read by
    ensure_customer itself, under that contact's lock (workers/customer_export.py), and only for a company
    that is exported: reading it here would cost every echo and every marked record a command."""
    return {f"{entity}_{b24_id}": (f"crm.{entity}.get", {"id": b24_id}) for entity, b24_id in records}


def _export_one(services: Services, portion: Portion, key: tuple[str, str], answer: Any) -> BaseException | None:
    """Act on one record's read; the error when the attempt failed (the record is tried again)."""
    entity, b24_id = key
    name = f"{entity}_{b24_id}"
    error = answer.errors.get(name)
    if isinstance(error, NotFound):
        _record_handled(services, portion, key, "deleted")
        return None
    record = answer.results.get(name)
    if error is not None or not isinstance(record, dict):
        return error or NoRecord(reason(B24_NO_RECORD, kind=entity, id=b24_id))
    if parse_origin(record.get("ORIGINATOR_ID"), record.get("ORIGIN_ID")) is not None:
        _record_handled(services, portion, key, "ours")  # one of our own imports: never exported back
        return None
    try:
        ensure_customer(services, portion.portal, portion.connection.realm_id, entity, record)
    except Exception as error:  # noqa: BLE001 - counted on the event and retried; beat's sweep after that
        log.warning("export.record_failed", extra={"portal_id": portion.portal.id, "entity": entity,
                                                   "b24_id": b24_id, "error": type(error).__name__})
        return error
    _record_handled(services, portion, key, "exported")
    return None


def _handled(services: Services, event_ids: list[int]) -> None:
    with transaction(services.sessions) as session:
        mark_handled(session, event_ids)


def _record_handled(services: Services, portion: Portion, key: tuple[str, str], why: str) -> None:
    _handled(services, portion.ids([key]))
    log.info(f"export.record_{why}", extra={"member_id": portion.portal.member_id, "entity": key[0], "b24_id": key[1]})


def _failed(services: Services, portion: Portion, failed: dict[tuple[str, str], BaseException],
            records_own: bool = True) -> Outcome:
    """Count the attempt on each failed record's events, with that record's error (a record's own PERMANENT
    failure gives its events up at MAX_ATTEMPTS); try again with backoff while attempts remain."""
    ids = portion.ids(list(failed))
    with transaction(services.sessions) as session:
        for key, error in failed.items():
            give_up = MAX_ATTEMPTS if records_own and isinstance(error, PERMANENT) else None
            note_attempt_failed(session, portion.ids([key]), describe(error), give_up)
        counted = session.scalars(select(ReceivedEvent.attempts).where(ReceivedEvent.id.in_(ids)))
        attempts = min(counted, default=0)
    reasons = sorted({describe(error) for error in failed.values()})[:5]
    log.warning("export.attempt_failed", extra={"portal_id": portion.portal.id, "events": len(ids),
                                                "attempts": attempts, "error": "; ".join(reasons)})
    if attempts >= MAX_ATTEMPTS:
        return "failed", None  # visible (attempts, last_error); beat's sweep tries a passing failure again
    return "retrying", min(BACKOFF_S * 2 ** (attempts - 1), MAX_BACKOFF_S)

