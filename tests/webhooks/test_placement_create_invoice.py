"""Create QuickBooks invoice on a card: the toolbar POST the sandbox portal's card page submits, to the
app served over HTTP, against both sandboxes (reference bitrix24.md §4 for the POST's shape)."""
from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from html import unescape
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from clients import quickbooks_limits as gate_limits
from config import gunicorn as gunicorn_config
from qb24.demo import b24_control, install_app, walk_admin_flow
from store.db import make_engine, make_session_factory
from store.models import DealRequest, QboConnection, ReceivedEvent
from tests.support import wait_for
from tests.webhooks.stack_support import installs, snapshot
from webhooks.bitrix24 import PLACEMENT_TITLE

TOOLBAR_FORM = re.compile(r'<form id="placement-[^"]+" method="post" action="([^"]+)" target="appframe">(.*?)</form>', re.S)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
CUSTOMER_NAME = re.compile(r'<b id="customer-name">([^<]*)</b>')
INVOICE_LINK = re.compile(r'<a class="button primary" id="open-invoice" href="([^"]+)" target="_blank" rel="noopener">')


def toolbar_post(stack, kind: str, record_id: int, user_id: int = 1) -> tuple[str, dict]:
    """The Create Invoice form on the portal's card page, as `user_id` sees it: its action and fields."""
    page = requests.get(f"{stack.b24.default_portal.url}/crm/{kind}/details/{record_id}/?user_id={user_id}", timeout=10)
    page.raise_for_status()
    forms = TOOLBAR_FORM.findall(page.text)
    assert len(forms) == 1, f"{kind} card shows {len(forms)} toolbar items"
    action, inputs = forms[0]
    return unescape(action), {unescape(k): unescape(v) for k, v in HIDDEN.findall(inputs)}


def click(stack, browser: requests.Session, kind: str, record_id: int, user_id: int = 1, **changes: str):
    action, form = toolbar_post(stack, kind, record_id, user_id)
    return browser.post(action, data={**form, **changes}, timeout=60)


def seed(stack, **records: list[dict]) -> dict[str, list[int]]:
    """Create CRM records; their add events (ONCRMCONTACTADD, ...) have been answered on return and, where
    the stack runs the app's embedded worker, worked by its export task too (which marks them handled a
    moment after the answer), so a snapshot taken next is not changed by them later."""
    created = b24_control(stack, f"portals/{stack.b24.default_member_id}/seed", records)
    wait_for(lambda: all(e["status"] is not None or e["error"] or e["dropped"] for e in b24_control(
        stack, f"events?member_id={stack.b24.default_member_id}", method="GET")), "add events answered")
    if stack.app.extensions["qb24"].celery.embedded is not None:  # a Redis stack here runs no worker
        wait_for(lambda: not unhandled_adds(stack), "add events worked by the export task")
    return created


def unhandled_adds(stack) -> list[int]:
    engine = make_engine(stack.settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            return list(session.scalars(select(ReceivedEvent.id).where(
                ReceivedEvent.source == "b24", ReceivedEvent.handled_at.is_(None))))
    finally:
        engine.dispose()


def realm_id(stack) -> str:
    engine = make_engine(stack.settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            return session.scalar(select(QboConnection.realm_id))
    finally:
        engine.dispose()


def all_customers(stack) -> list[dict]:
    return stack.qbo.control(f"realms/{realm_id(stack)}/entities/Customer", method="GET")["Customer"]


def qbo_customers(stack) -> list[dict]:
    """The customers created since the company was connected (it comes with the sample's)."""
    return [c for c in all_customers(stack) if c["Id"] not in stack.sample_customers]


def deal_requests(stack) -> list[DealRequest]:
    engine = make_engine(stack.settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            return list(session.scalars(select(DealRequest)))
    finally:
        engine.dispose()


def ready(stack, response) -> tuple[str, str]:
    """(customer name, invoice link) of a ready page; the customer id is the link's nameId."""
    html = response.text
    assert response.status_code == 200, html[:500]
    name, link = CUSTOMER_NAME.search(html), INVOICE_LINK.search(html)
    assert name and link, html[:800]
    return unescape(name.group(1)), unescape(link.group(1))


def customer_id_of(stack, link: str) -> str:
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == stack.settings.qbo_web_base.rstrip("/")
    assert parts.path == "/app/invoice" and parts.query.startswith("nameId=")
    return parts.query.removeprefix("nameId=")


def connect(stack, browser):
    """Install through the portal, open the app, log in with QuickBooks; note the sample's customers."""
    walk_admin_flow(stack, browser)
    stack.sample_customers = {c["Id"] for c in all_customers(stack)}
    return stack


@pytest.fixture
def connected(stack, browser):
    return connect(stack, browser)


def test_install_binds_the_four_card_toolbars(stack, browser):
    install_app(stack, browser, stack.b24.default_member_id)
    view = installs(stack)[stack.settings.b24_client_id]
    assert sorted((p["placement"], p["handler"], p["title"]) for p in view["placements"]) == sorted(
        (f"CRM_{kind}_DETAIL_TOOLBAR", stack.url + "/placements/create-invoice", PLACEMENT_TITLE)
        for kind in ("CONTACT", "COMPANY", "LEAD", "DEAL"))


def test_contact_card_creates_the_customer_and_links_to_its_new_invoice_screen(connected, browser):
    stack = connected
    contact = seed(stack, contacts=[{"NAME": "Ada", "LAST_NAME": "<Lovelace>",
                                     "EMAIL": [{"VALUE": "ada@example.com", "VALUE_TYPE": "WORK"}]}])["contacts"][0]
    response = click(stack, browser, "contact", contact)
    name, link = ready(stack, response)
    assert "<Lovelace>" not in response.text and "&lt;Lovelace&gt;" in response.text  # escaped
    customers = qbo_customers(stack)
    assert [(c["Id"], c["DisplayName"]) for c in customers] == [(customer_id_of(stack, link), name)]
    assert "Lovelace" in name and customers[0]["PrimaryEmailAddr"]["Address"] == "ada@example.com"
    csp = response.headers["Content-Security-Policy"]
    assert f"frame-ancestors {stack.b24.default_portal.url}" in csp and "X-Frame-Options" not in response.headers
    # A second click finds the linked customer: nothing new in QuickBooks, the same page.
    assert ready(stack, click(stack, browser, "contact", contact)) == (name, link)
    assert len(qbo_customers(stack)) == 1 and deal_requests(stack) == []


def test_company_card(connected, browser):
    stack = connected
    company = seed(stack, companies=[{"TITLE": "Analytical Engines Ltd"}])["companies"][0]
    name, link = ready(stack, click(stack, browser, "company", company))
    assert name == "Analytical Engines Ltd"
    assert [c["Id"] for c in qbo_customers(stack)] == [customer_id_of(stack, link)]


def test_lead_card_makes_a_customer_from_the_lead(connected, browser):
    stack = connected
    lead = seed(stack, leads=[{"TITLE": "Website enquiry", "NAME": "Grace", "LAST_NAME": "Hopper",
                               "COMPANY_TITLE": "Navy Labs",
                               "PHONE": [{"VALUE": "+1 555 0100", "VALUE_TYPE": "WORK"}]}])["leads"][0]
    name, link = ready(stack, click(stack, browser, "lead", lead))
    [customer] = qbo_customers(stack)
    assert customer["Id"] == customer_id_of(stack, link) and customer["DisplayName"] == name
    assert ready(stack, click(stack, browser, "lead", lead)) == (name, link)  # remembered (customer_refs)
    assert len(qbo_customers(stack)) == 1


def test_lead_linked_to_a_contact_invoices_the_contact(connected, browser):
    stack = connected
    contact = seed(stack, contacts=[{"NAME": "Alan", "LAST_NAME": "Turing"}])["contacts"][0]
    lead = seed(stack, leads=[{"TITLE": "Repeat order", "CONTACT_ID": str(contact)}])["leads"][0]
    by_lead = ready(stack, click(stack, browser, "lead", lead))
    assert by_lead == ready(stack, click(stack, browser, "contact", contact))
    assert len(qbo_customers(stack)) == 1 and "Turing" in by_lead[0]


def test_deal_with_a_company_invoices_the_company_and_is_remembered(connected, browser):
    stack = connected
    company = seed(stack, companies=[{"TITLE": "Difference Engines"}])["companies"][0]
    contact = seed(stack, contacts=[{"NAME": "Charles", "LAST_NAME": "Babbage"}])["contacts"][0]
    deal = seed(stack, deals=[{"TITLE": "Engine No. 2", "COMPANY_ID": str(company),
                               "CONTACT_ID": str(contact)}])["deals"][0]
    response = click(stack, browser, "deal", deal)
    name, link = ready(stack, response)
    assert name == "Difference Engines"
    assert 'id="deal-notice"' in response.text and "within 24 hours" in response.text
    [request] = deal_requests(stack)
    assert (request.deal_id, request.qbo_customer_id, request.user_id) == (str(deal), customer_id_of(stack, link), "1")
    assert round((request.expires_at - request.requested_at).total_seconds() / 3600) == 24


def test_deal_with_only_a_contact_invoices_the_contact(connected, browser):
    stack = connected
    contact = seed(stack, contacts=[{"NAME": "Mary", "LAST_NAME": "Somerville"}])["contacts"][0]
    deal = seed(stack, deals=[{"TITLE": "Lectures", "CONTACT_ID": str(contact)}])["deals"][0]
    name, link = ready(stack, click(stack, browser, "deal", deal))
    assert "Somerville" in name
    assert [r.deal_id for r in deal_requests(stack)] == [str(deal)]
    assert ready(stack, click(stack, browser, "contact", contact)) == (name, link)


def test_deal_without_company_or_contact_says_what_to_do(connected, browser):
    stack = connected
    deal = seed(stack, deals=[{"TITLE": "Nobody yet"}])["deals"][0]
    response = click(stack, browser, "deal", deal)
    assert response.status_code == 200 and 'id="no-party"' in response.text
    assert "Add a company or a contact to the deal" in response.text
    assert qbo_customers(stack) == [] and deal_requests(stack) == []


def test_portal_not_connected_to_quickbooks_gets_a_page_saying_how(stack, browser):
    install_app(stack, browser, stack.b24.default_member_id)
    contact = seed(stack, contacts=[{"NAME": "Not", "LAST_NAME": "Yet"}])["contacts"][0]
    before = snapshot(stack)
    response = click(stack, browser, "contact", contact)
    assert response.status_code == 200 and 'id="not-connected"' in response.text
    assert "Connect QuickBooks first" in response.text and "Log in with QuickBooks" in response.text
    assert f"frame-ancestors {stack.b24.default_portal.url}" in response.headers["Content-Security-Policy"]
    assert snapshot(stack) == before


def test_quickbooks_unavailable_is_a_clear_page_and_nothing_is_linked(connected, browser):
    stack = connected
    contact = seed(stack, contacts=[{"NAME": "Down", "LAST_NAME": "Time"}])["contacts"][0]
    stack.qbo.control("settings", {"error_rate": 1.0, "error_statuses": [503]})
    try:
        response = click(stack, browser, "contact", contact)
    finally:
        stack.qbo.control("settings", {"error_rate": 0.0})
    assert response.status_code == 503 and "QuickBooks is busy or unavailable" in response.text
    assert "Traceback" not in response.text
    assert f"frame-ancestors {stack.b24.default_portal.url}" in response.headers["Content-Security-Policy"]
    assert qbo_customers(stack) == [] and snapshot(stack)["customer_refs"] == []
    ready(stack, click(stack, browser, "contact", contact))  # and once QuickBooks is back, it works


def test_user_who_may_not_read_the_record_is_told_so(connected, browser):
    """The record is read with the clicking user's token, so Bitrix24's CRM permissions decide. The clerk
    opened the card while allowed, then was limited to records assigned to them (the sandbox's model of
    CRM roles, sandbox/bitrix24/permissions.py): the click is genuine, the read is refused."""
    stack = connected
    member_id = stack.b24.default_member_id
    clerk = b24_control(stack, f"portals/{member_id}/users", {"admin": False, "name": "Clerk"})["id"]
    others, own = seed(stack, contacts=[{"NAME": "Private", "LAST_NAME": "Person"},
                                        {"NAME": "Clerks", "LAST_NAME": "Client", "ASSIGNED_BY_ID": str(clerk)}])["contacts"]
    action, form = toolbar_post(stack, "contact", others, user_id=clerk)
    b24_control(stack, f"portals/{member_id}/users/{clerk}", {"crm_read": "own"})
    before = snapshot(stack)
    response = browser.post(action, data=form, timeout=60)
    assert response.status_code == 200 and 'id="no-access"' in response.text
    assert "You do not have access to this record" in response.text and "Person" not in response.text
    assert f"frame-ancestors {stack.b24.default_portal.url}" in response.headers["Content-Security-Policy"]
    assert qbo_customers(stack) == [] and snapshot(stack) == before
    name, _ = ready(stack, click(stack, browser, "contact", own, user_id=clerk))  # their own record: allowed
    assert "Client" in name and len(qbo_customers(stack)) == 1


def test_deal_whose_company_the_user_may_not_read_is_refused(connected, browser):
    stack = connected
    member_id = stack.b24.default_member_id
    seller = b24_control(stack, f"portals/{member_id}/users",
                         {"admin": False, "name": "Seller", "crm_read": {"company": "none"}})["id"]
    company = seed(stack, companies=[{"TITLE": "Hidden Holdings"}])["companies"][0]
    deal = seed(stack, deals=[{"TITLE": "Visible deal", "COMPANY_ID": str(company)}])["deals"][0]
    response = click(stack, browser, "deal", deal, user_id=seller)
    assert response.status_code == 200 and 'id="no-access"' in response.text
    assert "Hidden Holdings" not in response.text
    assert qbo_customers(stack) == [] and deal_requests(stack) == []


@pytest.mark.parametrize("changes,status", [
    ({"AUTH_ID": "forged-token"}, 401),
    ({"member_id": ""}, 400),
    ({"PLACEMENT_OPTIONS": "{not json"}, 400),
    ({"PLACEMENT_OPTIONS": '{"ID":"12abc"}'}, 400),
    ({"PLACEMENT_OPTIONS": '{"URI":"\\/crm\\/contact\\/details\\/1\\/"}'}, 400),
    ({"PLACEMENT_OPTIONS": '{"ID":"-3"}'}, 400),
    ({"PLACEMENT": "CRM_QUOTE_DETAIL_TOOLBAR"}, 400),
    ({"PLACEMENT": "DEFAULT"}, 400),
])
def test_forged_or_malformed_clicks_are_refused_and_create_nothing(connected, browser, changes, status):
    stack = connected
    contact = seed(stack, contacts=[{"NAME": "Target", "LAST_NAME": "Record"}])["contacts"][0]
    before = snapshot(stack)
    response = click(stack, browser, "contact", contact, **changes)
    assert response.status_code == status, response.text[:300]
    assert "Traceback" not in response.text and 'id="create-invoice"' not in response.text
    assert qbo_customers(stack) == [] and snapshot(stack) == before


def test_entity_id_key_is_read_as_well(connected, browser):
    """Reference §4: some pages document ENTITY_ID instead of ID; both are handled."""
    stack = connected
    company = seed(stack, companies=[{"TITLE": "Entity Keyed"}])["companies"][0]
    response = click(stack, browser, "company", company, PLACEMENT_OPTIONS=json.dumps({"ENTITY_ID": str(company)}))
    assert ready(stack, response)[0] == "Entity Keyed"


def test_ten_concurrent_clicks_create_one_customer(dual_stack, browser):
    stack = connect(dual_stack, browser)
    contact = seed(stack, contacts=[{"NAME": "Many", "LAST_NAME": "Clicks"}])["contacts"][0]
    posts = [toolbar_post(stack, "contact", contact) for _ in range(10)]  # ten opened cards, ten tokens

    def post(args: tuple[str, dict]) -> requests.Response:
        with requests.Session() as session:
            return session.post(args[0], data=args[1], timeout=60)

    with ThreadPoolExecutor(max_workers=10) as pool:
        pages = [ready(stack, response) for response in pool.map(post, posts)]
    customers = qbo_customers(stack)
    assert len(customers) == 1 and len(set(pages)) == 1
    assert customer_id_of(stack, pages[0][1]) == customers[0]["Id"]


# The production server kills a request that runs longer than this (config/gunicorn.py): the proxy then
# answers 502 and a lock the request held stays taken until it expires. A click must answer well before.
ANSWER_WITHIN_S = gunicorn_config.timeout - 5


def timed_click(stack, browser: requests.Session, kind: str,
                record_id: int) -> tuple[requests.Response, float]:
    action, form = toolbar_post(stack, kind, record_id)
    started = time.monotonic()
    response = browser.post(action, data=form, timeout=gunicorn_config.timeout + 90)
    return response, time.monotonic() - started


def test_slow_quickbooks_gets_a_page_before_the_server_kills_the_request(connected, browser):
    """QuickBooks may take up to 120 s to answer (reference quickbooks §6); the click may not wait that long.
    The create that timed out still lands in QuickBooks; the next click replays it by its requestid."""
    stack = connected
    contact = seed(stack, contacts=[{"NAME": "Slow", "LAST_NAME": "Answer"}])["contacts"][0]
    stack.qbo.control("settings", {"latency_ms": (gunicorn_config.timeout + 5) * 1000})
    try:
        response, elapsed = timed_click(stack, browser, "contact", contact)
    finally:
        stack.qbo.control("settings", {"latency_ms": 0})
    assert elapsed < ANSWER_WITHIN_S, f"answered after {elapsed:.1f} s"
    assert response.status_code == 503 and "QuickBooks is busy or unavailable" in response.text
    wait_for(lambda: len(qbo_customers(stack)) == 1, "the slow create lands",
             timeout=gunicorn_config.timeout + 30)
    name, link = ready(stack, click(stack, browser, "contact", contact))
    assert [c["Id"] for c in qbo_customers(stack)] == [customer_id_of(stack, link)]


def test_click_while_the_record_is_exported_gets_a_page_before_the_server_is_killed(connected, browser):
    """The add-event worker (or another click) holds the record's export lock (workers/customer_export.py)."""
    stack = connected
    contact = seed(stack, contacts=[{"NAME": "Busy", "LAST_NAME": "Lock"}])["contacts"][0]
    services = stack.app.extensions["qb24"]
    with services.sessions() as session:
        portal_id = session.scalar(select(QboConnection.portal_id))
    with services.locks.hold(f"b24-export:{portal_id}:contact:{contact}", timeout=300, wait=1):
        response, elapsed = timed_click(stack, browser, "contact", contact)
    assert elapsed < ANSWER_WITHIN_S, f"answered after {elapsed:.1f} s"
    assert response.status_code == 503 and "Another click is still creating this customer" in response.text
    assert qbo_customers(stack) == []
    ready(stack, click(stack, browser, "contact", contact))



def test_click_while_the_realm_is_at_its_concurrency_limit_gets_a_clear_page(connected, browser):
    """Ten requests of the realm already in flight (a full sync, say: clients/quickbooks_limits.py, Intuit's
    10 concurrent requests, reference quickbooks §6): the click waits briefly, then says to try again."""
    stack = connected
    contact = seed(stack, contacts=[{"NAME": "Busy", "LAST_NAME": "Realm"}])["contacts"][0]
    gate = stack.app.extensions["qb24"].qbo_gate
    with ExitStack() as in_flight:
        for _ in range(gate_limits.CONCURRENT):
            in_flight.enter_context(gate.concurrency.slot(f"qbo:{realm_id(stack)}", 1.0))
        response, elapsed = timed_click(stack, browser, "contact", contact)
    assert elapsed < ANSWER_WITHIN_S, f"answered after {elapsed:.1f} s"
    assert response.status_code == 503, response.text[:400]
    assert "QuickBooks is busy or unavailable" in response.text
    assert qbo_customers(stack) == []
    ready(stack, click(stack, browser, "contact", contact))


def test_customer_inactive_in_quickbooks_is_not_offered_for_an_invoice(connected, browser):
    """Customers are not deleted in QuickBooks, only made inactive (reference quickbooks §4); QuickBooks
    does not invoice an inactive customer, so the page says how to make it active, and no deal waits for
    it."""
    stack = connected
    contact = seed(stack, contacts=[{"NAME": "Gone", "LAST_NAME": "Quiet"}])["contacts"][0]
    deal = seed(stack, deals=[{"TITLE": "Old client", "CONTACT_ID": str(contact)}])["deals"][0]
    _, link = ready(stack, click(stack, browser, "contact", contact))
    qbo = stack.app.extensions["qb24"].quickbooks_client(realm_id(stack))
    qbo.deactivate_customer(qbo.get("Customer", customer_id_of(stack, link)))
    response = click(stack, browser, "deal", deal)
    assert response.status_code == 200 and 'id="inactive"' in response.text, response.text[:800]
    assert 'id="open-invoice"' not in response.text and "inactive in QuickBooks" in response.text
    assert deal_requests(stack) == [] and len(qbo_customers(stack)) == 1
