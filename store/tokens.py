"""Token repositories the clients call: decrypt on load, encrypt and commit on save."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from clients.bitrix24_auth import PortalAuth
from clients.quickbooks_auth import QboTokens
from store.crypto import TokenCipher
from store.db import transaction
from store.portals import connection_for_realm, portal_by_member_id


class ConnectionMissing(LookupError):
    """No connected QuickBooks company for this realm."""


class PortalMissing(LookupError):
    """No installed portal with this member_id (or it holds no tokens)."""


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
            return realm_tokens(row, self.cipher)

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
            return PortalAuth(
                member_id=member_id, domain=row.domain, client_endpoint=row.client_endpoint,
                server_endpoint=row.server_endpoint,
                access_token=self.cipher.decrypt(row.access_token_enc) or "",
                refresh_token=self.cipher.decrypt(row.refresh_token_enc) or "",
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
