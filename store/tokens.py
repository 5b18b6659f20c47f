"""Token repositories the clients call: decrypt on load, encrypt and commit on save."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from clients.bitrix24_auth import PortalAuth
from clients.quickbooks_auth import QboTokens
from store.crypto import TokenCipher, TokenDecryptError
from store.db import transaction
from store.portals import connection_for_realm, portal_by_member_id


class ConnectionMissing(LookupError):
    """No connected QuickBooks company for this realm."""


class PortalMissing(LookupError):
    """No installed portal with this member_id (or it holds no tokens)."""


class StoredTokensUnreadable(LookupError):
    """Stored tokens that decrypt with none of TOKEN_ENCRYPTION_KEY's keys (one removed too early):
    as good as none, until the portal's administrator opens the app or logs in to QuickBooks again."""


class RealmTokensUnreadable(StoredTokensUnreadable, ConnectionMissing):
    """A connection's QuickBooks tokens do not decrypt: log in with QuickBooks again."""


class PortalTokensUnreadable(StoredTokensUnreadable, PortalMissing):
    """A portal's Bitrix24 tokens do not decrypt: an administrator opens the app to store new ones."""


log = logging.getLogger("qb24.store.tokens")


def realm_tokens(row: Any, cipher: TokenCipher) -> QboTokens:
    """Decrypt the QuickBooks tokens of a connection or pending-connection row."""
    return QboTokens(realm_id=row.realm_id, access_token=cipher.decrypt(row.access_token_enc) or None,
                     refresh_token=cipher.decrypt(row.refresh_token_enc) or "",
                     access_expires_at=row.access_expires_at, refresh_expires_at=row.refresh_expires_at)


class SqlRealmTokens:
    """QuickBooks tokens per realm in `qbo_connections`; every save is its own committed transaction."""

    def __init__(self, sessions: sessionmaker[Session], cipher: TokenCipher) -> None:
        self.sessions, self.cipher = sessions, cipher

    def load(self, realm_id: str) -> QboTokens:
        with self.sessions() as session:
            row = connection_for_realm(session, realm_id)
            if row is None or row.refresh_token_enc is None:
                raise ConnectionMissing(realm_id)
            try:
                return realm_tokens(row, self.cipher)
            except TokenDecryptError:
                log.warning("qbo.tokens.undecryptable", extra={"realm_id": realm_id, "connection_id": row.id})
                raise RealmTokensUnreadable(realm_id) from None

    def save(self, tokens: QboTokens) -> None:
        with transaction(self.sessions) as session:
            row = connection_for_realm(session, tokens.realm_id)
            if row is None:
                raise ConnectionMissing(tokens.realm_id)
            row.access_token_enc = self.cipher.encrypt(tokens.access_token)
            row.refresh_token_enc = self.cipher.encrypt(tokens.refresh_token)
            row.access_expires_at = tokens.access_expires_at
            row.refresh_expires_at = tokens.refresh_expires_at


class SqlPortalTokens:
    """Bitrix24 portal tokens in `portals`; every save is its own committed transaction."""

    def __init__(self, sessions: sessionmaker[Session], cipher: TokenCipher) -> None:
        self.sessions, self.cipher = sessions, cipher

    def load(self, member_id: str) -> PortalAuth:
        with self.sessions() as session:
            row = portal_by_member_id(session, member_id)
            if row is None or row.refresh_token_enc is None or row.access_expires_at is None:
                raise PortalMissing(member_id)
            try:
                access_token, refresh_token = (self.cipher.decrypt(row.access_token_enc) or "",
                                               self.cipher.decrypt(row.refresh_token_enc) or "")
            except TokenDecryptError:
                log.warning("b24.tokens.undecryptable", extra={"member_id": member_id, "portal_id": row.id})
                raise PortalTokensUnreadable(member_id) from None
            return PortalAuth(
                member_id=member_id, domain=row.domain, client_endpoint=row.client_endpoint,
                server_endpoint=row.server_endpoint, access_token=access_token, refresh_token=refresh_token,
                expires_at=row.access_expires_at,
            )

    def save(self, auth: PortalAuth) -> None:
        with transaction(self.sessions) as session:
            row = portal_by_member_id(session, auth.member_id)
            if row is None:
                raise PortalMissing(auth.member_id)
            row.domain, row.client_endpoint, row.server_endpoint = auth.domain, auth.client_endpoint, auth.server_endpoint
            row.access_token_enc = self.cipher.encrypt(auth.access_token)
            row.refresh_token_enc = self.cipher.encrypt(auth.refresh_token)
            row.access_expires_at = auth.expires_at
