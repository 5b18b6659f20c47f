"""A person's walk through the portal pages in Chromium: install, widget click, add contact -> event."""
from __future__ import annotations

import json
from typing import Iterator
from urllib.parse import parse_qsl

import pytest
import requests
from flask import Flask, request

from sandbox.server import RunningServer, serve_in_thread
from sandbox_b24.conftest import CLIENT_ID
from tests.support import chromium, wait_for

pytestmark = pytest.mark.browser

INSTALLER = """<!doctype html><html><head><script src="http://{domain}/bx24.js"></script></head><body>
<p id="{marker}">{text}</p><script>BX24.init(function () {{ {action} }});</script></body></html>"""


def make_test_app(recorded: dict) -> Flask:
    """A tiny app: its installer binds a widget and an event, then calls BX24.installFinish()."""
    app = Flask("b24_test_app")

    @app.route("/app", methods=["POST"])
    def app_page() -> str:
        rest = f"http://{request.args['DOMAIN']}/rest/"
        auth = request.form["AUTH_ID"]
        info = requests.post(rest + "app.info.json", json={"auth": auth}, timeout=5).json()["result"]
        if info["INSTALLED"]:
            return INSTALLER.format(domain=request.args["DOMAIN"], marker="main", text="App main page",
                                    action="document.getElementById('main').dataset.ready = '1';")
        base = request.host_url.rstrip("/")
        requests.post(rest + "placement.bind.json", json={"auth": auth, "PLACEMENT": "CRM_CONTACT_DETAIL_TOOLBAR",
                                                          "HANDLER": f"{base}/placement", "TITLE": "QBO sync"}, timeout=5)
        requests.post(rest + "event.bind.json", json={"auth": auth, "event": "ONCRMCONTACTADD",
                                                      "handler": f"{base}/events"}, timeout=5)
        return INSTALLER.format(domain=request.args["DOMAIN"], marker="installer", text="Installing…",
                                action="BX24.installFinish();")

    @app.route("/placement", methods=["POST"])
    def placement() -> str:
        recorded["placement"] = dict(request.form)
        return INSTALLER.format(domain=request.args["DOMAIN"], marker="opts", text="",
                                action="document.getElementById('opts').textContent = "
                                       "JSON.stringify(BX24.placement.info());")

    @app.route("/events", methods=["POST"])
    def events() -> str:
        recorded.setdefault("events", []).append(request.get_data(as_text=True))
        return "ok"

    return app


@pytest.fixture
def test_app() -> Iterator[tuple[RunningServer, dict]]:
    recorded: dict = {}
    server = serve_in_thread(make_test_app(recorded))
    yield server, recorded
    server.stop()


@pytest.fixture
def browser_page():
    with chromium() as context:
        page = context.new_page()
        page.set_default_timeout(10_000)
        yield page


def test_install_widget_and_contact_event(sb, test_app, browser_page) -> None:
    server, recorded = test_app
    portal = requests.post(f"{sb.control_url}/portals", json={}).json()
    page = browser_page
    page.goto(f"{portal['url']}/marketplace/")
    page.fill("input[name=handler_url]", f"{server.url}/app")
    page.fill("input[name=client_id]", CLIENT_ID)
    page.click("button[type=submit]")
    page.wait_for_url(f"{portal['url']}/marketplace/app/{CLIENT_ID}/")
    page.frame_locator("#appframe").locator("#main[data-ready='1']").wait_for()
    assert page.text_content("#install-state") == "installed"
    assert requests.get(f"{sb.control_url}/portals/{portal['member_id']}/installs").json()[CLIENT_ID]["installed"]

    contact_id = requests.post(f"{sb.control_url}/portals/{portal['member_id']}/seed",
                               json={"contacts": [{"NAME": "Card"}]}).json()["contacts"][0]
    page.goto(f"{portal['url']}/crm/contact/details/{contact_id}/")
    page.click("button.placement")
    opts = page.frame_locator("#appframe").locator("#opts:not(:empty)")
    opts.wait_for()
    info = json.loads(opts.text_content())
    # DOCS widgets/crm/detail-toolbar.md: ID a string, URI the card's path with its query, "/" escaped.
    card = f"/crm/contact/details/{contact_id}/"
    assert info == {"placement": "CRM_CONTACT_DETAIL_TOOLBAR", "options": {"ID": str(contact_id), "URI": card}}
    assert recorded["placement"]["PLACEMENT_OPTIONS"] == '{"ID":"%s","URI":"%s"}' % (contact_id,
                                                                                    card.replace("/", "\\/"))

    page.goto(f"{portal['url']}/crm/contact/add/")
    page.fill("input[name=NAME]", "Browser")
    page.fill("input[name=EMAIL]", "browser@example.com")
    page.click("button[type=submit]")
    page.wait_for_url("**/crm/contact/details/*/")
    new_id = page.url.rstrip("/").rsplit("/", 1)[1]
    bodies = wait_for(lambda: [dict(parse_qsl(b)) for b in recorded.get("events", [])
                               if dict(parse_qsl(b)).get("data[FIELDS][ID]") == new_id])
    assert bodies[0]["event"] == "ONCRMCONTACTADD" and bodies[0]["auth[member_id]"] == portal["member_id"]
