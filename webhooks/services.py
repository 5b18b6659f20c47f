"""The service objects a request needs, from the app's runtime (built once in workers/context.py)."""
from __future__ import annotations

from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_auth import AppCredentials
from clients.quickbooks import QuickBooksClient
from clients.quickbooks_auth import QboOAuth, RealmTokens
from store.crypto import TokenCipher
from store.tokens import SqlPortalTokens, SqlRealmTokens
from webhooks.runtime import runtime


def token_cipher() -> TokenCipher:
    return runtime().token_cipher()


def portal_tokens() -> SqlPortalTokens:
    return runtime().portal_tokens()


def realm_tokens() -> SqlRealmTokens:
    return runtime().realm_tokens()


def b24_app() -> AppCredentials:
    return runtime().b24_app()


def bitrix24_client(member_id: str, *, quick: bool = False) -> Bitrix24Client:
    """The portal's REST client on its stored tokens; `quick` for a request's path (workers/context.py)."""
    return runtime().bitrix24_client(member_id, quick=quick)


def qbo_oauth() -> QboOAuth:
    return runtime().qbo_oauth()


def quickbooks_client(realm_id: str, tokens: RealmTokens | None = None) -> QuickBooksClient:
    """A realm's API client (on the stored tokens unless `tokens` is given)."""
    return runtime().quickbooks_client(realm_id, tokens)
