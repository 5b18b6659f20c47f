"""Celery tasks (ids only in, everything else read from the store) and how the web and CLI queue them."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from celery import Task, shared_task
from sqlalchemy import select

from mappers.reasons import reason
from store.db import transaction
from store.models import Portal, QboConnection, SyncRun
from store.tokens import StoredTokensUnreadable
from workers.celery_app import FULL_SYNC, PULL_CHANGES, RETRY_RECORD
from workers.context import Services
from workers.full_sync import TRANSIENT, fatal_reason, run_full_sync
from workers import lease
from workers.lease import Lease, held
from workers.pull_lease import pull_live
from workers import reasons as R
from workers.runs import ACTIVE_RUNS

log = logging.getLogger("qb24.worker.tasks")
# The engine's TRANSIENT errors leave the run "running": the retry resumes it from its cursor.
RETRY_DELAY_S, MAX_RETRIES = 30, 20
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
BUSY = "busy"  # another process holds the run's lease (workers/lease.py)
# A change pull holds the realm (workers/pull_lease.py): the run waits for it rather than writing alongside it
# (both could create the same new record). Pulls last about a second; the task looks again shortly.
PULLING, PULL_WAIT_S = "pulling", 2.0


class EnqueueFailed(RuntimeError):
    """The broker did not take the task; the run was marked failed with the reason."""


@shared_task(name=FULL_SYNC, bind=True, max_retries=MAX_RETRIES)
def full_sync(self: Task, run_id: int) -> str:
    """Run (or resume) a full sync or dry run; the final status."""
    try:
        status = run_sync(self.app.services, run_id)
    except TRANSIENT as error:
        log.warning("sync.retry", extra={"run_id": run_id, "error": type(error).__name__})
        if self.request.retries >= MAX_RETRIES:
            fail_run(self.app.services, run_id, reason(R.RUN_GAVE_UP, count=MAX_RETRIES, error=_describe(error)))
            return "failed"
        raise self.retry(countdown=RETRY_DELAY_S) from None
    if status == "done":
        pull_after_run(self.app.services, run_id)
    if status == BUSY:
        # Delivered while another process runs it (Redis redelivers after the visibility timeout; a
        # restarted embedded worker re-queues it). Dropping this copy could lose the run if that
        # process then dies (its own message is the one we got), so look again once its lease could
        # have lapsed; if it finished meanwhile, that look ends at once. Not a retry: no limit applies.
        self.app.send_task(FULL_SYNC, args=(run_id,), countdown=lease.LEASE_S, retry_policy=PUBLISH_RETRY)
    if status == PULLING:
        self.app.send_task(FULL_SYNC, args=(run_id,), countdown=PULL_WAIT_S, retry_policy=PUBLISH_RETRY)
    return status


def run_sync(services: Services, run_id: int) -> str:
    """Run the engine on the run if no other process does (task and `qb24 resync` alike); BUSY if one does,
    PULLING if a change pull holds the portal's realm.

    A pull and a writing run are exclusive per portal: the run is active (committed) before this looks at
    the pull lease, and a pull takes its lease (committed) before it looks for active runs
    (workers/changes.py, before every pull and again before its first Bitrix24 write), so of two that
    overlap at least one sees the other and stands back."""
    with services.sessions() as session:
        run = session.get(SyncRun, run_id)
        if run is None:
            return "missing"  # deleted with its portal's data (uninstall CLEAN)
        portal_id, writes = run.portal_id, run.kind != "dry_run"
    with held(services.sessions, run_id) as mine:
        if mine is None:
            return BUSY
        with services.sessions() as session:
            if writes and pull_live(session, portal_id):
                return PULLING
        return _run_engine(services, run_id, mine)


def _run_engine(services: Services, run_id: int, mine: Lease) -> str:
    """Build the run's clients from the store and run the engine."""
    with services.sessions() as session:
        run = session.get(SyncRun, run_id)
        portal = session.get(Portal, run.portal_id)
        connection = session.scalar(select(QboConnection).where(QboConnection.portal_id == run.portal_id))
    if connection is None:
        fail_run(services, run_id, R.RUN_NO_COMPANY, owner=mine.owner)
        return "failed"
    try:
        return run_full_sync(services.sessions, run_id, qbo=services.quickbooks_client(connection.realm_id),
                             b24=services.bitrix24_client(portal.member_id), lease=mine)
    except TRANSIENT:
        raise
    except StoredTokensUnreadable as error:  # at the run's first call (logged in store/tokens.py)
        fail_run(services, run_id, fatal_reason(error), owner=mine.owner)
        return "failed"
    except Exception as error:  # the engine fails its own run; this catches what comes before it
        log.exception("sync.crashed", extra={"run_id": run_id})
        fail_run(services, run_id, reason(R.RUN_CRASHED, error=_describe(error)), owner=mine.owner)
        return "failed"


def enqueue_full_sync(services: Services, run_id: int) -> None:
    """Queue a committed run; on a broker failure the run is marked failed and EnqueueFailed raised.

    In the embedded mode the process's own worker thread consumes it (`workers.embedded`, started
    by whoever serves the app: `qb24 web`, `make demo`, the test stack)."""
    try:
        # A click waits for this: a few quick retries, then the page says the broker is down.
        services.celery.send_task(FULL_SYNC, args=(run_id,), retry_policy=PUBLISH_RETRY)
    except Exception as error:
        log.exception("sync.enqueue_failed", extra={"run_id": run_id})
        why = reason(R.RUN_NOT_QUEUED, error=_describe(error))
        fail_run(services, run_id, why)
        raise EnqueueFailed(why) from error


def enqueue_pull(services: Services, realm_id: str, noticed_at: float) -> None:
    """Queue a change pull for the realm (the webhook's path); EnqueueFailed when the broker did not take it,
    so the webhook answers 503 and Intuit redelivers. `noticed_at` (epoch seconds) lets a pull that began
    after it skip the QuickBooks call (workers/changes.py).

    The pull waits `pull_gather_s` (default 0.25 s) before it runs: the events of a burst (an invoice and its
    payment, a bulk edit in QuickBooks) arrive within a fraction of a second, and every event noticed before
    the first pull begins is covered by that pull's one CDC call; a quarter of a second keeps the median
    change-to-Bitrix24 latency well under the 1 s target (a CDC call and a batch write take ~0.1-0.3 s more)."""
    try:
        services.celery.send_task(PULL_CHANGES, args=(realm_id, noticed_at), retry_policy=PUBLISH_RETRY,
                                  countdown=services.settings.pull_gather_s or None)
    except Exception as error:
        log.warning("changes.enqueue_failed", extra={"realm_id": realm_id, "error": type(error).__name__})
        raise EnqueueFailed(f"the change pull could not be queued ({_describe(error)})") from error


def enqueue_retry(services: Services, portal_id: int, qbo_type: str, qbo_id: str) -> None:
    """Queue a re-apply of one record of the sync log (the app page's Retry); EnqueueFailed when the broker
    did not take it (the row stays in the log, so nothing is lost: the admin clicks again)."""
    try:
        services.celery.send_task(RETRY_RECORD, args=(portal_id, qbo_type, qbo_id), retry_policy=PUBLISH_RETRY)
    except Exception as error:
        log.warning("changes.retry_enqueue_failed", extra={"portal_id": portal_id, "qbo_type": qbo_type,
                                                           "error": type(error).__name__})
        raise EnqueueFailed("The retry could not be queued: the task queue did not answer. "
                            "Nothing was changed; try again in a minute.") from error


def pull_after_run(services: Services, run_id: int) -> None:
    """A full run ended done: pull what changed while it ran (pulls were deferred; its start set the watermark).
    A broker failure is only logged: the beat's reconciliation pulls anyway."""
    with services.sessions() as session:
        run = session.get(SyncRun, run_id)
        connection = session.scalar(select(QboConnection).where(QboConnection.portal_id == run.portal_id)) if run else None
    if connection is None or connection.status != "connected" or run.kind == "dry_run":
        return
    try:
        services.celery.send_task(PULL_CHANGES, args=(connection.realm_id, None), retry_policy=PUBLISH_RETRY)
    except Exception as error:  # noqa: BLE001
        log.warning("changes.enqueue_failed", extra={"realm_id": connection.realm_id, "error": type(error).__name__})


def fail_run(services: Services, run_id: int, reason: str, *, owner: str | None = None) -> None:
    """Mark a still-active run failed with `reason` (a finished one keeps its outcome), unless a process
    other than the lease `owner` (None: the caller holds none) holds its lease: that process ends it.

    Failing it under a live holder would free the portal for a second run while the first engine still
    writes (the engine goes on through a "failed" status), and both would create the same records."""
    with transaction(services.sessions) as session:
        run = session.get(SyncRun, run_id, with_for_update=True)
        if run is None or run.status not in ACTIVE_RUNS:
            return
        if run.lease_owner not in (None, owner) and not lease.lease_free(run.heartbeat_at):
            log.warning("sync.fail_skipped_held", extra={"run_id": run_id})
            return
        run.status, run.error, run.finished_at = "failed", reason, datetime.now(timezone.utc)
        # a holder whose lease lapsed (paused, cut off) and that wakes up must not go on writing, nor
        # turn "failed" back into "done": with the lease gone it stops at its next checkpoint
        run.heartbeat_at = run.lease_owner = None


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]
