"""QuickBooks grants waiting to be revoked (store/models.QboRevocation), kept encrypted until Intuit confirmed."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from clients.quickbooks_auth import QboTokens
from store.crypto import TokenCipher
from store.models import QboRevocation

REASONS = ("uninstall", "logout", "expired_grant", "stray")


def add_revocation(session: Session, tokens: QboTokens, reason: str, cipher: TokenCipher) -> int:
    """Keep the grant (encrypted) to be revoked by the worker; its id, once the caller's transaction commits."""
    if reason not in REASONS:
        raise ValueError(f"unknown revocation reason {reason!r}")
    # no realm ("") when the grant's company is unknown (webhooks/connect_grant.revoke_unknown)
    row = QboRevocation(realm_id=tokens.realm_id or None, access_token_enc=cipher.encrypt(tokens.access_token),
                        refresh_token_enc=cipher.encrypt(tokens.refresh_token), reason=reason)
    session.add(row)
    session.flush()
    return row.id


def revocation_tokens(row: QboRevocation, cipher: TokenCipher) -> QboTokens:
    return QboTokens(realm_id=row.realm_id or "", access_token=cipher.decrypt(row.access_token_enc) or None,
                     refresh_token=cipher.decrypt(row.refresh_token_enc) or "")


def stale_revocations(session: Session, created_before: datetime) -> list[int]:
    """Revocations queued before `created_before` and still here: their task was lost (an enqueue that
    failed, an embedded worker's in-memory queue gone with its process) or is still retrying."""
    return list(session.scalars(select(QboRevocation.id).where(QboRevocation.created_at < created_before)
                                .order_by(QboRevocation.id)))

