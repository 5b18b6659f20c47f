"""The service objects a request needs, built from the app's runtime (one way to build each)."""
from __future__ import annotations

from flask import current_app

from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_auth import PLANS, AppCredentials
from clients.coordination import locks_for
from clients.quickbooks import QuickBooksClient
from clients.quickbooks_auth import QboApp, QboOAuth, RealmTokens
from clients.quickbooks_limits import QboGate
from clients.quickbooks_transport import PRODUCTION_API, SANDBOX_API
from clients.ratelimit import RateLimiter, make_limiter
from store.crypto import TokenCipher
from store.tokens import SqlPortalTokens, SqlRealmTokens
from webhooks.runtime import runtime


def token_cipher() -> TokenCipher:
    return TokenCipher(runtime().settings.token_encryption_key)


def portal_tokens() -> SqlPortalTokens:
    return SqlPortalTokens(runtime().sessions, token_cipher())


def realm_tokens() -> SqlRealmTokens:
    return SqlRealmTokens(runtime().sessions, token_cipher())


def b24_app() -> AppCredentials:
    settings = runtime().settings
    return AppCredentials(settings.b24_client_id, settings.b24_client_secret)


def _b24_limiter() -> RateLimiter:
    # One bucket per app (process) in embedded mode, the shared Redis one otherwise; the basic
    # plan's bucket is the safe assumption until the portal's plan is known.
    limiter = current_app.extensions.get("qb24_b24_limiter")
    if limiter is None:
        plan = PLANS["basic"].client_side()
        limiter = current_app.extensions["qb24_b24_limiter"] = make_limiter(runtime().redis, plan.rate, plan.burst)
    return limiter


def bitrix24_client(member_id: str, *, quick: bool = False) -> Bitrix24Client:
    """The portal's REST client on its stored tokens; `quick` for a request's path: short timeouts,
    no waiting for the rate limit and no retries (the caller decides what an error means)."""
    if quick:
        return Bitrix24Client(member_id, portal_tokens(), b24_app(), locks_for(runtime().redis), _b24_limiter(),
                              timeout=(2, 5), limit_wait=2.0, retry_budget=0.0)
    return Bitrix24Client(member_id, portal_tokens(), b24_app(), locks_for(runtime().redis), _b24_limiter(),
                          timeout=(5, 30), limit_wait=10.0, retry_budget=20.0)


def qbo_oauth() -> QboOAuth:
    settings = runtime().settings
    return QboOAuth(QboApp(settings.qbo_client_id, settings.qbo_client_secret, settings.qbo_redirect_uri,
                           settings.qbo_environment))


def quickbooks_client(realm_id: str, tokens: RealmTokens | None = None) -> QuickBooksClient:
    """A realm's API client (on the stored tokens unless `tokens` is given)."""
    settings = runtime().settings
    api_base = settings.qbo_api_base or (SANDBOX_API if settings.qbo_environment == "sandbox" else PRODUCTION_API)
    return QuickBooksClient(realm_id, tokens=tokens or realm_tokens(), oauth=qbo_oauth(),
                            locks=locks_for(runtime().redis), api_base=api_base, gate=QboGate(runtime().redis))
