"""Issue 8 item 8 at the HTTP edge: `nosniff` on every answer, routing redirects that never take
their Location from the Host header, and an access log without the OAuth code and state."""
from __future__ import annotations

import http.client
import logging
import re
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import requests

from qb24.demo import connect_quickbooks
from tests.webhooks.stack_support import install_app, open_app_page


def _answers(stack, browser) -> dict[str, requests.Response]:
    """One answer of every kind the app gives: page, JSON, error page, static file, redirects."""
    member_id = stack.b24.default_member_id
    install_app(stack, browser, member_id)
    page = open_app_page(stack, browser, member_id)
    csrf = unescape(re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1))
    link = unescape(re.search(r'id="login-token"[^>]*value="([^"]+)"', page).group(1))
    url, get, post = stack.url, browser.get, browser.post
    return {
        "page": get(url + "/bitrix24/app", timeout=10),
        "json": get(url + "/bitrix24/app/status", timeout=10),
        "health": get(url + "/healthz", timeout=10),
        "metrics": get(url + "/metrics", timeout=10),
        "static": get(url + "/app-static/app.js", timeout=10),
        "flask_static": get(url + "/static/app.css", timeout=10),
        "not_found": get(url + "/no-such-page", timeout=10),
        "method": get(url + "/webhooks/bitrix24", timeout=10),
        "refused_json": post(url + "/webhooks/bitrix24", data={"event": "ONAPPUNINSTALL"}, timeout=10),
        "refused_page": requests.get(url + "/bitrix24/app", timeout=10),
        "bad_input": post(url + "/webhooks/bitrix24", data={"auth[member_id]": "\x00"}, timeout=10),
        "too_large": post(url + "/webhooks/bitrix24", data={"x": "y" * 2_000_000}, timeout=30),
        "see_other": post(url + "/quickbooks/disconnect", data={"csrf_token": csrf}, allow_redirects=False, timeout=10),
        "to_consent": post(url + "/quickbooks/connect", data={"t": link}, allow_redirects=False, timeout=10),
        "merged_slashes": get(url + "//bitrix24//app", allow_redirects=False, timeout=10),
    }


def test_every_answer_says_nosniff(stack, browser):
    """OWASP Secure Headers: X-Content-Type-Options: nosniff stops a browser from running an
    answer as another type than it declares (Fetch standard §"X-Content-Type-Options")."""
    answers = _answers(stack, browser)
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses["see_other"] == 303 and statuses["to_consent"] == 302 and statuses["merged_slashes"] == 308
    assert statuses["too_large"] == 413 and statuses["method"] == 405 and statuses["bad_input"] == 400
    missing = {name: statuses[name] for name, response in answers.items()
               if response.headers.get("X-Content-Type-Options") != "nosniff"}
    assert not missing, missing


def _raw_get(url: str, path: str, host: str) -> http.client.HTTPResponse:
    """A GET with exactly this path and Host header (requests would normalise them)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.putrequest("GET", path, skip_host=True)
    connection.putheader("Host", host)
    connection.endheaders()
    return connection.getresponse()


def test_a_slash_merging_redirect_does_not_send_the_browser_to_the_host_header(stack):
    """Werkzeug (3.1 routing/map.py make_redirect_url) builds the redirect's Location from the
    request's Host header; a request for `//bitrix24//app/status` with `Host: evil.example` was sent
    to http://evil.example/bitrix24/app/status. The Location is now a path on this app."""
    for path, expected in (("//bitrix24//app/status", "/bitrix24/app/status"),
                           ("/bitrix24//app/progress?x=1", "/bitrix24/app/progress?x=1"),
                           ("//app-static//app.js", "/app-static/app.js")):
        response = _raw_get(stack.url, path, "evil.example")
        location = response.getheader("Location")
        assert response.status == 308, (path, response.status)
        assert location == expected, (path, location)
        assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert requests.get(stack.url + "//bitrix24//app/status", timeout=10).status_code == 401  # followed: here


def test_the_oauth_code_and_state_never_reach_the_access_log(stack, browser, caplog):
    """The callback's query carries the authorization code and the state (reference
    quickbooks-online.md §7); werkzeug's access log printed the whole request line. It now logs the
    path without its query, for the app's own server (tests, demo, `qb24 web`)."""
    member_id = stack.b24.default_member_id
    sent: list[str] = []
    browser.hooks["response"].append(lambda r, *a, **k: sent.append(r.url))
    # `qb24 demo` (run in-process by tests/test_demo.py) floors werkzeug at WARNING for good
    with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger="werkzeug"):
        install_app(stack, browser, member_id)
        connect_quickbooks(browser, stack.url, open_app_page(stack, browser, member_id))
        browser.get(stack.url + "/quickbooks/callback", params={"code": "ForgedCode123", "state": "ForgedState456"},
                    timeout=10)
    callbacks = [urlsplit(url) for url in sent if urlsplit(url).path == "/quickbooks/callback"]
    # realmId is no secret (it is in every API path the sandbox logs); code and state are.
    secrets = {value for parts in callbacks for key, value in parse_qsl(parts.query) if key in ("code", "state")}
    assert "ForgedCode123" in secrets and len(secrets) == 4  # the genuine code and state too
    access = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("/quickbooks/callback" in line for line in access)  # the path is still logged
    leaked = [line for line in access for secret in secrets if secret in line]
    assert not leaked, leaked
