"""QuickBooks log in / decline / log out / reconnect through the app's endpoints; /metrics; PHP forms."""
from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from urllib.parse import parse_qsl

import requests
from sqlalchemy import func, select

from qb24.demo import connect_quickbooks
from store.db import make_engine, make_session_factory, transaction
from store.models import Link, QboConnection, SyncRun
from tests.webhooks.stack_support import install_app, open_app_page, snapshot
from webhooks.php_form import php_form

FIXTURES = Path(__file__).parent / "fixtures"


def _sessions(stack):
    return make_session_factory(make_engine(stack.settings.database_url))


def _csrf(stack, browser) -> str:
    page = browser.get(stack.url + "/bitrix24/app", timeout=10).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_declining_consent_stores_nothing(stack, browser):
    stack.qbo.control("settings", {"auto_approve": False})
    install_app(stack, browser, stack.b24.default_member_id)
    page = open_app_page(stack, browser, stack.b24.default_member_id)
    consent = browser.post(stack.url + "/quickbooks/connect", data={"t": unescape(re.search(r'id="login-token"[^>]*value="([^"]+)"', page).group(1))}, timeout=10)
    assert "Connect" in consent.text
    form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', consent.text))
    before = {k: v for k, v in snapshot(stack).items() if k != "oauth_states"}
    declined = browser.post(stack.qbo.url + "/connect/oauth2", data={**form, "action": "cancel"}, timeout=10)
    assert declined.status_code == 200 and "You declined" in declined.text
    assert {k: v for k, v in snapshot(stack).items() if k != "oauth_states"} == before
    assert snapshot(stack)["oauth_states"] == []  # the declined consent used its state up


def test_log_out_revokes_keeps_links_and_reconnect_reuses_them(stack, browser):
    member_id = stack.b24.default_member_id
    install_app(stack, browser, member_id)
    done = connect_quickbooks(browser, stack.url, open_app_page(stack, browser, member_id))
    assert "Return to Bitrix24 to finish connecting" in done and "window.opener.postMessage" in done
    with transaction(_sessions(stack)) as session:
        connection = session.scalar(select(QboConnection))
        first_id, portal_id = connection.id, connection.portal_id
        session.add(Link(portal_id=portal_id, qbo_type="Customer", qbo_id="1", b24_type="contact", b24_id="9"))
        session.add(SyncRun(portal_id=portal_id, kind="full", status="pending"))
    response = browser.post(stack.url + "/quickbooks/disconnect", data={"csrf_token": _csrf(stack, browser)},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 303 and response.headers["Location"] == "/bitrix24/app"
    with _sessions(stack)() as session:
        connection = session.scalar(select(QboConnection))
        assert (connection.status, connection.access_token_enc, connection.refresh_token_enc) == (
            "disconnected", None, None)
        assert session.scalars(select(SyncRun.status)).all() == ["cancelled"]
    connect_quickbooks(browser, stack.url, browser.get(stack.url + "/bitrix24/app", timeout=10).text)
    with _sessions(stack)() as session:
        connection = session.scalar(select(QboConnection))
        assert (connection.id, connection.status) == (first_id, "connected")
        assert session.scalar(select(func.count()).select_from(Link)) == 1


def test_metrics_count_requests_events_and_refusals(stack, browser):
    install_app(stack, browser, stack.b24.default_member_id)
    requests.post(stack.url + "/webhooks/bitrix24", data={"event": "ONAPPUNINSTALL", "auth[member_id]": "x"})
    text = requests.get(stack.url + "/metrics", timeout=10).text
    assert 'qb24_http_requests_total{endpoint="/bitrix24/install",status="200"} 1.0' in text
    assert 'qb24_events_total{event="ONAPPINSTALL",outcome="installed",source="b24"} 1.0' in text
    assert 'qb24_events_total{event="ONAPPUNINSTALL",outcome="refused",source="b24"} 1.0' in text
    assert 'qb24_errors_total{kind="event_auth"} 1.0' in text
    assert "# TYPE qb24_tasks_total counter" in text


def test_php_form_reads_the_captured_contact_event():
    body = (FIXTURES / "ONCRMCONTACTADD.form-urlencoded.txt").read_text()
    payload = php_form(parse_qsl(body, keep_blank_values=True))
    assert payload["event"] == "ONCRMCONTACTADD" and payload["data"] == {"FIELDS": {"ID": "134806"}}
    assert payload["auth"]["member_id"] == "010b6886ebc205e43ae65000ee00addb"
    assert payload["auth"]["application_token"] == "3c6c9248ec54af6bea1159b43ee0ab32"


def test_php_form_lists_nesting_and_malformed_names():
    pairs = [("a[]", "1"), ("a[]", "2"), ("b[x][]", "3"), ("c[", "4"), ("d[0][e]", "5"), ("s", "1"), ("s[k]", "2"),
             ("[x]", "6")]
    assert php_form(pairs) == {"a": ["1", "2"], "b": {"x": ["3"]}, "c[": "4", "d": {"0": {"e": "5"}}, "s": "1",
                               "[x]": "6"}
