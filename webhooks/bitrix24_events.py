"""What each Bitrix24 event does to the store (the routes are in webhooks/bitrix24.py)."""
from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.orm import Session

from clients.bitrix24_auth import PortalAuth
from clients.quickbooks_auth import QboTokens
from store.crypto import TokenDecryptError
from store.db import transaction
from store.events import record_event
from store.lifecycle import cancel_runs, end_install
from store.models import Portal
from store.pending_connections import drop_pending_of, revocable
from store.portals import ensure_portal, portal_by_member_id
from store.revocations import add_revocation
from webhooks.admins import user_is_admin
from webhooks.errors import PageError
from webhooks.frame_auth import TrustedToken, confirm_token
from webhooks.runtime import runtime
from webhooks.services import portal_tokens, token_cipher
from workers.exports import enqueue_export
from workers.revocations import enqueue_revocations
from workers.tasks import EnqueueFailed

log = logging.getLogger("qb24.b24.events")
# Zulip style: events we are not subscribed to are logged here, answered 200, nothing else.
unsupported_log = logging.getLogger("qb24.b24.events.unsupported")

Handler = Callable[[Session, Portal, dict[str, Any]], str]
# CRM ids are integers and `ts` is unix seconds; the store's columns are 32 wide.
ENTITY_ID = re.compile(r"[0-9]{1,32}")
UNIX_TS = re.compile(r"[0-9]{1,11}")


class EventRefused(PageError):
    """An event whose application token does not match the portal's (or whose portal is unknown)."""

    kind = "event_auth"


# Events accepted on a confirmed user token while the portal holds no application token yet.
CONFIRMABLE_BEFORE_TOKEN = ("ONCRMCONTACTADD", "ONCRMCOMPANYADD")


def authenticate_event(session: Session, member_id: str, application_token: str,
                       confirmed: TrustedToken | None = None) -> Portal:
    """The portal whose stored application token equals the event's, compared in constant time;
    before ONAPPINSTALL has brought one, an event whose access token a trusted server `confirmed`."""
    portal = portal_by_member_id(session, member_id) if member_id else None
    if (portal is not None and portal.application_token_enc is None and confirmed is not None
            and confirmed.member_id == portal.member_id):
        return portal
    if portal is None or not token_matches(portal, application_token):
        raise EventRefused(401, "The event's application token does not match this portal.")
    return portal


def token_matches(portal: Portal, application_token: str) -> bool:
    """Whether the portal holds an application token and it equals `application_token` (constant time).

    One that decrypts with no key of TOKEN_ENCRYPTION_KEY (removed before `qb24 rotate-keys` ran) matches
    nothing: the portal's events are refused until it installs the app again, which brings a new one."""
    try:
        stored = token_cipher().decrypt(portal.application_token_enc) if portal.application_token_enc else None
    except TokenDecryptError:
        log.warning("b24.event.application_token_undecryptable", extra={"member_id": portal.member_id})
        return False
    return bool(stored) and hmac.compare_digest(stored.encode(), application_token.encode())


def confirm_early_event(name: str, auth: dict[str, Any]) -> TrustedToken | None:
    """Vouch for a CRM add event that beat ONAPPINSTALL (it may come late, reference §1.2).

    Bitrix24 never resends an event, so refusing it would lose the record. A user's event carries
    that user's access token: once a trusted server confirms it for this app and portal, the sender
    is someone in this portal, and an add event can cause no more than a read of the real record
    through the portal's own tokens (DESIGN.md: events are claims). Robot-made events carry no
    access token (reference §3.2): they are refused until the token has arrived, and lost, since
    Bitrix24 does not resend them (docs/architecture.md, known limits).
    """
    member_id, access_token = str(auth.get("member_id") or ""), str(auth.get("access_token") or "")
    if name not in CONFIRMABLE_BEFORE_TOKEN or not member_id or not access_token:
        return None
    with runtime().sessions() as session:
        portal = portal_by_member_id(session, member_id)
        if portal is None or portal.application_token_enc is not None or portal.status != "installed":
            return None
    return confirm_token(str(auth.get("server_endpoint") or ""), access_token, member_id)


def on_app_install(payload: dict[str, Any], auth: dict[str, Any]) -> str:
    """ONAPPINSTALL first delivers the application token, so nothing stored can vouch for it:
    its access token is confirmed with app.info on a trusted server instead (PHPSDK skips the
    token check for this event, reference §1.3), and must be an administrator's.

    Bitrix24 sends it with the installing administrator's tokens, while any user who opens the app
    holds a confirmable access token too: were a non-admin's accepted, they could plant a token of
    their own while the real event is late (the captured installer POST carries none) and then
    forge ONAPPUNINSTALL. An administrator's may replace a held token: that is how a reinstall
    whose ONAPPUNINSTALL was lost gets its new token, and an administrator can uninstall anyway.
    """
    member_id, access_token = str(auth.get("member_id") or ""), str(auth.get("access_token") or "")
    application_token = str(auth.get("application_token") or "")
    if not access_token or not application_token:
        raise EventRefused(401, "ONAPPINSTALL without an access token and application token is not accepted.")
    trusted = confirm_token(str(auth.get("server_endpoint") or ""), access_token, member_id)
    if not user_is_admin(trusted.client_endpoint, access_token, member_id):
        raise EventRefused(403, "ONAPPINSTALL must carry a portal administrator's sign-in.")
    with transaction(runtime().sessions) as session:
        portal = portal_by_member_id(session, member_id) or ensure_portal(
            session, member_id=member_id, domain=trusted.domain, client_endpoint=trusted.client_endpoint,
            server_endpoint=trusted.server_endpoint)
        portal.application_token_enc = token_cipher().encrypt(application_token)
    if auth.get("refresh_token"):
        portal_tokens().save(PortalAuth(
            member_id=member_id, domain=trusted.domain, client_endpoint=trusted.client_endpoint,
            server_endpoint=trusted.server_endpoint, access_token=access_token,
            refresh_token=str(auth["refresh_token"]), expires_at=trusted.expires_at or _expiry(auth)))
    return "installed"


def _expiry(auth: dict[str, Any]) -> datetime:
    expires = str(auth.get("expires") or "")
    if expires.isdigit():
        return datetime.fromtimestamp(int(expires), timezone.utc)
    return datetime.now(timezone.utc)  # unknown: treat as expired, the client refreshes on first use


def stop_portal(session: Session, portal: Portal) -> str:
    """Stop work for a portal Bitrix24 confirmed uninstalled (webhooks/uninstall.py): forget its
    Bitrix24 tokens and application token, cancel its runs and drop unfinished consents.

    Nothing irreversible: links, settings, run history and the QuickBooks connection with its grant
    stay, since a refused refresh also happens while the app is installed (an installer dismissed,
    reference §2; a lapsed subscription). Whether they go is decided at a reinstall, by whether
    Bitrix24 kept the app's options (reference §1.4, webhooks/kept_data.py).
    """
    end_install(portal)
    cancel_runs(session, portal.id)
    for grant in revocable(session, drop_pending_of(session, portal.id, token_cipher())):
        revoke_later(session, grant, "uninstall")  # a consent nobody can finish: its session ended with the install
    log.info("b24.uninstalled", extra={"member_id": portal.member_id})
    return "uninstalled"


def section(payload: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested part of the payload (`data`, `data[FIELDS]`); 400 when it is a scalar."""
    value = payload.get(key) or {}
    if not isinstance(value, dict):
        raise PageError(400, f"The event's {key} is not a set of fields.")
    return value


def revoke_later(session: Session, tokens: QboTokens | None, reason: str) -> None:
    """Store the QuickBooks grant to be revoked in this transaction; revoke_pending queues it once committed.

    No network here, nor in the request: the worker revokes it with retries (workers/revocations.py)."""
    if tokens is not None:
        session.info.setdefault("qbo_revoke", []).append(add_revocation(session, tokens, reason, token_cipher()))


def revoke_pending(session: Session) -> None:
    """Queue what revoke_later stored, after the commit; a broker failure is logged and left to beat's sweep."""
    enqueue_revocations(runtime(), session.info.pop("qbo_revoke", []))


def export_later(session: Session, portal: Portal) -> None:
    """Note the portal's export to queue once this transaction has committed (export_pending)."""
    session.info.setdefault("b24_export", set()).add(portal.id)


def export_pending(session: Session) -> None:
    """Queue the exports export_later noted, after the commit (the task reads what was recorded). A broker
    refusal is only logged: the event is stored and beat's sweep queues its export (workers/exports.py);
    refusing the event would gain nothing, since Bitrix24 never resends one (reference §3.2)."""
    for portal_id in sorted(session.info.pop("b24_export", ())):
        try:
            enqueue_export(runtime(), portal_id)
        except EnqueueFailed:
            pass  # logged by enqueue_export


def on_crm_add(entity: str) -> Handler:
    """ONCRM<ENTITY>ADD: record it once (dedupe: member_id, event, ID, ts) and, once committed, queue the
    portal's export (workers/exports.py), which decides what the record needs."""

    def handler(session: Session, portal: Portal, payload: dict[str, Any]) -> str:
        if portal.status != "installed":
            return "ignored"
        fields = section(section(payload, "data"), "FIELDS")
        entity_id, ts = str(fields.get("ID") or ""), str(payload.get("ts") or "")
        if not ENTITY_ID.fullmatch(entity_id):
            raise PageError(400, "The event carries no numeric data[FIELDS][ID].")
        if ts and not UNIX_TS.fullmatch(ts):
            raise PageError(400, "The event's ts is not a unix time.")
        new = record_event(
            session, source="b24", dedupe_key=f"{portal.member_id}:{payload['event']}:{entity_id}:{ts}",
            portal_id=portal.id, entity=entity, entity_id=entity_id, operation="add",
            occurred_at=datetime.fromtimestamp(int(ts), timezone.utc) if ts else None)
        if new:
            export_later(session, portal)
        return "recorded" if new else "duplicate"

    return handler


HANDLERS: dict[str, Handler] = {
    "ONCRMCONTACTADD": on_crm_add("contact"),
    "ONCRMCOMPANYADD": on_crm_add("company"),
}
