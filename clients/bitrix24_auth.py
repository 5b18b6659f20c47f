"""A portal's OAuth state, where it is kept, and the refresh-token exchange (reference §2)."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Protocol
from urllib.parse import urlsplit

import requests

from clients.bitrix24_errors import Bitrix24Error, InvalidGrant, ServerError, error_class

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PortalAuth:
    """One portal's tokens and endpoints, as the store keeps them."""

    member_id: str
    domain: str
    client_endpoint: str  # https://<portal>/rest/ ; REST calls go here
    server_endpoint: str  # https://oauth.bitrix.info/rest/ ; its origin serves /oauth/token/
    access_token: str
    refresh_token: str
    expires_at: datetime  # timezone-aware

    def __repr__(self) -> str:  # keep tokens out of tracebacks and logs
        return f"PortalAuth(member_id={self.member_id!r}, domain={self.domain!r}, expires_at={self.expires_at!r})"

    def expired(self, now: datetime | None = None) -> bool:
        """True once the access token's lifetime has passed."""
        return (now or datetime.now(timezone.utc)) >= self.expires_at


class PortalTokens(Protocol):
    def load(self, member_id: str) -> PortalAuth:
        """The stored auth of a portal (fresh from the store, not cached)."""

    def save(self, auth: PortalAuth) -> None:
        """Store the auth and commit at once: a rotated refresh token must outlive this process."""


class InMemoryPortalTokens:
    """PortalTokens in a dict, for tests and the demo; counts saves so tests can see refreshes."""

    def __init__(self, *auths: PortalAuth) -> None:
        self._guard = threading.Lock()
        self._auths = {auth.member_id: auth for auth in auths}
        self.saves = 0

    def load(self, member_id: str) -> PortalAuth:
        with self._guard:
            return self._auths[member_id]

    def save(self, auth: PortalAuth) -> None:
        with self._guard:
            self._auths[auth.member_id] = auth
            self.saves += 1


@dataclass(frozen=True)
class AppCredentials:
    """The Market app's client_id / client_secret."""

    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"AppCredentials(client_id={self.client_id!r})"


@dataclass(frozen=True)
class PlanLimits:
    """A plan's leaky bucket as documented: drain `rate` per second, overflow above `burst`."""

    rate: float
    burst: int

    def client_side(self, headroom: int | None = None) -> PlanLimits:
        """The bucket to enforce locally: a tenth smaller, so requests delayed in transit and then
        arriving together cannot tip the portal's bucket."""
        spare = max(2, self.burst // 10) if headroom is None else headroom
        return replace(self, burst=max(1, self.burst - spare))


PLANS: dict[str, PlanLimits] = {"basic": PlanLimits(2.0, 50), "enterprise": PlanLimits(5.0, 250)}


def oauth_token_url(server_endpoint: str) -> str:
    """The portal's own OAuth server (east or west region) serves /oauth/token/ at its origin."""
    parts = urlsplit(server_endpoint)
    return f"{parts.scheme}://{parts.netloc}/oauth/token/"


def refresh_auth(auth: PortalAuth, app: AppCredentials, session: requests.Session,
                 timeout: tuple[float, float]) -> PortalAuth:
    """Exchange the refresh token for a new pair; raise InvalidGrant if the portal must re-authorize."""
    params = {"grant_type": "refresh_token", "client_id": app.client_id,
              "client_secret": app.client_secret, "refresh_token": auth.refresh_token}
    response = session.get(oauth_token_url(auth.server_endpoint), params=params, timeout=timeout,
                           allow_redirects=False)
    try:
        body = response.json()
    except ValueError:
        raise ServerError("ERROR_UNEXPECTED_ANSWER", f"OAuth answered non-JSON ({response.status_code})",
                          response.status_code) from None
    if not isinstance(body, dict) or "error" in body or response.status_code != 200:
        raise _oauth_error(body if isinstance(body, dict) else {}, response.status_code)
    return _rotated(auth, body)


def _oauth_error(body: dict, status: int) -> Bitrix24Error:
    code = str(body.get("error") or "")
    description = str(body.get("error_description") or "")
    if code.lower() == "invalid_grant" or (status == 400 and not code):
        return InvalidGrant(code or "invalid_grant", description, status)
    return error_class(code, description, status)(code, description, status)


def _rotated(auth: PortalAuth, body: dict) -> PortalAuth:
    # The answer's `domain` is the OAuth server's, never the portal's (§2), so it is not copied.
    # `expires` (unix) was only documented in 2026; fall back to expires_in.
    now = datetime.now(timezone.utc)
    if body.get("expires"):
        expires_at = datetime.fromtimestamp(int(body["expires"]), timezone.utc)
    else:
        expires_at = now + timedelta(seconds=int(body.get("expires_in") or 3600))
    if not body.get("access_token") or not body.get("refresh_token"):
        raise ServerError("ERROR_UNEXPECTED_ANSWER", "OAuth answer lacks a token pair", 200)
    client_endpoint = str(body.get("client_endpoint") or auth.client_endpoint)
    domain = urlsplit(client_endpoint).netloc if client_endpoint != auth.client_endpoint else auth.domain
    return replace(auth, access_token=str(body["access_token"]), refresh_token=str(body["refresh_token"]),
                   expires_at=expires_at, client_endpoint=client_endpoint, domain=domain,
                   server_endpoint=str(body.get("server_endpoint") or auth.server_endpoint))
