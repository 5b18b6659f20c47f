"""The change pull: per realm, one change-data-capture call since the watermark covers every event meanwhile.

A webhook (or the beat's reconciliation) queues `pull_changes(realm_id, noticed_at)`. The pull that runs
first takes the realm's lease (workers/pull_lease.py), stamps `last_pull_at`, reads everything changed
since the watermark minus the overlap (workers/change_read.py) and applies it through the full sync's
handlers (workers/change_apply.py); the links, the new watermark and the tallies commit together
(workers/change_commit.py). Coalescing: a task whose event was noticed before the latest pull began is
`covered` (that pull's CDC call saw it) and makes no QuickBooks call; one that arrives while a pull runs
sets `pull_again`, and the holder pulls once more. A burst of events thus costs one or two CDC calls.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from celery import Task, shared_task
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.db import transaction
from store.models import Portal, QboConnection, utcnow
from store.tokens import StoredTokensUnreadable
from workers.celery_app import PULL_CHANGES
from workers.change_apply import ApplyResult, apply_changes
from workers.change_commit import commit_changes, commit_links, pull_context, set_in_flight
from workers.change_merge import merges_pending
from workers.change_payments import invoices_of_payments
from workers import pull_marker
from workers.change_read import read_by_ids, read_changes
from workers.context import Services
from workers.facts_cache import FactsCache
from workers.full_sync import TRANSIENT
from workers.lease import BEAT_S, LEASE_S, LeaseLost
from workers.pull_lease import PullLease, beating, claim_or_ask_again, release_asking_again, release_unless_again
from workers.runs import RunActive, start_run, writing_run
from workers.sync_state import SyncContext
from workers.tasks import PUBLISH_RETRY, enqueue_full_sync
from workers.watermark import CDC_WINDOW, OVERLAP, RESYNC_MARGIN, too_old, watermark_of

log = logging.getLogger("qb24.changes")
MAX_RETRIES, MAX_BACKOFF_S = 12, 60
OUTCOMES = ("pulled", "covered", "paced", "deferred", "busy", "no_watermark", "resync", "disconnected",
            "tokens_unreadable")


@shared_task(name=PULL_CHANGES, bind=True, max_retries=MAX_RETRIES)
def pull_changes(self: Task, realm_id: str, noticed_at: float | None = None, lookback_s: float | None = None) -> str:
    """Pull the realm's changes; a transient error retries with backoff (the beat's next pull catches up
    after the last retry)."""
    lookback = timedelta(seconds=float(lookback_s)) if lookback_s else None
    try:
        return run_pull(self.app.services, realm_id, noticed_at=noticed_at, lookback=lookback)
    except TRANSIENT as error:
        log.warning("changes.retry", extra={"realm_id": realm_id, "error": type(error).__name__})
        # Without noticed_at: the failed pull's start must not count as covering the retry.
        raise self.retry(args=(realm_id, None, lookback_s), countdown=min(2 ** self.request.retries, MAX_BACKOFF_S))
    except StoredTokensUnreadable:  # logged where they were read (store/tokens.py); retrying cannot help
        return "tokens_unreadable"


def run_pull(services: Services, realm_id: str, *, noticed_at: float | None = None,
             lookback: timedelta | None = None) -> str:
    """One pull (and more while pull_again is set) for the realm; its outcome word (OUTCOMES)."""
    marker_gone = pull_marker.started(services, realm_id)  # webhooks may have relied on this pull: count from now
    if noticed_at is not None and marker_gone is not None:
        noticed_at = max(noticed_at, marker_gone)
    with services.sessions() as session:
        connection = session.scalar(select(QboConnection).where(QboConnection.realm_id == realm_id))
        if connection is None or connection.status != "connected":
            return "disconnected"
        if noticed_at is not None and _covered(connection, noticed_at):
            return "covered"
        wait = _paced(connection, services.settings.pull_interval_s) if noticed_at is not None else 0.0
    if wait > 0 and _pull_later(services, realm_id, noticed_at, wait):
        return "paced"
    owner, first_ask = claim_or_ask_again(services.sessions, realm_id)
    if owner is None:
        if first_ask:
            _look_again_later(services, realm_id)
        return "busy"
    with beating(services.sessions, realm_id, owner) as mine:
        try:
            while True:
                outcome = pull_once(services, mine, lookback)
                lookback = None
                if outcome == "deferred":
                    release_asking_again(services.sessions, mine)  # the full run's end pulls
                    return outcome
                if not release_unless_again(services.sessions, mine):
                    return outcome
        except BaseException:
            release_asking_again(services.sessions, mine)  # the retry (or the next pull) takes over
            raise


def _covered(connection: QboConnection, noticed_at: float) -> bool:
    """A pull began after the event was noticed (its CDC call saw the change), and none is owed."""
    began = connection.last_pull_at  # aware UTC on every dialect (store.models.UtcDateTime)
    if began is None or connection.pull_again:
        return False
    return began.timestamp() >= noticed_at


def _paced(connection: QboConnection, interval_s: float) -> float:
    """Seconds until the realm's next pull may start: `interval_s` after the latest pull began (0: now)."""
    began = connection.last_pull_at
    if began is None or interval_s <= 0:
        return 0.0
    return max(0.0, min(interval_s, began.timestamp() + interval_s - time.time()))


def _pull_later(services: Services, realm_id: str, noticed_at: float, wait: float) -> bool:
    """The event's pull, queued again to start when the pacing allows (with the same noticed_at: the pull
    that starts first then covers the rest). False when the broker did not take it: this task pulls now."""
    try:
        services.celery.send_task(PULL_CHANGES, args=(realm_id, noticed_at), countdown=wait,
                                  retry_policy=PUBLISH_RETRY)
    except Exception:  # noqa: BLE001 - pulling now loses nothing, it only spends more of the budget
        log.warning("changes.pace_failed", extra={"realm_id": realm_id}, exc_info=True)
        return False
    return True


def _look_again_later(services: Services, realm_id: str) -> None:
    """The holder should pull again; should it die first, this later pull (covered if it did not) makes
    sure the ask is not lost until the next reconciliation."""
    try:
        services.celery.send_task(PULL_CHANGES, args=(realm_id, time.time()), countdown=LEASE_S + BEAT_S,
                                  retry_policy=PUBLISH_RETRY)
    except Exception:  # noqa: BLE001 - the beat's reconciliation pulls anyway
        log.warning("changes.look_again_failed", extra={"realm_id": realm_id}, exc_info=True)


@dataclass
class Plan:
    """What the pull's first transaction decided."""

    outcome: str | None
    portal: Portal | None = None
    since: datetime | None = None
    resumed: bool = False
    resync_run: int | None = None


def pull_once(services: Services, mine: PullLease, lookback: timedelta | None = None) -> str:
    """One pull under the lease."""
    plan = _plan(services, mine, lookback)
    if plan.resync_run is not None:
        enqueue_full_sync(services, plan.resync_run)
    if plan.outcome is not None:
        log.info(f"changes.{plan.outcome}", extra={"realm_id": mine.realm_id})
        return plan.outcome
    qbo = services.quickbooks_client(mine.realm_id)
    ctx = pull_context(services.sessions, plan.portal, mine.realm_id, qbo=qbo,
                       b24=services.bitrix24_client(plan.portal.member_id), lease=mine,
                       facts_cache=FactsCache(services.redis, plan.portal))
    changes = read_changes(qbo, plan.since)
    customers, invoices = changes.records.get("Customer", []), changes.records.get("Invoice", [])
    payments = changes.records.get("Payment", [])
    paid, calls = _invoices_of(ctx, payments, invoices)
    invoices += paid
    calls += changes.calls
    work = bool(customers or invoices) or merges_pending(services.sessions, plan.portal.id)
    if work and not set_in_flight(services.sessions, mine.realm_id, mine):
        log.info("changes.deferred", extra={"realm_id": mine.realm_id})
        return "deferred"  # a full run was queued since the plan: it writes alone, its end pulls again
    checkpoint = partial(commit_links, ctx, mine)
    result = (apply_changes(ctx, customers, invoices, resumed=plan.resumed, checkpoint=checkpoint)
              if work else ApplyResult())
    if result.cancelled:
        commit_changes(ctx, result, mine=mine, watermark=None, payments=[], calls=calls)
        return "disconnected"
    commit_changes(ctx, result, mine=mine, watermark=changes.time, payments=payments, calls=calls)
    log.info("changes.pulled", extra={"realm_id": mine.realm_id, "customers": len(customers),
                                      "invoices": len(invoices), "payments": len(payments),
                                      "applied": result.applied, "failed": result.failed})
    return "pulled"


def _plan(services: Services, mine: PullLease, lookback: timedelta | None) -> Plan:
    now = utcnow()
    with transaction(services.sessions) as session:
        connection = session.scalar(select(QboConnection).where(QboConnection.realm_id == mine.realm_id)
                                    .with_for_update())
        if connection is None or connection.pull_owner != mine.owner:
            raise LeaseLost()
        portal = session.get(Portal, connection.portal_id)
        if connection.status != "connected" or portal is None or portal.status != "installed":
            return Plan("disconnected")
        connection.last_pull_at = now
        if writing_run(session, portal.id) is not None:
            return Plan("deferred")
        watermark = watermark_of(connection)
        if watermark is None:
            return Plan("no_watermark")
        if too_old(watermark, now):
            return _resync(session, portal, mine.realm_id)
        since = watermark - OVERLAP
        if lookback is not None:
            since = min(since, max(now - lookback, now - CDC_WINDOW + RESYNC_MARGIN))
        return Plan(None, portal, since, connection.pull_in_flight)


def _resync(session: Session, portal: Portal, realm_id: str) -> Plan:
    """The watermark fell out of CDC's 30 days: a full run reads everything again (its start sets a new one)."""
    try:
        run = start_run(session, portal.id)
    except RunActive:
        return Plan("deferred")
    log.warning("changes.resync", extra={"realm_id": realm_id, "run_id": run.id})
    return Plan("resync", resync_run=run.id)


def _invoices_of(ctx: SyncContext, payments: list[dict], invoices: list[dict]) -> tuple[list[dict], int]:
    """The invoices the changed payments apply to (or applied to, before an update or a delete) that the
    changes did not bring themselves, read from QuickBooks (and the calls made): their balance and stage
    follow the payment. The payments' invoice sets are computed in a session rolled back here; the pull's
    commit stores them, so a crash before it loses none (a deleted payment's set is read only from the store)."""
    if not payments:
        return [], 0
    with ctx.sessions() as session:
        ids = invoices_of_payments(session, ctx.portal_id, payments)
        session.rollback()
    wanted = set(ids) - {str(i["Id"]) for i in invoices}
    return (read_by_ids(ctx.qbo, "Invoice", wanted), (len(wanted) + 999) // 1000) if wanted else ([], 0)
