"""Typed QuickBooks failures the consent callback tells apart: the caller's (a refused code, a company
that refuses the token) from Intuit's own (5xx, unreachable), which alone may become a 502."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, Response

from clients.coordination import locks_for
from clients.quickbooks import QuickBooksClient
from clients.quickbooks_errors import AuthorizationRevoked, Forbidden, ServiceUnavailable, Unauthorized
from qb24.sandboxes import QboSandbox, start_qbo_sandbox
from sandbox.server import RunningServer, serve_in_thread
from tests.clients.qbo_harness import authorize, oauth_for


class Fixed:
    """RealmTokens holding one pair in memory (no store needed)."""

    def __init__(self, tokens) -> None:
        self.tokens = tokens

    def load(self, realm_id: str):
        return self.tokens

    def save(self, tokens) -> None:
        self.tokens = tokens


@pytest.fixture
def qbo() -> Iterator[QboSandbox]:
    sandbox = start_qbo_sandbox(auto_approve=True)
    yield sandbox
    sandbox.stop()


@pytest.fixture
def down() -> Iterator[RunningServer]:
    """An "Intuit" answering every request 503, as during an outage."""
    app = Flask("intuit-down")
    app.add_url_rule("/<path:anything>", view_func=lambda anything: Response("unavailable", status=503))
    server = serve_in_thread(app)
    yield server
    server.stop()


def test_a_forged_or_reused_code_is_authorization_revoked(qbo):
    """Reference §7: a bad or reused code is 400 invalid_grant at the token endpoint."""
    oauth = oauth_for(qbo.discovery_url)
    code, realm_id = authorize(oauth)
    oauth.exchange_code(code, realm_id)
    for bad in (code, "AB11" + "x" * 46):
        with pytest.raises(AuthorizationRevoked):
            oauth.exchange_code(bad, realm_id)


def test_intuit_5xx_or_unreachable_is_service_unavailable(down):
    """intuitlib raises AuthClientError (its constructor's discovery GET included) or a requests error."""
    for url in (down.url + "/.well-known/openid_configuration", "http://127.0.0.1:9/.well-known/x"):
        with pytest.raises(ServiceUnavailable):
            oauth_for(url).exchange_code("AB11code", "9130000000000000")


@pytest.mark.parametrize("status, error", [(403, Forbidden), (401, Unauthorized)])
def test_a_token_on_another_company_is_refused_not_unavailable(qbo, status, error):
    """Reference §6: the gateway's 403 AuthorizationFailed (3100) body has a lowercase `fault`, which
    python-quickbooks files as a code-10000 SevereException; it must not read as Intuit being down."""
    qbo.control("settings", {"foreign_realm_status": status})
    oauth = oauth_for(qbo.discovery_url)
    code, realm_id = authorize(oauth)
    tokens = oauth.exchange_code(code, realm_id)
    other = qbo.control("realms", {"empty": True})["realm_id"]
    client = QuickBooksClient(other, tokens=Fixed(tokens), oauth=oauth, locks=locks_for(None), api_base=qbo.api_base)
    with pytest.raises(error):
        client.company_info()
