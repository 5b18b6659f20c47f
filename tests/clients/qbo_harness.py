"""Connect the QuickBooks client to a running sandbox exactly as the service does."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import requests

from sqlalchemy.orm import Session, sessionmaker

from clients.coordination import Locks, locks_for
from clients.quickbooks import Gate, QuickBooksClient, no_gate
from clients.quickbooks_auth import QboApp, QboOAuth
from qb24.sandboxes import QBO_SANDBOX_CLIENT_ID, QBO_SANDBOX_CLIENT_SECRET, QboSandbox
from store.crypto import TokenCipher
from store.db import transaction
from store.portals import connect_realm, ensure_portal
from store.tokens import SqlRealmTokens

REDIRECT_URI = "http://127.0.0.1:8000/quickbooks/callback"


@dataclass
class Connected:
    realm_id: str
    oauth: QboOAuth
    tokens: SqlRealmTokens
    api_base: str

    def client(self, *, locks: Locks | None = None, gate: Gate = no_gate) -> QuickBooksClient:
        return QuickBooksClient(self.realm_id, tokens=self.tokens, oauth=self.oauth,
                                locks=locks or locks_for(None), api_base=self.api_base, gate=gate)


def oauth_for(discovery_url: str) -> QboOAuth:
    return QboOAuth(QboApp(QBO_SANDBOX_CLIENT_ID, QBO_SANDBOX_CLIENT_SECRET, REDIRECT_URI, discovery_url))


def authorize(oauth: QboOAuth) -> tuple[str, str]:
    """Walk the (auto-approved) consent redirect as a browser would; (code, realm_id) after checking state."""
    state = secrets.token_urlsafe(24)
    consent = requests.get(oauth.authorization_url(state), allow_redirects=False, timeout=30)
    assert consent.status_code in (302, 303), consent.status_code
    query = parse_qs(urlsplit(consent.headers["Location"]).query)
    assert query["state"] == [state]
    return query["code"][0], query["realmId"][0]


def connect(sandbox: QboSandbox, sessions: sessionmaker[Session], cipher: TokenCipher,
            member_id: str = "portal-1") -> Connected:
    """Consent (auto-approved), exchange the code, store the encrypted tokens."""
    oauth = oauth_for(sandbox.discovery_url)
    code, realm_id = authorize(oauth)
    tokens = oauth.exchange_code(code, realm_id)
    with transaction(sessions) as session:
        portal = ensure_portal(session, member_id=member_id, domain=f"{member_id}.example",
                               client_endpoint=f"https://{member_id}.example/rest/",
                               server_endpoint="https://oauth.example/rest/")
        connect_realm(session, portal, tokens, cipher)
    return Connected(realm_id, oauth, SqlRealmTokens(sessions, cipher), sandbox.api_base)
