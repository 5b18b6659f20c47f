"""/metrics is for the operator's Prometheus: through the reverse proxy only with METRICS_TOKEN, else the
404 of any unknown path. And an unexpected error is logged once, with its traceback."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging

import pytest

from config.settings import load_settings
from tests.config.test_settings import VALID
from webhooks import create_app

TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def client(tmp_path):
    app = create_app(load_settings({**VALID, "DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}", "METRICS_TOKEN": TOKEN}))
    yield app.test_client()
    app.extensions["qb24"].close()


@pytest.mark.parametrize("headers, status", [
    ({}, 200),  # from this host or the private network, not through the proxy: Prometheus next to the app
    ({"Authorization": "Bearer wrong"}, 200),  # still not through the proxy
    ({"X-Forwarded-For": "203.0.113.7"}, 404),
    ({"Forwarded": "for=203.0.113.7;proto=https"}, 404),
    ({"X-Real-IP": "203.0.113.7"}, 404),
    ({"X-Forwarded-For": "203.0.113.7", "Authorization": f"Bearer {TOKEN}"}, 200),
    ({"X-Forwarded-For": "203.0.113.7", "Authorization": f"bearer   {TOKEN}"}, 200),  # RFC 6750 §2.1, 9110 §11.1
    ({"X-Forwarded-For": "203.0.113.7", "Authorization": f"Bearer {TOKEN}x"}, 404),
    ({"X-Forwarded-For": "203.0.113.7", "Authorization": TOKEN}, 404),
    ({"X-Forwarded-For": "203.0.113.7", "Authorization": f"Basic {TOKEN}"}, 404),
    ({"X-Forwarded-For": "203.0.113.7", "Authorization": "Bearer \u00e9t\u00e9"}, 404),  # non-ASCII: refused, no 500
])
def test_metrics_through_the_proxy_needs_the_token(client, headers, status):
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == status
    if status == 404:  # the same page as any unknown path: nothing says /metrics is there
        assert answer.get_data() == client.get("/no-such-page").get_data()
    else:
        assert b"qb24_http_requests_total" in answer.get_data()


def test_without_a_token_set_the_proxy_gets_404_whatever_it_sends(tmp_path):
    app = create_app(load_settings({**VALID, "DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}))
    answer = app.test_client().get("/metrics", headers={"X-Forwarded-For": "203.0.113.7", "Authorization": "Bearer "})
    assert answer.status_code == 404
    app.extensions["qb24"].close()


def test_an_unexpected_error_is_logged_once_with_its_traceback(client, caplog):
    # A database without its tables (never migrated): the webhook's portal lookup fails unexpectedly.
    change = {"name": "Invoice", "id": "130", "operation": "Create", "lastUpdated": "2026-01-05T14:42:19-0700"}
    body = json.dumps({"eventNotifications": [{"realmId": "9130347596326316",
                                               "dataChangeEvent": {"entities": [change]}}]}).encode()
    signature = base64.b64encode(hmac.new(VALID["QBO_VERIFIER_TOKEN"].encode(), body, hashlib.sha256).digest())
    with caplog.at_level(logging.INFO):
        answer = client.post("/webhooks/quickbooks?token=secret-in-query", data=body,
                             headers={"intuit-signature": signature.decode(), "Content-Type": "application/json"})
    assert answer.status_code == 500
    reported = [record for record in caplog.records if record.exc_info]
    assert [(r.name, r.getMessage(), r.path, r.error) for r in reported] == [
        ("qb24.web.errors", "web.unexpected", "/webhooks/quickbooks", "OperationalError")]
    assert "no such table" in caplog.text and "in notification" in caplog.text  # the traceback, to the route
