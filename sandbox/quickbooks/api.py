"""The Accounting API under /v3/company/<realmId>: entity reads and writes."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from . import faults
from .context import sandbox
from .dispatch import UnsupportedOperation, Writer, writer_for
from .guards import after_api_request, before_api_request, json_response, teardown_api_request, with_tid
from .invoices import send_invoice
from .pdf import invoice_pdf
from .realm import Realm
from .writes import parse_body, require_id

api = Blueprint("qbo_api", __name__, url_prefix="/v3/company/<realm_id>")
api.before_request(before_api_request)
api.after_request(after_api_request)
api.teardown_request(teardown_api_request)


def _write(realm_id: str, entity: str, writer: Writer, *args: Any) -> Response:
    """Run a write (Sandbox.write: under the lock, then webhooks) and answer the record."""
    return json_response({entity: sandbox().write(realm_id, writer, *args)})


def _read(realm_id: str, entity: str, entity_id: str) -> Response:
    """GET one live record (2030 bad id, 610 unknown or deleted)."""
    key = require_id(entity_id)
    state = sandbox().state
    with state.lock:
        record = state.realms[realm_id].get(entity, key)
        if record is None:
            raise faults.not_found()
        return json_response({entity: record})


def _operation() -> str:
    """The `operation` query parameter (create/update are the same POST)."""
    return (request.args.get("operation") or "").strip().lower()


def _unsupported(realm_id: str) -> faults.ApiFault:
    """500 Unsupported Operation for an operation this entity does not have."""
    relative = f"/v3/company/{realm_id}{request.path.split(realm_id, 1)[-1]}?operation={_operation()}"
    return faults.unsupported_operation(relative, request.url)


def _post(realm_id: str, entity: str) -> Response:
    """One POST per entity: create/update told apart by Id, ?operation=delete|void, ?include=void."""
    body = parse_body(request.get_data(), entity)
    try:
        writer = writer_for(entity, _operation(), body, request.args.get("include"))
    except UnsupportedOperation:
        raise _unsupported(realm_id) from None
    return _write(realm_id, entity, writer, body)


@api.post("/customer")
def post_customer(realm_id: str) -> Response:
    """Create or update (customers cannot be deleted, only deactivated)."""
    return _post(realm_id, "Customer")


@api.get("/customer/<entity_id>")
def get_customer(realm_id: str, entity_id: str) -> Response:
    """Read a customer."""
    return _read(realm_id, "Customer", entity_id)


@api.post("/invoice")
def post_invoice(realm_id: str) -> Response:
    """Create, update (full/sparse), or ?operation=delete|void."""
    return _post(realm_id, "Invoice")


@api.get("/invoice/<entity_id>")
def get_invoice(realm_id: str, entity_id: str) -> Response:
    """Read an invoice (a deleted one is 610)."""
    return _read(realm_id, "Invoice", entity_id)


@api.get("/invoice/<entity_id>/pdf")
def get_invoice_pdf(realm_id: str, entity_id: str) -> Response:
    """The invoice as a PDF document (610 Fault, as JSON, for an unknown or deleted invoice)."""
    key = require_id(entity_id)
    state = sandbox().state
    with state.lock:
        realm: Realm = state.realms[realm_id]
        invoice = realm.get("Invoice", key)
        if invoice is None:
            raise faults.not_found()
        document = invoice_pdf(invoice, str(realm.company_info.get("CompanyName", "")))
    return with_tid(Response(document, mimetype="application/pdf"))


@api.post("/invoice/<entity_id>/send")
def post_invoice_send(realm_id: str, entity_id: str) -> Response:
    """Email the invoice (optionally to ?sendTo=)."""
    return _write(realm_id, "Invoice", send_invoice, entity_id, request.args.get("sendTo"))


@api.post("/payment")
def post_payment(realm_id: str) -> Response:
    """Create, ?operation=delete, or void as a sparse update with ?include=void (other updates: 500)."""
    return _post(realm_id, "Payment")


@api.get("/payment/<entity_id>")
def get_payment(realm_id: str, entity_id: str) -> Response:
    """Read a payment."""
    return _read(realm_id, "Payment", entity_id)


@api.get("/item/<entity_id>")
def get_item(realm_id: str, entity_id: str) -> Response:
    """Read an item."""
    return _read(realm_id, "Item", entity_id)

