"""`POST /placements/create-invoice`: the Create QuickBooks invoice item of contact, company, lead and deal cards.

Bitrix24 opens it in a frame with the same POST as the app page (reference §4), so it is authenticated
the same way (webhooks/frame_auth.py). The record is read with the clicking user's token, so Bitrix24's
own permissions decide who may invoice it; the QuickBooks customer is found, or created and linked, with
the realm's stored tokens while the user waits. QuickBooks refuses to be framed, so the page links to its
new-invoice screen in a new tab.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import Blueprint, g, render_template, request
from sqlalchemy import select

from clients.bitrix24_errors import Bitrix24Error
from clients.coordination import LockTimeout
from clients.quickbooks_errors import (AuthorizationRevoked, Forbidden, QuickBooksError, ServiceUnavailable,
                                       Throttled)
from clients.ratelimit import RateLimitWait
from mappers.errors import MappingError
from store.db import transaction
from store.deal_requests import remember_deal
from store.models import Portal, QboConnection, utcnow
from store.portals import portal_by_member_id
from webhooks.errors import PageError
from webhooks.frame_auth import authenticate_frame_post
from webhooks.pages import frame_headers
from webhooks.placement_records import Billed, NoAccess, NoParty, billed_record, card_kind, record_id_of, user_client
from webhooks.runtime import runtime
from webhooks.session import origin
from workers.customer_export import customer_for, ensure_customer, is_active
from workers.portal_settings import deal_link_window

log = logging.getLogger("qb24.web.placement")
placement = Blueprint("placement", __name__, template_folder="templates")
placement.after_request(frame_headers)  # the app page's CSP: framed by the confirmed portal only


@dataclass(frozen=True)
class Customer:
    """The QuickBooks customer an invoice from this card is made out to."""

    customer_id: str
    display_name: str
    created: bool
    active: bool


@placement.post("/placements/create-invoice")
def create_invoice() -> str | tuple[str, int]:
    frame = authenticate_frame_post(request)
    g.frame_origin = origin(frame.client_endpoint)  # trusted (from app.info): refusals show in the frame
    portal, connection = _portal(frame.member_id)
    kind, record_id = card_kind(frame.placement), record_id_of(frame.placement_options)
    log.info("placement.clicked", extra={"member_id": frame.member_id, "kind": kind, "connected": connection is not None})
    if connection is None:
        return _page("not_connected")
    try:
        billed = billed_record(user_client(frame), kind, record_id)
    except NoAccess as refused:
        log.info("placement.no_access", extra={"member_id": frame.member_id, "kind": refused.kind})
        return _page("no_access", record_label=refused.kind, record_id=refused.record_id)
    except NoParty:
        return _page("no_party", record_id=record_id)
    except Bitrix24Error as error:
        raise _bitrix24_failed(error) from None
    try:
        customer = _customer(portal, connection.realm_id, billed)
    except MappingError as refused:  # e.g. a record without a name: the user can fix it in Bitrix24
        return _page("unmappable", record_label=billed.b24_type, record_id=billed.b24_id, reason=refused.reason)
    if not customer.active:  # QuickBooks invoices no inactive customer: no invoice link, no deal waiting
        return _page("inactive", customer_name=customer.display_name, record_label=billed.b24_type,
                     customer_url=_qbo_screen("customerdetail", customer.customer_id))
    deal_hours = _remember_deal(portal, record_id, customer.customer_id, frame.user_id) if kind == "deal" else None
    log.info("placement.ready", extra={"member_id": frame.member_id, "kind": kind, "created": customer.created})
    return _page("ready", customer_name=customer.display_name, created=customer.created,
                 record_label=billed.b24_type, deal_hours=deal_hours,
                 invoice_url=new_invoice_url(customer.customer_id))


def new_invoice_url(customer_id: str) -> str:
    """QuickBooks' new-invoice screen with the customer chosen (QBO_WEB_BASE; reference quickbooks §9)."""
    return _qbo_screen("invoice", customer_id)


def _qbo_screen(screen: str, customer_id: str) -> str:
    return f"{runtime().settings.qbo_web_base.rstrip('/')}/app/{screen}?{urlencode({'nameId': customer_id})}"


def _portal(member_id: str) -> tuple[Portal, QboConnection | None]:
    """The installed portal (else 403, as the app page) and its QuickBooks connection, if connected."""
    with runtime().sessions() as session:
        portal = portal_by_member_id(session, member_id)
        if portal is None or portal.status != "installed":
            raise PageError(403, "The app is not installed on this Bitrix24 portal; install it from the Market first.")
        connection = session.scalar(select(QboConnection).where(QboConnection.portal_id == portal.id))
    return portal, connection if connection is not None and connection.status == "connected" else None


def _customer(portal: Portal, realm_id: str, billed: Billed) -> Customer:
    """The record's QuickBooks customer: the one it is linked to, else found or created and linked now
    (ensure_customer holds a lock per record and sends a requestid: concurrent clicks make one)."""
    try:
        with runtime().sessions() as session:
            known = customer_for(session, portal.id, billed.b24_type, billed.b24_id)
        if known is not None:
            found = runtime().quickbooks_client(realm_id, quick=True).get("Customer", known)
            return Customer(known, str(found.get("DisplayName") or known), False, is_active(found))
        exported = ensure_customer(runtime(), portal, realm_id, billed.b24_type, billed.record, quick=True)
    except QuickBooksError as error:
        raise _quickbooks_failed(portal.member_id, error) from None
    except RateLimitWait:  # the quick client waited its short while for the realm's limits (QboGate)
        busy = Throttled("the realm's limits are full", code="3001")
        raise _quickbooks_failed(portal.member_id, busy) from None
    except LockTimeout:
        raise PageError(503, "Another click is still creating this customer in QuickBooks. "
                             "Wait a few seconds, then use Create QuickBooks invoice again.") from None
    except Bitrix24Error as error:
        raise _bitrix24_failed(error) from None
    return Customer(exported.customer_id, exported.display_name, exported.created, exported.active)


def _remember_deal(portal: Portal, deal_id: str, customer_id: str, user_id: str | None) -> int:
    """Record the click, so the customer's next invoice within the window is linked to the deal; the
    hours left (a repeated click keeps the open request and its end: store/deal_requests.py)."""
    with transaction(runtime().sessions) as session:
        request_ = remember_deal(session, portal.id, deal_id, customer_id, user_id,
                                 deal_link_window(portal.settings or {}))
        left = request_.expires_at - utcnow()
    return max(1, math.ceil(left.total_seconds() / 3600))


def _quickbooks_failed(member_id: str, error: QuickBooksError) -> PageError:
    log.warning("placement.quickbooks_failed", extra={"member_id": member_id, "error": type(error).__name__,
                                                       "code": error.code})
    if isinstance(error, (AuthorizationRevoked, Forbidden)):
        return PageError(502, "QuickBooks no longer accepts this portal's connection. A Bitrix24 administrator "
                              "must open the QuickBooks app and log in with QuickBooks again.", "QuickBooks refused")
    if isinstance(error, (Throttled, ServiceUnavailable)):
        return PageError(503, "QuickBooks is busy or unavailable right now. Wait a minute, then use Create "
                              "QuickBooks invoice again.", "QuickBooks unavailable")
    return PageError(502, f"QuickBooks refused the customer for this record (error {error.code or 'unknown'}). "
                          "Check the record's name, email and phone, then try again.", "QuickBooks refused")


def _bitrix24_failed(error: Bitrix24Error) -> PageError:
    log.warning("placement.bitrix24_failed", extra={"code": error.code, "status": error.status})
    return PageError(502, f"Bitrix24 did not answer with the record ({error.code or error.status}). "
                          "Reload the card and try again.", "Bitrix24 did not answer")


def _page(view: str, **context: object) -> str:
    rt = runtime()
    return render_template("qb24/placement.html", view=view, b24_js_url=rt.settings.b24_js_url,
                           csrf_token=None, **context)
