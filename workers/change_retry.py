"""Retry from the sync log: read one QuickBooks record again and apply it through the change path.

The app page's Retry button queues `retry_record(portal_id, qbo_type, qbo_id)`. The record is read fresh
and applied as a pull would apply it, except that its content hash is forgotten first (the portal may have
been fixed, e.g. a mandatory field filled, while the QuickBooks record stayed the same) and it runs as a
resumed page (a Retry whose worker died after writing finds its record by origin marker). Its sync-log row
goes in the commit that binds it; a Customer whose failure blocked invoices is retried alone: the invoices
stay in the log until retried themselves.

A Retry writes as a pull does, so it holds the realm's pull lease while it works and stands back while a
pull holds it or a full run is queued or running (either could create the same record): the task looks
again shortly, without counting it as a retry.
"""
from __future__ import annotations

import logging
from functools import partial

from celery import Task, shared_task
from sqlalchemy import select, update

from clients.quickbooks_errors import NotFound
from store.db import transaction
from store.models import Link, Portal, QboConnection
from store.sync_log import clear_failures, failure_of
from store.tokens import StoredTokensUnreadable
from workers.celery_app import PULL_CHANGES, RETRY_RECORD
from workers.change_apply import apply_changes
from workers.change_commit import commit_changes, commit_links, pull_context, set_in_flight
from workers.context import Services
from workers.facts_cache import FactsCache
from workers.full_sync import TRANSIENT
from workers.pull_lease import PullLease, beating, claim, release_asking_again, release_unless_again
from workers.runs import writing_run
from workers.sync_customers import CUSTOMER
from workers.sync_invoices import INVOICE
from workers.tasks import PUBLISH_RETRY, PULL_WAIT_S

log = logging.getLogger("qb24.changes")
MAX_RETRIES, RETRY_DELAY_S = 8, 15
RUN_WAIT_S = 30.0  # a full run is queued or running: look again then (PULL_WAIT_S while a pull holds the realm)


@shared_task(name=RETRY_RECORD, bind=True, max_retries=MAX_RETRIES)
def retry_record(self: Task, portal_id: int, qbo_type: str, qbo_id: str) -> str:
    try:
        outcome = apply_record(self.app.services, portal_id, qbo_type, qbo_id)
    except TRANSIENT as error:
        log.warning("changes.retry_record_retry", extra={"portal_id": portal_id, "error": type(error).__name__})
        raise self.retry(countdown=RETRY_DELAY_S)
    except StoredTokensUnreadable:  # logged where they were read (store/tokens.py); the log row stays
        return "tokens_unreadable"
    if outcome in ("busy", "deferred"):
        self.app.send_task(RETRY_RECORD, args=(portal_id, qbo_type, qbo_id), retry_policy=PUBLISH_RETRY,
                           countdown=PULL_WAIT_S if outcome == "busy" else RUN_WAIT_S)
    return outcome


def apply_record(services: Services, portal_id: int, qbo_type: str, qbo_id: str) -> str:
    """Apply one record again: "applied", "failed" (its log row stays, with the new reason), "gone" (deleted
    in QuickBooks: applied as a delete), "unknown" (not a Customer or Invoice), "disconnected", or nothing
    done yet: "busy" (a pull holds the realm) or "deferred" (a full run is queued or running)."""
    if qbo_type not in (CUSTOMER, INVOICE):
        return "unknown"
    with services.sessions() as session:
        portal = session.get(Portal, portal_id)
        connection = session.scalar(select(QboConnection).where(QboConnection.portal_id == portal_id))
    if portal is None or portal.status != "installed" or connection is None or connection.status != "connected":
        return "disconnected"
    owner = claim(services.sessions, connection.realm_id)
    if owner is None:
        return "busy"
    with beating(services.sessions, connection.realm_id, owner) as mine:
        try:
            with services.sessions() as session:
                # read under the lease: only a pull or a Retry (both hold it) changes the flag
                if writing_run(session, portal_id) is not None:
                    return "deferred"
                resuming = bool(session.get(QboConnection, connection.id).pull_in_flight)
            if not set_in_flight(services.sessions, mine.realm_id, mine):
                return "deferred"
            return _apply_held(services, portal, mine, qbo_type, str(qbo_id), clear_in_flight=not resuming)
        finally:
            _release(services, mine)


def _apply_held(services: Services, portal: Portal, mine: PullLease, qbo_type: str, qbo_id: str, *,
                clear_in_flight: bool) -> str:
    """The Retry itself, under the realm's pull lease and in flight like a pull (change_commit): dying between
    a create and its commit, the next pull or full run finds the record by origin marker. The commit clears
    the flag unless a dead pull had set it (that pull's writes are still unbound: the next pull resumes)."""
    portal_id = portal.id
    qbo = services.quickbooks_client(mine.realm_id)
    ctx = pull_context(services.sessions, portal, mine.realm_id, qbo=qbo,
                       b24=services.bitrix24_client(portal.member_id), lease=mine,
                       facts_cache=FactsCache(services.redis, portal))
    try:
        record = qbo.get(qbo_type, qbo_id)
    except NotFound:  # reference §5: a deleted invoice reads as not found
        record = {"Id": str(qbo_id), "status": "Deleted", "MetaData": {}}
    _forget_hash(services, portal_id, qbo_type, str(qbo_id))
    customers, invoices = ([record], []) if qbo_type == CUSTOMER else ([], [record])
    result = apply_changes(ctx, customers, invoices, resumed=True, checkpoint=partial(commit_links, ctx, mine))
    commit_changes(ctx, result, mine=mine, watermark=None, payments=[], calls=1, pulls=0,
                   clear_in_flight=clear_in_flight)
    if record.get("status") == "Deleted":
        with transaction(services.sessions) as session:
            clear_failures(session, portal_id, qbo_type, [str(qbo_id)])
        return "gone"
    with services.sessions() as session:
        return "failed" if failure_of(session, portal_id, qbo_type, str(qbo_id)) else "applied"


def _release(services: Services, mine: PullLease) -> None:
    """Release the lease; a pull asked for meanwhile (it found the lease held) is queued now."""
    if not release_unless_again(services.sessions, mine):
        return
    release_asking_again(services.sessions, mine)
    try:
        services.celery.send_task(PULL_CHANGES, args=(mine.realm_id, None), retry_policy=PUBLISH_RETRY)
    except Exception as error:  # noqa: BLE001 - the asker queued a later look itself (changes._look_again_later)
        log.warning("changes.enqueue_failed", extra={"realm_id": mine.realm_id, "error": type(error).__name__})


def _forget_hash(services: Services, portal_id: int, qbo_type: str, qbo_id: str) -> None:
    """The record is written again even if QuickBooks holds what was last written."""
    with transaction(services.sessions) as session:
        session.execute(update(Link).where(Link.portal_id == portal_id, Link.qbo_type == qbo_type,
                                           Link.qbo_id == qbo_id).values(content_hash=None))
