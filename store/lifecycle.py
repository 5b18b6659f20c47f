"""What happens to a portal's data when it logs out of QuickBooks or uninstalls the app."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from clients.quickbooks_auth import QboTokens
from store.crypto import TokenCipher, TokenDecryptError
from store.models import (CustomerParent, Link, OAuthState, PaymentInvoices, PendingConnection, Portal, QboConnection,
                          ReceivedEvent, SyncFailure, SyncRun)
from store.portals import drop_uninstall_claim
from store.tokens import realm_tokens

ACTIVE_RUNS = ("pending", "running")
log = logging.getLogger("qb24.store.lifecycle")


def cancel_runs(session: Session, portal_id: int) -> int:
    """Mark the portal's pending and running sync runs cancelled; the count changed."""
    result = session.execute(
        update(SyncRun).where(SyncRun.portal_id == portal_id, SyncRun.status.in_(ACTIVE_RUNS))
        .values(status="cancelled", finished_at=datetime.now(timezone.utc))
    )
    return result.rowcount or 0


def cancel_pending_run(session: Session, portal_id: int, run_id: int) -> bool:
    """Cancel the portal's run `run_id` if it is still pending (queued, no worker has begun it); whether it was.

    One conditional UPDATE, so it is atomic against a worker claiming the run: the worker locks the row
    (SELECT ... FOR UPDATE, workers/full_sync._begin) and sets it running. On PostgreSQL this UPDATE then waits
    for that lock and re-checks `status = 'pending'` on the row as the worker committed it (READ COMMITTED,
    https://www.postgresql.org/docs/current/transaction-iso.html#XACT-READ-COMMITTED), so it changes nothing;
    cancelled first, the worker's locked read finds the run over and never starts it.
    """
    result = session.execute(
        update(SyncRun).where(SyncRun.id == run_id, SyncRun.portal_id == portal_id, SyncRun.status == "pending")
        .values(status="cancelled", finished_at=datetime.now(timezone.utc))
    )
    return (result.rowcount or 0) == 1


def connection_tokens(connection: QboConnection, cipher: TokenCipher) -> QboTokens | None:
    """The stored QuickBooks tokens (for revoking), or None when none are held or they decrypt with no key
    (logged: nothing can revoke them then; they end at Intuit when the refresh token expires)."""
    if connection.refresh_token_enc is None:
        return None
    try:
        return realm_tokens(connection, cipher)
    except TokenDecryptError:
        log.warning("qbo.tokens.undecryptable", extra={"realm_id": connection.realm_id,
                                                       "connection_id": connection.id, "revoked": False})
        return None


def drop_connection_tokens(connection: QboConnection, status: str) -> None:
    """Forget the QuickBooks tokens; the row (realm, watermark) stays so a reconnect reuses the links."""
    connection.access_token_enc = connection.refresh_token_enc = None
    connection.access_expires_at = connection.refresh_expires_at = None
    connection.status = status


def drop_portal_tokens(portal: Portal) -> None:
    """Forget the Bitrix24 tokens (Bitrix24 has revoked them already on uninstall)."""
    portal.access_token_enc = portal.refresh_token_enc = None
    portal.access_expires_at = None


def delete_portal_data(session: Session, portal: Portal) -> None:
    """Uninstall with CLEAN: links, runs, events, the sync log, the QuickBooks connection, states and settings go."""
    for model in (Link, SyncRun, ReceivedEvent, OAuthState, PendingConnection, SyncFailure, CustomerParent,
                  PaymentInvoices, QboConnection):
        session.execute(delete(model).where(model.portal_id == portal.id))
    portal.settings = {}
    session.flush()


def connection_of(session: Session, portal_id: int) -> QboConnection | None:
    return session.scalar(select(QboConnection).where(QboConnection.portal_id == portal_id))


def end_install(portal: Portal) -> None:
    """The portal's install is over: its Bitrix24 tokens, application token and any claim are forgotten.

    The application token reached every user who opened the app (reference §1.1): kept, it would
    still authenticate replayed or forged events; a reinstall brings a new one (§1.4).
    """
    portal.status = "uninstalled"
    drop_portal_tokens(portal)
    portal.application_token_enc = None
    drop_uninstall_claim(portal)
