"""Revoking QuickBooks grants off the request path: one retried task per queued revocation, and the sweep.

A request that drops a grant (log out, uninstall, a consent nobody finished) stores it as a
QboRevocation in its own transaction and queues `revoke_tokens` after the commit
(webhooks/bitrix24_events.revoke_later): a slow or failing Intuit never fails or delays the request.
Intuit's revoke endpoint (reference quickbooks-online.md §7; RFC 7009) answers 200 once the grant is
revoked; intuitlib raises on anything else. A 400 (invalid_grant: the grant is gone already) is final;
network errors, 429 and 5xx are retried with exponential backoff. After MAX_ATTEMPTS the chain of
retries ends but the row stays: the sweep tries it again every interval (one attempt each), so an
outage longer than the chain never leaves the grant live. Only once the grant has lapsed at Intuit by
itself (its refresh token's 100 days) does the row go, with an error line.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from celery import Task, shared_task

from clients.quickbooks_errors import AuthorizationRevoked, QuickBooksError
from store.crypto import TokenDecryptError
from store.db import transaction
from store.models import QboRevocation
from store.pending_connections import revocable, sweep_expired
from store.revocations import add_revocation, revocation_tokens, stale_revocations
from workers.celery_app import REVOKE_TOKENS, SWEEP_GRANTS
from workers.context import Services
from workers.tasks import PUBLISH_RETRY

log = logging.getLogger("qb24.qbo.revoke")
MAX_ATTEMPTS = 8
# 5, 10, 20 … 300 s: the attempts span about ten minutes, so an outage of Intuit's that long is ridden out.
BACKOFF_S, BACKOFF_MAX_S = 5.0, 300.0
# A revocation still here this long after it was queued lost its task (or is in its last retries):
# the sweep queues it again; the attempts counted on the row bound the total either way.
STALE_AFTER = timedelta(minutes=10)
# A refresh token lives 100 days (reference quickbooks-online.md §7): past that the grant is dead anyway.
GRANT_LAPSES = timedelta(days=101)


class RevokeLater(Exception):
    """A transient failure: try again in `countdown` seconds."""

    def __init__(self, countdown: float) -> None:
        super().__init__(f"revoke again in {countdown:.0f} s")
        self.countdown = countdown


@shared_task(name=REVOKE_TOKENS, bind=True, max_retries=None)  # bounded by the row's attempts instead
def revoke_tokens(self: Task, revocation_id: int) -> str:
    try:
        return run_revocation(self.app.services, revocation_id)
    except RevokeLater as later:
        raise self.retry(countdown=later.countdown) from None


def run_revocation(services: Services, revocation_id: int) -> str:
    """Revoke one queued grant: "revoked", "gone" (Intuit holds it no more), "missing" (done meanwhile),
    "gave_up", "undecryptable" or "in_use" (its realm is connected again: dropped, not revoked, as
    store/pending_connections.revocable decides for a stray grant); RevokeLater on a transient failure."""
    with services.sessions() as session:
        row = session.get(QboRevocation, revocation_id)
        if row is None:
            return "missing"
        realm_id, reason = row.realm_id, row.reason
        try:
            tokens = revocation_tokens(row, services.token_cipher())
        except TokenDecryptError:  # TOKEN_ENCRYPTION_KEY rotated away: nothing can ever revoke it
            return _forget(services, revocation_id, realm_id, reason, "undecryptable")
        if not revocable(session, [tokens]):  # reconnected meanwhile: revoking may end the new grant too
            return _forget(services, revocation_id, realm_id, reason, "in_use")
    try:
        services.qbo_oauth().revoke(tokens)
    except QuickBooksError as error:
        if isinstance(error, AuthorizationRevoked) or error.status == 400:
            return _forget(services, revocation_id, realm_id, reason, "gone")
        return _failed(services, revocation_id, error)
    return _forget(services, revocation_id, realm_id, reason, "revoked")


def _forget(services: Services, revocation_id: int, realm_id: str | None, reason: str, outcome: str) -> str:
    with transaction(services.sessions) as session:
        row = session.get(QboRevocation, revocation_id)
        if row is not None:
            session.delete(row)
    log.info("qbo.revoke.done", extra={"realm_id": realm_id, "reason": reason, "outcome": outcome})
    return outcome


def _failed(services: Services, revocation_id: int, error: QuickBooksError) -> str:
    """Count the attempt; from MAX_ATTEMPTS on no new retry ("deferred": the sweep tries again), and the row
    goes only once the grant has lapsed ("gave_up"); else RevokeLater with the backoff."""
    with transaction(services.sessions) as session:
        row = session.get(QboRevocation, revocation_id, with_for_update=True)
        if row is None:
            return "missing"
        row.attempts += 1
        row.last_error = f"{type(error).__name__} (HTTP {error.status or '-'})"  # the class and status: no URL
        attempts, facts = row.attempts, {"realm_id": row.realm_id, "reason": row.reason, "error": row.last_error}
        lapsed = row.created_at < datetime.now(timezone.utc) - GRANT_LAPSES
        if lapsed:
            session.delete(row)
    if lapsed:
        log.error("qbo.revoke.gave_up", extra={**facts, "attempts": attempts})
        return "gave_up"
    if attempts >= MAX_ATTEMPTS:
        log.warning("qbo.revoke.deferred", extra={**facts, "attempts": attempts})
        return "deferred"
    log.warning("qbo.revoke.retry", extra={**facts, "attempts": attempts})
    raise RevokeLater(min(BACKOFF_S * 2 ** (attempts - 1), BACKOFF_MAX_S))


def enqueue_revocations(services: Services, revocation_ids: Iterable[int]) -> None:
    """Queue committed revocations; a broker failure is logged and left to the sweep (the row stays)."""
    for revocation_id in revocation_ids:
        try:
            services.celery.send_task(REVOKE_TOKENS, args=(revocation_id,), retry_policy=PUBLISH_RETRY)
        except Exception as error:
            log.warning("qbo.revoke.enqueue_failed", extra={"revocation_id": revocation_id,
                                                            "error": type(error).__name__})


@shared_task(name=SWEEP_GRANTS, bind=True)
def sweep_grants(self: Task) -> int:
    return run_sweep(self.app.services)


def run_sweep(services: Services, now: datetime | None = None) -> int:
    """Expired pending grants become revocations (deleted from the pending ones), and revocations whose
    task was lost are queued again; how many were queued."""
    now = now or datetime.now(timezone.utc)
    cipher = services.token_cipher()
    with transaction(services.sessions) as session:
        stale = stale_revocations(session, now - STALE_AFTER)
        expired = [add_revocation(session, grant, "expired_grant", cipher)
                   for grant in revocable(session, sweep_expired(session, cipher, now))]
    if stale or expired:
        log.info("qbo.grants.swept", extra={"expired": len(expired), "stale": len(stale)})
    enqueue_revocations(services, stale + expired)
    return len(stale) + len(expired)
