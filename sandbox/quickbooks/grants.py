"""OAuth 2 state: registered apps, authorization codes, grants and their rotating tokens."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

DEFAULT_CLIENT_ID = "qb24-sandbox-client"
DEFAULT_CLIENT_SECRET = "qb24-sandbox-secret"
CODE_TTL = timedelta(minutes=5)
REFRESH_TTL_SECONDS = 8726400  # 101 days, the value Intuit's token response carries
HARD_EXPIRY = timedelta(days=5 * 365)  # 2025 refresh-token policy: 5-year maximum validity (reference §7)
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
# A live token presented for a company it was not issued for (or one that does not exist).
FOREIGN_REALM = "Token not valid for this company"


class InvalidGrant(Exception):
    """Answered as 400 {"error": "invalid_grant"}."""


@dataclass
class App:
    """A registered OAuth client; no redirect_uris means "any loopback URI" (the default app)."""

    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)

    def accepts_redirect(self, uri: str) -> bool:
        """Whether `uri` is an allowed redirect for this app."""
        if self.redirect_uris:
            return uri in self.redirect_uris
        parts = urlsplit(uri)
        return parts.scheme in ("http", "https") and (parts.hostname or "") in LOOPBACK_HOSTS


@dataclass
class AuthCode:
    """A single-use authorization code."""

    client_id: str
    redirect_uri: str
    realm_id: str
    scope: str
    expires_at: datetime
    used: bool = False


@dataclass
class Grant:
    """One consent of a company to an app; revoking it kills every token issued under it."""

    grant_id: str
    client_id: str
    realm_id: str
    scope: str
    created_at: datetime
    revoked: bool = False


@dataclass
class AccessToken:
    """A bearer token for /v3."""

    grant_id: str
    expires_at: datetime


@dataclass
class RefreshToken:
    """A refresh token; `successor` is the token it rotated into, `presented` whether it was ever used."""

    grant_id: str
    expires_at: datetime
    successor: str | None = None
    presented: bool = False


@dataclass
class TokenSet:
    """What the token endpoint answers."""

    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    hard_expires_in: int
    realm_id: str
    grant_type: str


def new_token(prefix: str) -> str:
    """An opaque token with Intuit-like prefixes (AB0… / RT1…)."""
    return prefix + secrets.token_urlsafe(36)


@dataclass
class GrantStore:
    """All OAuth state; callers hold the sandbox lock."""

    apps: dict[str, App] = field(default_factory=lambda: {
        DEFAULT_CLIENT_ID: App(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)})
    codes: dict[str, AuthCode] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    access: dict[str, AccessToken] = field(default_factory=dict)
    refresh: dict[str, RefreshToken] = field(default_factory=dict)

    def clear_tokens(self) -> None:
        """Forget every code, grant and token (apps stay registered)."""
        self.codes.clear(), self.grants.clear(), self.access.clear(), self.refresh.clear()

    def issue_code(self, app: App, redirect_uri: str, realm_id: str, scope: str, now: datetime) -> str:
        """Create a short-lived single-use authorization code."""
        code = "AB1" + secrets.token_urlsafe(24)
        self.codes[code] = AuthCode(app.client_id, redirect_uri, realm_id, scope, now + CODE_TTL)
        return code

    def redeem_code(self, app: App, code: str, redirect_uri: str, now: datetime,
                    access_ttl: int) -> TokenSet:
        """Exchange a code for the first token pair of a new grant."""
        found = self.codes.get(code)
        if (found is None or found.used or found.client_id != app.client_id or found.expires_at <= now
                or found.redirect_uri != redirect_uri):
            raise InvalidGrant()
        found.used = True
        grant = Grant(secrets.token_hex(8), app.client_id, found.realm_id, found.scope, now)
        self.grants[grant.grant_id] = grant
        refresh_token = new_token("RT1")
        self.refresh[refresh_token] = RefreshToken(grant.grant_id,
                                                   now + timedelta(seconds=REFRESH_TTL_SECONDS))
        return self._token_set(grant, refresh_token, now, access_ttl, "authorization_code")

    def rotate(self, app: App, refresh_token: str, now: datetime, access_ttl: int) -> TokenSet:
        """Refresh: a new access token and the rotated refresh token."""
        found = self.refresh.get(refresh_token)
        grant = self.grants.get(found.grant_id) if found else None
        if (found is None or grant is None or grant.revoked or grant.client_id != app.client_id
                or found.expires_at <= now):
            raise InvalidGrant()
        if found.successor is not None:
            # Intuit's rotation overlap: a superseded refresh token keeps working (answering with the same
            # successor) until the successor itself has been presented; after that it is invalid_grant.
            if self.refresh[found.successor].presented:
                raise InvalidGrant()
            successor = found.successor
        else:
            successor = new_token("RT1")
            self.refresh[successor] = RefreshToken(grant.grant_id,
                                                   now + timedelta(seconds=REFRESH_TTL_SECONDS))
            found.successor = successor
        found.presented = True
        # The refresh-token lifetime is rolling: every use extends it (reference §7, FAQ).
        self.refresh[successor].expires_at = now + timedelta(seconds=REFRESH_TTL_SECONDS)
        return self._token_set(grant, successor, now, access_ttl, "refresh_token")

    def _token_set(self, grant: Grant, refresh_token: str, now: datetime, access_ttl: int,
                   grant_type: str) -> TokenSet:
        """Mint an access token and describe the pair."""
        access_token = new_token("AB0")
        self.access[access_token] = AccessToken(grant.grant_id, now + timedelta(seconds=access_ttl))
        refresh_left = int((self.refresh[refresh_token].expires_at - now).total_seconds())
        hard_left = int((grant.created_at + HARD_EXPIRY - now).total_seconds())
        return TokenSet(access_token, refresh_token, access_ttl, refresh_left, hard_left, grant.realm_id,
                        grant_type)

    def revoke(self, app: App, token: str) -> bool:
        """Revoke the whole grant behind an access or refresh token; False if the token is unknown."""
        holder = self.access.get(token) or self.refresh.get(token)
        grant = self.grants.get(holder.grant_id) if holder else None
        if grant is None or grant.client_id != app.client_id:
            return False
        grant.revoked = True
        return True

    def check_access(self, token: str, realm_id: str, now: datetime) -> str | None:
        """None if the bearer token may call this realm, else the reason for the 401."""
        found = self.access.get(token)
        grant = self.grants.get(found.grant_id) if found else None
        if found is None or grant is None:
            return "Token invalid"
        if grant.revoked:
            return "Token revoked"
        if found.expires_at <= now:
            return "Token expired"
        if grant.realm_id != realm_id:
            return FOREIGN_REALM
        return None

    def client_of(self, token: str) -> str | None:
        """The client_id of the app an access token was issued to, or None."""
        found = self.access.get(token)
        grant = self.grants.get(found.grant_id) if found else None
        return grant.client_id if grant else None

    def expire_access(self, now: datetime, realm_id: str | None = None) -> int:
        """Expire current access tokens (optionally one realm's); returns how many."""
        count = 0
        for token in self.access.values():
            grant = self.grants.get(token.grant_id)
            if token.expires_at > now and (realm_id is None or (grant and grant.realm_id == realm_id)):
                token.expires_at = now
                count += 1
        return count

    def describe(self, client_id: str | None = None, realm_id: str | None = None) -> list[dict[str, object]]:
        """The grants (no token values), oldest first, optionally one app's or one company's."""
        return [{"grant_id": g.grant_id, "client_id": g.client_id, "realm_id": g.realm_id, "scope": g.scope,
                 "created_at": g.created_at.isoformat(), "revoked": g.revoked}
                for g in self.grants.values()
                if (client_id is None or g.client_id == client_id) and (realm_id is None or g.realm_id == realm_id)]

    def connected(self, client_id: str, realm_id: str) -> bool:
        """Whether the realm went through OAuth with this app and has not revoked it."""
        return any(g.client_id == client_id and g.realm_id == realm_id and not g.revoked
                   for g in self.grants.values())
