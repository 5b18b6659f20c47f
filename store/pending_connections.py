"""QuickBooks grants held between the consent callback and the framed app page's claim (single use)."""
from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from clients.quickbooks_auth import QboTokens
from store.crypto import TokenCipher, TokenDecryptError
from store.models import PendingConnection, QboConnection
from store.tokens import realm_tokens

PENDING_TTL = timedelta(minutes=10)
log = logging.getLogger("qb24.store.pending")


@dataclass(frozen=True)
class PendingGrant:
    """A claimed (deleted) pending connection: who consented, for which portal, and the grant."""

    portal_id: int
    user_id: str | None
    company_name: str | None
    tokens: QboTokens
    expired: bool


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def hold_connection(session: Session, portal_id: int, user_id: str | None, tokens: QboTokens,
                    company_name: str | None, cipher: TokenCipher, now: datetime | None = None) -> str:
    """Keep the grant (encrypted) for PENDING_TTL; the one-time ticket that claims it."""
    now = now or datetime.now(timezone.utc)
    ticket = secrets.token_urlsafe(32)
    session.add(PendingConnection(
        ticket_hash=_hash(ticket), portal_id=portal_id, user_id=user_id, realm_id=tokens.realm_id,
        company_name=company_name, access_token_enc=cipher.encrypt(tokens.access_token or ""),
        refresh_token_enc=cipher.encrypt(tokens.refresh_token), access_expires_at=tokens.access_expires_at,
        refresh_expires_at=tokens.refresh_expires_at, expires_at=now + PENDING_TTL, created_at=now))
    session.flush()
    return ticket


def claim_connection(session: Session, ticket: str, cipher: TokenCipher,
                     now: datetime | None = None) -> PendingGrant | None:
    """The pending connection behind `ticket`, deleted in the same statement (two claims racing
    with one ticket cannot both get it); None when unknown, already claimed or undecryptable."""
    now = now or datetime.now(timezone.utc)
    row = session.execute(
        delete(PendingConnection).where(PendingConnection.ticket_hash == _hash(ticket))
        .returning(*PendingConnection.__table__.columns)
    ).first()
    if row is None:
        return None
    tokens = _readable(row, cipher)
    if tokens is None:  # the consent must be done again: as if it had expired
        return None
    return PendingGrant(row.portal_id, row.user_id, row.company_name, tokens, row.expires_at <= now)


def sweep_expired(session: Session, cipher: TokenCipher, now: datetime | None = None) -> list[QboTokens]:
    """Delete the pending connections nobody claimed in time; their grants, to be revoked."""
    now = now or datetime.now(timezone.utc)
    return _drop(session, PendingConnection.expires_at <= now, cipher)


def drop_pending_of(session: Session, portal_id: int, cipher: TokenCipher) -> list[QboTokens]:
    """Delete a portal's pending connections (uninstall); their grants, to be revoked."""
    return _drop(session, PendingConnection.portal_id == portal_id, cipher)


def revocable(session: Session, grants: list[QboTokens]) -> list[QboTokens]:
    """The grants that may be revoked: not one for a realm a portal holds a live connection to.

    UNCERTAIN (reference §7 only says "revoke via auth_client.revoke()"): whether Intuit's revoke
    ends just this grant or the app's whole connection to the company. Built for the wider
    reading: a stray grant for a connected realm is dropped (forgotten here), not revoked.
    """
    realms = {grant.realm_id for grant in grants}
    live = set(session.scalars(select(QboConnection.realm_id).where(
        QboConnection.realm_id.in_(realms), QboConnection.status == "connected"))) if realms else set()
    return [grant for grant in grants if grant.realm_id not in live]


def _drop(session: Session, condition, cipher: TokenCipher) -> list[QboTokens]:
    rows = session.execute(delete(PendingConnection).where(condition)
                           .returning(*PendingConnection.__table__.columns)).all()
    return [tokens for tokens in (_readable(row, cipher) for row in rows) if tokens is not None]


def _readable(row, cipher: TokenCipher) -> QboTokens | None:
    """The row's grant, or None (logged) when it decrypts with no key: nothing can use or revoke it then."""
    try:
        return realm_tokens(row, cipher)
    except TokenDecryptError:
        log.warning("qbo.pending.undecryptable", extra={"pending_id": row.id, "portal_id": row.portal_id,
                                                        "realm_id": row.realm_id})
        return None
