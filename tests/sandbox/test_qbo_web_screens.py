"""The QuickBooks web screens stand-in (sandbox/quickbooks/web.py): reference §9's deep links
`/app/invoice?nameId=`, `/app/invoice?txnId=` and `/app/customerdetail?nameId=`; an invoice saved on the
screen is an Accounting API write (webhook Create, CDC, customer balance), bad input changes nothing."""
from __future__ import annotations

import json
import re
from typing import Any

import requests

from tests.sandbox.qbo_app_support import Api, Receiver, Sandbox, wait_for_entity

Session = tuple[Api, Any, Receiver]
AMY = "1"  # Amy's Bird Sanctuary in Intuit's sample company (reference §4 sample)


def _element(html: str, element_id: str) -> str:
    """The text of the element with this id (the screens put plain text in them)."""
    found = re.search(rf"id='{element_id}'[^>]*>([^<]*)<", html)
    assert found, f"#{element_id} missing in {html}"
    return found.group(1)


def _invoice_count(api: Api, customer_id: str) -> int:
    query = f"select count(*) from Invoice where CustomerRef = '{customer_id}'"
    response = api.call("POST", "query", raw=query, content_type="application/text")
    assert response.status_code == 200, response.text
    return response.json()["QueryResponse"]["totalCount"]


def _save(browser: requests.Session, url: str, **form: str) -> requests.Response:
    return browser.post(f"{url}/app/invoice?nameId={AMY}", data=form, timeout=10)


def test_new_invoice_screen_saves_through_the_api_path(qbo: Sandbox, session: Session) -> None:
    api, _, hook = session
    since = qbo.control("POST", "clock", advance_seconds=1)["now"]
    browser = requests.Session()
    form = browser.get(f"{qbo.url}/app/invoice", params={"nameId": AMY}, timeout=10)
    assert form.status_code == 200
    assert _element(form.text, "customer-name") == "Amy&#x27;s Bird Sanctuary"
    for control in ("description", "amount", "email", "send", "save"):
        assert f"id='{control}'" in form.text
    before = api.call("GET", f"customer/{AMY}").json()["Customer"]["Balance"]

    saved = _save(browser, qbo.url, description="Bird seed, bulk", amount="150.50")
    assert saved.history and saved.history[0].status_code == 303  # Post/Redirect/Get
    invoice_id = _element(saved.text, "invoice-id")
    invoice = api.call("GET", f"invoice/{invoice_id}").json()["Invoice"]
    assert _element(saved.text, "invoice-number") == invoice["DocNumber"]
    assert invoice["CustomerRef"]["value"] == AMY and invoice["TotalAmt"] == 150.5
    assert invoice["Line"][0]["Description"] == "Bird seed, bulk"
    assert invoice["EmailStatus"] == "NotSet"
    assert api.call("GET", f"customer/{AMY}").json()["Customer"]["Balance"] == before + 150.5
    assert ("Invoice", invoice_id) in wait_for_entity(hook, invoice_id, "Invoice")
    cdc = api.call("GET", "cdc", entities="Invoice", changedSince=since).json()["CDCResponse"][0]
    assert [i["Id"] for i in cdc["QueryResponse"][0]["Invoice"]] == [invoice_id]


def test_save_and_send_emails_the_invoice(qbo: Sandbox, session: Session) -> None:
    api, _, hook = session
    saved = _save(requests.Session(), qbo.url, amount="20", email="birds@example.com", send="1")
    invoice_id = _element(saved.text, "invoice-id")
    assert _element(saved.text, "email-status") == "EmailSent"
    invoice = api.call("GET", f"invoice/{invoice_id}").json()["Invoice"]
    assert invoice["BillEmail"] == {"Address": "birds@example.com"}
    assert invoice["DeliveryInfo"]["DeliveryType"] == "Email"

    def emailed(item: tuple[bytes, dict[str, str]]) -> bool:
        return any(e["id"] == invoice_id and e["operation"] == "Emailed"
                   for note in json.loads(item[0])["eventNotifications"]
                   for e in note["dataChangeEvent"]["entities"])
    hook.wait_for(emailed)


def test_bad_input_is_refused_and_saves_nothing(qbo: Sandbox, session: Session) -> None:
    api, _, _ = session
    count = _invoice_count(api, AMY)
    browser = requests.Session()
    for form in ({"amount": ""}, {"amount": "abc"}, {"amount": "0"}, {"amount": "-5"}, {"amount": "1.234"},
                 {"amount": "NaN"}, {"amount": "10", "send": "1", "email": ""},
                 {"amount": "10", "email": "not-an-address"}):
        answer = _save(browser, qbo.url, **form)
        assert answer.status_code == 400, (form, answer.text)
        assert _element(answer.text, "error")
        assert "id='invoice-form'" in answer.text  # the form comes back to correct
    assert _invoice_count(api, AMY) == count


def test_unknown_records_are_404_pages(qbo: Sandbox, session: Session) -> None:
    for path, params in (("invoice", {"nameId": "99999"}), ("invoice", {}), ("invoice", {"txnId": "99999"}),
                         ("customerdetail", {"nameId": "99999"}), ("customerdetail", {"nameId": "x'<"})):
        answer = requests.get(f"{qbo.url}/app/{path}", params=params, timeout=10)
        assert answer.status_code == 404, (path, params)
        assert answer.headers["Content-Type"].startswith("text/html")
        assert "<" not in _element(answer.text, "error")
    posted = requests.post(f"{qbo.url}/app/invoice?nameId=99999", data={"amount": "5"}, timeout=10)
    assert posted.status_code == 404


def test_customer_detail_lists_invoices_and_links_a_new_one(qbo: Sandbox, session: Session) -> None:
    browser = requests.Session()
    saved = _save(browser, qbo.url, amount="42")
    invoice_id = _element(saved.text, "invoice-id")
    detail = browser.get(f"{qbo.url}/app/customerdetail", params={"nameId": AMY}, timeout=10)
    assert detail.status_code == 200
    assert _element(detail.text, "customer-name") == "Amy&#x27;s Bird Sanctuary"
    assert f"data-invoice-id='{invoice_id}'" in detail.text
    assert f"href='/app/invoice?nameId={AMY}'" in detail.text


def test_the_company_is_the_one_asked_for_or_remembered(qbo: Sandbox, session: Session) -> None:
    """Links carry no realmId (reference §9): with several companies the screen asks which; `realmId`
    picks one and the browser stays signed into it."""
    api, _, _ = session
    first = api.base.rsplit("/", 1)[1]
    second = qbo.control("POST", "realms", empty=True)["realm_id"]
    chooser = requests.get(f"{qbo.url}/app/invoice", params={"nameId": AMY}, timeout=10)
    assert chooser.status_code == 200 and "id='realm-chooser'" in chooser.text
    assert f"data-realm-id='{first}'" in chooser.text and f"data-realm-id='{second}'" in chooser.text

    browser = requests.Session()
    in_second = browser.get(f"{qbo.url}/app/invoice", params={"nameId": AMY, "realmId": second}, timeout=10)
    assert in_second.status_code == 404  # the new company has no customer 1
    in_first = browser.get(f"{qbo.url}/app/invoice", params={"nameId": AMY, "realmId": first}, timeout=10)
    assert in_first.status_code == 200
    remembered = browser.get(f"{qbo.url}/app/invoice", params={"nameId": AMY}, timeout=10)
    assert _element(remembered.text, "customer-name") == "Amy&#x27;s Bird Sanctuary"
    unknown = requests.get(f"{qbo.url}/app/invoice", params={"nameId": AMY, "realmId": "123"}, timeout=10)
    assert unknown.status_code == 404


def test_the_stack_points_qbo_web_base_at_the_sandbox_screens(qbo: Sandbox, session: Session) -> None:
    """qb24/stack.py (and so `make demo`) sends the app's Create Invoice link to these screens."""
    from types import SimpleNamespace

    from qb24.sandboxes import QboSandbox
    from qb24.stack import stack_settings

    running = QboSandbox(qbo.server, qbo.app)
    nowhere = "http://127.0.0.1:9"
    b24 = SimpleNamespace(oauth_url=nowhere, default_portal=SimpleNamespace(url=nowhere))
    settings = stack_settings(running, b24, "postgresql://localhost/test", "http://127.0.0.1:8")
    assert settings.qbo_web_base == qbo.url
    screen = requests.get(f"{settings.qbo_web_base}/app/invoice", params={"nameId": AMY}, timeout=10)
    assert _element(screen.text, "customer-name") == "Amy&#x27;s Bird Sanctuary"


def test_a_form_saves_in_the_company_it_was_opened_in(qbo: Sandbox, session: Session) -> None:
    """A browser that signs into another company (another tab) before saving must not move the invoice
    there: the open form belongs to the company whose customer it shows."""
    api, _, _ = session
    first = api.base.rsplit("/", 1)[1]
    second = qbo.control("POST", "realms", sample=True)["realm_id"]  # also has a customer 1
    browser = requests.Session()
    browser.get(f"{qbo.url}/app/customerdetail", params={"nameId": AMY, "realmId": first}, timeout=10)
    form = browser.get(f"{qbo.url}/app/invoice", params={"nameId": AMY}, timeout=10)  # the app's link
    assert form.status_code == 200
    action = re.search(r"id='invoice-form' method='post' action='([^']*)'", form.text).group(1)
    count = _invoice_count(api, AMY)
    assert browser.get(f"{qbo.url}/app/customerdetail", params={"nameId": AMY, "realmId": second},
                       timeout=10).status_code == 200  # the other tab
    saved = browser.post(qbo.url + action.replace("&amp;", "&"), data={"nameId": AMY, "amount": "7"},
                         timeout=10)
    assert saved.status_code == 200 and f"realmId={first}" in saved.url
    assert _invoice_count(api, AMY) == count + 1
