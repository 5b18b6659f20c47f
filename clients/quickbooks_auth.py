"""QuickBooks OAuth 2 on intuitlib: consent URL, code exchange, refresh, revoke, and token keeping.

Intuit rotates refresh tokens; a rotated token that is lost strands the connection. So the new
pair is saved (committed) before the new access token is used, and refreshes for one realm are
serialized across all workers with a lock in Redis (reference §7, MISSION complaint list).
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Protocol

import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError

from clients.coordination import Locks
from clients.quickbooks_errors import AuthorizationRevoked, QuickBooksError, ServiceUnavailable

log = logging.getLogger("qb24.qbo.auth")

# Refresh a little early so a token does not expire between the check and the request.
EXPIRY_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True)
class QboTokens:
    """One realm's OAuth tokens as stored (decrypted)."""

    realm_id: str
    access_token: str | None
    refresh_token: str
    access_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None

    def __repr__(self) -> str:  # never print a token, even in a traceback
        return f"QboTokens(realm_id={self.realm_id!r}, access_expires_at={self.access_expires_at!r})"

    def access_usable(self, now: datetime) -> bool:
        return bool(self.access_token) and (
            self.access_expires_at is None or self.access_expires_at - EXPIRY_MARGIN > now
        )


class RealmTokens(Protocol):
    """Where a realm's tokens live; `save` must be durable (committed) when it returns."""

    def load(self, realm_id: str) -> QboTokens: ...

    def save(self, tokens: QboTokens) -> None: ...


@dataclass(frozen=True)
class QboApp:
    """This app's Intuit credentials and where Intuit's OAuth endpoints are."""

    client_id: str
    client_secret: str
    redirect_uri: str
    environment: str  # sandbox | production | a discovery-document URL (intuitlib uses it as is)

    def __repr__(self) -> str:
        return f"QboApp(client_id={self.client_id!r}, environment={self.environment!r})"


class QboOAuth:
    """The OAuth operations, each on a fresh intuitlib AuthClient (a requests.Session: not thread-safe)."""

    def __init__(self, app: QboApp) -> None:
        self.app = app

    def _auth_client(self, **tokens: str | None) -> AuthClient:
        # The constructor GETs the discovery document; only OAuth operations pay for it.
        return AuthClient(self.app.client_id, self.app.client_secret, self.app.redirect_uri,
                          self.app.environment, **tokens)

    def authorization_url(self, state: str) -> str:
        with _oauth_errors():
            return self._auth_client().get_authorization_url([Scopes.ACCOUNTING], state_token=state)

    def exchange_code(self, code: str, realm_id: str) -> QboTokens:
        """The first token pair for `code`; a bad, reused or expired code is AuthorizationRevoked
        (invalid_grant, reference §7). `realm_id` only labels the pair: Intuit never sees it here."""
        with _oauth_errors():
            client = self._auth_client()
            client.get_bearer_token(code, realm_id=realm_id)
        return _tokens_from(client, realm_id)

    def refresh(self, tokens: QboTokens) -> QboTokens:
        with _oauth_errors():
            client = self._auth_client(refresh_token=tokens.refresh_token)
            client.refresh()
        return _tokens_from(client, tokens.realm_id)

    def revoke(self, tokens: QboTokens) -> None:
        """Revoke the grant (the refresh token revokes the access token with it)."""
        with _oauth_errors():
            client = self._auth_client(refresh_token=tokens.refresh_token)
            client.revoke(token=tokens.refresh_token)


@contextmanager
def _oauth_errors() -> Iterator[None]:
    """intuitlib's failures, its constructor's discovery GET included, as our typed errors."""
    try:
        yield
    except AuthClientError as exc:
        if exc.status_code == 400 and b"invalid_grant" in (exc.content or b""):
            raise AuthorizationRevoked("QuickBooks refused the grant (invalid_grant): reconnect needed") from None
        kind = ServiceUnavailable if exc.status_code >= 500 else QuickBooksError
        raise kind(f"QuickBooks OAuth error (HTTP {exc.status_code})", status=exc.status_code) from None
    except requests.RequestException as exc:  # the class only: its text holds the URL
        raise ServiceUnavailable(f"QuickBooks OAuth unreachable ({type(exc).__name__})") from None


def _tokens_from(client: AuthClient, realm_id: str) -> QboTokens:
    now = datetime.now(timezone.utc)
    refresh_ttl = getattr(client, "x_refresh_token_expires_in", None)
    return QboTokens(
        realm_id=realm_id,
        access_token=client.access_token,
        refresh_token=client.refresh_token,
        access_expires_at=now + timedelta(seconds=int(client.expires_in or 3600)),
        refresh_expires_at=now + timedelta(seconds=int(refresh_ttl)) if refresh_ttl else None,
    )


class TokenKeeper:
    """Hands out a usable access token for one realm, refreshing once across all workers."""

    def __init__(self, realm_id: str, store: RealmTokens, oauth: QboOAuth, locks: Locks) -> None:
        self.realm_id, self.store, self.oauth, self.locks = realm_id, store, oauth, locks

    def access_token(self) -> str:
        tokens = self.store.load(self.realm_id)
        if tokens.access_usable(datetime.now(timezone.utc)):
            return tokens.access_token  # type: ignore[return-value]
        return self.refresh(failed_token=tokens.access_token)

    def refresh(self, failed_token: str | None) -> str:
        """Refresh unless another worker already replaced `failed_token`; return the token to use."""
        with self.locks.hold(f"qbo-refresh:{self.realm_id}", timeout=60, wait=90):
            current = self.store.load(self.realm_id)
            if current.access_token != failed_token and current.access_usable(datetime.now(timezone.utc)):
                return current.access_token  # type: ignore[return-value]
            fresh = self.oauth.refresh(current)
            if fresh.refresh_expires_at is None:
                fresh = replace(fresh, refresh_expires_at=current.refresh_expires_at)
            self.store.save(fresh)  # durable before first use: a lost rotated token strands the realm
            log.info("qbo.token.refreshed", extra={"realm_id": self.realm_id})
            return fresh.access_token  # type: ignore[return-value]
