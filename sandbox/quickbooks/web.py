"""A minimal stand-in for QuickBooks Online's web screens at the web base (`QBO_WEB_BASE`).

Reference §9 (community-observed, Intuit does not document them): `/app/invoice?nameId=<customerId>`
opens a new invoice for that customer, `/app/invoice?txnId=<invoiceId>` an existing one, and
`/app/customerdetail?nameId=<customerId>` the customer's page. The links carry no realmId: they open in
the company the browser is signed into. Here that is, in order: `?realmId=` (which also signs the browser
into that company with a cookie), the company the cookie names, the only company, or else a company
chooser. Saving an invoice goes through `Sandbox.write` with the Accounting API's own `create_invoice`
(and `send_invoice` when "Send" is ticked), so webhooks and CDC see it exactly as an API write.
Plain HTML with stable element ids for browser tests; no auth (the browser stands for a signed-in user).
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, g, make_response, redirect, request

from . import faults
from .context import sandbox
from .invoices import create_invoice, send_invoice
from .realm import Realm
from .writes import looks_like_email

web = Blueprint("qbo_web", __name__, url_prefix="/app")
REALM_COOKIE = "qbo_sandbox_company"
SERVICE_ITEM_NAME = "Services"  # the line's product/service: the sample company's item 1


class NoCompany(Exception):
    """The browser is signed into no company yet, or asks for one that does not exist."""

    def __init__(self, response: Response) -> None:
        super().__init__("no company")
        self.response = response


def _page(title: str, body: str, status: int = 200) -> Response:
    """The screen layout."""
    html = (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)} - QuickBooks sandbox"
            f"</title></head><body><header id='company-name'>{escape(_company_label())}</header>"
            f"<h1>{escape(title)}</h1>{body}</body></html>")
    return make_response(html, status, {"Content-Type": "text/html; charset=utf-8"})


def _company_label() -> str:
    realm = g.get("qbo_realm")
    return str(realm.company_info.get("CompanyName", "")) if realm is not None else ""


def _chooser() -> Response:
    """The company chooser: one link per realm, back to the same screen."""
    with sandbox().state.lock:
        realms = [(realm.realm_id, str(realm.company_info.get("CompanyName", "")))
                  for realm in sandbox().state.realms.values()]
    args = {k: v for k, v in request.args.items() if k != "realmId"}
    items = "".join(f"<li><a class='company' data-realm-id='{escape(rid)}' href='{escape(request.path)}?"
                    f"{escape(urlencode({**args, 'realmId': rid}))}'>{escape(name)} ({escape(rid)})</a></li>"
                    for rid, name in realms)
    return _page("Choose a company", f"<ul id='realm-chooser'>{items}</ul>")


def _realm() -> Realm:
    """The company this screen works in (see the module docstring), or NoCompany with the page to show."""
    state = sandbox().state
    wanted = request.args.get("realmId") or request.cookies.get(REALM_COOKIE)
    with state.lock:
        if wanted:
            realm = state.realm(wanted)
            if realm is None and request.args.get("realmId"):
                raise NoCompany(_page("Company not found", "<p id='error'>No such company.</p>", 404))
            if realm is not None:
                return realm
        if len(state.realms) == 1:
            return next(iter(state.realms.values()))
    raise NoCompany(_chooser())


def _signed_in(response: Response, realm: Realm) -> Response:
    """Remember the company for links without realmId, as a signed-in browser session does."""
    response.set_cookie(REALM_COOKIE, realm.realm_id, httponly=True, samesite="Lax")
    return response


def _screen(build: Any) -> Response:
    """Resolve the company, build the screen with it, sign the browser into it."""
    try:
        realm = _realm()
    except NoCompany as missing:
        return missing.response
    g.qbo_realm = realm
    return _signed_in(build(realm), realm)


def _customer(realm: Realm, name_id: str | None) -> dict[str, Any] | None:
    """A live customer by Id, or None."""
    if not name_id:
        return None
    with sandbox().state.lock:
        return realm.get("Customer", name_id)


def _not_found(what: str) -> Response:
    text = f"This {what.lower()} does not exist in this company."
    return _page(f"{what} not found", f"<p id='error'>{text}</p>", 404)


def _form_action(realm: Realm) -> str:
    """The form posts back to its own company: a browser signed into another one since (another tab)
    must not save this customer's invoice there."""
    args = {k: v for k, v in request.args.items() if k != "realmId"}
    return f"{request.path}?{urlencode({**args, 'realmId': realm.realm_id})}"


def _invoice_form(realm: Realm, customer: dict[str, Any], values: dict[str, str], error: str = "") -> str:
    """The new-invoice form: customer, one line (description, amount), the email and "send" box."""
    email = values.get("email", (customer.get("PrimaryEmailAddr") or {}).get("Address", ""))
    checked = " checked" if values.get("send") else ""
    problem = f"<p id='error' role='alert'>{escape(error)}</p>" if error else ""
    return (f"{problem}<form id='invoice-form' method='post' action='{escape(_form_action(realm))}'>"
            f"<input type='hidden' name='nameId' value='{escape(customer['Id'])}'>"
            f"<p>Customer: <span id='customer-name'>{escape(customer.get('DisplayName', ''))}</span> "
            f"<span id='customer-id' hidden>{escape(customer['Id'])}</span></p>"
            f"<p><label>Product/service: {SERVICE_ITEM_NAME}</label></p>"
            f"<p><label>Description <input id='description' name='description' "
            f"value='{escape(values.get('description', ''))}'></label></p>"
            f"<p><label>Amount <input id='amount' name='amount' inputmode='decimal' "
            f"value='{escape(values.get('amount', ''))}'></label></p>"
            f"<p><label>Customer email <input id='email' name='email' value='{escape(email)}'></label> "
            f"<label><input type='checkbox' id='send' name='send' value='1'{checked}> "
            f"Save and send</label></p>"
            f"<button id='save' type='submit'>Save</button></form>")


def _amount(raw: str) -> Decimal | None:
    """A positive amount with at most two decimals, or None."""
    try:
        value = Decimal(raw.strip().replace(",", ""))
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0 or value.as_tuple().exponent < -2:  # type: ignore[operator]
        return None
    return value


def _service_item(realm: Realm) -> dict[str, Any]:
    """The Services item (Id 1 in the sample and in a new company), else the first active item."""
    items = [i for i in realm.all("Item") if i.get("Active", True)]
    return next((i for i in items if i.get("Name") == SERVICE_ITEM_NAME), items[0])


def _invoice_body(realm: Realm, customer: dict[str, Any], description: str, amount: Decimal,
                  email: str) -> dict[str, Any]:
    """The Accounting API body the screen saves: one sales line of the service item."""
    item = _service_item(realm)
    line: dict[str, Any] = {"Amount": float(amount), "DetailType": "SalesItemLineDetail",
                            "SalesItemLineDetail": {"ItemRef": {"value": item["Id"], "name": item["Name"]},
                                                    "Qty": 1, "UnitPrice": float(amount)}}
    if description:
        line["Description"] = description
    body: dict[str, Any] = {"CustomerRef": {"value": customer["Id"]}, "Line": [line]}
    if email:
        body["BillEmail"] = {"Address": email}
    return body


def _save_invoice(realm: Realm, customer: dict[str, Any]) -> Response:
    """Check the form, create the invoice (and send it), then show it; bad input changes nothing."""
    values = {k: request.form.get(k, "").strip() for k in ("description", "amount", "email", "send")}
    amount = _amount(values["amount"])
    error = ""
    if amount is None:
        error = "Enter an amount greater than 0 with at most two decimals."
    elif values["send"] and not values["email"]:
        error = "Enter the customer's email to send the invoice."
    elif values["email"] and not looks_like_email(values["email"]):
        error = "Enter a valid email address."
    if error:
        return _page("Invoice", _invoice_form(realm, customer, values, error), 400)
    box = sandbox()
    with box.state.lock:
        body = _invoice_body(realm, customer, values["description"], amount, values["email"])
    try:
        invoice = box.write(realm.realm_id, create_invoice, body)
        if values["send"]:
            invoice = box.write(realm.realm_id, send_invoice, invoice["Id"], None)
    except faults.ApiFault as fault:
        return _page("Invoice", _invoice_form(realm, customer, values, fault.detail or fault.message), 400)
    target = f"{request.path}?{urlencode({'txnId': invoice['Id'], 'realmId': realm.realm_id})}"
    return redirect(target, 303)  # Post/Redirect/Get: reloading the result does not save twice


def _invoice_view(invoice: dict[str, Any]) -> str:
    """A saved invoice: number, customer, total, balance, email status."""
    customer = invoice.get("CustomerRef") or {}
    return (f"<p>Invoice no. <span id='invoice-number'>{escape(str(invoice.get('DocNumber', '')))}</span> "
            f"<span id='invoice-id' hidden>{escape(invoice['Id'])}</span></p>"
            f"<p>Customer: <a id='customer-name' href='/app/customerdetail?nameId="
            f"{escape(str(customer.get('value', '')))}'>{escape(str(customer.get('name', '')))}</a></p>"
            f"<p>Total <span id='invoice-total'>{invoice.get('TotalAmt', 0):.2f}</span>, balance "
            f"<span id='invoice-balance'>{invoice.get('Balance', 0):.2f}</span>, "
            f"<span id='email-status'>{escape(str(invoice.get('EmailStatus', '')))}</span></p>")


@web.route("/invoice", methods=["GET", "POST"])
def invoice_screen() -> Response:
    """New invoice for `nameId`, or the invoice `txnId`."""
    def build(realm: Realm) -> Response:
        txn_id = request.args.get("txnId")
        if txn_id and request.method == "GET":
            with sandbox().state.lock:
                invoice = realm.get("Invoice", txn_id)
            return _page("Invoice", _invoice_view(invoice)) if invoice else _not_found("Invoice")
        customer = _customer(realm, request.values.get("nameId"))
        if customer is None:
            return _not_found("Customer")
        if request.method == "POST":
            return _save_invoice(realm, customer)
        return _page("Invoice", _invoice_form(realm, customer, {}))
    return _screen(build)


def _customer_invoices(realm: Realm, customer_id: str) -> str:
    """The customer's invoices as table rows, each linking to its screen."""
    with sandbox().state.lock:
        invoices = [invoice for invoice in realm.all("Invoice")
                    if (invoice.get("CustomerRef") or {}).get("value") == customer_id]
    return "".join(f"<tr data-invoice-id='{escape(i['Id'])}'><td><a href='/app/invoice?txnId="
                   f"{escape(i['Id'])}'>{escape(str(i.get('DocNumber', '')))}</a></td>"
                   f"<td>{i.get('TotalAmt', 0):.2f}</td><td>{i.get('Balance', 0):.2f}</td></tr>"
                   for i in invoices)


@web.get("/customerdetail")
def customer_screen() -> Response:
    """The customer's page: name, email, balance, invoices, and a link to a new invoice."""
    def build(realm: Realm) -> Response:
        customer = _customer(realm, request.args.get("nameId"))
        if customer is None:
            return _not_found("Customer")
        email = (customer.get("PrimaryEmailAddr") or {}).get("Address", "")
        new_invoice = f"/app/invoice?nameId={escape(customer['Id'])}"
        body = (f"<p><span id='customer-name'>{escape(customer.get('DisplayName', ''))}</span> "
                f"<span id='customer-email'>{escape(email)}</span></p>"
                f"<p>Open balance <span id='customer-balance'>{customer.get('Balance', 0):.2f}</span></p>"
                f"<p><a id='new-invoice' href='{new_invoice}'>New invoice</a></p>"
                f"<table id='customer-invoices'><tr><th>No.</th><th>Total</th><th>Balance</th></tr>"
                f"{_customer_invoices(realm, customer['Id'])}</table>")
        return _page(customer.get("DisplayName", "Customer"), body)
    return _screen(build)
