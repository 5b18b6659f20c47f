"""QuickBooks log in / log out: `POST /quickbooks/connect`, `GET /quickbooks/callback`,
`POST /quickbooks/connect/finish`, `POST /quickbooks/disconnect`.

Consent runs in a top-level window (QuickBooks cannot be framed), so the framed session cookie is
not there: the app page hands out a signed link token, and the consent is tied to this browser by
a short-lived cookie holding the single-use state, which is also kept (hashed) server-side.
The callback links nothing: it holds the grant as a pending connection and hands a one-time
ticket to its opener, the framed app page, whose own session (portal, user, admin, CSRF) claims
it. A Log in form submitted from someone else's page (login CSRF) thus never links a realm: that
browser has no framed session for the portal the link token names.
"""
from __future__ import annotations

import hmac
import logging
import time
from html import escape

from flask import Blueprint, Response, redirect, request
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clients.quickbooks_auth import QboTokens
from store.db import transaction
from store.lifecycle import cancel_runs, connection_of, connection_tokens, drop_connection_tokens
from store.models import Link, Portal
from store.oauth_states import STATE_TTL, StateOwner, consume_state, issue_state
from store.pending_connections import PendingGrant, claim_connection, hold_connection, revocable, sweep_expired
from store.portals import connect_realm, connection_for_realm, portal_by_member_id
from webhooks.admins import ADMIN_ONLY, AdminRequired, admin_action, admin_now, refusal, require_admin
from webhooks.bitrix24_events import revoke_later, revoke_pending
from webhooks.connect_grant import (HeldTokens, IntuitUnavailable, callback_params, confirm_company, exchange,
                                    oauth_error_label)
from webhooks.errors import PageError, message_page
from webhooks.runtime import runtime
from webhooks.services import qbo_oauth, token_cipher
from webhooks.session import (PortalSession, check_csrf, non_admin_session, origin, read_link_token,
                              require_session)
from workers.tasks import EnqueueFailed, enqueue_pull

connect = Blueprint("connect", __name__)
log = logging.getLogger("qb24.qbo.connect")
STATE_COOKIE = "qb24_qbo_state"
LINK_MAX_AGE = int(STATE_TTL.total_seconds())


class ConsentError(PageError):
    """A callback that cannot be accepted (replayed, foreign or expired state; realm taken)."""

    kind = "oauth_state"


@connect.post("/quickbooks/connect")
def start() -> Response:
    # A POSTed form (target=_blank), not a link: the token stays out of URLs, so out of access logs
    # (werkzeug, gunicorn, proxies) and Referer headers.
    if non_admin_session():
        # The page issues connect tokens to administrators only; a non-admin's own session (sent
        # when the browser shares the framed cookie with this tab) is refused even with one.
        raise AdminRequired(403, ADMIN_ONLY, "Administrators only")
    member_id, user_id = read_link_token(request.form.get("t", ""), "connect", LINK_MAX_AGE)
    not_now = refusal(admin_now(member_id, user_id))  # still an administrator (asked at most every minute)?
    if not_now is not None:
        raise not_now
    with transaction(runtime().sessions) as session:
        portal = portal_by_member_id(session, member_id)
        if portal is None or portal.status != "installed":
            raise ConsentError(400, "The app is not installed on this Bitrix24 portal any more.")
        state = issue_state(session, portal.id, user_id)
    response = redirect(qbo_oauth().authorization_url(state), code=302)
    https = runtime().settings.app_base_url.startswith("https:")
    response.set_cookie(STATE_COOKIE, state, max_age=LINK_MAX_AGE, path="/quickbooks/", httponly=True,
                        secure=https, samesite="Lax")
    return response


def _take_state() -> StateOwner:
    """Who the callback's state was issued to (portal, user); the state is used up by this call."""
    state, cookie = request.args.get("state", ""), request.cookies.get(STATE_COOKIE, "")
    if not state or not cookie or not hmac.compare_digest(state.encode(), cookie.encode()):
        # Not started in this browser: a forged or forwarded callback (login CSRF) is refused untouched.
        raise ConsentError(400, "This QuickBooks sign-in was not started from this browser. "
                                "Go back to the app in Bitrix24 and click Log in again.")
    with transaction(runtime().sessions) as session:
        owner = consume_state(session, state)
    if owner is None:
        raise ConsentError(400, "This QuickBooks sign-in link was already used or has expired. "
                                "Go back to the app in Bitrix24 and click Log in again.")
    return owner


REALM_TAKEN = ("This QuickBooks company is already connected to another Bitrix24 portal. "
               "Disconnect it there first, or choose another company.")


def _link(portal_id: int, tokens: QboTokens, company_name: str | None) -> tuple[Portal, bool]:
    """Store the connection unless the realm (or this portal's links) belong elsewhere; the portal, and
    whether the connection had synced before (a reconnect: it has changes to catch up on)."""
    try:
        return _link_once(portal_id, tokens, company_name)
    except IntegrityError:
        # Two portals finished consent for the same realm at once: the unique realm_id decided.
        raise ConsentError(409, REALM_TAKEN) from None


def _check_linkable(session: Session, portal_id: int, realm_id: str) -> Portal:
    """The portal, if `realm_id` may be linked to it; else a clear 400/409."""
    portal = session.get(Portal, portal_id)
    if portal is None or portal.status != "installed":
        raise ConsentError(400, "The app is not installed on this Bitrix24 portal any more.")
    taken = connection_for_realm(session, realm_id)
    if taken is not None and taken.portal_id != portal_id:
        raise ConsentError(409, REALM_TAKEN)
    current = connection_of(session, portal_id)
    if current is not None and current.realm_id != realm_id and session.query(Link).filter_by(
            portal_id=portal_id).first() is not None:
        # The links point at the first company's records; reusing them for another would corrupt both.
        raise ConsentError(409, "This portal is already synchronized with another QuickBooks company. "
                                "Log in to that company, or uninstall the app with its data to switch.")
    return portal


def _link_once(portal_id: int, tokens: QboTokens, company_name: str | None) -> tuple[Portal, bool]:
    with transaction(runtime().sessions) as session:
        portal = _check_linkable(session, portal_id, tokens.realm_id)
        connection = connect_realm(session, portal, tokens, token_cipher(), company_name)
        return portal, connection.cdc_watermark is not None


def _catch_up(realm_id: str) -> None:
    """After a reconnect, pull what changed in QuickBooks meanwhile (its webhooks found the realm
    disconnected). A broker that refuses it does not fail the connect: beat's reconciliation pulls it."""
    try:
        enqueue_pull(runtime(), realm_id, noticed_at=time.time())
    except EnqueueFailed:
        log.warning("qbo.connect.catch_up_not_queued", extra={"realm_id": realm_id})


@connect.get("/quickbooks/callback")
def callback() -> Response:
    owner = _take_state()
    if request.args.get("error"):
        return _declined(owner, request.args["error"])
    code, realm_id = callback_params()
    held = HeldTokens(exchange(owner.portal_id, code, realm_id))
    try:
        name = confirm_company(owner.portal_id, realm_id, held)
        with runtime().sessions() as session:
            _check_linkable(session, owner.portal_id, realm_id)  # refuse now, in this tab; finish checks again
    except (ConsentError, IntuitUnavailable):
        _revoke_stray(held.current)  # never stored, so never left live (unless its realm is live elsewhere)
        raise
    ticket = _hold(owner, held.current, name)
    log.info("qbo.connect.pending", extra={"portal_id": owner.portal_id, "realm_id": realm_id})
    return _closing(_ticket_page(name or realm_id, ticket))


def _declined(owner: StateOwner, error: str) -> Response:
    """Intuit's error redirect (reference §7: `error=access_denied` when the user cancels): nothing exchanged."""
    declined = error == "access_denied"
    log.info("qbo.connect.declined", extra={"portal_id": owner.portal_id, "error": oauth_error_label(error)})
    return _closing(_declined_page(
        200 if declined else 400,
        "You declined the connection, so nothing was changed. You can close this tab and click Log in again."
        if declined else "QuickBooks did not grant access, so nothing was changed. Please try again."))


def _hold(owner: StateOwner, tokens: QboTokens, company_name: str | None) -> str:
    """Keep the grant as a pending connection; grants nobody claimed in time are revoked."""
    with transaction(runtime().sessions) as session:
        ticket = hold_connection(session, owner.portal_id, owner.user_id, tokens, company_name, token_cipher())
        for stale in revocable(session, sweep_expired(session, token_cipher())):
            revoke_later(session, stale, "expired_grant")
    revoke_pending(session)
    return ticket


def _ticket_page(company: str, ticket: str) -> Response:
    opener = origin(runtime().settings.app_base_url)  # the app page that opened this tab
    # The ticket sits in this page only, shown to the browser that completed the consent; it is
    # posted to the opener only if the opener is the app's own origin (postMessage's targetOrigin).
    # When the app page answers that it is connected, the tab closes itself: window.close() works
    # for a tab a script opened (the app page's window.open), else the text says to close it
    # (https://developer.mozilla.org/en-US/docs/Web/API/Window/close).
    extra = (f"<div id='ticket' data-ticket='{escape(ticket)}' data-origin='{escape(opener)}' "
             f"data-connected='{escape(_('QuickBooks is connected. You can close this tab.'))}' hidden></div>"
             "<p id='next'>Keep this tab open until the app page in Bitrix24 shows the company, then close it.</p>"
             "<noscript><p id='noscript'>JavaScript is off, so this tab cannot reach the app page. Go back to the "
             "app in Bitrix24, turn JavaScript on and click Log in again.</p></noscript>"
             "<script>(function(){var d=document.getElementById('ticket').dataset,next=document.getElementById('next');"
             "window.addEventListener('message',function(e){"
             "if(e.origin!==d.origin||e.source!==window.opener||!e.data||e.data.type!=='qb24:connected'){return;}"
             "next.textContent=d.connected;window.close();});"
             "if(window.opener){window.opener.postMessage({type:'qb24:connect-ticket',ticket:d.ticket},d.origin);}"
             "else{next.textContent='This tab lost its link to the app page. Go back "
             "to the app in Bitrix24 and click Log in again.';}})();</script>")
    return message_page(200, "Return to Bitrix24 to finish connecting",
                        f"QuickBooks approved the connection to {company}. Return to Bitrix24 to finish "
                        "connecting: the app page there completes it.", extra)


def _declined_page(status: int, message: str) -> Response:
    """The declined page tells its opener (the app page shows the message there) and closes itself when it can."""
    opener = origin(runtime().settings.app_base_url)
    extra = (f"<div id='declined' data-origin='{escape(opener)}' hidden></div>"
             "<script>(function(){var d=document.getElementById('declined').dataset;"
             "if(!window.opener){return;}"
             "window.opener.postMessage({type:'qb24:connect-declined',"
             "message:document.getElementById('message').textContent},d.origin);window.close();})();</script>")
    return message_page(status, "QuickBooks not connected", message, extra)


@connect.post("/quickbooks/connect/finish")
def finish() -> Response:
    """The framed app page claims the callback's ticket; only its own portal, user and admin session may."""
    who = require_admin(require_session())  # a non-admin's session leaves the ticket untouched
    check_csrf()
    right = admin_now(who.member_id, who.user_id, fresh=True)  # linking a company always asks Bitrix24
    with transaction(runtime().sessions) as session:
        grant = claim_connection(session, request.form.get("ticket", ""), token_cipher())
        refused = _refusal(grant, who) or refusal(right)
    if refused is not None:
        if grant is not None:
            _revoke_stray(grant.tokens)  # claimed by the wrong session, too late or no admin: never linked
        log.info("qbo.connect.refused", extra={"member_id": who.member_id, "status": refused.status})
        raise refused
    try:
        portal, synced_before = _link(grant.portal_id, grant.tokens, grant.company_name)
    except ConsentError:
        _revoke_stray(grant.tokens)
        raise
    if synced_before:
        _catch_up(grant.tokens.realm_id)
    log.info("qbo.connected", extra={"member_id": portal.member_id, "realm_id": grant.tokens.realm_id})
    return Response('{"connected": true}', mimetype="application/json")


def _revoke_stray(tokens: QboTokens) -> None:
    """Revoke a grant that will not be linked (unless its realm is live elsewhere)."""
    with transaction(runtime().sessions) as session:
        for stray in revocable(session, [tokens]):
            revoke_later(session, stray, "stray")
    revoke_pending(session)


def _refusal(grant: PendingGrant | None, who: PortalSession) -> ConsentError | None:
    if grant is None or grant.expired:
        return ConsentError(400, "This QuickBooks sign-in was already finished or has expired. Click Log in again.")
    if grant.portal_id != who.portal_id or grant.user_id != who.user_id:
        return ConsentError(403, "This QuickBooks sign-in was started for another Bitrix24 portal or user.")
    return None


def _closing(response: Response) -> Response:
    response.delete_cookie(STATE_COOKIE, path="/quickbooks/")
    return response


@connect.post("/quickbooks/disconnect")
def disconnect() -> Response:
    """Log out: revoke and drop the tokens, stop the portal's sync; the links stay for a reconnect."""
    who = admin_action()
    with transaction(runtime().sessions) as session:
        connection = connection_of(session, who.portal_id)
        realm_id = connection.realm_id if connection is not None else None
        if connection is not None and connection.status == "connected":
            revoke_later(session, connection_tokens(connection, token_cipher()), "logout")
            drop_connection_tokens(connection, "disconnected")
        cancel_runs(session, who.portal_id)
    revoke_pending(session)
    log.info("qbo.disconnected", extra={"member_id": who.member_id, "realm_id": realm_id})
    if request.accept_mimetypes.best == "application/json":
        return Response('{"connected": false}', mimetype="application/json")
    return redirect("/bitrix24/app", code=303)
