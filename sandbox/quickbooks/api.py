"""The Accounting API under /v3/company/<realmId>: entity reads and writes."""
from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, Response, request

from . import faults
from .context import sandbox
from .customers import create_customer, update_customer
from .guards import after_api_request, before_api_request, json_response, teardown_api_request
from .invoices import create_invoice, delete_invoice, send_invoice, update_invoice, void_invoice
from .payments import create_payment
from .realm import Realm
from .writes import Change, parse_body, require_id

api = Blueprint("qbo_api", __name__, url_prefix="/v3/company/<realm_id>")
api.before_request(before_api_request)
api.after_request(after_api_request)
api.teardown_request(teardown_api_request)

Writer = Callable[..., tuple[dict[str, Any], list[Change]]]


def _write(realm_id: str, entity: str, writer: Writer, *args: Any) -> Response:
    """Run a write under the lock, then publish its changes to the webhook senders."""
    box = sandbox()
    with box.state.lock:
        realm = box.state.realms[realm_id]
        now = box.state.now()
        record, changes = writer(realm, *args, now)
    box.hooks.publish(realm_id, changes, at=now)
    return json_response({entity: record})


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


def _create_or_update(realm_id: str, entity: str, body: dict, create: Writer, update: Writer) -> Response:
    """One POST for both: an update when the body carries an Id, else a create."""
    if _operation() not in ("", "create", "update"):
        raise _unsupported(realm_id)
    writer = update if body.get("Id") not in (None, "") else create
    return _write(realm_id, entity, writer, body)


@api.post("/customer")
def post_customer(realm_id: str) -> Response:
    """Create or update (customers cannot be deleted, only deactivated)."""
    body = parse_body(request.get_data(), "Customer")
    return _create_or_update(realm_id, "Customer", body, create_customer, update_customer)


@api.get("/customer/<entity_id>")
def get_customer(realm_id: str, entity_id: str) -> Response:
    """Read a customer."""
    return _read(realm_id, "Customer", entity_id)


@api.post("/invoice")
def post_invoice(realm_id: str) -> Response:
    """Create, update (full/sparse), or ?operation=delete|void."""
    body = parse_body(request.get_data(), "Invoice")
    removal = {"delete": delete_invoice, "void": void_invoice}.get(_operation())
    if removal is not None:
        return _write(realm_id, "Invoice", removal, body)
    return _create_or_update(realm_id, "Invoice", body, create_invoice, update_invoice)


@api.get("/invoice/<entity_id>")
def get_invoice(realm_id: str, entity_id: str) -> Response:
    """Read an invoice (a deleted one is 610)."""
    return _read(realm_id, "Invoice", entity_id)


@api.post("/invoice/<entity_id>/send")
def post_invoice_send(realm_id: str, entity_id: str) -> Response:
    """Email the invoice (optionally to ?sendTo=)."""
    return _write(realm_id, "Invoice", send_invoice, entity_id, request.args.get("sendTo"))


@api.post("/payment")
def post_payment(realm_id: str) -> Response:
    """Create a payment (updates and deletes of payments are not simulated)."""
    body = parse_body(request.get_data(), "Payment")
    if _operation() not in ("", "create") or body.get("Id") not in (None, ""):
        raise _unsupported(realm_id)
    return _write(realm_id, "Payment", create_payment, body)


@api.get("/payment/<entity_id>")
def get_payment(realm_id: str, entity_id: str) -> Response:
    """Read a payment."""
    return _read(realm_id, "Payment", entity_id)


@api.get("/item/<entity_id>")
def get_item(realm_id: str, entity_id: str) -> Response:
    """Read an item."""
    return _read(realm_id, "Item", entity_id)


@api.get("/companyinfo/<company_id>")
def get_company_info(realm_id: str, company_id: str) -> Response:
    """CompanyInfo is addressed by the realm id itself."""
    if company_id != realm_id:
        raise faults.not_found()
    state = sandbox().state
    with state.lock:
        realm: Realm = state.realms[realm_id]
        return json_response({"CompanyInfo": realm.company_info})
