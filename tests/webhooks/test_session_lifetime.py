"""A session cookie is honoured for SESSION_LIFETIME only; Bitrix24 re-posts fresh auth on every open."""
from __future__ import annotations

import time

import pytest

from config.settings import load_settings
from store.db import migrate, transaction
from store.portals import ensure_portal, portal_by_member_id
from tests.config.test_settings import VALID
from webhooks import create_app
from webhooks.session import SESSION_LIFETIME


@pytest.fixture
def app(tmp_path):
    url = f"sqlite:///{tmp_path / 'session.db'}"
    migrate(url)
    app = create_app(load_settings({**VALID, "DATABASE_URL": url}))
    with transaction(app.extensions["qb24"].sessions) as session:
        ensure_portal(session, member_id="m-1", domain="m-1.bitrix24.com",
                      client_endpoint="https://m-1.bitrix24.com/rest/", server_endpoint="https://oauth.bitrix.info/rest/")
    return app


def _install_id(app) -> str:
    with app.extensions["qb24"].sessions() as session:
        return portal_by_member_id(session, "m-1").install_id


def _cookie(app, age_seconds: float, monkeypatch, **content: str) -> str:
    serializer = app.session_interface.get_signing_serializer(app)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - age_seconds)  # itsdangerous stamps with time.time()
    try:
        return serializer.dumps({"member_id": "m-1", "user_id": "1", "csrf": "x", **content})
    finally:
        monkeypatch.setattr(time, "time", real)


@pytest.mark.parametrize("age,status", [(60, 200), (SESSION_LIFETIME.total_seconds() + 60, 401)])
def test_session_cookie_expires(app, monkeypatch, age, status):
    client = app.test_client()
    client.set_cookie("qb24_session", _cookie(app, age, monkeypatch, install=_install_id(app)))
    assert client.get("/bitrix24/app/status").status_code == status


@pytest.mark.parametrize("install", [None, "0" * 32])
def test_a_cookie_naming_no_or_another_install_is_refused(app, monkeypatch, install):
    """A session belongs to the install it was opened for (issue 8 item 4); one from before the
    install id existed names none."""
    client = app.test_client()
    content = {} if install is None else {"install": install}
    client.set_cookie("qb24_session", _cookie(app, 60, monkeypatch, **content))
    response = client.get("/bitrix24/app/status")
    assert response.status_code == 401 and "Open the app again" in response.get_data(as_text=True)
