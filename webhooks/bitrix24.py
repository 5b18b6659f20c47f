"""Bitrix24 routes: the installer (`POST /bitrix24/install`) and the event handler (`POST /webhooks/bitrix24`).

The installer's pages and refusals speak the installing administrator's language (LANG, webhooks/i18n.py);
the event handler's refusals are for Bitrix24's servers and the operator's logs, so they stay English.
"""
from __future__ import annotations

import json
import logging
from html import escape

from flask import Blueprint, Response, current_app, g, jsonify, redirect, request
from flask_babel import force_locale
from flask_babel import gettext as _

from clients.bitrix24_errors import AlreadyBound, Bitrix24Error
from store.db import transaction
from store.portals import drop_uninstall_claim, ensure_portal, portal_by_member_id
from webhooks.admins import ADMINS_ONLY, INSTALL_ADMIN_ONLY, AdminRequired, user_is_admin
from webhooks.bitrix24_events import (HANDLERS, authenticate_event, confirm_early_event, export_pending,
                                      on_app_install, revoke_pending, unsupported_log)
from webhooks.errors import PageError
from webhooks.frame_auth import FrameAuthError, FramePost, authenticate_frame_post, portal_origin
from webhooks.i18n import LANGUAGES, current_language
from webhooks.kept_data import forget_earlier_data, holds_earlier_data, marker_command, options_kept
from webhooks.metrics import count_event
from webhooks.php_form import php_form
from webhooks.placement_records import CARD_KINDS
from webhooks.runtime import runtime
from webhooks.services import bitrix24_client, portal_tokens, token_cipher
from webhooks.uninstall import confirm_due_claim, on_app_uninstall, settle_before_install

bitrix24 = Blueprint("bitrix24", __name__)
log = logging.getLogger("qb24.b24.install")

# ONAPPINSTALL is bound because the installer POST may carry no APPLICATION_TOKEN (the captured
# shape, reference §1.1): the event, sent after installFinish, then delivers it.
EVENTS = ("ONAPPINSTALL", "ONCRMCONTACTADD", "ONCRMCOMPANYADD", "ONAPPUNINSTALL")
# The Create Invoice item of contact, company, lead and deal cards (reference §4), served by
# webhooks/placement.py; the code names the card's record type (CARD_KINDS).
PLACEMENTS: tuple[str, ...] = tuple(CARD_KINDS)
PLACEMENT_TITLE = "Create QuickBooks invoice"  # TITLE, for a language LANG_ALL lacks (placement_titles)


def store_install(post: FramePost) -> None:
    """Create or refresh the portal with its trusted endpoints, tokens and application token."""
    with transaction(runtime().sessions) as session:
        held = portal_by_member_id(session, post.member_id)
        fresh = held is None or held.status != "installed"
        # The installer POST carries APPLICATION_TOKEN unverifiable by itself, and any user of the app
        # can POST this URL with a genuine AUTH_ID: the token is taken only for a new, uninstalled or
        # tokenless portal, or while the trusted server says the install is unfinished.
        # UNCERTAIN (reference §1.1): if the OAuth server's app.info does not report INSTALLED, a
        # held token is kept (a reinstall whose ONAPPUNINSTALL was lost then keeps the old one).
        replaceable = fresh or held.application_token_enc is None or post.installed is False
        # An unfinished install is a new one even when no ONAPPUNINSTALL ended the last (item 4).
        portal = ensure_portal(session, member_id=post.member_id, domain=post.domain,
                               client_endpoint=post.client_endpoint, server_endpoint=post.server_endpoint,
                               reinstall=post.installed is False)
        if fresh:
            # A reinstall gets a new application token (reference §1.4); the captured installer
            # POST carries none, so until ONAPPINSTALL brings it the old one must not vouch for events.
            portal.application_token_enc = None
        if post.application_token and replaceable:
            portal.application_token_enc = token_cipher().encrypt(post.application_token)
        if portal.uninstall_claimed_at is not None:
            # settle_before_install got no answer: the old install's tokens are replaced now, so the
            # claim could never be confirmed; nothing irreversible hung on it (webhooks/uninstall.py).
            log.info("b24.uninstall.claim_ended_by_install", extra={"member_id": post.member_id})
            drop_uninstall_claim(portal)
    portal_tokens().save(post.auth)


def bind_handlers(member_id: str) -> None:
    """Bind the events and toolbar placements and write the install's marker option
    (webhooks/kept_data.py) in one batch; "already binded" counts as bound."""
    base = runtime().settings.app_base_url
    with runtime().sessions() as session:
        install_id = portal_by_member_id(session, member_id).install_id or ""
    commands = {f"event_{name}": ("event.bind", {"event": name, "handler": f"{base}/webhooks/bitrix24"})
                for name in EVENTS}
    titles = placement_titles()  # the same for every placement: built once
    commands |= {f"placement_{code}": ("placement.bind", {"PLACEMENT": code, "TITLE": PLACEMENT_TITLE,
                                                          "LANG_ALL": titles,
                                                          "HANDLER": f"{base}/placements/create-invoice"})
                 for code in PLACEMENTS}
    commands["marker"] = marker_command(install_id)
    try:
        outcome = bitrix24_client(member_id).batch(commands)
    except Bitrix24Error as exc:
        log.warning("b24.install.bind_failed", extra={"member_id": member_id, "code": exc.code})
        raise PageError(502, _("Bitrix24 refused to register the app's handlers (%(code)s). "
                               "Please try installing again.", code=exc.code)) from None
    failed = {name: error for name, error in outcome.errors.items() if not isinstance(error, AlreadyBound)}
    if failed:
        log.warning("b24.install.bind_failed", extra={"member_id": member_id,
                                                      "codes": {n: e.code for n, e in failed.items()}})
        raise PageError(502, _("Bitrix24 refused to register the app's handlers (%(code)s). "
                               "Please try installing again.",
                               code=", ".join(sorted(e.code or "error" for e in failed.values()))))


def placement_titles() -> dict[str, dict[str, str]]:
    """placement.bind's LANG_ALL: the toolbar item's title in each of the app's languages (reference §4),
    so each user's card shows it in the language their Bitrix24 speaks."""
    titles = {}
    for language in LANGUAGES:
        with force_locale(language):
            titles[language] = {"TITLE": _("Create QuickBooks invoice")}
    return titles


def installer_page(post: FramePost) -> Response:
    """The page that finishes the install: BX24.installFinish() from the configured BX24 library."""
    js_url = runtime().settings.b24_js_url
    title, heading, status = _("Installing"), _("QuickBooks integration installed"), _("Finishing the installation…")
    body = (f"<!doctype html><html lang=\"{current_language()}\"><head><meta charset='utf-8'>"
            f"<title>{escape(title)}</title>"
            "<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem}</style>"
            f"<script src='{escape(js_url)}'></script></head><body>"
            f"<h1>{escape(heading)}</h1>"
            f"<p id='install-status'>{escape(status)}</p>"
            "<script>BX24.init(function () { BX24.installFinish(); });</script></body></html>")
    response = Response(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = f"frame-ancestors {portal_origin(post)}"
    return response


@bitrix24.post("/bitrix24/install")
def install() -> Response:
    post = authenticate_frame_post(request)
    g.frame_origin = portal_origin(post)  # a refusal after this point shows in the portal's installer
    if post.installed is True:
        # Bitrix24 opens the installer URL again when it doubles as the app URL (the sandbox always
        # does): a finished install goes to the app page, with the same POST (307 keeps the body).
        query = request.query_string.decode()
        return redirect("/bitrix24/app" + (f"?{query}" if query else ""), code=307)
    if not post.auth.refresh_token:
        raise FrameAuthError(400, _("The install request carries no REFRESH_ID; install the app again."))
    # Bitrix24 lets only administrators install, but the POST is checked anyway: the stored tokens
    # are the ones every sync runs as.
    if not user_is_admin(post.client_endpoint, post.auth.access_token, post.member_id):
        raise AdminRequired(403, INSTALL_ADMIN_ONLY, ADMINS_ONLY)
    settle_before_install(post.member_id)
    # Read before the new install writes its marker: whether the last uninstall was CLEAN.
    forget = holds_earlier_data(post) and not options_kept(post)
    store_install(post)
    if forget:
        forget_earlier_data(post.member_id)
    bind_handlers(post.member_id)
    log.info("b24.installed", extra={"member_id": post.member_id, "domain": post.domain})
    return installer_page(post)


@bitrix24.post("/webhooks/bitrix24")
def event() -> tuple[Response, int]:
    if request.mimetype != "application/x-www-form-urlencoded":
        # Bitrix24 posts every event form-encoded (reference §3.2); a JSON, text or multipart body is not
        # one of its events, and would otherwise be read as a form with no token and refused as forged.
        count_event("b24", "other", "refused")
        raise PageError(415, "Bitrix24 events are sent as application/x-www-form-urlencoded.")  # English: for servers
    payload = php_form(request.form.items(multi=True))
    name = str(payload.get("event") or "").upper()
    auth = payload.get("auth") if isinstance(payload.get("auth"), dict) else {}
    try:
        outcome = _dispatch(name, payload, auth)
    except PageError:
        count_event("b24", _event_label(name), "refused")
        raise
    count_event("b24", _event_label(name), outcome)
    log.info("b24.event.received", extra={"event": _event_label(name), "outcome": outcome,
                                          "member_id": str(auth.get("member_id") or "")[:64]})
    # 202: an uninstall kept until Bitrix24 can confirm it (webhooks/uninstall.py).
    return jsonify({"ok": True, "outcome": outcome}), 202 if outcome == "pending" else 200


@bitrix24.after_request
def ask_again_later(response: Response) -> Response:
    """After an event's answer is sent (refusals too), ask Bitrix24 again about an uninstall it
    could not confirm yet: off the event path, at most one per B24_UNINSTALL_RETRY_S."""
    if request.endpoint == "bitrix24.event":
        app = current_app._get_current_object()
        response.call_on_close(lambda: confirm_due_claim(app))
    return response


def _event_label(name: str) -> str:
    # The name is the sender's word, checked or not: a label per unknown name would let anyone
    # grow the metrics registry (and every /metrics scrape) without bound.
    return name if name in HANDLERS or name in ("ONAPPINSTALL", "ONAPPUNINSTALL") else "other"


def _dispatch(name: str, payload: dict, auth: dict) -> str:
    if name == "ONAPPINSTALL":
        return on_app_install(payload, auth)
    if name == "ONAPPUNINSTALL":
        return on_app_uninstall(payload, auth)
    confirmed = confirm_early_event(name, auth)  # network, so outside the transaction
    with transaction(runtime().sessions) as session:
        portal = authenticate_event(session, str(auth.get("member_id") or ""),
                                    str(auth.get("application_token") or ""), confirmed)
        handler = HANDLERS.get(name)
        if handler is None:
            unsupported_log.info("b24.event.unsupported", extra={"event": name[:64], "member_id": portal.member_id,
                                                                 "keys": json.dumps(sorted(payload))[:200]})
            return "ignored"
        outcome = handler(session, portal, payload)
    revoke_pending(session)
    export_pending(session)
    return outcome
